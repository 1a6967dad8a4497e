"""docs/mlflow-compat.md stays true: one row per MLflow name of docs/mlflow-names.txt (written
from real MLflow by scripts/mlflow_names.py), each with a verdict, and every supported name
present in nbtrack with the parameters MLflow users pass."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import nbtrack

DOCS = Path(__file__).resolve().parent.parent / "docs"
VERDICTS = {"supported", "difference", "n/a", "planned"}
SECTIONS = {"## Fluent names": "fluent", "## `MlflowClient` methods": "client"}


def _names() -> dict[tuple[str, str], list[str]]:
    names = {}
    for line in (DOCS / "mlflow-names.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            kind, name, parameters = line.split("\t")
            names[(kind, name)] = [p for p in parameters.split(",") if p]
    return names


def _rows() -> dict[tuple[str, str], tuple[str, str]]:
    rows: dict[tuple[str, str], tuple[str, str]] = {}
    kind = None
    for line in (DOCS / "mlflow-compat.md").read_text().splitlines():
        if line.startswith("## "):
            kind = next((k for prefix, k in SECTIONS.items() if line.startswith(prefix)), None)
            continue
        match = re.fullmatch(r"\| `([^`]+)` \| ([^|]*) \| ([^|]*) \|", line)
        if match and kind is not None:
            key = (kind, match[1])
            assert key not in rows, f"two rows for {key}"
            rows[key] = (match[2].strip(), match[3].strip())
    return rows


NAMES, ROWS = _names(), _rows()


def _target(kind: str, name: str):
    owner = nbtrack if kind == "fluent" else nbtrack.MlflowClient
    return getattr(owner, name, None)


def test_every_mlflow_name_has_one_row_with_a_verdict_and_every_row_is_an_mlflow_name() -> None:
    assert len(NAMES) > 200  # the list is MLflow's whole surface, not a sample
    assert set(ROWS) - set(NAMES) == set(), "rows naming something MLflow does not have"
    assert set(NAMES) - set(ROWS) == set(), "MLflow names without a row"
    for key, (verdict, note) in ROWS.items():
        assert verdict in VERDICTS, (key, verdict)
        if verdict in ("n/a", "difference", "planned"):
            assert note, f"{key} is {verdict} and says neither why nor which difference"


def test_the_counts_the_page_quotes_are_the_tables() -> None:
    text = (DOCS / "mlflow-compat.md").read_text()
    for kind, label in (("fluent", "fluent names"), ("client", "client methods")):
        counted = {v: sum(1 for (k, _), (verdict, _) in ROWS.items() if k == kind and verdict == v) for v in VERDICTS}
        quoted = re.search(label + r" (\d+) supported, (\d+) with a difference,(?: (\d+) planned,)?\s+(\d+) n/a", text)
        assert quoted, label
        assert [int(quoted[1]), int(quoted[2]), int(quoted[3] or 0), int(quoted[4])] == \
            [counted["supported"], counted["difference"], counted["planned"], counted["n/a"]], label


@pytest.mark.parametrize("key", sorted(k for k, (v, _) in ROWS.items() if v in ("supported", "difference")),
                         ids=lambda key: f"{key[0]}.{key[1]}")
def test_a_supported_name_exists_with_mlflows_parameters(key) -> None:
    kind, name = key
    target = _target(kind, name)
    assert target is not None, f"docs/mlflow-compat.md says {kind} {name} is supported; nbtrack has no such name"
    wanted = NAMES[key]
    if not wanted or inspect.isclass(target) or inspect.ismodule(target):
        return
    parameters = inspect.signature(target).parameters
    names = [p for p in parameters if p != "self"]
    note = ROWS[key][1]
    for parameter in wanted:
        if parameter.startswith("_"):
            continue
        if f"`{parameter}`" in note and "not supported" in note:
            continue
        assert parameter in names, f"{kind} {name} does not take MLflow's {parameter!r} (and the notes do not say so)"
    # MLflow's required parameters come first, in MLflow's order, so positional calls mean the same
    required = [p for p in wanted if p in names and parameters[p].default is inspect.Parameter.empty]
    assert names[: len(required)] == required, f"{kind} {name}: {names[:len(required)]} != {required}"


@pytest.mark.parametrize("key", sorted(k for k, (v, _) in ROWS.items() if v == "planned"),
                         ids=lambda key: f"{key[0]}.{key[1]}")
def test_a_planned_name_does_not_exist_yet(key) -> None:
    """When it lands, this fails until its row says what it supports."""
    assert _target(*key) is None, f"{key} exists now: give its row in docs/mlflow-compat.md a verdict"
