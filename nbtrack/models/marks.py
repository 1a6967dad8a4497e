"""Which runs produced registered model versions: the "model v3 @champion" mark that the
sidebar's runs list and the compare table show beside a run.

Example:
    >>> mark_text(3, ["champion"])
    'model v3 @champion'
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import NamedTuple

from ..store import registry_queries as rq
from ..store.database import Store


class VersionMark(NamedTuple):
    """One registered version made from a run, with the aliases pointing at it."""

    name: str
    version: int
    aliases: tuple[str, ...]

    @property
    def text(self) -> str:
        return mark_text(self.version, self.aliases)


def mark_text(version: int, aliases: Sequence[str]) -> str:
    return f"model v{version}" + "".join(f" @{alias}" for alias in aliases)


def version_marks(store: Store, run_ids: Sequence[str]) -> dict[str, list[VersionMark]]:
    """run id -> the live registered versions made from it (none for a store from before the registry)."""
    try:
        found = rq.versions_by_run(store, run_ids)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # an older store opened read-only: no registry yet
            return {}
        raise
    aliases: dict[tuple[str, int], list[str]] = {}
    for name in sorted({name for pairs in found.values() for name, _ in pairs}):
        for alias, version in sorted(rq.get_registered_model(store, name).aliases.items()):
            aliases.setdefault((name, version), []).append(alias)
    return {run_id: [VersionMark(n, v, tuple(aliases.get((n, v), ()))) for n, v in pairs]
            for run_id, pairs in found.items()}
