"""The thread that samples the system while one run is open and logs into that run.

Every ``interval`` seconds it takes a sample; every ``samples_before_logging`` samples
it logs their mean (the latest value for cumulative counters) as one step of
``system/<name>`` metrics, appended to the run's write queue like any ``log_metric``
point: the user's loop never waits for it. When the run ends (any status) the run
stops the monitor first: one last sample covers the part of an interval since the
previous one, so even a run shorter than the interval has a point, and the points land
before the run's end.

Example:
    >>> monitor = SystemMonitor(run, interval=0.5)  # doctest: +SKIP
    >>> monitor.start(); ...; monitor.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..errors import warn_once

STOP_TIMEOUT_S = 5.0


class SystemMonitor:
    """Samples the system for one run on a daemon thread."""

    def __init__(self, run: Any, interval: float, samples_before_logging: int = 1,
                 node_id: str | None = None, samplers: list[Any] | None = None) -> None:
        from .samplers import default_samplers

        self.run = run
        self.interval = interval
        self.samples_before_logging = max(1, int(samples_before_logging))
        self.prefix = "system/" + (f"{node_id}/" if node_id else "")
        self.samplers = default_samplers() if samplers is None else samplers
        self.step = 0
        self._pending: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"nbtrack-system-metrics-{run.run_id[:8]}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Take the last sample, log what is pending, and end the thread (waits at most 5 s)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(STOP_TIMEOUT_S)

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self._sample()
            self._sample()
            self._publish()
        except Exception as exc:  # a sampler that fails must not reach the user: stop quietly
            warn_once("system-metrics", f"nbtrack stopped logging system metrics for this run: {exc}")

    def _sample(self) -> None:
        values: dict[str, float] = {}
        for sampler in self.samplers:
            values.update(sampler.sample())
        self._pending.append(values)
        if len(self._pending) >= self.samples_before_logging:
            self._publish()

    def _publish(self) -> None:
        if not self._pending:
            return
        samples, self._pending = self._pending, []
        latest = samples[-1]
        now = time.time()
        for key in latest:
            values = [s[key] for s in samples if key in s]
            value = values[-1] if "network" in key else sum(values) / len(values)
            # the run's hot path, as log_metric: (run pk, key, value, step, time in seconds)
            self.run._append_point((self.run.pk, self.prefix + key, float(value), self.step, now))
        self.step += 1
