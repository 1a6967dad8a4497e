import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbtrack:plugin',
  description: 'nbtrack runs in JupyterLab.',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    console.debug('nbtrack activated', app.name);
  }
};

export default plugin;
