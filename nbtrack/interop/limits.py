"""MLflow's limits, checked before anything is sent, and batches cut to fit them.

From MLflow's ``utils/validation.py``: a ``log_batch`` request holds at most 1,000
metrics, 100 params, 100 tags, 1,000 entities in all and 1 MB; names match
``^[/\\w.\\- :]*$``, are normalized paths and at most 250 characters; a param value
holds at most 6,000 characters, a tag value 8,000.

Example:
    >>> name_problem("loss/train")
    >>> name_problem("bad#key")
    "'bad#key' holds characters MLflow refuses (letters, digits, _ - . space : / only)"
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

MAX_METRICS = 1000
MAX_PARAMS = 100
MAX_TAGS = 100
MAX_REQUEST_BYTES = 1_000_000
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_EXPERIMENT_NAME = 500
MAX_DIGEST = 36  # a dataset's digest
# Room left for JSON framing and escaping in a request.
_BUDGET = 800_000

_NAME = re.compile(r"^[/\w.\- :]*$")

T = TypeVar("T")


def name_problem(key: str) -> str | None:
    """Why MLflow would refuse ``key`` as a metric, param or tag name, or None."""
    if len(key) > MAX_KEY:
        return f"{key[:40]!r}… is longer than MLflow's {MAX_KEY} characters"
    if not _NAME.match(key):
        return f"{key!r} holds characters MLflow refuses (letters, digits, _ - . space : / only)"
    if posixpath.normpath(key) != key or key.startswith(("..", "/")):
        return f"{key!r} is not a normalized path (MLflow refuses '//', '/./', '..' and a leading '/')"
    return None


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def sized_batches(pairs: Iterable[tuple[str, str]], count: int) -> Iterator[list[tuple[str, str]]]:
    """``(key, value)`` pairs in batches of at most ``count`` and about 800 kB each."""
    batch: list[tuple[str, str]] = []
    size = 0
    for key, value in pairs:
        weight = 2 * (len(key) + len(value)) + 40  # escaped UTF-8 can double a character
        if batch and (len(batch) == count or size + weight > _BUDGET):
            yield batch
            batch, size = [], 0
        batch.append((key, value))
        size += weight
    if batch:
        yield batch
