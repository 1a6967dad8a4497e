/**
 * A run's actions in the sidebar and the jobs they start: "Reproduce",
 * "Run again with parameters" (a form pre-filled with the run's parameters),
 * and "Register model". Jobs run on the server; `JobsList` polls their status
 * and shows each outcome (the verdict and the metrics that differed, or the
 * new run). Text nodes only.
 */
import { clear, el, formatDuration, sectionNotice, shortId } from './dom';
import { errorText, postAPI, requestAPI } from './request';
import { IJob, IJobOptions, IRunModels } from './tokens';

export interface IRunActionsOptions {
  /** A job was started or a model registered: refresh what shows it. */
  changed: () => void;
  /** Show a run's details (a job's new run). */
  openRun: (runId: string) => void;
}

/** Fill `box` with what run `runId` offers; rendered once per selection, never by a poll. */
export async function renderRunActions(
  box: HTMLElement,
  store: string,
  runId: string,
  options: IRunActionsOptions
): Promise<void> {
  clear(box);
  const { node: notice, say } = sectionNotice();
  let jobs: IJobOptions;
  let models: IRunModels;
  try {
    [jobs, models] = await Promise.all([
      requestAPI<IJobOptions>(`runs/${runId}/jobs`, { store }),
      requestAPI<IRunModels>(`runs/${runId}/models`, { store })
    ]);
  } catch (error) {
    box.appendChild(el('div', { class: 'nbtrack-Notice nbtrack-SectionNotice nbtrack-SectionNotice-error' }, errorText(error)));
    return;
  }
  const start = async (path: string, body: unknown) => {
    try {
      // The job shows under Jobs, with its state and then its outcome.
      await postAPI<IJob>(path, { store }, body);
      say(null);
      options.changed();
    } catch (error) {
      say(errorText(error), 'error');
    }
  };

  const buttons = el('div', { class: 'nbtrack-ActionButtons' });
  if (jobs.reproduce) {
    const reproduce = el('button', { class: 'jp-mod-styled nbtrack-Button nbtrack-Reproduce' }, 'Reproduce');
    reproduce.title = jobs.is_job
      ? 'Execute the notebook again with the same parameters and compare every metric'
      : 'Rebuild the kernel state this cell ran in, run it again in a fresh kernel, compare every metric';
    reproduce.addEventListener('click', () => void start(`runs/${runId}/reproduce`, {}));
    buttons.appendChild(reproduce);
  }
  const form = el('form', { class: 'nbtrack-RerunForm' });
  form.hidden = true;
  if (jobs.rerun) {
    const rerun = jobs.rerun;
    const open = el('button', { class: 'jp-mod-styled nbtrack-Button nbtrack-RunAgain' }, 'Run again with parameters');
    open.title = `Execute ${rerun.notebook} with these parameters (papermill), as a new run`;
    open.addEventListener('click', () => {
      form.hidden = !form.hidden;
    });
    buttons.appendChild(open);
    const inputs = new Map<string, HTMLInputElement>();
    for (const [name, value] of Object.entries(rerun.parameters)) {
      const input = el('input', { class: 'jp-mod-styled', name, 'aria-label': `parameter ${name}` });
      input.value = value;
      inputs.set(name, input);
      form.appendChild(el('label', { class: 'nbtrack-Param' }, el('span', { title: name }, name), input));
    }
    const submit = el('button', { class: 'jp-mod-styled jp-mod-accept nbtrack-Button', type: 'submit' }, 'Run');
    form.appendChild(el('div', { class: 'nbtrack-FormFooter' }, el('span', { class: 'nbtrack-Muted', title: rerun.notebook }, rerun.notebook), submit));
    form.addEventListener('submit', event => {
      event.preventDefault();
      // Every value, changed or not: the new run uses this run's parameters, not the defaults.
      const parameters: Record<string, string> = {};
      for (const [name, input] of inputs) {
        parameters[name] = input.value;
      }
      form.hidden = true;
      void start(`runs/${runId}/run-again`, { parameters });
    });
  } else if (jobs.rerun_unavailable) {
    buttons.title = jobs.rerun_unavailable;
  }

  const register = el('div', { class: 'nbtrack-Register' });
  for (const path of models.logged_models) {
    const name = el('input', {
      class: 'jp-mod-styled nbtrack-RegisterName',
      placeholder: 'model name',
      'aria-label': `register ${path} as`
    });
    name.value = models.versions[0]?.name ?? '';
    const button = el('button', { class: 'jp-mod-styled nbtrack-Button nbtrack-RegisterButton' }, 'Register');
    button.addEventListener('click', async () => {
      if (!name.value.trim()) {
        say('Name the registered model first, e.g. customer-sentiment', 'error');
        return;
      }
      try {
        const version = await postAPI<{ name: string; version: number }>('models/register', { store }, {
          run_id: runId,
          path,
          name: name.value.trim()
        });
        say(`Registered ${path} as ${version.name} version ${version.version}`, 'info');
        options.changed();
      } catch (error) {
        say(errorText(error), 'error');
      }
    });
    register.appendChild(
      el('div', { class: 'nbtrack-RegisterRow' }, el('span', { class: 'nbtrack-Muted', title: `logged model ${path}` }, `${path}/ as`), name, button)
    );
  }
  for (const part of [buttons.childElementCount ? buttons : null, form, register.childElementCount ? register : null, notice]) {
    if (part) {
      box.appendChild(part);
    }
  }
}

function outcome(job: IJob, openRun: (runId: string) => void): HTMLElement | null {
  if (job.state === 'failed') {
    return el('div', { class: 'nbtrack-JobError' }, job.error ?? 'failed');
  }
  if (job.state !== 'finished') {
    return null;
  }
  const box = el('div', { class: 'nbtrack-JobOutcome' });
  const result = job.result;
  if (job.kind === 'reproduce') {
    const matched = result.matched === true;
    box.appendChild(
      el('div', { class: matched ? 'nbtrack-Verdict nbtrack-mod-matched' : 'nbtrack-Verdict nbtrack-mod-differed' },
        matched ? `matched (${result.verdict})` : `differed (${result.verdict})`)
    );
    const rows = (result.metrics ?? []).filter(m => !matched || m.verdict !== 'exact');
    if (rows.length) {
      const table = el('table', { class: 'nbtrack-VerdictTable' },
        el('tr', {}, el('th', {}, 'metric'), el('th', {}, 'original'), el('th', {}, 'now'), el('th', {}, 'verdict')));
      for (const m of rows) {
        table.appendChild(
          el('tr', { class: m.verdict === 'exact' || m.verdict === 'within tolerance' ? '' : 'nbtrack-mod-differs' },
            el('td', { title: m.metric }, m.metric), el('td', {}, m.original ?? '—'), el('td', {}, m.reproduced ?? '—'),
            el('td', {}, m.verdict))
        );
      }
      box.appendChild(table);
    }
    for (const p of result.params ?? []) {
      box.appendChild(el('div', { class: 'nbtrack-mod-differs' }, `params.${p.param}: ${p.original ?? '—'} → ${p.reproduced ?? '—'}`));
    }
    if (result.error) {
      box.appendChild(el('div', { class: 'nbtrack-JobError' }, result.error));
    }
  } else {
    const metrics = Object.entries(result.metrics_text ?? {}).map(([k, v]) => `${k} ${v}`).join(' · ');
    box.appendChild(el('div', {}, `${result.status ?? ''}${metrics ? ` · ${metrics}` : ''}`));
    if (result.error) {
      box.appendChild(el('div', { class: 'nbtrack-JobError' }, result.error));
    }
  }
  if (job.new_run_id) {
    const runId = job.new_run_id;
    const link = el('a', { href: '#', class: 'nbtrack-RunLink', title: runId }, `new run ${shortId(runId)}`);
    link.addEventListener('click', event => {
      event.preventDefault();
      openRun(runId);
    });
    box.appendChild(link);
  }
  return box;
}

/** The store's jobs (newest first) with their state, elapsed time and outcome. */
export class JobsList {
  readonly node = el('div', { class: 'nbtrack-Jobs' });

  constructor(private readonly openRun: (runId: string) => void) {
    this.node.hidden = true;
  }

  /** True while a job of the shown store is queued or running (the sidebar polls fast then). */
  get busy(): boolean {
    return this._jobs.some(job => job.state === 'queued' || job.state === 'running');
  }

  async refresh(store: string | null): Promise<void> {
    if (store === null) {
      this._render([]);
      return;
    }
    try {
      const reply = await requestAPI<{ jobs: IJob[] }>('jobs', { store });
      this._render(reply.jobs.slice(0, 5));
    } catch {
      // An older server without jobs: nothing to show.
      this._render([]);
    }
  }

  private _render(jobs: IJob[]): void {
    const finished = this._jobs.filter(j => j.state === 'finished' || j.state === 'failed').map(j => j.job_id);
    this._jobs = jobs;
    this.node.hidden = !jobs.length;
    clear(this.node);
    this.node.appendChild(el('div', { class: 'nbtrack-JobsTitle' }, 'Jobs'));
    for (const job of jobs) {
      const now = job.ended ?? Date.now() / 1000;
      const elapsed = job.started ? formatDuration(Math.round((now - job.started) * 1000)) : '';
      const item = el(
        'div',
        { class: `nbtrack-Job nbtrack-Job-${job.state}`, 'data-job-id': job.job_id, 'data-state': job.state },
        el('div', { class: 'nbtrack-JobHead' },
          el('span', { class: 'nbtrack-JobState' }, job.state),
          el('span', { class: 'nbtrack-Muted' }, elapsed)),
        el('div', { class: 'nbtrack-JobLabel', title: `${job.label} (from run ${job.run_id})` }, job.label)
      );
      const result = outcome(job, this.openRun);
      if (result) {
        item.appendChild(result);
      }
      this.node.appendChild(item);
    }
    if (jobs.some(j => (j.state === 'finished' || j.state === 'failed') && !finished.includes(j.job_id))) {
      this.ended = true;
    }
  }

  /** Set when a job ended since the caller last looked (the runs list should refresh). */
  ended = false;
  private _jobs: IJob[] = [];
}
