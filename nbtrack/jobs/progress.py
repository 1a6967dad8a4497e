"""The sweep's progress bar: executions done, failures, and the best value of the metric so far.

``tqdm.auto`` picks the notebook widget in Jupyter and the text bar in a terminal.

Example:
    >>> bar = SweepProgress(4, "score", maximize=True, enabled=False)
    >>> bar.record("FINISHED", 0.7); bar.record("FINISHED", 0.9); bar.best
    0.9
"""

from __future__ import annotations

import math
from typing import Any


class SweepProgress:
    def __init__(self, total: int | None, metric: str | None, *, maximize: bool, enabled: bool = True,
                 initial: int = 0, best: float | None = None) -> None:
        self.metric, self.maximize = metric, maximize
        self.best: float | None = best
        self.failed = 0
        self._bar: Any = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, desc="sweep", unit="run", dynamic_ncols=True)
            self._show()

    def record(self, status: str, value: float | None) -> None:
        if status != "FINISHED":
            self.failed += 1
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            if self.best is None or (value > self.best if self.maximize else value < self.best):
                self.best = value
        if self._bar is not None:
            self._bar.update(1)
            self._show()

    def _show(self) -> None:
        postfix = {}
        if self.metric:
            postfix[f"best {self.metric}"] = "-" if self.best is None else f"{self.best:.6g}"
        if self.failed:
            postfix["failed"] = self.failed
        self._bar.set_postfix(postfix, refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
