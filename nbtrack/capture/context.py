"""Where a cell runs: its cell id, the notebook's path, and what the frontend told us.

Sources, best first:

- cell id: the execute request's metadata (``cellId``, sent by JupyterLab and by
  ``tests/kernel_support.py``), else IPython's ``cell_id`` (VS Code passes it);
- notebook path: the JupyterLab extension's context when it describes this very
  cell (it knows the path after a rename), then VS Code's ``__vsc_ipynb_file__``,
  then ``__session__`` / ``JPY_SESSION_NAME`` (the path when the kernel started).

Without a cell id (the IPython terminal, a plain nbclient run) a re-executed cell
is matched by its run name when the magic line gives one, else by its code: see
:func:`lineage_key`.

Example:
    >>> lineage_key(None, "bow-nb", "x = 1")
    'name:bow-nb'
    >>> lineage_key("c0ffee", "bow-nb", "x = 1")
    'c0ffee'
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

# How long a frontend context stays believable: it is sent just before the request.
FRONTEND_CONTEXT_MAX_AGE_S = 60.0


@dataclass(frozen=True)
class CellContext:
    """What is known about the executing cell before it runs."""

    cell_id: str | None
    notebook_path: str | None
    execution_count: int | None
    frontend_content: Any = None  # the notebook as the frontend sees it (a dict), if sent
    path_source: str | None = None  # "frontend", "vscode", "session" or None


def request_cell_id(shell: Any, ipython_cell_id: str | None = None) -> str | None:
    """The cell id of the request being executed, or None outside a kernel.

    Example:
        >>> request_cell_id(object(), "abc")
        'abc'
    """
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        try:
            parent = kernel.get_parent()
        except Exception:  # older kernels: get_parent needs a channel argument
            parent = None
        metadata = (parent or {}).get("metadata") or {}
        cell_id = metadata.get("cellId")
        if isinstance(cell_id, str) and cell_id:
            return cell_id
    return ipython_cell_id or None


def session_notebook_path(user_ns: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(path, source)`` of the notebook from VS Code's or Jupyter's session variables."""
    vscode = user_ns.get("__vsc_ipynb_file__")
    if isinstance(vscode, str) and vscode:
        return vscode, "vscode"
    session = user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")
    if isinstance(session, str) and session:
        return session, "session"
    return None, None


def frontend_context_for(cell_id: str | None) -> Any:
    """The JupyterLab extension's latest context when it is about ``cell_id``; else None."""
    if cell_id is None:
        return None
    try:
        from . import frontend
    except ImportError:  # the frontend channel is optional
        return None
    import time

    context = frontend.latest_context()
    if context is None or context.cell_id != cell_id:
        return None
    if time.time() - context.received_at > FRONTEND_CONTEXT_MAX_AGE_S:
        return None
    return context


def running_execution_count(shell: Any, *, before_inputs_stored: bool = False) -> int | None:
    """The ``In [n]`` of the cell being executed, the same in IPython 8 and 9.

    ``shell.execution_count`` cannot say it: IPython 9 increments it before a cell
    runs, IPython 8 after. Both append the cell's input to ``input_hist_raw`` (index
    0 is a placeholder) right after ``pre_run_cell``, so the history's length does:
    ``len - 1`` while the cell runs, ``len`` inside a ``pre_run_cell`` handler.

    Example:
        >>> running_execution_count(get_ipython())  # doctest: +SKIP
        7
    """
    history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    if history is None:
        return getattr(shell, "execution_count", None)
    return len(history) if before_inputs_stored else len(history) - 1


def resolve(shell: Any, ipython_cell_id: str | None = None) -> CellContext:
    """Everything :class:`CellContext` holds, for the cell executing now in ``shell``.

    Example:
        >>> resolve(get_ipython()).execution_count  # doctest: +SKIP
        7
    """
    cell_id = request_cell_id(shell, ipython_cell_id)
    path, source = session_notebook_path(shell.user_ns)
    content = None
    context = frontend_context_for(cell_id)
    if context is not None:
        if context.notebook_path:
            # The frontend sends a path relative to the server root (and the root, when known).
            absolute = getattr(context, "notebook_abspath", None)
            path, source = absolute or _absolute(context.notebook_path), "frontend"
        content = context.notebook_content
    return CellContext(cell_id, path, running_execution_count(shell), content, source)


def _absolute(frontend_path: str) -> str:
    """A relative frontend path without a server root: the kernel's folder is the best anchor
    (JupyterLab starts a kernel in its notebook's folder, so only the file name is kept)."""
    if os.path.isabs(frontend_path):
        return frontend_path
    return os.path.join(os.getcwd(), os.path.basename(frontend_path))


def lineage_key(cell_id: str | None, run_name: str | None, code: str) -> str:
    """What links a re-execution to its cell's previous run.

    The frontend's cell id when there is one; otherwise ``name:<run name>`` when the
    magic line names the run (the user's own label for "this cell"), otherwise
    ``code:<hash>`` (the same code is the same cell; edited code starts a new lineage).
    """
    if cell_id:
        return cell_id
    if run_name:
        return f"name:{run_name}"
    return "code:" + hashlib.sha256(code.strip().encode()).hexdigest()[:16]
