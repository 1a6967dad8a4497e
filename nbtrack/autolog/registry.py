"""What autolog holds for the process: the patches it made (to undo them), each flavor's
options, the fits in progress, and which run a fitted model belongs to.

One ``AutologRegistry`` lives in ``nbtrack.state.STATE.autolog``, made on first use;
``state.reset()`` calls ``revert_all()`` so a test (or a long-lived process) gets every
class back as it was.

A patch remembers the raw attribute it replaced (``inspect.getattr_static``) and whether
the owner held it itself or inherited it, so undoing it leaves ``Estimator.fit is
original`` true again: a replaced attribute is put back, an added one is deleted.

Example:
    >>> registry().enabled("sklearn") in (True, False)
    True
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_MISSING = object()


@dataclass
class Patch:
    """One attribute autolog replaced: put ``original`` back (or delete the attribute when the
    owner only inherited it) to undo it."""

    flavor: str
    owner: Any
    name: str
    original: Any
    owned: bool

    def revert(self) -> None:
        if self.owned:
            setattr(self.owner, self.name, self.original)
        else:
            try:
                delattr(self.owner, self.name)
            except AttributeError:
                pass


class AutologRegistry:
    """Autolog's process-wide state; ``nbtrack.state`` owns the one instance."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.patches: dict[str, list[Patch]] = {}
        self.options: dict[str, Any] = {}  # flavor -> its options (a frozen dataclass)
        # Outer fits in progress per flavor, across threads: a fit a worker thread runs inside
        # GridSearchCV.fit is nested, and must not log (MLflow's training session does the same).
        self.training: dict[str, int] = {}
        # fitted model -> the ActiveRun it was fitted in (post-training metrics go there while it
        # is open). Weak keys: nothing is written onto the user's object (MLflow #7814).
        self.model_runs: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self.flavor_state: dict[str, Any] = {}  # per-flavor bookkeeping (sklearn's evaluations)
        self.import_hook: Any = None  # autolog.imports.PostImportFinder while one is installed

    # --- options ------------------------------------------------------------------------

    def enabled(self, flavor: str) -> bool:
        return flavor in self.options

    # --- patches ------------------------------------------------------------------------

    def patch(self, flavor: str, owner: Any, name: str, make: Callable[[Any], Any]) -> bool:
        """Replace ``owner.name`` with ``make(original)``; False when there is nothing to patch
        or it is patched already (autolog called twice keeps one layer)."""
        import inspect

        try:
            raw = inspect.getattr_static(owner, name)
        except AttributeError:
            return False
        with self.lock:
            if any(p.owner is owner and p.name == name for ps in self.patches.values() for p in ps):
                return False
            owned = name in getattr(owner, "__dict__", {})
            original = owner.__dict__[name] if owned else raw
            setattr(owner, name, make(original))
            self.patches.setdefault(flavor, []).append(Patch(flavor, owner, name, original, owned))
        return True

    def revert(self, flavor: str) -> None:
        """Undo every patch of ``flavor`` (newest first) and forget its options."""
        with self.lock:
            for patch in reversed(self.patches.pop(flavor, [])):
                patch.revert()
            self.options.pop(flavor, None)
            self.flavor_state.pop(flavor, None)
            if self.import_hook is not None:
                self.import_hook.forget(flavor)

    def revert_all(self) -> None:
        with self.lock:
            for flavor in list(self.patches) + list(self.options):
                self.revert(flavor)
            if self.import_hook is not None:
                self.import_hook.uninstall()
                self.import_hook = None

    # --- training sessions ---------------------------------------------------------------

    def enter_training(self, flavor: str) -> bool:
        """Count a fit of ``flavor`` in; True when it is the outermost one (the one that logs)."""
        with self.lock:
            depth = self.training.get(flavor, 0)
            self.training[flavor] = depth + 1
            return depth == 0

    def exit_training(self, flavor: str) -> None:
        with self.lock:
            self.training[flavor] = max(0, self.training.get(flavor, 0) - 1)

    def training_active(self, flavor: str) -> bool:
        return self.training.get(flavor, 0) > 0


def registry() -> AutologRegistry:
    """The process's registry, made on first use (under the state lock)."""
    from ..state import made_once

    return made_once("autolog", AutologRegistry)
