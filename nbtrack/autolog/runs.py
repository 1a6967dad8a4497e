"""Which run a patched ``fit`` writes to, and how autolog writes without ever breaking it.

``TrainingSession`` wraps one outer fit:

- the run active while ``fit`` runs is the run it writes to (inside ``%%track``, the
  cell's run); with no active run it opens one (tag ``mlflow.autologging``) and always
  ends it: FINISHED, FAILED on an exception, KILLED on ``KeyboardInterrupt``, never left
  active afterwards;
- ``exclusive=True`` keeps autolog out of runs the user opened;
- a fit inside another fit of the same flavor (a Pipeline's steps, GridSearchCV's
  candidates, in any thread) logs nothing.

Everything autolog does around the user's call goes through ``guarded``: a failure warns
once per flavor (unless ``silent``) and the call returns what it would have returned.

Example:
    >>> with TrainingSession("sklearn", exclusive=False, silent=True) as session:  # doctest: +SKIP
    ...     result = estimator_fit(...)
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from ..entities import RunStatus
from ..errors import warn_once
from ..validation import MAX_KEY_LENGTH, MAX_PARAM_VALUE_LENGTH, MAX_TAG_VALUE_LENGTH, check_key
from .registry import registry

AUTOLOGGING_TAG = "mlflow.autologging"  # MLflow's tag on runs its autolog opened


def report_failure(flavor: str, exc: BaseException, silent: bool | None = None) -> None:
    """Warn once per flavor that autolog could not record something; the user's code goes on."""
    if silent is None:
        options = registry().options.get(flavor)
        silent = bool(getattr(options, "silent", False))
    if silent:
        return
    warn_once(f"autolog:{flavor}",
              f"nbtrack autolog ({flavor}) could not record this fit: {type(exc).__name__}: {exc}; "
              "the fit itself was not affected (further failures are not reported)")


@contextlib.contextmanager
def guarded(flavor: str, silent: bool) -> Iterator[None]:
    """Run autolog's own code: any failure is reported once and swallowed; warnings raised by
    libraries while autolog computes metrics are hidden when ``silent``."""
    try:
        with warnings.catch_warnings():
            if silent:
                warnings.simplefilter("ignore")
            yield
    except Exception as exc:
        report_failure(flavor, exc, silent)


class TrainingSession:
    """One outer fit: the run it writes to (opened and ended here when none was active).

    ``run`` is None when this fit must not log (nested, exclusive, or autolog failed to open
    a run); the caller then just calls the original.
    """

    def __init__(self, flavor: str, *, exclusive: bool, silent: bool,
                 tags: Mapping[str, Any] | None = None) -> None:
        self.flavor = flavor
        self.tags = {**(tags or {}), AUTOLOGGING_TAG: flavor}
        self.silent = silent
        self.exclusive = exclusive
        self.run: Any = None
        self.managed: Any = None
        self._counted = False

    def __enter__(self) -> TrainingSession:
        state = registry()
        self._counted = True
        if not state.enter_training(self.flavor):
            return self  # nested: the outer fit logs
        with guarded(self.flavor, self.silent):
            from ..tracking import fluent

            active = fluent.active_run()
            if active is None:
                self.managed = fluent.start_run(tags=truncated(self.tags, MAX_TAG_VALUE_LENGTH))
                self.run = self.managed
            elif not self.exclusive:
                self.run = active
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self._counted:
            registry().exit_training(self.flavor)
        if self.managed is not None:
            with guarded(self.flavor, self.silent):
                from ..tracking.lifecycle import error_from

                if exc is None:
                    self.managed.end(RunStatus.FINISHED)
                elif isinstance(exc, KeyboardInterrupt):
                    self.managed.end(RunStatus.KILLED, error_from(exc))
                else:
                    self.managed.end(RunStatus.FAILED, error_from(exc))

    def still_open(self) -> bool:
        return self.run is not None and is_open(self.run)


def autologged_call(flavor: str, options: Any, original: Any, target: Any, args: tuple, kwargs: dict,
                    before: Any, after: Any) -> Any:
    """The path every patched fit takes: the user's call, recorded when it is the outermost
    one and autolog is on.

    ``before(run)`` records what is known before the call and returns ``(prepared, args,
    kwargs)`` for the call (Keras adds its callback), or None when it could not (the call
    then goes as the user made it). ``after(prepared, result, run)`` records the rest, only
    while the run is still open.
    """
    if options is None:
        return original(target, *args, **kwargs)
    with TrainingSession(flavor, exclusive=options.exclusive, silent=options.silent,
                         tags=options.extra_tags) as session:
        if session.run is None:
            return original(target, *args, **kwargs)
        prepared = None
        with guarded(flavor, options.silent):
            prepared = before(session.run)
        if prepared is None:
            return original(target, *args, **kwargs)
        state, call_args, call_kwargs = prepared
        result = original(target, *call_args, **call_kwargs)
        if session.still_open():
            after(state, result, session.run)
        return result


def is_open(run: Any) -> bool:
    """Whether ``run`` (an ActiveRun) is still open in this process: nothing is written to a
    run after it ended (the trap of MLflow #7814)."""
    from ..state import STATE

    return STATE.open_runs.get(run.run_id) is run  # an ended run leaves open_runs


# --- values as MLflow's autologging client sends them --------------------------------------


def _ellipsized(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def truncated(values: Mapping[str, Any], value_limit: int) -> dict[str, str]:
    """Keys and values as text, each cut to MLflow's limits with '...' (MLflow's autolog does
    the same; nbtrack's own log_param refuses a long value instead)."""
    out: dict[str, str] = {}
    for key, value in values.items():
        name = _ellipsized(str(key), MAX_KEY_LENGTH)
        try:
            check_key(name, "param")
        except Exception:
            continue  # a name nbtrack cannot store (MLflow would refuse it too)
        out[name] = _ellipsized(value if isinstance(value, str) else _text(value), value_limit)
    return out


def _text(value: Any) -> str:
    from ..validation import _stringify

    return _stringify(value)


def log_params(params: Mapping[str, Any], flavor: str, silent: bool) -> None:
    """Log params into the active run. A key the run already holds with another value (a
    second model fitted in the same run) keeps its first value, reported once; the rest of
    the fit's record (metrics, model) is still written."""
    from ..errors import InvalidInput
    from ..tracking import fluent

    checked = truncated(params, MAX_PARAM_VALUE_LENGTH)
    try:
        fluent.log_params(checked)
    except InvalidInput:
        run = fluent.active_run()
        existing = run.data.params if run is not None else {}
        fluent.log_params({k: v for k, v in checked.items() if k not in existing})
        clashes = sorted(k for k, v in checked.items() if k in existing and existing[k] != v)
        if clashes and not silent:
            warn_once(f"autolog:{flavor}:params",
                      f"nbtrack autolog ({flavor}): params {', '.join(clashes[:5])} were logged in this "
                      "run with other values and keep their first ones; fit each model in its own "
                      "run (nbtrack.start_run(nested=True)) to record both")


def set_tags(tags: Mapping[str, Any]) -> None:
    from ..tracking import fluent

    fluent.set_tags(truncated(tags, MAX_TAG_VALUE_LENGTH))


def log_metrics_to(run: Any, metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Log numeric ``metrics`` into ``run`` (an open ActiveRun); values that are not numbers
    are skipped, as MLflow's autolog does."""
    import numbers

    from ..tracking import fluent

    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Number):
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
        fluent.log_metric(_ellipsized(str(key), MAX_KEY_LENGTH), value, step=step, run_id=run.run_id)


def log_bytes_to(run: Any, data: bytes, artifact_file: str, time_ms: int | None = None) -> None:
    """Store ``data`` as ``artifact_file`` in ``run``, which need not be the active run;
    ``time_ms`` is when it counts as logged (default now: deferred work passes the time the
    work was asked for, so nothing appears logged after the run's end)."""
    from ..store import artifacts as blobs
    from ..store.commands import ArtifactEntry, RecordArtifacts
    from ..store.database import now_ms

    destination = blobs.normalize_artifact_path(None, artifact_file)
    digest, size = run.store.put_bytes(data)
    run.submit(RecordArtifacts(run.pk, (ArtifactEntry(destination, digest, size),),
                               now_ms() if time_ms is None else time_ms))


def log_training_data(data: Any, context: str) -> None:
    """Fingerprint ``data`` as an input of the active run when it is a kind nbtrack fingerprints
    (DataFrame, Series, ndarray, list); other kinds (sparse matrices, generators, tensors)
    are skipped without a word, as MLflow skips unrecognised dataset types."""
    kind = type(data).__module__.split(".")[0]
    if kind not in ("pandas", "numpy") and not isinstance(data, (list, tuple)):
        return
    from ..tracking.inputs import log_input

    log_input(data, name="dataset", context=context)
