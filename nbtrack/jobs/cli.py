"""``nbtrack run``, ``nbtrack sweep`` and ``nbtrack reproduce``: notebooks as jobs.

Registered on the ``nbtrack`` group by ``register_job_commands``; papermill,
Optuna and Dask are imported only when a command runs.
"""

from __future__ import annotations

import sys
from typing import Any

import click


def _store(func: Any) -> Any:
    return click.option(
        "--store", "store_uri", envvar="NBTRACK_HOME", default=None,
        help="Store directory or sqlite:///path.db (default: $NBTRACK_HOME, else ./.nbtrack).",
    )(func)


def _use_store(store_uri: str | None) -> None:
    if store_uri:
        from ..paths import set_tracking_uri

        set_tracking_uri(store_uri)


def _assignments(texts: tuple[str, ...], *, grid: bool) -> dict[str, Any]:
    from .parameters import parse_assignment

    values: dict[str, Any] = {}
    for text in texts:
        name, value = parse_assignment(text, grid=grid)
        values[name] = value
    return values


@click.command("run")
@click.argument("notebook", type=click.Path(dir_okay=False))
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A parameter (repeatable); values parse as papermill's -p does.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Also write the executed notebook here (it is always stored with the run).")
@click.option("-e", "--experiment", default=None, help="Experiment of the run (created if new).")
@click.option("--name", "run_name", default=None, help="Run name (default: notebook and parameters).")
@click.option("--kernel", default=None, help="Kernel name (default: the notebook's kernelspec).")
@click.option("--timeout", type=float, default=None, help="Seconds a cell may run (default: no limit).")
@click.option("--start-timeout", type=int, default=60, show_default=True,
              help="Seconds the kernel may take to start (a start that fails is retried once).")
@_store
def run_command(notebook: str, params: tuple[str, ...], output: str | None, experiment: str | None,
                run_name: str | None, kernel: str | None, timeout: float | None, start_timeout: float,
                store_uri: str | None) -> None:
    """Execute NOTEBOOK with parameters (papermill's convention) as one run.

    Each %%track cell in it records a child run. Exits 1 when a cell fails.

    Example: nbtrack run notebooks/03-parameterized.ipynb -p alpha=0.5 -p max_features=3000 -o out.ipynb
    """
    from .execute import run_notebook

    _use_store(store_uri)
    result = run_notebook(notebook, _assignments(params, grid=False), output, kernel_name=kernel,
                          experiment=experiment, run_name=run_name, timeout=timeout,
                          start_timeout=start_timeout)
    metrics = ", ".join(f"{k}={v:.6g}" for k, v in sorted(result.metrics.items()))
    click.echo(f"run {result.run_id} {result.status.value} in {result.duration_s:.1f} s"
               + (f"; metrics: {metrics}" if metrics else ""))
    if result.output_path:
        click.echo(f"executed notebook: {result.output_path}")
    if result.error:
        click.echo(f"error: {result.error}", err=True)
        sys.exit(1)


@click.command("sweep")
@click.argument("notebook", type=click.Path(dir_okay=False), required=False)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Sweep config (YAML, the format W&B and trackio share).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=A,B,C",
              help="A grid axis (repeatable): -p alpha=0.1,1,10; a single value is fixed.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Executions at once, on a local process pool.")
@click.option("--dask", "dask_address", default=None, metavar="ADDRESS",
              help="Run executions on a Dask cluster (scheduler address, e.g. tcp://host:8786).")
@click.option("--resume", default=None, metavar="SWEEP_RUN_ID", help="Run what an interrupted sweep left.")
@click.option("-e", "--experiment", default=None, help="Experiment of the sweep (created if new).")
@click.option("--kernel", default=None, help="Kernel name (default: the notebook's kernelspec).")
@click.option("--timeout", type=float, default=None, help="Seconds a cell may run (default: no limit).")
@click.option("--start-timeout", type=int, default=60, show_default=True,
              help="Seconds a kernel may take to start (a start that fails is retried once).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@_store
def sweep_command(notebook: str | None, config_path: str | None, params: tuple[str, ...], workers: int,
                  dask_address: str | None, resume: str | None, experiment: str | None,
                  kernel: str | None, timeout: float | None, start_timeout: float, no_progress: bool,
                  store_uri: str | None) -> None:
    """Run NOTEBOOK once per trial of a sweep; the sweep is a run whose children are its executions.

    Ctrl-C stops it: running executions end KILLED, finished ones are kept;
    --resume SWEEP_RUN_ID runs the rest.

    Example: nbtrack sweep notebooks/03-parameterized.ipynb -p alpha=0.1,1,10 -p max_features=1000,3000 --workers 2
    """
    from .sweep import SweepInterrupted, sweep

    _use_store(store_uri)
    if resume is None and notebook is None:
        raise click.UsageError("give a NOTEBOOK (or --resume SWEEP_RUN_ID)")
    executor, client = None, None
    if dask_address:
        from distributed import Client

        client = Client(dask_address)
        executor = client.get_executor(pure=False)  # identical trials must not be merged
    try:
        result = sweep(notebook, config_path, parameters=_assignments(params, grid=True), workers=workers,
                       executor=executor, experiment=experiment, kernel_name=kernel, timeout=timeout,
                       start_timeout=start_timeout, progress=not no_progress, resume=resume)
    except SweepInterrupted as exc:
        click.echo(str(exc), err=True)
        sys.exit(130)
    finally:
        if client is not None:
            client.close()
    _print_sweep(result)
    if result.lost:
        click.echo(f"{result.lost} execution(s) lost when the executor failed; "
                   f"nbtrack sweep --resume {result.sweep_run_id} runs them again", err=True)
        sys.exit(1)


def _print_sweep(result: Any) -> None:
    from ..tables import text_table

    outcomes = list(result.outcomes)
    if result.metric:
        sign = -1 if result.maximize else 1
        outcomes.sort(key=lambda o: (o.value is None, sign * (o.value or 0)))
    names = sorted({n for o in outcomes for n in o.parameters})
    columns = ["run_id", "status", *names, *([result.metric] if result.metric else [])]
    rows = [[o.run_id[:12], o.status, *(o.parameters.get(n, "") for n in names),
             *([o.value if o.value is not None else ""] if result.metric else [])] for o in outcomes]
    click.echo(f"sweep {result.sweep_run_id}: {len(outcomes)} execution(s)")
    click.echo(text_table(columns, rows))


def register_job_commands(group: click.Group) -> None:
    """Add ``run`` and ``sweep`` (and ``reproduce`` when present) to the ``nbtrack`` group."""
    group.add_command(run_command)
    group.add_command(sweep_command)
    try:
        from .reproduce_cli import reproduce_command
    except ImportError:
        return
    group.add_command(reproduce_command)
