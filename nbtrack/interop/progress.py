"""A tqdm bar of runs with metric points per second, shown on a terminal (or when asked).

Without tqdm, or when stderr is not a terminal and ``show`` is None, nothing is drawn.

Example:
    >>> with Progress(2, "push", show=False) as bar:
    ...     bar.points(1000); bar.run_done()
"""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    def __init__(self, total: int, what: str, show: bool | None) -> None:
        self._bar: Any = None
        self._points = 0
        self._start = time.perf_counter()
        if show is None:
            show = sys.stderr.isatty()
        if show:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=total, desc=what, unit="run", file=sys.stderr, leave=True)

    def points(self, count: int) -> None:
        self._points += count
        if self._bar is not None:
            rate = self._points / max(time.perf_counter() - self._start, 1e-9)
            self._bar.set_postfix_str(f"{self._points:,} points, {rate:,.0f} points/s", refresh=False)
            self._bar.refresh()

    def run_done(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def __enter__(self) -> Progress:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
