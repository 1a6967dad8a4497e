"""Hostile requests to the REST API on a real Jupyter server (issue #14, items 3, 4 and 9).

The server runs in this process (pytest-jupyter) with authentication on. A
store here may be a FIFO, filters may be absurd, numbers huge, series long:
every answer must come back, quickly, as JSON with a stable ``code``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lab.stores import build_demo_store
from test_server_api import STORE, api, demo, jp_server_config, refused  # noqa: F401 (fixtures)
from tornado.httpclient import HTTPClientError

from nbtrack.server.errors import CODES

pytest_plugins = ["pytest_jupyter.jupyter_server"]

REPO = Path(__file__).resolve().parent.parent
ANSWER_WITHIN_S = 30  # generous: an answer at all is the point (the old server never answered)


def _fifo_store(root: Path, name: str, *, side: str = "") -> Path:
    """``root/name/.nbtrack/nbtrack.db<side>`` as a FIFO (beside a real store when ``side``)."""
    if side:
        build_demo_store(root / name)
    folder = root / name / ".nbtrack"
    folder.mkdir(parents=True, exist_ok=True)
    fifo = folder / f"nbtrack.db{side}"
    if side and fifo.exists():
        fifo.unlink()  # the real store's own -wal/-shm, replaced by a FIFO
    os.mkfifo(fifo)
    return fifo


def _release(fifo: Path) -> None:
    """Unblock any reader stuck opening ``fifo`` (only an unfixed server has one): a writer that
    appears and closes at once gives it end-of-file."""
    os.close(os.open(fifo, os.O_RDWR | os.O_NONBLOCK))


async def test_a_fifo_store_answers_at_once_and_jupyter_keeps_answering(jp_root_dir, api, jp_fetch):
    fifo = _fifo_store(jp_root_dir, "pipe")
    try:
        stuck = [refused(api, "runs", store="pipe") for _ in range(12)]
        jupyter = jp_fetch("api", "status")  # Jupyter's own endpoint, alongside
        answers = await asyncio.wait_for(asyncio.gather(*stuck, jupyter), ANSWER_WITHIN_S)
    finally:
        _release(fifo)
    *refusals, status = answers
    assert status.code == 200
    for code, body in refusals:
        assert (code, body["code"]) == (409, "store_error"), body
        assert "FIFO" in body["message"]


@pytest.mark.parametrize("side", ["-wal", "-shm", "-journal"])
async def test_a_fifo_beside_the_database_is_refused(jp_root_dir, api, side):
    fifo = _fifo_store(jp_root_dir, "side", side=side)
    try:
        code, body = await asyncio.wait_for(refused(api, "runs", store="side"), ANSWER_WITHIN_S)
    finally:
        _release(fifo)
    assert (code, body["code"]) == (409, "store_error") and side in body["message"]


HOSTILE_FILTERS = [
    "(" * 1000 + "metrics.acc > 1" + ")" * 1000,
    " OR ".join(["metrics.acc > 1"] * 1100),
    "attributes.start_time > 99999999999999999999",
    "params.alpha LIKE '" + "%a" * 15000 + "'",
]


@pytest.mark.parametrize("filter_string", HOSTILE_FILTERS, ids=lambda f: f[:30])
async def test_hostile_filters_are_400_bad_filter(demo, api, filter_string):
    code, body = await refused(api, "runs", filter=filter_string)
    assert (code, body["code"]) == (400, "bad_filter"), body
    assert "\n" not in body["message"]


async def test_too_many_order_by_clauses_are_bad_filter(demo, jp_fetch):
    import nbtrack
    from nbtrack.errors import FilterSyntaxError

    # 2,000 clauses used to reach SQLite ("too many terms in ORDER BY clause", a 500 over REST).
    nbtrack.set_tracking_uri(demo.directory / ".nbtrack")
    with pytest.raises(FilterSyntaxError, match="order_by"):
        nbtrack.search_runs(order_by=["metrics.acc"] * 2000)
    params = [("store", STORE)] + [("order_by", "metrics.acc")] * 100  # a URL this long is fine
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("nbtrack", "api", "runs", params=params)
    body = json.loads(caught.value.response.body)
    assert (caught.value.code, body["code"]) == (400, "bad_filter") and "order_by" in body["message"]


async def test_a_lone_surrogate_is_a_400(demo, api, http_server_client, jp_base_url, jp_auth_header):
    # A query string cannot carry one (tornado refuses invalid UTF-8), a JSON body can.
    code, body = await refused(api, "cells", body={"cell_ids": ["cell-1", "\ud800"]})
    assert (code, body["code"]) == (400, "bad_request"), body
    response = await http_server_client.fetch(
        f"{jp_base_url}nbtrack/api/runs?store={STORE}&filter=params.alpha%20%3D%20%27%ED%A0%80%27",
        headers=jp_auth_header, raise_error=False,
    )
    assert response.code == 400 and json.loads(response.body)["code"] == "bad_request"


async def test_a_key_with_dots_and_digits_filters_over_rest(jp_root_dir, api):
    import nbtrack
    from lab.stores import tracking

    with tracking(jp_root_dir / "dotted", "dots"):
        with nbtrack.start_run(run_name="layered"):
            nbtrack.log_metric("layer.0.loss", 0.25)
    for filter_string in ("metrics.layer.0.loss < 0.5", "metrics.`layer.0.loss` < 0.5"):
        page = await api("runs", store="dotted", filter=filter_string)
        assert [run["run_name"] for run in page["runs"]] == ["layered"]


@pytest.mark.parametrize("param, value", [
    ("offset", "99999999999999999999"),
    ("offset", "-1"),
    ("offset", "ten"),
    ("offset", "1_000"),
    ("offset", "١٢"),  # Arabic-Indic digits: int() would take them
    ("limit", "-5"),
    ("limit", "0"),
    ("limit", "9" * 5000),  # int() refuses past 4,300 digits with a ValueError of its own
])
async def test_bad_numbers_are_400_bad_request(demo, api, param, value):
    code, body = await refused(api, "runs", **{param: value})
    assert (code, body["code"]) == (400, "bad_request"), body
    assert f"{param} must be a whole number from" in body["message"]


async def test_bad_max_points_is_400_bad_request(demo, api):
    run_id = demo.run_ids["a0"]
    for value in ("0", "-1", "20001", "1e3", "99999999999999999999"):
        code, body = await refused(api, f"runs/{run_id}/metric-history", key="loss", max_points=value)
        assert (code, body["code"]) == (400, "bad_request"), (value, body)


async def test_every_error_carries_a_code(demo, api, jp_root_dir, http_server_client, jp_base_url):
    (jp_root_dir / "garbage" / ".nbtrack").mkdir(parents=True)
    (jp_root_dir / "garbage" / ".nbtrack" / "nbtrack.db").write_bytes(b"not sqlite at all" * 100)
    (jp_root_dir / "empty").mkdir()
    cases = [
        ({"path": "runs", "store": "empty"}, 404, "no_store"),
        ({"path": "runs/nosuchrun"}, 404, "not_found"),
        ({"path": f"runs/{demo.run_ids['a0']}/metric-history", "key": "nope"}, 404, "not_found"),
        ({"path": "runs", "store": "../.."}, 403, "forbidden"),
        ({"path": "runs", "store": "garbage"}, 409, "store_error"),
        ({"path": "runs", "filter": "metrics.acc >"}, 400, "bad_filter"),
        ({"path": "runs", "experiment": "no-such-experiment"}, 404, "not_found"),
    ]
    for params, status, code in cases:
        path = params.pop("path")
        got_status, body = await refused(api, path, **params)
        assert (got_status, body["code"]) == (status, code), (path, params, body)
        assert body["message"] and body["code"] in CODES
    # Without a token: Jupyter's 403, still in our shape.
    response = await http_server_client.fetch(
        f"{jp_base_url}nbtrack/api/runs?store={STORE}", raise_error=False
    )
    assert response.code == 403 and json.loads(response.body)["code"] == "forbidden"


async def test_timeouts_are_504_timeout(demo, api, jp_root_dir, monkeypatch):
    """Both limits: SQLite's per-statement time limit, and the request deadline (queue included)."""
    from nbtrack.server import api as server_api
    from nbtrack.server import handlers
    from nbtrack.server.errors import QueryTimeout

    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    with pytest.raises(QueryTimeout, match="longer than 0.2 s"):
        with server_api.reading(jp_root_dir, STORE, time_limit=0.2) as store:
            store.conn.execute(endless).fetchone()
    monkeypatch.setattr(handlers, "REQUEST_TIME_LIMIT_S", 0.0)
    code, body = await refused(api, "runs")
    assert (code, body["code"]) == (504, "timeout") and "did not answer" in body["message"]


async def test_a_bug_is_500_internal_without_details(demo, api, monkeypatch):
    from nbtrack.server import api as server_api

    def broken(*args, **kwargs):
        raise KeyError("secret detail")

    monkeypatch.setattr(server_api, "list_experiments", broken)  # fault injection: a bug
    code, body = await refused(api, "experiments")
    assert (code, body["code"]) == (500, "internal") and "secret" not in json.dumps(body)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(filter_string=st.text(max_size=200) | st.text(alphabet="()metrics.acc <>=!'\"`OR AND 0123456789.eE-+", max_size=200))
def test_any_filter_text_is_answered_or_400(demo, jp_fetch, filter_string):
    """Whatever the filter, the server answers 200 or a 400 bad_filter, never a 500."""

    async def call():
        try:
            response = await jp_fetch("nbtrack", "api", "runs", params={"store": STORE, "filter": filter_string})
            return response.code, json.loads(response.body)
        except HTTPClientError as error:
            return error.code, json.loads(error.response.body)

    code, body = asyncio.get_event_loop().run_until_complete(call())
    assert code == 200 or (code, body["code"]) == (400, "bad_filter"), (filter_string, body)


# --- item 9: a long series ---------------------------------------------------------------


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


BUILD_LONG_SERIES = """
import sys, nbtrack
nbtrack.set_tracking_uri(sys.argv[1])
with nbtrack.start_run(run_name="long") as run:
    for i in range(3_000_000):
        nbtrack.log_metric("loss", 50.0 if i == 1_234_567 else 1.0 / (i + 1), step=i)
nbtrack.flush()
print(run.info.run_id)
"""


@pytest.mark.slow
async def test_a_three_million_point_history_is_thinned_in_sql(jp_root_dir, api, record_property):
    built = subprocess.run(
        [sys.executable, "-c", BUILD_LONG_SERIES, str(jp_root_dir / "long" / ".nbtrack")],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert built.returncode == 0, built.stderr
    run_id = built.stdout.strip()
    path = f"runs/{run_id}/metric-history"
    await api("experiments", store="long")  # the server's own start-up costs, before measuring
    rss_before = _rss_mb()
    started = time.perf_counter()
    history = await api(path, store="long", key="loss")
    elapsed = time.perf_counter() - started
    together_started = time.perf_counter()
    four = await asyncio.gather(*[api(path, store="long", key="loss") for _ in range(4)])
    together = time.perf_counter() - together_started
    growth = _rss_mb() - rss_before
    record_property("metric_history_3M_s", round(elapsed, 2))
    record_property("metric_history_3M_four_at_once_s", round(together, 2))
    record_property("metric_history_3M_rss_growth_mb", round(growth, 1))
    print(f"3M-point history: {elapsed:.2f} s; four at once {together:.2f} s; RSS +{growth:.1f} MB")
    assert history["total_points"] == 3_000_000 and history["downsampled"]
    assert len(history["points"]) <= 500
    assert max(p["value"] for p in history["points"]) == 50.0  # the spike survives
    steps = [p["step"] for p in history["points"]]
    assert steps[0] == 0 and steps[-1] == 2_999_999 and steps == sorted(steps)
    assert all(answer == history for answer in four)
    assert elapsed < 5 and growth < 100  # generous; the report gives the measured figures
