"""Experiments beyond "get or create": create with tags, rename, delete, restore, tag.

MLflow's ``create_experiment``, ``delete_experiment``, ``restore_experiment``,
``rename_experiment`` and ``set_experiment_tag`` (fluent and client) send these
commands. Deleting an experiment marks its runs deleted too, and restoring it
restores them, as MLflow's SQL store does; ``nbtrack gc`` removes deleted runs for good.

Example:
    >>> import tempfile
    >>> from nbtrack.paths import resolve_location
    >>> from nbtrack.store.database import open_store
    >>> store = open_store(resolve_location(tempfile.mkdtemp()))
    >>> store.execute(CreateExperiment("churn", {"team": "ml"}))
    '1'
    >>> experiment_tags(store, 1)
    {'team': 'ml'}
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ExperimentNotFound, InvalidInput
from .commands import WriteCommand, handles
from .database import Store, now_ms


@dataclass(frozen=True)
class CreateExperiment(WriteCommand):
    """A new experiment called ``name``; refused when one exists. The result is its id."""

    name: str
    tags: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return f"new experiment {self.name!r}"


@dataclass(frozen=True)
class SetExperimentLifecycle(WriteCommand):
    """Delete (hide, with its runs) or restore an experiment."""

    experiment_id: int
    stage: str  # 'active' or 'deleted'

    def describe(self) -> str:
        return f"{self.stage} mark of experiment {self.experiment_id}"


@dataclass(frozen=True)
class RenameExperiment(WriteCommand):
    experiment_id: int
    new_name: str

    def describe(self) -> str:
        return f"rename of experiment {self.experiment_id} to {self.new_name!r}"


@dataclass(frozen=True)
class SetExperimentTags(WriteCommand):
    experiment_id: int
    tags: Mapping[str, str]

    def describe(self) -> str:
        return f"tags of experiment {self.experiment_id} ({', '.join(list(self.tags)[:5])})"


@dataclass(frozen=True)
class DeleteExperimentTag(WriteCommand):
    experiment_id: int
    key: str

    def describe(self) -> str:
        return f"tag {self.key!r} of experiment {self.experiment_id}"


def _require(conn: sqlite3.Connection, experiment_id: int) -> None:
    if conn.execute("SELECT 1 FROM experiments WHERE experiment_id = ?", (experiment_id,)).fetchone() is None:
        raise ExperimentNotFound(f"no experiment with id '{experiment_id}'; see nbtrack.search_experiments()")


def _touch(conn: sqlite3.Connection, experiment_id: int) -> None:
    conn.execute("UPDATE experiments SET last_update_time = ? WHERE experiment_id = ?", (now_ms(), experiment_id))


@handles(CreateExperiment)
def _create_experiment(conn: sqlite3.Connection, c: CreateExperiment) -> str:
    row = conn.execute("SELECT experiment_id, lifecycle_stage FROM experiments WHERE name = ?", (c.name,)).fetchone()
    if row is not None:
        hint = " (deleted: restore_experiment brings it back)" if row[1] == "deleted" else ""
        raise InvalidInput(f"an experiment named {c.name!r} already exists with id '{row[0]}'{hint}; "
                           "use set_experiment or pick another name")
    now = now_ms()
    experiment_id = conn.execute(
        "INSERT INTO experiments (name, creation_time, last_update_time) VALUES (?, ?, ?)", (c.name, now, now)
    ).lastrowid
    conn.executemany("INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?)",
                     [(experiment_id, k, v) for k, v in c.tags.items()])
    return str(experiment_id)


@handles(SetExperimentLifecycle)
def _set_experiment_lifecycle(conn: sqlite3.Connection, c: SetExperimentLifecycle) -> None:
    _require(conn, c.experiment_id)
    conn.execute("UPDATE experiments SET lifecycle_stage = ? WHERE experiment_id = ?", (c.stage, c.experiment_id))
    _touch(conn, c.experiment_id)
    deleted_time = now_ms() if c.stage == "deleted" else None
    conn.execute("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ?",
                 (c.stage, deleted_time, c.experiment_id))


@handles(RenameExperiment)
def _rename_experiment(conn: sqlite3.Connection, c: RenameExperiment) -> None:
    _require(conn, c.experiment_id)
    try:
        conn.execute("UPDATE experiments SET name = ? WHERE experiment_id = ?", (c.new_name, c.experiment_id))
    except sqlite3.IntegrityError:
        raise InvalidInput(f"an experiment named {c.new_name!r} already exists; pick another name") from None
    _touch(conn, c.experiment_id)


@handles(SetExperimentTags)
def _set_experiment_tags(conn: sqlite3.Connection, c: SetExperimentTags) -> None:
    _require(conn, c.experiment_id)
    conn.executemany("INSERT OR REPLACE INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?)",
                     [(c.experiment_id, k, v) for k, v in c.tags.items()])
    _touch(conn, c.experiment_id)


@handles(DeleteExperimentTag)
def _delete_experiment_tag(conn: sqlite3.Connection, c: DeleteExperimentTag) -> None:
    _require(conn, c.experiment_id)
    if conn.execute("DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?",
                    (c.experiment_id, c.key)).rowcount == 0:
        raise InvalidInput(f"experiment {c.experiment_id} has no tag {c.key!r}; nothing to delete")
    _touch(conn, c.experiment_id)


# --- reads ----------------------------------------------------------------------------------


def experiment_tags(store: Store, experiment_id: int | str) -> dict[str, str]:
    """The tags of one experiment, key -> value."""
    rows = store.conn.execute("SELECT key, value FROM experiment_tags WHERE experiment_id = ? ORDER BY key",
                              (int(experiment_id),))
    return {key: value for key, value in rows}


def all_experiment_tags(store: Store) -> dict[str, dict[str, str]]:
    """Every experiment's tags, by experiment id (as a string)."""
    tags: dict[str, dict[str, str]] = {}
    for experiment_id, key, value in store.conn.execute("SELECT experiment_id, key, value FROM experiment_tags"):
        tags.setdefault(str(experiment_id), {})[key] = value
    return tags
