"""What ``nbtrack.compare(sweep=...)`` shows: a sweep's executions, best first by its goal.

Example:
    >>> sweep_view("1c9e04aa")  # doctest: +SKIP
    SweepView(filter="attributes.parent_run_id = '1c9e04aa'", metric='score', descending=True)
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import InvalidInput

SWEEP_SOURCE = "sweep"


class SweepView(NamedTuple):
    """How ``compare(sweep=...)`` shows a sweep: which runs, led by which metric, in which order."""

    filter: str
    metric: str | None
    descending: bool | None  # best first by the sweep's goal; None: no goal recorded


def sweep_view(sweep_run_id: str, filter: str | None = None, metric: str | None = None) -> SweepView:
    """The filter that selects a sweep's executions (and ``filter``), the metric to lead with,
    and the order its goal asks for.

    Example:
        >>> sweep_view("1c9e04aa")  # doctest: +SKIP
        SweepView(filter="attributes.parent_run_id = '1c9e04aa'", metric='score', descending=True)
    """
    from ..tracking.search import get_run

    if "'" in sweep_run_id:
        raise InvalidInput(f"{sweep_run_id!r} is not a run id")
    run = get_run(sweep_run_id)
    if run.info.source != SWEEP_SOURCE:
        raise InvalidInput(f"run {sweep_run_id} is not a sweep; pass the id `nbtrack sweep` printed")
    selection = f"attributes.parent_run_id = '{sweep_run_id}'"
    if filter:
        selection = f"({filter}) and {selection}"
    tags = run.data.tags
    led_by = metric or tags.get("nbtrack.sweep.metric")
    goal = tags.get("nbtrack.sweep.goal") if led_by == tags.get("nbtrack.sweep.metric") else None
    return SweepView(selection, led_by, None if goal is None else goal == "maximize")
