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
import { MainAreaWidget, Notification } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import {
  INotebookTracker,
  NotebookActions,
  NotebookPanel
} from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { CellBadges } from './badges';
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
  requires: [INotebookTracker],
  optional: [ILabShell],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, labShell: ILabShell | null) => {
    const contents = app.serviceManager.contents;
    const storeOf = (panel: NotebookPanel | null): string | null =>
      panel ? PathExt.dirname(contents.localPath(panel.context.path)) : null;

    connectContextChannel(contents, notebook =>
      tracker.find(panel => panel.content === notebook) ?? null
    );
    connectInsertChannel(tracker);

    const sidebar = new RunsPanel({
      openSnapshot: (store, run) => void openSnapshot(app, store, run),
      insertCompare: runIds => insertCompare(tracker, runIds)
    });
    sidebar.title.icon = runsIcon;
    app.shell.add(sidebar, 'right', { rank: 650 });

    const badges = new Map<NotebookPanel, CellBadges>();
    tracker.widgetAdded.connect((_, panel) => {
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
      const runOpen = sidebar.runs.some(run => run.status === 'RUNNING');
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
      label: 'Show nbtrack runs',
      execute: () => app.shell.activateById(sidebar.id)
    });
  }
};

async function openSnapshot(app: JupyterFrontEnd, store: string, run: IRunDetail): Promise<void> {
  try {
    const notebook = await requestAPI<any>(`runs/${run.run_id}/snapshot`, { store });
    const caption =
      `Snapshot of ${run.notebook_path ?? 'the notebook'} taken by run ${run.run_name} ` +
      `(${new Date(run.start_time).toLocaleString()}). Read-only; rich outputs are not shown.`;
    const widget = new MainAreaWidget({ content: new SnapshotView(notebook, caption) });
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
  NotebookActions.insertBelow(notebook);
  const ids = runIds.map(id => JSON.stringify(id)).join(', ');
  notebook.activeCell?.model.sharedModel.setSource(`import nbtrack\n\nnbtrack.compare(runs=[${ids}])`);
}

export default plugin;
