"""The benchmark registry: a suite is a module that registers functions here.

A benchmark is a function ``(engine, ctx) -> Result`` that runs inside a worker
process (the interpreter that holds that engine) against a fresh store. It
measures one workload for one engine; the orchestrator (``run.py``) repeats it,
interleaving engines, and reports medians and peer/nbtrack ratios.

To add a suite, create ``benchmarks/suites/<name>.py`` and decorate functions:

    >>> from benchmarks.registry import benchmark, Result
    >>> @benchmark("demo", "noop", title="no-op", unit="ms",
    ...            full={"n": 10}, quick={"n": 1}, register=False)
    ... def noop(engine, ctx):
    ...     return Result(0.0)
    >>> noop.key
    'demo.noop'
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENGINES: tuple[str, ...] = ("nbtrack", "mlflow", "trackio")
PEERS: tuple[str, ...] = ("mlflow", "trackio")


class Infeasible(Exception):
    """Raised by a benchmark for an engine that cannot run the workload; the message says why."""


@dataclass
class Result:
    """One measurement. ``value`` is in the benchmark's unit; ``text`` is for check rows."""

    value: float | None = None
    text: str | None = None
    note: str = ""
    extrapolated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "text": self.text,
            "note": self.note,
            "extrapolated": self.extrapolated,
            "extra": self.extra,
        }


@dataclass
class Context:
    """What a benchmark function gets besides its engine: a fresh store and its workload."""

    store: Path
    params: dict[str, Any]
    quick: bool
    repeat: int  # the requested N, for benchmarks that repeat inside one process


@dataclass(frozen=True)
class Extrapolate:
    """Report an engine's value as another benchmark's median scaled linearly, said so in the table.

    The factor is this benchmark's ``scale_param`` over the source benchmark's, for that engine.
    ``reason`` may use ``{n}``, this benchmark's ``scale_param``.
    """

    from_key: str
    scale_param: str
    reason: str


@dataclass(frozen=True)
class Benchmark:
    suite: str
    name: str
    title: str  # may use {params} of the full/quick workload, e.g. "{runs} runs"
    unit: str
    func: Callable[[Any, Context], Result]
    full: dict[str, Any]
    quick: dict[str, Any]
    overrides: dict[str, dict[str, Any]]  # per-engine workload changes (both modes)
    quick_overrides: dict[str, dict[str, Any]]
    engines: tuple[str, ...]
    extrapolate: dict[str, Extrapolate]  # engines that are not run but extrapolated
    target: str
    target_max: float | None  # nbtrack's value must be at most this (checked in the table)
    ratios: bool  # False for rows where peer/nbtrack means nothing (floors, checks)
    repeats_inside: bool  # True: one worker does all N repetitions (store built once)
    needs_engine: bool  # False: the worker does not open a store (e.g. import timing)
    uses_library: bool  # False: runs in the engine's interpreter without importing it at all
    timeout_s: float

    @property
    def key(self) -> str:
        return f"{self.suite}.{self.name}"

    def params_for(self, engine: str, quick: bool) -> dict[str, Any]:
        params = dict(self.quick if quick else self.full)
        params.update(self.overrides.get(engine, {}))
        if quick:
            params.update(self.quick_overrides.get(engine, {}))
        return params

    def title_for(self, quick: bool) -> str:
        return self.title.format(**(self.quick if quick else self.full))


REGISTRY: dict[str, Benchmark] = {}


def benchmark(
    suite: str,
    name: str,
    *,
    title: str,
    unit: str,
    full: dict[str, Any] | None = None,
    quick: dict[str, Any] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    quick_overrides: dict[str, dict[str, Any]] | None = None,
    engines: tuple[str, ...] = ENGINES,
    extrapolate: dict[str, Extrapolate] | None = None,
    target: str = "",
    target_max: float | None = None,
    ratios: bool = True,
    repeats_inside: bool = False,
    needs_engine: bool = True,
    uses_library: bool = True,
    timeout_s: float = 600.0,
    register: bool = True,
) -> Callable[[Callable[[Any, Context], Result]], Benchmark]:
    """Register ``func`` as benchmark ``suite.name``; the decorated name becomes the Benchmark."""

    def decorate(func: Callable[[Any, Context], Result]) -> Benchmark:
        bench = Benchmark(
            suite=suite,
            name=name,
            title=title,
            unit=unit,
            func=func,
            full=full or {},
            quick={**(full or {}), **(quick or {})},
            overrides=overrides or {},
            quick_overrides=quick_overrides or {},
            engines=engines,
            extrapolate=extrapolate or {},
            target=target,
            target_max=target_max,
            ratios=ratios,
            repeats_inside=repeats_inside,
            needs_engine=needs_engine,
            uses_library=uses_library,
            timeout_s=timeout_s,
        )
        if register:
            if bench.key in REGISTRY:
                raise ValueError(f"benchmark {bench.key} is registered twice")
            REGISTRY[bench.key] = bench
        return bench

    return decorate


def load_suites(only: list[str] | None = None) -> list[Benchmark]:
    """Import every module in ``benchmarks.suites`` and return the selected benchmarks in order."""
    import benchmarks.suites as suites_pkg

    for mod in pkgutil.iter_modules(suites_pkg.__path__):
        importlib.import_module(f"benchmarks.suites.{mod.name}")
    selected = [
        b
        for b in REGISTRY.values()
        if not only or b.suite in only or b.key in only
    ]
    if only:
        unknown = [o for o in only if o not in {b.suite for b in REGISTRY.values()} | set(REGISTRY)]
        if unknown:
            known = sorted({b.suite for b in REGISTRY.values()})
            raise SystemExit(f"unknown suite or benchmark {unknown}; suites: {known}")
    return selected
