/**
 * The insert channel: the kernel asks for a new cell below the active one, now.
 *
 * `nbtrack.compare()`'s restore button runs in a widget callback, not a cell
 * execution, so IPython's `set_next_input` would only arrive with the next
 * execute reply. The kernel also opens a comm with target
 * `nbtrack.insert_cell` and `{code}`; we insert the cell, answer
 * `{inserted: true}` (the kernel then withdraws its queued `set_next_input`)
 * and close. The kernel side is `insert_cell_below` in
 * `nbtrack/capture/frontend.py`.
 */
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel } from '@jupyterlab/services';

import { INSERT_COMM_TARGET } from './tokens';

export function connectInsertChannel(tracker: INotebookTracker): void {
  tracker.widgetAdded.connect((_, panel) => {
    register(panel, panel.sessionContext.session?.kernel ?? null);
    panel.sessionContext.kernelChanged.connect((__, change) => register(panel, change.newValue));
  });
}

function register(panel: NotebookPanel, kernel: Kernel.IKernelConnection | null): void {
  // Registering again on the same connection replaces the handler: safe on restarts.
  kernel?.registerCommTarget(INSERT_COMM_TARGET, (comm, message) => {
    const code = (message.content.data as { code?: unknown } | undefined)?.code;
    let inserted = false;
    if (typeof code === 'string' && panel.content.model && !panel.isDisposed) {
      NotebookActions.insertBelow(panel.content);
      // The code is set as the cell's text: never parsed, never rendered as HTML.
      panel.content.activeCell?.model.sharedModel.setSource(code);
      inserted = true;
    }
    comm.send({ inserted });
    comm.close();
  });
}
