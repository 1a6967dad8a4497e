"""``nbtrack push``: send the local store's runs and registry to an MLflow tracking store.

One pass:

1. Pick the runs (experiment, filter), compute each run's change marker locally and
   keep those whose marker moved since their last complete push (nothing is asked of
   the server for an unchanged run, so an unchanged store of 1,000 runs is checked in
   milliseconds).
2. Check every name and value against MLflow's rules before anything is sent: a run
   MLflow would refuse stops the push with one line naming the run and the fix.
3. Per run: create it on the server with its own start time (once: the mapping is in
   ``remote_runs``, and a run created by a push that died before recording it is found
   again by its ``nbtrack.run_id`` tag), send params and tags, the metric points above
   the run's high-water mark in batches of 1,000 (the mark advances after each batch),
   input datasets, artifacts not sent yet, then status and end time.
4. The registry: models, versions (pointing at the pushed run's artifacts), tags,
   stages and aliases.

Example:
    >>> import nbtrack
    >>> nbtrack.push(to="http://127.0.0.1:5000")  # doctest: +SKIP
    PushReport(runs=12, created=12, points=48000, artifacts=30, versions=2, skipped=0)
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, RunNotFound
from ..store import queries, sync
from ..store.database import now_ms
from ..store.handle import StoreHandle
from ..store.transfer import RunRecord, read_runs
from .limits import (
    MAX_DIGEST,
    MAX_EXPERIMENT_NAME,
    MAX_METRICS,
    MAX_PARAM_VALUE,
    MAX_PARAMS,
    MAX_TAG_VALUE,
    MAX_TAGS,
    name_problem,
    sized_batches,
)
from . import follow
from .mapping import DIGEST_TAG, PARENT_TAG, RUN_ID_TAG, mlflow_status, push_tags
from .progress import Progress
from .remote import RemoteError, mlflow_client, quote, remote_key, translate

_TERMINAL = ("FINISHED", "FAILED", "KILLED", "CRASHED")


@dataclass(frozen=True)
class PushReport:
    """What one push sent: runs touched, runs created, metric points, artifact files,
    model versions created, and runs skipped because nothing changed."""

    runs: int = 0
    created: int = 0
    points: int = 0
    artifacts: int = 0
    versions: int = 0
    skipped: int = 0

    def line(self, uri: str) -> str:
        if not self.runs and not self.versions:
            return f"nothing to push to {uri}: {self.skipped} run(s) up to date"
        return (f"pushed {self.runs} run(s) ({self.created} new, {self.points:,} metric points, "
                f"{self.artifacts} artifact file(s)) and {self.versions} model version(s) to {uri}; "
                f"{self.skipped} run(s) were up to date")


def push(to: str, experiment: str | None = None, filter_string: str | None = None, *,
         handle: StoreHandle | None = None, progress: bool | None = None,
         max_runs: int | None = None) -> PushReport:
    """Send this store's runs (all, an experiment's, or those ``filter_string`` matches) and
    its registry to the MLflow tracking store at ``to``; idempotent and resumable.

    ``to`` is an MLflow server (``http://host:5000``) or database (``sqlite:///mlflow.db``,
    ``postgresql://user@host/db``); credentials come from MLflow's own variables
    (``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` / ``MLFLOW_TRACKING_TOKEN``).
    ``max_runs`` stops after that many runs were sent (the next push goes on from there).

    Example:
        >>> nbtrack.push(to="http://127.0.0.1:5000", experiment="sentiment")  # doctest: +SKIP
    """
    from ..tracking.fluent import store_handle

    handle = handle or store_handle()
    pusher = _Pusher(to, handle, progress)
    return pusher.run(experiment, filter_string, max_runs)


class _Pusher:
    def __init__(self, uri: str, handle: StoreHandle, progress: bool | None) -> None:
        self.uri = uri
        self.remote = remote_key(uri)
        self.handle = handle
        self.client = mlflow_client(uri)
        self.progress = progress
        self.created = self.points = self.artifacts = 0
        self.fresh: set[str] = set()

    # --- the pass -----------------------------------------------------------------------------

    def run(self, experiment: str | None, filter_string: str | None, max_runs: int | None) -> PushReport:
        if not self.handle.exists:
            return PushReport()
        self.handle.flush()
        store = self.handle.read()
        ids = queries.experiment_ids(store, [experiment]) if experiment else None
        pks = queries.select_run_pks(store, filter_string, ids, order_by=["start_time ASC"])
        markers = sync.run_markers(store, pks)
        state = sync.push_state(store, self.remote)
        todo = [pk for pk in pks if pk not in state or state[pk].marker != markers[pk]]
        if max_runs is not None:
            todo = todo[:max_runs]
        by_pk = dict(zip(todo, read_runs(store, sync.run_ids_of(store, todo), with_metrics=False)))
        keys = sync.metric_keys(store, todo)
        for pk, record in by_pk.items():
            check_run(record, keys.get(pk, ()))
        sent = 0
        if todo:
            with Progress(len(todo), "push", self.progress) as bar:
                experiments = self._experiments(store, [by_pk[pk] for pk in todo])
                for pk in todo:
                    self._push_run(pk, by_pk[pk], experiments, markers[pk], bar)
                    sent += 1
                    bar.run_done()
        versions = self._push_registry()
        return PushReport(sent, self.created, self.points, self.artifacts, versions, len(pks) - len(todo))

    def _experiments(self, store: Any, records: Sequence[RunRecord]) -> dict[str, str]:
        """Local experiment name -> remote experiment id, created on the server if new."""
        known = sync.experiment_map(store, self.remote)
        local = {e.name: int(e.experiment_id) for e in queries.list_experiments(store)}
        found: dict[str, str] = {}
        for name in sorted({r.experiment_name for r in records}):
            if local[name] in known:
                found[name] = known[local[name]]
                continue
            with translate(self.uri):
                remote = self.client.get_experiment_by_name(name)
                if remote is not None and remote.lifecycle_stage == "deleted":
                    raise RemoteError(f"experiment {name!r} is deleted on {self.uri}; restore it there "
                                      "(mlflow experiments restore) or rename it here")
                if remote is None:
                    remote_id = self.client.create_experiment(name)
                    self.fresh.add(remote_id)  # no run of ours can be there: skip the adoption search
                else:
                    remote_id = remote.experiment_id
            self.handle.execute(sync.MapExperiment(self.remote, local[name], remote_id))
            found[name] = remote_id
        return found

    def _push_run(self, pk: int, record: RunRecord, experiments: dict[str, str], marker: str,
                  bar: Progress) -> None:
        label = f"{record.run_id[:8]} ({record.run_name!r})"
        with translate(self.uri, label):
            state = sync.push_state(self.handle.read(), self.remote).get(pk)
            remote_id = state.remote_run_id if state else self._adopt(record, experiments)
            created_here = remote_id is None
            parent = self._parent_remote_id(record)
            tags = {**record.tags, **push_tags(record, parent)}
            if parent and PARENT_TAG in record.tags:  # the local parent's id means nothing there
                tags[PARENT_TAG] = parent
            tags_sent = False
            if remote_id is None:
                # Tags go with the run (so its nbtrack.run_id is there from the start), in
                # one request when MLflow's batch limit allows.
                tags_sent = len(tags) <= MAX_TAGS
                first = tags if tags_sent else {RUN_ID_TAG: record.run_id}
                run = self.client.create_run(experiments[record.experiment_name],
                                             start_time=record.start_time, tags=first,
                                             run_name=record.run_name)
                remote_id = run.info.run_id
                self.created += 1
            self.handle.execute(sync.MapRun(self.remote, pk, remote_id, "push", now_ms()))
            self._log_params_and_tags(remote_id, record, {} if tags_sent else tags)
            self._log_metrics(pk, remote_id, state.metric_position if state else 0, bar)
            self._log_inputs(remote_id, record)
            self._log_artifacts(pk, remote_id, record)
            if record.status in _TERMINAL:
                self.client.set_terminated(remote_id, mlflow_status(record.status),
                                           end_time=record.end_time)
        # What the server's tags are now, as a pull will compare them (interop/follow.py): a
        # push only adds and overwrites tags. Unknown before (a run pushed before nbtrack
        # kept this): left unknown, and the next pull reads it.
        before = follow.decode(state.server_tags) if state else None
        server_tags = None
        if before is not None or created_here:
            server_tags = follow.encode({**(before or {}), **follow.followed_tags(tags)})
        self.handle.execute(sync.AdvanceRun(self.remote, pk, now_ms(), marker=marker,
                                            server_tags=server_tags))

    def _adopt(self, record: RunRecord, experiments: dict[str, str]) -> str | None:
        """The remote run a push that died before recording it created, found by its tag."""
        if experiments[record.experiment_name] in self.fresh:
            return None
        found = self.client.search_runs(
            [experiments[record.experiment_name]], f"tags.`{RUN_ID_TAG}` = '{record.run_id}'",
            max_results=1)
        return found[0].info.run_id if found else None

    def _parent_remote_id(self, record: RunRecord) -> str | None:
        if not record.parent_run_id:
            return None
        store = self.handle.read()
        state = sync.push_state(store, self.remote).get(_pk(store, record.parent_run_id) or -1)
        return state.remote_run_id if state else None  # None: the parent was not pushed

    def _log_params_and_tags(self, remote_id: str, record: RunRecord, tags: dict[str, str]) -> None:
        from mlflow.entities import Param, RunTag

        # Params already on the server with the same value are accepted again; a different
        # value is refused by MLflow, and translate() says which run and what to do.
        for batch in sized_batches(sorted(record.params.items()), MAX_PARAMS):
            self.client.log_batch(remote_id, params=[Param(k, v) for k, v in batch], synchronous=True)
        for batch in sized_batches(sorted(tags.items()), MAX_TAGS):
            self.client.log_batch(remote_id, tags=[RunTag(k, v) for k, v in batch], synchronous=True)

    def _log_metrics(self, pk: int, remote_id: str, after: int, bar: Progress) -> None:
        from mlflow.entities import Metric

        store = self.handle.read()
        batch: list[Any] = []
        last = after

        def send() -> None:
            self.client.log_batch(remote_id, metrics=batch, synchronous=True)
            # The mark moves only once the server has the batch: an interrupted push resends
            # at most this one batch, and MLflow's SQL store keeps one copy of a repeated point.
            self.handle.execute(sync.AdvanceRun(self.remote, pk, now_ms(), metric_position=last))
            self.points += len(batch)
            bar.points(len(batch))

        for position, key, value, step, timestamp in sync.metric_points_after(store, pk, after):
            batch.append(Metric(key, float("nan") if value is None else value, timestamp, step))
            last = position
            if len(batch) == MAX_METRICS:
                send()
                batch = []
        if batch:
            send()

    def _log_inputs(self, remote_id: str, record: RunRecord) -> None:
        if not record.inputs:
            return
        import json

        from mlflow.entities import Dataset, DatasetInput, InputTag

        datasets = []
        for d in record.inputs:
            schema = json.dumps({"nbtrack": dict(d.schema)}) if d.schema else None
            profile = json.dumps({**dict(d.profile or {}), **({"shape": list(d.shape)} if d.shape else {})})
            tags = [InputTag("mlflow.data.context", d.context)] if d.context else []
            digest = d.digest
            if len(digest) > MAX_DIGEST:  # MLflow keeps 36 characters; the whole one rides along
                tags.append(InputTag(DIGEST_TAG, digest))
                digest = digest[:MAX_DIGEST]
            datasets.append(DatasetInput(Dataset(d.name, digest, d.source_type, d.source, schema,
                                                 profile), tags))
        self.client.log_inputs(remote_id, datasets)

    def _log_artifacts(self, pk: int, remote_id: str, record: RunRecord) -> None:
        from ..store.artifacts import blob_location

        sent = sync.sent_artifacts(self.handle.read(), self.remote, pk)
        new = [e for e in record.artifacts if sent.get(e.path) != e.digest]
        if not new:
            return
        with tempfile.TemporaryDirectory(prefix="nbtrack-push-") as tmp:
            for entry in new:
                # MLflow names the uploaded file after the local one: copy the blob to its name.
                folder, _, name = entry.path.rpartition("/")
                local = Path(tmp, entry.digest[:16], name)
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_bytes(blob_location(self.handle.location, entry.digest).read_bytes())
                self.client.log_artifact(remote_id, str(local), folder or None)
                self.handle.execute(sync.RecordSentArtifacts(self.remote, pk, ((entry.path, entry.digest),)))
                local.unlink()
                self.artifacts += 1

    # --- the registry -------------------------------------------------------------------------

    def _push_registry(self) -> int:
        from ..store import registry_queries as rq

        store = self.handle.read()
        if not rq.has_registry(store):
            return 0
        state = sync.push_state(store, self.remote)
        mapped = sync.version_map(store, self.remote)
        created = 0
        for model in rq.search_registered_models(store, None, max_results=1_000_000):
            versions = [v for v in rq.search_model_versions(store, f"name = '{quote(model.name)}'")
                        if v.run_id and _pk(store, v.run_id) in state]
            if not versions:
                continue
            with translate(self.uri, f"registered model {model.name!r}"):
                created += self._push_model(store, model, versions, state, mapped)
        return created

    def _push_model(self, store: Any, model: Any, versions: list[Any], state: dict[int, Any],
                    mapped: dict[tuple[str, int], tuple[str, str | None]]) -> int:
        from mlflow.exceptions import MlflowException

        markers = {v.version: _version_marker(v) for v in versions}
        if all(mapped.get((v.name, v.version), (None, None))[1] == markers[v.version] for v in versions):
            return 0  # nothing moved since the last push: ask the server nothing
        created_model = True
        try:
            self.client.create_registered_model(model.name, tags=model.tags, description=model.description)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            created_model = False
        created = 0
        numbers: dict[int, str] = {}
        for v in sorted(versions, key=lambda v: v.version):
            marker = markers[v.version]
            held = mapped.get((v.name, v.version))
            if held is not None and held[1] == marker:
                numbers[v.version] = held[0]
                continue
            if held is None:
                remote_run = state[queries.run_pk(store, v.run_id)].remote_run_id
                path = (v.source or "").split("/", 3)[-1] if (v.source or "").startswith("runs:/") else "model"
                artifact_uri = self.client.get_run(remote_run).info.artifact_uri
                mv = self.client.create_model_version(
                    v.name, f"{artifact_uri}/{path}", run_id=remote_run, tags=v.tags,
                    description=v.description)
                remote_version = str(mv.version)
                self.handle.execute(sync.MapModelVersion(self.remote, v.name, v.version, remote_version,
                                                         "push"))
                created += 1
            else:
                remote_version = held[0]
                for key, value in v.tags.items():
                    self.client.set_model_version_tag(v.name, remote_version, key, value)
            numbers[v.version] = remote_version
            if v.current_stage not in ("None", ""):
                with warnings.catch_warnings():  # stages are deprecated in MLflow; they still travel
                    warnings.simplefilter("ignore", FutureWarning)
                    self.client.transition_model_version_stage(v.name, remote_version, v.current_stage)
            self.handle.execute(sync.MapModelVersion(self.remote, v.name, v.version, remote_version,
                                                     "push", marker))
        sent = {alias: numbers[version] for alias, version in model.aliases.items() if version in numbers}
        for alias, remote_version in sent.items():
            self.client.set_registered_model_alias(model.name, alias, remote_version)
        # What the server's aliases are now, for a pull to compare with (a push only sets
        # them); unknown before and not made here: left unknown, the next pull reads them.
        before = sync.server_aliases(store, self.remote, model.name)
        if before is not None or created_model:
            self.handle.execute(sync.FollowServerAliases(
                self.remote, model.name, tuple(sorted({**(before or {}), **sent}.items())), now_ms(),
                record_only=True))
        return created


def check_run(record: RunRecord, metric_keys: Sequence[str] = ()) -> None:
    """Refuse, before anything is sent, a run MLflow would reject: one line naming the fix."""
    label = f"run {record.run_id[:8]} ({record.run_name!r})"
    for key in metric_keys:
        problem = name_problem(key)
        if problem:
            raise InvalidInput(f"{label}: metric {problem}; rename it here (or leave this run out "
                               "with a filter)")
    if len(record.experiment_name) > MAX_EXPERIMENT_NAME:
        raise InvalidInput(f"{label}: its experiment name is longer than MLflow's "
                           f"{MAX_EXPERIMENT_NAME} characters; rename the experiment")
    for kind, keys in (("param", record.params), ("tag", record.tags)):
        for key in keys:
            problem = name_problem(key)
            if problem:
                raise InvalidInput(f"{label}: {kind} {problem}; rename it here (or leave this run "
                                   "out with a filter)")
    for key, value in record.params.items():
        if len(value) > MAX_PARAM_VALUE:
            raise InvalidInput(f"{label}: param {key!r} holds {len(value):,} characters, over MLflow's "
                               f"{MAX_PARAM_VALUE:,}; log it as an artifact instead")
    for key, value in record.tags.items():
        if len(value) > MAX_TAG_VALUE:
            raise InvalidInput(f"{label}: tag {key!r} holds {len(value):,} characters, over MLflow's "
                               f"{MAX_TAG_VALUE:,}; shorten it or log it as an artifact")


def _version_marker(version: Any) -> str:
    """What a pushed version may change later: stage, aliases, tags, description."""
    return repr((version.current_stage, sorted(version.aliases), sorted(version.tags.items()),
                 version.description))


def _pk(store: Any, run_id: str) -> int | None:
    try:
        return queries.run_pk(store, run_id)
    except RunNotFound:
        return None


def watch(to: str, interval: float, push_once: Callable[[], PushReport],
          say: Callable[[str], None], *, rounds: int | None = None) -> None:
    """Push every ``interval`` seconds; a server that went away is retried, never fatal."""
    done = 0
    down = False
    while rounds is None or done < rounds:
        try:
            report = push_once()
            if report.runs or report.versions:
                say(report.line(to))
            if down:
                say(f"{to} is back")
                down = False
        except RemoteError as exc:
            if not down:
                say(f"{exc}; retrying every {interval:g} s")
                down = True
        done += 1
        if rounds is None or done < rounds:
            time.sleep(interval)

