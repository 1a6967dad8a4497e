"""The model registry's write commands and their SQL (MLflow's registry, plus history).

Every alias and stage move also appends a ``registered_model_events`` row (who,
when, from which version to which): MLflow upserts aliases with no record
(mlflow#2169). Versions are soft-deleted, so a version number is never reused.
Names, aliases and stages arrive checked by ``nbtrack.models.registry``; these
handlers check what only the store knows (does it exist, is it taken).

Example:
    >>> import tempfile
    >>> from nbtrack.paths import resolve_location
    >>> from nbtrack.store.database import open_store
    >>> store = open_store(resolve_location(tempfile.mkdtemp()))
    >>> store.execute(CreateRegisteredModel("churn", time=1))
    True
    >>> store.execute(CreateModelVersion("churn", source="runs:/abc/model", time=2))
    1
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import InvalidInput, RegistryNotFound
from .commands import WriteCommand, handles

DELETED_STAGE = "Deleted_Internal"


# --- commands ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateRegisteredModel(WriteCommand):
    """A new registered model; the result is True, or False when ``exist_ok`` and it existed."""

    name: str
    time: int
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    exist_ok: bool = False

    def describe(self) -> str:
        return f"registered model {self.name!r}"


@dataclass(frozen=True)
class RenameRegisteredModel(WriteCommand):
    name: str
    new_name: str
    time: int


@dataclass(frozen=True)
class UpdateRegisteredModel(WriteCommand):
    name: str
    description: str | None
    time: int


@dataclass(frozen=True)
class DeleteRegisteredModel(WriteCommand):
    """Remove a registered model with its versions, tags and aliases (its history stays)."""

    name: str
    time: int
    user_id: str | None = None


@dataclass(frozen=True)
class SetRegisteredModelTag(WriteCommand):
    name: str
    key: str
    value: str
    time: int


@dataclass(frozen=True)
class DeleteRegisteredModelTag(WriteCommand):
    name: str
    key: str
    time: int


@dataclass(frozen=True)
class CreateModelVersion(WriteCommand):
    """A new version (max ever given + 1); the result is its number."""

    name: str
    source: str
    time: int
    run_id: str | None = None
    user_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    run_link: str | None = None
    description: str | None = None
    storage_location: str | None = None
    model_id: str | None = None

    def describe(self) -> str:
        return f"new version of {self.name!r} from {self.source}"


@dataclass(frozen=True)
class UpdateModelVersion(WriteCommand):
    name: str
    version: int
    description: str | None
    time: int


@dataclass(frozen=True)
class DeleteModelVersion(WriteCommand):
    """Soft delete: the number stays taken; source and run are redacted, aliases dropped."""

    name: str
    version: int
    time: int
    user_id: str | None = None


@dataclass(frozen=True)
class TransitionModelVersionStage(WriteCommand):
    name: str
    version: int
    stage: str
    time: int
    archive_existing_versions: bool = False
    user_id: str | None = None


@dataclass(frozen=True)
class SetModelVersionTag(WriteCommand):
    name: str
    version: int
    key: str
    value: str
    time: int


@dataclass(frozen=True)
class DeleteModelVersionTag(WriteCommand):
    name: str
    version: int
    key: str
    time: int


@dataclass(frozen=True)
class SetRegisteredModelAlias(WriteCommand):
    name: str
    alias: str
    version: int
    time: int
    user_id: str | None = None


@dataclass(frozen=True)
class DeleteRegisteredModelAlias(WriteCommand):
    name: str
    alias: str
    time: int
    user_id: str | None = None


@dataclass(frozen=True)
class RecordLoggedModel(WriteCommand):
    """A model ``log_model`` stored under ``name`` in a run: its ``m-<hex>`` id resolves
    ``models:/m-<hex>`` (MLflow 3's LoggedModel URI)."""

    run: int
    model_id: str
    name: str
    time: int
    flavors: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"logged model {self.model_id} of run #{self.run}"


# --- handlers ------------------------------------------------------------------------------


def require_model(conn: sqlite3.Connection, name: str) -> None:
    if conn.execute("SELECT 1 FROM registered_models WHERE name = ?", (name,)).fetchone() is None:
        raise RegistryNotFound(f"no registered model {name!r}; create it with "
                               f"create_registered_model({name!r}) or see search_registered_models()")


def require_version(conn: sqlite3.Connection, name: str, version: int) -> str:
    """The version's stage; raises for an unknown (or deleted) version."""
    require_model(conn, name)
    row = conn.execute("SELECT current_stage FROM model_versions WHERE name = ? AND version = ?",
                       (name, version)).fetchone()
    if row is None or row[0] == DELETED_STAGE:
        raise RegistryNotFound(f"registered model {name!r} has no version {version}; "
                               f"see search_model_versions(\"name = '{name}'\")")
    return str(row[0])


def _touch(conn: sqlite3.Connection, name: str, time: int, version: int | None = None) -> None:
    conn.execute("UPDATE registered_models SET last_updated_time = ? WHERE name = ?", (time, name))
    if version is not None:
        conn.execute("UPDATE model_versions SET last_updated_time = ? WHERE name = ? AND version = ?",
                     (time, name, version))


def _event(conn: sqlite3.Connection, name: str, kind: str, time: int, user_id: str | None, *,
           alias: str | None = None, version: int | None = None, previous_version: int | None = None,
           stage: str | None = None, previous_stage: str | None = None) -> None:
    conn.execute(
        "INSERT INTO registered_model_events (name, kind, alias, version, previous_version, stage, "
        "previous_stage, time, user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (name, kind, alias, version, previous_version, stage, previous_stage, time, user_id),
    )


@handles(RecordLoggedModel)
def _record_logged_model(conn: sqlite3.Connection, c: RecordLoggedModel) -> None:
    conn.execute("INSERT OR REPLACE INTO logged_models (model_id, run, name, creation_time, flavors) "
                 "VALUES (?, ?, ?, ?, ?)", (c.model_id, c.run, c.name, c.time, ",".join(c.flavors)))


@handles(CreateRegisteredModel)
def _create_registered_model(conn: sqlite3.Connection, c: CreateRegisteredModel) -> bool:
    cursor = conn.execute(
        "INSERT OR IGNORE INTO registered_models (name, creation_time, last_updated_time, description) "
        "VALUES (?, ?, ?, ?)", (c.name, c.time, c.time, c.description))
    if cursor.rowcount == 0:
        if c.exist_ok:
            return False
        raise InvalidInput(f"registered model {c.name!r} already exists; use create_model_version "
                           "or register_model to add a version")
    conn.executemany("INSERT OR REPLACE INTO registered_model_tags (name, key, value) VALUES (?, ?, ?)",
                     [(c.name, k, v) for k, v in c.tags.items()])
    return True


@handles(RenameRegisteredModel)
def _rename_registered_model(conn: sqlite3.Connection, c: RenameRegisteredModel) -> None:
    require_model(conn, c.name)
    if conn.execute("SELECT 1 FROM registered_models WHERE name = ?", (c.new_name,)).fetchone():
        raise InvalidInput(f"registered model {c.new_name!r} already exists; pick another name")
    for table in ("registered_models", "registered_model_tags", "model_versions", "model_version_tags",
                  "registered_model_aliases", "registered_model_events"):
        conn.execute(f"UPDATE {table} SET name = ? WHERE name = ?", (c.new_name, c.name))
    _touch(conn, c.new_name, c.time)


@handles(UpdateRegisteredModel)
def _update_registered_model(conn: sqlite3.Connection, c: UpdateRegisteredModel) -> None:
    require_model(conn, c.name)
    conn.execute("UPDATE registered_models SET description = ?, last_updated_time = ? WHERE name = ?",
                 (c.description, c.time, c.name))


@handles(DeleteRegisteredModel)
def _delete_registered_model(conn: sqlite3.Connection, c: DeleteRegisteredModel) -> None:
    require_model(conn, c.name)
    for alias, version in conn.execute(
            "SELECT alias, version FROM registered_model_aliases WHERE name = ?", (c.name,)).fetchall():
        _event(conn, c.name, "alias", c.time, c.user_id, alias=alias, previous_version=version)
    for table in ("registered_model_aliases", "model_version_tags", "model_versions",
                  "registered_model_tags", "registered_models"):
        conn.execute(f"DELETE FROM {table} WHERE name = ?", (c.name,))


@handles(SetRegisteredModelTag)
def _set_registered_model_tag(conn: sqlite3.Connection, c: SetRegisteredModelTag) -> None:
    require_model(conn, c.name)
    conn.execute("INSERT OR REPLACE INTO registered_model_tags (name, key, value) VALUES (?, ?, ?)",
                 (c.name, c.key, c.value))
    _touch(conn, c.name, c.time)


@handles(DeleteRegisteredModelTag)
def _delete_registered_model_tag(conn: sqlite3.Connection, c: DeleteRegisteredModelTag) -> None:
    require_model(conn, c.name)
    conn.execute("DELETE FROM registered_model_tags WHERE name = ? AND key = ?", (c.name, c.key))
    _touch(conn, c.name, c.time)


@handles(CreateModelVersion)
def _create_model_version(conn: sqlite3.Connection, c: CreateModelVersion) -> int:
    require_model(conn, c.name)
    # Soft-deleted rows count: a number once given is never given again (the write lock is
    # held, so two writers cannot both read the same maximum).
    (latest,) = conn.execute("SELECT coalesce(max(version), 0) FROM model_versions WHERE name = ?",
                             (c.name,)).fetchone()
    version = int(latest) + 1
    conn.execute(
        "INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, "
        "user_id, source, storage_location, run_id, run_link, model_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (c.name, version, c.time, c.time, c.description, c.user_id, c.source,
         c.storage_location or c.source, c.run_id, c.run_link, c.model_id))
    conn.executemany("INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?)",
                     [(c.name, version, k, v) for k, v in c.tags.items()])
    _touch(conn, c.name, c.time)
    return version


@handles(UpdateModelVersion)
def _update_model_version(conn: sqlite3.Connection, c: UpdateModelVersion) -> None:
    require_version(conn, c.name, c.version)
    conn.execute("UPDATE model_versions SET description = ? WHERE name = ? AND version = ?",
                 (c.description, c.name, c.version))
    _touch(conn, c.name, c.time, c.version)


@handles(DeleteModelVersion)
def _delete_model_version(conn: sqlite3.Connection, c: DeleteModelVersion) -> None:
    stage = require_version(conn, c.name, c.version)
    for (alias,) in conn.execute("SELECT alias FROM registered_model_aliases WHERE name = ? AND version = ?",
                                 (c.name, c.version)).fetchall():
        _event(conn, c.name, "alias", c.time, c.user_id, alias=alias, previous_version=c.version)
    conn.execute("DELETE FROM registered_model_aliases WHERE name = ? AND version = ?", (c.name, c.version))
    conn.execute("DELETE FROM model_version_tags WHERE name = ? AND version = ?", (c.name, c.version))
    conn.execute(
        "UPDATE model_versions SET current_stage = ?, source = 'REDACTED-SOURCE-PATH', "
        "storage_location = NULL, run_id = NULL, run_link = NULL, description = NULL, "
        "last_updated_time = ? WHERE name = ? AND version = ?",
        (DELETED_STAGE, c.time, c.name, c.version))
    if stage != "None":
        _event(conn, c.name, "stage", c.time, c.user_id, version=c.version, stage=None,
               previous_stage=stage)
    _touch(conn, c.name, c.time)


@handles(TransitionModelVersionStage)
def _transition_stage(conn: sqlite3.Connection, c: TransitionModelVersionStage) -> None:
    previous = require_version(conn, c.name, c.version)
    moves = [(c.version, previous, c.stage)] if previous != c.stage else []
    if c.archive_existing_versions and c.stage in ("Staging", "Production"):
        others = conn.execute(
            "SELECT version FROM model_versions WHERE name = ? AND current_stage = ? AND version != ?",
            (c.name, c.stage, c.version)).fetchall()
        moves += [(int(v), c.stage, "Archived") for (v,) in others]
    for version, old, new in moves:
        conn.execute("UPDATE model_versions SET current_stage = ? WHERE name = ? AND version = ?",
                     (new, c.name, version))
        _event(conn, c.name, "stage", c.time, c.user_id, version=version, stage=new, previous_stage=old)
        _touch(conn, c.name, c.time, version)


@handles(SetModelVersionTag)
def _set_model_version_tag(conn: sqlite3.Connection, c: SetModelVersionTag) -> None:
    require_version(conn, c.name, c.version)
    conn.execute("INSERT OR REPLACE INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?)",
                 (c.name, c.version, c.key, c.value))
    _touch(conn, c.name, c.time, c.version)


@handles(DeleteModelVersionTag)
def _delete_model_version_tag(conn: sqlite3.Connection, c: DeleteModelVersionTag) -> None:
    require_version(conn, c.name, c.version)
    conn.execute("DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?",
                 (c.name, c.version, c.key))
    _touch(conn, c.name, c.time, c.version)


@handles(SetRegisteredModelAlias)
def _set_alias(conn: sqlite3.Connection, c: SetRegisteredModelAlias) -> None:
    require_version(conn, c.name, c.version)
    row = conn.execute("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                       (c.name, c.alias)).fetchone()
    previous = None if row is None else int(row[0])
    if previous == c.version:
        return  # no move, no event
    conn.execute("INSERT OR REPLACE INTO registered_model_aliases (name, alias, version) VALUES (?, ?, ?)",
                 (c.name, c.alias, c.version))
    _event(conn, c.name, "alias", c.time, c.user_id, alias=c.alias, version=c.version,
           previous_version=previous)
    _touch(conn, c.name, c.time)


@handles(DeleteRegisteredModelAlias)
def _delete_alias(conn: sqlite3.Connection, c: DeleteRegisteredModelAlias) -> None:
    require_model(conn, c.name)
    row = conn.execute("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                       (c.name, c.alias)).fetchone()
    if row is None:
        raise RegistryNotFound(f"registered model {c.name!r} has no alias {c.alias!r}; "
                               f"see get_registered_model({c.name!r}).aliases")
    conn.execute("DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?", (c.name, c.alias))
    _event(conn, c.name, "alias", c.time, c.user_id, alias=c.alias, previous_version=int(row[0]))
    _touch(conn, c.name, c.time)
