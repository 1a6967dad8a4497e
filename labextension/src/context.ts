/**
 * The frontend context channel: before a `%%track` cell's execute_request
 * leaves, tell the kernel what only the frontend knows (the notebook's current
 * path, its unsaved content, the cell id). The kernel side is
 * `nbtrack/capture/frontend.py`.
 */
import { PageConfig } from '@jupyterlab/coreutils';
import { Contents } from '@jupyterlab/services';
import { Cell } from '@jupyterlab/cells';
import { Notebook, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

import { CONTEXT_COMM_TARGET, IFrontendContext } from './tokens';

/** True for the cells `%%track` runs: the magic must be the cell's first line. */
export function isTrackCell(source: string): boolean {
  return /^%%track(\s|$)/.test(source.trimStart());
}

/**
 * Listen to `NotebookActions.executionScheduled` and send the context on a
 * one-message comm. The signal fires synchronously just before the execute
 * request is sent, and the kernel handles shell messages in order, so the
 * context arrives first.
 */
export function connectContextChannel(
  contents: Contents.IManager,
  findPanel: (notebook: Notebook) => NotebookPanel | null
): void {
  NotebookActions.executionScheduled.connect((_, { notebook, cell }) => {
    const panel = findPanel(notebook);
    if (panel) {
      sendContext(panel, cell, contents);
    }
  });
}

function sendContext(
  panel: NotebookPanel,
  cell: Cell,
  contents: Contents.IManager
): void {
  const source = cell.model.sharedModel.getSource();
  const kernel = panel.sessionContext.session?.kernel;
  if (!isTrackCell(source) || !kernel || !panel.model) {
    return;
  }
  const message: IFrontendContext = {
    notebook_path: contents.localPath(panel.context.path),
    notebook_content: panel.model.toJSON(),
    cell_id: cell.model.id,
    // The kernel cannot know the server root; with it, notebook_path becomes absolute.
    server_root: PageConfig.getOption('serverRoot') || null
  };
  try {
    const comm = kernel.createComm(CONTEXT_COMM_TARGET);
    // A kernel without nbtrack's comm target answers with comm_close: nothing to do.
    comm.onClose = () => undefined;
    // The kernel closes the comm once it has the message, which disposes it here.
    comm.open(message as any);
  } catch (error) {
    // Never let context capture get in the way of running the cell.
    console.debug('nbtrack: could not send the cell context', error);
  }
}
