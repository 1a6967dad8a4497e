"""The errors the REST API answers with: each carries its HTTP status and a one-line message.

``nbtrack.server.api`` raises these (it never imports tornado); the handlers
translate them, and nbtrack's own errors, to JSON in one place
(:func:`http_status_for`).

Example:
    >>> http_status_for(Forbidden("store must stay under the server root"))
    403
"""

from __future__ import annotations

from ..errors import FilterSyntaxError, InvalidInput, RunNotFound, StoreError


class ApiError(Exception):
    """An answer other than 200; ``status`` is the HTTP status code."""

    status = 500


class BadRequest(ApiError):
    status = 400


class Forbidden(ApiError):
    """The request names something outside what the server may read (the root, a run's artifacts)."""

    status = 403


class NotFound(ApiError):
    status = 404


class QueryTimeout(ApiError):
    """A read ran past its time limit; the store may be huge or locked."""

    status = 504


def http_status_for(exc: BaseException) -> int | None:
    """The status for an exception the API expects, or None for a bug (answered as 500).

    Example:
        >>> http_status_for(RunNotFound("no run abc"))
        404
    """
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, (FilterSyntaxError, InvalidInput)):
        return 400
    if isinstance(exc, RunNotFound):
        return 404
    if isinstance(exc, StoreError):
        # An absent store is the common case (no %%track cell ran yet); a corrupt or
        # newer-schema store is a conflict the user must resolve, not a missing page.
        return 404 if "no nbtrack store" in str(exc) else 409
    return None


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (a filter error may quote a multi-line filter)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
