"""Shared fixtures: every test gets its own store in a temp dir and a clean tracking state."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def peer_python() -> Path:
    """The interpreter of ``benchmarks/.venv-peers`` (real MLflow, no nbtrack), created or
    updated from ``benchmarks/requirements.txt`` on first use, as the benchmarks do."""
    sys.path.insert(0, str(REPO))
    try:
        from benchmarks.run import ensure_peer_venv
    finally:
        sys.path.remove(str(REPO))
    return ensure_peer_venv()


@pytest.fixture(scope="session")
def mlflow_python() -> Path:
    return peer_python()


@pytest.fixture(autouse=True)
def nbtrack_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point NBTRACK_HOME at a fresh temp store; end runs and close stores afterwards."""
    home = tmp_path / "nbtrack-home"
    monkeypatch.setenv("NBTRACK_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield home
    from nbtrack import state

    state.reset()


def run_python(code: str, *, env: dict[str, str] | None = None, timeout: float = 120,
               cwd: Path | None = None, argv: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (a real second process) and return its result."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-c", code, *(argv or [])], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A real-browser test that fails is run once more before it counts as failed.

    These drive Chromium and JupyterLab on a shared 2-core machine, where a page can miss a
    deadline under load; a rerun is reported as RERUN in the summary, so a test that keeps
    needing one is still visible. No other test is retried.
    """
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=2))


def server_api(jp_fetch, store: str):
    """``call(path, body=None, **params)``: GET, or POST ``body``, ``/nbtrack/api/<path>`` of a
    real Jupyter server (with its token) against ``store``; the decoded JSON."""
    import json

    async def call(path: str, body: object = None, **params: object) -> dict:
        params.setdefault("store", store)
        kwargs = {"method": "POST", "body": json.dumps(body)} if body is not None else {}
        response = await jp_fetch("nbtrack", "api", *path.split("/"), params=params, **kwargs)
        return json.loads(response.body)

    return call

