"""``runs:/`` and ``models:/`` URIs, parsed with MLflow's rules (``store/artifact/utils/models.py``).

* ``runs:/<run_id>/<path>``: a model logged to a run;
* ``models:/<name>/<version>``, ``models:/<name>/latest`` (any case),
  ``models:/<name>/<stage>``, ``models:/<name>@<alias>``;
* ``models:/m-<32 hex>``: a logged model by its id (MLflow 3's LoggedModel URI);
  any other single segment is refused, never read as "the latest version of
  <name>".

Parsing is pure; ``resolve`` turns a ``models:/`` URI into the version's source
with one or two indexed look-ups (well under a millisecond).

Example:
    >>> parse_model_uri("models:/churn@champion")
    ModelRef(name='churn', version=None, stage=None, alias='champion', latest=False, model_id=None)
    >>> parse_model_uri("models:/churn/production").stage
    'Production'
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..errors import InvalidInput

_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")
STAGES = {"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}


class ModelRef(NamedTuple):
    """What a ``models:/`` URI names: exactly one of version, stage, alias or latest."""

    name: str
    version: int | None
    stage: str | None
    alias: str | None
    latest: bool
    model_id: str | None = None


class RunRef(NamedTuple):
    run_id: str
    path: str


def canonical_stage(stage: str) -> str:
    """MLflow's stage names, case-insensitive in, canonical out."""
    found = STAGES.get(str(stage).lower())
    if found is None:
        raise InvalidInput(f"invalid stage {stage!r}; use one of None, Staging, Production, Archived")
    return found


def parse_model_uri(uri: str) -> ModelRef:
    if not uri.startswith("models:/"):
        raise InvalidInput(f"{uri!r} is not a models:/ URI; use models:/<name>/<version>, "
                           "models:/<name>/<stage>, models:/<name>/latest or models:/<name>@<alias>")
    path = uri[len("models:/"):].lstrip("/")
    parts = path.split("/")
    if len(parts) > 2 or not parts[0]:
        raise InvalidInput(f"Not a proper models:/ URI: {uri}. Models URIs must be of the form "
                           "'models:/model_name/suffix' or 'models:/model_name@alias'")
    if len(parts) == 2:
        name, suffix = parts
        if not suffix:
            raise InvalidInput(f"{uri!r} ends with '/'; add a version, stage, 'latest' or use @alias")
        if suffix.isdigit():
            return ModelRef(name, int(suffix), None, None, False)
        if suffix.lower() == "latest":
            return ModelRef(name, None, None, None, True)
        return ModelRef(name, None, canonical_stage(suffix), None, False)
    if "@" in parts[0]:
        name, alias = parts[0].rsplit("@", 1)
        if not alias or not name:
            raise InvalidInput(f"{uri!r} has an empty model name or alias; use models:/<name>@<alias>")
        return ModelRef(name, None, None, alias, False)
    if _MODEL_ID.match(parts[0]):
        return ModelRef("", None, None, None, False, parts[0])
    raise InvalidInput(
        f"{uri!r} names no version: models:/<name> alone is a LoggedModel id in MLflow, not the "
        f"latest version; use models:/{parts[0]}/latest, models:/{parts[0]}/<version> or "
        f"models:/{parts[0]}@<alias>")


def parse_runs_uri(uri: str) -> RunRef:
    if not uri.startswith("runs:/"):
        raise InvalidInput(f"{uri!r} is not a runs:/ URI; use runs:/<run_id>/<path>")
    run_id, _, path = uri[len("runs:/"):].lstrip("/").partition("/")
    if not run_id:
        raise InvalidInput(f"{uri!r} has no run id; use runs:/<run_id>/<path>")
    return RunRef(run_id, path.strip("/"))
