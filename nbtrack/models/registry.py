"""The model registry's API with MLflow's names and rules, over one store.

``Registry`` holds a store handle and turns each call into a checked command
(``store.registry``) or a query (``store.registry_queries``); ``Client``
delegates here. The stage methods still work and give MLflow's deprecation
warning, word for word, so old tutorials teach the move to aliases.

Example:
    >>> import tempfile
    >>> from nbtrack.paths import resolve_location
    >>> from nbtrack.tracking.fluent import store_handle
    >>> registry = Registry(store_handle(resolve_location(tempfile.mkdtemp())))
    >>> registry.create_registered_model("churn").name
    'churn'
"""

from __future__ import annotations

import posixpath
import re
import warnings
from typing import Any

from ..errors import InvalidInput, NoStore
from ..store import registry as cmd
from ..store import registry_queries as rq
from ..store.database import now_ms
from ..store.handle import StoreHandle
from ..store.registry_queries import ModelVersion, RegisteredModel, RegistryEvent
from .uri import canonical_stage

STAGES_DEPRECATION = (
    "Model registry stages will be removed in a future major release. To learn more about the "
    "deprecation of model registry stages, see our migration guide here: "
    "https://mlflow.org/docs/latest/model-registry.html#migrating-from-stages")
_RESERVED_VERSION_ALIAS = re.compile(r"^[vV]\d+$")


def warn_stage_deprecated(method: str) -> None:
    warnings.warn(f"``mlflow.tracking.client.MlflowClient.{method}`` is deprecated since 2.9.0. "
                  f"{STAGES_DEPRECATION}", FutureWarning, stacklevel=4)


def check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"a registered model name must be a non-empty string; got {name!r}")
    # '/' and '@' are refused too: models:/<name>/<version> and models:/<name>@<alias> could
    # not name such a model unambiguously.
    if len(name) > 256 or name.startswith("..") or posixpath.normpath(name) != name or "/" in name \
            or "@" in name:
        raise InvalidInput(f"invalid registered model name {name!r}: use a plain name without '/', "
                           "'..' or '@' (at most 256 characters), e.g. 'customer-sentiment'")
    return name


def check_alias(alias: object) -> str:
    if not isinstance(alias, str) or not alias.strip():
        raise InvalidInput(f"an alias must be a non-empty string; got {alias!r}")
    if len(alias) > 255:
        raise InvalidInput(f"alias {alias[:20]!r}... is longer than 255 characters; shorten it")
    if alias.lower() == "latest":
        raise InvalidInput("'latest' alias name (case insensitive) is reserved; pick another alias, "
                           "e.g. 'champion' (models:/<name>/latest already means the newest version)")
    if _RESERVED_VERSION_ALIAS.match(alias):
        raise InvalidInput(f"Version alias name '{alias}' is reserved; pick another alias, e.g. "
                           "'champion' (v<digits> would read as a version number)")
    return alias


def check_version(version: object) -> int:
    try:
        number = int(str(version))
    except ValueError:
        raise InvalidInput(f"a model version is a number like 1 or '1'; got {version!r}") from None
    if number < 1:
        raise InvalidInput(f"model versions start at 1; got {version!r}")
    return number


def _tag(key: object, value: object) -> tuple[str, str]:
    if not isinstance(key, str) or not key or len(key) > 250:
        raise InvalidInput(f"a registry tag key is a non-empty string of at most 250 characters; got {key!r}")
    text = str(value)
    if len(text) > 100_000:
        raise InvalidInput(f"tag {key!r} is longer than 100,000 characters")
    return key, text


def _user() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return None


class Registry:
    """Registered models, versions, aliases and stages of the store behind ``handle``."""

    def __init__(self, handle: StoreHandle) -> None:
        self._handle = handle

    def _run(self, command: Any) -> Any:
        return self._handle.execute(command)

    def _read(self):  # -> Store
        return self._handle.read()

    # --- registered models -----------------------------------------------------------------

    def create_registered_model(self, name: str, tags: dict[str, Any] | None = None,
                                description: str | None = None, **_: Any) -> RegisteredModel:
        name = check_name(name)
        self._run(cmd.CreateRegisteredModel(name, now_ms(), description,
                                            dict(_tag(k, v) for k, v in (tags or {}).items())))
        return self.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return rq.get_registered_model(self._read(), name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        self._run(cmd.RenameRegisteredModel(name, check_name(new_name), now_ms()))
        return self.get_registered_model(new_name)

    def update_registered_model(self, name: str, description: str | None = None, **_: Any) -> RegisteredModel:
        self._run(cmd.UpdateRegisteredModel(name, description, now_ms()))
        return self.get_registered_model(name)

    def delete_registered_model(self, name: str) -> None:
        self._run(cmd.DeleteRegisteredModel(name, now_ms(), _user()))

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self._run(cmd.SetRegisteredModelTag(name, *_tag(key, value), now_ms()))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._run(cmd.DeleteRegisteredModelTag(name, key, now_ms()))

    def search_registered_models(self, filter_string: str | None = None, max_results: int = 100,
                                 order_by: list[str] | None = None, page_token: str | None = None
                                 ) -> list[RegisteredModel]:
        try:
            store = self._read()
        except NoStore:  # nothing was ever logged here: nothing is registered either
            rq.compile_registry_filter(filter_string, versions=False)  # still report a bad filter
            return []
        return rq.search_registered_models(store, filter_string, max_results, order_by, int(page_token or 0))

    # --- versions ------------------------------------------------------------------------

    def create_model_version(self, name: str, source: str, run_id: str | None = None,
                             tags: dict[str, Any] | None = None, run_link: str | None = None,
                             description: str | None = None, await_creation_for: int = 300,
                             model_id: str | None = None, **_: Any) -> ModelVersion:
        """A new version of ``name`` from a model logged to a run (``runs:/<run>/<path>``) or an
        existing version (``models:/...``, lineage kept). Refused, with nothing recorded, when the
        source holds no model."""
        from .locate import check_logged_model, model_id_of, resolve_source
        from .mlmodel import MLMODEL

        name = check_name(name)
        if not isinstance(source, str) or not source.startswith(("runs:/", "models:/")):
            raise InvalidInput(f"source {source!r} is not in this store; log the model to a run first "
                               "(nbtrack.sklearn.log_model) and register runs:/<run_id>/<path>")
        store = self._read()
        resolved = resolve_source(store, source)
        entries = check_logged_model(store, resolved.run_id, resolved.path)
        canonical = f"runs:/{resolved.run_id}/{resolved.path}"
        if model_id is None:
            mlmodel_entry = next(e for e in entries if e.path.endswith(MLMODEL))
            model_id = model_id_of(store, mlmodel_entry.digest)
        number = self._run(cmd.CreateModelVersion(
            name, source=canonical, time=now_ms(), run_id=run_id or resolved.run_id, user_id=_user(),
            tags=dict(_tag(k, v) for k, v in (tags or {}).items()), run_link=run_link,
            description=description, storage_location=canonical, model_id=model_id))
        return self.get_model_version(name, number)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        return rq.get_model_version(self._read(), name, check_version(version))

    def update_model_version(self, name: str, version: int | str, description: str | None = None) -> ModelVersion:
        self._run(cmd.UpdateModelVersion(name, check_version(version), description, now_ms()))
        return self.get_model_version(name, version)

    def delete_model_version(self, name: str, version: int | str) -> None:
        self._run(cmd.DeleteModelVersion(name, check_version(version), now_ms(), _user()))

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        mv = self.get_model_version(name, version)
        return mv.storage_location or mv.source or ""

    def search_model_versions(self, filter_string: str | None = None, max_results: int = 10_000,
                              order_by: list[str] | None = None, page_token: str | None = None
                              ) -> list[ModelVersion]:
        try:
            store = self._read()
        except NoStore:
            rq.compile_registry_filter(filter_string, versions=True)
            return []
        return rq.search_model_versions(store, filter_string, max_results, order_by, int(page_token or 0))

    def set_model_version_tag(self, name: str, version: int | str | None = None, key: str | None = None,
                              value: Any = None, stage: str | None = None) -> None:
        if stage is not None:
            warn_stage_deprecated("set_model_version_tag")
            version = rq.latest_version_number(self._read(), name, canonical_stage(stage))
        if version is None:
            raise InvalidInput("set_model_version_tag needs version= (or the deprecated stage=)")
        self._run(cmd.SetModelVersionTag(name, check_version(version), *_tag(key, value), now_ms()))

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        self._run(cmd.DeleteModelVersionTag(name, check_version(version), key, now_ms()))

    # --- aliases -------------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        self._run(cmd.SetRegisteredModelAlias(name, check_alias(alias), check_version(version),
                                              now_ms(), _user()))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._run(cmd.DeleteRegisteredModelAlias(name, alias, now_ms(), _user()))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        store = self._read()
        return rq.get_model_version(store, name, rq.version_by_alias(store, name, alias))

    # --- stages (deprecated in MLflow since 2.9.0; kept working) ----------------------------

    def transition_model_version_stage(self, name: str, version: int | str, stage: str,
                                       archive_existing_versions: bool = False) -> ModelVersion:
        warn_stage_deprecated("transition_model_version_stage")
        self._run(cmd.TransitionModelVersionStage(name, check_version(version), canonical_stage(stage),
                                                  now_ms(), bool(archive_existing_versions), _user()))
        return self.get_model_version(name, version)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        warn_stage_deprecated("get_latest_versions")
        return rq.latest_versions(self._read(), name, [canonical_stage(s) for s in stages or []] or None)

    # --- beyond MLflow -------------------------------------------------------------------

    def history(self, name: str) -> list[RegistryEvent]:
        """Every alias and stage move of ``name``, oldest first (MLflow keeps none)."""
        return rq.history(self._read(), name)


def registry(tracking_uri: str | None = None) -> Registry:
    """The registry of the current tracking store (or of ``tracking_uri``)."""
    from ..paths import current_location, resolve_location
    from ..tracking.fluent import store_handle

    location = current_location() if tracking_uri is None else resolve_location(tracking_uri)
    return Registry(store_handle(location))


def register_model(model_uri: str, name: str, await_registration_for: int = 300, *,
                   tags: dict[str, Any] | None = None, registry: Registry | None = None) -> ModelVersion:
    """Create ``name`` if new, then a version of it from ``model_uri`` (MLflow's fluent
    ``register_model``).

    ``registry`` is the store's registry to use (the server's, for a store it names);
    by default the current tracking store's.

    Example:
        >>> mv = register_model(f"runs:/{run.info.run_id}/model", "customer-sentiment")  # doctest: +SKIP
        >>> mv.version  # doctest: +SKIP
        1
    """
    name = check_name(name)
    reg = registry if registry is not None else _current_registry()
    # Check the source before creating anything: a bad URI leaves the registry as it was.
    from .locate import check_logged_model, resolve_source

    if not isinstance(model_uri, str) or not model_uri.startswith(("runs:/", "models:/")):
        raise InvalidInput(f"{model_uri!r} is not a model in this store; log it to a run first and "
                           "register runs:/<run_id>/<path>")
    reg._handle.flush()
    store = reg._read()
    resolved = resolve_source(store, model_uri)
    check_logged_model(store, resolved.run_id, resolved.path)
    if not reg._run(cmd.CreateRegisteredModel(name, now_ms(), exist_ok=True)):
        print(f"Registered model '{name}' already exists. Creating a new version of this model...")
    else:
        print(f"Successfully registered model '{name}'.")
    version = reg.create_model_version(name, model_uri, tags=tags)
    print(f"Created version '{version.version}' of model '{name}'.")
    return version


_current_registry = registry  # register_model's parameter shadows the function's name


def set_model_version_tag(name: str, version: int | str | None = None, key: str | None = None,
                          value: Any = None) -> None:
    """Tag a model version (MLflow's fluent ``set_model_version_tag``).

    Example:
        >>> set_model_version_tag("customer-sentiment", 1, "validated", "yes")  # doctest: +SKIP
    """
    registry().set_model_version_tag(name, version, key, value)


def search_registered_models(filter_string: str | None = None, max_results: int = 100,
                             order_by: list[str] | None = None) -> list[RegisteredModel]:
    return registry().search_registered_models(filter_string, max_results, order_by)


def search_model_versions(filter_string: str | None = None, max_results: int = 10_000,
                          order_by: list[str] | None = None) -> list[ModelVersion]:
    return registry().search_model_versions(filter_string, max_results, order_by)
