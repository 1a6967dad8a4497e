"""``nbtrack pull``: bring an MLflow tracking store's runs and registry into the local store.

Everything is fetched first (metric histories in memory, artifact files as blobs),
then written in one transaction, so a pull that fails (the server goes away, a file
is missing) leaves the store as it was; blobs already copied are unreferenced and
``nbtrack gc`` removes them.

A pulled run keeps its times, status, params, tags, metric histories, inputs and
artifacts. Its id is the nbtrack id it was pushed with (``nbtrack.run_id`` tag), else
MLflow's; the MLflow id is in ``remote_runs`` and the ``nbtrack.mlflow_run_id`` tag. A
run pulled (or pushed) before is not pulled again, except one that was still running when
it was pulled: it comes again whole, so it ends as it ended there.

Example:
    >>> import nbtrack
    >>> nbtrack.pull("sqlite:///mlflow.db")  # doctest: +SKIP
    PullReport(runs=40, points=12000, artifacts=80, versions=3)
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..entities import DatasetInput
from ..errors import InvalidInput
from ..store import sync
from ..store.commands import ArtifactEntry, WriteCommand
from ..store.database import now_ms
from ..store.handle import StoreHandle
from ..store.registry import CreateModelVersion, CreateRegisteredModel
from ..store.transfer import MetricPointRecord, RunRecord
from . import follow
from .mapping import (
    DIGEST_TAG,
    MLFLOW_RUN_ID_TAG,
    PARENT_TAG,
    RUN_ID_TAG,
    STATUS_TAG,
    attributes_from,
    split_synthesized,
)
from .progress import Progress
from .remote import quote, remote_key, source_client, tracking_uri, translate


@dataclass(frozen=True)
class PullReport:
    """Runs written, metric points, artifact files and model versions pulled, and runs
    skipped because the store held them already."""

    runs: int = 0
    points: int = 0
    artifacts: int = 0
    versions: int = 0
    skipped: int = 0
    followed: int = 0  # runs here already that took tag edits made on the server
    kept_local: int = 0  # tags or aliases moved on both sides differently: the local one stays
    aliases_moved: int = 0  # aliases moved here as they were moved on the server

    def line(self, uri: str) -> str:
        line = (f"pulled {self.runs} run(s) ({self.points:,} metric points, {self.artifacts} "
                f"artifact file(s)) and {self.versions} model version(s) from {uri}; "
                f"{self.skipped} run(s) were here already")
        if self.followed:
            line += f", {self.followed} of them took tag edits made there"
        if self.aliases_moved:
            line += f"; {self.aliases_moved} alias(es) moved as they were moved there"
        if self.kept_local:
            line += f"; {self.kept_local} tag(s) or alias(es) changed both there and here kept the local one"
        return line


def pull(source: str, experiment: str | None = None, *, handle: StoreHandle | None = None,
         progress: bool | None = None) -> PullReport:
    """Copy the runs (all, or one experiment's) and registry of the MLflow store at
    ``source`` into this store: a server (``http://host:5000``), a database
    (``sqlite:///mlflow.db``, ``postgresql://...``) or an ``mlruns/`` folder.

    Example:
        >>> nbtrack.pull("sqlite:///mlflow.db", experiment="sentiment")  # doctest: +SKIP
    """
    from ..tracking.fluent import store_handle

    handle = handle or store_handle()
    uri = tracking_uri(source, pulling=True)
    with source_client(source) as client:
        return _Puller(uri, client, handle, progress).run(experiment)


class _Puller:
    def __init__(self, uri: str, client: Any, handle: StoreHandle, progress: bool | None) -> None:
        self.uri = uri
        self.remote = remote_key(uri)
        self.client = client
        self.handle = handle
        self.progress = progress
        self.points = self.artifacts = 0
        self.roots: dict[str, Path] = {}  # remote run id -> where its artifacts were downloaded

    def run(self, experiment: str | None) -> PullReport:
        self.handle.flush()
        store = self.handle.read() if self.handle.exists else None
        synced = sync.synced_runs(store, self.remote) if store else {}
        running = {remote_id: here.pk for remote_id, here in synced.items() if here.pulled_running}
        done_versions = sync.remote_versions(store, self.remote) if store else set()
        with translate(self.uri):
            experiments = [e for e in _pages(lambda token: self.client.search_experiments(
                max_results=1000, page_token=token)) if experiment in (None, e.name)]
            runs = [(e.name, r) for e in experiments for r in _pages(
                lambda token, e=e: self.client.search_runs([e.experiment_id], max_results=1000,
                                                           page_token=token))]
        runs.sort(key=lambda pair: (pair[1].info.start_time or 0, pair[1].info.run_id))
        new = [(name, r) for name, r in runs if r.info.run_id not in synced or r.info.run_id in running]
        ids = {remote_id: here.run_id for remote_id, here in synced.items()}  # this pull's runs added
        for _, r in new:
            ids[r.info.run_id] = r.data.tags.get(RUN_ID_TAG) or r.info.run_id
        pulled = []
        with Progress(len(new), "pull", self.progress) as bar, tempfile.TemporaryDirectory(
                prefix="nbtrack-pull-") as tmp:
            for name, r in new:
                with translate(self.uri, f"{r.info.run_id[:8]} ({r.info.run_name!r})"):
                    record = self._record(name, r, ids, Path(tmp), bar)
                    pulled.append(sync.PulledRun(record, r.info.run_id,
                                                 tuple(_logged_models(self.roots.get(r.info.run_id))),
                                                 running.get(r.info.run_id),
                                                 follow.encode(follow.followed_tags(r.data.tags))))
                bar.run_done()
        with translate(self.uri):
            registry, alias_follows, versions = self._registry(ids, done_versions)
        result = self.handle.execute(sync.PullRuns(
            self.remote, tuple(pulled), now_ms(), tuple(registry),
            tuple(_tag_follows(self.remote, runs, synced)), tuple(alias_follows)))
        return PullReport(result.written, self.points, self.artifacts, versions, len(runs) - result.written,
                          result.runs_followed, result.kept_local, result.aliases_moved)

    def _record(self, experiment: str, r: Any, ids: dict[str, str], tmp: Path, bar: Progress) -> RunRecord:
        info = r.info
        own, added = split_synthesized(r.data.tags)
        own[MLFLOW_RUN_ID_TAG] = info.run_id
        attributes = attributes_from(added)
        parent = r.data.tags.get(PARENT_TAG)
        if parent in ids and PARENT_TAG in own:  # the tag names the parent here, as on the server
            own[PARENT_TAG] = ids[parent]
        points: list[MetricPointRecord] = []
        for key in sorted(r.data.metrics):
            for m in self.client.get_metric_history(info.run_id, key):
                points.append(MetricPointRecord(key, None if m.value != m.value else m.value,
                                                int(m.step), int(m.timestamp)))
        self.points += len(points)
        bar.points(len(points))
        return RunRecord(
            run_id=ids[info.run_id], experiment_name=experiment,
            run_name=info.run_name or r.data.tags.get("mlflow.runName") or info.run_id[:8],
            status=added.get(STATUS_TAG, info.status), start_time=int(info.start_time or 0),
            end_time=info.end_time, user_id=info.user_id or None,
            parent_run_id=ids.get(parent) if parent else None,
            params=dict(r.data.params), tags=own, metrics=tuple(points),
            inputs=tuple(_inputs(r)), artifacts=tuple(self._artifacts(info.run_id, info.artifact_uri or '', tmp)),
            **attributes)

    def _artifacts(self, run_id: str, artifact_uri: str, tmp: Path) -> Iterator[ArtifactEntry]:
        if artifact_uri.startswith("mlflow-artifacts:") and not self.uri.startswith("http"):
            raise InvalidInput(
                f"run {run_id[:8]} keeps its artifacts on the MLflow server that wrote it "
                f"({artifact_uri}); pull from that server's http:// URL instead of its database")
        if not self.client.list_artifacts(run_id):
            return
        target = tmp / run_id
        target.mkdir()
        root = self.roots[run_id] = Path(self.client.download_artifacts(run_id, "", str(target)))
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            digest, size = self.handle.put_file(file)
            self.artifacts += 1
            yield ArtifactEntry(file.relative_to(root).as_posix(), digest, size)

    def _registry(self, ids: dict[str, str], done: set[tuple[str, str]]
                  ) -> tuple[list[WriteCommand], list[sync.FollowServerAliases], int]:
        """The commands that create new models and versions, those that follow alias moves
        (applied after them), and the number of versions."""
        commands: list[WriteCommand] = []
        follows: list[sync.FollowServerAliases] = []
        count = 0
        for model in _pages(lambda token: self.client.search_registered_models(
                max_results=1000, page_token=token)):
            every = list(_pages(lambda token, m=model: self.client.search_model_versions(
                f"name = '{quote(m.name)}'", max_results=1000, page_token=token)))
            versions = [v for v in every if (model.name, str(v.version)) not in done and v.run_id in ids]
            if versions or any((model.name, str(v.version)) in done for v in every):
                # Aliases moved there since the last sync move here too (three-way; the first
                # sync only records them).
                follows.append(sync.FollowServerAliases(self.remote, model.name, tuple(sorted(
                    (alias, str(version)) for alias, version in (model.aliases or {}).items())), now_ms()))
            if not versions:
                continue
            aliases: dict[str, list[str]] = {}
            for alias, version in (model.aliases or {}).items():
                aliases.setdefault(str(version), []).append(alias)
            commands.append(CreateRegisteredModel(
                model.name, int(model.creation_timestamp or now_ms()), model.description or None,
                dict(model.tags or {}), exist_ok=True))
            for v in sorted(versions, key=lambda v: int(v.version)):
                path = _model_path(v.source or "", v.run_id)
                if path is None:
                    continue  # a version whose files are not a run's artifacts (e.g. models:/m-...)
                local_run = ids[v.run_id]
                create = CreateModelVersion(
                    model.name, f"runs:/{local_run}/{path}", int(v.creation_timestamp or now_ms()),
                    run_id=local_run, user_id=v.user_id or None, tags=dict(v.tags or {}),
                    description=v.description or None)
                commands.append(sync.PullModelVersion(
                    self.remote, create, str(v.version), v.current_stage or "None",
                    tuple(sorted(aliases.get(str(v.version), ())))))
                count += 1
        return commands, follows, count


def _tag_follows(remote: str, runs: list[tuple[str, Any]], synced: dict[str, sync.SyncedRun]
                 ) -> Iterator[sync.FollowServerTags]:
    """A command for each run synced before whose tags on the server are not the base kept at
    the last sync (``interop/follow.py``; the store compares, in the pull's transaction)."""
    for _, r in runs:
        here = synced.get(r.info.run_id)
        if here is None or here.pulled_running:  # new, or fetched whole again
            continue
        server = follow.followed_tags(r.data.tags)
        if follow.decode(here.server_tags) != server:
            yield sync.FollowServerTags(remote, here.pk, here.run_id, follow.encode(server), now_ms())


def _logged_models(folder: Path | None) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """``(artifact folder, model id, flavors)`` of each MLflow 3 model among downloaded artifacts."""
    if folder is None or not folder.is_dir():
        return
    import yaml

    for mlmodel in sorted(folder.rglob("MLmodel")):
        try:
            data = yaml.safe_load(mlmodel.read_text())
        except (OSError, ValueError, yaml.YAMLError):
            continue  # not a readable MLmodel: the files still come, as plain artifacts
        model_id = data.get("model_id") if isinstance(data, dict) else None
        if isinstance(model_id, str) and model_id.startswith("m-") and mlmodel.parent != folder:
            yield (mlmodel.parent.relative_to(folder).as_posix(), model_id,
                   tuple(sorted(data.get("flavors") or {})))


def _model_path(source: str, run_id: str) -> str | None:
    """The artifact path inside run ``run_id`` that a version's source names."""
    if source.startswith("runs:/"):
        return source.split("/", 2)[-1].split("/", 1)[-1] or None
    marker = f"{run_id}/artifacts/"
    if marker in source:
        return source.split(marker, 1)[1].strip("/") or None
    return None


def _inputs(r: Any) -> Iterable[DatasetInput]:
    for item in getattr(r.inputs, "dataset_inputs", None) or ():
        d = item.dataset
        tags = {t.key: t.value for t in item.tags}
        context = tags.get("mlflow.data.context")
        schema = profile = shape = None
        try:
            parsed = json.loads(d.schema) if d.schema else None
            if isinstance(parsed, dict) and "nbtrack" in parsed:
                schema = parsed["nbtrack"]
            elif isinstance(parsed, dict) and "mlflow_colspec" in parsed:
                schema = {c.get("name", str(i)): c.get("type", "") for i, c in enumerate(parsed["mlflow_colspec"])}
            profile = json.loads(d.profile) if d.profile else None
        except (ValueError, AttributeError):
            pass
        if isinstance(profile, dict) and "shape" in profile:
            shape = tuple(profile.pop("shape"))
        yield DatasetInput(d.name, tags.get(DIGEST_TAG, d.digest), d.source, d.source_type, context or None, shape,
                           schema, profile or None)


def _pages(fetch: Any) -> Iterator[Any]:
    token = None
    while True:
        page = fetch(token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return
