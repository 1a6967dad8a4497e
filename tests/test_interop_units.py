"""Fast checks of push/pull's pure parts: URIs, MLflow's limits, tag mapping, messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_python

import nbtrack
from nbtrack.errors import InvalidInput
from nbtrack.interop.limits import MAX_PARAMS, name_problem, sized_batches
from nbtrack.interop.mapping import SYNTHESIZED, attributes_from, push_tags, split_synthesized
from nbtrack.interop.remote import remote_key, tracking_uri
from nbtrack.store.transfer import RunRecord


def test_a_password_never_names_a_remote() -> None:
    assert remote_key("postgresql+psycopg2://me:pw@db:5432/mlflow") == "postgresql://me@db:5432/mlflow"
    assert remote_key("http://host:5000/") == "http://host:5000"
    assert remote_key("sqlite:///rel.db") == f"sqlite:///{Path('rel.db').absolute()}"


@pytest.mark.parametrize("uri, message", [
    ("ftp://x/y", "not an MLflow tracking URI"),
    ("", "give an MLflow tracking URI"),
])
def test_uris_nbtrack_cannot_use_are_refused(uri: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        tracking_uri(uri)


def test_a_folder_is_a_pull_source_not_a_push_target(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="push to an MLflow server"):
        tracking_uri(str(tmp_path))
    with pytest.raises(InvalidInput, match="is not an MLflow store"):
        tracking_uri(str(tmp_path), pulling=True)


def test_mlflow_name_rules() -> None:
    assert name_problem("train/loss") is None and name_problem("a b:c-d.e_f") is None
    for bad in ("a//b", "a/./b", "/a", "../a", "a#b", "x" * 251):
        assert name_problem(bad) is not None, bad


def test_batches_stay_within_mlflows_limits() -> None:
    pairs = [(f"k{i}", "v" * 5000) for i in range(250)]
    batches = list(sized_batches(pairs, MAX_PARAMS))
    assert [p for b in batches for p in b] == pairs
    assert all(len(b) <= MAX_PARAMS and sum(2 * (len(k) + len(v)) + 40 for k, v in b) <= 800_000
               for b in batches)


def test_the_tags_a_push_adds_come_off_again() -> None:
    run = RunRecord(run_id="a" * 32, experiment_name="e", run_name="r", status="CRASHED", start_time=1,
                    user_id="me", cell_id="c7", execution_count=4, notebook_path="nb.ipynb",
                    tags={"team": "nlp", "mlflow.user": "someone"})
    added = push_tags(run, parent_remote_id="p" * 32)
    assert "mlflow.user" not in added  # the run's own tag wins
    own, synthesized = split_synthesized({**run.tags, **added})
    assert own == {"team": "nlp", "mlflow.user": "someone"}
    assert SYNTHESIZED not in own and synthesized["mlflow.parentRunId"] == "p" * 32
    assert attributes_from(synthesized) == {"notebook_path": "nb.ipynb", "cell_id": "c7",
                                            "execution_count": 4}
    assert synthesized["nbtrack.status"] == "CRASHED"


def test_an_http_tracking_uri_points_at_push() -> None:
    with pytest.raises(InvalidInput, match="nbtrack push --to URI"):
        nbtrack.set_tracking_uri("http://mlflow.team:5000")


def test_without_the_extra_one_line_names_it() -> None:
    done = run_python(
        "import sys; sys.modules['mlflow'] = None\n"
        "import nbtrack\n"
        "try:\n    nbtrack.push(to='http://127.0.0.1:1')\n"
        "except Exception as exc:\n    print(exc)\n")
    assert done.stdout.strip() == 'pushing and pulling need MLflow\'s client: pip install "nbtrack[mlflow]"', done.stderr


def test_importing_nbtrack_does_not_import_mlflow() -> None:
    done = run_python("import sys, nbtrack; nbtrack.push; print('mlflow' in sys.modules)")
    assert done.stdout.strip() == "False", done.stderr


def test_three_way_follows_edits_made_there_and_keeps_edits_made_here() -> None:
    from nbtrack.interop.follow import followed_tags
    from nbtrack.store.sync import three_way

    base = {"team": "nlp", "stage": "dev", "gone": "x", "both": "orig", "mine": "a", "dropped": "d"}
    server = {"team": "nlp", "stage": "prod", "both": "theirs", "mine": "a", "dropped": "d", "new": "n"}
    local = {"team": "nlp", "stage": "dev", "gone": "x", "both": "ours", "mine": "b"}
    changes = three_way(base, server, local)
    # stage changed there only; new added there; gone deleted there; both edited on both
    # sides (local kept); mine edited here only; dropped deleted here only (stays deleted)
    assert changes.set_keys == {"stage": "prod", "new": "n"}
    assert changes.delete_keys == ("gone",)
    assert changes.kept_local == 1
    assert three_way(server, server, local) == ({}, (), 0)  # nothing moved there: nothing to do
    pushed = {"team": "nlp", "nbtrack.run_id": "abc", "mlflow.parentRunId": "p1",
              "nbtrack.cell_id": "c1", SYNTHESIZED: "nbtrack.cell_id,nbtrack.run_id"}
    assert followed_tags(pushed) == {"team": "nlp"}  # a push's own and run-naming tags are not followed
