"""``nbtrack models``: list, show, alias, stage, history and download, through click's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

import nbtrack
from nbtrack.cli import main


@pytest.fixture
def registered() -> list[str]:
    X = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]]
    ids = []
    for c in (0.5, 2.0):
        with nbtrack.start_run() as run:
            nbtrack.log_metric("accuracy", c / 4)
            nbtrack.sklearn.log_model(LogisticRegression(C=c).fit(X, [0, 1, 0, 1]), name="model",
                                      registered_model_name="churn")
        ids.append(run.info.run_id)
    nbtrack.flush()
    return ids


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["models", *args], prog_name="nbtrack")
    return result.exit_code, result.output


def test_list_show_alias_stage_history(registered: list[str]) -> None:
    code, out = invoke()
    assert code == 0 and out.splitlines()[2].startswith("churn  2")
    assert invoke("alias", "churn", "champion", "1") == (0, "churn@champion -> v1\n")
    assert invoke("alias", "churn", "champion", "2")[0] == 0
    assert invoke("stage", "churn", "2", "production") == (0, "churn v2 is now in Production\n")
    code, out = invoke("show", "churn")
    assert code == 0
    assert "v2       Production  @champion" in out and "accuracy=0.5" in out and registered[1] in out
    code, out = invoke("history", "churn")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["when", "who", "what", "from", "to"]
    assert [line.split()[-3:] for line in lines[2:]] == [
        ["@champion", "-", "v1"], ["@champion", "v1", "v2"], ["stage", "None", "Production"]]


def test_download_checks_and_copies(registered: list[str], tmp_path: Path) -> None:
    code, out = invoke("download", "models:/churn/1", str(tmp_path / "m"))
    assert code == 0, out
    assert (tmp_path / "m" / "MLmodel").exists() and (tmp_path / "m" / "model.skops").exists()
    assert nbtrack.sklearn.load_model(tmp_path / "m").predict([[0.0, 1.0]]).shape == (1,)


def test_mistakes_are_one_line(registered: list[str]) -> None:
    for args, message in [(("alias", "churn", "latest", "1"), "reserved"),
                          (("alias", "nope", "x", "1"), "no registered model 'nope'"),
                          (("stage", "churn", "9", "Staging"), "has no version 9"),
                          (("show", "nope"), "no registered model 'nope'"),
                          (("download", "models:/churn", "/tmp/x"), "LoggedModel id")]:
        code, out = invoke(*args)
        assert code == 1 and message in out and out.count("\n") == 1, out
