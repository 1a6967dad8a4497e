/**
 * Per-cell run history: a badge on each cell that has runs (last status,
 * duration, headline metric); clicking it lists the cell's earlier runs with a
 * diff against the cell's current code and a "restore this version" action.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Cell } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { diffLines, restoredSource } from './diff';
import { clear, el, formatDuration, formatTime, headlineText, shortId } from './dom';
import { requestAPI } from './request';
import { ICellRuns, ICellsSummary, IRunSummary, IStoreStatus } from './tokens';

const BADGE_CLASS = 'nbtrack-CellBadge';
const ROW_CLASS = 'nbtrack-CellBadgeRow';

function badgeText(run: IRunSummary, count: number): string {
  const parts = [run.status.toLowerCase()];
  if (run.duration_ms !== null) {
    parts.push(formatDuration(run.duration_ms));
  }
  if (run.headline) {
    parts.push(headlineText(run.headline));
  }
  parts.push(count === 1 ? '1 run' : `${count} runs`);
  return parts.join(' · ');
}

/** Keep the badges of one notebook panel in step with its store. */
export class CellBadges {
  constructor(
    private readonly panel: NotebookPanel,
    private readonly storeOf: () => string | null
  ) {}

  /** Ask the server about every cell of the notebook and redraw the badges. */
  async refresh(): Promise<void> {
    const store = this.storeOf();
    const notebook = this.panel.content;
    if (store === null || this.panel.isDisposed) {
      return;
    }
    const cells = notebook.widgets.filter(cell => cell.model.type === 'code');
    let reply: ICellsSummary;
    try {
      // No store yet (nothing tracked here): no badges, and no 404 per poll in the console.
      const status = await requestAPI<IStoreStatus>('store', { store });
      if (!status.exists) {
        return;
      }
      reply = await requestAPI<ICellsSummary>(
        'cells',
        { store },
        { method: 'POST', body: JSON.stringify({ cell_ids: cells.map(c => c.model.id) }) }
      );
    } catch {
      return; // the sidebar reports API problems; badges just stay as they are
    }
    for (const cell of cells) {
      const found = reply.cells[cell.model.id];
      this._draw(cell, found ? found.run : null, found ? found.run_count : 0, store);
    }
  }

  private _draw(cell: Cell, run: IRunSummary | null, count: number, store: string): void {
    let row = cell.node.querySelector<HTMLElement>(`:scope > .${ROW_CLASS}`);
    if (run === null) {
      row?.remove();
      return;
    }
    if (!row) {
      // A row of its own between the code and its output: the cell toolbar owns the top-right corner.
      const badge = el('button', { class: BADGE_CLASS, type: 'button' });
      badge.addEventListener('click', event => {
        event.stopPropagation();
        void showCellHistory(cell, store);
      });
      row = el('div', { class: ROW_CLASS }, badge);
      const input = cell.node.querySelector(':scope > .jp-Cell-inputWrapper');
      cell.node.insertBefore(row, input ? input.nextSibling : null);
    }
    const badge = row.querySelector<HTMLButtonElement>(`.${BADGE_CLASS}`)!;
    badge.dataset.status = run.status;
    badge.textContent = badgeText(run, count);
    badge.title = `nbtrack: last run ${run.run_name} (${formatTime(run.start_time)}); click for this cell's history`;
  }
}

/** The dialog listing a cell's runs, with a diff and "restore this version". */
export async function showCellHistory(cell: Cell, store: string): Promise<void> {
  const reply = await requestAPI<ICellRuns>(`cells/${encodeURIComponent(cell.model.id)}/runs`, {
    store
  });
  const body = new CellHistoryView(cell, reply);
  await showDialog({
    title: 'Runs of this cell',
    body,
    buttons: [Dialog.cancelButton({ label: 'Close' })]
  });
}

class CellHistoryView extends Widget {
  constructor(
    private readonly cell: Cell,
    private readonly history: ICellRuns
  ) {
    super();
    this.addClass('nbtrack-CellHistory');
    this.node.appendChild(this._list);
    const differing = differingParams(history.runs);
    if (differing.length) {
      this.node.appendChild(this._paramsTable(differing));
    }
    this.node.appendChild(this._diff);
    history.runs.forEach((run, index) => {
      const row = el(
        'li',
        { class: 'nbtrack-HistoryRow', 'data-run-id': run.run_id, title: `${run.run_name} (${shortId(run.run_id)})` },
        el('span', { class: `nbtrack-Status nbtrack-Status-${run.status}` }, run.status),
        el('span', { class: 'nbtrack-HistoryName' }, run.run_name),
        el('span', {}, formatTime(run.start_time)),
        el('span', {}, formatDuration(run.duration_ms)),
        el('span', {}, headlineText(run.headline))
      );
      row.addEventListener('click', () => this._select(index, row));
      this._list.appendChild(row);
    });
    if (history.runs.length) {
      // The newest run usually matches the cell; show the one before it first.
      const start = Math.min(1, history.runs.length - 1);
      this._select(start, this._list.children[start] as HTMLElement);
    }
  }

  /** A table of the params that differ between this cell's runs: one row per run. */
  private _paramsTable(keys: string[]): HTMLElement {
    const table = el('table', { class: 'nbtrack-ParamsDiffer' });
    table.appendChild(
      el('tr', {}, el('th', {}, 'run'), ...keys.map(key => el('th', { title: key }, key)))
    );
    for (const run of this.history.runs) {
      table.appendChild(
        el(
          'tr',
          { 'data-run-id': run.run_id },
          el('td', { title: run.run_id }, `${run.run_name} · ${formatTime(run.start_time)}`),
          ...keys.map(key => el('td', {}, run.params?.[key] ?? '—'))
        )
      );
    }
    return el(
      'div',
      { class: 'nbtrack-ParamsBox' },
      el('div', { class: 'nbtrack-DiffHeader' }, `Params that differ between these runs (${keys.length})`),
      table
    );
  }

  private _select(index: number, row: HTMLElement): void {
    for (const other of this._list.querySelectorAll('.nbtrack-mod-active')) {
      other.classList.remove('nbtrack-mod-active');
    }
    row.classList.add('nbtrack-mod-active');
    const run = this.history.runs[index];
    clear(this._diff);
    const current = this.cell.model.sharedModel.getSource();
    if (run.code === null) {
      this._diff.appendChild(el('div', { class: 'nbtrack-Muted' }, 'This run recorded no code.'));
      return;
    }
    const restored = restoredSource(current, run.code);
    // The usual direction: from then (the run's code) to now (the cell), "−" then, "+" now.
    const lines = diffLines(restored, current);
    const changed = lines.some(line => line.kind !== 'same');
    const pre = el('pre', { class: 'nbtrack-Diff' });
    for (const line of lines) {
      const mark = line.kind === 'added' ? '+ ' : line.kind === 'removed' ? '− ' : '  ';
      pre.appendChild(el('div', { class: `nbtrack-Diff-${line.kind}` }, mark + line.text));
    }
    const restore = el('button', { class: 'jp-mod-styled jp-mod-accept nbtrack-Restore' }, 'Restore this version');
    restore.disabled = !changed;
    restore.title = changed
      ? 'Set the cell source to the code of this run (undo with Ctrl+Z)'
      : 'The cell already holds this code';
    restore.addEventListener('click', () => {
      this.cell.model.sharedModel.setSource(restored);
      this._select(index, row);
    });
    this._diff.appendChild(
      el(
        'div',
        { class: 'nbtrack-DiffHeader' },
        changed
          ? `− then: run ${run.run_name} (${formatTime(run.start_time)})   + now: the cell as it is`
          : 'Same code as the current cell.'
      )
    );
    this._diff.appendChild(pre);
    this._diff.appendChild(restore);
  }

  private readonly _list = el('ul', { class: 'nbtrack-HistoryList' });
  private readonly _diff = el('div', { class: 'nbtrack-DiffBox' });
}

/**
 * Param keys whose values are not the same in every run (a missing key counts as a value).
 *
 * Example: runs with `{lr: '0.1', seed: '0'}` and `{lr: '0.2', seed: '0'}` → `['lr']`.
 */
export function differingParams(runs: { params?: Record<string, string> }[]): string[] {
  if (runs.length < 2) {
    return [];
  }
  const keys = new Set<string>();
  for (const run of runs) {
    Object.keys(run.params ?? {}).forEach(key => keys.add(key));
  }
  return [...keys].sort().filter(key => new Set(runs.map(run => run.params?.[key] ?? null)).size > 1);
}
