"""``nbtrack.reproduce`` / ``nbtrack reproduce``: make a recorded result again, and say how close.

For a ``%%track`` cell run, the kernel state the cell ran in is rebuilt in a fresh
kernel from the run's kernel-history snapshot (every cell the kernel executed, in
execution order, up to that cell: hidden state is why notebook runs do not
reproduce), then the cell runs. Before it runs, the environment is compared
(Python and the recorded package versions against this machine's) and so are the
recorded fingerprints of the cell's input data, taken again in the rebuilt kernel:
a changed input is named and stops the reproduction unless ``force=True``.

For an execution of ``nbtrack run``, the notebook runs again with the same parameters.

Afterwards every metric is compared (exact, and within ``tolerance``) and so are
params, and the reproduction is recorded as a new run tagged
``nbtrack.reproduces=<original>`` and ``nbtrack.reproduce.verdict``.

The kernel records into a scratch store, so replayed ``%%track`` cells before the
target add nothing to the user's store; only the reproduced run is merged in.

Example:
    >>> result = nbtrack.reproduce("5d1f3a20...")  # doctest: +SKIP
    >>> print(result.table())  # doctest: +SKIP
    metric  original  reproduced  difference  verdict
    ------  --------  ----------  ----------  -------
    score   0.78      0.78        0           exact
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ..entities import Run, RunStatus
from ..errors import InvalidInput
from ..store import commands

REPRODUCES_TAG = "nbtrack.reproduces"
VERDICT_TAG = "nbtrack.reproduce.verdict"
_PROBE_MARK = "NBTRACK-INPUTS "


class InputChanged(InvalidInput):
    """A recorded input of the run differs now; the message names it."""


class MetricComparison(NamedTuple):
    metric: str
    original: float | None
    reproduced: float | None
    difference: float | None
    verdict: str  # exact | within tolerance | differs | history differs | missing | new


@dataclass(frozen=True)
class Reproduction:
    """What ``reproduce`` found: the new run, the comparison, and the verdict."""

    original_run_id: str
    run_id: str | None
    verdict: str  # exact | reproduced within tolerance | not reproduced | failed
    metrics: tuple[MetricComparison, ...] = ()
    params: tuple[tuple[str, str | None, str | None], ...] = ()  # differing params only
    environment: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    error: str | None = None
    tolerance: float = 1e-9

    def table(self) -> str:
        from ..tables import text_table

        rows = [[m.metric, _num(m.original), _num(m.reproduced), _num(m.difference), m.verdict]
                for m in self.metrics]
        rows += [[f"params.{k}", a or "", b or "", "", "differs"] for k, a, b in self.params]
        return text_table(["metric", "original", "reproduced", "difference", "verdict"], rows)

    def __repr__(self) -> str:
        new = self.run_id[:8] if self.run_id else "-"
        return f"<Reproduction of {self.original_run_id[:8]} as {new}: {self.verdict}>"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.10g}"


def reproduce(run_id: str, *, tolerance: float = 1e-9, force: bool = False,
              timeout: float | None = None, location: Any = None) -> Reproduction:
    """Rebuild the state ``run_id`` ran in, run it again in a fresh kernel, compare, record.

    ``location`` is the store (a ``StoreLocation``); by default the current tracking store.

    Example:
        >>> nbtrack.reproduce(run.info.run_id, tolerance=1e-6).verdict  # doctest: +SKIP
        'exact'
    """
    from ..store import queries
    from ..tracking import fluent

    handle = fluent.store_handle(location)
    original = queries.get_run(handle.read(), run_id)
    if original.info.source == "notebook-job":
        return _reproduce_job(handle, original, tolerance, timeout)
    return _reproduce_cell(handle, original, tolerance, force, timeout)


# --- an execution of nbtrack run ------------------------------------------------------------


def _reproduce_job(handle: Any, original: Run, tolerance: float, timeout: float | None) -> Reproduction:
    from .execute import run_notebook

    tags = original.data.tags
    notebook = tags.get("nbtrack.job.notebook")
    if not notebook or not Path(notebook).is_file():
        raise InvalidInput(f"the notebook of run {original.info.run_id} is gone ({notebook}); "
                           "restore it to reproduce the execution")
    parameters = json.loads(tags.get("nbtrack.job.parameters", "{}"))
    from ..store import queries

    # The reproduction sits beside the original, in its experiment.
    experiment = next((e.name for e in queries.list_experiments(handle.read())
                       if e.experiment_id == original.info.experiment_id), None)
    result = run_notebook(notebook, parameters, kernel_name=tags.get("nbtrack.job.kernel"), timeout=timeout,
                          location=handle.location, experiment=experiment,
                          run_name=f"reproduce {original.info.run_name}"[:250],
                          tags={REPRODUCES_TAG: original.info.run_id})
    new = queries.get_run(handle.read(), result.run_id)
    return _record(handle, original, new, tolerance, (), (), result.error)


# --- a %%track cell run -----------------------------------------------------------------------


def _reproduce_cell(handle: Any, original: Run, tolerance: float, force: bool,
                    timeout: float | None) -> Reproduction:
    import nbformat

    from ..paths import resolve_location
    from ..state import STATE
    from ..store import queries
    from ..store.artifacts import blob_path
    from ..store.transfer import export_bundle, import_bundle
    from .execute import location_uri
    from .kernel import job_kernel_manager, shutdown

    store = handle.read()
    snapshots = [e for e in queries.artifact_entries(store, original.info.run_id, "notebook")
                 if e.path.endswith(".history.ipynb")]
    if not snapshots:
        raise InvalidInput(f"run {original.info.run_id} has no kernel-history snapshot (it was recorded "
                           "without one, e.g. --no-snapshot), so its kernel state cannot be rebuilt")
    history = nbformat.reads(blob_path(store, snapshots[0].digest).read_text(), as_version=4)
    environment = environment_differences(original, store)
    *prefix, target = history.cells
    scratch = tempfile.mkdtemp(prefix="nbtrack-reproduce-")
    location = resolve_location(os.path.join(scratch, "store"))
    notebook = original.info.notebook_path
    cwd = str(Path(notebook).parent) if notebook and Path(notebook).parent.is_dir() else scratch
    env = {"NBTRACK_HOME": location_uri(location), "NBTRACK_PARENT_RUN_ID": "",
           **({"JPY_SESSION_NAME": notebook} if notebook else {})}
    km = job_kernel_manager("python3", env, os.path.join(scratch, "kernel"))
    error: str | None = None
    changed: tuple[str, ...] = ()
    scratch_handle = None
    try:
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError

        nb = nbformat.v4.new_notebook(cells=[*prefix, target], metadata=history.metadata)
        client = NotebookClient(nb, km=km, timeout=timeout, allow_errors=False,
                                resources={"metadata": {"path": cwd}})
        with client.setup_kernel():
            step = "the cell"
            try:
                for index, cell in enumerate(prefix):
                    step = f"replaying In [{cell.get('execution_count') or index + 1}]"
                    client.execute_cell(cell, index)
                step = "the cell"
                changed = _changed_inputs(client, original, len(prefix))
                if changed and not force:
                    raise InputChanged("; ".join(changed) + ": the data differs from what the run read; "
                                       "pass --force to reproduce anyway")
                client.execute_cell(target, len(prefix))
            except CellExecutionError as exc:
                lines = str(exc).strip().splitlines()
                error = f"{step} failed: {lines[-1][:500] if lines else type(exc).__name__}"
            finally:
                shutdown(km)
        scratch_handle = fluent_handle(location)
        new_run_id = _reproduced_run(scratch_handle, original)
        new = None
        if new_run_id is not None:
            bundle = export_bundle(scratch_handle, [new_run_id])
            import_bundle(handle, bundle, tags={REPRODUCES_TAG: original.info.run_id})
            new = queries.get_run(handle.read(), new_run_id)
        return _record(handle, original, new, tolerance, environment, changed, error)
    finally:
        if scratch_handle is not None:
            scratch_handle.close()
            STATE.stores.pop(location.database, None)
        shutil.rmtree(scratch, ignore_errors=True)


def fluent_handle(location: Any) -> Any:
    from ..tracking import fluent

    return fluent.store_handle(location)


def _changed_inputs(client: Any, original: Run, index: int) -> tuple[str, ...]:
    """The recorded inputs whose fingerprint differs in the rebuilt kernel (or on disk)."""
    inputs = original.inputs.dataset_inputs
    if not inputs:
        return ()
    import nbformat

    names = [d.name for d in inputs if d.name.isidentifier()]
    probe = nbformat.v4.new_code_cell(
        "import json as _nbt_json\n"
        "from nbtrack.capture.inputs import FingerprintCache as _NbtCache, is_data as _nbt_is_data\n"
        f"_nbt_found = {{n: (_NbtCache().describe(globals()[n], n).digest if n in globals() and "
        f"_nbt_is_data(globals()[n]) else None) for n in {names!r}}}\n"
        f"print({_PROBE_MARK!r} + _nbt_json.dumps(_nbt_found))\n"
        "del _nbt_json, _NbtCache, _nbt_is_data, _nbt_found")
    client.execute_cell(probe, index)
    text = "".join(o.get("text", "") for o in probe.outputs if o.get("output_type") == "stream")
    found: dict[str, str | None] = {}
    for line in text.splitlines():
        if line.startswith(_PROBE_MARK):
            found = json.loads(line[len(_PROBE_MARK):])
    changed = []
    for dataset in inputs:
        now = found.get(dataset.name)
        if now is None and dataset.source_type == "file" and Path(dataset.source).is_file():
            from ..tracking.inputs import fingerprint

            now = fingerprint(Path(dataset.source)).digest
        if now is None:
            continue  # not in the kernel and not a file here: nothing to compare
        if now != dataset.digest:
            changed.append(f"input {dataset.name!r} changed (recorded {dataset.digest[:12]}, now {now[:12]})")
    return tuple(changed)


def _reproduced_run(scratch_handle: Any, original: Run) -> str | None:
    """The run the target cell recorded in the scratch store: its newest top-level run."""
    from ..store import queries

    if not scratch_handle.exists:
        return None
    runs = [r for r in queries.search_runs(scratch_handle.read()) if r.info.parent_run_id is None]
    same = [r for r in runs if r.info.code == original.info.code]  # never a replayed cell's run
    return same[0].info.run_id if same else None


def environment_differences(original: Run, store: Any) -> tuple[str, ...]:
    """Python and package versions recorded with the run that differ from this machine's."""
    from ..store import queries
    from ..store.artifacts import blob_path

    notes = []
    recorded_python = original.data.tags.get("nbtrack.python_version")
    if recorded_python and recorded_python != platform.python_version():
        notes.append(f"Python {recorded_python} then, {platform.python_version()} now")
    for entry in queries.artifact_entries(store, original.info.run_id, "environment"):
        if not entry.path.endswith("requirements.txt"):
            continue
        for line in blob_path(store, entry.digest).read_text().splitlines():
            name, sep, version = line.partition("==")
            if not sep:
                continue
            try:
                now = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                notes.append(f"{name} {version} then, not installed now")
                continue
            if now != version:
                notes.append(f"{name} {version} then, {now} now")
    return tuple(notes)


# --- comparing and recording ------------------------------------------------------------------


def compare_metrics(original: Mapping[str, float], reproduced: Mapping[str, float], tolerance: float,
                    histories: Mapping[str, tuple[list[tuple[int, float]], list[tuple[int, float]]]]
                    | None = None) -> tuple[MetricComparison, ...]:
    """Every metric of either run: exact, within ``tolerance`` (relative or absolute), or not.

    With ``histories`` (key -> the two runs' ``(step, value)`` points), a metric is as good
    as its worst point: a curve that differs before its last step is ``history differs``.
    """
    rows = []
    for key in sorted(set(original) | set(reproduced)):
        a, b = original.get(key), reproduced.get(key)
        if a is None or b is None:
            rows.append(MetricComparison(key, a, b, None, "missing" if b is None else "new"))
            continue
        both_nan = math.isnan(a) and math.isnan(b)
        difference = None if both_nan else b - a
        verdict = _verdict(a, b, tolerance)
        if verdict != "differs" and histories and key in histories:
            before, after = histories[key]
            if [step for step, _ in before] != [step for step, _ in after]:
                verdict = "history differs"
            else:
                worst = {_verdict(x, y, tolerance) for (_, x), (_, y) in zip(before, after)}
                if "differs" in worst:
                    verdict = "history differs"
                elif "within tolerance" in worst:
                    verdict = "within tolerance"
        rows.append(MetricComparison(key, a, b, difference, verdict))
    return tuple(rows)


def _verdict(a: float, b: float, tolerance: float) -> str:
    if a == b or (math.isnan(a) and math.isnan(b)):
        return "exact"
    if math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance):
        return "within tolerance"
    return "differs"


def _histories(store: Any, original: Run, new: Run) -> dict[str, tuple[list[tuple[int, float]], ...]]:
    from ..store import queries

    found = {}
    for key in set(original.data.metrics) & set(new.data.metrics):
        found[key] = tuple([(m.step, m.value) for m in queries.metric_history(store, run.info.run_id, key)]
                           for run in (original, new))
    return found


def _record(handle: Any, original: Run, new: Run | None, tolerance: float, environment: tuple[str, ...],
            inputs: tuple[str, ...], error: str | None) -> Reproduction:
    if new is None:
        return Reproduction(original.info.run_id, None, "failed", (), (), environment, inputs,
                            error or "the cell recorded no run", tolerance)
    metrics = compare_metrics(original.data.metrics, new.data.metrics, tolerance,
                              _histories(handle.read(), original, new))
    params = tuple((k, original.data.params.get(k), new.data.params.get(k))
                   for k in sorted(set(original.data.params) | set(new.data.params))
                   if original.data.params.get(k) != new.data.params.get(k))
    verdicts = {m.verdict for m in metrics}
    if error or new.info.status is not RunStatus.FINISHED:
        verdict = "failed"
    elif params or verdicts & {"differs", "history differs", "missing", "new"}:
        verdict = "not reproduced"
    elif "within tolerance" in verdicts:
        verdict = "reproduced within tolerance"
    else:
        verdict = "exact"
    from ..store import queries

    pk = queries.run_pk(handle.read(), new.info.run_id)
    handle.execute(commands.SetTags(pk, {REPRODUCES_TAG: original.info.run_id, VERDICT_TAG: verdict,
                                         "nbtrack.reproduce.tolerance": repr(tolerance)}))
    return Reproduction(original.info.run_id, new.info.run_id, verdict, metrics, params, environment,
                        inputs, error, tolerance)
