/**
 * A read-only view of a run's notebook snapshot. Cells and outputs are shown
 * as text (and PNG/JPEG images as images): a snapshot's HTML, SVG, JavaScript
 * and widget outputs are never rendered, so an old output cannot run code.
 */
import { Widget } from '@lumino/widgets';

import { el } from './dom';

interface ISnapshotCell {
  cell_type: string;
  source: string | string[];
  execution_count?: number | null;
  outputs?: any[];
  id?: string;
}

function text(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join('') : (value ?? '');
}

// Tracebacks carry terminal colour codes; as text they are noise.
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

function renderOutput(output: any): HTMLElement | null {
  switch (output?.output_type) {
    case 'stream':
      return el(
        'pre',
        { class: `nbtrack-SnapshotStream nbtrack-Stream-${String(output.name)}` },
        text(output.text)
      );
    case 'error':
      return el(
        'pre',
        { class: 'nbtrack-Error' },
        (Array.isArray(output.traceback) ? output.traceback.join('\n') : `${output.ename}: ${output.evalue}`).replace(
          ANSI,
          ''
        )
      );
    case 'execute_result':
    case 'display_data': {
      const data = output.data ?? {};
      for (const mime of ['image/png', 'image/jpeg']) {
        if (typeof data[mime] === 'string') {
          const img = el('img', { class: 'nbtrack-SnapshotImage' });
          // A data: URL of a raster image cannot run script.
          img.src = `data:${mime};base64,${data[mime].replace(/\s/g, '')}`;
          return img;
        }
      }
      if (data['text/plain'] !== undefined) {
        return el('pre', { class: 'nbtrack-SnapshotResult' }, text(data['text/plain']));
      }
      const kinds = Object.keys(data).join(', ');
      return el('div', { class: 'nbtrack-Muted' }, `[output not shown in snapshots: ${kinds}]`);
    }
    default:
      return null;
  }
}

/** The snapshot of one run, as a main-area widget's content. */
export class SnapshotView extends Widget {
  constructor(notebook: { cells?: ISnapshotCell[] }, caption: string) {
    super();
    this.addClass('nbtrack-Snapshot');
    this.node.appendChild(el('div', { class: 'nbtrack-SnapshotBanner' }, caption));
    for (const cell of notebook.cells ?? []) {
      const prompt =
        cell.cell_type === 'code' ? `[${cell.execution_count ?? ' '}]:` : '';
      const box = el(
        'div',
        { class: `nbtrack-SnapshotCell nbtrack-SnapshotCell-${cell.cell_type}` },
        el('div', { class: 'nbtrack-SnapshotPrompt' }, prompt),
        el('pre', { class: 'nbtrack-SnapshotSource' }, text(cell.source))
      );
      if (cell.id) {
        box.dataset.cellId = cell.id;
      }
      for (const output of cell.outputs ?? []) {
        const node = renderOutput(output);
        if (node) {
          box.appendChild(el('div', { class: 'nbtrack-SnapshotOutput' }, node));
        }
      }
      this.node.appendChild(box);
    }
  }
}
