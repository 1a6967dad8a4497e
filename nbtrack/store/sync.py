"""What ``nbtrack push`` / ``nbtrack pull`` remember about an MLflow tracking store.

The ``remote_*`` tables (migration ``m004_remote_sync``) map local experiments,
runs and model versions to their counterparts in one remote store (``remote`` is
its URI without credentials) and hold, per pushed run, how far it was sent: the
*position* of its metric points already on the server (``metric_blocks``: a
block id and how many of that block's points, see :mod:`.metric_blocks`), the
artifacts sent, and
the run's *change marker* at its last complete push. A push compares markers
computed here, locally, and sends nothing for a run whose marker did not move.

A pull writes everything it fetched in one transaction (:class:`PullRuns`), so a
failed pull leaves the store as it was.

Example:
    >>> MapRun("http://127.0.0.1:5000", run=1, remote_run_id="ab12", direction="push",
    ...        time=0).describe()
    'mapping of run #1 to ab12 on http://127.0.0.1:5000'
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .commands import PurgeRuns, WriteCommand, apply, handles
from .database import Store
from .metric_blocks import run_points
from .registry import (
    CreateModelVersion,
    RecordLoggedModel,
    SetRegisteredModelAlias,
    TransitionModelVersionStage,
)
from .transfer import ImportRun, RunRecord

# --- three-way merge of what a server edited ---------------------------------------------

RUN_NAME_TAG = "mlflow.runName"  # set there by a rename: followed here as a rename


class Changes(NamedTuple):
    """What to change here so a server's edits since the last sync are applied."""

    set_keys: dict[str, str]
    delete_keys: tuple[str, ...]
    kept_local: int  # keys edited on both sides, differently: the local value stays


def three_way(base: Mapping[str, str], server: Mapping[str, str], local: Mapping[str, str]) -> Changes:
    """Per key: unchanged on the server, nothing; changed there and not here, the server's
    value (or its deletion); changed on both sides differently, the local value is kept.

    Example:
        >>> three_way({"stage": "dev"}, {"stage": "prod"}, {"stage": "dev"})
        Changes(set_keys={'stage': 'prod'}, delete_keys=(), kept_local=0)
    """
    set_keys: dict[str, str] = {}
    delete_keys: list[str] = []
    kept_local = 0
    for key in sorted(set(base) | set(server)):
        before, there, here = base.get(key), server.get(key), local.get(key)
        if there == before or here == there:
            continue
        if here != before:
            kept_local += 1
        elif there is None:
            delete_keys.append(key)
        else:
            set_keys[key] = there
    return Changes(set_keys, tuple(delete_keys), kept_local)


# --- commands ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapExperiment(WriteCommand):
    remote: str
    experiment_id: int
    remote_experiment_id: str


@dataclass(frozen=True)
class MapRun(WriteCommand):
    """Local run ``run`` (row key) is ``remote_run_id`` on ``remote``."""

    remote: str
    run: int
    remote_run_id: str
    direction: str  # 'push' or 'pull'
    time: int

    def describe(self) -> str:
        return f"mapping of run #{self.run} to {self.remote_run_id} on {self.remote}"


@dataclass(frozen=True)
class AdvanceRun(WriteCommand):
    """How far a pushed run got: metric points up to ``metric_position`` (a
    ``metric_blocks.position``) are on the server; ``marker`` (when given) says the whole
    run, as it was then, is."""

    remote: str
    run: int
    time: int
    metric_position: int | None = None
    marker: str | None = None
    server_tags: str | None = None  # JSON: the run's tags as the server now holds them


@dataclass(frozen=True)
class FollowServerTags(WriteCommand):
    """Apply the tag edits made on the server to a synced run since the last sync: three-way
    per key against ``remote_runs.server_tags`` (local edits are kept; ``mlflow.runName``
    renames the run), then remember ``server_tags`` as the new base. With no base yet it is
    only recorded. Returns (1 if the run changed else 0, local edits kept)."""

    remote: str
    run: int
    run_id: str
    server_tags: str  # JSON: the run's followed tags as the server holds them now
    time: int

    def describe(self) -> str:
        return f"tag edits from {self.remote} for run {self.run_id}"


@dataclass(frozen=True)
class FollowServerAliases(WriteCommand):
    """Move a registered model's aliases as they were moved on the server since the last
    sync (three-way, per alias, in remote version numbers; a version not here is skipped),
    and remember the server's aliases. Returns (aliases moved here, local moves kept)."""

    remote: str
    name: str
    server_aliases: tuple[tuple[str, str], ...]  # (alias, the server's version number)
    time: int
    record_only: bool = False  # a push: the server now holds these; nothing to apply here

    def describe(self) -> str:
        return f"alias moves from {self.remote} for model {self.name!r}"


@dataclass(frozen=True)
class RecordSentArtifacts(WriteCommand):
    remote: str
    run: int
    entries: tuple[tuple[str, str], ...]  # (path, digest)


@dataclass(frozen=True)
class MapModelVersion(WriteCommand):
    remote: str
    name: str
    version: int
    remote_version: str
    direction: str
    marker: str | None = None


@dataclass(frozen=True)
class PullModelVersion(WriteCommand):
    """Create a pulled model version, then give it its stage and aliases and map it: its
    local number is only known inside the transaction."""

    remote: str
    create: CreateModelVersion
    remote_version: str
    stage: str = "None"
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class PulledRun:
    """A run fetched from ``remote``: the record to import and where it came from."""

    record: RunRecord
    remote_run_id: str
    # (artifact folder, model id, flavors) of each model folder among its artifacts
    models: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    replaces: int | None = None  # row key of an earlier pull of this run, still RUNNING then
    server_tags: str | None = None  # JSON: its tags as the server holds them (the follow base)


@dataclass(frozen=True)
class PullRuns(WriteCommand):
    """Import pulled runs, follow tag edits and replay registry commands, all in one
    transaction (a ``PullResult``)."""

    remote: str
    runs: tuple[PulledRun, ...]
    time: int
    registry: tuple[WriteCommand, ...] = ()
    tag_follows: tuple[FollowServerTags, ...] = ()  # runs synced before whose tags moved there
    alias_follows: tuple[FollowServerAliases, ...] = ()  # after the registry's new versions

    def describe(self) -> str:
        return f"pull of {len(self.runs)} run(s) from {self.remote}"


# --- handlers ------------------------------------------------------------------------------


@handles(MapExperiment)
def _map_experiment(conn: sqlite3.Connection, c: MapExperiment) -> None:
    conn.execute("INSERT OR REPLACE INTO remote_experiments VALUES (?, ?, ?)",
                 (c.remote, c.experiment_id, c.remote_experiment_id))


@handles(MapRun)
def _map_run(conn: sqlite3.Connection, c: MapRun) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO remote_runs (remote, run, remote_run_id, direction, synced_time) "
        "VALUES (?, ?, ?, ?, ?)", (c.remote, c.run, c.remote_run_id, c.direction, c.time))


@handles(AdvanceRun)
def _advance_run(conn: sqlite3.Connection, c: AdvanceRun) -> None:
    conn.execute(
        "UPDATE remote_runs SET metric_position = max(metric_position, coalesce(?, 0)), "
        "marker = coalesce(?, marker), server_tags = coalesce(?, server_tags), synced_time = ? "
        "WHERE remote = ? AND run = ?",
        (c.metric_position, c.marker, c.server_tags, c.time, c.remote, c.run))


@handles(FollowServerTags)
def _follow_server_tags(conn: sqlite3.Connection, c: FollowServerTags) -> tuple[int, int]:
    from .commands import DeleteTag, RenameRun, SetTags

    row = conn.execute("SELECT server_tags FROM remote_runs WHERE remote = ? AND run = ?",
                       (c.remote, c.run)).fetchone()
    apply(conn, AdvanceRun(c.remote, c.run, c.time, server_tags=c.server_tags))
    if row is None or row[0] is None:  # no base yet: recorded, nothing changed
        return 0, 0
    local = dict(conn.execute("SELECT key, value FROM tags WHERE run = ?", (c.run,)))
    changes = three_way(json.loads(row[0]), json.loads(c.server_tags), local)
    set_keys = dict(changes.set_keys)
    rename = set_keys.pop(RUN_NAME_TAG, None)
    deletes = [key for key in changes.delete_keys if key != RUN_NAME_TAG]  # a run keeps a name
    if set_keys:
        apply(conn, SetTags(c.run, set_keys))
    for key in deletes:
        apply(conn, DeleteTag(c.run, key))
    if rename is not None:
        apply(conn, RenameRun(c.run_id, rename))
    return int(bool(set_keys or deletes or rename is not None)), changes.kept_local


@handles(FollowServerAliases)
def _follow_server_aliases(conn: sqlite3.Connection, c: FollowServerAliases) -> tuple[int, int]:
    from .registry import DeleteRegisteredModelAlias

    server = dict(c.server_aliases)
    row = conn.execute("SELECT server_aliases FROM remote_models WHERE remote = ? AND name = ?",
                       (c.remote, c.name)).fetchone()
    conn.execute("INSERT OR REPLACE INTO remote_models (remote, name, server_aliases) VALUES (?, ?, ?)",
                 (c.remote, c.name, json.dumps(dict(sorted(server.items())))))
    if c.record_only or row is None or row[0] is None:  # no base yet: recorded, nothing moved
        return 0, 0
    to_local = dict(conn.execute("SELECT remote_version, version FROM remote_model_versions "
                                 "WHERE remote = ? AND name = ?", (c.remote, c.name)))
    to_remote = {version: remote_version for remote_version, version in to_local.items()}
    # An alias on a version the server does not have can equal no server value: "changed here".
    local = {alias: to_remote.get(version, f"local:{version}") for alias, version in conn.execute(
        "SELECT alias, version FROM registered_model_aliases WHERE name = ?", (c.name,))}
    changes = three_way(json.loads(row[0]), server, local)
    moved = 0
    for alias, remote_version in changes.set_keys.items():
        if remote_version in to_local:  # the version it moved to was pulled here
            apply(conn, SetRegisteredModelAlias(c.name, alias, to_local[remote_version], c.time))
            moved += 1
    for alias in changes.delete_keys:
        apply(conn, DeleteRegisteredModelAlias(c.name, alias, c.time))
        moved += 1
    return moved, changes.kept_local


@handles(RecordSentArtifacts)
def _record_sent_artifacts(conn: sqlite3.Connection, c: RecordSentArtifacts) -> None:
    conn.executemany("INSERT OR REPLACE INTO remote_artifacts VALUES (?, ?, ?, ?)",
                     [(c.remote, c.run, path, digest) for path, digest in c.entries])


@handles(MapModelVersion)
def _map_model_version(conn: sqlite3.Connection, c: MapModelVersion) -> None:
    conn.execute("INSERT OR REPLACE INTO remote_model_versions VALUES (?, ?, ?, ?, ?, ?)",
                 (c.remote, c.name, c.version, c.remote_version, c.direction, c.marker))


class PullResult(NamedTuple):
    written: int  # runs written (runs the store held already are only mapped)
    runs_followed: int = 0  # runs synced before that took tag edits made on the server
    aliases_moved: int = 0  # aliases moved here as they were moved on the server
    kept_local: int = 0  # tags or aliases changed on both sides differently: the local one stays


@handles(PullRuns)
def _pull_runs(conn: sqlite3.Connection, c: PullRuns) -> PullResult:
    written = 0
    for pulled in c.runs:
        if pulled.replaces is not None:
            # A run that was still running when it was pulled comes again whole.
            apply(conn, PurgeRuns((pulled.replaces,)))
        done = apply(conn, ImportRun(pulled.record))
        written += done.written
        if done.written:
            for name, model_id, flavors in pulled.models:
                # models:/m-<id> resolves here as it did where the model was logged
                apply(conn, RecordLoggedModel(done.pk, model_id, name, c.time, flavors))
        apply(conn, MapRun(c.remote, done.pk, pulled.remote_run_id, "pull", c.time))
        if pulled.server_tags is not None:
            apply(conn, AdvanceRun(c.remote, done.pk, c.time, server_tags=pulled.server_tags))
    for command in c.registry:
        apply(conn, command)
    tags = [apply(conn, follow) for follow in c.tag_follows]
    aliases = [apply(conn, follow) for follow in c.alias_follows]
    return PullResult(written, sum(changed for changed, _ in tags), sum(moved for moved, _ in aliases),
                      sum(kept for _, kept in tags + aliases))


@handles(PullModelVersion)
def _pull_model_version(conn: sqlite3.Connection, c: PullModelVersion) -> int:
    version = apply(conn, c.create)
    name, time = c.create.name, c.create.time
    if c.stage not in ("None", ""):
        apply(conn, TransitionModelVersionStage(name, version, c.stage, time))
    for alias in c.aliases:
        apply(conn, SetRegisteredModelAlias(name, alias, version, time))
    apply(conn, MapModelVersion(c.remote, name, version, c.remote_version, "pull"))
    return version


# --- queries -------------------------------------------------------------------------------


class PushState(NamedTuple):
    remote_run_id: str
    metric_position: int
    marker: str | None
    server_tags: str | None = None  # JSON, see interop/follow.py


def run_markers(store: Store, pks: Sequence[int]) -> dict[int, str]:
    """A digest per run of everything a push sends (status, times, name, params, tags,
    metric blocks, inputs, artifacts): a run whose marker did not move has nothing new.

    Whole tables are read in key order, which for a thousand runs takes milliseconds and
    asks nothing of the server.
    """
    wanted = set(pks)
    parts: dict[int, list[object]] = defaultdict(list)
    queries = (
        "SELECT id, status, end_time, run_name, lifecycle_stage, start_time FROM runs",
        "SELECT run, max(id), sum(count) FROM metric_blocks GROUP BY run",
        "SELECT run, count(*) FROM params GROUP BY run",
        "SELECT run, key, value FROM tags",
        "SELECT run, name, context, digest FROM inputs",
        "SELECT run, path, digest FROM artifacts",
    )
    for query in queries:
        for row in store.conn.execute(query):
            if row[0] in wanted:
                parts[row[0]].append(row[1:])
    return {pk: hashlib.blake2b(repr(parts[pk]).encode(), digest_size=12).hexdigest() for pk in pks}


def push_state(store: Store, remote: str) -> dict[int, PushState]:
    """Per local run row key: its remote id, metric high-water mark and last complete marker."""
    return {row[0]: PushState(*row[1:]) for row in store.conn.execute(
        "SELECT run, remote_run_id, metric_position, marker, server_tags FROM remote_runs "
        "WHERE remote = ?", (remote,))}


class SyncedRun(NamedTuple):
    """A run mapped to a remote: its row key and id here, the server's tags at the last sync
    (JSON, None when not known), and whether a pull brought it while it was still running."""

    pk: int
    run_id: str
    server_tags: str | None
    pulled_running: bool


def synced_runs(store: Store, remote: str) -> dict[str, SyncedRun]:
    """remote run id -> the run here, for every run mapped to ``remote`` either way."""
    return {row[0]: SyncedRun(row[1], row[2], row[3], bool(row[4])) for row in store.conn.execute(
        "SELECT m.remote_run_id, r.id, r.run_id, m.server_tags, "
        "m.direction = 'pull' AND r.status = 'RUNNING' "
        "FROM remote_runs m JOIN runs r ON r.id = m.run WHERE m.remote = ?", (remote,))}


def server_aliases(store: Store, remote: str, name: str) -> dict[str, str] | None:
    """alias -> the server's version number of model ``name`` at the last sync; None when
    not known."""
    row = store.conn.execute("SELECT server_aliases FROM remote_models WHERE remote = ? AND name = ?",
                             (remote, name)).fetchone()
    return None if row is None or row[0] is None else json.loads(row[0])


def experiment_map(store: Store, remote: str) -> dict[int, str]:
    return dict(store.conn.execute(
        "SELECT experiment_id, remote_experiment_id FROM remote_experiments WHERE remote = ?", (remote,)))


def sent_artifacts(store: Store, remote: str, pk: int) -> dict[str, str]:
    return dict(store.conn.execute(
        "SELECT path, digest FROM remote_artifacts WHERE remote = ? AND run = ?", (remote, pk)))


def remote_versions(store: Store, remote: str) -> set[tuple[str, str]]:
    """(name, remote version) of every version mapped either way."""
    return set(store.conn.execute(
        "SELECT name, remote_version FROM remote_model_versions WHERE remote = ?", (remote,)))


def version_map(store: Store, remote: str) -> dict[tuple[str, int], tuple[str, str | None]]:
    """(name, local version) -> (remote version, marker at last push)."""
    return {(r[0], r[1]): (r[2], r[3]) for r in store.conn.execute(
        "SELECT name, version, remote_version, marker FROM remote_model_versions WHERE remote = ?",
        (remote,))}


def run_ids_of(store: Store, pks: Sequence[int]) -> list[str]:
    """The run ids of row keys ``pks``, in their order."""
    ids = dict(store.conn.execute("SELECT id, run_id FROM runs"))
    return [ids[pk] for pk in pks]


def sqlite_tables(path: Path) -> set[str] | None:
    """The table names of the SQLite file at ``path`` (another program's: it is opened
    read-only and never changed), or None when it is not an SQLite database."""
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return None


def snapshot_sqlite(database: Path, copy: Path) -> None:
    """Copy another program's SQLite file to ``copy`` through SQLite's backup API (consistent
    while that program writes), opening it read-only: the file itself is never changed."""
    source = sqlite3.connect(f"{database.absolute().as_uri()}?mode=ro", uri=True)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def metric_keys(store: Store, pks: Sequence[int]) -> dict[int, list[str]]:
    wanted = set(pks)
    found: dict[int, list[str]] = defaultdict(list)
    for pk, key in store.conn.execute("SELECT run, key FROM metric_summaries"):
        if pk in wanted:
            found[pk].append(key)
    return found


def metric_points_after(store: Store, pk: int, after: int) -> Iterator[tuple[int, str, float, int, int]]:
    """``(position, key, value, step, timestamp)`` of run ``pk``'s points after position
    ``after``, in logging order (block id, index in the block); a point's position is the
    push mark that includes it, so a push that stops after any point resumes at the next."""
    return run_points(store.conn, pk, after)
