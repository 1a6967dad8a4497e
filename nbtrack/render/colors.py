"""A run's colour, derived from its id alone, so it never changes with the selection.

The compare curves, the static SVG, the runs sidebar (the server sends it in
each run summary) and the demo page all call :func:`run_color`. The palette
holds 12 saturated colours of distinct hue that read on a white and on a dark
background alike (no pale yellow, no grey). Two runs can share a colour;
hashing the id keeps each run's colour stable, which is what comparing by eye
across views and days needs (a colour by selection order changes whenever
the selection does).

Example:
    >>> run_color("3f2a9c0d" + "0" * 24)
    '#ef553b'
    >>> run_color("anything") == run_color("anything")
    True
"""

from __future__ import annotations

import zlib

PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#e377c2",
    "#bcbd22", "#17becf", "#8c564b", "#636efa", "#00cc96", "#ef553b",
)


def run_color(run_id: str) -> str:
    """The ``#rrggbb`` colour of the run ``run_id`` (crc32 of the id into ``PALETTE``)."""
    return PALETTE[zlib.crc32(run_id.encode("utf-8")) % len(PALETTE)]
