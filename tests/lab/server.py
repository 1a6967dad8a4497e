"""A real ``jupyter lab`` for browser tests: temp root, token, this tree's extension, no news toast.

The lab loads the labextension built in this tree (``nbtrack/labextension``, made
by ``pip install -e .``) through ``JUPYTER_PATH``, so the test exercises the
source it sits next to even when another nbtrack is installed.

Example:
    >>> with running_lab(tmp_path) as lab:  # doctest: +SKIP
    ...     lab.url("lab")
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BUILT_EXTENSION = REPO / "nbtrack" / "labextension"
START_TIMEOUT_S = 60
APP_CLASSES = {"jupyterlab": "LabApp", "notebook": "JupyterNotebookApp"}

# No news or update checks: they would toast over the page and reach for the network.
SETTINGS_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}
}


@dataclass
class Lab:
    root: Path
    port: int
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, path: str = "", **query: str) -> str:
        query = {"token": self.token, **query}
        text = "&".join(f"{k}={v}" if v else k for k, v in query.items())
        return f"http://127.0.0.1:{self.port}/{path}?{text}"

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """Call the server's REST API (Jupyter's or nbtrack's) with the token."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None

    def delete_sessions(self) -> None:
        """Kernels outlive the page: shut down every session so the next test starts clean."""
        for session in self.api("api/sessions"):
            self.api(f"api/sessions/{session['id']}", method="DELETE")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_lab(workdir: Path, *, server_extension: bool = True, app: str = "jupyterlab") -> Iterator[Lab]:
    """Start ``jupyter lab`` on ``workdir/root``; stop it (and its kernels) afterwards.

    ``app="notebook"`` starts Notebook 7 instead (same extensions, same settings)."""
    if not (BUILT_EXTENSION / "package.json").exists():
        raise RuntimeError(
            f"{BUILT_EXTENSION} is missing: build the labextension first with `pip install -e .`"
        )
    root = workdir / "root"
    root.mkdir(parents=True, exist_ok=True)
    jupyter_path = workdir / "jupyter-path"
    (jupyter_path / "labextensions").mkdir(parents=True, exist_ok=True)
    link = jupyter_path / "labextensions" / "nbtrack"
    if not link.exists():
        link.symlink_to(BUILT_EXTENSION, target_is_directory=True)
    settings = workdir / "app-settings"
    settings.mkdir(exist_ok=True)
    (settings / "overrides.json").write_text(json.dumps(SETTINGS_OVERRIDES))

    config_dir = workdir / "jupyter-config"
    config_dir.mkdir(exist_ok=True)
    # The user config dir outranks the config.d file `pip install nbtrack` adds, so this decides.
    server_config = {"ServerApp": {"jpserver_extensions": {"nbtrack.server": server_extension}}}
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(server_config))

    token = secrets.token_hex(16)
    port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("NBTRACK_", "MLFLOW_", "JUPYTER_"))
    }
    env.update(
        {
            "JUPYTER_PATH": str(jupyter_path),
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_DATA_DIR": str(workdir / "jupyter-data"),
            "JUPYTER_RUNTIME_DIR": str(workdir / "jupyter-runtime"),
            "IPYTHONDIR": str(workdir / "ipython"),
            # The kernel imports nbtrack from this tree, as the server does.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        }
    )
    command = [
        sys.executable, "-m", app,
        "--allow-root", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--{APP_CLASSES[app]}.app_settings_dir={settings}",
        f"--{APP_CLASSES[app]}.expose_app_in_browser=True",
        "--ServerApp.allow_unauthenticated_access=False",
    ]  # fmt: skip
    log = workdir / "jupyter-lab.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            command, env=env, cwd=root, stdout=log_file, stderr=subprocess.STDOUT
        )
    lab = Lab(root, port, token, process, log)
    try:
        _wait_ready(lab)
        yield lab
    finally:
        with contextlib.suppress(Exception):
            lab.delete_sessions()
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(lab: Lab) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited at start:\n{lab.log.read_text()[-3000:]}")
        try:
            lab.api("api/status")
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise RuntimeError(
        f"jupyter lab did not answer within {START_TIMEOUT_S} s:\n{lab.log.read_text()[-3000:]}"
    )
