"""The one way nbtrack puts numbers into JSON (the REST API, ``nbtrack show --format json``).

JSON has no NaN or infinities, and a value that changed on the way is worse than none:

- a finite float goes as itself (Python's ``repr``: the exact double comes back);
- NaN goes as ``null`` (a logged NaN, shown as "NaN" by the views);
- ±infinity goes as the strings ``"Infinity"`` / ``"-Infinity"`` (a loss that diverged is
  worth showing; JavaScript's ``Number("Infinity")`` reads it back).

``from_json_number`` is the inverse, so a client can recover the exact value.

Example:
    >>> json_number(float("inf")), json_number(float("nan")), json_number(0.5)
    ('Infinity', None, 0.5)
    >>> from_json_number("-Infinity")
    -inf
"""

from __future__ import annotations

import math
from typing import Any


def json_number(value: float | None) -> float | str | None:
    """``value`` as JSON can carry it (see the module docstring)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def from_json_number(value: float | str | None) -> float:
    """The float ``json_number`` encoded (``None`` is NaN)."""
    if value is None:
        return math.nan
    return float(value)


def jsonable(value: Any) -> Any:
    """``value`` with every non-finite float mapped by :func:`json_number` (data profiles hold NaN).

    Example:
        >>> jsonable({"mean": float("nan"), "xs": [1.0, float("-inf")]})
        {'mean': None, 'xs': [1.0, '-Infinity']}
    """
    if isinstance(value, float):
        return json_number(value)
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value
