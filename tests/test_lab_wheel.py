"""The built wheel carries both halves of the Jupyter integration and needs no Node to install.

A release wheel is built from a clean copy of the tree (so a stale development
build in ``nbtrack/labextension`` cannot sneak in), installed into a fresh
virtualenv whose PATH has no ``node``, and both extension lists must say OK.
Set ``NBTRACK_WHEEL=/path/to/nbtrack-*.whl`` to check an existing wheel instead.
Takes about 80 s (pip reuses its cache for the dependencies).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]  # see pyproject's markers

REPO = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Not copied into the clean build tree: build output, dependencies, VCS and caches.
IGNORED = shutil.ignore_patterns(
    ".git",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    "dist",
    "build",
    "artifacts",
    "*.egg-info",
    ".nbtrack",
)


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, **kwargs
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("NBTRACK_WHEEL")
    if given:
        return Path(given)
    if shutil.which("node") is None:
        pytest.fail(
            "building the wheel needs Node.js 20 on PATH (the labextension is compiled with jlpm)"
        )
    source = tmp_path_factory.mktemp("clean") / "nbtrack"
    shutil.copytree(REPO, source, ignore=IGNORED, symlinks=True)
    shutil.rmtree(source / "nbtrack" / "labextension", ignore_errors=True)
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)])
    (built,) = out.glob("nbtrack-*.whl")
    return built


def test_wheel_ships_the_prebuilt_extension_and_server_config(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    data = next(n.split("/data/")[0] for n in names if ".data/data/" in n) + "/data/"
    assert data + "share/jupyter/labextensions/nbtrack/package.json" in names
    assert data + "share/jupyter/labextensions/nbtrack/install.json" in names
    assert data + "share/jupyter/labextensions/nbtrack/static/style.js" in names
    assert any(
        n.startswith(data + "share/jupyter/labextensions/nbtrack/static/remoteEntry.")
        for n in names
    )
    assert data + "etc/jupyter/jupyter_server_config.d/nbtrack.json" in names
    assert "nbtrack/server/handlers.py" in names


def test_versions_agree(wheel: Path) -> None:
    import json

    package = json.loads((REPO / "labextension" / "package.json").read_text())
    assert wheel.name.startswith(f"nbtrack-{package['version']}-")


def test_installed_wheel_enables_both_halves_without_node(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    bin_dir = venv / "bin"
    # Only the venv on PATH: no node, no jlpm, nothing from the developer's environment.
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path / "home"),
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONFIG_FILE"):
        if name in os.environ:
            env[name] = os.environ[name]
    assert shutil.which("node", path=env["PATH"]) is None
    run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], env=env)

    labextensions = run([str(bin_dir / "jupyter"), "labextension", "list"], env=env)
    lab_text = ANSI.sub("", labextensions.stdout + labextensions.stderr)
    assert re.search(r"nbtrack v\S+ enabled OK \(python, nbtrack\)", lab_text), lab_text

    server = run([str(bin_dir / "jupyter"), "server", "extension", "list"], env=env)
    server_text = ANSI.sub("", server.stdout + server.stderr)
    # "nbtrack.server  OK" (a version would sit between the two when the module declares one)
    validated = r"nbtrack\.server enabled\s+- Validating nbtrack\.server\.\.\.\s+nbtrack\.server\s+(\S+\s+)?OK"
    assert re.search(validated, server_text), server_text
