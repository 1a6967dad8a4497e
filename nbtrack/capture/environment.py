"""The environment a run ran in: Python, imported packages, host, and the git state.

Cheap facts (Python version, host) are read once per process. Package versions
and git need the file system or a subprocess, so ``%%track`` computes them on its
background worker (see ``capture.background``), never on the cell's path:

- packages: top-level modules in ``sys.modules`` mapped to their distributions
  (``importlib.metadata.packages_distributions``, read once), only modules new
  since the last call are looked up, so the cost does not grow with the session;
- git: ``git rev-parse`` / ``git status`` in the notebook's folder, reused for
  ``GIT_REFRESH_S`` seconds so a fast run of cells does not fork git each time.

Example:
    >>> facts = python_facts()
    >>> facts["nbtrack.python_version"].count(".")
    2
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

GIT_REFRESH_S = 2.0
GIT_TIMEOUT_S = 5.0
MAX_DIFF_BYTES = 2 << 20  # a bigger diff is cut (and said so): it is a record, not a backup


@lru_cache(maxsize=1)
def python_facts() -> dict[str, str]:
    """Tags that never change in a process: Python version and implementation, platform."""
    return {
        "nbtrack.python_version": platform.python_version(),
        "nbtrack.python_implementation": platform.python_implementation(),
        "nbtrack.platform": platform.platform(terse=True),
    }


class PackageVersions:
    """Versions of the distributions behind the top-level modules imported so far."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._versions: dict[str, str] = {}
        self._distributions: Mapping[str, list[str]] | None = None
        self._text: tuple[int, bytes] | None = None  # (len(sys.modules), requirements bytes)
        self._lock = threading.Lock()

    def requirements(self) -> bytes:
        """:meth:`current` as ``requirements.txt`` bytes, rebuilt only when modules were imported."""
        count = len(sys.modules)
        if self._text is None or count != self._text[0]:
            self._text = (count, requirements_text(self.current()).encode())
        return self._text[1]

    def current(self) -> dict[str, str]:
        """``{distribution: version}`` for every imported third-party package, sorted by name."""
        with self._lock:
            if self._distributions is None:
                self._distributions = importlib.metadata.packages_distributions()
            distributions = self._distributions
            stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
            for name in [m for m in list(sys.modules) if "." not in m and m not in self._seen]:
                self._seen.add(name)
                if name.startswith("_") or name in stdlib:
                    continue
                for dist in distributions.get(name, ()):
                    if dist not in self._versions:
                        try:
                            self._versions[dist] = importlib.metadata.version(dist)
                        except importlib.metadata.PackageNotFoundError:
                            pass
            return dict(sorted(self._versions.items(), key=lambda item: item[0].lower()))


def requirements_text(versions: dict[str, str]) -> str:
    """``name==version`` lines, as ``pip freeze`` writes them.

    Example:
        >>> requirements_text({"numpy": "2.4.6"})
        'numpy==2.4.6\\n'
    """
    return "".join(f"{name}=={version}\n" for name, version in versions.items())


@dataclass(frozen=True)
class GitState:
    """The repository a notebook lives in, as ``git`` reports it."""

    root: str
    commit: str | None
    branch: str | None
    dirty: bool
    diff: bytes  # ``git diff HEAD`` when dirty (cut at MAX_DIFF_BYTES)
    remote: str | None = None

    def tags(self) -> dict[str, str]:
        """MLflow's source tags where they exist, ``nbtrack.git.*`` for the rest."""
        tags = {"nbtrack.git.root": self.root, "nbtrack.git.dirty": str(self.dirty).lower()}
        if self.commit:
            tags["mlflow.source.git.commit"] = self.commit
        if self.branch:
            tags["mlflow.source.git.branch"] = self.branch
        if self.remote:
            tags["mlflow.source.git.repoURL"] = self.remote
        return tags


def _git(folder: str, *args: str) -> tuple[int, bytes]:
    done = subprocess.run(["git", "-C", folder, *args], capture_output=True, timeout=GIT_TIMEOUT_S,
                          env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"}, check=False)
    return done.returncode, done.stdout


class GitProbe:
    """Reads the git state of a folder, reusing the answer for ``GIT_REFRESH_S`` seconds.

    Returns None outside a repository. Raises ``OSError`` when git itself is missing
    (the caller warns once and goes on).
    """

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, GitState | None]] = {}

    def state(self, folder: str) -> GitState | None:
        cached = self._cache.get(folder)
        if cached is not None and time.monotonic() - cached[0] < GIT_REFRESH_S:
            return cached[1]
        state = self._read(folder)
        self._cache[folder] = (time.monotonic(), state)
        return state

    def _read(self, folder: str) -> GitState | None:
        code, out = _git(folder, "rev-parse", "--show-toplevel")
        if code != 0:
            return None
        root = out.decode().strip()
        code, out = _git(folder, "rev-parse", "HEAD")
        commit = out.decode().strip() if code == 0 else None  # None: a repository with no commit
        code, out = _git(folder, "symbolic-ref", "--short", "-q", "HEAD")
        branch = out.decode().strip() if code == 0 and out.strip() else None
        _, status = _git(folder, "status", "--porcelain", "--untracked-files=no")
        dirty = bool(status.strip())
        diff = b""
        if dirty and commit:
            _, diff = _git(folder, "diff", "HEAD", "--no-color", "--no-ext-diff")
            if len(diff) > MAX_DIFF_BYTES:
                diff = diff[:MAX_DIFF_BYTES] + b"\n# nbtrack: diff cut at 2 MiB\n"
        code, out = _git(folder, "config", "--get", "remote.origin.url")
        remote = _without_credentials(out.decode().strip()) if code == 0 and out.strip() else None
        return GitState(root, commit, branch, dirty, diff, remote)


def _without_credentials(url: str) -> str:
    """Drop ``user:token@`` from an https remote: a token must not end up in a tag.

    Example:
        >>> _without_credentials("https://me:tok@github.com/a/b.git")
        'https://github.com/a/b.git'
    """
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return scheme + sep + rest.split("@", 1)[1]
    return url
