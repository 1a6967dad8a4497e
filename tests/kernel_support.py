"""Run notebooks in a real kernel the way JupyterLab does, and cells in a real IPython shell.

Plain nbclient sends no ``cellId`` with an execute request and sets no
``JPY_SESSION_NAME``; JupyterLab does both, and ``%%track`` relies on them for
lineage and the notebook path. :class:`LabLikeClient` adds
``metadata={"cellId": cell.id}`` to every execute_request, and :func:`run_notebook`
starts the kernel with ``JPY_SESSION_NAME`` set to the notebook's absolute path.

:func:`tracking_shell` is the in-process counterpart for magic tests: a real
``InteractiveShell`` whose failing cells re-raise (as in jupysql's tests), so a test
cannot pass while a cell printed a traceback.

Example:
    >>> nb = run_notebook("notebooks/01-track-cells.ipynb", store=tmp_path)  # doctest: +SKIP
    >>> [o["output_type"] for o in nb.cells[3].outputs]  # doctest: +SKIP
    ['execute_result']
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
from IPython.core.interactiveshell import InteractiveShell
from nbclient import NotebookClient
from traitlets.config import Config

REPO = Path(__file__).resolve().parent.parent


class LabLikeClient(NotebookClient):
    """A NotebookClient whose execute requests carry the cell's id, as JupyterLab's do.

    ``frontend_context(cell) -> dict | None``, when set, is sent as the ``nbtrack.context``
    comm (what nbtrack's JupyterLab extension sends) just before the cell's request.
    """

    _current_cell_id: str | None = None
    _current_cell: Any = None
    frontend_context: Callable[[Any], dict | None] | None = None

    async def async_start_new_kernel_client(self) -> Any:
        kc = await super().async_start_new_kernel_client()

        def execute(code: str, silent: bool = False, store_history: bool = True,
                    user_expressions: dict | None = None, allow_stdin: bool | None = None,
                    stop_on_error: bool = True) -> str:
            content = {
                "code": code, "silent": silent, "store_history": store_history,
                "user_expressions": user_expressions or {},
                "allow_stdin": kc.allow_stdin if allow_stdin is None else allow_stdin,
                "stop_on_error": stop_on_error,
            }
            context = self.frontend_context(self._current_cell) if self.frontend_context else None
            if context is not None:
                opened = kc.session.msg("comm_open", {"comm_id": uuid.uuid4().hex,
                                                      "target_name": "nbtrack.context", "data": context})
                kc.shell_channel.send(opened)  # shell messages are handled in order
            metadata = {"cellId": self._current_cell_id} if self._current_cell_id else {}
            msg = kc.session.msg("execute_request", content, metadata=metadata)
            kc.shell_channel.send(msg)
            return msg["header"]["msg_id"]

        kc.execute = execute  # the one place nbclient builds execute requests
        return kc

    async def async_execute_cell(self, cell: Any, cell_index: int, *args: Any, **kwargs: Any) -> Any:
        self._current_cell_id, self._current_cell = cell.get("id"), cell
        return await super().async_execute_cell(cell, cell_index, *args, **kwargs)


def kernel_env(store: Path, notebook: Path, **extra: str) -> dict[str, str]:
    """The environment of a kernel that imports this working tree and writes to ``store``."""
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": pythonpath, "NBTRACK_HOME": str(store),
            "JPY_SESSION_NAME": str(notebook.resolve()), **extra}


def run_notebook(path: str | Path, store: Path, *, allow_errors: bool = False, timeout: int = 120,
                 while_running: Callable[[LabLikeClient], None] | None = None,
                 frontend_context: Callable[[Any], dict | None] | None = None) -> nbformat.NotebookNode:
    """Execute the notebook at ``path`` in a fresh kernel; return the executed notebook.

    ``while_running`` is called in a thread once the kernel is up (the interrupt test
    uses it to interrupt a cell). The file on disk is not modified.
    """
    notebook = Path(path).resolve()
    nb = nbformat.read(notebook, as_version=4)
    client = LabLikeClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                           resources={"metadata": {"path": str(notebook.parent)}})
    client.frontend_context = frontend_context
    if while_running is None:
        return client.execute(env=kernel_env(store, notebook))
    helper: threading.Thread | None = None

    def on_start(**_: Any) -> None:
        nonlocal helper
        helper = threading.Thread(target=while_running, args=(client,), daemon=True)
        helper.start()

    client.on_notebook_start = on_start
    try:
        return client.execute(env=kernel_env(store, notebook))
    finally:
        if helper is not None:
            helper.join(timeout=60)


class ReraisingShell(InteractiveShell):
    """InteractiveShell whose ``run_cell`` re-raises the cell's error (when ``reraise``)."""

    reraise = True

    def run_cell(self, raw_cell: str, store_history: bool = True, *args: Any, **kwargs: Any) -> Any:
        # Cells of a test are "typed by the user": they go to history, as in a notebook.
        result = super().run_cell(raw_cell, store_history, *args, **kwargs)
        if self.reraise:
            result.raise_error()
        return result


def tracking_shell() -> ReraisingShell:
    """The process's shell, reset (fresh namespace, history and execution count), nbtrack loaded."""
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = ReraisingShell.instance(config=config)
    # IPython made its namespace module sys.modules["__main__"], without __spec__: a process
    # pool or Dask nanny started later in this test process would fail to prepare its workers.
    if not hasattr(sys.modules["__main__"], "__spec__"):
        sys.modules["__main__"].__spec__ = None
    shell.reraise = True
    shell.run_line_magic("unload_ext", "nbtrack") if "nbtrack" in shell.extension_manager.loaded else None
    shell.config.pop("TrackMagics", None)  # a test's %config must not leak into the next
    shell.reset(new_session=True)
    shell.execution_count = 1
    shell.run_line_magic("load_ext", "nbtrack")
    return shell
