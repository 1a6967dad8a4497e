"""The REST API against a real Jupyter server (pytest-jupyter) and real stores.

The server runs with ``allow_unauthenticated_access=False``, so a handler
that forgot ``@tornado.web.authenticated`` answers 403 with no token only by
accident: ``test_every_route_refuses_requests_without_a_token`` checks each route.
"""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest
from conftest import server_api
from lab.stores import (
    HTML_ARTIFACT,
    PNG_ARTIFACT,
    SNAPSHOT,
    SVG_ARTIFACT,
    build_demo_store,
    build_many_runs,
)
from tornado.httpclient import HTTPClientError

pytest_plugins = ["pytest_jupyter.jupyter_server"]

STORE = "projects/demo"  # relative to the server root: the directory holding .nbtrack/


@pytest.fixture
def jp_server_config():
    return {
        "ServerApp": {
            "jpserver_extensions": {"nbtrack.server": True},
            "allow_unauthenticated_access": False,
        }
    }


@pytest.fixture
def demo(jp_root_dir):
    return build_demo_store(jp_root_dir / STORE)


@pytest.fixture
def api(jp_fetch):
    return server_api(jp_fetch, STORE)


async def refused(call, path: str, **params: object) -> tuple[int, dict]:
    """Call and expect an error answer; return (status, JSON body)."""
    with pytest.raises(HTTPClientError) as caught:
        await call(path, **params)
    return caught.value.code, json.loads(caught.value.response.body)


async def test_every_route_refuses_requests_without_a_token(
    recwarn, demo, http_server_client, jp_base_url
):
    # jupyter_server warns at start-up about any handler method left unauthenticated.
    unauthenticated = [
        str(w.message) for w in recwarn if "without @allow_unauthenticated" in str(w.message)
    ]
    assert not any("nbtrack" in message for message in unauthenticated), unauthenticated
    run_id = demo.run_ids["a0"]
    paths = [
        "status",
        "experiments",
        "runs",
        f"runs/{run_id}",
        f"runs/{run_id}/metric-history?key=loss",
        f"runs/{run_id}/artifacts/notes.txt",
        f"runs/{run_id}/snapshot",
        "cells/cell-1/runs",
    ]
    for path in paths:
        separator = "&" if "?" in path else "?"
        url = f"{jp_base_url}nbtrack/api/{path}{separator}store={STORE}"
        response = await http_server_client.fetch(url, raise_error=False)
        assert response.code == 403, (path, response.code)
        assert b"report" not in response.body and b"hello" not in response.body
    response = await http_server_client.fetch(
        f"{jp_base_url}nbtrack/api/cells?store={STORE}", method="POST", body="{}", raise_error=False
    )
    assert response.code == 403


async def test_status_answers_with_a_token(api):
    assert (await api("status"))["ok"] is True


async def test_runs_pages_cover_every_run_once(demo, api):
    seen: list[str] = []
    for offset in range(0, 10, 3):
        page = await api("runs", offset=offset, limit=3)
        assert page["total"] == 7
        seen += [run["run_id"] for run in page["runs"]]
    assert sorted(seen) == sorted(demo.run_ids.values())
    newest_first = await api("runs", limit=7)
    starts = [run["start_time"] for run in newest_first["runs"]]
    assert starts == sorted(starts, reverse=True)


async def test_runs_filter_experiment_and_order(demo, api):
    page = await api("runs", filter="metrics.acc >= 0.3")
    assert [run["run_name"] for run in page["runs"]] == ["b0", "a4", "a3"]
    # A run without the param does not match a condition on it (MLflow's rule): b0 drops out.
    page = await api("runs", filter="metrics.acc >= 0.3 AND params.alpha != '4'")
    assert [run["run_name"] for run in page["runs"]] == ["a3"]
    assert page["total"] == 1
    only_b = await api("runs", experiment="exp-b")
    assert [run["run_name"] for run in only_b["runs"]] == ["b0"]
    by_acc = await api("runs", experiment="exp-a", order_by="metrics.acc ASC", limit=2)
    assert [run["run_name"] for run in by_acc["runs"]] == ["a0", "a1"]
    failed = await api("runs", filter="attributes.status = 'FAILED'")
    (broken,) = failed["runs"]
    assert broken["error"] == {"type": "ZeroDivisionError", "message": "division by zero"}


async def test_a_malformed_filter_is_a_400_with_one_line(demo, api):
    status, body = await refused(api, "runs", filter="metrics.acc >")
    assert status == 400
    assert "bad filter" in body["message"] and "\n" not in body["message"]
    assert body["code"] == "bad_filter"
    status, body = await refused(api, "runs", limit="many")
    assert (status, body["code"]) == (400, "bad_request")
    assert body["message"] == "limit must be a whole number from 1 to 500; got 'many'"
    status, body = await refused(api, "runs", limit=100_000)
    assert status == 400 and "limit must be a whole number from 1 to 500" in body["message"]


async def test_run_detail(demo, api):
    run = await api(f"runs/{demo.run_ids['a0']}")
    assert run["params"] == {"alpha": "0"}
    assert run["tags"]["team"] == "blue"
    assert run["metric_summaries"]["loss"]["max"] == 100.0
    assert run["metric_summaries"]["loss"]["count"] == 2000
    assert run["code"] == "%%track\nx = 0"
    assert run["cell_id"] == "cell-1" and run["notebook_path"] == "train.ipynb"
    assert {a["path"] for a in run["artifacts"]} == {
        "report.html",
        "plots/curve.svg",
        "plots/tiny.png",
        "notes.txt",
        "notebook/train.ipynb",
    }
    assert run["snapshot_path"] == "notebook/train.ipynb"
    broken = await api(f"runs/{demo.run_ids['broken']}")
    assert broken["status"] == "FAILED" and "ZeroDivisionError" in broken["error"]["traceback"]
    status, body = await refused(api, "runs/0123456789abcdef")
    assert status == 404 and "no run" in body["message"]


async def test_metric_history_downsampling_keeps_the_extremes(demo, api):
    run_id = demo.run_ids["a0"]
    full = await api(f"runs/{run_id}/metric-history", key="loss", max_points=5000)
    assert full["total_points"] == 2000 and not full["downsampled"] and len(full["points"]) == 2000
    small = await api(f"runs/{run_id}/metric-history", key="loss", max_points=50)
    points = small["points"]
    assert small["downsampled"] and len(points) <= 50
    steps = [p["step"] for p in points]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 1999
    assert {"step": 1234, "value": 100.0} in [
        {"step": p["step"], "value": p["value"]} for p in points
    ]
    assert min(p["value"] for p in points) == min(p["value"] for p in full["points"])
    status, body = await refused(api, f"runs/{run_id}/metric-history", key="nope")
    assert status == 404 and "no metric 'nope'" in body["message"]


async def test_html_and_svg_artifacts_are_attachments(demo, jp_fetch):
    run_id = demo.run_ids["a0"]

    async def get(path: str, **params: str):
        return await jp_fetch(
            "nbtrack",
            "api",
            "runs",
            run_id,
            "artifacts",
            *path.split("/"),
            params={"store": STORE, **params},
        )

    for path, content_type, body in [
        ("report.html", "text/html", HTML_ARTIFACT.encode()),
        ("plots/curve.svg", "image/svg+xml", SVG_ARTIFACT.encode()),
    ]:
        response = await get(path, download="0")  # asking for inline changes nothing
        assert response.headers["Content-Type"] == content_type
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert response.body == body
    png = await get("plots/tiny.png")
    assert png.headers["Content-Type"] == "image/png"
    assert png.headers["Content-Disposition"].startswith("inline;")
    assert png.body == PNG_ARTIFACT
    forced = await get("notes.txt", download="1")
    assert forced.headers["Content-Disposition"] == "attachment; filename*=UTF-8''notes.txt"


async def test_notebook_snapshot(demo, jp_fetch, api):
    response = await jp_fetch(
        "nbtrack", "api", "runs", demo.run_ids["a0"], "snapshot", params={"store": STORE}
    )
    assert response.headers["Content-Type"] == "application/x-ipynb+json"
    assert json.loads(response.body) == SNAPSHOT
    status, body = await refused(api, f"runs/{demo.run_ids['a1']}/snapshot")
    assert status == 404 and "no notebook snapshot" in body["message"]


async def test_cell_history_and_badges(demo, api):
    history = await api("cells/cell-1/runs")
    assert [run["run_name"] for run in history["runs"]] == ["a2", "a1", "a0"]
    assert [run["code"] for run in history["runs"]][-1] == "%%track\nx = 0"
    badges = await api("cells", body={"cell_ids": ["cell-1", "cell-2", "no-such-cell"]})
    assert set(badges["cells"]) == {"cell-1", "cell-2"}
    assert badges["cells"]["cell-1"]["run_count"] == 3
    assert badges["cells"]["cell-1"]["run"]["run_name"] == "a2"
    assert badges["cells"]["cell-2"]["run"]["status"] == "FAILED"


async def test_a_directory_without_a_store_is_a_404_that_says_so(demo, api):
    status, body = await refused(api, "runs", store="projects")
    assert status == 404 and "no nbtrack store" in body["message"]


@pytest.mark.parametrize(
    "store",
    [
        "..",
        "projects/../..",
        "%2e%2e",  # sent as %252e%252e: the server decodes once, we refuse the decoded-again form
        "..%2f..",
        "/etc",
        "~root",
        "projects\\..\\..",
    ],
)
async def test_stores_outside_the_root_are_refused(demo, api, store):
    status, body = await refused(api, "runs", store=store)
    assert status == 403, body
    assert "under the server root" in body["message"]


async def test_absolute_store_path_is_refused(demo, api, jp_root_dir):
    status, _ = await refused(api, "runs", store=str(jp_root_dir / STORE))
    assert status == 403


async def test_a_symlink_out_of_the_root_is_refused(demo, api, jp_root_dir, tmp_path):
    outside = build_demo_store(tmp_path / "outside")
    (jp_root_dir / "sneaky").symlink_to(outside.directory, target_is_directory=True)
    status, body = await refused(api, "runs", store="sneaky")
    assert status == 403 and "outside the server root" in body["message"]
    # A symlink that stays inside the root is an ordinary directory.
    (jp_root_dir / "alias").symlink_to(jp_root_dir / STORE, target_is_directory=True)
    assert (await api("runs", store="alias"))["total"] == 7


async def test_artifact_paths_cannot_leave_the_run(
    demo, http_server_client, jp_base_url, jp_auth_header
):
    run_id = demo.run_ids["a0"]
    base = f"{jp_base_url}nbtrack/api/runs/{run_id}/artifacts/"
    for path in [
        "..%2f..%2f.nbtrack%2fnbtrack.db",
        "plots/%2e%2e/%2e%2e/x",
        "%252e%252e/notes.txt",
    ]:
        response = await http_server_client.fetch(
            f"{base}{path}?store={urllib.parse.quote(STORE)}",
            headers=jp_auth_header,
            raise_error=False,
        )
        assert response.code == 403, (path, response.code, response.body)
        assert "inside the run" in json.loads(response.body)["message"]


async def test_first_page_of_ten_thousand_runs_is_fast(jp_root_dir, api, record_property):
    build_many_runs(jp_root_dir / "many", 10_000)
    await api("runs", store="many", limit=50)  # warm the page cache, as a second look would
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        page = await api("runs", store="many", limit=50)
        timings.append(time.perf_counter() - started)
    assert page["total"] == 10_000 and len(page["runs"]) == 50
    filtered_started = time.perf_counter()
    filtered = await api("runs", store="many", filter="metrics.acc > 0.99 AND tags.parity = '1'")
    filtered_time = time.perf_counter() - filtered_started
    assert filtered["total"] == 50
    best = min(timings)
    record_property("first_page_ms", round(best * 1000, 1))
    record_property("filtered_page_ms", round(filtered_time * 1000, 1))
    print(
        f"\n10k runs: first page {best * 1000:.1f} ms (median {sorted(timings)[2] * 1000:.1f} ms), "
        f"filtered {filtered_time * 1000:.1f} ms"
    )
    # Target is 200 ms; the bound is generous so a busy CI machine does not flake.
    assert best < 2.0
