"""The nbtrack command, run as a real subprocess (and through click's runner for speed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def two_runs() -> list[str]:
    ids = []
    for alpha, accuracy in [(1, 0.9), (2, 0.7)]:
        with nbtrack.start_run(run_name=f"alpha-{alpha}") as run:
            nbtrack.log_param("alpha", alpha)
            nbtrack.log_metric("accuracy", accuracy)
            nbtrack.log_text("x", "notes.txt")
        ids.append(run.run_id)
    nbtrack.flush()
    return ids


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_runs_table_csv_json_and_filter(two_runs: list[str]) -> None:
    code, out = invoke("runs")
    assert code == 0 and "alpha-1" in out and "metrics.accuracy" in out
    code, out = invoke("runs", "metrics.accuracy > 0.8", "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("run_id,name,status")
    assert len(out.splitlines()) == 2 and two_runs[0] in out
    code, out = invoke("runs", "--format", "json", "-o", "metrics.accuracy ASC")
    assert [row["name"] for row in json.loads(out)] == ["alpha-2", "alpha-1"]


def test_show_by_prefix_and_json(two_runs: list[str]) -> None:
    code, out = invoke("show", two_runs[0][:8])
    assert code == 0 and "alpha-1" in out and "notes.txt" in out and "accuracy" in out
    code, out = invoke("show", two_runs[0], "--format", "json")
    detail = json.loads(out)
    assert detail["params"] == {"alpha": "1"} and detail["metric_summaries"]["accuracy"]["count"] == 1


def test_sql_reads_and_refuses_writes(two_runs: list[str]) -> None:
    code, out = invoke("sql", "SELECT run_name FROM runs ORDER BY run_name", "--format", "csv")
    assert code == 0 and out.split() == ["run_name", "alpha-1", "alpha-2"]
    for statement in ("DELETE FROM runs", "UPDATE runs SET status = 'X'", "ATTACH DATABASE ':memory:' AS m",
                      "PRAGMA journal_mode=DELETE", "CREATE TABLE t (x)"):
        code, out = invoke("sql", statement)
        assert code == 1 and "only reads" in out, statement
    code, out = invoke("sql", "SELECT 1 UNION ALL SELECT 2", "--limit", "1")
    assert code == 0 and "stopped at 1 rows" in out
    code, out = invoke("sql", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                              "SELECT count(*) FROM c", "--timeout", "0.2")
    assert code == 1 and "limit" in out
    assert len(nbtrack.search_runs()) == 2  # nothing was written


def test_mistakes_are_one_line(two_runs: list[str]) -> None:
    code, out = invoke("runs", "metrics.accuracy >")
    assert code == 1 and out.count("\n") == 1 and "position" in out
    code, out = invoke("show", "zzzz")
    assert code == 1 and "no run id starts with 'zzzz'" in out


def test_where_gc_experiments(two_runs: list[str], nbtrack_home: Path) -> None:
    code, out = invoke("where")
    assert str(nbtrack_home / "nbtrack.db") in out
    nbtrack.Client().delete_run(two_runs[1])
    code, out = invoke("gc", "--dry-run")
    assert "would purge 1 deleted run(s)" in out
    code, out = invoke("gc")
    assert "purged 1 deleted run(s)" in out
    code, out = invoke("experiments", "--format", "json")
    assert json.loads(out) == [{"experiment_id": "1", "name": "Default", "runs": 1}]


def test_python_dash_m_works(two_runs: list[str], nbtrack_home: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "nbtrack", "runs", "--store", str(nbtrack_home)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "alpha-2" in result.stdout


def test_docs_cli_page_matches_help() -> None:
    """docs/cli.md shows each command's --help verbatim; regenerate with the command below."""
    expected = _click_neutral(render_cli_docs())
    actual = _click_neutral((REPO / "docs" / "cli.md").read_text())
    assert actual == expected, "docs/cli.md is stale: run `python tests/test_cli.py` to regenerate it"


def _click_neutral(text: str) -> str:
    """Click 8.5 writes a group's optional subcommand as ``[COMMAND]``, 8.4 as ``COMMAND``:
    the page is the same page under either."""
    return text.replace("[COMMAND] [ARGS]...", "COMMAND [ARGS]...")


def render_cli_docs() -> str:
    parts = ["# The `nbtrack` command\n\n",
             "Generated from `--help`; `tests/test_cli.py` checks that it matches.\n"]
    for name in [None, *sorted(main.commands)]:
        args = ["--help"] if name is None else [name, "--help"]
        output = CliRunner().invoke(main, args, prog_name="nbtrack", terminal_width=100).output
        title = "nbtrack" if name is None else f"nbtrack {name}"
        parts.append(f"\n## `{title}`\n\n```\n{output.rstrip()}\n```\n")
    return re.sub(r"\n{3,}", "\n\n", "".join(parts))


if __name__ == "__main__":
    (REPO / "docs" / "cli.md").write_text(render_cli_docs())
