/**
 * The "nbtrack runs" sidebar: the current notebook's store, its experiments
 * and runs, a filter box, run details, and "compare selected".
 */
import { Widget } from '@lumino/widgets';

import { renderRunDetail } from './details';
import { append, clear, el, formatDuration, formatValue, headlineText, shortId } from './dom';
import { JobsList, renderRunActions } from './jobs';
import { ModelsSection, modelBadges } from './models';
import { APIError, requestAPI, SERVER_MISSING_HELP } from './request';
import {
  IExperiments,
  IRunDetail,
  IRunsPage,
  IRunSummary,
  IStoreStatus
} from './tokens';

const PAGE = 50;
/** The filter applies this long after the last keystroke (Enter applies at once). */
const FILTER_DEBOUNCE_MS = 350;

export interface IRunsPanelOptions {
  /** Open a run's notebook snapshot in the main area. */
  openSnapshot: (store: string, run: IRunDetail) => void;
  /** Insert `nbtrack.compare(runs=[...])` into the current notebook. */
  insertCompare: (runIds: string[]) => void;
}

export class RunsPanel extends Widget {
  constructor(private readonly options: IRunsPanelOptions) {
    super();
    this.id = 'nbtrack-runs';
    this.addClass('nbtrack-RunsPanel');
    this.title.caption = 'nbtrack runs';

    this._filter = el('input', {
      class: 'jp-mod-styled nbtrack-Filter',
      type: 'search',
      placeholder: "filter as you type: metrics.acc > 0.9 and params.model = 'bow'",
      title: 'Filters as you type (MLflow filter syntax with and/or and parentheses)',
      'aria-label': 'Filter runs'
    });
    this._filter.addEventListener('input', () => {
      window.clearTimeout(this._filterTimer);
      this._filterTimer = window.setTimeout(() => this._applyFilter(), FILTER_DEBOUNCE_MS);
    });
    this._filter.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        window.clearTimeout(this._filterTimer);
        this._applyFilter();
      }
    });
    this._experiment = el('select', {
      class: 'jp-mod-styled nbtrack-Experiment',
      'aria-label': 'Experiment'
    });
    this._experiment.addEventListener('change', () => {
      this._shown = PAGE;
      void this.refresh();
    });
    const refresh = el('button', { class: 'jp-mod-styled nbtrack-Button', title: 'Refresh' }, 'Refresh');
    refresh.addEventListener('click', () => void this.refresh());
    this._compare = el('button', { class: 'jp-mod-styled jp-mod-accept nbtrack-Button nbtrack-Compare' }, 'Compare');
    this._compare.addEventListener('click', () => this.compareSelected());
    this._more = el('button', { class: 'jp-mod-styled nbtrack-Button nbtrack-More' }, 'Show more');
    this._more.addEventListener('click', () => {
      this._shown += PAGE;
      void this.refresh();
    });

    this._models = new ModelsSection({
      openRun: runId => this.showRun(runId),
      changed: () => void this.refresh()
    });
    this._jobs = new JobsList(runId => this.showRun(runId));

    append(
      this.node,
      el('div', { class: 'nbtrack-Header' }, el('h2', {}, 'nbtrack runs'), refresh),
      this._storeLabel,
      el('div', { class: 'nbtrack-Controls' }, this._experiment, this._filter),
      this._notice,
      this._summary,
      this._list,
      el('div', { class: 'nbtrack-Footer' }, this._more, this._compare),
      this._jobs.node,
      this._models.node,
      this._actions,
      this._detail
    );
    this._updateCompare();
  }

  /** The store directory (relative to the server root) shown, or null without a notebook. */
  get store(): string | null {
    return this._store;
  }

  /** True while a job started from the sidebar is queued or running. */
  get jobsBusy(): boolean {
    return this._jobs.busy;
  }

  /** Show run `runId`'s details and actions (a row click, a version's source run, a job's new run). */
  showRun(runId: string): void {
    this._detailId = runId;
    for (const row of this._list.querySelectorAll('.nbtrack-RunRow')) {
      row.classList.toggle('nbtrack-mod-active', (row as HTMLElement).dataset.runId === runId);
    }
    if (this._store !== null) {
      void renderRunActions(this._actions, this._store, runId, {
        changed: () => void this.refresh(),
        openRun: id => this.showRun(id)
      });
    }
    void this._loadDetail(runId).then(() => this._actions.scrollIntoView({ block: 'nearest' }));
  }

  /** Ids of the ticked runs. */
  get selected(): string[] {
    return [...this._selected];
  }

  /** Insert a compare cell for the ticked runs (the Compare button and its command). */
  compareSelected(): void {
    if (this._selected.size) {
      this.options.insertCompare([...this._selected]);
    }
  }

  private _applyFilter(): void {
    this._shown = PAGE;
    void this.refresh();
  }

  /** Runs currently listed, newest first. */
  get runs(): readonly IRunSummary[] {
    return this._runs;
  }

  setStore(store: string | null, notebookName = ''): void {
    const label =
      store === null
        ? 'Open a notebook to see its runs.'
        : `${notebookName} · store ${store === '' ? '.' : store}/.nbtrack`;
    this._storeLabel.textContent = label;
    if (store === this._store) {
      return; // same store (maybe a renamed notebook): keep the list and the selection
    }
    this._store = store;
    this._selected.clear();
    this._detailId = null;
    this._shown = PAGE;
    clear(this._detail);
    clear(this._actions);
    void this.refresh();
  }

  /** Fetch experiments and the listed runs again; safe to call often (calls do not overlap). */
  async refresh(): Promise<void> {
    if (this._busy) {
      this._again = true;
      return;
    }
    this._busy = true;
    try {
      await this._load();
    } finally {
      this._busy = false;
      if (this._again) {
        this._again = false;
        void this.refresh();
      }
    }
  }

  private async _load(): Promise<void> {
    const store = this._store;
    if (store === null) {
      this._showRuns([], 0);
      return;
    }
    const query: Record<string, string> = {
      store,
      limit: String(Math.min(this._shown, 500))
    };
    const filter = this._filter.value.trim();
    if (filter) {
      query.filter = filter;
    }
    if (this._experiment.value) {
      query.experiment = this._experiment.value;
    }
    try {
      // Ask whether a store exists before listing it: no store yet is a state, not a 404.
      const status = await requestAPI<IStoreStatus>('store', { store });
      if (store !== this._store) {
        return;
      }
      void this._models.refresh(store, status.exists);
      if (!status.exists) {
        this._setNotice('No runs here yet: run a %%track cell in this notebook to record one.', 'info');
        this._showExperiments({ experiments: [] });
        this._showRuns([], 0);
        return;
      }
      await this._jobs.refresh(store);
      const [experiments, page] = await Promise.all([
        requestAPI<IExperiments>('experiments', { store }),
        requestAPI<IRunsPage>('runs', query)
      ]);
      if (store !== this._store) {
        return; // the notebook changed while we waited
      }
      this._setNotice(null);
      this._showExperiments(experiments);
      this._showRuns(page.runs, page.total);
      if (this._detailId) {
        await this._loadDetail(this._detailId);
      }
    } catch (error) {
      this._showError(error);
    }
  }

  private _showError(error: unknown): void {
    if (!(error instanceof APIError)) {
      this._setNotice(String(error), 'error');
      return;
    }
    switch (error.code) {
      case 'extension_missing':
        this._setNotice(SERVER_MISSING_HELP, 'error');
        break;
      case 'no_store':
        this._setNotice('No runs here yet: run a %%track cell in this notebook to record one.', 'info');
        break;
      case 'bad_filter':
      case 'bad_request':
        // A filter mistake: say what is wrong, and show no stale list under it.
        this._setNotice(error.message, 'error');
        break;
      case 'timeout':
        this._setNotice(`${error.message} (the store took too long to answer)`, 'error');
        break;
      default:
        this._setNotice(`${error.message} (${error.code}, HTTP ${error.status})`, 'error');
    }
    this._showRuns([], 0);
  }

  private _setNotice(message: string | null, kind: 'info' | 'error' = 'info'): void {
    this._notice.textContent = message ?? '';
    this._notice.className = `nbtrack-Notice nbtrack-Notice-${kind}`;
    this._notice.hidden = message === null;
  }

  private _showExperiments(reply: IExperiments): void {
    const current = this._experiment.value;
    clear(this._experiment);
    const total = reply.experiments.reduce((sum, e) => sum + e.run_count, 0);
    this._experiment.appendChild(el('option', { value: '' }, `All experiments (${total})`));
    for (const experiment of reply.experiments) {
      this._experiment.appendChild(
        el('option', { value: experiment.experiment_id }, `${experiment.name} (${experiment.run_count})`)
      );
    }
    this._experiment.value = reply.experiments.some(e => e.experiment_id === current) ? current : '';
  }

  private _showRuns(runs: IRunSummary[], total: number): void {
    this._runs = runs;
    clear(this._list);
    this._summary.textContent = total || runs.length ? `${runs.length} shown of ${total}` : '';
    // Each experiment once (in the order of its newest run), nested runs under their parent,
    // at any depth (a sweep's executions, and each execution's cell runs under it).
    const listed = new Set(runs.map(run => run.run_id));
    const children = new Map<string, IRunSummary[]>();
    const groups = new Map<string, { name: string; roots: IRunSummary[] }>();
    for (const run of runs) {
      if (run.parent_run_id && listed.has(run.parent_run_id)) {
        children.set(run.parent_run_id, [...(children.get(run.parent_run_id) ?? []), run]);
        continue;
      }
      const id = run.experiment_id;
      if (!groups.has(id)) {
        groups.set(id, { name: run.experiment_name ?? id, roots: [] });
      }
      groups.get(id)!.roots.push(run);
    }
    const add = (run: IRunSummary, depth: number, seen: Set<string>) => {
      const row = this._runRow(run);
      if (depth) {
        row.classList.add('nbtrack-mod-nested');
        row.style.paddingLeft = `${20 + 12 * (Math.min(depth, 3) - 1)}px`;
      }
      this._list.appendChild(row);
      const kids = children.get(run.run_id) ?? [];
      if (run.sweep?.metric) {
        sortBySweepMetric(kids, run.sweep.metric, run.sweep.goal !== 'minimize');
      }
      for (const kid of kids) {
        if (!seen.has(kid.run_id)) {
          add(kid, depth + 1, new Set([...seen, kid.run_id]));
        }
      }
    };
    const headings = this._experiment.value === '' && groups.size > 0;
    for (const group of groups.values()) {
      if (headings) {
        this._list.appendChild(el('li', { class: 'nbtrack-ExperimentHeading', title: group.name }, group.name));
      }
      for (const root of group.roots) {
        add(root, 0, new Set([root.run_id]));
      }
    }
    this._more.hidden = runs.length >= total;
    for (const id of [...this._selected]) {
      if (!runs.some(run => run.run_id === id)) {
        this._selected.delete(id);
      }
    }
    this._updateCompare();
  }

  private _runRow(run: IRunSummary): HTMLElement {
    const box = el('input', { type: 'checkbox', 'aria-label': `select ${run.run_name}` });
    box.checked = this._selected.has(run.run_id);
    box.addEventListener('click', event => event.stopPropagation());
    box.addEventListener('change', () => {
      if (box.checked) {
        this._selected.add(run.run_id);
      } else {
        this._selected.delete(run.run_id);
      }
      this._updateCompare();
    });
    const running = run.status === 'RUNNING';
    // A running run shows how long it has run and its latest metric; a finished one its duration.
    const elapsed = running ? Math.max(0, Date.now() - run.start_time) : run.duration_ms;
    // A sweep's executions lead with the sweep's metric (what they are sorted by).
    const sweepMetric = this._sweepMetric(run);
    const lead = sweepMetric ? `${sweepMetric} ${run.metrics_text?.[sweepMetric] ?? formatValue(run.metrics[sweepMetric] ?? null)}` : headlineText(run.headline);
    const meta = [formatDuration(elapsed), lead].filter(Boolean).join(' · ');
    const swatch = el('span', { class: 'nbtrack-Swatch', 'aria-hidden': 'true' });
    if (run.color) {
      swatch.style.background = run.color;
    }
    const row = el(
      'li',
      { class: 'nbtrack-RunRow', 'data-run-id': run.run_id, 'data-status': run.status },
      box,
      swatch,
      el('span', { class: `nbtrack-Status nbtrack-Status-${run.status}`, title: run.status }, run.status),
      el('span', { class: 'nbtrack-RunName' }, run.sweep ? `${run.run_name} (sweep)` : run.run_name),
      modelBadges(run.models),
      el('span', { class: running ? 'nbtrack-Meta nbtrack-mod-running' : 'nbtrack-Meta' }, meta)
    );
    // Everything the row may cut with an ellipsis, in full.
    const tooltip = [`${run.run_name} (${shortId(run.run_id)}) · ${run.status}`];
    if (meta) {
      tooltip.push(running ? `running for ${meta}` : meta);
    }
    for (const version of run.models ?? []) {
      tooltip.push(`model ${version.name} v${version.version}${version.aliases.map(a => ` @${a}`).join('')}`);
    }
    if (run.sweep?.metric) {
      tooltip.push(`sweep: executions sorted by ${run.sweep.metric}, ${run.sweep.goal === 'minimize' ? 'lowest' : 'highest'} first`);
    }
    if (run.error) {
      tooltip.push(`${run.error.type}: ${run.error.message}`);
    }
    row.title = tooltip.join('\n');
    if (run.run_id === this._detailId) {
      row.classList.add('nbtrack-mod-active');
    }
    row.addEventListener('click', () => this.showRun(run.run_id));
    return row;
  }

  /** The metric of the sweep `run` belongs to, when its parent in the list is a sweep. */
  private _sweepMetric(run: IRunSummary): string | null {
    const parent = run.parent_run_id ? this._runs.find(r => r.run_id === run.parent_run_id) : undefined;
    return parent?.sweep?.metric ?? null;
  }

  private async _loadDetail(runId: string): Promise<void> {
    const store = this._store;
    if (store === null) {
      return;
    }
    try {
      const run = await requestAPI<IRunDetail>(`runs/${runId}`, { store });
      if (this._detailId !== runId || store !== this._store) {
        return;
      }
      clear(this._detail);
      this._detail.appendChild(
        renderRunDetail(run, store, {
          openSnapshot: detail => this.options.openSnapshot(store, detail)
        })
      );
    } catch (error) {
      this._showError(error);
    }
  }

  private _updateCompare(): void {
    const count = this._selected.size;
    this._compare.textContent = count ? `Compare ${count} in notebook` : 'Compare';
    this._compare.disabled = count === 0;
    this._compare.setAttribute('aria-disabled', String(count === 0));
    this._compare.title = count
      ? 'Insert a cell that calls nbtrack.compare with the selected runs'
      : 'Tick runs to compare them';
  }

  private _filterTimer = 0;
  private _store: string | null = null;
  private _runs: IRunSummary[] = [];
  private _selected = new Set<string>();
  private _detailId: string | null = null;
  private _shown = PAGE;
  private _busy = false;
  private _again = false;
  private readonly _filter: HTMLInputElement;
  private readonly _experiment: HTMLSelectElement;
  private readonly _compare: HTMLButtonElement;
  private readonly _more: HTMLButtonElement;
  private readonly _storeLabel = el('div', { class: 'nbtrack-Store' });
  private readonly _notice = el('div', { class: 'nbtrack-Notice', role: 'status' });
  private readonly _summary = el('div', { class: 'nbtrack-Summary' });
  private readonly _list = el('ul', { class: 'nbtrack-RunList' });
  private readonly _detail = el('div', { class: 'nbtrack-DetailBox' });
  private readonly _actions = el('div', { class: 'nbtrack-Actions' });
  private readonly _models: ModelsSection;
  private readonly _jobs: JobsList;
}

/** Sort a sweep's executions by its metric, best first; executions without it go last. */
function sortBySweepMetric(runs: IRunSummary[], metric: string, maximize: boolean): void {
  const value = (run: IRunSummary): number | null => {
    const v = run.metrics[metric];
    return typeof v === 'number' ? v : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : null;
  };
  runs.sort((a, b) => {
    const [x, y] = [value(a), value(b)];
    if (x === null || y === null) {
      return x === null ? (y === null ? 0 : 1) : -1;
    }
    return maximize ? y - x : x - y;
  });
}
