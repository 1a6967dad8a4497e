"""The kernel a job's notebook runs in: its environment, and no TCP ports to race for.

Parallel papermill executions race for ZMQ ports ("Address already in use",
papermill#511): jupyter_client picks free ports by binding and releasing them, and
another process can take one in between. A job's kernel talks over ``ipc``
transport instead, through socket files in a folder of its own, so two kernels can
never collide. Its environment carries where to record (``NBTRACK_HOME``), which run
its ``%%track`` cells belong to (``NBTRACK_PARENT_RUN_ID``) and the notebook's path
(``JPY_SESSION_NAME``, as JupyterLab sets it).

Example:
    >>> km = job_kernel_manager("python3", {"NBTRACK_HOME": "/tmp/s"}, "/tmp/k")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.utils import run_sync
from traitlets import Dict, Unicode

from .parameters import ParameterError


class MissingKernel(ParameterError):
    """The notebook asks for a kernel this machine does not have."""


class JobKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` that starts its kernel with ``job_env`` added."""

    job_env = Dict()
    log_path = Unicode("")

    async def start_kernel(self, **kw):  # type: ignore[override]
        kw["env"] = {**os.environ, **(kw.get("env") or {}), **self.job_env}
        if self.log_path:
            # The kernel's own log (not cell output, which papermill keeps): a kernel torn down
            # by Ctrl-C prints tracebacks the user need not see. ``log_tail`` reads it back.
            log = open(self.log_path, "ab")  # noqa: SIM115
            try:
                kw.setdefault("stderr", log)
                return await super().start_kernel(**kw)
            finally:
                log.close()  # the kernel holds its own copy of the descriptor
        return await super().start_kernel(**kw)

    def log_tail(self, lines: int = 20) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError:
            return ""


def check_kernel(name: str) -> None:
    """Raise ``MissingKernel`` (one line naming the fix) when no kernelspec ``name`` exists."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        manager.get_kernel_spec(name)
    except NoSuchKernel:
        available = ", ".join(sorted(manager.find_kernel_specs())) or "none"
        raise MissingKernel(
            f"no Jupyter kernel named {name!r} here (installed: {available}): pass --kernel NAME, "
            f"or install it (python -m ipykernel install --user --name {name})") from None


def job_kernel_manager(kernel_name: str, env: Mapping[str, str], folder: str) -> JobKernelManager:
    """A kernel manager over ipc sockets in ``folder`` (absolute), with ``env`` for the kernel."""
    os.makedirs(folder, exist_ok=True)
    if os.name == "nt":  # no ipc sockets on Windows: TCP, and the port race stays possible there
        km = JobKernelManager(kernel_name=kernel_name)
    else:
        km = JobKernelManager(kernel_name=kernel_name, transport="ipc")
        km.ip = os.path.join(os.path.abspath(folder), "kernel")
    km.connection_file = os.path.join(os.path.abspath(folder), "kernel.json")
    km.job_env = dict(env)
    km.log_path = os.path.join(os.path.abspath(folder), "kernel.log")
    return km


def shutdown(km: JobKernelManager) -> None:
    """Ask the kernel to exit (so it flushes what it recorded), killing it if it does not."""
    try:
        if run_sync(km.is_alive)():
            run_sync(km.shutdown_kernel)(now=False)
    except Exception:
        try:
            run_sync(km.shutdown_kernel)(now=True)
        except Exception:
            pass
