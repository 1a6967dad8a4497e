/**
 * nbtrack's JupyterLab extension: the runs sidebar, per-cell run badges, the
 * read-only snapshot view, and the frontend context channel for `%%track`.
 * It talks to the server half over HTTP only (`/nbtrack/api/...`).
 */
import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, Notification } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import {
  INotebookTracker,
  NotebookActions,
  NotebookPanel
} from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';

import { CellBadges, showCellHistory } from './badges';
import { registerCompareRenderer } from './compare';
import { shortId } from './dom';
import { connectContextChannel, isTrackCell } from './context';
import { connectInsertChannel } from './insert';
import { requestAPI } from './request';
import { RunsPanel } from './sidebar';
import { SnapshotView } from './snapshot';
import { IRunDetail } from './tokens';

const FAST_POLL_MS = 2000; // while a cell runs or a run is open
const SLOW_POLL_MS = 15000;

const runsIcon = new LabIcon({
  name: 'nbtrack:runs',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">' +
    '<path class="jp-icon3" fill="#616161" d="M2 13h12v1H2zM3 9h2v3H3zm4-4h2v7H7zm4 2h2v5h-2z"/></svg>'
});

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbtrack:plugin',
  description: 'nbtrack runs, cell run history and the %%track context channel.',
  autoStart: true,
  requires: [INotebookTracker, IRenderMimeRegistry],
  optional: [ILabShell, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    labShell: ILabShell | null,
    palette: ICommandPalette | null
  ) => {
    const contents = app.serviceManager.contents;
    const storeOf = (panel: NotebookPanel | null): string | null =>
      panel ? PathExt.dirname(contents.localPath(panel.context.path)) : null;

    connectContextChannel(contents, notebook =>
      tracker.find(panel => panel.content === notebook) ?? null
    );
    connectInsertChannel(tracker);

    const sidebar = new RunsPanel({
      openSnapshot: (store, run) => void openSnapshot(app, rendermime, store, run),
      insertCompare: runIds => insertCompare(tracker, runIds)
    });
    sidebar.title.icon = runsIcon;
    app.shell.add(sidebar, 'right', { rank: 650 });

    // compare() outputs: the widget while the kernel has it, the static view otherwise.
    registerCompareRenderer(rendermime);
    const badges = new Map<NotebookPanel, CellBadges>();
    tracker.widgetAdded.connect((_, panel) => {
      registerCompareRenderer(panel.content.rendermime);
      const cellBadges = new CellBadges(panel, () => storeOf(panel));
      badges.set(panel, cellBadges);
      panel.disposed.connect(() => badges.delete(panel));
      void panel.context.ready.then(() => cellBadges.refresh());
    });

    const showCurrent = () => {
      const panel = tracker.currentWidget;
      sidebar.setStore(storeOf(panel), panel ? PathExt.basename(panel.context.path) : '');
    };
    tracker.currentChanged.connect(showCurrent);
    // A renamed or moved notebook may now sit next to another store.
    tracker.widgetAdded.connect((_, panel) => panel.context.pathChanged.connect(showCurrent));
    labShell?.currentChanged.connect(showCurrent);
    showCurrent();

    const refreshAll = () => {
      const current = tracker.currentWidget;
      if (sidebar.isVisible) {
        void sidebar.refresh();
      }
      if (current) {
        void badges.get(current)?.refresh();
      }
    };
    // Poll fast while something is running, slowly otherwise.
    const tick = () => {
      refreshAll();
      const kernelBusy = tracker.currentWidget?.sessionContext.kernelDisplayStatus === 'busy';
      const runOpen = sidebar.runs.some(run => run.status === 'RUNNING') || sidebar.jobsBusy;
      window.setTimeout(tick, kernelBusy || runOpen ? FAST_POLL_MS : SLOW_POLL_MS);
    };
    window.setTimeout(tick, FAST_POLL_MS);
    NotebookActions.executionScheduled.connect((_, { cell }) => {
      if (isTrackCell(cell.model.sharedModel.getSource())) {
        window.setTimeout(refreshAll, 500);
      }
    });
    NotebookActions.executed.connect(() => {
      // The run ends as the cell returns; its last metrics are flushed just after.
      window.setTimeout(refreshAll, 300);
      window.setTimeout(refreshAll, 1500);
    });

    app.commands.addCommand('nbtrack:open-runs', {
      label: 'nbtrack: Show runs sidebar',
      execute: () => app.shell.activateById(sidebar.id)
    });
    app.commands.addCommand('nbtrack:compare-selected', {
      label: 'nbtrack: Compare selected runs in the notebook',
      isEnabled: () => sidebar.selected.length > 0 && tracker.currentWidget !== null,
      execute: () => sidebar.compareSelected()
    });
    app.commands.addCommand('nbtrack:cell-history', {
      label: "nbtrack: Show the active cell's run history",
      isEnabled: () => tracker.activeCell !== null && storeOf(tracker.currentWidget) !== null,
      execute: () => {
        const cell = tracker.activeCell;
        const store = storeOf(tracker.currentWidget);
        if (cell && store !== null) {
          void showCellHistory(cell, store).catch(error =>
            Notification.error(`nbtrack: no history for this cell: ${(error as Error).message}`)
          );
        }
      }
    });
    for (const command of ['nbtrack:open-runs', 'nbtrack:compare-selected', 'nbtrack:cell-history']) {
      palette?.addItem({ command, category: 'nbtrack' });
    }
  }
};

async function openSnapshot(
  app: JupyterFrontEnd,
  rendermime: IRenderMimeRegistry,
  store: string,
  run: IRunDetail
): Promise<void> {
  try {
    const notebook = await requestAPI<any>(`runs/${run.run_id}/snapshot`, { store });
    const caption =
      `Snapshot of ${run.notebook_path ?? 'the notebook'} as run ${run.run_name} executed it ` +
      `(${new Date(run.start_time).toLocaleString()}). Read-only; the marked cell is the run's.`;
    const widget = new MainAreaWidget({ content: new SnapshotView(notebook, caption, rendermime, {
        cellId: run.cell_id,
        executionCount: run.execution_count
      }) });
    widget.id = `nbtrack-snapshot-${run.run_id}`;
    widget.title.label = `${run.run_name} (snapshot)`;
    widget.title.icon = runsIcon;
    widget.title.closable = true;
    app.shell.add(widget, 'main');
    app.shell.activateById(widget.id);
  } catch (error) {
    Notification.error(`nbtrack: cannot open the snapshot: ${(error as Error).message}`);
  }
}

function insertCompare(tracker: INotebookTracker, runIds: string[]): void {
  const panel = tracker.currentWidget;
  if (!panel || !runIds.length) {
    return;
  }
  const notebook = panel.content;
  // At the end of the notebook, where a new analysis goes, not wherever the cursor was.
  notebook.activeCellIndex = notebook.widgets.length - 1;
  NotebookActions.insertBelow(notebook);
  // Short ids read better; compare() accepts any unique prefix of 6+ characters.
  const ids = runIds.map(id => JSON.stringify(shortId(id))).join(', ');
  notebook.activeCell?.model.sharedModel.setSource(`import nbtrack\n\nnbtrack.compare(runs=[${ids}])`);
  notebook.activeCell?.node.scrollIntoView({ block: 'nearest' });
}

export default plugin;
