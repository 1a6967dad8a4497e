"""The errors the REST API answers with, and the one table from exception type to status and code.

``nbtrack.server.api`` raises these (it never imports tornado); the handlers
translate them, nbtrack's own errors and tornado's ``HTTPError`` to JSON in
one place (:func:`classify`). Every error body carries a stable ``code``
(``docs/rest-api.md`` lists them) that clients branch on; the message is for
people and may change.

Example:
    >>> classify(Forbidden("store must stay under the server root"))
    (403, 'forbidden')
    >>> classify(KeyError("a bug"))
    (500, 'internal')
"""

from __future__ import annotations

import sqlite3

from ..errors import (
    FilterSyntaxError,
    InvalidInput,
    ModelError,
    NoStore,
    RegistryNotFound,
    RunNotFound,
    StoreError,
)

# The stable codes; a client may rely on exactly these strings.
CODES = (
    "no_store",
    "bad_filter",
    "bad_request",
    "not_found",
    "forbidden",
    "store_error",
    "timeout",
    "internal",
)


class ApiError(Exception):
    """An answer other than 200; ``status`` is the HTTP status, ``code`` the stable error code."""

    status = 500
    code = "internal"


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Forbidden(ApiError):
    """The request names something outside what the server may read (the root, a run's artifacts)."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class QueryTimeout(ApiError):
    """A read ran past its time limit; the store may be huge or locked."""

    status = 504
    code = "timeout"


# Most specific first: the first isinstance match decides. Order matters (NoStore is a
# StoreError, FilterSyntaxError an InvalidInput).
_BY_TYPE: tuple[tuple[type[BaseException], int, str], ...] = (
    (FilterSyntaxError, 400, "bad_filter"),
    (InvalidInput, 400, "bad_request"),
    (RunNotFound, 404, "not_found"),
    (RegistryNotFound, 404, "not_found"),
    # A run folder that holds no model, a changed model file: the request's mistake.
    (ModelError, 400, "bad_request"),
    (NoStore, 404, "no_store"),
    # A corrupt, foreign or newer-schema store is a conflict the user must resolve.
    (StoreError, 409, "store_error"),
    (sqlite3.DatabaseError, 409, "store_error"),
)

_BY_HTTP_STATUS = {400: "bad_request", 403: "forbidden", 404: "not_found", 504: "timeout"}


def classify(exc: BaseException) -> tuple[int, str]:
    """``(HTTP status, code)`` for any exception; an unexpected one is ``(500, "internal")``.

    Example:
        >>> classify(NoStore("no nbtrack store at /x"))
        (404, 'no_store')
    """
    if isinstance(exc, ApiError):
        return exc.status, exc.code
    for kind, status, code in _BY_TYPE:
        if isinstance(exc, kind):
            return status, code
    status = getattr(exc, "status_code", None)  # tornado.web.HTTPError, without importing tornado
    if isinstance(status, int) and 400 <= status < 600:
        return status, _BY_HTTP_STATUS.get(status, "internal" if status >= 500 else "bad_request")
    return 500, "internal"


def http_status_for(exc: BaseException) -> int | None:
    """The status for an exception the API expects, or None for a bug (answered as 500).

    Example:
        >>> http_status_for(RunNotFound("no run abc"))
        404
    """
    status, code = classify(exc)
    return None if code == "internal" else status


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (a filter error may quote a multi-line filter)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
