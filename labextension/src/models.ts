/**
 * The sidebar's Models section: registered models, their versions (source run,
 * stage, aliases, created time), each model's alias and stage history, and the
 * actions on a version (set or move an alias, remove one, change the stage).
 * Writes are POSTs to the server extension, which goes through nbtrack's registry.
 * Everything a model carries becomes text nodes only.
 */
import { clear, el, formatTime, sectionNotice, shortId } from './dom';
import { errorText, postAPI, requestAPI } from './request';
import { IModels, IModelVersion, IRegisteredModel, IRegistryEvent, IRunModelVersion } from './tokens';

export interface IModelsSectionOptions {
  /** Show a run's details (a version's source run). */
  openRun: (runId: string) => void;
  /** Called after a write, so the runs list refreshes its model badges. */
  changed: () => void;
}

/** "model v3 @champion" for a runs-list row; one badge per registered version. */
export function modelBadges(versions: IRunModelVersion[] | undefined): HTMLElement | null {
  if (!versions || !versions.length) {
    return null;
  }
  const box = el('span', { class: 'nbtrack-ModelBadges' });
  for (const v of versions) {
    const aliases = v.aliases.map(a => ` @${a}`).join('');
    box.appendChild(
      el('span', { class: 'nbtrack-ModelBadge', title: `registered as ${v.name} version ${v.version}${aliases}` },
        `model v${v.version}${aliases}`)
    );
  }
  return box;
}

function eventText(event: IRegistryEvent): string {
  const from = (v: number | null) => (v === null ? '—' : `v${v}`);
  if (event.kind === 'alias') {
    return event.version === null
      ? `@${event.alias} removed (was ${from(event.previous_version)})`
      : `@${event.alias}: ${from(event.previous_version)} → ${from(event.version)}`;
  }
  return `v${event.version ?? '?'} stage: ${event.previous_stage ?? 'None'} → ${event.stage ?? 'None'}`;
}

export class ModelsSection {
  readonly node = el('details', { class: 'nbtrack-Section nbtrack-Models', open: '' });

  constructor(private readonly options: IModelsSectionOptions) {
    this.node.appendChild(el('summary', {}, this._title));
    this.node.appendChild(this._notice.node);
    this.node.appendChild(this._body);
  }

  /** Show `store`'s models; a store without any hides the section's body behind a short line. */
  async refresh(store: string | null, exists: boolean): Promise<void> {
    if (store !== this._store) {
      this._store = store;
      this._shown = '';
      this._open.clear();
    }
    // No store yet: the runs list says so; an empty Models section would only repeat it.
    this.node.hidden = store === null || !exists;
    if (store === null || !exists) {
      this._render({ models: [], stages: [] });
      return;
    }
    try {
      const reply = await requestAPI<IModels>('models', { store });
      if (store === this._store) {
        if (this._readFailed) {
          this._notice.say(null); // the store reads again (it was being created or migrated)
          this._readFailed = false;
        }
        this._render(reply);
      }
    } catch (error) {
      this._readFailed = true;
      this._notice.say(errorText(error), 'error');
    }
  }

  private _render(reply: IModels): void {
    const text = JSON.stringify(reply);
    // Same data: keep the DOM (and what the user is typing in it).
    if (text === this._shown) {
      return;
    }
    const active = document.activeElement;
    if (active instanceof HTMLInputElement && this._body.contains(active)) {
      return; // never wipe an alias being typed; the next refresh shows the change
    }
    this._shown = text;
    this._stages = reply.stages;
    this._title.textContent = `Models (${reply.models.length})`;
    clear(this._body);
    if (!reply.models.length) {
      this._body.appendChild(
        el('div', { class: 'nbtrack-Muted nbtrack-Empty' },
          'No registered models yet: open a run that logged a model and register it.')
      );
      return;
    }
    for (const model of reply.models) {
      this._body.appendChild(this._model(model));
    }
  }

  private _model(model: IRegisteredModel): HTMLElement {
    const box = el('details', { class: 'nbtrack-Model', 'data-model': model.name });
    if (this._open.has(model.name)) {
      box.open = true;
    }
    box.addEventListener('toggle', () => {
      if (box.open) {
        this._open.add(model.name);
      } else {
        this._open.delete(model.name);
      }
    });
    const aliases = Object.entries(model.aliases)
      .map(([alias, version]) => `@${alias}→v${version}`)
      .join(' ');
    const summary = el(
      'summary',
      { title: model.description ?? model.name },
      el('span', { class: 'nbtrack-ModelName' }, model.name),
      el('span', { class: 'nbtrack-Muted' }, ` ${model.versions.length} version${model.versions.length === 1 ? '' : 's'}`)
    );
    box.appendChild(summary);
    if (aliases) {
      box.appendChild(el('div', { class: 'nbtrack-Muted nbtrack-ModelAliases', title: aliases }, aliases));
    }
    const list = el('ul', { class: 'nbtrack-Versions' });
    for (const version of model.versions) {
      list.appendChild(this._version(model, version));
    }
    box.appendChild(list);
    if (model.history.length) {
      const history = el('ul', { class: 'nbtrack-History' });
      for (const event of model.history) {
        history.appendChild(
          el(
            'li',
            { title: `${formatTime(event.time)}${event.user_id ? ` by ${event.user_id}` : ''}` },
            el('span', {}, eventText(event)),
            el('span', { class: 'nbtrack-Muted' }, ` · ${formatTime(event.time)}`)
          )
        );
      }
      box.appendChild(el('details', { class: 'nbtrack-ModelHistory' }, el('summary', {}, 'Alias and stage history'), history));
    }
    return box;
  }

  private _version(model: IRegisteredModel, version: IModelVersion): HTMLElement {
    const row = el('li', { class: 'nbtrack-Version', 'data-version': String(version.version) });
    const head = el(
      'div',
      { class: 'nbtrack-VersionHead' },
      el('span', { class: 'nbtrack-VersionNumber' }, `v${version.version}`),
      el('span', { class: `nbtrack-Stage nbtrack-Stage-${version.stage}` }, version.stage)
    );
    for (const alias of version.aliases) {
      const remove = el('button', { class: 'nbtrack-AliasRemove', title: `remove @${alias}`, 'aria-label': `remove alias ${alias}` }, '×');
      remove.addEventListener('click', () =>
        void this._write('models/alias/delete', { name: model.name, alias }, `@${alias} removed`)
      );
      head.appendChild(el('span', { class: 'nbtrack-Alias', 'data-alias': alias }, `@${alias}`, remove));
    }
    row.appendChild(head);
    const source = el('div', { class: 'nbtrack-VersionSource' });
    if (version.run_id) {
      const link = el('a', { href: '#', class: 'nbtrack-RunLink', title: `source run ${version.run_id}\n${version.source ?? ''}` },
        `${version.run_name ?? 'run'} (${shortId(version.run_id)})`);
      const runId = version.run_id;
      link.addEventListener('click', event => {
        event.preventDefault();
        this.options.openRun(runId);
      });
      source.appendChild(link);
    }
    const metrics = Object.entries(version.metrics_text).map(([k, v]) => `${k} ${v}`).join(' · ');
    source.appendChild(el('span', { class: 'nbtrack-Muted' }, ` · ${formatTime(version.creation_time)}${metrics ? ` · ${metrics}` : ''}`));
    row.appendChild(source);

    // Actions: an alias (set, or moved here from another version) and the stage.
    const alias = el('input', {
      class: 'jp-mod-styled nbtrack-AliasInput',
      placeholder: 'alias',
      title: 'An alias to point at this version, e.g. champion (moved here if it points elsewhere)',
      'aria-label': `alias for ${model.name} version ${version.version}`
    });
    const setAlias = el('button', { class: 'jp-mod-styled nbtrack-Button nbtrack-SetAlias' }, 'Set alias');
    const submitAlias = () => {
      const name = alias.value.trim();
      if (name) {
        alias.value = '';
        alias.blur();
        void this._write('models/alias', { name: model.name, alias: name, version: version.version }, `@${name} → v${version.version}`);
      }
    };
    setAlias.addEventListener('click', submitAlias);
    alias.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        submitAlias();
      }
    });
    const stage = el('select', { class: 'jp-mod-styled nbtrack-StageSelect', 'aria-label': `stage of ${model.name} version ${version.version}` });
    for (const name of this._stages) {
      const option = el('option', { value: name }, name);
      option.selected = name === version.stage;
      stage.appendChild(option);
    }
    stage.addEventListener('change', () =>
      void this._write('models/stage', { name: model.name, version: version.version, stage: stage.value }, `v${version.version} → ${stage.value}`)
    );
    row.appendChild(
      el('div', { class: 'nbtrack-VersionActions' }, alias, setAlias,
        el('label', { class: 'nbtrack-Muted nbtrack-StageLabel' }, 'stage ', stage))
    );
    return row;
  }

  private async _write(path: string, body: Record<string, unknown>, done: string): Promise<void> {
    const store = this._store;
    if (store === null) {
      return;
    }
    try {
      await postAPI(path, { store }, body);
      this._notice.say(done, 'info');
    } catch (error) {
      this._notice.say(errorText(error), 'error');
    }
    this._shown = '';
    await this.refresh(store, true);
    this.options.changed();
  }

  private _store: string | null = null;
  private _shown = '';
  private _stages: string[] = [];
  private readonly _open = new Set<string>();
  private readonly _title = el('span', {}, 'Models');
  private _readFailed = false;
  private readonly _notice = sectionNotice();
  private readonly _body = el('div', { class: 'nbtrack-ModelsBody' });
}
