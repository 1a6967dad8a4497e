"""What one system-metrics sample reads: CPU and memory, disk, network (psutil), NVIDIA GPUs
(NVML, when ``pynvml`` imports and finds a driver). Names and units are MLflow's
(``cpu_utilization_percentage``, ``system_memory_usage_megabytes``, ...; megabytes are 1e6
bytes); the monitor adds the ``system/`` prefix.

Example:
    >>> sampler = CpuMemory()
    >>> sorted(sampler.sample())
    ['cpu_utilization_percentage', 'system_memory_usage_megabytes', 'system_memory_usage_percentage']
"""

from __future__ import annotations

import os
from typing import Any

MB = 1e6


class CpuMemory:
    """CPU use since the previous sample (psutil's own bookkeeping), and memory in use."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        psutil.cpu_percent()  # the first call only starts psutil's interval

    def sample(self) -> dict[str, float]:
        memory = self._psutil.virtual_memory()
        return {
            "cpu_utilization_percentage": float(self._psutil.cpu_percent()),
            "system_memory_usage_megabytes": memory.used / MB,
            "system_memory_usage_percentage": memory.used / memory.total * 100,
        }


class Disk:
    """Use of the file system holding the root folder, as MLflow measures it."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil

    def sample(self) -> dict[str, float]:
        usage = self._psutil.disk_usage(os.sep)
        return {
            "disk_usage_percentage": float(usage.percent),
            "disk_usage_megabytes": usage.used / MB,
            "disk_available_megabytes": usage.free / MB,
        }


class Network:
    """Megabytes received and sent since the run started (cumulative, as MLflow)."""

    cumulative = True  # averaging is meaningless: the monitor logs the latest

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        counters = psutil.net_io_counters()
        self._received, self._sent = counters.bytes_recv, counters.bytes_sent

    def sample(self) -> dict[str, float]:
        counters = self._psutil.net_io_counters()
        return {
            "network_receive_megabytes": (counters.bytes_recv - self._received) / MB,
            "network_transmit_megabytes": (counters.bytes_sent - self._sent) / MB,
        }


class Gpu:
    """Memory, utilisation and power of each NVIDIA GPU NVML sees."""

    def __init__(self) -> None:
        import pynvml  # ImportError: no GPU metrics (the caller skips this sampler)

        pynvml.nvmlInit()  # NVMLError without a driver: skipped too
        self._nvml = pynvml
        self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]

    def sample(self) -> dict[str, float]:
        nvml, values = self._nvml, {}
        for i, handle in enumerate(self._handles):
            # Each reading on its own: a GPU without power readings still reports memory.
            try:
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                values[f"gpu_{i}_memory_usage_percentage"] = memory.used / memory.total * 100
                values[f"gpu_{i}_memory_usage_megabytes"] = memory.used / MB
            except nvml.NVMLError:
                pass
            try:
                values[f"gpu_{i}_utilization_percentage"] = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except nvml.NVMLError:
                pass
            try:
                milliwatts = nvml.nvmlDeviceGetPowerUsage(handle)
                values[f"gpu_{i}_power_usage_watts"] = milliwatts / 1000
                limit = nvml.nvmlDeviceGetEnforcedPowerLimit(handle)
                values[f"gpu_{i}_power_usage_percentage"] = milliwatts / limit * 100
            except nvml.NVMLError:
                pass
        return values


def default_samplers() -> list[Any]:
    """Every sampler this machine supports: psutil's always, the GPU's when NVML works."""
    samplers: list[Any] = [CpuMemory(), Disk(), Network()]
    try:
        samplers.append(Gpu())
    except Exception:  # no pynvml, no driver, no GPU: CPU-only machines log no GPU metrics
        pass
    return samplers
