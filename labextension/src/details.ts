/**
 * One run's details in the sidebar: status, params, metrics, tags, data
 * inputs, artifacts, code and error. Text nodes only.
 */
import {
  el,
  formatBytes,
  formatDuration,
  formatTime,
  formatValue,
  keyValueTable,
  shortId
} from './dom';
import { apiURL, requestAPI } from './request';
import { sparkline } from './spark';
import { IMetricHistory, IRunDetail } from './tokens';

/** Fill `box` with a small chart of one metric, from the metric-history endpoint. */
async function loadSpark(run: IRunDetail, store: string, key: string, box: HTMLElement): Promise<void> {
  try {
    const history = await requestAPI<IMetricHistory>(`runs/${run.run_id}/metric-history`, {
      store,
      key,
      max_points: '200'
    });
    box.appendChild(sparkline(history, run.color ?? 'currentColor'));
  } catch {
    // The numbers above still say it all; a chart that cannot load is left out.
  }
}

export interface IDetailActions {
  openSnapshot: (run: IRunDetail) => void;
}

function section(title: string, body: Node | null): HTMLElement | null {
  if (body === null) {
    return null;
  }
  return el(
    'details',
    { class: 'nbtrack-Section', open: '' },
    el('summary', {}, title),
    body
  );
}

function nonEmpty<T>(items: T[], render: (items: T[]) => Node): Node | null {
  return items.length ? render(items) : null;
}

/** Render `run`; `store` is the store directory (artifact links need it). */
export function renderRunDetail(
  run: IRunDetail,
  store: string,
  actions: IDetailActions
): HTMLElement {
  const root = el('div', { class: 'nbtrack-Detail' });
  const header = el(
    'div',
    { class: 'nbtrack-DetailHeader' },
    el('span', { class: `nbtrack-Status nbtrack-Status-${run.status}` }, run.status),
    el('span', { class: 'nbtrack-DetailName' }, run.run_name),
    el('span', { class: 'nbtrack-Muted', title: run.run_id }, shortId(run.run_id))
  );
  root.appendChild(header);

  const overview: [string, string][] = [
    ['experiment', run.experiment_name ?? run.experiment_id],
    ['started', formatTime(run.start_time)],
    ['duration', formatDuration(run.duration_ms)]
  ];
  if (run.notebook_path) {
    overview.push(['notebook', run.notebook_path]);
  }
  if (run.execution_count !== null) {
    overview.push(['execution', `[${run.execution_count}]`]);
  }
  root.appendChild(keyValueTable(overview));

  if (run.snapshot_path) {
    const open = el('button', { class: 'jp-mod-styled nbtrack-Button' }, 'Open snapshot');
    open.title = 'Open the notebook as it was when this run executed (read-only)';
    open.addEventListener('click', () => actions.openSnapshot(run));
    root.appendChild(open);
  }

  if (run.error) {
    root.appendChild(
      section(
        'Error',
        el(
          'pre',
          { class: 'nbtrack-Error' },
          `${run.error.type}: ${run.error.message}` +
            (run.error.traceback ? `\n\n${run.error.traceback}` : '')
        )
      )!
    );
  }

  // Metrics stack (name, then values, then a small chart): the sidebar is narrow.
  const metricKeys = Object.keys(run.metric_summaries);
  const metrics = nonEmpty(metricKeys, keys => {
    const list = el('div', { class: 'nbtrack-Metrics' });
    for (const key of keys) {
      const s = run.metric_summaries[key];
      const text = s.text ?? { last: formatValue(s.last), min: formatValue(s.min), max: formatValue(s.max) };
      const values =
        s.count > 1
          ? `last ${text.last} · min ${text.min} · max ${text.max} · ${s.count} points`
          : `${text.last} (one value)`;
      const chart = el('div', { class: 'nbtrack-SparkBox' });
      list.appendChild(
        el(
          'div',
          { class: 'nbtrack-Metric', 'data-metric': key },
          el('div', { class: 'nbtrack-MetricName', title: key }, key),
          el('div', { class: 'nbtrack-MetricValues' }, values),
          chart
        )
      );
      if (s.count > 1) {
        void loadSpark(run, store, key, chart);
      }
    }
    return list;
  });
  const entries = (record: Record<string, string>): [string, string][] =>
    Object.entries(record);
  const parts = [
    section('Metrics', metrics),
    section(
      'Params',
      nonEmpty(entries(run.params), rows => keyValueTable(rows))
    ),
    section('Tags', nonEmpty(entries(run.tags), rows => keyValueTable(rows))),
    section(
      'Data',
      nonEmpty(run.inputs, inputs => {
        const list = el('ul', { class: 'nbtrack-Inputs' });
        for (const input of inputs) {
          const shape = input.shape ? ` ${input.shape.join(' × ')}` : '';
          const context = input.context ? ` (${input.context})` : '';
          const item = el(
            'li',
            {},
            el('span', { class: 'nbtrack-InputName' }, input.name + context),
            el('span', { class: 'nbtrack-Muted' }, `${shape} ${input.digest.slice(0, 12)}`)
          );
          item.title = `${input.source_type}: ${input.source}\ndigest ${input.digest}`;
          list.appendChild(item);
        }
        return list;
      })
    ),
    section(
      'Artifacts',
      nonEmpty(run.artifacts, artifacts => {
        const list = el('ul', { class: 'nbtrack-Artifacts' });
        for (const artifact of artifacts) {
          // Encode each path segment; the server decodes them and refuses anything that escapes.
          const path = artifact.path.split('/').map(encodeURIComponent).join('/');
          const link = el(
            'a',
            {
              href: apiURL(`runs/${run.run_id}/artifacts/${path}`, { store }),
              target: '_blank',
              rel: 'noopener noreferrer'
            },
            artifact.path
          );
          list.appendChild(
            el('li', {}, link, el('span', { class: 'nbtrack-Muted' }, ` ${formatBytes(artifact.size)}`))
          );
        }
        return list;
      })
    ),
    section('Code', run.code ? el('pre', { class: 'nbtrack-Code' }, run.code) : null)
  ];
  for (const part of parts) {
    if (part) {
      root.appendChild(part);
    }
  }
  return root;
}
