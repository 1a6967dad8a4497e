"""MLflow's system tags, set on every new run: ``mlflow.runName``, ``mlflow.user``,
``mlflow.source.name``, ``mlflow.source.type``, ``mlflow.source.git.commit`` (``.branch``,
``.repoURL``),
``mlflow.parentRunId`` (and ``mlflow.note.content``, from ``description``).

So ``search_runs()`` has the ``tags.mlflow.*`` columns MLflow code reads
(``runs["tags.mlflow.runName"]``). Where the run comes from:

- inside a Jupyter kernel: ``NOTEBOOK``, named by the notebook's path (``%%track`` knows it
  from the frontend; an API call finds it in the session variables, as ``capture/`` does);
- otherwise ``LOCAL``, named by the script (``sys.argv[0]``, absolute).

The git commit, branch and remote of that file's folder are read once per folder every
``GIT_REFRESH_S`` seconds (two ``git`` calls), never per run in a loop. ``%%track`` cells get it, with
branch and dirty state, from the capture worker instead, off the cell's path.

Example:
    >>> tags = system_tags("bow-nb", "me", parent_run_id=None, notebook_path="/nb/a.ipynb", git=False)
    >>> tags["mlflow.source.type"], tags["mlflow.source.name"]
    ('NOTEBOOK', '/nb/a.ipynb')
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from ..state import STATE

GIT_REFRESH_S = 2.0
GIT_TIMEOUT_S = 5.0


def system_tags(run_name: str, user: str | None, *, parent_run_id: str | None,
                notebook_path: str | None = None, git: bool = True) -> dict[str, str]:
    """The system tags of a new run (user tags passed to ``start_run`` win over these)."""
    tags = {"mlflow.runName": run_name}
    if user:
        tags["mlflow.user"] = user
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    source_type, source_name = _source(notebook_path)
    tags["mlflow.source.type"] = source_type
    if source_name:
        tags["mlflow.source.name"] = source_name
    if git:
        folder = os.path.dirname(source_name) if source_name and os.path.isabs(source_name) else os.getcwd()
        tags.update(git_tags(folder))
    return tags


def _source(notebook_path: str | None) -> tuple[str, str | None]:
    if notebook_path:
        return "NOTEBOOK", notebook_path
    shell = _kernel_shell()
    if shell is not None:
        from ..capture.context import session_notebook_path

        return "NOTEBOOK", session_notebook_path(shell.user_ns)[0]
    main = sys.argv[0] if sys.argv and sys.argv[0] else None
    if main in (None, "-c", "-m", "-"):
        return "LOCAL", None
    return "LOCAL", os.path.abspath(main)


def _kernel_shell():
    """The kernel's shell when this process is a Jupyter kernel; IPython is not imported here."""
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return None
    shell = sys.modules["IPython"].get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


def git_tags(folder: str) -> dict[str, str]:
    """MLflow's git tags for ``folder``'s repository: ``mlflow.source.git.commit``, ``.branch``
    (when on one) and ``.repoURL`` (its first remote, credentials stripped); none outside a
    repository, before its first commit, or without git. Two ``git`` calls, reused for
    ``GIT_REFRESH_S`` seconds."""
    cached = STATE.git_commits.get(folder)
    if cached is not None and time.monotonic() - cached[0] < GIT_REFRESH_S:
        return dict(cached[1])
    tags: dict[str, str] = {}
    head = _git(folder, "rev-parse", "HEAD", "--abbrev-ref", "HEAD")  # commit, then branch
    if head is not None and len(head.split()) == 2:
        commit, branch = head.split()
        tags["mlflow.source.git.commit"] = commit
        if branch != "HEAD":  # "HEAD" means detached: no branch
            tags["mlflow.source.git.branch"] = branch
        remotes = _git(folder, "config", "--get-regexp", r"^remote\..*\.url$")
        if remotes:
            from ..capture.environment import _without_credentials

            tags["mlflow.source.git.repoURL"] = _without_credentials(remotes.splitlines()[0].split(None, 1)[-1])
    STATE.git_commits[folder] = (time.monotonic(), tags)
    return dict(tags)


def _git(folder: str, *args: str) -> str | None:
    """``git``'s output, or None when it fails or is missing (runs simply have no git tags)."""
    try:
        done = subprocess.run(["git", "-C", folder, *args], capture_output=True, timeout=GIT_TIMEOUT_S,
                              check=False, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.decode().strip() if done.returncode == 0 else None
