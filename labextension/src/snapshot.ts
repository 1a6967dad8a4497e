/**
 * A read-only view of a run's notebook snapshot, rendered as a notebook:
 * markdown rendered, code highlighted (a fenced block through JupyterLab's own
 * markdown renderer), the run's own outputs through the rendermime registry as
 * *untrusted* (HTML sanitized, no script, no widget), the tracked cell marked.
 */
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';

import { el } from './dom';

interface ISnapshotCell {
  cell_type: string;
  source: string | string[];
  execution_count?: number | null;
  outputs?: any[];
  id?: string;
  metadata?: { nbtrack?: unknown };
}

function text(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join('') : (value ?? '');
}

// Tracebacks carry terminal colour codes; JupyterLab renders them from application/vnd.jupyter.stderr.
function outputBundle(output: any): Record<string, unknown> | null {
  switch (output?.output_type) {
    case 'stream':
      return {
        [output.name === 'stderr' ? 'application/vnd.jupyter.stderr' : 'application/vnd.jupyter.stdout']: text(
          output.text
        )
      };
    case 'error':
      return {
        'application/vnd.jupyter.stderr': Array.isArray(output.traceback)
          ? output.traceback.join('\n')
          : `${output.ename}: ${output.evalue}`
      };
    case 'execute_result':
    case 'display_data':
      return output.data ?? {};
    default:
      return null;
  }
}

/** A fence longer than any run of backticks in `code`, so the code cannot close it. */
function fenced(code: string, language: string): string {
  const longest = Math.max(2, ...(code.match(/`+/g) ?? []).map(run => run.length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${language}\n${code}\n${fence}`;
}

/** The snapshot of one run, as a main-area widget's content. */
export class SnapshotView extends Widget {
  constructor(
    notebook: { cells?: ISnapshotCell[]; metadata?: any },
    caption: string,
    rendermime: IRenderMimeRegistry,
    tracked: { cellId: string | null; executionCount: number | null }
  ) {
    super();
    this.addClass('nbtrack-Snapshot');
    this.node.appendChild(el('div', { class: 'nbtrack-SnapshotBanner' }, caption));
    const language = notebook.metadata?.language_info?.name ?? notebook.metadata?.kernelspec?.language ?? 'python';
    for (const cell of notebook.cells ?? []) {
      const code = cell.cell_type === 'code';
      // A file snapshot keeps the cell's own id; an execution-history snapshot names it in metadata.
      const cellId = (cell.metadata?.nbtrack as { cell_id?: string } | undefined)?.cell_id ?? cell.id;
      const isTracked = tracked.cellId !== null && cellId === tracked.cellId;
      // The snapshot is taken as the run starts, before the cell has its new count: the tracked
      // cell's prompt is the run's count (what the notebook showed once it ran).
      const count = isTracked && tracked.executionCount !== null ? tracked.executionCount : cell.execution_count;
      const prompt = code ? `[${count ?? ' '}]:` : '';
      const source = el('div', { class: 'nbtrack-SnapshotSource' });
      const box = el(
        'div',
        { class: `nbtrack-SnapshotCell nbtrack-SnapshotCell-${cell.cell_type}` },
        el('div', { class: 'nbtrack-SnapshotPrompt' }, prompt),
        source
      );
      if (cell.id) {
        box.dataset.cellId = cell.id;
      }
      if (isTracked) {
        box.classList.add('nbtrack-mod-tracked');
        box.title = 'The cell this run executed';
      }
      const markdown = cell.cell_type === 'markdown' ? text(cell.source) : fenced(text(cell.source), code ? language : '');
      this._render(source, { 'text/markdown': markdown }, rendermime);
      for (const output of cell.outputs ?? []) {
        const bundle = outputBundle(output);
        if (bundle) {
          const area = el('div', { class: 'nbtrack-SnapshotOutput' });
          box.appendChild(area);
          this._render(area, bundle, rendermime);
        }
      }
      this.node.appendChild(box);
    }
  }

  private _render(host: HTMLElement, data: Record<string, unknown>, rendermime: IRenderMimeRegistry): void {
    // Untrusted: the registry picks only safe renderers and sanitizes HTML (no script runs).
    const mime = rendermime.preferredMimeType(data as any, 'ensure');
    if (!mime) {
      host.appendChild(
        el('div', { class: 'nbtrack-Muted' }, `[output not shown in snapshots: ${Object.keys(data).join(', ')}]`)
      );
      return;
    }
    const renderer = rendermime.createRenderer(mime);
    void renderer.renderModel(new MimeModel({ data: data as any, trusted: false }));
    host.appendChild(renderer.node);
    this._renderers.push(renderer);
  }

  dispose(): void {
    this._renderers.forEach(renderer => renderer.dispose());
    super.dispose();
  }

  private readonly _renderers: Widget[] = [];
}
