"""Opt-in system metrics: CPU, memory, disk, network and GPU sampled while a run is open.

Off by default, as in MLflow. Turn it on for one run with
``start_run(log_system_metrics=True)`` or ``%%track --system``, for every run with
``enable_system_metrics_logging()`` or ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=true``.
Metrics are MLflow's (``system/cpu_utilization_percentage``,
``system/system_memory_usage_megabytes``, ``system/disk_usage_percentage``,
``system/network_receive_megabytes``, ``system/gpu_0_utilization_percentage``...), one
step per ``set_system_metrics_sampling_interval`` seconds (10 by default, or
``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL``). psutil does the sampling (installed with
nbtrack); GPUs are sampled through NVML when ``pynvml`` (``nvidia-ml-py``) is installed.

Example:
    >>> import nbtrack
    >>> nbtrack.set_system_metrics_sampling_interval(1)
    >>> with nbtrack.start_run(log_system_metrics=True):  # doctest: +SKIP
    ...     train()
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import InvalidInput, warn_once
from ..state import STATE

DEFAULT_INTERVAL_S = 10.0
ENABLE_VARIABLE = "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"
INTERVAL_VARIABLE = "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"
SAMPLES_VARIABLE = "MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING"
NODE_VARIABLE = "MLFLOW_SYSTEM_METRICS_NODE_ID"


def enable_system_metrics_logging() -> None:
    """Sample system metrics for every run started from now on in this process."""
    STATE.system_metrics_enabled = True


def disable_system_metrics_logging() -> None:
    """Stop sampling for runs started from now on (``log_system_metrics=True`` still works)."""
    STATE.system_metrics_enabled = False


def set_system_metrics_sampling_interval(interval: float | None) -> None:
    """Seconds between samples (10 by default); None restores the default.

    Example:
        >>> set_system_metrics_sampling_interval(2.5)
    """
    if interval is not None and (isinstance(interval, bool) or not isinstance(interval, (int, float))
                                 or not interval > 0):
        raise InvalidInput(f"the sampling interval is a number of seconds above 0; got {interval!r}")
    STATE.system_metrics_interval = None if interval is None else float(interval)


def set_system_metrics_samples_before_logging(samples: int | None) -> None:
    """How many samples are averaged into each logged step (1 by default)."""
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
        raise InvalidInput(f"samples before logging is a whole number from 1; got {samples!r}")
    STATE.system_metrics_samples_before_logging = samples or 1


def set_system_metrics_node_id(node_id: str | None) -> None:
    """Name this machine in the metric keys (``system/<node_id>/cpu_utilization_percentage``),
    for runs that gather metrics from several nodes."""
    STATE.system_metrics_node_id = node_id


def is_enabled(requested: bool | None = None) -> bool:
    """Whether a run started now samples: its own flag, else the process's, else the env var."""
    if requested is not None:
        return bool(requested)
    if STATE.system_metrics_enabled is not None:
        return STATE.system_metrics_enabled
    return os.environ.get(ENABLE_VARIABLE, "").strip().lower() in ("true", "1", "yes")


def sampling_interval() -> float:
    if STATE.system_metrics_interval is not None:
        return STATE.system_metrics_interval
    try:
        return float(os.environ.get(INTERVAL_VARIABLE) or DEFAULT_INTERVAL_S)
    except ValueError:
        return DEFAULT_INTERVAL_S


def start_for(run: Any, requested: bool | None = None) -> None:
    """Start sampling for ``run`` (an ``ActiveRun``) when asked for; the run stops it as it ends.

    Never raises: without psutil, or when a sampler fails to start, the run goes on
    without system metrics, after one warning.
    """
    if not is_enabled(requested) or run.run_id in STATE.system_monitors:
        return
    from .monitor import SystemMonitor

    try:
        samples = int(os.environ.get(SAMPLES_VARIABLE) or STATE.system_metrics_samples_before_logging)
        monitor = SystemMonitor(run, sampling_interval(), samples,
                                STATE.system_metrics_node_id or os.environ.get(NODE_VARIABLE))
        STATE.system_monitors[run.run_id] = monitor
        monitor.start()
    except Exception as exc:  # ImportError (no psutil), a sampler failing at start
        STATE.system_monitors.pop(run.run_id, None)
        warn_once("system-metrics-start", f"nbtrack cannot log system metrics here ({exc}); "
                  "the run goes on without them (pip install psutil)")


def stop_all() -> None:
    """Stop every monitor (interpreter exit, ``state.reset()``): their runs are ending."""
    for monitor in list(STATE.system_monitors.values()):
        monitor.stop()
    STATE.system_monitors.clear()
