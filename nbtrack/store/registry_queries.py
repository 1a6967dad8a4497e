"""Read-only queries over the model registry, returning named records.

The filter language is MLflow's registry grammar: comparisons joined by
``AND`` (no ``OR``), on ``name``, ``run_id``, ``source_path``,
``version_number`` (versions only) and ``tags.<key>``; ``IN`` / ``NOT IN`` on
``name`` and ``run_id``. Every value becomes a ``?`` parameter.

Example:
    >>> sql, args = compile_registry_filter("name = 'churn' and tags.team LIKE 'nlp%'", versions=True)
    >>> args
    ['churn', 'team', 'nlp%']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import FilterSyntaxError, RegistryNotFound
from .database import Store
from .filters import Token, _unquote, _where, tokenize
from .registry import DELETED_STAGE

ALL_STAGES = ("None", "Staging", "Production", "Archived")


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model (MLflow's ``ModelVersion`` fields, plus ``model_id``)."""

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None
    user_id: str | None
    current_stage: str
    source: str | None
    run_id: str | None
    status: str
    status_message: str | None
    run_link: str | None
    storage_location: str | None
    model_id: str | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_versions: list[ModelVersion] = field(default_factory=list)


@dataclass(frozen=True)
class RegistryEvent:
    """One alias or stage move: ``kind`` is 'alias' or 'stage'; a None ``version`` means the
    alias was removed (or the version deleted)."""

    name: str
    kind: str
    alias: str | None
    version: int | None
    previous_version: int | None
    stage: str | None
    previous_stage: str | None
    time: int
    user_id: str | None


_VERSION_COLUMNS = ("name, version, creation_time, last_updated_time, description, user_id, "
                    "current_stage, source, run_id, status, status_message, run_link, "
                    "storage_location, model_id")


def _versions(store: Store, where: str, args: Sequence[object], order: str = "name, version",
              limit: int | None = None, offset: int = 0) -> list[ModelVersion]:
    rows = store.conn.execute(
        f"SELECT {_VERSION_COLUMNS} FROM model_versions WHERE current_stage != '{DELETED_STAGE}' "
        f"AND ({where}) ORDER BY {order}" + ("" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"),
        list(args)).fetchall()
    if not rows:
        return []
    names = sorted({r[0] for r in rows})
    marks = ",".join("?" * len(names))
    tags: dict[tuple[str, int], dict[str, str]] = {}
    for name, version, key, value in store.conn.execute(
            f"SELECT name, version, key, value FROM model_version_tags WHERE name IN ({marks})", names):
        tags.setdefault((name, version), {})[key] = value
    aliases: dict[tuple[str, int], list[str]] = {}
    for name, alias, version in store.conn.execute(
            f"SELECT name, alias, version FROM registered_model_aliases WHERE name IN ({marks}) "
            "ORDER BY alias", names):
        aliases.setdefault((name, version), []).append(alias)
    return [ModelVersion(*row, tags=tags.get((row[0], row[1]), {}),  # type: ignore[arg-type]
                         aliases=aliases.get((row[0], row[1]), [])) for row in rows]


def get_model_version(store: Store, name: str, version: int) -> ModelVersion:
    found = _versions(store, "name = ? AND version = ?", (name, int(version)))
    if not found:
        _require_model(store, name)
        raise RegistryNotFound(f"registered model {name!r} has no version {version}; "
                               f"see search_model_versions(\"name = '{name}'\")")
    return found[0]


def _require_model(store: Store, name: str) -> None:
    if store.conn.execute("SELECT 1 FROM registered_models WHERE name = ?", (name,)).fetchone() is None:
        raise RegistryNotFound(f"no registered model {name!r}; see search_registered_models() "
                               "or register one with register_model(model_uri, name)")


def version_by_alias(store: Store, name: str, alias: str) -> int:
    """The version number ``alias`` points at (one indexed lookup: URI resolution's path)."""
    row = store.conn.execute("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                             (name, alias)).fetchone()
    if row is None:
        _require_model(store, name)
        raise RegistryNotFound(f"registered model {name!r} has no alias {alias!r}; set it with "
                               f"set_registered_model_alias({name!r}, {alias!r}, version)")
    return int(row[0])


def logged_model_location(store: Store, model_id: str) -> tuple[str, str]:
    """``(run_id, artifact path)`` of a logged model, by its ``m-<hex>`` id."""
    row = store.conn.execute(
        "SELECT r.run_id, l.name FROM logged_models l JOIN runs r ON r.id = l.run WHERE l.model_id = ?",
        (model_id,)).fetchone()
    if row is None:
        raise RegistryNotFound(f"no logged model {model_id!r} in this store; check the id "
                               "(log_model returns it as model_info.model_id)")
    return str(row[0]), str(row[1])


def latest_version_number(store: Store, name: str, stage: str | None = None) -> int:
    """The highest live version, in ``stage`` when given (``models:/name/latest`` or ``/Stage``)."""
    row = store.conn.execute(
        f"SELECT max(version) FROM model_versions WHERE name = ? AND current_stage != '{DELETED_STAGE}' "
        "AND (?1 IS NULL OR current_stage = ?1)".replace("?1", "?"), (name, stage, stage)).fetchone()
    if row[0] is None:
        _require_model(store, name)
        suffix = f" and stage '{stage}'" if stage else ""
        raise RegistryNotFound(f"No versions of model with name '{name}'{suffix} found")
    return int(row[0])


def version_source(store: Store, name: str, version: int) -> tuple[str | None, str | None]:
    """``(source, run_id)`` of a live version, for loading."""
    row = store.conn.execute(
        f"SELECT source, run_id FROM model_versions WHERE name = ? AND version = ? "
        f"AND current_stage != '{DELETED_STAGE}'", (name, int(version))).fetchone()
    if row is None:
        get_model_version(store, name, version)  # raises the right message
    return row[0], row[1]


def latest_versions(store: Store, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
    """The newest version per stage (MLflow's deprecated ``get_latest_versions``)."""
    _require_model(store, name)
    wanted = list(stages) if stages else list(ALL_STAGES)
    marks = ",".join("?" * len(wanted))
    return _versions(
        store, f"name = ? AND current_stage IN ({marks}) AND version IN (SELECT max(version) FROM "
        f"model_versions WHERE name = ? AND current_stage IN ({marks}) GROUP BY current_stage)",
        [name, *wanted, name, *wanted])


def get_registered_model(store: Store, name: str) -> RegisteredModel:
    found = _registered(store, "name = ?", (name,))
    if not found:
        _require_model(store, name)
    return found[0]


def _registered(store: Store, where: str, args: Sequence[object], order: str = "name",
                limit: int | None = None, offset: int = 0) -> list[RegisteredModel]:
    rows = store.conn.execute(
        f"SELECT name, creation_time, last_updated_time, description FROM registered_models "
        f"WHERE {where} ORDER BY {order}" + ("" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"),
        list(args)).fetchall()
    result = []
    for name, created, updated, description in rows:
        tags = dict(store.conn.execute("SELECT key, value FROM registered_model_tags WHERE name = ?", (name,)))
        aliases = {a: int(v) for a, v in store.conn.execute(
            "SELECT alias, version FROM registered_model_aliases WHERE name = ? ORDER BY alias", (name,))}
        result.append(RegisteredModel(name, created, updated, description, tags, aliases,
                                      latest_versions(store, name)))
    return result


def search_registered_models(store: Store, filter_string: str | None = None, max_results: int = 100,
                             order_by: Sequence[str] | None = None, offset: int = 0) -> list[RegisteredModel]:
    where, args = compile_registry_filter(filter_string, versions=False)
    order = compile_registry_order(order_by, versions=False) or "name"
    return _registered(store, where, args, order, max_results, offset)


def search_model_versions(store: Store, filter_string: str | None = None, max_results: int = 10_000,
                          order_by: Sequence[str] | None = None, offset: int = 0) -> list[ModelVersion]:
    where, args = compile_registry_filter(filter_string, versions=True)
    order = compile_registry_order(order_by, versions=True) or "name, version DESC"
    return _versions(store, where, args, order, max_results, offset)


def history(store: Store, name: str) -> list[RegistryEvent]:
    """Every alias and stage move of ``name``, oldest first (also after the model was deleted)."""
    rows = store.conn.execute(
        "SELECT name, kind, alias, version, previous_version, stage, previous_stage, time, user_id "
        "FROM registered_model_events WHERE name = ? ORDER BY time, id", (name,)).fetchall()
    if not rows:
        _require_model(store, name)
    return [RegistryEvent(*row) for row in rows]


def versions_by_run(store: Store, run_ids: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
    """run id -> the ``(name, version)`` pairs registered from it (the compare-table marker)."""
    found: dict[str, list[tuple[str, int]]] = {}
    ids = list(run_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for run_id, name, version in store.conn.execute(
                f"SELECT run_id, name, version FROM model_versions WHERE run_id IN ({','.join('?' * len(chunk))}) "
                f"AND current_stage != '{DELETED_STAGE}' ORDER BY name, version", chunk):
            found.setdefault(run_id, []).append((name, int(version)))
    return found


def has_registry(store: Store) -> bool:
    return store.conn.execute("SELECT 1 FROM registered_models LIMIT 1").fetchone() is not None


# --- the filter language ---------------------------------------------------------------------

_STRING_KEYS = {"name": "name", "run_id": "run_id", "source_path": "source"}
_LIST_KEYS = {"name", "run_id"}
_ORDER_KEYS = {"name": "name", "version_number": "version", "creation_timestamp": "creation_time",
               "last_updated_timestamp": "last_updated_time", "timestamp": "creation_time"}


def compile_registry_filter(text: str | None, *, versions: bool) -> tuple[str, list[object]]:
    """``(sql, args)`` for a WHERE over ``model_versions`` (or ``registered_models``)."""
    if text is None or not text.strip():
        return "1", []
    tokens = tokenize(text)
    clauses: list[str] = []
    args: list[object] = []
    i = 0

    def fail(token: Token | None, message: str) -> FilterSyntaxError:
        return FilterSyntaxError(_where(text, token.position if token else len(text), message))

    def take() -> Token:
        nonlocal i
        if i >= len(tokens):
            raise fail(None, "the filter ends too early")
        i += 1
        return tokens[i - 1]

    while True:
        key_token = take()
        tag = None
        if key_token.kind == "backquoted":
            key = _unquote(key_token.text)
        elif key_token.kind == "word":
            key = key_token.text
        elif key_token.kind == "field" and key_token.text.lower().startswith(("tags.", "tag.")):
            # The shared tokenizer reads `tags.<key>` (dots and backquotes included) as one field.
            key, _, rest = key_token.text.partition(".")
            tag = _unquote(rest) if rest.startswith("`") else rest
        else:
            raise fail(key_token, f"expected a key such as name or tags.<key>; got {key_token.text!r}")
        if tag is None and key.lower() in ("tags", "tag") and i < len(tokens) and tokens[i].kind == "dot":
            i += 1
            tag_token = take()
            tag = _unquote(tag_token.text) if tag_token.kind in ("backquoted", "string") else tag_token.text
        op_token = take()
        op = op_token.upper
        if op == "NOT":
            if take().upper != "IN":
                raise fail(op_token, "expected NOT IN")
            op = "NOT IN"
        if op in ("IN", "NOT IN"):
            if tag is not None or key not in _LIST_KEYS:
                raise fail(op_token, "IN and NOT IN work on name and run_id only")
            if take().kind != "lparen":
                raise fail(op_token, "IN takes a list in parentheses: name IN ('a', 'b')")
            values = []
            while True:
                value = take()
                if value.kind != "string":
                    raise fail(value, "IN lists hold quoted strings")
                values.append(_unquote(value.text))
                separator = take()
                if separator.kind == "rparen":
                    break
                if separator.kind != "comma":
                    raise fail(separator, "expected ',' or ')'")
            clauses.append(f"{_STRING_KEYS[key]} {op} ({','.join('?' * len(values))})")
            args += values
        else:
            value_token = take()
            if tag is not None:
                if op not in ("=", "!=", "LIKE", "ILIKE") or value_token.kind != "string":
                    raise fail(op_token, "tags compare with =, !=, LIKE or ILIKE to a quoted string")
                table = "model_version_tags" if versions else "registered_model_tags"
                join = "t.name = model_versions.name AND t.version = model_versions.version" if versions \
                    else "t.name = registered_models.name"
                sql, arg = _compare("t.value", op, _unquote(value_token.text))
                clauses.append(f"EXISTS (SELECT 1 FROM {table} t WHERE {join} AND t.key = ? AND {sql})")
                args += [tag, arg]
            elif versions and key == "version_number":
                if op not in ("=", "!=", "<", "<=", ">", ">=") or value_token.kind != "number":
                    raise fail(value_token, "version_number compares to a number: version_number > 3")
                clauses.append(f"version {op} ?")
                args.append(int(float(value_token.text)))
            elif key in _STRING_KEYS and (versions or key == "name"):
                if op not in ("=", "!=", "LIKE", "ILIKE") or value_token.kind != "string":
                    raise fail(op_token, f"{key} compares with =, !=, LIKE or ILIKE to a quoted string")
                sql, arg = _compare(_STRING_KEYS[key], op, _unquote(value_token.text))
                clauses.append(sql)
                args.append(arg)
            else:
                allowed = "name, run_id, source_path, version_number, tags.<key>" if versions \
                    else "name, tags.<key>"
                raise fail(key_token, f"unknown key {key!r}; use {allowed}")
        if i >= len(tokens):
            break
        joiner = take()
        if joiner.upper == "OR":
            raise fail(joiner, "the registry filter supports AND only (as MLflow's); run two searches")
        if joiner.upper != "AND":
            raise fail(joiner, f"expected AND; got {joiner.text!r}")
    return " AND ".join(clauses), args


def _compare(column: str, op: str, value: str) -> tuple[str, str]:
    """SQL and argument for one string comparison (store connections run with
    ``case_sensitive_like``, so LIKE is case-sensitive as in MLflow; ILIKE lowers both sides)."""
    if op == "ILIKE":
        return f"lower({column}) LIKE lower(?)", value
    return f"{column} {op} ?", value


def compile_registry_order(order_by: Sequence[str] | None, *, versions: bool) -> str:
    parts = []
    for clause in order_by or []:
        words = clause.split()
        key = words[0] if words else ""
        direction = words[1].upper() if len(words) > 1 else "ASC"
        column = _ORDER_KEYS.get(key)
        if column is None or (not versions and column == "version") or direction not in ("ASC", "DESC") \
                or len(words) > 2:
            raise FilterSyntaxError(f"bad order_by {clause!r}; use e.g. 'version_number DESC' "
                                    f"with one of {', '.join(_ORDER_KEYS)}")
        parts.append(f"{column} {direction}")
    return ", ".join(parts)


@dataclass(frozen=True)
class VersionSummary:
    """One live version with what the registry view shows: its run and the run's metrics."""

    name: str
    version: int
    current_stage: str
    aliases: tuple[str, ...]
    run_id: str | None
    run_name: str | None
    metrics: dict[str, float | None]
    creation_timestamp: int
    description: str | None


def registry_overview(store: Store, name: str | None = None) -> list[VersionSummary]:
    """Every live version (of ``name``, or of all models), newest first per model, with its run's
    last metric values (from ``metric_summaries``: no history scan)."""
    rows = store.conn.execute(
        f"""SELECT v.name, v.version, v.current_stage, v.run_id, r.run_name, r.id, v.creation_time,
                   v.description
            FROM model_versions v LEFT JOIN runs r ON r.run_id = v.run_id
            WHERE v.current_stage != '{DELETED_STAGE}' AND (? IS NULL OR v.name = ?)
            ORDER BY v.name, v.version DESC""", (name, name)).fetchall()
    aliases: dict[tuple[str, int], list[str]] = {}
    for model, alias, version in store.conn.execute(
            "SELECT name, alias, version FROM registered_model_aliases ORDER BY alias"):
        aliases.setdefault((model, version), []).append(alias)
    metrics: dict[int, dict[str, float | None]] = {}
    pks = sorted({row[5] for row in rows if row[5] is not None})
    for start in range(0, len(pks), 500):
        chunk = pks[start:start + 500]
        for pk, key, value in store.conn.execute(
                f"SELECT run, key, last_value FROM metric_summaries WHERE run IN ({','.join('?' * len(chunk))}) "
                "ORDER BY key", chunk):
            metrics.setdefault(pk, {})[key] = value
    return [VersionSummary(model, int(version), stage, tuple(aliases.get((model, version), ())), run_id,
                           run_name, metrics.get(pk, {}) if pk is not None else {}, created, description)
            for model, version, stage, run_id, run_name, pk, created, description in rows]
