"""How nbtrack shows things, the same in every view: one run colour, one number format.

Pure functions, no heavy imports, so the server, the widgets, the static HTML
and the demo page can all use them.

Example:
    >>> from nbtrack.render import format_number, run_color
    >>> format_number(float("nan")), run_color("0" * 32) == run_color("0" * 32)
    ('NaN', True)
"""

from __future__ import annotations

from .colors import run_color
from .numbers import format_number

__all__ = ["format_number", "run_color"]
