"""Notebook snapshots: what the kernel executed, as a valid nbformat v4 notebook.

Built from IPython's input history (``history_manager.input_hist_raw``): one code
cell per execution, in order, with its execution count, up to and including the
running cell. Serialising the whole history on every run would grow with the
session, so each history entry is encoded to JSON once and cached; a snapshot is
a join of cached fragments plus one sha256 (about 0.2 ms at 1,000 cells).

The bytes are deterministic (no timestamps, no run ids, cell ids derived from the
execution count), so the same notebook executed again from a fresh kernel gives
the same bytes and the content-addressed blob store keeps one copy.

Example:
    >>> builder = HistorySnapshot()
    >>> data = builder.build(["", "x = 1", "%%track\\ny = x"], {2: "c2"})
    >>> import json; [c["execution_count"] for c in json.loads(data)["cells"]]
    [1, 2]
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

_UNSAFE = re.compile(r"[^\w.\-]+")

_HEAD = (
    '{\n "cells": [\n'
)


def _tail() -> str:
    metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python",
                          "version": "{}.{}.{}".format(*sys.version_info[:3])},
        "nbtrack": {"snapshot": "kernel-history"},
    }
    return ('\n ],\n "metadata": ' + json.dumps(metadata, sort_keys=True)
            + ',\n "nbformat": 4,\n "nbformat_minor": 5\n}\n')


class HistorySnapshot:
    """Incremental encoder of the kernel's input history as an ``.ipynb``.

    Entries are cached by position; a shorter or rewritten history (``%reset``,
    a new session) is detected by comparing the cached source and re-encoded.
    """

    def __init__(self) -> None:
        self._sources: list[str] = []
        self._fragments: list[str] = []
        self._cell_ids: dict[int, str] = {}
        self._tail = _tail()

    def build(self, history: Sequence[str], cell_ids: Mapping[int, str] | None = None,
              upto: int | None = None, last_outputs: Sequence[Mapping[str, Any]] | None = None) -> bytes:
        """The notebook of ``history[1:upto + 1]`` (index = execution count) as UTF-8 bytes;
        ``last_outputs`` are the last cell's (the tracked cell's own, as it ran)."""
        end = len(history) if upto is None else min(len(history), upto + 1)
        cell_ids = cell_ids or {}
        known = len(self._sources)
        # The cached entries must still be the history's (a %reset or a new session
        # rewrites it); checking the last one is enough, since history only appends.
        if known and (known >= len(history) or history[known] != self._sources[-1]
                      or self._cell_ids.get(known) != cell_ids.get(known)):
            self._reset_from(history, cell_ids)
            known = len(self._sources)
        for count in range(known + 1, end):
            self._append(count, history[count], cell_ids.get(count))
        fragments = self._fragments[: max(end - 1, 0)]
        if last_outputs and fragments:  # not cached: the next build has other outputs to show
            cell = {**json.loads(fragments[-1]), "outputs": list(last_outputs)}
            fragments = [*fragments[:-1], "  " + json.dumps(cell, sort_keys=True, ensure_ascii=False)]
        return (_HEAD + ",\n".join(fragments) + self._tail).encode("utf-8")

    def _reset_from(self, history: Sequence[str], cell_ids: Mapping[int, str]) -> None:
        keep = 0
        for index, source in enumerate(self._sources, start=1):
            if (index >= len(history) or history[index] != source
                    or self._cell_ids.get(index) != cell_ids.get(index)):
                break
            keep = index
        del self._sources[keep:]
        del self._fragments[keep:]
        self._cell_ids = {i: c for i, c in self._cell_ids.items() if i <= keep}

    def _append(self, count: int, source: str, cell_id: str | None) -> None:
        cell: dict[str, Any] = {
            "cell_type": "code",
            "execution_count": count,
            "id": f"exec-{count}",
            "metadata": {"nbtrack": {"cell_id": cell_id}} if cell_id else {},
            "outputs": [],
            "source": source,
        }
        self._sources.append(source)
        if cell_id:
            self._cell_ids[count] = cell_id
        self._fragments.append("  " + json.dumps(cell, sort_keys=True, ensure_ascii=False))


def snapshot_name(notebook_path: str | None, kind: str) -> str:
    """Artifact path of a snapshot: ``notebook/<stem>.<kind>.ipynb`` (kind: history or file).

    Example:
        >>> snapshot_name("/home/me/bow model.ipynb", "history")
        'notebook/bow_model.history.ipynb'
    """
    stem = "session"
    if notebook_path:
        stem = _UNSAFE.sub("_", os.path.splitext(os.path.basename(notebook_path))[0]) or "notebook"
    return f"notebook/{stem}.{kind}.ipynb"


def encode_frontend_content(content: Mapping[str, Any]) -> bytes:
    """The notebook the frontend sent, in nbformat's on-disk layout (indent 1, sorted keys)."""
    return (json.dumps(content, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
