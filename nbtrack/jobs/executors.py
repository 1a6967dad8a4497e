"""The executors a sweep makes for itself: this process (one worker) or a local process pool.

A user's own ``concurrent.futures.Executor`` (a Dask ``ClientExecutor``, a loky
executor, a thread pool) is used as given; these are the defaults.

Example:
    >>> InlineExecutor().submit(sum, [1, 2]).result()
    3
"""

from __future__ import annotations

import os
import signal
from concurrent.futures import Executor, Future
from typing import Any


class InlineExecutor(Executor):
    """One worker: run each execution here, at submit time (same worker path, no pool)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # Ctrl-C propagates: the driver stops at once
            future.set_exception(exc)
        return future


def process_pool(workers: int) -> Executor:
    import multiprocessing
    import sys
    from concurrent.futures import ProcessPoolExecutor

    main = sys.modules.get("__main__")
    if main is not None and not hasattr(main, "__spec__"):
        # An embedded IPython shell puts its namespace module there, without the __spec__
        # multiprocessing reads to prepare a worker ("module '__main__' has no attribute
        # '__spec__'"); None is what an interactive interpreter's __main__ holds.
        main.__spec__ = None

    # forkserver: the driver has threads (the write queue), which fork would copy half-held.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":  # import the execution path once; each worker forks from it
        context.set_forkserver_preload(["nbtrack.jobs.worker", "nbtrack.jobs.execute", "papermill"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def stop_executor(executor: Executor) -> None:
    """Stop an executor we made: cancel what waits, interrupt what runs, kill what stays."""
    processes = list((getattr(executor, "_processes", None) or {}).values())  # a ProcessPoolExecutor's
    for process in processes:
        try:
            os.kill(process.pid, signal.SIGINT)  # run_notebook ends its kernel on the way out
        except (OSError, TypeError):
            pass
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
