"""What a sweep hands back: each execution's outcome, the result, and the interruption.

Example:
    >>> result = SweepResult("ab12", "score", True, (TrialOutcome("r1", 0, {"alpha": 1}, "FINISHED", 0.9),))
    >>> result.best().parameters
    {'alpha': 1}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrialOutcome:
    run_id: str
    trial: int
    parameters: Mapping[str, Any]
    status: str
    value: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class SweepResult:
    """A sweep's executions as they ended (this call's and, on resume, earlier ones)."""

    sweep_run_id: str
    metric: str | None
    maximize: bool
    outcomes: tuple[TrialOutcome, ...] = ()
    lost: int = 0

    def best(self) -> TrialOutcome | None:
        scored = [o for o in self.outcomes if o.status == "FINISHED" and o.value is not None
                  and not math.isnan(o.value)]
        if not scored:
            return None
        return (max if self.maximize else min)(scored, key=lambda o: o.value)

    def __repr__(self) -> str:
        best = self.best()
        counts = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        shown = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        tail = f"; best {self.metric}={best.value:.6g} ({best.run_id[:8]})" if best and self.metric else ""
        return f"<SweepResult {self.sweep_run_id[:8]}: {shown}{tail}>"


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the sweep; the message says what was kept and how to resume."""
