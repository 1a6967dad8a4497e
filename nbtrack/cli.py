"""The ``nbtrack`` command: list, show and query runs in the local store.

Every command reads the store in force (``--store``, else ``NBTRACK_HOME``, else
``.nbtrack/`` here). Run ``nbtrack COMMAND --help`` for each command's options.

Whatever a run holds reaches a terminal with its control characters shown,
never obeyed (:func:`visible`): a run name may carry an escape sequence that
would write the clipboard (OSC 52) or rewrite the screen. ``--format json``
is exact (JSON escapes them itself).
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from .errors import NbtrackError

FORMATS = ("table", "csv", "json")
MAX_RUNS = 100_000
MAX_SQL_ROWS = 1_000_000  # as nbtrack.store.readonly.MAX_ROW_CAP (not imported: keep --help cheap)
MAX_SQL_SECONDS = 300.0  # as nbtrack.store.readonly.MAX_TIME_LIMIT

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides that
# reorder what a reader sees ("Trojan Source"). ESC is C0, so every escape sequence is caught.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_IN_CELL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str, *, cell: bool = False) -> str:
    r"""``text`` with control characters shown as ``\xNN`` / ``\uNNNN`` instead of obeyed.

    Tab and newline are kept (a table shows a newline as a space; CSV quotes it),
    except with ``cell=True``, where they are shown too so a value stays on one line.

    Example:
        >>> print(visible("evil\x1b]52;c;aGk=\x07name"))
        evil\x1b]52;c;aGk=\x07name
    """
    pattern = _CONTROL_IN_CELL if cell else _CONTROL
    return pattern.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _visible_value(value: Any) -> Any:
    return visible(value) if isinstance(value, str) else value


class _RangeError(click.ClickException):
    """A bad option value: one line (click would add a usage block to a UsageError), exit code 2."""

    exit_code = 2


def _whole_number(name: str, low: int, high: int) -> Callable[[click.Context, click.Parameter, Any], int]:
    def check(ctx: click.Context, param: click.Parameter, value: Any) -> int:
        if value is None or not low <= value <= high:
            raise _RangeError(f"{name} must be a whole number from {low:,} to {high:,}; got {value}")
        return value

    return check


def _seconds(ctx: click.Context, param: click.Parameter, value: float) -> float:
    # FloatRange would let NaN through (every comparison with NaN is false).
    if not math.isfinite(value) or not 0 < value <= MAX_SQL_SECONDS:
        raise _RangeError(f"--timeout must be a number of seconds above 0 and at most "
                          f"{MAX_SQL_SECONDS:g}; got {value}")
    return value


def _store_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--store", "store_uri", envvar="NBTRACK_HOME", default=None,
        help="Store directory or sqlite:///path.db (default: $NBTRACK_HOME, else ./.nbtrack).",
    )(func)


def _format_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--format", "output_format", type=click.Choice(FORMATS), default="table",
                        show_default=True, help="Output format.")(func)


def _location(store_uri: str | None):
    """The store in force, refused up front if a file of it is a FIFO or device (SQLite would hang)."""
    from .paths import current_location, resolve_location
    from .store.files import ensure_regular_files

    location = resolve_location(store_uri) if store_uri else current_location()
    ensure_regular_files(location, missing_ok=True)
    return location


def _emit(columns: Sequence[str], rows: Sequence[Sequence[Any]], output_format: str) -> None:
    if output_format == "json":
        click.echo(json.dumps([dict(zip(columns, row)) for row in rows], default=str, indent=2))
        return
    columns = [visible(str(c)) for c in columns]
    rows = [[_visible_value(v) for v in row] for row in rows]
    if output_format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        from .tables import text_table

        click.echo(text_table(columns, rows))


class _Group(click.Group):
    """Turns nbtrack's own errors into one line and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        import sqlite3

        try:
            return super().invoke(ctx)
        except NbtrackError as exc:
            raise click.ClickException(visible(" ".join(str(exc).split()))) from None
        except UnicodeEncodeError as exc:  # argv bytes that are not UTF-8 arrive as lone surrogates
            bad = visible(repr(exc.object[exc.start:exc.end]))
            raise click.ClickException(
                f"an argument holds bytes that are not UTF-8 text ({bad}); retype it or fix the "
                "terminal's encoding"
            ) from None
        except sqlite3.DatabaseError as exc:  # a store damaged under us: one line, and the way out
            raise click.ClickException(
                f"SQLite cannot read the store: {visible(str(exc))}; run `nbtrack doctor`"
            ) from None


@click.group(cls=_Group)
@click.version_option(package_name="nbtrack")
def main() -> None:
    """nbtrack: experiment tracking that lives in the notebook."""


@main.command()
@click.argument("filter_string", required=False, default=None)
@click.option("--experiment", "-e", default=None, help="Only runs of this experiment (name).")
@click.option("--order-by", "-o", multiple=True, help="e.g. 'metrics.accuracy DESC' (repeatable).")
@click.option("--limit", "-n", type=int, default=50, show_default=True,
              callback=_whole_number("--limit/-n", 1, MAX_RUNS), help=f"At most this many runs (1 to {MAX_RUNS:,}).")
@_format_option
@_store_option
def runs(filter_string: str | None, experiment: str | None, order_by: tuple[str, ...], limit: int,
         output_format: str, store_uri: str | None) -> None:
    """List runs, newest first, optionally filtered.

    A filter holds at most 10,000 characters, 100 nested parentheses and 500
    comparisons; keys may hold dots and digits (metrics.layer.0.loss). Control
    characters in what runs hold are shown escaped (ESC as \\x1b), except in --format json.

    Example: nbtrack runs "metrics.accuracy > 0.8 and params.alpha = '1'" --format csv
    """
    from .store import queries
    from .store.database import open_for_reading

    with open_for_reading(_location(store_uri)) as store:
        ids = queries.experiment_ids(store, [experiment]) if experiment else None
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
    from .render.json_values import jsonable
    from .render.run_json import run_detail
    from .store import queries
    from .store.database import open_for_reading
    from .tables import run_detail_text

    with open_for_reading(_location(store_uri)) as store:
        run = queries.get_run(store, _resolve_run_id(store, run_id))
        artifacts = queries.artifact_entries(store, run.info.run_id)
        names = {e.experiment_id: e.name for e in queries.list_experiments(store)}
    if output_format == "json":  # the server's shape: one converter of a run into JSON
        click.echo(json.dumps(jsonable(run_detail(run, names, artifacts)), indent=2, allow_nan=False))
    else:
        click.echo(visible(run_detail_text(run, artifacts)))


def _resolve_run_id(store: Any, prefix: str) -> str:
    from .store import queries

    found = queries.run_ids_starting_with(store, prefix)
    if not found:
        raise click.ClickException(f"no run id starts with {visible(repr(prefix))}; see `nbtrack runs`")
    if len(found) > 1:
        raise click.ClickException(f"{visible(repr(prefix))} matches several runs; give more characters")
    return found[0]


@main.command()
@click.argument("query")
@click.option("--limit", type=int, default=1000, show_default=True,
              callback=_whole_number("--limit", 1, MAX_SQL_ROWS), help=f"Row cap (1 to {MAX_SQL_ROWS:,}).")
@click.option("--timeout", type=float, default=5.0, show_default=True, callback=_seconds,
              help=f"Seconds before the query is stopped (above 0, at most {MAX_SQL_SECONDS:g}).")
@_format_option
@_store_option
def sql(query: str, limit: int, timeout: float, output_format: str, store_uri: str | None) -> None:
    """Run a read-only SQL query against the store (schema: docs/schema.md).

    Only reads, and only SQLite's ordinary scalar, aggregate, window, date, math and
    JSON functions (load_extension, fts3_tokenizer and anything unknown are refused).

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
    click.echo(f"database:  {visible(str(location.database))}")
    click.echo(f"artifacts: {visible(str(location.artifacts))}")


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
@click.option("--recover", "recover_dir", default=None, metavar="NEW_DIR",
              help="Copy what is readable into a new store in NEW_DIR (the damaged file is not touched).")
@_store_option
def doctor(recover_dir: str | None, store_uri: str | None) -> None:
    """Check the store's integrity (one line per finding); --recover copies what is readable.

    Exit code 0 when the store is intact, 1 when something is wrong.

    Example: nbtrack doctor --recover ./rescued
    """
    from .store.doctor import check, recover

    location = _location(store_uri)
    findings = check(location)
    for finding in findings:
        click.echo(f"{visible(str(location.database))}: {visible(finding, cell=True)}")
    if not findings:
        click.echo(f"{visible(str(location.database))}: ok")
    if recover_dir is not None:
        report = recover(location, recover_dir)
        copied = ", ".join(f"{table} {count:,}" for table, count in sorted(report.rows.items()))
        click.echo(f"recovered into {visible(str(report.database))} ({report.method}): {copied}")
        for note in report.notes:
            click.echo(visible(note, cell=True))
    if findings:
        sys.exit(1)


@main.command()
def demo() -> None:
    """Train a few scikit-learn models on its bundled digits data, track them, print the comparison.

    Example: nbtrack demo
    """
    from .demo import main as run_demo

    run_demo()


main.add_command(__import__("nbtrack.models.cli", fromlist=["models"]).models)  # nbtrack models ...

if __name__ == "__main__":
    main()

# Notebooks as jobs: `nbtrack run`, `nbtrack sweep`, `nbtrack reproduce` (nbtrack/jobs/cli.py).
from .jobs.cli import register_job_commands  # noqa: E402

register_job_commands(main)

# Moving runs to and from an MLflow tracking store: `nbtrack push`, `nbtrack pull` (nbtrack/interop/cli.py).
from .interop.cli import register_interop_commands  # noqa: E402

register_interop_commands(main)
