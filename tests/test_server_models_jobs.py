"""The Models and Jobs endpoints against a real Jupyter server with authentication on.

Reads, writes through the registry, XSRF on writes (a login cookie without the
``_xsrf`` token is refused), path checks, and jobs that run a real kernel in the
background while the server keeps answering.
"""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from conftest import server_api
from lab.stores import build_demo_store, build_job_store, build_registry_store
from test_server_api import jp_server_config, refused  # noqa: F401 (fixtures)

import nbtrack
from nbtrack.paths import resolve_location
from nbtrack.store import registry_queries as rq
from nbtrack.tracking.fluent import read_store

pytest_plugins = ["pytest_jupyter.jupyter_server"]

STORE = "team/models"
JOBS = "team/jobs"


@pytest.fixture
def registry(jp_root_dir):
    return build_registry_store(jp_root_dir / STORE)


@pytest.fixture
def api(jp_fetch):
    return server_api(jp_fetch, STORE)


def _store(root, store=STORE):
    nbtrack.flush()
    return read_store(resolve_location(root / store / ".nbtrack"))


WRITES = [
    ("models/register", {"run_id": "x", "path": "model", "name": "churn"}),
    ("models/alias", {"name": "churn", "alias": "champion", "version": 2}),
    ("models/alias/delete", {"name": "churn", "alias": "champion"}),
    ("models/stage", {"name": "churn", "version": 1, "stage": "Production"}),
    ("runs/0123abcd/reproduce", {}),
    ("runs/0123abcd/run-again", {"parameters": {}}),
]


async def test_new_routes_refuse_requests_without_a_token(recwarn, registry, http_server_client, jp_base_url):
    unauthenticated = [str(w.message) for w in recwarn if "without @allow_unauthenticated" in str(w.message)]
    assert not any("nbtrack" in message for message in unauthenticated), unauthenticated
    run_id = registry.run_ids["lr-1"]
    for path in ["models", f"runs/{run_id}/models", f"runs/{run_id}/jobs", "jobs", "jobs/" + "0" * 32]:
        response = await http_server_client.fetch(
            f"{jp_base_url}nbtrack/api/{path}?store={STORE}", raise_error=False)
        assert response.code == 403, (path, response.code)
        assert b"churn" not in response.body
    for path, body in WRITES:
        response = await http_server_client.fetch(
            f"{jp_base_url}nbtrack/api/{path}?store={STORE}", method="POST", body=json.dumps(body),
            raise_error=False)
        assert response.code == 403, (path, response.code)
    assert rq.version_by_alias(_store(registry.directory.parent.parent), "churn", "champion") == 1


async def test_writes_with_a_login_cookie_need_the_xsrf_token(registry, jp_root_dir, http_server_client,
                                                             jp_base_url, jp_auth_header):
    # A browser authenticates with the login cookie, which a cross-site form would carry too:
    # the write must also show the _xsrf token (as JupyterLab's requests do).
    first = await http_server_client.fetch(f"{jp_base_url}nbtrack/api/status", headers=jp_auth_header)
    login = [c.split(";", 1)[0] for c in first.headers.get_list("Set-Cookie") if c.startswith("username-")]
    assert login, first.headers
    url = f"{jp_base_url}nbtrack/api/models/alias?store={STORE}"
    body = json.dumps({"name": "churn", "alias": "champion", "version": 2})
    cookie_only = await http_server_client.fetch(
        url, method="POST", body=body, headers={"Cookie": login[0]}, raise_error=False)
    assert cookie_only.code == 403
    assert "xsrf" in json.loads(cookie_only.body)["message"].lower()
    assert rq.version_by_alias(_store(jp_root_dir), "churn", "champion") == 1
    with_token = await http_server_client.fetch(
        url, method="POST", body=body,
        headers={"Cookie": f"{login[0]}; _xsrf=0123456789abcdef", "X-XSRFToken": "0123456789abcdef"})
    assert with_token.code == 200
    assert rq.version_by_alias(_store(jp_root_dir), "churn", "champion") == 2


async def test_models_lists_versions_aliases_and_history(registry, api):
    reply = await api("models")
    [model] = reply["models"]
    assert model["name"] == "churn" and model["aliases"] == {"champion": 1}
    versions = {v["version"]: v for v in model["versions"]}
    assert sorted(versions) == [1, 2] and [v["version"] for v in model["versions"]] == [2, 1]
    assert versions[1]["aliases"] == ["champion"] and versions[1]["stage"] == "None"
    assert versions[1]["run_id"] == registry.run_ids["lr-0.1"] and versions[1]["run_name"] == "lr-0.1"
    assert versions[1]["metrics_text"] == {"accuracy": "0.501"}
    assert model["history"][0]["kind"] == "alias" and model["history"][0]["alias"] == "champion"
    assert reply["stages"] == ["None", "Staging", "Production", "Archived"]


async def test_runs_list_carries_each_runs_registered_versions(registry, api):
    runs = {r["run_name"]: r for r in (await api("runs"))["runs"]}
    assert runs["lr-0.1"]["models"] == [{"name": "churn", "version": 1, "aliases": ["champion"]}]
    assert runs["lr-1"]["models"] == [{"name": "churn", "version": 2, "aliases": []}]
    assert runs["lr-10"]["models"] == []
    detail = await api(f"runs/{registry.run_ids['lr-10']}/models")
    assert detail == {"run_id": registry.run_ids["lr-10"], "logged_models": ["model"], "versions": []}


async def test_register_alias_and_stage_change_the_store(registry, jp_root_dir, api):
    run_id = registry.run_ids["lr-10"]
    assert await api("models/register", {"run_id": run_id, "path": "model", "name": "churn"}) == \
        {"name": "churn", "version": 3}
    assert await api("models/alias", {"name": "churn", "alias": "champion", "version": "3"}) == \
        {"name": "churn", "alias": "champion", "version": 3}
    staged = await api("models/stage", {"name": "churn", "version": 3, "stage": "production",
                                        "archive_existing_versions": True})
    assert staged == {"name": "churn", "version": 3, "stage": "Production"}
    store = _store(jp_root_dir)
    assert rq.version_by_alias(store, "churn", "champion") == 3
    assert rq.get_model_version(store, "churn", 3).run_id == run_id
    moves = [(e.kind, e.alias, e.previous_version, e.version) for e in rq.history(store, "churn")]
    assert ("alias", "champion", 1, 3) in moves
    await api("models/alias/delete", {"name": "churn", "alias": "champion"})
    assert rq.get_registered_model(_store(jp_root_dir), "churn").aliases == {}


async def test_bad_registry_writes_are_one_line_and_change_nothing(registry, jp_root_dir, api):
    run_id = registry.run_ids["lr-10"]
    cases = [
        ("models/alias", {"name": "churn", "alias": "latest", "version": 1}, 400, "reserved"),
        ("models/alias", {"name": "churn", "alias": "v2", "version": 1}, 400, "reserved"),
        ("models/alias", {"name": "nope", "alias": "a", "version": 1}, 404, "no registered model"),
        ("models/alias", {"name": "churn", "alias": "a", "version": 9}, 404, "no version 9"),
        ("models/alias", {"name": "churn", "alias": "a"}, 400, "'version'"),
        ("models/stage", {"name": "churn", "version": 1, "stage": "Live"}, 400, "stage"),
        ("models/register", {"run_id": run_id, "path": "notes", "name": "churn"}, 400, "holds no model"),
        ("models/register", {"run_id": run_id, "path": "../../etc", "name": "churn"}, 403, "inside the run"),
        ("models/register", {"run_id": run_id, "path": "model", "name": "a/b"}, 400, "plain name"),
    ]
    for path, body, status, words in cases:
        code, reply = await refused(api, path, body=body)
        assert code == status, (path, body, reply)
        assert words in reply["message"] and "\n" not in reply["message"], reply
    store = _store(jp_root_dir)
    assert [v.version for v in rq.search_model_versions(store)] == [2, 1]
    assert rq.get_registered_model(store, "churn").aliases == {"champion": 1}


async def test_writes_refuse_stores_outside_the_root_and_never_create_one(registry, jp_root_dir, api, tmp_path):
    body = {"name": "churn", "alias": "x", "version": 1}
    for store in ("../outside", "%2e%2e/outside", "/etc", "team/..%2f..%2fx"):
        code, reply = await refused(api, "models/alias", body=body, store=store)
        assert code == 403 and reply["code"] == "forbidden", (store, reply)
    (jp_root_dir / "escape").symlink_to(tmp_path, target_is_directory=True)
    code, reply = await refused(api, "models/alias", body=body, store="escape")
    assert code == 403
    code, reply = await refused(api, "models/alias", body=body, store="empty")
    assert (code, reply["code"]) == (404, "no_store")
    assert not (jp_root_dir / "empty").exists()


async def test_models_of_a_store_without_models_is_an_empty_list(jp_root_dir, api):
    build_demo_store(jp_root_dir / "plain")
    assert (await api("models", store="plain"))["models"] == []


async def _wait_job(api, job_id: str, store: str) -> dict:
    for _ in range(600):
        job = await api(f"jobs/{job_id}", store=store)
        if job["state"] in ("finished", "failed"):
            return job
        await asyncio.sleep(0.25)
    raise AssertionError(f"job {job_id} did not end: {job}")


@pytest.mark.slow
async def test_run_again_with_parameters_records_a_new_execution(jp_root_dir, api, jp_fetch):
    jobs = build_job_store(jp_root_dir / JOBS)
    original = jobs.run_ids["execution"]
    options = await api(f"runs/{original}/jobs", store=JOBS)
    assert options["rerun"]["notebook"] == f"{JOBS}/params.ipynb"
    assert options["rerun"]["parameters"]["alpha"] == "0.5" and options["reproduce"] is True
    job = await api(f"runs/{original}/run-again", {"parameters": {"alpha": "2", "max_features": "1000"}},
                    store=JOBS)
    assert job["state"] in ("queued", "running") and job["kind"] == "run"
    assert job["label"] == "run again: alpha=2 max_features=1000"
    # The server keeps answering while the kernel runs in the background.
    assert json.loads((await jp_fetch("api", "status")).body)
    done = await _wait_job(api, job["job_id"], JOBS)
    assert done["state"] == "finished", done
    assert done["result"]["status"] == "FINISHED"
    new = nbtrack.Client(tracking_uri=str(jp_root_dir / JOBS / ".nbtrack")).get_run(done["new_run_id"])
    assert new.data.params["alpha"] == "2" and new.data.params["max_features"] == "1000"
    assert new.data.tags["nbtrack.job.rerun_of"] == original
    assert new.info.run_name == "params alpha=2 max_features=1000"
    listed = [r["run_id"] for r in (await api("runs", store=JOBS))["runs"]]
    assert done["new_run_id"] in listed
    assert [j["job_id"] for j in (await api("jobs", store=JOBS))["jobs"]] == [job["job_id"]]


@pytest.mark.slow
async def test_reproduce_reports_the_verdict_and_metrics(jp_root_dir, api):
    jobs = build_job_store(jp_root_dir / JOBS)
    job = await api(f"runs/{jobs.run_ids['execution']}/reproduce", {}, store=JOBS)
    done = await _wait_job(api, job["job_id"], JOBS)
    assert done["state"] == "finished", done
    result = done["result"]
    assert result["verdict"] == "exact" and result["matched"] is True
    assert {m["metric"]: m["verdict"] for m in result["metrics"]}["score"] == "exact"


async def test_run_again_refuses_bad_parameters_at_once(jp_root_dir, api):
    folder = jp_root_dir / JOBS
    folder.mkdir(parents=True)
    shutil.copy(build_job_store.__globals__["PARAMETERIZED_NOTEBOOK"], folder / "params.ipynb")
    with nbtrack_store(folder), nbtrack.start_run(run_name="cell", notebook_path=str(folder / "params.ipynb"),
                                                  cell_id="c", code="%%track\nx=1") as run:
        nbtrack.log_param("alpha", "0.5")
    options = await api(f"runs/{run.info.run_id}/jobs", store=JOBS)
    assert options["rerun"]["parameters"] == {"alpha": "0.5", "max_features": "3000", "fail": "False"}
    for parameters, words in [({"beta": "1"}, "no parameter 'beta'"),
                              ({"alpha": "abc"}, "does not parse as a number"),
                              ({"alpha": [1]}, "text or numbers")]:
        code, reply = await refused(api, f"runs/{run.info.run_id}/run-again", body={"parameters": parameters},
                                    store=JOBS)
        assert (code, reply["code"]) == (400, "bad_request") and words in reply["message"], reply
    assert (await api("jobs", store=JOBS))["jobs"] == []


async def test_a_notebook_outside_the_root_is_never_run(jp_root_dir, api, tmp_path):
    outside = tmp_path / "elsewhere.ipynb"
    shutil.copy(build_job_store.__globals__["PARAMETERIZED_NOTEBOOK"], outside)
    folder = jp_root_dir / JOBS
    with nbtrack_store(folder), nbtrack.start_run(run_name="cell", notebook_path=str(outside), cell_id="c",
                                                  code="x=1") as run:
        pass
    options = await api(f"runs/{run.info.run_id}/jobs", store=JOBS)
    assert options["rerun"] is None and "outside the server root" in options["rerun_unavailable"]
    code, reply = await refused(api, f"runs/{run.info.run_id}/run-again", body={"parameters": {}}, store=JOBS)
    assert (code, reply["code"]) == (403, "forbidden")
    code, reply = await refused(api, "jobs/" + "f" * 32, store=JOBS)
    assert (code, reply["code"]) == (404, "not_found")


def nbtrack_store(folder):
    from lab.stores import tracking

    return tracking(folder, "jobs")


@pytest.mark.slow
async def test_reproduce_names_the_metrics_that_differed(jp_root_dir, api):
    import nbformat

    folder = jp_root_dir / JOBS
    folder.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("scale = 1.0"),
                nbformat.v4.new_code_cell("%load_ext nbtrack\nimport nbtrack, random"),
                nbformat.v4.new_code_cell("%%track noisy -q\nnbtrack.log_metric('noise', scale * random.random())\n"
                                          "nbtrack.log_metric('fixed', scale)")]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, folder / "noisy.ipynb")
    from nbtrack.jobs.execute import run_notebook

    first = run_notebook(folder / "noisy.ipynb", {}, location=resolve_location(folder / ".nbtrack"))
    job = await api(f"runs/{first.run_id}/reproduce", {}, store=JOBS)
    done = await _wait_job(api, job["job_id"], JOBS)
    result = done["result"]
    assert result["matched"] is False and result["verdict"] == "not reproduced", result
    verdicts = {m["metric"]: m["verdict"] for m in result["metrics"]}
    assert verdicts["noise"] == "differs" and verdicts["fixed"] == "exact"
