"""The one number format of nbtrack's views.

Every place that shows a metric or param number (compare table and charts,
run summaries, the sidebar payloads, static SVG/HTML, the demo page, the
text tables) goes through :func:`format_number`, so a value reads the same
everywhere. The rules:

- ``None`` is the empty string (a run that never logged the key);
- NaN is ``"NaN"`` (a run that logged NaN), infinities are ``"inf"`` and ``"-inf"``;
- integral values print without a point (``3.0`` is ``"3"``) up to 1e15;
- anything else has ``digits`` significant digits (4 by default), ``1e-05`` style
  exponents for very small or large magnitudes (Python's ``g`` format).

Example:
    >>> [format_number(v) for v in (0.912345, 3.0, float("nan"), float("-inf"), None, 1.5e-7)]
    ['0.9123', '3', 'NaN', '-inf', '', '1.5e-07']
    >>> format_number(0.973333333, digits=6)
    '0.973333'
"""

from __future__ import annotations

import math

NAN_TEXT = "NaN"
DEFAULT_DIGITS = 4


def format_number(value: float | None, digits: int = DEFAULT_DIGITS) -> str:
    """``value`` as nbtrack's views show it (see the module docstring for the rules)."""
    if value is None:
        return ""
    if isinstance(value, bool):  # a bool is an int to Python; show it as written
        return str(value)
    try:
        number = float(value)  # ints, floats and numpy scalars alike
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return NAN_TEXT
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return f"{number:.{digits}g}"
