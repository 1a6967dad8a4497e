"""Sweep configs in the format W&B and trackio share, and the trials they plan.

    method: grid            # grid | random | bayes (bayes needs Optuna)
    metric: {name: score, goal: maximize}
    run_cap: 16             # required for random and bayes
    parameters:
      alpha: {values: [0.1, 1, 10]}
      max_features: {min: 1000, max: 5000}          # int_uniform (integer bounds)
      smoothing: {distribution: log_uniform_values, min: 0.001, max: 1}

Grid takes only ``values`` / ``value`` (a continuous range has no finite grid, so
it is refused). Random draws ``run_cap`` trials with a seeded generator (``seed``,
default 0), so a plan can be made again.

Example:
    >>> config = parse_config({"method": "grid", "parameters": {"a": {"values": [1, 2]}, "b": {"value": 3}}})
    >>> plan_trials(config)
    [{'a': 1, 'b': 3}, {'a': 2, 'b': 3}]
"""

from __future__ import annotations

import itertools
import math
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .parameters import ParameterError

METHODS = ("grid", "random", "bayes")
DISTRIBUTIONS = ("constant", "categorical", "int_uniform", "uniform", "q_uniform", "log_uniform",
                 "log_uniform_values", "q_log_uniform_values", "normal", "log_normal")


class ConfigError(ParameterError):
    """A sweep config nbtrack cannot run; the message names the fix."""


@dataclass(frozen=True)
class SweepConfig:
    method: str
    parameters: Mapping[str, Mapping[str, Any]]
    metric: str | None = None
    goal: str = "minimize"
    run_cap: int | None = None
    seed: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def maximize(self) -> bool:
        return self.goal == "maximize"

    def better(self, value: float | None, than: float | None) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if than is None:
            return True
        return value > than if self.maximize else value < than


def load_config(path: str | Path) -> SweepConfig:
    """Read a YAML (or JSON) sweep config file."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"no sweep config at {path}; pass --config PATH to a YAML file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_config(data)


def grid_from_values(values: Mapping[str, Any]) -> SweepConfig:
    """The grid that ``-p alpha=0.1,1,10 -p max_features=1000,3000`` asks for."""
    parameters = {name: ({"values": list(v)} if isinstance(v, list) else {"value": v})
                  for name, v in values.items()}
    return parse_config({"method": "grid", "parameters": parameters})


def parse_config(data: Any) -> SweepConfig:
    if not isinstance(data, Mapping):
        raise ConfigError("a sweep config is a mapping with method, parameters and optionally metric, run_cap")
    method = data.get("method")
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    parameters = data.get("parameters")
    if not isinstance(parameters, Mapping) or not parameters:
        raise ConfigError("the sweep config needs `parameters:` with at least one entry")
    for name, spec in parameters.items():
        _check_spec(str(name), spec, method)
    metric = data.get("metric") or {}
    if isinstance(metric, str):
        metric = {"name": metric}
    goal = metric.get("goal", "minimize")
    if goal not in ("minimize", "maximize"):
        raise ConfigError(f"metric.goal must be minimize or maximize; got {goal!r}")
    run_cap = data.get("run_cap")
    if run_cap is not None and (not isinstance(run_cap, int) or run_cap < 1):
        raise ConfigError(f"run_cap must be a positive integer; got {run_cap!r}")
    if method in ("random", "bayes") and run_cap is None:
        raise ConfigError(f"method {method} draws trials until run_cap: add `run_cap: N` to the config")
    if method == "bayes" and not metric.get("name"):
        raise ConfigError("method bayes needs `metric: {name: ..., goal: ...}` to optimize")
    return SweepConfig(method, dict(parameters), metric.get("name"), goal, run_cap,
                       int(data.get("seed", 0)), dict(data))


def _check_spec(name: str, spec: Any, method: str) -> None:
    if not isinstance(spec, Mapping):
        raise ConfigError(f"parameters.{name} must be a mapping such as {{values: [1, 2]}}")
    kind = distribution(spec)
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"parameters.{name}: distribution {kind!r} is not supported "
                          f"(use one of {', '.join(DISTRIBUTIONS)})")
    if method == "grid" and kind not in ("constant", "categorical"):
        raise ConfigError(f"parameters.{name} is a continuous range, which has no grid: "
                          "give it `values: [...]`, or use method random or bayes")
    if kind == "categorical" and (not isinstance(spec["values"], list) or not spec["values"]):
        raise ConfigError(f"parameters.{name}.values must be a non-empty list")
    if kind in ("int_uniform", "uniform", "q_uniform", "log_uniform", "log_uniform_values",
                "q_log_uniform_values"):
        if "min" not in spec or "max" not in spec or spec["min"] > spec["max"]:
            raise ConfigError(f"parameters.{name} needs min <= max")
        if kind in ("log_uniform_values", "q_log_uniform_values") and spec["min"] <= 0:
            raise ConfigError(f"parameters.{name}: {kind} needs min > 0")
    if kind in ("normal", "log_normal") and method == "bayes":
        raise ConfigError(f"parameters.{name}: {kind} is not available with bayes; use min/max")


def distribution(spec: Mapping[str, Any]) -> str:
    """W&B's inference: values means categorical, value constant, int min/max int_uniform."""
    if "distribution" in spec:
        return str(spec["distribution"])
    if "values" in spec:
        return "categorical"
    if "value" in spec:
        return "constant"
    if isinstance(spec.get("min"), int) and isinstance(spec.get("max"), int):
        return "int_uniform"
    if "min" in spec and "max" in spec:
        return "uniform"
    if "mu" in spec or "sigma" in spec:
        return "normal"
    return "unknown"


def example_values(spec: Mapping[str, Any]) -> list[Any]:
    """Values a parameter can take, to check their kind against the notebook's defaults."""
    kind = distribution(spec)
    if kind == "categorical":
        return list(spec["values"])
    if kind == "constant":
        return [spec["value"]]
    if "min" in spec:
        return [spec["min"], spec["max"]]
    return [float(spec.get("mu", 0.0))]


def plan_trials(config: SweepConfig) -> list[dict[str, Any]]:
    """Every trial of a grid (capped by run_cap), or run_cap random draws."""
    names = list(config.parameters)
    if config.method == "grid":
        axes = [example_values(config.parameters[n]) for n in names]
        trials = [dict(zip(names, combo)) for combo in itertools.product(*axes)]
        return trials[: config.run_cap] if config.run_cap else trials
    if config.method == "random":
        rng = random.Random(config.seed)
        return [{n: sample(config.parameters[n], rng) for n in names} for _ in range(config.run_cap or 0)]
    raise ConfigError("bayes trials are proposed one by one (Optuna), not planned")


def sample(spec: Mapping[str, Any], rng: random.Random) -> Any:
    kind = distribution(spec)
    lo, hi = spec.get("min"), spec.get("max")
    if kind == "constant":
        return spec["value"]
    if kind == "categorical":
        return rng.choice(spec["values"])
    if kind == "int_uniform":
        return rng.randint(int(lo), int(hi))
    if kind == "uniform":
        return rng.uniform(lo, hi)
    if kind == "q_uniform":
        q = spec.get("q", 1)
        return round(rng.uniform(lo, hi) / q) * q
    if kind == "log_uniform":  # bounds in log space
        return math.exp(rng.uniform(lo, hi))
    if kind == "log_uniform_values":
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))
    if kind == "q_log_uniform_values":
        q = spec.get("q", 1)
        return round(math.exp(rng.uniform(math.log(lo), math.log(hi))) / q) * q
    if kind == "normal":
        return rng.gauss(spec.get("mu", 0.0), spec.get("sigma", 1.0))
    if kind == "log_normal":
        return math.exp(rng.gauss(spec.get("mu", 0.0), spec.get("sigma", 1.0)))
    raise ConfigError(f"distribution {kind!r} is not supported")


def optuna_suggest(trial: Any, name: str, spec: Mapping[str, Any]) -> Any:
    """The value an Optuna trial suggests for one parameter (method bayes)."""
    kind = distribution(spec)
    lo, hi = spec.get("min"), spec.get("max")
    if kind == "constant":
        return spec["value"]
    if kind == "categorical":
        return trial.suggest_categorical(name, list(spec["values"]))
    if kind == "int_uniform":
        return trial.suggest_int(name, int(lo), int(hi))
    if kind == "uniform":
        return trial.suggest_float(name, float(lo), float(hi))
    if kind == "q_uniform":
        return trial.suggest_float(name, float(lo), float(hi), step=spec.get("q", 1))
    if kind == "log_uniform":
        return trial.suggest_float(name, math.exp(lo), math.exp(hi), log=True)
    if kind in ("log_uniform_values", "q_log_uniform_values"):
        return trial.suggest_float(name, float(lo), float(hi), log=True)
    raise ConfigError(f"parameters.{name}: {kind} is not available with bayes")


def optuna_distribution(spec: Mapping[str, Any]) -> Any:
    """The Optuna distribution of one parameter (to tell a resumed study what already ran)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    kind = distribution(spec)
    lo, hi = spec.get("min"), spec.get("max")
    if kind == "categorical":
        return CategoricalDistribution(list(spec["values"]))
    if kind == "int_uniform":
        return IntDistribution(int(lo), int(hi))
    if kind == "uniform":
        return FloatDistribution(float(lo), float(hi))
    if kind == "q_uniform":
        return FloatDistribution(float(lo), float(hi), step=spec.get("q", 1))
    if kind == "log_uniform":
        return FloatDistribution(math.exp(lo), math.exp(hi), log=True)
    if kind in ("log_uniform_values", "q_log_uniform_values"):
        return FloatDistribution(float(lo), float(hi), log=True)
    raise ConfigError(f"{kind} is not available with bayes")


def sweep_config(config: Any, parameters: Mapping[str, Any] | None) -> SweepConfig:
    """The config of ``nbtrack.sweep``: a file or dict, inline ``-p`` grids, or both (``-p`` adds axes)."""
    if config is None:
        if not parameters:
            raise ConfigError("a sweep needs --config sweep.yaml or -p NAME=a,b,c grids")
        return grid_from_values(parameters)
    parsed = load_config(config) if isinstance(config, (str, os.PathLike)) else parse_config(config)
    if parameters:  # -p beside --config: fixed values or extra grid axes
        raw = dict(parsed.raw)
        raw["parameters"] = {**parsed.parameters, **grid_from_values(parameters).parameters}
        parsed = parse_config(raw)
    return parsed
