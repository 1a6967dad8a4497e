"""Thin tornado handlers over :mod:`nbtrack.server.api`: parse the query, call, answer JSON.

Every method is ``@tornado.web.authenticated`` (tests run the server with
``allow_unauthenticated_access=False``, so a missing decorator fails them).
Store reads run on nbtrack's own small thread pool with a deadline, so a slow
or stuck read never stalls the server and never takes the threads Jupyter's
own endpoints use; all exceptions become JSON with a stable ``code`` in one
place, :meth:`NbtrackHandler.write_error`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..render.json_values import jsonable
from . import api, jobs, registry_api
from .errors import BadRequest, QueryTimeout, classify, http_status_for, one_line

T = TypeVar("T")

API_PREFIX = "nbtrack/api"
RUN_ID = r"(?P<run_id>[0-9A-Za-z_-]{1,64})"
CHUNK = 1 << 16
READ_WORKERS = 4
# A read waits in the queue plus runs (SQLite interrupts it at api.READ_TIME_LIMIT_S); past
# this the client gets 504 even if a thread is still stuck, and the event loop moves on.
REQUEST_TIME_LIMIT_S = api.READ_TIME_LIMIT_S + 5.0

# nbtrack's reads never use the loop's default executor, which Jupyter's handlers share.
_READS = concurrent.futures.ThreadPoolExecutor(READ_WORKERS, thread_name_prefix="nbtrack-read")


class NbtrackHandler(APIHandler):
    """Base handler: where the server root is, query parsing, and the exception → JSON translator."""

    @property
    def root_dir(self) -> str:
        return self.settings["nbtrack_root_dir"]

    @property
    def store(self) -> str:
        return self.get_query_argument("store", "")

    def int_argument(self, name: str, default: int, low: int, high: int) -> int:
        """The query argument ``name`` as a decimal integer in ``[low, high]``, else 400 bad_request."""
        text = self.get_query_argument(name, None)
        if text is None or text == "":
            return default
        stripped = text.strip()
        # Only ASCII digits: int() would also take "1_000", "\u0661" and 4,000-digit numbers.
        digits = stripped[1:] if stripped[:1] in ("-", "+") else stripped
        if digits.isascii() and digits.isdigit() and len(digits) <= len(str(high)):
            value = int(stripped)
            if low <= value <= high:
                return value
        raise BadRequest(f"{name} must be a whole number from {low:,} to {high:,}; got {text[:40]!r}")

    async def answer(self, work: Callable[[], T]) -> T:
        """Run ``work`` (a store read) on nbtrack's read pool; past the deadline answer 504."""
        future = asyncio.get_running_loop().run_in_executor(_READS, work)
        try:
            return await asyncio.wait_for(future, REQUEST_TIME_LIMIT_S)
        except asyncio.TimeoutError:
            raise QueryTimeout(
                f"the store did not answer within {REQUEST_TIME_LIMIT_S:g} s; it may be locked "
                "or on a slow disk, try again"
            ) from None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """The one exception → JSON translator: ``{"message", "reason", "code"}`` for every error."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        self.clear_header("Content-Disposition")
        self.set_header("Content-Type", "application/json")
        if exc is None:
            exc = tornado.web.HTTPError(status_code)
        status, code = classify(exc)
        if isinstance(exc, tornado.web.HTTPError):  # e.g. 403 from @authenticated
            reason = exc.reason
            message = exc.log_message or reason or self._reason
        elif code == "internal":
            # A bug: the traceback goes to the server log (log_exception), not to the client.
            reason, message = None, "internal error in nbtrack; see the server log"
        else:
            reason, message = type(exc).__name__, one_line(exc)
        self.set_status(status, reason=reason)
        body = {"message": message, "reason": reason, "code": code}
        self.finish(json.dumps(body))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # A refused path or a bad filter is the client's mistake: one log line, no traceback.
        if value is not None and http_status_for(value) is not None:
            self.log.info(
                "nbtrack API %s %s: %s", self.request.method, self.request.path, one_line(value)
            )
            return
        super().log_exception(typ, value, tb)

    async def json_answer(self, work: Callable[[], Any]) -> None:
        self.finish(json.dumps(jsonable(await self.answer(work)), allow_nan=False))

    @property
    def jobs(self) -> jobs.JobBoard:
        return self.settings["nbtrack_jobs"]

    def body(self, **fields: type | tuple[type, ...]) -> dict[str, Any]:
        """The JSON body's ``fields``, each checked to be of its type (else 400 naming the shape)."""
        try:
            body = self.get_json_body() or {}
        except tornado.web.HTTPError:
            body = None
        shape = "{" + ", ".join(f'"{name}": ...' for name in fields) + "}"
        if not isinstance(body, dict):
            raise BadRequest(f"the body must be a JSON object {shape}")
        values = {}
        for name, kind in fields.items():
            value = body.get(name)
            optional = isinstance(kind, tuple) and type(None) in kind
            if (value is None and not optional) or (value is not None and not isinstance(value, kind)):
                raise BadRequest(f"the body needs {name!r} ({_kind_name(kind)}): {shape}")
            values[name] = value
        return values


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({str: "text", int: "a number", bool: "true/false", dict: "an object"}.get(k, k.__name__)
                       for k in kinds if k is not type(None))


class StatusHandler(NbtrackHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("nbtrack")
        except PackageNotFoundError:  # running from a source tree without an install
            installed = None
        self.finish(json.dumps({"ok": True, "version": installed}))


class ExperimentsHandler(NbtrackHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.json_answer(functools.partial(api.list_experiments, self.root_dir, self.store))


class RunsHandler(NbtrackHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.json_answer(
            functools.partial(
                api.list_runs,
                self.root_dir,
                self.store,
                filter_string=self.get_query_argument("filter", ""),
                experiment=self.get_query_argument("experiment", None) or None,
                order_by=self.get_query_arguments("order_by"),
                offset=self.int_argument("offset", 0, 0, api.MAX_OFFSET),
                limit=self.int_argument("limit", api.DEFAULT_PAGE, 1, api.MAX_PAGE),
            )
        )


class RunHandler(NbtrackHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        await self.json_answer(functools.partial(api.get_run, self.root_dir, self.store, run_id))


class MetricHistoryHandler(NbtrackHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        await self.json_answer(
            functools.partial(
                api.metric_history,
                self.root_dir,
                self.store,
                run_id,
                self.get_query_argument("key", ""),
                self.int_argument("max_points", api.DEFAULT_MAX_POINTS, 1, api.MAX_POINTS),
            )
        )


class ArtifactHandler(NbtrackHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str, path: str) -> None:
        download = self.get_query_argument("download", "") not in ("", "0", "false")
        found = await self.answer(
            functools.partial(api.artifact, self.root_dir, self.store, run_id, path, download)
        )
        self.set_header("Content-Length", str(found.size))
        self.set_header("X-Content-Type-Options", "nosniff")
        # Even if a browser renders it, an artifact runs no script and reaches nothing.
        self.set_header(
            "Content-Security-Policy",
            "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'",
        )
        self.set_header("Content-Type", found.content_type)  # sent with the first chunk
        disposition = "attachment" if found.attachment else "inline"
        self.set_header(
            "Content-Disposition", f"{disposition}; filename*=UTF-8''{quote(found.filename)}"
        )
        # Opening is instant: api.artifact checked it is a regular file. Reads go to our pool.
        with open(found.path, "rb") as handle:  # noqa: ASYNC230
            while chunk := await self.answer(functools.partial(handle.read, CHUNK)):
                self.write(chunk)
                await self.flush()
        self.finish(set_content_type=found.content_type)


class SnapshotHandler(NbtrackHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        filename, notebook = await self.answer(
            functools.partial(api.notebook_snapshot, self.root_dir, self.store, run_id)
        )
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(filename)}")
        self.finish(
            json.dumps(jsonable(notebook), allow_nan=False),
            set_content_type="application/x-ipynb+json",
        )


class CellRunsHandler(NbtrackHandler):
    @tornado.web.authenticated
    async def get(self, cell_id: str) -> None:
        await self.json_answer(
            functools.partial(
                api.cell_runs, self.root_dir, self.store, cell_id, self.int_argument("limit", 50, 1, api.MAX_PAGE)
            )
        )


class CellsHandler(NbtrackHandler):
    """``POST {"cell_ids": [...]}``: a notebook's badge data in one request (a GET URL would overflow)."""

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.get_json_body() or {}
        cell_ids = body.get("cell_ids") if isinstance(body, dict) else None
        if not isinstance(cell_ids, list) or not all(isinstance(c, str) for c in cell_ids):
            raise tornado.web.HTTPError(400, 'body must be {"cell_ids": ["<cell id>", ...]}')
        await self.json_answer(
            functools.partial(api.cells_summary, self.root_dir, self.store, cell_ids)
        )


class ModelsHandler(NbtrackHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.json_answer(functools.partial(registry_api.list_models, self.root_dir, self.store))


class RunModelsHandler(NbtrackHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        await self.json_answer(functools.partial(registry_api.run_models, self.root_dir, self.store, run_id))


class RegisterModelHandler(NbtrackHandler):
    """``POST {"run_id", "path", "name"}``: register the run's logged model as a new version."""

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.body(run_id=str, path=str, name=str)
        await self.json_answer(functools.partial(registry_api.register, self.root_dir, self.store, **body))


class SetAliasHandler(NbtrackHandler):
    """``POST {"name", "alias", "version"}``: set or move an alias."""

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.body(name=str, alias=str, version=(int, str))
        await self.json_answer(functools.partial(registry_api.set_alias, self.root_dir, self.store, **body))


class DeleteAliasHandler(NbtrackHandler):
    """``POST {"name", "alias"}``: remove an alias (kept in the model's history)."""

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.body(name=str, alias=str)
        await self.json_answer(functools.partial(registry_api.delete_alias, self.root_dir, self.store, **body))


class StageHandler(NbtrackHandler):
    """``POST {"name", "version", "stage", "archive_existing_versions"}``: move a version's stage."""

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.body(name=str, version=(int, str), stage=str, archive_existing_versions=(bool, type(None)))
        body["archive_existing_versions"] = bool(body["archive_existing_versions"])
        await self.json_answer(
            functools.partial(registry_api.transition_stage, self.root_dir, self.store, **body))


class JobOptionsHandler(NbtrackHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        await self.json_answer(functools.partial(jobs.job_options, self.root_dir, self.store, run_id))


class ReproduceHandler(NbtrackHandler):
    """``POST``: start reproducing the run in the background; answers the job to poll."""

    @tornado.web.authenticated
    async def post(self, run_id: str) -> None:
        job = await self.answer(
            functools.partial(jobs.start_reproduce, self.jobs, self.root_dir, self.store, run_id))
        self.set_status(202)
        self.finish(json.dumps(jsonable(job.as_json())))


class RunAgainHandler(NbtrackHandler):
    """``POST {"parameters": {...}}``: run the run's notebook again with these parameters."""

    @tornado.web.authenticated
    async def post(self, run_id: str) -> None:
        parameters = self.body(parameters=dict)["parameters"]
        job = await self.answer(functools.partial(
            jobs.start_rerun, self.jobs, self.root_dir, self.store, run_id, parameters))
        self.set_status(202)
        self.finish(json.dumps(jsonable(job.as_json())))


class JobsHandler(NbtrackHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        self.finish(json.dumps(jsonable({"jobs": [job.as_json() for job in self.jobs.list(self.store)]})))


class JobHandler(NbtrackHandler):
    @tornado.web.authenticated
    def get(self, job_id: str) -> None:
        self.finish(json.dumps(jsonable(self.jobs.get(job_id).as_json())))


# The one route table: (pattern under /nbtrack/api/, handler).
ROUTES: list[tuple[str, type[NbtrackHandler]]] = [
    ("status", StatusHandler),
    ("experiments", ExperimentsHandler),
    ("runs", RunsHandler),
    (f"runs/{RUN_ID}", RunHandler),
    (f"runs/{RUN_ID}/metric-history", MetricHistoryHandler),
    (f"runs/{RUN_ID}/artifacts/(?P<path>.+)", ArtifactHandler),
    (f"runs/{RUN_ID}/snapshot", SnapshotHandler),
    ("cells", CellsHandler),
    (r"cells/(?P<cell_id>[^/]{1,200})/runs", CellRunsHandler),
    ("models", ModelsHandler),
    ("models/register", RegisterModelHandler),
    ("models/alias", SetAliasHandler),
    ("models/alias/delete", DeleteAliasHandler),
    ("models/stage", StageHandler),
    (f"runs/{RUN_ID}/models", RunModelsHandler),
    (f"runs/{RUN_ID}/jobs", JobOptionsHandler),
    (f"runs/{RUN_ID}/reproduce", ReproduceHandler),
    (f"runs/{RUN_ID}/run-again", RunAgainHandler),
    ("jobs", JobsHandler),
    (r"jobs/(?P<job_id>[0-9a-f]{32})", JobHandler),
]


def setup_handlers(web_app: Any, root_dir: str) -> None:
    """Register ``ROUTES`` under ``<base_url>nbtrack/api/`` and remember the server root."""
    web_app.settings["nbtrack_root_dir"] = root_dir
    web_app.settings["nbtrack_jobs"] = jobs.JobBoard()
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base_url, API_PREFIX, pattern) + "/?$", handler)
            for pattern, handler in ROUTES
        ],
    )


class StoreStatusHandler(NbtrackHandler):
    """``GET store``: whether the store exists yet. Always 200, so a notebook whose directory has
    no store (no ``%%track`` cell ran yet) is an empty state in the browser, not a red 404."""

    @tornado.web.authenticated
    async def get(self) -> None:
        from .paths import store_location

        location = store_location(self.root_dir, self.store)
        self.finish(json.dumps({"store": self.store, "exists": location.database.exists()}))


ROUTES.append(("store", StoreStatusHandler))
