"""``nbtrack models``: the registry from a terminal (list, show, alias, stage, history, download).

Errors are nbtrack's one-line messages (``nbtrack.cli`` turns them into exit code 1).
"""

from __future__ import annotations

import warnings
from typing import Any

import click

from ..tables import format_time, text_table


def _registry(store_uri: str | None):  # -> nbtrack.models.registry.Registry
    from ..paths import current_location, resolve_location
    from ..tracking.fluent import store_handle
    from .registry import Registry

    return Registry(store_handle(resolve_location(store_uri) if store_uri else current_location()))


_store = click.option("--store", "store_uri", envvar="NBTRACK_HOME", default=None,
                      help="Store directory or sqlite:///path.db (default: $NBTRACK_HOME, else ./.nbtrack).")


def _headline(registry: Any, run_id: str | None, limit: int = 3) -> str:
    """A run's first few metrics, e.g. ``accuracy=0.91 f1=0.9`` (empty for a missing run)."""
    if not run_id:
        return ""
    from ..errors import RunNotFound
    from ..store import queries
    from ..tables import format_value

    try:
        metrics = queries.get_run(registry._read(), run_id).data.metrics
    except RunNotFound:
        return "(run gone)"
    return " ".join(f"{k}={format_value(v)}" for k, v in sorted(metrics.items())[:limit])


@click.group(invoke_without_command=True)
@_store
@click.pass_context
def models(ctx: click.Context, store_uri: str | None) -> None:
    """List registered models: latest version, aliases, stages.

    Example: nbtrack models
    """
    ctx.obj = store_uri
    if ctx.invoked_subcommand is not None:
        return
    registry = _registry(store_uri)
    rows = []
    for model in registry.search_registered_models(max_results=10_000):
        versions = registry.search_model_versions(f"name = '{model.name}'", max_results=1)
        latest = versions[0].version if versions else ""
        stages = ", ".join(f"{v.current_stage}: v{v.version}" for v in model.latest_versions
                           if v.current_stage != "None")
        aliases = ", ".join(f"@{a}: v{v}" for a, v in model.aliases.items())
        rows.append([model.name, latest, aliases, stages, format_time(model.last_updated_timestamp)])
    if not rows:
        click.echo("No registered models. Register one with nbtrack.register_model(model_uri, name) "
                   "or log_model(..., registered_model_name=...).")
        return
    click.echo(text_table(["name", "latest", "aliases", "stages", "updated"], rows))


def _store_of(ctx: click.Context, store_uri: str | None) -> str | None:
    return store_uri or (ctx.parent.obj if ctx.parent else None)


@models.command()
@click.argument("name")
@_store
@click.pass_context
def show(ctx: click.Context, name: str, store_uri: str | None) -> None:
    """One registered model: its versions, their runs' metrics, aliases and stages.

    Example: nbtrack models show customer-sentiment
    """
    registry = _registry(_store_of(ctx, store_uri))
    model = registry.get_registered_model(name)
    click.echo(f"{model.name}" + (f": {model.description}" if model.description else ""))
    if model.tags:
        click.echo("tags: " + ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items())))
    rows = [[f"v{v.version}", v.current_stage, ", ".join(f"@{a}" for a in v.aliases), v.run_id or "",
             _headline(registry, v.run_id), format_time(v.creation_timestamp)]
            for v in registry.search_model_versions(f"name = '{name}'")]
    click.echo(text_table(["version", "stage", "aliases", "run", "metrics", "created"], rows))


@models.command()
@click.argument("name")
@click.argument("alias")
@click.argument("version")
@_store
@click.pass_context
def alias(ctx: click.Context, name: str, alias: str, version: str, store_uri: str | None) -> None:
    """Point ALIAS of model NAME at VERSION (the move is kept in the history).

    Example: nbtrack models alias customer-sentiment champion 3
    """
    registry = _registry(_store_of(ctx, store_uri))
    registry.set_registered_model_alias(name, alias, version)
    click.echo(f"{name}@{alias} -> v{int(version)}")


@models.command()
@click.argument("name")
@click.argument("version")
@click.argument("stage")
@click.option("--archive-existing", is_flag=True, help="Move other versions in STAGE to Archived.")
@_store
@click.pass_context
def stage(ctx: click.Context, name: str, version: str, stage: str, archive_existing: bool,
          store_uri: str | None) -> None:
    """Move VERSION of NAME to STAGE (None, Staging, Production, Archived).

    Stages are deprecated in MLflow since 2.9 in favour of aliases; they still work.

    Example: nbtrack models stage customer-sentiment 3 Production --archive-existing
    """
    registry = _registry(_store_of(ctx, store_uri))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        mv = registry.transition_model_version_stage(name, version, stage, archive_existing)
    click.echo(f"{name} v{mv.version} is now in {mv.current_stage}")


@models.command()
@click.argument("name")
@_store
@click.pass_context
def history(ctx: click.Context, name: str, store_uri: str | None) -> None:
    """Every alias and stage move of NAME: who, when, from which version to which.

    Example: nbtrack models history customer-sentiment
    """
    registry = _registry(_store_of(ctx, store_uri))
    rows = []
    for event in registry.history(name):
        if event.kind == "alias":
            what = f"@{event.alias}"
            before = f"v{event.previous_version}" if event.previous_version else "-"
            after = f"v{event.version}" if event.version else "(removed)"
        else:
            what = f"v{event.version} stage"
            before, after = event.previous_stage or "-", event.stage or "(deleted)"
        rows.append([format_time(event.time), event.user_id or "", what, before, after])
    if not rows:
        click.echo(f"No alias or stage moves recorded for {name!r} yet.")
        return
    click.echo(text_table(["when", "who", "what", "from", "to"], rows))


@models.command()
@click.argument("uri")
@click.argument("directory", type=click.Path(file_okay=False))
@_store
@click.pass_context
def download(ctx: click.Context, uri: str, directory: str, store_uri: str | None) -> None:
    """Copy the model at URI (runs:/..., models:/name/3, models:/name@alias) into DIRECTORY,
    checking every file against its recorded digest.

    Example: nbtrack models download models:/customer-sentiment@champion ./champion
    """
    from pathlib import Path

    from ..errors import InvalidInput
    from .locate import model_directory

    target = Path(directory)
    if target.exists() and any(target.iterdir()):
        raise InvalidInput(f"{directory} is not empty; download into a new folder")
    registry = _registry(_store_of(ctx, store_uri))
    with model_directory(uri, registry._handle, dst_path=target):
        pass
    click.echo(f"{uri} -> {target} ({sum(1 for p in target.rglob('*') if p.is_file())} files)")
