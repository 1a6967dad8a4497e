"""Tag edits made on an MLflow server to a run already synced, followed by the next pull.

A run pulled (or pushed) once is not fetched whole again, but its tags can change on the
server: a reviewer tags it, renames it, removes a tag. Each synced run keeps the server's
tags as they were at the last sync (``remote_runs.server_tags``), the base of a three-way
comparison per key:

- unchanged on the server (server == base): nothing to do;
- changed on the server, not here (local == base): the server's edit is applied here
  (a tag set, a tag deleted; ``mlflow.runName`` renames the run);
- changed on both sides to different values: the local value is kept, and counted.

Keys that name runs on one side only (``mlflow.parentRunId``, ``nbtrack.mlflow_run_id``)
and the tags a push added are not followed. A run synced before nbtrack kept this base
records it at its next pull and follows edits from then on.

The comparison is made in the pull's transaction (``store.sync.FollowServerTags``), by
``store.sync.three_way``, which the aliases of registered models share
(``store.sync.FollowServerAliases``).

Example:
    >>> followed_tags({"team": "nlp", "mlflow.parentRunId": "p1"})
    {'team': 'nlp'}
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from .mapping import MLFLOW_RUN_ID_TAG, PARENT_TAG, RUN_ID_TAG, split_synthesized

NOT_FOLLOWED = (PARENT_TAG, MLFLOW_RUN_ID_TAG, RUN_ID_TAG)


def followed_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags of a run as the server holds them, minus the ones that are not followed."""
    own, _ = split_synthesized(tags)
    return {k: v for k, v in own.items() if k not in NOT_FOLLOWED}


def encode(tags: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(tags.items())), ensure_ascii=False)


def decode(text: str | None) -> dict[str, str] | None:
    return None if text is None else json.loads(text)
