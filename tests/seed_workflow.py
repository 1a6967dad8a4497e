"""An MLflow user's sentiment workflow, written for MLflow: autolog, compare, register, promote,
load by alias and by stage, download artifacts.

tests/test_mlflow_dropin.py runs this file twice: as written, with real MLflow in its own
venv, and with only its two MLflow imports changed to nbtrack's. It prints one JSON line
that says what the workflow saw, and the test compares the two.
"""

import importlib.util
import json
import os
import sys
import tempfile
import warnings

import mlflow
from mlflow.tracking import MlflowClient
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline

# The demo's reviews, loaded by path: this environment need not have nbtrack installed.
_spec = importlib.util.spec_from_file_location(
    "demo_data", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "nbtrack", "demo_data.py"))
demo_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo_data)
X_train, y_train, X_test, y_test = demo_data.make_reviews(1200)
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("customer-sentiment")
mlflow.sklearn.autolog(log_model_signatures=False, silent=True)  # text input: no column schema

candidates = {
    "bow-nb": make_pipeline(CountVectorizer(max_features=3000), MultinomialNB(alpha=1.0)),
    "tfidf-nb": make_pipeline(TfidfVectorizer(max_features=3000), MultinomialNB(alpha=0.5)),
    "tfidf-logreg": make_pipeline(TfidfVectorizer(max_features=3000), LogisticRegression(C=4.0, max_iter=300)),
}
for name, pipe in candidates.items():
    with mlflow.start_run(run_name=name):
        mlflow.set_tag("developer", "me")
        pipe.fit(X_train, y_train)
        predicted = pipe.predict(X_test)
        mlflow.log_metric("accuracy", accuracy_score(y_test, predicted))
        mlflow.log_metric("f1", f1_score(y_test, predicted))
        mlflow.log_text(f"{name}: {len(X_train)} training reviews", "notes/summary.txt")
mlflow.sklearn.autolog(disable=True)

runs = mlflow.search_runs(order_by=["metrics.accuracy DESC"])
client = MlflowClient()
versions = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "Registered model ... already exists", stage deprecation
    for run_id in runs["run_id"]:
        versions[run_id] = mlflow.register_model(f"runs:/{run_id}/model", "customer-sentiment").version
    best = runs.iloc[0]
    champion = versions[best["run_id"]]
    client.transition_model_version_stage("customer-sentiment", champion, "Staging")
    client.transition_model_version_stage("customer-sentiment", champion, "Production",
                                          archive_existing_versions=True)
    client.set_registered_model_alias("customer-sentiment", "champion", champion)
    by_alias = mlflow.pyfunc.load_model("models:/customer-sentiment@champion")
    by_stage = mlflow.sklearn.load_model("models:/customer-sentiment/Production")
    production = [v.version for v in client.get_latest_versions("customer-sentiment", stages=["Production"])]

downloaded = client.download_artifacts(best["run_id"], "notes", tempfile.mkdtemp())
score = ["love this dress, perfect fit", "cheap fabric, it ripped, returning it"]
print(json.dumps({
    "columns": sorted(runs.columns),
    "run_names": list(runs["tags.mlflow.runName"]),
    "best": best["tags.mlflow.runName"],
    "accuracy": [round(float(a), 6) for a in runs["metrics.accuracy"]],
    "source_type": sorted(set(runs["tags.mlflow.source.type"])),
    "versions": sorted(int(v) for v in versions.values()),
    "champion": int(client.get_model_version_by_alias("customer-sentiment", "champion").version),
    "production": [int(v) for v in production],
    "by_alias": [int(p) for p in by_alias.predict(score)],
    "by_stage": [int(p) for p in by_stage.predict(score)],
    "downloaded": os.path.isabs(downloaded) and sorted(os.listdir(downloaded)),
    "images": sorted(a.path for a in client.list_artifacts(best["run_id"]) if a.path.endswith(".png")),
    "active_run": mlflow.active_run() is not None,
}))
