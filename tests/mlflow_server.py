"""A real ``mlflow server`` for the push/pull tests, from the peers' venv (benchmarks/.venv-peers).

The server binds 127.0.0.1 on a free port, keeps its runs in the backend URI it is given
and proxies artifacts (``--serve-artifacts``), as a team server does. ``stop()`` and
``start()`` again on the same port and database stand for a server that goes away and
comes back.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import REPO, peer_python  # noqa: F401  (re-exported for the interop tests)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peer_env(home: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true", "LANG": "C.UTF-8", **extra}


class MlflowServer:
    def __init__(self, workdir: Path, backend: str, *, app_name: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.backend = backend
        self.app_name = app_name
        self.env = env or {}
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "server.log"

    def start(self) -> MlflowServer:
        mlflow = peer_python().parent / "mlflow"
        command = [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(self.port),
                   "--backend-store-uri", self.backend, "--serve-artifacts",
                   "--artifacts-destination", str(self.workdir / "artifacts"), "--workers", "1"]
        if self.app_name:
            command += ["--app-name", self.app_name]
        self.process = subprocess.Popen(
            command, cwd=self.workdir, env=peer_env(self.workdir, **self.env),
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {self.log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{self.uri}/health", timeout=2).close()
                return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        raise RuntimeError(f"mlflow server did not answer: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
