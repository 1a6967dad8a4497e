"""Images and tables as run artifacts: ``log_image``, ``log_table``, ``load_table`` (MLflow's names).

- ``log_image(image, "plots/x.png")`` stores a numpy array or PIL image as PNG.
  ``log_image(image, key="sample", step=3)`` stores ``images/sample/step_3.png``: a
  series per key, where MLflow encodes key, step and time into one file name.
- ``log_table(df, "eval.json")`` stores a DataFrame (or dict of columns) as pandas'
  ``split`` JSON, as MLflow does, and lists it in the run's ``mlflow.loggedArtifacts``
  tag, so ``load_table("eval.json")`` finds every run of the experiment that logged it.

Example:
    >>> import nbtrack, tempfile
    >>> nbtrack.set_tracking_uri(tempfile.mkdtemp())
    >>> with nbtrack.start_run():
    ...     nbtrack.log_table({"text": ["a", "b"], "score": [0.1, 0.9]}, "eval.json")
    >>> nbtrack.load_table("eval.json")["score"].tolist()
    [0.1, 0.9]
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..store import artifacts as blobs
from ..store import queries
from ..store.database import Store
from .artifacts import log_bytes
from .fluent import current_run, current_experiment_name, read_store

if TYPE_CHECKING:
    import pandas as pd

LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"


def log_image(image: Any, artifact_file: str | None = None, key: str | None = None, step: int | None = None,
              timestamp: int | None = None, synchronous: bool | None = None, run_id: str | None = None) -> None:
    """Store an image (numpy array HxW, HxWx3 or HxWx4; or a PIL image) as PNG.

    Give ``artifact_file``, or ``key`` (and ``step``) for a series of images over training.

    Example:
        >>> log_image(np.zeros((8, 8, 3), dtype=np.uint8), "blank.png")  # doctest: +SKIP
    """
    if (artifact_file is None) == (key is None):
        raise InvalidInput("log_image takes either artifact_file or key (with step), not both or neither")
    if key is not None:
        from .. import validation

        validation.check_key(key, "image")
        artifact_file = f"images/{key}/step_{0 if step is None else int(step)}.png"
    log_bytes(_png(image), str(artifact_file), run_id)


def _png(image: Any) -> bytes:
    try:
        from PIL import Image
    except ImportError:
        raise InvalidInput("log_image needs Pillow (pip install pillow)") from None
    if not isinstance(image, Image.Image):
        import numpy as np

        array = np.asarray(image)
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
            raise InvalidInput(f"log_image takes an HxW, HxWx3 or HxWx4 array; got shape {array.shape}")
        if array.dtype.kind == "f":  # MLflow's rule: floats are 0..1
            if array.size and (array.min() < 0 or array.max() > 1):
                raise InvalidInput("log_image: float pixel values must lie in [0, 1]")
            array = (array * 255).round()
        array = array.astype("uint8")
        image = Image.fromarray(array[:, :, 0] if array.ndim == 3 and array.shape[2] == 1 else array)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Store a DataFrame or a dict of columns as ``artifact_file`` (``.json``, MLflow's layout).

    Example:
        >>> log_table({"question": ["q1"], "answer": ["a1"]}, "qa.json")  # doctest: +SKIP
    """
    import pandas as pd

    if not artifact_file.endswith(".json"):
        raise InvalidInput(f"log_table writes JSON; name the file *.json, not {artifact_file!r}")
    if isinstance(data, dict):
        try:
            data = pd.DataFrame(data)
        except ValueError:  # all scalars: one row
            data = pd.DataFrame([data])
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(f"log_table takes a pandas DataFrame or a dict of columns; got {type(data).__name__}")
    log_bytes(data.to_json(orient="split", index=False).encode("utf-8"), artifact_file, run_id)
    run = current_run(run_id)
    listed = json.loads(run._tags.get(LOGGED_ARTIFACTS_TAG, "[]"))
    entry = {"path": artifact_file, "type": "table"}
    if entry not in listed:
        run.record_tags({LOGGED_ARTIFACTS_TAG: json.dumps([*listed, entry])})


def load_table(artifact_file: str, run_ids: Sequence[str] | None = None,
               extra_columns: Sequence[str] | None = None, experiment_id: str | None = None) -> pd.DataFrame:
    """The tables logged as ``artifact_file`` by ``run_ids`` (default: every run of the current
    experiment that logged one), concatenated; ``extra_columns`` such as ``["run_id"]`` are
    added from each run.

    Example:
        >>> load_table("eval.json", extra_columns=["run_id"])  # doctest: +SKIP
    """
    return tables_of(read_store(), artifact_file, run_ids, extra_columns,
                     experiment_id or getattr(queries.get_experiment_by_name(read_store(), current_experiment_name()),
                                              "experiment_id", None))


def tables_of(store: Store, artifact_file: str, run_ids: Sequence[str] | None,
              extra_columns: Sequence[str] | None, experiment: str | None) -> pd.DataFrame:
    """``load_table`` on ``store``; ``run_ids`` None means the runs of ``experiment`` that
    list ``artifact_file`` in their ``mlflow.loggedArtifacts`` tag."""
    import pandas as pd

    if run_ids is None:
        found = queries.search_runs(store, f"tags.`{LOGGED_ARTIFACTS_TAG}` LIKE '%\"{artifact_file}\"%'",
                                    experiment_ids=[experiment] if experiment else ["-1"])
        run_ids = [run.info.run_id for run in found]
    frames = []
    for run_id in run_ids:
        entries = [e for e in queries.artifact_entries(store, run_id, artifact_file) if e.path == artifact_file]
        if not entries:
            raise InvalidInput(f"run {run_id} has no table {artifact_file!r}; see list_artifacts()")
        frame = pd.read_json(io.StringIO(blobs.blob_path(store, entries[0].digest).read_text("utf-8")),
                             orient="split")
        if extra_columns:
            run = queries.get_run(store, run_id)
            row = {"run_id": run_id, "experiment_id": run.info.experiment_id, "run_name": run.info.run_name,
                   "status": str(run.info.status)}
            for column in extra_columns:
                value = row.get(column, _prefixed(run, column))
                frame[f"{column}_" if column in frame else column] = value
        frames.append(frame)
    if not frames:
        raise InvalidInput(f"no run of this experiment logged a table {artifact_file!r}; pass run_ids=")
    return pd.concat(frames, ignore_index=True)


def _prefixed(run: Any, column: str) -> Any:
    """``params.x`` / ``metrics.x`` / ``tags.x`` of a run, as ``search_runs`` names columns."""
    kind, _, key = column.partition(".")
    return {"params": run.data.params, "metrics": run.data.metrics, "tags": run.data.tags}.get(kind, {}).get(key)
