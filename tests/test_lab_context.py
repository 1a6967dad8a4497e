"""The kernel side of the frontend context channel, in a real ipykernel driven over ZMQ.

The client here plays JupyterLab: it sends ``comm_open`` to ``nbtrack.context``
and then an execute request, in that order, as the extension does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from nbtrack.capture.frontend import TARGET_NAME, parse_context

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def kernel() -> Iterator:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    manager, client = start_new_kernel(kernel_name="python3", env=env)
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def execute(client, code: str) -> str:
    """Run ``code``; return what it printed (stdout)."""
    reply = client.execute_interactive(code, timeout=30, output_hook=(printed := _Collector()))
    assert reply["content"]["status"] == "ok", reply["content"]
    return printed.text


class _Collector:
    def __init__(self) -> None:
        self.text = ""

    def __call__(self, msg: dict) -> None:
        if msg["msg_type"] == "stream":
            self.text += msg["content"]["text"]


def open_context_comm(client, data: dict) -> None:
    msg = client.session.msg(
        "comm_open", {"comm_id": os.urandom(8).hex(), "target_name": TARGET_NAME, "data": data}
    )
    client.shell_channel.send(msg)


def test_context_sent_before_the_cell_is_what_the_cell_sees(kernel) -> None:
    execute(
        kernel,
        "from nbtrack.capture import frontend\nprint(frontend.register_comm_target(get_ipython()))",
    )
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}
    open_context_comm(
        kernel,
        {
            "notebook_path": "w/a.ipynb",
            "notebook_content": notebook,
            "cell_id": "c1",
            "server_root": "/srv",
        },
    )
    printed = execute(
        kernel,
        "import json\nc = frontend.latest_context()\n"
        "print(json.dumps([c.notebook_path, c.cell_id, c.notebook_abspath, c.notebook_content]))",
    )
    assert json.loads(printed) == ["w/a.ipynb", "c1", "/srv/w/a.ipynb", notebook]


def test_a_malformed_context_is_ignored_and_unregister_stops_listening(kernel) -> None:
    execute(
        kernel, "from nbtrack.capture import frontend\nfrontend.register_comm_target(get_ipython())"
    )
    open_context_comm(kernel, {"notebook_path": 3, "cell_id": "c1"})
    assert execute(kernel, "print(frontend.latest_context())") == "None\n"
    execute(kernel, "frontend.unregister_comm_target(get_ipython())")
    open_context_comm(kernel, {"notebook_path": "a.ipynb", "cell_id": "c2"})
    assert execute(kernel, "print(frontend.latest_context())") == "None\n"


def test_register_without_a_kernel_is_a_no_op() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from nbtrack.capture import frontend

    existed = InteractiveShell.initialized()
    shell = InteractiveShell.instance()
    try:
        assert frontend.register_comm_target(shell) is False
        frontend.unregister_comm_target(shell)
    finally:
        if not existed:  # leave the singleton as other tests expect it
            InteractiveShell.clear_instance()


def test_parse_context_names_the_bad_field() -> None:
    with pytest.raises(ValueError, match="cell_id must be a string"):
        parse_context({"cell_id": 5})
    with pytest.raises(TypeError, match="expected an object"):
        parse_context(["not", "a", "dict"])
