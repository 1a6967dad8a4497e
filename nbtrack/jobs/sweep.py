"""``nbtrack.sweep`` / ``nbtrack sweep``: many executions of one notebook, as one run with children.

The sweep is a run (source ``sweep``) whose children are its executions. Every
planned execution is created up front as a ``SCHEDULED`` child (grid and random;
bayes proposes one at a time through Optuna), then runs wherever the executor puts
it: in this process (one worker), a local process pool (``workers=N``), or any
``concurrent.futures.Executor`` (Dask: ``client.get_executor(pure=False)``). Each
execution records into a store of its own and sends its runs back; the driver
merges them into the user's store (``store.transfer``), filling the placeholder.

Ctrl-C stops the sweep: executions that were running end KILLED, finished ones
are kept, the rest stay SCHEDULED ("not started"), and ``sweep(resume=ID)`` /
``nbtrack sweep --resume ID`` runs what is left. An executor that dies loses only
the executions it was running (KILLED, named in one line); resume runs them again.

Example:
    >>> result = sweep("notebooks/03-parameterized.ipynb", parameters={"alpha": [0.1, 1, 10]})  # doctest: +SKIP
    >>> result.best().parameters  # doctest: +SKIP
    {'alpha': 1}
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from pathlib import Path
from typing import Any

from ..entities import RunError, RunStatus
from ..errors import InvalidInput
from ..store import commands
from ..store.database import now_ms, process_identity
from ..store.transfer import ImportRun, RunRecord, import_bundle
from ..store.writer import new_run_command
from .config import (
    SweepConfig,
    example_values,
    optuna_distribution,
    optuna_suggest,
    parse_config,
    plan_trials,
    sweep_config,
)
from .execute import JOB_SOURCE, kernel_name_for, run_name_for
from .executors import InlineExecutor, process_pool, stop_executor
from .outcomes import SweepInterrupted, SweepResult, TrialOutcome
from .parameters import check_parameters, notebook_parameters
from .view import SWEEP_SOURCE, SweepView, sweep_view  # noqa: F401  (re-exported)
from .worker import TrialInterrupted, TrialResult, TrialSpec, execute_trial

TRIAL_TAG = "nbtrack.sweep.trial"
SWEEP_TAG = "nbtrack.sweep_id"


def sweep(
    notebook: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    parameters: Mapping[str, Any] | None = None,
    workers: int = 1,
    executor: Executor | None = None,
    experiment: str | None = None,
    kernel_name: str | None = None,
    timeout: float | None = None,
    start_timeout: float = 60,
    progress: bool = True,
    resume: str | None = None,
) -> SweepResult:
    """Run ``notebook`` once per trial of ``config`` (a W&B/trackio sweep dict or YAML file), or
    of the grid ``parameters`` gives (``{"alpha": [0.1, 1, 10]}``); ``resume=SWEEP_RUN_ID``
    runs what an interrupted sweep left.

    Example:
        >>> nbtrack.sweep("train.ipynb", "sweep.yaml", workers=2)  # doctest: +SKIP
        <SweepResult 1c9e04aa: 16 FINISHED; best score=0.97 (5d1f3a20)>
    """
    from ..tracking import fluent

    if workers < 1:
        raise InvalidInput(f"workers must be at least 1; got {workers}")
    if executor is not None and hasattr(executor, "get_executor"):  # a dask Client: never merge trials
        executor = executor.get_executor(pure=False)
    handle = fluent.store_handle()
    if resume is not None:
        driver = _Driver.resume(handle, resume)
    else:
        if notebook is None:
            raise InvalidInput("sweep needs a notebook path (or resume=SWEEP_RUN_ID)")
        driver = _Driver.start(handle, Path(notebook), sweep_config(config, parameters),
                               experiment or fluent.current_experiment_name(), kernel_name, timeout)
    driver.start_timeout = start_timeout
    return driver.run(executor, workers, progress)


class _Driver:
    def __init__(self, handle: Any, notebook: Path, config: SweepConfig, experiment: str,
                 kernel_name: str | None, timeout: float | None, sweep_run_id: str) -> None:
        self.handle, self.notebook, self.config = handle, notebook, config
        self.experiment, self.kernel_name, self.timeout = experiment, kernel_name, timeout
        self.sweep_run_id = sweep_run_id
        self.notebook_text = notebook.read_text()
        self.outcomes: list[TrialOutcome] = []
        self.lost = 0
        self.killed = 0
        self.todo: list[tuple[int, dict[str, Any], str | None]] = []  # (trial, params, placeholder)
        self.study: Any = None
        self.asked = 0  # bayes: proposals made by this driver
        self.next_index = 0  # bayes: the trial number the next proposal gets
        self.start_timeout: float = 60
        self.spent_before = 0  # bayes: executions that ended before this driver (resume)

    # --- starting and resuming ------------------------------------------------------------

    @classmethod
    def start(cls, handle: Any, notebook: Path, config: SweepConfig, experiment: str,
              kernel_name: str | None, timeout: float | None) -> _Driver:
        from ..tracking import fluent
        from .kernel import check_kernel

        notebook = notebook.expanduser().absolute()
        if not notebook.is_file():
            raise InvalidInput(f"no notebook at {notebook}; pass the path of an .ipynb file")
        declared = notebook_parameters(notebook)
        for name, spec in config.parameters.items():
            for value in example_values(spec):
                check_parameters(notebook, {name: value}, declared)
        check_kernel(kernel_name_for(notebook, kernel_name))
        experiment_id = fluent.experiment_id_for(experiment, handle)
        tags = {"mlflow.source.type": "JOB", "mlflow.source.name": str(notebook),
                "nbtrack.job.notebook": str(notebook), "nbtrack.sweep.method": config.method,
                "nbtrack.sweep.config": json.dumps(dict(config.raw) or {"method": config.method,
                                                   "parameters": dict(config.parameters)}, default=repr)}
        if config.metric:
            tags.update({"nbtrack.sweep.metric": config.metric, "nbtrack.sweep.goal": config.goal})
        if kernel_name:
            tags["nbtrack.sweep.kernel"] = kernel_name  # a resume uses the same kernel
        created = handle.execute(new_run_command(
            experiment_id, run_name=f"sweep {notebook.stem}", tags=tags, source=SWEEP_SOURCE,
            notebook_path=str(notebook)))
        driver = cls(handle, notebook, config, experiment, kernel_name, timeout, created.run_id)
        if config.method == "bayes":
            driver._start_study([])
        else:
            for index, params in enumerate(plan_trials(config)):
                driver.todo.append((index, params, driver._placeholder(index, params)))
        return driver

    @classmethod
    def resume(cls, handle: Any, sweep_run_id: str) -> _Driver:
        from ..store import queries
        from ..store.jobs import child_runs

        store = handle.read()
        run = queries.get_run(store, sweep_run_id)
        tags = run.data.tags
        if run.info.source != SWEEP_SOURCE or "nbtrack.sweep.config" not in tags:
            raise InvalidInput(f"run {sweep_run_id} is not a sweep; pass the id `nbtrack sweep` printed")
        config = parse_config(json.loads(tags["nbtrack.sweep.config"]))
        experiment = queries.get_experiment(store, run.info.experiment_id).name
        driver = cls(handle, Path(tags["nbtrack.job.notebook"]), config, experiment,
                     tags.get("nbtrack.sweep.kernel"), None, sweep_run_id)
        by_trial: dict[int, list[Any]] = {}
        for child in child_runs(store, sweep_run_id):
            if TRIAL_TAG in child.data.tags:
                by_trial.setdefault(int(child.data.tags[TRIAL_TAG]), []).append(child)
        finished = {RunStatus.FINISHED, RunStatus.FAILED}
        for index, runs in by_trial.items():
            for child in runs:
                if child.info.status in finished:
                    params = json.loads(child.data.tags.get("nbtrack.job.parameters", "{}"))
                    value = child.data.metrics.get(config.metric) if config.metric else None
                    driver.outcomes.append(TrialOutcome(child.info.run_id, index, params,
                                                        child.info.status.value, value))
        done = {o.trial for o in driver.outcomes}
        host, pid = process_identity()
        handle.execute(commands.ReopenRun(sweep_run_id, host, pid, now_ms()))
        if config.method == "bayes":
            driver.next_index = max(by_trial, default=-1) + 1
            # A resumed study starts from another seed, so it does not propose the first run's
            # random start-up trials again.
            driver._start_study(driver.outcomes, seed_offset=driver.next_index)
            driver.spent_before = len(driver.outcomes)
            # Proposals made but not run keep their run and are asked of the study first.
            for index, runs in sorted(by_trial.items()):
                if index not in done and runs[-1].info.status is RunStatus.SCHEDULED:
                    params = json.loads(runs[-1].data.tags.get("nbtrack.job.parameters", "{}"))
                    driver.todo.append((index, params, runs[-1].info.run_id))
            return driver
        for index, params in enumerate(plan_trials(config)):
            if index in done:
                continue
            waiting = [c for c in by_trial.get(index, []) if c.info.status is RunStatus.SCHEDULED]
            driver.todo.append((index, params, waiting[0].info.run_id if waiting else
                                driver._placeholder(index, params)))
        return driver

    def _placeholder(self, index: int, params: Mapping[str, Any]) -> str:
        """A SCHEDULED child for a planned execution; the worker's run fills it."""
        host, pid = process_identity()
        run_id = uuid.uuid4().hex
        self.handle.execute(ImportRun(RunRecord(
            run_id=run_id, experiment_name=self.experiment, run_name=run_name_for(self.notebook, params),
            status=RunStatus.SCHEDULED.value, start_time=now_ms(), parent_run_id=self.sweep_run_id,
            source=JOB_SOURCE, notebook_path=str(self.notebook), host=host, pid=pid,
            params={k: v if isinstance(v, str) else str(v) for k, v in params.items()},
            tags={TRIAL_TAG: str(index), SWEEP_TAG: self.sweep_run_id,
                  "nbtrack.job.parameters": json.dumps(dict(params), default=repr)})))
        return run_id

    def _start_study(self, known: list[TrialOutcome], seed_offset: int = 0) -> None:
        try:
            import optuna
        except ImportError:
            raise InvalidInput("method bayes needs Optuna: pip install optuna "
                               "(or use method random)") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        direction = "maximize" if self.config.maximize else "minimize"
        self.study = optuna.create_study(direction=direction,
                                         sampler=optuna.samplers.TPESampler(seed=self.config.seed + seed_offset))
        self.optuna_trials: dict[str, Any] = {}
        spaces = {n: optuna_distribution(s) for n, s in self.config.parameters.items() if "value" not in s}
        for outcome in known:  # resuming: what finished already informs the next proposals
            if outcome.status == "FINISHED" and outcome.value is not None and not math.isnan(outcome.value):
                self.study.add_trial(optuna.trial.create_trial(
                    params={k: outcome.parameters[k] for k in spaces}, distributions=spaces,
                    value=outcome.value))

    def _next_bayes(self) -> tuple[int, dict[str, Any], str] | None:
        # run_cap counts a sweep's runs: those that ended before a resume are spent.
        if self.asked >= (self.config.run_cap or 0) - self.spent_before:
            return None
        self.asked += 1
        if self.todo:  # a proposal an interrupted sweep made: run it as proposed
            index, params, run_id = self.todo.pop(0)
            self.study.enqueue_trial({k: v for k, v in params.items()
                                      if "value" not in self.config.parameters.get(k, {"value": None})})
            trial = self.study.ask()
            for name, spec in self.config.parameters.items():
                optuna_suggest(trial, name, spec)
        else:
            trial = self.study.ask()
            params = {n: optuna_suggest(trial, n, s) for n, s in self.config.parameters.items()}
            index, self.next_index = self.next_index, self.next_index + 1
            run_id = self._placeholder(index, params)
        self.optuna_trials[run_id] = trial
        return index, params, run_id

    # --- running --------------------------------------------------------------------------

    def run(self, executor: Executor | None, workers: int, show_progress: bool) -> SweepResult:
        from .progress import SweepProgress

        own = executor is None
        if own:
            executor = InlineExecutor() if workers == 1 else process_pool(workers)
        total = (self.config.run_cap if self.config.method == "bayes" else len(self.todo) + len(self.outcomes))
        bar = SweepProgress(total, self.config.metric, maximize=self.config.maximize,
                            enabled=show_progress, initial=len(self.outcomes),
                            best=_best_value(self.outcomes, self.config))
        pending: dict[Future, tuple[int, dict[str, Any], str]] = {}
        # How many executions are submitted at once: one at a time in this process (so each
        # is merged as it ends), all of a planned sweep to a pool (it queues them), and for
        # bayes as many as there are workers (each proposal learns from those before it).
        # Our own pool gets no more than it runs, so what Ctrl-C finds waiting was not started.
        in_flight = 1 if isinstance(executor, InlineExecutor) else (
            workers if own or self.config.method == "bayes" else None)
        try:
            self._fill(executor, pending, in_flight)
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for future in done:
                    index, params, run_id = pending.pop(future)
                    outcome = self._collect(future, index, params, run_id)
                    bar.record(outcome.status, outcome.value)
                self._fill(executor, pending, in_flight)
        except KeyboardInterrupt:
            bar.close()
            raise self._interrupted(executor, pending, own) from None
        bar.close()
        if own:
            executor.shutdown(wait=True)
        return self._end()

    def _fill(self, executor: Executor, pending: dict, in_flight: int | None) -> None:
        while in_flight is None or len(pending) < in_flight:
            if self.study is not None:
                trial = self._next_bayes()
                if trial is None:
                    return
            elif self.todo:
                trial = self.todo.pop(0)
            else:
                return
            self._submit(executor, pending, trial)

    def _submit(self, executor: Executor, pending: dict, trial: tuple[int, dict[str, Any], str]) -> None:
        index, params, run_id = trial
        try:
            future = executor.submit(execute_trial, self._spec(index, params, run_id))
        except KeyboardInterrupt as interrupt:  # the one-worker executor runs it inside submit
            self._kill_interrupted(run_id, interrupt)
            raise
        except Exception as exc:  # a pool that broke refuses new work at submit
            self.outcomes.append(self._lose(run_id, index, params, exc))
            return
        pending[future] = trial

    def _spec(self, index: int, params: Mapping[str, Any], run_id: str) -> TrialSpec:
        return TrialSpec(str(self.notebook), self.notebook_text, dict(params), run_id, self.sweep_run_id,
                         self.experiment, {TRIAL_TAG: str(index), SWEEP_TAG: self.sweep_run_id},
                         self.kernel_name, self.timeout, start_timeout=self.start_timeout)

    def _collect(self, future: Future, index: int, params: dict[str, Any], run_id: str) -> TrialOutcome:
        error = future.exception()
        if isinstance(error, KeyboardInterrupt):  # an executor that hands the interrupt back
            self._kill_interrupted(run_id, error)
            raise KeyboardInterrupt
        if error is not None:
            outcome = self._lose(run_id, index, params, error)
        else:
            result: TrialResult = future.result()
            import_bundle(self.handle, result.bundle)
            value = result.metrics.get(self.config.metric) if self.config.metric else None
            outcome = TrialOutcome(run_id, index, params, result.status, value, result.error)
        if self.study is not None and run_id in self.optuna_trials:
            import optuna

            trial = self.optuna_trials.pop(run_id)
            if outcome.status == "FINISHED" and outcome.value is not None and not math.isnan(outcome.value):
                self.study.tell(trial, outcome.value)
            else:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        self.outcomes.append(outcome)
        return outcome

    def _lose(self, run_id: str, index: int, params: dict[str, Any], error: BaseException) -> TrialOutcome:
        """An execution the executor lost (a dead worker, a broken pool): KILLED, resumable."""
        self.lost += 1
        message = (f"the executor lost this execution ({type(error).__name__}: {error}); "
                   f"`nbtrack sweep --resume {self.sweep_run_id}` runs it again")
        self._kill(run_id, message, type(error).__name__)
        if self.study is not None and run_id in self.optuna_trials:
            import optuna

            self.study.tell(self.optuna_trials.pop(run_id), state=optuna.trial.TrialState.FAIL)
        return TrialOutcome(run_id, index, params, RunStatus.KILLED.value, None, message)

    def _kill(self, run_id: str, message: str, kind: str = "KeyboardInterrupt") -> None:
        self.killed += kind == "KeyboardInterrupt"
        self.handle.execute(commands.EndRun(run_id, RunStatus.KILLED, now_ms(), RunError(kind, message, None)))

    def _kill_interrupted(self, run_id: str, interrupt: BaseException) -> None:
        """End an interrupted execution KILLED, keeping the runs its cells finished first."""
        if isinstance(interrupt, TrialInterrupted):
            import_bundle(self.handle, interrupt.bundle)
        self._kill(run_id, f"interrupted by Ctrl-C; `nbtrack sweep --resume {self.sweep_run_id}` runs it again")

    def _interrupted(self, executor: Executor, pending: dict, own: bool) -> SweepInterrupted:
        not_started = 0
        running = {}
        for future, trial in pending.items():
            if future.cancel():
                not_started += 1
            else:
                running[future] = trial
        # Ctrl-C in a terminal reaches the workers too: each ends its kernel and sends back
        # what its cells recorded. Give them a moment before our own pool is stopped (which
        # interrupts whatever still runs: a kernel interrupt reaches only this process).
        wait(list(running), timeout=_GRACE_SECONDS)
        if own:
            stop_executor(executor)
        for future, (index, params, run_id) in running.items():
            try:
                error = future.exception(timeout=_GRACE_SECONDS if own else 0)
            except Exception:  # still running on a user's executor (a timeout), or lost
                error = KeyboardInterrupt()
            if error is None:
                self._collect(future, index, params, run_id)
            else:
                self._kill_interrupted(run_id, error)
        not_started += len(self.todo)
        self.handle.execute(commands.EndRun(self.sweep_run_id, RunStatus.KILLED, now_ms(), RunError(
            "KeyboardInterrupt", "interrupted by Ctrl-C", None)))
        kept = sum(1 for o in self.outcomes if o.status in ("FINISHED", "FAILED"))
        return SweepInterrupted(
            f"sweep {self.sweep_run_id} interrupted: {kept} finished execution(s) kept, {self.killed} killed, "
            f"{not_started} not started; `nbtrack sweep --resume {self.sweep_run_id}` runs the rest")

    def _end(self) -> SweepResult:
        result = SweepResult(self.sweep_run_id, self.config.metric, self.config.maximize,
                             tuple(self.outcomes), self.lost)
        best = result.best()
        from ..store.queries import run_pk

        sweep_pk = run_pk(self.handle.read(), self.sweep_run_id)
        if best is not None and self.config.metric:
            self.handle.execute(commands.LogMetrics([(sweep_pk, self.config.metric, best.value, 0,
                                                      now_ms() / 1000)]))
            self.handle.execute(commands.SetTags(sweep_pk, {"nbtrack.sweep.best_run_id": best.run_id}))
        error = None
        if self.lost:
            error = RunError("ExecutorLost", f"{self.lost} execution(s) lost when the executor failed; "
                             f"`nbtrack sweep --resume {self.sweep_run_id}` runs them again", None)
        status = RunStatus.FAILED if self.lost else RunStatus.FINISHED
        self.handle.execute(commands.EndRun(self.sweep_run_id, status, now_ms(), error))
        return result


_GRACE_SECONDS = 5.0


def _best_value(outcomes: list[TrialOutcome], config: SweepConfig) -> float | None:
    best = None
    for o in outcomes:
        if o.status == "FINISHED" and config.better(o.value, best):
            best = o.value
    return best
