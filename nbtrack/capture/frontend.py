"""The kernel side of the frontend context channel: what JupyterLab knows and the kernel does not.

The kernel cannot see the notebook's current path (``JPY_SESSION_NAME`` goes
stale after a rename) or its unsaved edits. nbtrack's JupyterLab extension
opens a comm with target ``nbtrack.context`` just before it sends the
execute_request of a ``%%track`` cell; the comm's open message carries
``{"notebook_path", "notebook_content", "cell_id", "server_root"}``
(``notebook_path`` is relative to ``server_root``, the server's root directory). Shell messages are
handled in order, so the context has arrived by the time the cell runs.

``%%track`` calls :func:`register_comm_target` when the extension loads,
:func:`latest_context` when a cell runs, and :func:`unregister_comm_target`
on unload. Without a kernel (plain IPython, nbclient) registration is a no-op
and :func:`latest_context` stays ``None``.

Example:
    >>> from IPython.core.interactiveshell import InteractiveShell  # doctest: +SKIP
    >>> register_comm_target(InteractiveShell.instance())  # doctest: +SKIP
    False
    >>> latest_context() is None  # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import warn_once
from ..state import STATE

TARGET_NAME = "nbtrack.context"


@dataclass(frozen=True)
class FrontendContext:
    """What the frontend said about the notebook just before a ``%%track`` cell ran.

    ``received_at`` is ``time.time()`` when the kernel got it, so a caller can
    ignore a context that is older than the cell it describes.
    """

    notebook_path: str | None
    notebook_content: Mapping[str, Any] | None = field(repr=False)
    cell_id: str | None
    received_at: float
    server_root: str | None = None  # absolute (or "~/..."); notebook_path is relative to it

    @property
    def notebook_abspath(self) -> str | None:
        """``notebook_path`` anchored at ``server_root``, or None when either is unknown.

        Example:
            >>> parse_context({"notebook_path": "work/a.ipynb", "server_root": "/srv"}).notebook_abspath
            '/srv/work/a.ipynb'
        """
        if not self.notebook_path or not self.server_root:
            return None
        root = os.path.expanduser(self.server_root)
        return os.path.normpath(os.path.join(root, self.notebook_path))




def latest_context() -> FrontendContext | None:
    """The last context the frontend sent in this kernel, or ``None`` if it never sent one.

    Example:
        >>> ctx = latest_context()
        >>> ctx is None or isinstance(ctx.received_at, float)
        True
    """
    with STATE.lock:
        return STATE.frontend_context


def clear_context() -> None:
    """Forget the last context (a test, or a magic that consumed it, calls this)."""
    with STATE.lock:
        STATE.frontend_context = None


def register_comm_target(shell: Any) -> bool:
    """Listen for ``nbtrack.context`` comms in ``shell``'s kernel; False when there is no kernel.

    Registering twice replaces the earlier handler, so reloading the extension is safe.

    Example:
        >>> register_comm_target(get_ipython())  # doctest: +SKIP
        True
    """
    manager = _comm_manager(shell)
    if manager is None:
        return False
    manager.register_target(TARGET_NAME, _on_comm_open)
    return True


def unregister_comm_target(shell: Any) -> None:
    """Stop listening; harmless when nothing was registered.

    Example:
        >>> unregister_comm_target(get_ipython())  # doctest: +SKIP
    """
    manager = _comm_manager(shell)
    if manager is not None and TARGET_NAME in getattr(manager, "targets", {}):
        manager.unregister_target(TARGET_NAME, _on_comm_open)


def _comm_manager(shell: Any) -> Any | None:
    kernel = getattr(shell, "kernel", None)
    return getattr(kernel, "comm_manager", None) if kernel is not None else None


def _on_comm_open(comm: Any, open_msg: Mapping[str, Any]) -> None:
    """Record the context carried by the open message, then close the comm: one message per run."""
    try:
        context = parse_context(open_msg.get("content", {}).get("data", {}))
    except (TypeError, ValueError) as exc:
        # A malformed message must not break the cell that is about to run.
        warn_once("frontend-context", f"nbtrack ignored a malformed frontend context: {exc}")
        context = None
    finally:
        # The frontend may already be gone; a failed close has no one to tell.
        with contextlib.suppress(Exception):
            comm.close()
    if context is not None:
        with STATE.lock:
            STATE.frontend_context = context


def parse_context(data: Any, received_at: float | None = None) -> FrontendContext:
    """Validate the comm payload and build a :class:`FrontendContext`; TypeError/ValueError names the bad part.

    Example:
        >>> parse_context({"notebook_path": "a.ipynb", "cell_id": "c1",
        ...                "notebook_content": {"cells": []}}).notebook_path
        'a.ipynb'
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"expected an object, got {type(data).__name__}")
    path = data.get("notebook_path")
    content = data.get("notebook_content")
    cell_id = data.get("cell_id")
    if path is not None and not isinstance(path, str):
        raise ValueError("notebook_path must be a string")
    if content is not None and not isinstance(content, Mapping):
        raise ValueError("notebook_content must be an nbformat object")
    if cell_id is not None and not isinstance(cell_id, str):
        raise ValueError("cell_id must be a string")
    server_root = data.get("server_root")
    if server_root is not None and not isinstance(server_root, str):
        raise ValueError("server_root must be a string")
    return FrontendContext(
        notebook_path=path,
        notebook_content=content,
        cell_id=cell_id,
        received_at=time.time() if received_at is None else received_at,
        server_root=server_root,
    )


# --- kernel -> frontend: insert a cell now ------------------------------------------------

INSERT_TARGET = "nbtrack.insert_cell"


def insert_cell_below(shell: Any, code: str) -> None:
    """Put ``code`` in a new cell below the active one, now if nbtrack's extension is there.

    IPython's ``set_next_input`` travels with the next execute reply, so from a widget
    click (no execution) the cell would appear only when the next cell runs. So both go
    out: ``set_next_input`` for any frontend, and a comm (target ``nbtrack.insert_cell``)
    that nbtrack's JupyterLab extension answers by inserting the cell at once and
    acknowledging; the acknowledgement withdraws the queued ``set_next_input``, so the
    code is never inserted twice. A frontend without the target closes the comm unread.

    Example:
        >>> insert_cell_below(get_ipython(), "x = 1")  # doctest: +SKIP
    """
    shell.set_next_input(code, replace=False)
    if getattr(shell, "kernel", None) is None:
        return  # plain IPython: set_next_input alone puts it in the next prompt
    try:
        from comm import create_comm

        channel = create_comm(target_name=INSERT_TARGET, data={"code": code})
        channel.on_msg(lambda message: _withdraw_next_input(shell, code, message))
    except Exception as exc:  # the queued set_next_input still delivers it
        warn_once("insert-comm", f"nbtrack could not ask the frontend to insert the cell now: {exc}")


def _withdraw_next_input(shell: Any, code: str, message: Mapping[str, Any]) -> None:
    data = message.get("content", {}).get("data", {})
    if not data.get("inserted"):
        return
    payloads = shell.payload_manager.read_payload()  # the live list sent with the next reply
    payloads[:] = [p for p in payloads
                   if not (p.get("source") == "set_next_input" and p.get("text") == code)]
