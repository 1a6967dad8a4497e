"""How nbtrack shows things, decided once and the same in every view: one run colour
(``colors``), one number format (``numbers``), one JSON encoding of numbers
(``json_values``), one run as JSON (``run_json``), theme-following inline colours
(``theme``) and one downsampler (``downsample``).

Pure functions, no heavy imports (numpy loads on first use), so the server, the widgets,
the terminal, the static HTML and the demo page can all use them.

Example:
    >>> from nbtrack.render import format_number, run_color
    >>> format_number(float("nan")), run_color("0" * 32) == run_color("0" * 32)
    ('NaN', True)
"""

from __future__ import annotations

from .colors import run_color
from .numbers import format_number

__all__ = ["format_number", "run_color"]
