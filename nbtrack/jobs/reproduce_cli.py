"""``nbtrack reproduce RUN``: the command over ``nbtrack.jobs.reproduce``."""

from __future__ import annotations

import sys

import click


@click.command("reproduce")
@click.argument("run_id")
@click.option("--tolerance", type=float, default=1e-9, show_default=True,
              help="Relative and absolute tolerance for metrics that are not exactly equal.")
@click.option("--force", is_flag=True, help="Run even when a recorded input changed.")
@click.option("--timeout", type=float, default=None, help="Seconds a cell may run (default: no limit).")
@click.option("--store", "store_uri", envvar="NBTRACK_HOME", default=None,
              help="Store directory or sqlite:///path.db (default: $NBTRACK_HOME, else ./.nbtrack).")
def reproduce_command(run_id: str, tolerance: float, force: bool, timeout: float | None,
                      store_uri: str | None) -> None:
    """Rebuild the kernel state RUN_ID ran in, run it again in a fresh kernel, compare its metrics.

    Exits 1 unless the metrics and params match (exactly or within --tolerance).

    Example: nbtrack reproduce 5d1f3a20c4e14f6b9a7e2d8c1b0a9f3e --tolerance 1e-6
    """
    from .reproduce import reproduce

    if store_uri:
        from ..paths import set_tracking_uri

        set_tracking_uri(store_uri)
    result = reproduce(run_id, tolerance=tolerance, force=force, timeout=timeout)
    for note in result.environment:
        click.echo(f"environment: {note}")
    for note in result.inputs:
        click.echo(f"input: {note}")
    if result.metrics or result.params:
        click.echo(result.table())
    click.echo(f"verdict: {result.verdict}" + (f" (run {result.run_id})" if result.run_id else ""))
    if result.error:
        click.echo(f"error: {result.error}", err=True)
    if result.verdict not in ("exact", "reproduced within tolerance"):
        sys.exit(1)
