"""The ``nbtrack`` command: list, show and query runs in the local store.

Every command reads the store in force (``--store``, else ``NBTRACK_HOME``, else
``.nbtrack/`` here). Run ``nbtrack COMMAND --help`` for each command's options.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from .errors import NbtrackError

FORMATS = ("table", "csv", "json")


def _store_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--store", "store_uri", envvar="NBTRACK_HOME", default=None,
        help="Store directory or sqlite:///path.db (default: $NBTRACK_HOME, else ./.nbtrack).",
    )(func)


def _format_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--format", "output_format", type=click.Choice(FORMATS), default="table",
                        show_default=True, help="Output format.")(func)


def _location(store_uri: str | None):
    from .paths import current_location, resolve_location

    return resolve_location(store_uri) if store_uri else current_location()


def _emit(columns: Sequence[str], rows: Sequence[Sequence[Any]], output_format: str) -> None:
    if output_format == "json":
        click.echo(json.dumps([dict(zip(columns, row)) for row in rows], default=str, indent=2))
    elif output_format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        from .tables import text_table

        click.echo(text_table(columns, rows))


class _Group(click.Group):
    """Turns nbtrack's own errors into one line and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NbtrackError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group)
@click.version_option(package_name="nbtrack")
def main() -> None:
    """nbtrack: experiment tracking that lives in the notebook."""


@main.command()
@click.argument("filter_string", required=False, default=None)
@click.option("--experiment", "-e", default=None, help="Only runs of this experiment (name).")
@click.option("--order-by", "-o", multiple=True, help="e.g. 'metrics.accuracy DESC' (repeatable).")
@click.option("--limit", "-n", type=int, default=50, show_default=True, help="At most this many runs.")
@_format_option
@_store_option
def runs(filter_string: str | None, experiment: str | None, order_by: tuple[str, ...], limit: int,
         output_format: str, store_uri: str | None) -> None:
    """List runs, newest first, optionally filtered.

    Example: nbtrack runs "metrics.accuracy > 0.8 and params.alpha = '1'" --format csv
    """
    from .store import queries
    from .store.database import open_for_reading

    with open_for_reading(_location(store_uri)) as store:
        ids = None
        if experiment:
            found = queries.get_experiment_by_name(store, experiment)
            if found is None:
                raise click.ClickException(f"no experiment named {experiment!r}; see `nbtrack experiments`")
            ids = [found.experiment_id]
        pks = queries.select_run_pks(store, filter_string, ids, order_by=list(order_by), max_results=limit)
        table = queries.run_table(store, pks)
        metric_keys = sorted(table.summaries)[:6]
        param_keys = sorted(table.params)[:6]
        columns = ["run_id", "name", "status", "duration_s", *[f"params.{k}" for k in param_keys],
                   *[f"metrics.{k}" for k in metric_keys]]
        rows = []
        for i, attrs in enumerate(table.attributes):
            duration = None if attrs.duration_ms is None else round(attrs.duration_ms / 1000, 2)
            rows.append([attrs.run_id[:8] if output_format == "table" else attrs.run_id, attrs.run_name,
                         attrs.status, duration,
                         *[table.params[k][i] for k in param_keys],
                         *[None if table.summaries[k][i] is None else table.summaries[k][i].last
                           for k in metric_keys]])
    _emit(columns, rows, output_format)


@main.command()
@click.argument("run_id")
@_format_option
@_store_option
def show(run_id: str, output_format: str, store_uri: str | None) -> None:
    """Show one run: attributes, params, metrics (last/min/max), tags, inputs, artifacts.

    Example: nbtrack show 3f2a9c
    """
    from .tables import run_detail_text, run_to_dict
    from .store import queries
    from .store.database import open_for_reading

    with open_for_reading(_location(store_uri)) as store:
        run = queries.get_run(store, _resolve_run_id(store, run_id))
        artifacts = queries.artifact_entries(store, run.info.run_id)
    if output_format == "json":
        click.echo(json.dumps(run_to_dict(run, artifacts), indent=2, default=str))
    else:
        click.echo(run_detail_text(run, artifacts))


def _resolve_run_id(store: Any, prefix: str) -> str:
    rows = store.conn.execute(
        "SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ? LIMIT 2", (len(prefix), prefix)
    ).fetchall()
    if not rows:
        raise click.ClickException(f"no run id starts with {prefix!r}; see `nbtrack runs`")
    if len(rows) > 1:
        raise click.ClickException(f"{prefix!r} matches several runs; give more characters")
    return rows[0][0]


@main.command()
@click.argument("query")
@click.option("--limit", type=int, default=1000, show_default=True, help="Row cap.")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds before the query is stopped.")
@_format_option
@_store_option
def sql(query: str, limit: int, timeout: float, output_format: str, store_uri: str | None) -> None:
    """Run a read-only SQL query against the store (schema: docs/schema.md).

    Example: nbtrack sql "SELECT key, max_value FROM metric_summaries"
    """
    from .store.readonly import run_readonly_sql

    result = run_readonly_sql(_location(store_uri), query, row_cap=limit, time_limit=timeout)
    _emit(result.columns, result.rows, output_format)
    if result.truncated:
        click.echo(f"(stopped at {limit} rows; raise --limit to see more)", err=True)


@main.command()
@_store_option
def where(store_uri: str | None) -> None:
    """Print where the store lives (database file and artifact folder).

    Example: nbtrack where
    """
    location = _location(store_uri)
    click.echo(f"database:  {location.database}")
    click.echo(f"artifacts: {location.artifacts}")


@main.command()
@_format_option
@_store_option
def experiments(output_format: str, store_uri: str | None) -> None:
    """List experiments.

    Example: nbtrack experiments
    """
    from .store import queries
    from .store.database import open_for_reading

    with open_for_reading(_location(store_uri)) as store:
        found = queries.list_experiments(store)
        counts = queries.experiment_run_counts(store)
    _emit(["experiment_id", "name", "runs"],
          [[e.experiment_id, e.name, counts[e.experiment_id].active_runs if e.experiment_id in counts else 0] for e in found], output_format)


@main.command()
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
@_store_option
def gc(dry_run: bool, store_uri: str | None) -> None:
    """Purge deleted runs and artifact blobs that no run references.

    Example: nbtrack gc --dry-run
    """
    from .store.gc import collect_garbage

    report = collect_garbage(_location(store_uri), dry_run=dry_run)
    verb = "would purge" if dry_run else "purged"
    click.echo(f"{verb} {report.runs_purged} deleted run(s) and {report.blobs_removed} blob(s), "
               f"{report.bytes_freed:,} bytes")


@main.command()
def demo() -> None:
    """Train a few scikit-learn models on its bundled digits data, track them, print the comparison.

    Example: nbtrack demo
    """
    from .demo import main as run_demo

    run_demo()


if __name__ == "__main__":
    main()

# Notebooks as jobs: `nbtrack run`, `nbtrack sweep`, `nbtrack reproduce` (nbtrack/jobs/cli.py).
from .jobs.cli import register_job_commands  # noqa: E402

register_job_commands(main)
