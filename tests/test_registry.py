"""The model registry: MLflow's client methods and rules, URIs, history, filters, bad input.
Real scikit-learn models logged to real runs in a temp store."""

from __future__ import annotations

import time
import warnings

import pytest
from sklearn.linear_model import LogisticRegression

import nbtrack
from nbtrack.errors import FilterSyntaxError, InvalidInput, ModelError, RegistryNotFound
from nbtrack.models.locate import resolve_source
from nbtrack.models.uri import parse_model_uri
from nbtrack.tracking.fluent import store_handle


@pytest.fixture
def logged():
    """Three runs, each with a small fitted model under 'model'; returns their run ids."""
    X = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]]
    ids = []
    for c in (0.1, 1.0, 10.0):
        with nbtrack.start_run(run_name=f"logreg-{c}") as run:
            nbtrack.log_metric("accuracy", c / 10)
            nbtrack.sklearn.log_model(LogisticRegression(C=c).fit(X, [0, 1, 0, 1]), name="model")
        ids.append(run.info.run_id)
    return ids


@pytest.fixture
def client():
    return nbtrack.Client()


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return fn(*args, **kwargs)


def test_registered_model_lifecycle(client, logged) -> None:
    rm = client.create_registered_model("churn", tags={"team": "cx"}, description="first")
    assert (rm.name, rm.description, rm.tags) == ("churn", "first", {"team": "cx"})
    with pytest.raises(InvalidInput, match="already exists"):
        client.create_registered_model("churn")
    client.update_registered_model("churn", description="second")
    client.set_registered_model_tag("churn", "owner", "me")
    client.delete_registered_model_tag("churn", "team")
    mv = client.create_model_version("churn", f"runs:/{logged[0]}/model", description="v1", tags={"k": "v"})
    assert (mv.version, mv.run_id, mv.status, mv.current_stage) == (1, logged[0], "READY", "None")
    assert mv.model_id.startswith("m-")
    client.rename_registered_model("churn", "churn-v2")
    rm = client.get_registered_model("churn-v2")
    assert (rm.description, rm.tags) == ("second", {"owner": "me"})
    assert client.get_model_version("churn-v2", "1").tags == {"k": "v"}
    with pytest.raises(RegistryNotFound, match="no registered model 'churn'"):
        client.get_registered_model("churn")
    client.delete_registered_model("churn-v2")
    assert client.search_registered_models() == []


def test_versions_are_never_reused(client, logged) -> None:
    for run_id in logged:
        nbtrack.register_model(f"runs:/{run_id}/model", "m")
    client.delete_model_version("m", 3)
    with pytest.raises(RegistryNotFound, match="has no version 3"):
        client.get_model_version("m", 3)
    assert nbtrack.register_model(f"runs:/{logged[2]}/model", "m").version == 4
    assert [v.version for v in client.search_model_versions("name = 'm'")] == [4, 2, 1]
    client.update_model_version("m", 2, description="better")
    assert client.get_model_version("m", 2).description == "better"
    assert client.get_model_version_download_uri("m", 1) == f"runs:/{logged[0]}/model"


def test_aliases_and_history(client, logged) -> None:
    for run_id in logged:
        nbtrack.register_model(f"runs:/{run_id}/model", "m")
    client.set_registered_model_alias("m", "champion", 1)
    client.set_registered_model_alias("m", "champion", "2")
    client.set_registered_model_alias("m", "challenger", 3)
    assert client.get_model_version_by_alias("m", "champion").version == 2
    assert client.get_registered_model("m").aliases == {"challenger": 3, "champion": 2}
    # aliases are populated in search results (MLflow leaves them empty: mlflow#16734)
    assert {v.version: v.aliases for v in client.search_model_versions("name = 'm'")} == {
        3: ["challenger"], 2: ["champion"], 1: []}
    for reserved in ("latest", "LATEST", "v1", "V12"):
        with pytest.raises(InvalidInput, match="reserved"):
            client.set_registered_model_alias("m", reserved, 1)
    client.delete_registered_model_alias("m", "challenger")
    with pytest.raises(RegistryNotFound, match="has no alias 'challenger'"):
        client.get_model_version_by_alias("m", "challenger")
    with pytest.warns(FutureWarning, match=r"transition_model_version_stage`` is deprecated since 2.9.0"):
        client.transition_model_version_stage("m", 1, "Production")
    quiet(client.transition_model_version_stage, "m", 2, "production", archive_existing_versions=True)
    assert client.get_model_version("m", 1).current_stage == "Archived"
    moves = [(e.kind, e.alias, e.previous_version, e.version, e.previous_stage, e.stage)
             for e in client.get_registered_model_history("m")]
    assert moves == [
        ("alias", "champion", None, 1, None, None),
        ("alias", "champion", 1, 2, None, None),
        ("alias", "challenger", None, 3, None, None),
        ("alias", "challenger", 3, None, None, None),
        ("stage", None, None, 1, "None", "Production"),
        ("stage", None, None, 2, "None", "Production"),
        ("stage", None, None, 1, "Production", "Archived"),
    ]
    assert all(e.user_id and e.time for e in client.get_registered_model_history("m"))


def test_stages_still_work_with_the_deprecation_warning(client, logged) -> None:
    for run_id in logged:
        nbtrack.register_model(f"runs:/{run_id}/model", "m")
    quiet(client.transition_model_version_stage, "m", 1, "Staging")
    quiet(client.transition_model_version_stage, "m", 2, "Production")
    quiet(client.transition_model_version_stage, "m", 3, "Production")  # two in Production (MLflow's default)
    with pytest.warns(FutureWarning, match="get_latest_versions``"):
        latest = client.get_latest_versions("m", stages=["Production", "staging"])
    assert sorted((v.current_stage, v.version) for v in latest) == [("Production", 3), ("Staging", 1)]
    with pytest.raises(InvalidInput, match="invalid stage 'Prod'"):
        quiet(client.transition_model_version_stage, "m", 1, "Prod")


def test_uri_rules_and_resolution_speed(client, logged) -> None:
    for run_id in logged:
        nbtrack.register_model(f"runs:/{run_id}/model", "m")
    client.set_registered_model_alias("m", "champion", 2)
    quiet(client.transition_model_version_stage, "m", 1, "Staging")
    store = store_handle().read()
    assert resolve_source(store, "models:/m/1").run_id == logged[0]
    assert resolve_source(store, "models:/m/LATEST").version == 3
    assert resolve_source(store, "models:/m/staging").version == 1
    assert resolve_source(store, "models:/m@champion").version == 2
    with pytest.raises(RegistryNotFound, match="No versions of model with name 'm' and stage 'Production' found"):
        resolve_source(store, "models:/m/Production")
    with pytest.raises(InvalidInput, match="LoggedModel id in MLflow, not the latest version"):
        parse_model_uri("models:/m")
    model_id = client.get_model_version("m", 1).model_id
    assert resolve_source(store, f"models:/{model_id}").run_id == logged[0]
    with pytest.raises(RegistryNotFound, match="no logged model 'm-0+'"):
        resolve_source(store, "models:/m-" + "0" * 32)
    with pytest.raises(InvalidInput, match="Not a proper models:/ URI"):
        parse_model_uri("models:/a/b/c")
    with pytest.raises(InvalidInput, match="invalid stage 'Prod'"):
        parse_model_uri("models:/m/Prod")
    handle = store_handle()
    start = time.perf_counter()
    for _ in range(200):
        resolve_source(handle.read(), "models:/m@champion")
    per_call = (time.perf_counter() - start) / 200
    assert per_call < 0.001, f"resolving models:/m@champion took {per_call * 1000:.3f} ms"


def test_search_filters(client, logged) -> None:
    for run_id in logged:
        nbtrack.register_model(f"runs:/{run_id}/model", "Churn")
    nbtrack.register_model(f"runs:/{logged[0]}/model", "sentiment", tags={"team": "nlp"})
    client.set_model_version_tag("Churn", 2, "validated", "yes")
    search = nbtrack.search_model_versions
    assert [(v.name, v.version) for v in search("tags.validated = 'yes'")] == [("Churn", 2)]
    assert [v.version for v in search("name = 'Churn' AND version_number >= 2")] == [3, 2]
    assert {v.name for v in search(f"run_id = '{logged[0]}'")} == {"Churn", "sentiment"}
    assert {v.name for v in search("name IN ('sentiment')")} == {"sentiment"}
    assert search("name LIKE 'churn'") == []  # LIKE is case-sensitive, as in MLflow
    assert len(search("name ILIKE 'churn'")) == 3
    assert len(search(f"source_path = 'runs:/{logged[1]}/model'")) == 1
    assert [v.version for v in search("name = 'Churn'", order_by=["version_number ASC"])] == [1, 2, 3]
    assert [m.name for m in nbtrack.search_registered_models("name LIKE 'sent%'")] == ["sentiment"]
    assert [m.name for m in nbtrack.search_registered_models("tags.team = 'nlp'")] == []
    with pytest.raises(FilterSyntaxError, match="AND only"):
        search("name = 'a' OR name = 'b'")
    with pytest.raises(FilterSyntaxError, match="unknown key 'accuracy'"):
        search("accuracy > 3")
    with pytest.raises(FilterSyntaxError, match="IN and NOT IN work on name and run_id only"):
        search("source_path IN ('x')")


def test_bad_registrations_change_nothing(client, logged) -> None:
    with nbtrack.start_run() as run:
        nbtrack.log_text("not a model", "notes/readme.txt")
    with pytest.raises(ModelError, match=r"holds no model \(no notes/MLmodel"):
        nbtrack.register_model(f"runs:/{run.info.run_id}/notes", "m")
    with pytest.raises(ModelError, match="no run 'nosuchrun'"):
        nbtrack.register_model("runs:/nosuchrun/model", "m")
    with pytest.raises(InvalidInput, match="is not a model in this store"):
        nbtrack.register_model("/tmp/some/folder", "m")
    assert client.search_registered_models() == []  # nothing was created by the failures
    nbtrack.register_model(f"runs:/{logged[0]}/model", "m")
    with pytest.raises(RegistryNotFound, match="no registered model 'nope'"):
        client.set_registered_model_alias("nope", "champion", 1)
    with pytest.raises(RegistryNotFound, match="has no version 7"):
        client.set_registered_model_alias("m", "champion", 7)
    with pytest.raises(InvalidInput, match="invalid registered model name"):
        client.create_registered_model("a/b")
    assert client.get_registered_model_history("m") == []
    assert [v.version for v in client.search_model_versions()] == [1]


def test_register_from_models_uri_keeps_lineage(client, logged) -> None:
    nbtrack.register_model(f"runs:/{logged[1]}/model", "dev.model")
    mv = nbtrack.register_model("models:/dev.model/1", "prod.model")
    assert (mv.run_id, mv.source) == (logged[1], f"runs:/{logged[1]}/model")


def test_searching_where_no_store_exists_creates_nothing(nbtrack_home) -> None:
    assert nbtrack.search_registered_models() == [] and nbtrack.search_model_versions() == []
    with pytest.raises(FilterSyntaxError):
        nbtrack.search_model_versions("name = 'a' OR name = 'b'")
    assert not nbtrack_home.exists()


def test_a_registered_run_cannot_be_deleted_and_gc_keeps_its_files(client, logged) -> None:
    """mlflow#3160: deleting a run whose model is registered leaves the version unloadable."""
    from nbtrack.paths import current_location
    from nbtrack.store.gc import collect_garbage

    client.create_registered_model("churn")
    client.create_model_version("churn", f"runs:/{logged[0]}/model")
    with pytest.raises(InvalidInput, match=r"source of registered model version\(s\) churn v1; delete those"):
        client.delete_run(logged[0])
    assert client.get_run(logged[0]).info.lifecycle_stage == "active"

    client.delete_run(logged[1])  # nothing registered from it: deleted, then purged with its model rows
    location = current_location()
    assert collect_garbage(location).runs_purged == 1
    model = nbtrack.pyfunc.load_model("models:/churn/1")  # its files survived the purge
    assert list(model.predict([[0.0, 1.0]])) in ([0], [1])

    client.delete_model_version("churn", "1")
    client.delete_run(logged[0])
    assert collect_garbage(location).runs_purged == 1
