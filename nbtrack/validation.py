"""What nbtrack accepts as keys and values; each refusal is one line that names the fix.

The limits follow MLflow's, so a run that logs here also exports to an MLflow server.

Example:
    >>> check_key("val_loss", "metric")
    'val_loss'
    >>> metric_value("accuracy", 1)
    1.0
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from typing import Any

from .errors import InvalidInput

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
_KEY_PATTERN = re.compile(r"^[\w\-. /:]+$")


def check_key(key: object, kind: str) -> str:
    """Return ``key`` if it can name a metric, param or tag; raise ``InvalidInput`` otherwise."""
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{kind} key must be a non-empty string; got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"{kind} key is {len(key)} characters; the limit is {MAX_KEY_LENGTH}: shorten it")
    if not _KEY_PATTERN.match(key) or ".." in key.split("/") or key.startswith("/"):
        raise InvalidInput(
            f"{kind} key {key!r} may only hold letters, digits, '_', '-', '.', ' ', ':' and '/': rename it"
        )
    return key


def metric_value(key: str, value: Any) -> float:
    """A metric value as float; NaN and ±inf pass, anything non-numeric is refused."""
    if isinstance(value, (str, bytes)) or not isinstance(value, numbers.Real):
        try:  # numpy scalars and 0-d arrays register as numbers.Real or convert cleanly
            if isinstance(value, (str, bytes)):
                raise TypeError
            result = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"metric {key!r} must be a number; got {type(value).__name__} {value!r:.60}: "
                "log strings with log_param or set_tag"
            ) from None
        return result
    return float(value)


def metric_step(step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise InvalidInput(f"metric step must be an integer; got {step!r}")
    return int(step)


def param_value(key: str, value: Any) -> str:
    return _bounded_text("param", key, value, MAX_PARAM_VALUE_LENGTH, "log_text or log_dict")


def tag_value(key: str, value: Any) -> str:
    return _bounded_text("tag", key, value, MAX_TAG_VALUE_LENGTH, "log_text")


def _bounded_text(kind: str, key: str, value: Any, limit: int, instead: str) -> str:
    """``value`` as stored text; refused past ``limit`` characters, naming what to use instead."""
    text = value if isinstance(value, str) else _stringify(value)
    if len(text) > limit:
        raise InvalidInput(
            f"{kind} {key!r} is {len(text)} characters; the limit is {limit}: log long values with {instead}"
        )
    return text


def checked_params(params: Mapping[str, Any]) -> dict[str, str]:
    _require_mapping(params, "log_params")
    return {check_key(k, "param"): param_value(k, v) for k, v in params.items()}


def checked_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    if tags is None:
        return {}
    _require_mapping(tags, "tags")
    return {check_key(k, "tag"): tag_value(k, v) for k, v in tags.items()}


def _require_mapping(value: object, what: str) -> None:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} takes a dict of key -> value; got {type(value).__name__}")


def _stringify(value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return str(value)
