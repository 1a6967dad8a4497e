"""``nbtrack.models()``: the registry inline, static HTML (escaped) and text."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

import nbtrack
from nbtrack.errors import RegistryNotFound


def test_view_shows_versions_with_metrics_aliases_stages() -> None:
    X = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]]
    for c in (0.5, 2.0):
        with nbtrack.start_run(run_name=f"<b>run {c}</b>"):
            nbtrack.log_metric("accuracy", c / 4)
            nbtrack.log_metric("f1", c / 5)
            nbtrack.sklearn.log_model(LogisticRegression(C=c).fit(X, [0, 1, 0, 1]), name="model",
                                      registered_model_name="churn")
    nbtrack.Client().set_registered_model_alias("churn", "champion", 2)
    view = nbtrack.models(display=False)
    assert [(v.name, v.version, v.aliases) for v in view.versions] == [
        ("churn", 2, ("champion",)), ("churn", 1, ())]
    assert view.versions[0].metrics == {"accuracy": 0.5, "f1": 0.4}
    text = repr(view)
    assert text.splitlines()[0] == "nbtrack registry · 1 registered model · 2 versions"
    assert "@champion" in text and "accuracy" in text
    page = view._repr_html_()
    assert "<script" not in page and "&lt;b&gt;run 2.0&lt;/b&gt;" in page
    assert list(view.df["version"]) == [2, 1]
    assert callable(nbtrack.models) and nbtrack.models("churn", display=False).versions == view.versions
    with pytest.raises(RegistryNotFound, match="no registered model 'nope'"):
        nbtrack.models("nope", display=False)


def test_view_of_an_empty_or_missing_store() -> None:
    view = nbtrack.models(display=False)
    assert view.versions == [] and "No registered versions yet" in view._repr_html_()
