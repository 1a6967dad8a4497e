"""Experiments with MLflow's names: create, get, delete, restore, rename, tag and search.

``search_experiments`` takes MLflow's arguments: ``view_type``, ``max_results``,
``filter_string`` (``name``, ``creation_time``, ``last_update_time`` and ``tags.<key>``
compared with ``= != < <= > >= LIKE ILIKE``, joined by ``AND``) and ``order_by``
(``name``, ``experiment_id``, ``creation_time``, ``last_update_time``, each ``ASC`` or
``DESC``). Experiments are few, so the filter runs in Python over the store's list.

Example:
    >>> import nbtrack, tempfile
    >>> nbtrack.set_tracking_uri(tempfile.mkdtemp())
    >>> experiment_id = nbtrack.create_experiment("churn", tags={"team": "ml"})
    >>> [e.name for e in nbtrack.search_experiments(filter_string="tags.team = 'ml'")]
    ['churn']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .. import validation
from ..entities import Experiment, ViewType
from ..errors import FilterSyntaxError, InvalidInput
from ..store import experiments as commands
from ..store import queries
from ..store.database import translating
from ..store.handle import StoreHandle
from .fluent import current_experiment_name, experiment_id_for, store_handle

_CLAUSE = re.compile(
    r"""\s*(?P<key>(?:attributes\.)?(?:name|creation_time|last_update_time)
          |tags\.(?:`[^`]+`|"[^"]+"|[\w.\-/]+))
        \s*(?P<op>!=|<>|<=|>=|=|<|>|\bI?LIKE\b)\s*
        (?P<value>'(?:[^']|'')*'|"[^"]*"|-?\d+)\s*""", re.IGNORECASE | re.VERBOSE)
_ORDER_KEYS = {"name", "experiment_id", "creation_time", "last_update_time"}


# --- writes ---------------------------------------------------------------------------------


def create_experiment(name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None,
                      handle: StoreHandle | None = None) -> str:
    """Create an experiment and return its id; a name in use is refused in one line.

    ``artifact_location`` is not used: artifacts live in the store's blob folder.

    Example:
        >>> create_experiment("churn")  # doctest: +SKIP
        '2'
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("create_experiment needs a non-empty experiment name")
    checked = validation.checked_tags(tags)
    return (handle or store_handle()).execute(commands.CreateExperiment(name, checked))


def delete_experiment(experiment_id: str, handle: StoreHandle | None = None) -> None:
    """Mark an experiment and its runs deleted (``restore_experiment`` undoes it; ``nbtrack gc``
    removes the runs for good)."""
    _write(handle, commands.SetExperimentLifecycle(experiment_int(experiment_id), "deleted"))


def restore_experiment(experiment_id: str, handle: StoreHandle | None = None) -> None:
    """Bring back a deleted experiment and its runs."""
    _write(handle, commands.SetExperimentLifecycle(experiment_int(experiment_id), "active"))


def rename_experiment(experiment_id: str, new_name: str, handle: StoreHandle | None = None) -> None:
    if not isinstance(new_name, str) or not new_name.strip():
        raise InvalidInput("rename_experiment needs a non-empty new name")
    _write(handle, commands.RenameExperiment(experiment_int(experiment_id), new_name))


def set_experiment_tag(key: str, value: Any) -> None:
    """Tag the current experiment (the one ``set_experiment`` chose). Example:
    ``set_experiment_tag("team", "ml")``."""
    set_experiment_tags({key: value})


def set_experiment_tags(tags: Mapping[str, Any]) -> None:
    """Tag the current experiment with several tags at once."""
    _write(None, commands.SetExperimentTags(experiment_int(experiment_id_for(current_experiment_name())),
                                            validation.checked_tags(tags)))


def delete_experiment_tag(key: str) -> None:
    """Remove a tag from the current experiment."""
    _write(None, commands.DeleteExperimentTag(experiment_int(experiment_id_for(current_experiment_name())),
                                              validation.check_key(key, "tag")))


def _write(handle: StoreHandle | None, command: Any) -> None:
    (handle or store_handle()).execute(command)


def experiment_int(experiment_id: str | int) -> int:
    try:
        return int(experiment_id)
    except (TypeError, ValueError):
        raise InvalidInput(f"experiment id {experiment_id!r} is not a number; ids look like '1'") from None


# --- reads ----------------------------------------------------------------------------------


@translating
def get_experiment(experiment_id: str) -> Experiment:
    """One experiment by id (``ExperimentNotFound``, in one line, when there is none)."""
    return queries.get_experiment(store_handle().read(), str(experiment_id))


@translating
def get_experiment_by_name(name: str) -> Experiment | None:
    """The experiment called ``name``, or None."""
    return queries.get_experiment_by_name(store_handle().read(), name)


@translating
def search_experiments(view_type: ViewType | str = ViewType.ACTIVE_ONLY, max_results: int | None = None,
                       filter_string: str | None = None, order_by: list[str] | None = None,
                       handle: StoreHandle | None = None) -> list[Experiment]:
    """Experiments of this store, filtered and ordered as MLflow's ``search_experiments``.

    Example:
        >>> search_experiments(filter_string="name LIKE 'churn%'", order_by=["creation_time DESC"])  # doctest: +SKIP
    """
    found = queries.list_experiments((handle or store_handle()).read())
    view = ViewType(view_type.value if isinstance(view_type, ViewType) else str(view_type).upper())
    if view is not ViewType.ALL:
        wanted = "deleted" if view is ViewType.DELETED_ONLY else "active"
        found = [e for e in found if e.lifecycle_stage == wanted]
    for clause in _clauses(filter_string):
        found = [e for e in found if clause(e)]
    found = _ordered(found, order_by)
    return found if max_results is None else found[: int(max_results)]


def _clauses(filter_string: str | None) -> list[Any]:
    if not filter_string or not filter_string.strip():
        return []
    clauses = []
    for text in re.split(r"\s+AND\s+", filter_string.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.fullmatch(text)
        if match is None:
            raise FilterSyntaxError(
                f"cannot read experiment filter clause {text!r}; write e.g. name LIKE 'churn%' "
                "or tags.team = 'ml' (clauses joined by AND)")
        clauses.append(_predicate(match["key"], match["op"].upper(), match["value"]))
    return clauses


def _predicate(key: str, op: str, literal: str) -> Any:
    if key.lower().startswith("attributes."):
        key = key[len("attributes."):]
    if literal[0] in "'\"":
        value: Any = literal[1:-1].replace("''", "'")
    else:
        value = int(literal)
    if key.startswith("tags."):
        tag = key[5:].strip('`"')
        get = lambda e: e.tags.get(tag)  # noqa: E731
    else:
        attribute = key.lower()
        get = lambda e: getattr(e, attribute)  # noqa: E731
    if op in ("LIKE", "ILIKE"):
        flags = re.IGNORECASE if op == "ILIKE" else 0
        pattern = re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in str(value)),
                             flags | re.DOTALL)
        return lambda e: get(e) is not None and pattern.fullmatch(str(get(e))) is not None
    compare = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<>": lambda a, b: a != b,
               "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
               ">=": lambda a, b: a >= b}[op]

    def matches(experiment: Experiment) -> bool:
        actual = get(experiment)
        if actual is None:
            return False
        try:
            return compare(type(value)(actual), value)
        except (TypeError, ValueError):
            return False

    return matches


def _ordered(found: list[Experiment], order_by: Sequence[str] | None) -> list[Experiment]:
    # MLflow's default: newest first, then by id
    order_by = list(order_by or ["creation_time DESC", "experiment_id ASC"])
    found = sorted(found, key=lambda e: int(e.experiment_id))  # the tie-break, as MLflow
    for clause in reversed(order_by):
        parts = clause.split()
        key = parts[0].lower().removeprefix("attributes.") if parts else ""
        direction = parts[1].upper() if len(parts) > 1 else "ASC"
        if key not in _ORDER_KEYS or direction not in ("ASC", "DESC") or len(parts) > 2:
            raise FilterSyntaxError(f"cannot order experiments by {clause!r}; use one of "
                                    f"{', '.join(sorted(_ORDER_KEYS))} with ASC or DESC")
        sort_key = (lambda e: int(e.experiment_id)) if key == "experiment_id" else (lambda e, k=key: getattr(e, k))
        found = sorted(found, key=sort_key, reverse=direction == "DESC")
    return found
