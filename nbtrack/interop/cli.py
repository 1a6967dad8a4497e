"""``nbtrack push`` and ``nbtrack pull``: the local store and an MLflow tracking store.

Registered on the ``nbtrack`` group by ``register_interop_commands``; MLflow's client is
imported only when a command runs. Errors are nbtrack's one-line messages.
"""

from __future__ import annotations

import math
import os
from typing import Any

import click


def _store(func: Any) -> Any:
    return click.option(
        "--store", "store_uri", envvar="NBTRACK_HOME", default=None,
        help="Store directory or sqlite:///path.db (default: $NBTRACK_HOME, else ./.nbtrack).",
    )(func)


def _handle(store_uri: str | None) -> Any:
    from ..paths import current_location, resolve_location
    from ..tracking.fluent import store_handle

    return store_handle(resolve_location(store_uri) if store_uri else current_location())


def _interval(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value) or not 0.1 <= value <= 86_400:
        raise click.BadParameter(f"--interval must be seconds from 0.1 to 86400; got {value}")
    return value


@click.command("push")
@click.argument("filter_string", required=False, default=None)
@click.option("--to", "to", required=True, metavar="URI",
              help="MLflow tracking server (http://host:5000) or database (sqlite:///mlflow.db, "
                   "postgresql://user@host/db).")
@click.option("--experiment", "-e", default=None, help="Only runs of this local experiment (name).")
@click.option("--watch", is_flag=True, help="Keep pushing new and growing runs until interrupted.")
@click.option("--interval", type=float, default=5.0, show_default=True, callback=_interval,
              help="Seconds between pushes with --watch.")
@click.option("--max-runs", type=click.IntRange(1), default=None,
              help="Send at most this many runs now (the next push goes on from there).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar (default: on a terminal).")
@_store
def push_command(filter_string: str | None, to: str, experiment: str | None, watch: bool,
                 interval: float, max_runs: int | None, progress: bool | None,
                 store_uri: str | None) -> None:
    """Send runs, their artifacts and models, and the registry to an MLflow tracking store.

    Idempotent: a run already sent is not sent again; a run that grew sends what is new;
    an interrupted push resumes. Credentials: MLFLOW_TRACKING_USERNAME and
    MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN. Needs pip install "nbtrack[mlflow]".

    Example: nbtrack push --to http://127.0.0.1:5000 "metrics.accuracy > 0.9"
    """
    from .push import push
    from .push import watch as watch_loop

    handle = _handle(store_uri)

    def once() -> Any:
        return push(to, experiment, filter_string, handle=handle, progress=progress and not watch,
                    max_runs=max_runs)

    if not watch:
        click.echo(once().line(to))
        return
    # A server that dies mid-push would keep MLflow's client retrying with backoff for
    # minutes; the watch loop retries by itself, so MLflow's own retries are cut short.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    click.echo(f"pushing to {to} every {interval:g} s; Ctrl-C stops")
    try:
        watch_loop(to, interval, once, lambda line: click.echo(line))
    except KeyboardInterrupt:
        click.echo("stopped")


@click.command("pull")
@click.option("--from", "source", required=True, metavar="URI",
              help="MLflow tracking server (http://host:5000), database (sqlite:///mlflow.db, "
                   "postgresql://...) or mlruns/ folder.")
@click.option("--experiment", "-e", default=None, help="Only this experiment (name).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar (default: on a terminal).")
@_store
def pull_command(source: str, experiment: str | None, progress: bool | None,
                 store_uri: str | None) -> None:
    """Copy an MLflow store's experiments, runs, artifacts, models and registry here.

    Idempotent: runs pulled (or pushed) before are not pulled again. One transaction: a
    failed pull leaves the store as it was. Needs pip install "nbtrack[mlflow]".

    Example: nbtrack pull --from sqlite:///mlflow.db
    """
    from .pull import pull

    click.echo(pull(source, experiment, handle=_handle(store_uri), progress=progress).line(source))


def register_interop_commands(group: click.Group) -> None:
    """Add ``push`` and ``pull`` to the ``nbtrack`` group."""
    group.add_command(push_command)
    group.add_command(pull_command)
