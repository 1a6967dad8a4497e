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
MAX_RUN_NAME_LENGTH = MAX_TAG_VALUE_LENGTH  # MLflow keeps the name as the tag mlflow.runName
MIN_STEP, MAX_STEP = -(2**63), 2**63 - 1  # what SQLite's INTEGER holds
MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_KEY_PATTERN = re.compile(r"^[\w\-. /:]+$")
# Keys already found valid: runs log the same few keys again and again, and checking one
# (a regex, a split) cost a tenth of a short run's start-to-end. Bounded: cleared when full.
_VALID_KEYS: set[str] = set()
_VALID_KEYS_LIMIT = 50_000


def check_key(key: object, kind: str) -> str:
    """Return ``key`` if it can name a metric, param or tag; raise ``InvalidInput`` otherwise."""
    if type(key) is str and key in _VALID_KEYS:
        return key
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{kind} key must be a non-empty string; got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"{kind} key is {len(key)} characters; the limit is {MAX_KEY_LENGTH}: shorten it")
    if not _KEY_PATTERN.match(key) or not key.isascii() and not _encodable(key) \
            or ".." in key.split("/") or key.startswith("/"):
        raise InvalidInput(
            f"{kind} key {key!r} may only hold letters, digits, '_', '-', '.', ' ', ':' and '/': rename it"
        )
    if type(key) is str:
        if len(_VALID_KEYS) >= _VALID_KEYS_LIMIT:
            _VALID_KEYS.clear()
        _VALID_KEYS.add(key)
    return key


def metric_value(key: str, value: Any) -> float:
    """A metric value as float; NaN and ±inf pass, anything non-numeric or beyond a float's
    range (``10**400``, ``Decimal("1e400")``) is refused."""
    if isinstance(value, float):
        return value
    if isinstance(value, (str, bytes)) or value is None:
        raise InvalidInput(
            f"metric {key!r} must be a number; got {type(value).__name__} {value!r:.60}: "
            "log strings with log_param or set_tag"
        )
    try:  # numpy scalars and 0-d arrays register as numbers.Real or convert cleanly
        result = float(value)
    except OverflowError:
        raise InvalidInput(f"metric {key!r} = {str(value)[:40]} is beyond a float's range "
                           "(about ±1.8e308): scale it or log its logarithm") from None
    except (TypeError, ValueError):
        raise InvalidInput(
            f"metric {key!r} must be a number; got {type(value).__name__} {value!r:.60}: "
            "log strings with log_param or set_tag"
        ) from None
    if math.isinf(result) and _finite_number(value):
        raise InvalidInput(f"metric {key!r} = {str(value)[:40]} is beyond a float's range "
                           "(about ±1.8e308): scale it or log its logarithm")
    return result


def _finite_number(value: Any) -> bool:
    """True when ``value`` itself is finite (a Decimal or int too large for a float)."""
    try:
        is_finite = getattr(value, "is_finite", None)
        if callable(is_finite):  # decimal.Decimal
            return bool(is_finite())
        return isinstance(value, numbers.Integral)
    except Exception:
        return False


def metric_step(step: Any) -> int:
    """A step as int, within what the store holds (a 64-bit integer)."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise InvalidInput(f"metric step must be an integer; got {step!r:.60}")
    step = int(step)
    if not MIN_STEP <= step <= MAX_STEP:
        raise InvalidInput(f"metric step {step} is out of range; steps are 64-bit integers "
                           f"({MIN_STEP} to {MAX_STEP})")
    return step


def metric_timestamp(timestamp: Any) -> int:
    """A timestamp in milliseconds since the epoch (MLflow's unit), from 0 to year 9999.

    Example:
        >>> metric_timestamp(1_700_000_000_000)
        1700000000000
    """
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Real):
        raise InvalidInput(f"timestamp must be milliseconds since the epoch (an int); got {timestamp!r:.60}")
    if isinstance(timestamp, float) and not math.isfinite(timestamp):
        raise InvalidInput(f"timestamp must be a finite number of milliseconds; got {timestamp!r}")
    if not 0 <= timestamp <= MAX_TIMESTAMP_MS:
        raise InvalidInput(f"timestamp {timestamp!r:.40} is out of range: give milliseconds since the "
                           f"epoch, 0 to {MAX_TIMESTAMP_MS} (e.g. int(time.time() * 1000))")
    return int(timestamp)


def run_name(name: Any) -> str | None:
    """A run name as given, or None; refused when it cannot be shown or stored as a name."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise InvalidInput(f"run_name must be a string; got {type(name).__name__}")
    if len(name) > MAX_RUN_NAME_LENGTH:
        raise InvalidInput(f"run_name is {len(name)} characters; the limit is {MAX_RUN_NAME_LENGTH}: "
                           "put long text in a tag or description")
    if "\x00" in name or not _encodable(name):
        raise InvalidInput("run_name holds a NUL byte or a lone surrogate, which cannot be stored: "
                           "pass plain text")
    return name


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def param_value(key: str, value: Any) -> str:
    return _bounded_text("param", key, value, MAX_PARAM_VALUE_LENGTH, "log_text or log_dict")


def tag_value(key: str, value: Any) -> str:
    return _bounded_text("tag", key, value, MAX_TAG_VALUE_LENGTH, "log_text")


def _bounded_text(kind: str, key: str, value: Any, limit: int, instead: str) -> str:
    """``value`` as stored text; refused past ``limit`` characters, naming what to use instead."""
    text = value if isinstance(value, str) else _stringify(value)
    if not _encodable(text):
        raise InvalidInput(f"{kind} {key!r} holds a lone surrogate, which cannot be stored as text: "
                           "pass valid Unicode")
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
