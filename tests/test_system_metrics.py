"""Opt-in system metrics against a real run: MLflow's names, one step per interval, stopped
when the run ends whatever its status, never on unless asked."""

from __future__ import annotations

import threading
import time

import pytest
from kernel_support import tracking_shell

import nbtrack
from nbtrack import system_metrics
from nbtrack.entities import RunStatus
from nbtrack.state import STATE

PSUTIL_NAMES = {
    "system/cpu_utilization_percentage", "system/system_memory_usage_megabytes",
    "system/system_memory_usage_percentage", "system/disk_usage_percentage", "system/disk_usage_megabytes",
    "system/disk_available_megabytes", "system/network_receive_megabytes", "system/network_transmit_megabytes",
}


def _monitor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("nbtrack-system-metrics")]


def _cpu_history(run_id: str) -> list:
    return nbtrack.MlflowClient().get_metric_history(run_id, "system/cpu_utilization_percentage")


def _system_keys(run_id: str) -> set[str]:
    return {k for k in nbtrack.get_run(run_id).data.metrics if k.startswith("system/")}


def test_a_run_samples_every_interval_under_mlflows_names_and_stops_at_its_end() -> None:
    nbtrack.set_system_metrics_sampling_interval(0.1)
    with nbtrack.start_run(log_system_metrics=True) as run:
        step, deadline = 0, time.monotonic() + 30
        # the user's loop goes on meanwhile, until the sampler has logged two steps
        while len(_cpu_history(run.info.run_id)) < 2 and time.monotonic() < deadline:
            nbtrack.log_metric("loss", 1 / (step + 1), step=step)
            step += 1
            time.sleep(0.05)
        assert len(_monitor_threads()) == 1
    assert _monitor_threads() == [] and STATE.system_monitors == {}
    assert _system_keys(run.info.run_id) == PSUTIL_NAMES  # no GPU here: no gpu_* metrics
    steps = [m.step for m in _cpu_history(run.info.run_id)]
    assert steps == list(range(len(steps))) and len(steps) >= 3  # two while open, one at the end
    memory = nbtrack.get_run(run.info.run_id).data.metrics["system/system_memory_usage_percentage"]
    assert 0 < memory <= 100
    time.sleep(0.3)  # nothing is logged after the run ended
    assert len(_cpu_history(run.info.run_id)) == len(steps)


def test_a_run_shorter_than_the_interval_still_gets_one_sample_and_a_failed_run_stops_it() -> None:
    with pytest.raises(ZeroDivisionError):
        with nbtrack.start_run(log_system_metrics=True) as run:  # default interval: 10 s
            1 / 0
    assert _monitor_threads() == []
    stored = nbtrack.get_run(run.info.run_id)
    assert stored.info.status is RunStatus.FAILED and _system_keys(run.info.run_id) == PSUTIL_NAMES
    assert stored.data.metric_summaries["system/cpu_utilization_percentage"].count == 1


def test_off_by_default_and_switched_by_enable_disable_and_the_environment(monkeypatch) -> None:
    with nbtrack.start_run() as plain:
        pass
    nbtrack.enable_system_metrics_logging()
    with nbtrack.start_run() as enabled:
        pass
    with nbtrack.start_run(log_system_metrics=False) as refused:
        pass
    nbtrack.disable_system_metrics_logging()
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    with nbtrack.start_run() as from_disabled:  # an explicit disable wins over the variable
        pass
    STATE.system_metrics_enabled = None
    with nbtrack.start_run() as from_env:
        pass
    assert _system_keys(plain.info.run_id) == set() == _system_keys(refused.info.run_id)
    assert _system_keys(from_disabled.info.run_id) == set()
    assert _system_keys(enabled.info.run_id) == PSUTIL_NAMES == _system_keys(from_env.info.run_id)


def test_node_id_samples_before_logging_and_bad_settings(monkeypatch) -> None:
    nbtrack.set_system_metrics_sampling_interval(0.05)
    nbtrack.set_system_metrics_samples_before_logging(3)
    nbtrack.set_system_metrics_node_id("node_0")
    with nbtrack.start_run(log_system_metrics=True) as run:
        time.sleep(0.5)
    keys = _system_keys(run.info.run_id)
    assert keys == {name.replace("system/", "system/node_0/") for name in PSUTIL_NAMES}
    history = nbtrack.MlflowClient().get_metric_history(run.info.run_id, "system/node_0/disk_usage_percentage")
    assert 1 <= len(history) <= 4  # about ten samples, three to a step (fewer on a busy machine)
    with pytest.raises(nbtrack.InvalidInput, match="sampling interval"):
        nbtrack.set_system_metrics_sampling_interval(0)
    with pytest.raises(nbtrack.InvalidInput, match="samples before logging"):
        nbtrack.set_system_metrics_samples_before_logging(0)


def test_a_failing_sampler_warns_once_and_never_reaches_the_user() -> None:
    class Broken:
        def sample(self) -> dict[str, float]:
            raise OSError("no /proc here")

    from nbtrack.system_metrics.monitor import SystemMonitor

    with pytest.warns(nbtrack.errors.NbtrackWarning, match="no /proc here"):
        with nbtrack.start_run() as run:
            monitor = SystemMonitor(run, 0.01, samplers=[Broken()])
            monitor.start()
            time.sleep(0.1)
            monitor.stop()
    assert nbtrack.get_run(run.info.run_id).info.status is RunStatus.FINISHED


def test_track_system_samples_the_cell() -> None:
    nbtrack.set_system_metrics_sampling_interval(0.05)
    ip = tracking_shell()
    ip.run_cell("%%track sampled --system -q\nimport time\ntime.sleep(0.2)")
    ip.run_cell("%%track plain -q\nx = 1")
    frame = nbtrack.search_runs(order_by=["attributes.run_name ASC"])
    assert frame["run_name"].tolist() == ["plain", "sampled"]
    cpu = frame["metrics.system/cpu_utilization_percentage"].tolist()
    assert cpu[0] != cpu[0] and cpu[1] == cpu[1]  # NaN for the plain cell, a value for --system
    assert _monitor_threads() == []


def test_gpu_metrics_are_named_as_mlflow_names_them(monkeypatch) -> None:
    """No GPU on this machine: NVML's Python API stands in (the one stand-in of this file), so
    the names and units are checked; a reading NVML refuses leaves out that metric only."""
    import types

    class NVMLError(Exception):
        pass

    def no_power(handle):
        raise NVMLError("not supported")

    nvml = types.SimpleNamespace(
        NVMLError=NVMLError, nvmlInit=lambda: None, nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=2e9, total=8e9),
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=40 + h),
        nvmlDeviceGetPowerUsage=lambda h: 150_000 if h == 0 else no_power(h),
        nvmlDeviceGetEnforcedPowerLimit=lambda h: 300_000,
    )
    monkeypatch.setitem(__import__("sys").modules, "pynvml", nvml)
    from nbtrack.system_metrics.samplers import Gpu, default_samplers

    assert Gpu().sample() == {
        "gpu_0_memory_usage_percentage": 25.0, "gpu_0_memory_usage_megabytes": 2000.0,
        "gpu_0_utilization_percentage": 40.0, "gpu_0_power_usage_watts": 150.0,
        "gpu_0_power_usage_percentage": 50.0,
        "gpu_1_memory_usage_percentage": 25.0, "gpu_1_memory_usage_megabytes": 2000.0,
        "gpu_1_utilization_percentage": 41.0,
    }
    assert any(isinstance(s, Gpu) for s in default_samplers())
    monkeypatch.setitem(__import__("sys").modules, "pynvml", None)  # not installed: no GPU sampler
    assert not any(isinstance(s, Gpu) for s in default_samplers())
