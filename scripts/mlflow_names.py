"""Write docs/mlflow-names.txt: every public MLflow fluent name and MlflowClient method, with
the parameter names MLflow users pass. Run once with real MLflow (the peers venv):

    benchmarks/.venv-peers/bin/python scripts/mlflow_names.py > docs/mlflow-names.txt

Lines: ``kind<TAB>name<TAB>comma-separated parameters`` (``kind`` is ``fluent`` or
``client``; a class or module has no parameters). tests/test_mlflow_compat.py reads it
without MLflow installed.
"""

from __future__ import annotations

import inspect

import mlflow
import mlflow.tracking.fluent as fluent
from mlflow.tracking import MlflowClient


def parameters(obj: object) -> str:
    if inspect.isclass(obj) or inspect.ismodule(obj) or not callable(obj):
        return ""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return ""
    return ",".join(name for name, p in signature.parameters.items()
                    if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))


def main() -> None:
    print(f"# MLflow {mlflow.__version__}: mlflow.__all__ + public functions of mlflow/tracking/fluent.py, "
          "and public MlflowClient methods (scripts/mlflow_names.py)")
    names = set(mlflow.__all__)
    names |= {n for n, v in vars(fluent).items()
              if inspect.isfunction(v) and v.__module__ == fluent.__name__ and not n.startswith("_")}
    for name in sorted(names):
        print(f"fluent\t{name}\t{parameters(getattr(mlflow, name, None))}")
    for name, member in sorted(inspect.getmembers(MlflowClient)):
        if not name.startswith("_") and callable(member):
            print(f"client\t{name}\t{parameters(member)}")


if __name__ == "__main__":
    main()
