"""search_runs and the filter language, on a real store of a dozen runs."""

from __future__ import annotations

import pytest

import nbtrack
from nbtrack.errors import FilterSyntaxError
from nbtrack.store.filters import compile_filter


@pytest.fixture
def runs() -> dict[str, str]:
    """Runs named by their alpha; some with tags and odd keys."""
    ids = {}
    nbtrack.set_experiment("grid")
    for alpha, accuracy in [(1, 0.85), (2, 0.81), (3, 0.79), (4, 0.95)]:
        with nbtrack.start_run(run_name=f"Alpha-{alpha}", tags={"family": "nb" if alpha < 3 else "svm"}) as run:
            nbtrack.log_params({"alpha": alpha, "learning rate": alpha / 10})
            nbtrack.log_metric("accuracy", accuracy)
            nbtrack.log_metric("val loss", 1 - accuracy)
        ids[f"a{alpha}"] = run.run_id
    nbtrack.set_experiment("other")
    with nbtrack.start_run(run_name="o'brien") as run:
        nbtrack.log_param("alpha", "1")
    ids["other"] = run.run_id
    return ids


def names(frame) -> list[str]:
    return sorted(frame["run_name"])


def test_issue_example_with_or_and_parentheses(runs) -> None:
    frame = nbtrack.search_runs(
        "metrics.accuracy > 0.8 and (params.alpha = '1' or params.alpha = '2')",
        order_by=["metrics.accuracy DESC"],
    )
    assert list(frame["run_name"]) == ["Alpha-1", "Alpha-2"]


@pytest.mark.parametrize(
    "filter_string, expected",
    [
        ("params.alpha != '1'", ["Alpha-2", "Alpha-3", "Alpha-4"]),
        ("metrics.accuracy >= 0.85", ["Alpha-1", "Alpha-4"]),
        ("metrics.accuracy < 0.8", ["Alpha-3"]),
        ("metrics.accuracy <= 0.81", ["Alpha-2", "Alpha-3"]),
        ("params.alpha IN ('1', '3')", ["Alpha-1", "Alpha-3", "o'brien"]),
        ("params.alpha NOT IN ('1', '3')", ["Alpha-2", "Alpha-4"]),
        ("tags.family = 'svm'", ["Alpha-3", "Alpha-4"]),
        ("attributes.run_name LIKE 'Alpha-%'", ["Alpha-1", "Alpha-2", "Alpha-3", "Alpha-4"]),
        ("attributes.run_name LIKE 'alpha-%'", []),  # LIKE is case-sensitive, as MLflow's
        ("attributes.run_name ILIKE 'alpha-%'", ["Alpha-1", "Alpha-2", "Alpha-3", "Alpha-4"]),
        ("run_name = 'o''brien'", ["o'brien"]),
        ("params.`learning rate` = '0.2'", ["Alpha-2"]),
        ('metrics."val loss" < 0.1', ["Alpha-4"]),
        ("attributes.status = 'FINISHED' AND tags.family IS NULL", ["o'brien"]),
        ("tags.family IS NOT NULL AND metrics.accuracy > 0.9", ["Alpha-4"]),
        ("(tags.family = 'nb' OR tags.family = 'svm') AND NOT_A_KEYWORD_FREE = 1", None),
        ("metrics.accuracy > 0.8 OR params.alpha = '3' AND tags.family = 'svm'", ["Alpha-1", "Alpha-2", "Alpha-3", "Alpha-4"]),
        ("attributes.start_time > 0 and attributes.duration >= 0", ["Alpha-1", "Alpha-2", "Alpha-3", "Alpha-4", "o'brien"]),
    ],
)
def test_filter_language(runs, filter_string: str, expected: list[str] | None) -> None:
    if expected is None:
        with pytest.raises(FilterSyntaxError, match="unknown field"):
            nbtrack.search_runs(filter_string)
        return
    assert names(nbtrack.search_runs(filter_string)) == expected


def test_experiment_scoping_and_max_results(runs) -> None:
    assert names(nbtrack.search_runs(experiment_names=["other"])) == ["o'brien"]
    assert len(nbtrack.search_runs(max_results=2)) == 2
    listed = nbtrack.search_runs(output_format="list", order_by=["params.alpha ASC", "metrics.accuracy DESC"])
    assert [r.info.run_name for r in listed][:2] == ["Alpha-1", "o'brien"]


def test_dataframe_has_mlflow_columns(runs) -> None:
    frame = nbtrack.search_runs()
    for column in ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time",
                   "params.alpha", "metrics.accuracy", "tags.family"):
        assert column in frame.columns
    assert str(frame["start_time"].dtype).startswith("datetime64") and "UTC" in str(frame["start_time"].dtype)
    assert frame["metrics.accuracy"].dtype == "float64"


def test_quotes_in_values_cannot_inject_sql(runs) -> None:
    # Every value is a bound parameter: the quote is part of the compared string.
    assert len(nbtrack.search_runs("params.alpha = '1'' OR ''1''=''1'")) == 0
    sql, args = compile_filter("params.alpha = 'x'' ; DROP TABLE runs; --'")
    assert "DROP" not in sql and args[-1] == "x' ; DROP TABLE runs; --"
    assert len(nbtrack.search_runs()) == 5


@pytest.mark.parametrize(
    "bad, where, why",
    [
        ("metrics.accuracy >", 18, "ends early"),
        ("metrics.accuracy > 'high'", 19, "metric values are numbers"),
        ("params.alpha = 1", 15, "quote it"),
        ("metrics.a > 1 and (params.b = '2'", 33, "expected"),
        ("metrics.a > 1 extra", 14, "join conditions with AND or OR"),
        ("foo.bar = 1", 0, "unknown field"),
        ("params.alpha ~ '1'", 13, "unexpected character"),
        ("params.alpha IN '1'", 16, "parenthesised list"),
    ],
)
def test_malformed_filter_says_where_and_why(bad: str, where: int, why: str) -> None:
    with pytest.raises(FilterSyntaxError) as error:
        compile_filter(bad)
    message = str(error.value)
    assert f"position {where}" in message and why in message and "\n" not in message


# --- hostile filters (issue #14, item 4): every input ends in an answer or a FilterSyntaxError ---

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_FIELDS = st.sampled_from([
    "metrics.accuracy", "metrics.layer.0.loss", "metrics.`val loss`", "params.alpha", "params.`learning rate`",
    "tags.family", "attributes.start_time", "start_time", "end_time", "attributes.status", "run_name",
    "metrics.0", "tags.mlflow.runName", "params.a.1.b",
])
_NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=False).map(repr).filter(lambda text: "inf" not in text),
    st.sampled_from(["1e999", "-1e999", "9" * 400, ".5", "1.", "+3"]),
)
_STRINGS = st.text(st.characters(codec=None, exclude_categories=()), max_size=12).map(
    lambda text: "'" + text.replace("'", "''") + "'"
)
_COMPARISONS = st.builds(
    lambda field, op, value: f"{field} {op} {value}",
    _FIELDS, st.sampled_from(["=", "!=", "<", ">=", "LIKE", "ILIKE"]), st.one_of(_NUMBERS, _STRINGS),
)
_FILTERS = st.recursive(
    _COMPARISONS,
    lambda inner: st.one_of(
        inner.map(lambda f: f"({f})"),
        st.builds(lambda a, b, op: f"{a} {op} {b}", inner, inner, st.sampled_from(["AND", "OR", "and"])),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filter_string=st.one_of(_FILTERS, st.text(st.characters(codec=None, exclude_categories=()), max_size=80)))
def test_any_filter_is_answered_or_refused_in_one_line(runs, filter_string: str) -> None:
    try:
        nbtrack.search_runs(filter_string)
    except FilterSyntaxError as error:
        assert "\n" not in str(error) or "\n" in filter_string


def test_nesting_is_bounded_and_answered_up_to_the_bound(runs) -> None:
    def nested(depth: int) -> str:
        return "(" * depth + "metrics.accuracy > 0.9" + ")" * depth

    assert names(nbtrack.search_runs(nested(100))) == ["Alpha-4"]
    for depth in (101, 1000):  # 1,000 used to be a RecursionError
        with pytest.raises(FilterSyntaxError, match="nested parentheses"):
            nbtrack.search_runs(nested(depth))


def test_five_hundred_terms_are_answered_and_more_refused(runs) -> None:
    # SQLite's expression depth limit (1,000) used to fail a long OR chain; it is a balanced tree now.
    terms = [f"id='{i}'" for i in range(499)] + ["metrics.accuracy > 0.9"]
    assert names(nbtrack.search_runs(" OR ".join(terms))) == ["Alpha-4"]
    with pytest.raises(FilterSyntaxError, match="more than 500 comparisons"):
        nbtrack.search_runs(" OR ".join(terms + ["id='x'"]))
