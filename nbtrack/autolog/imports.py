"""Run a callback right after a top-level package is first imported (a post-import hook).

``nbtrack.autolog()`` must not import scikit-learn or Keras just to patch them (Keras
alone takes seconds): a library already imported is patched at once, one that is only
installed gets a hook here, and is patched when the user's own ``import`` finishes.

The finder sits first in ``sys.meta_path``, asks the finders after it for the spec, and
wraps the spec's loader so that ``exec_module`` runs the callback after the module's
own code. Everything else the loader offers (resource readers, ``get_code``) is passed
through. A callback that fails warns once and never breaks the import.

Example:
    >>> finder = PostImportFinder()  # doctest: +SKIP
    >>> finder.watch("keras", "keras", lambda module: print("patched", module.__name__))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Callable
from typing import Any


class _HookedLoader(importlib.abc.Loader):
    """The original loader, plus the callbacks once the module has executed."""

    def __init__(self, loader: Any, finder: PostImportFinder, name: str) -> None:
        self._loader = loader
        self._finder = finder
        self._name = name

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        self._finder.fire(self._name, module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class PostImportFinder(importlib.abc.MetaPathFinder):
    """Calls ``callback(module)`` after a watched top-level module is imported, once."""

    def __init__(self) -> None:
        self._callbacks: dict[str, dict[str, Callable[[Any], None]]] = {}  # module -> flavor -> fn
        self._busy = threading.local()

    def watch(self, module: str, flavor: str, callback: Callable[[Any], None]) -> None:
        self._callbacks.setdefault(module, {})[flavor] = callback
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def forget(self, flavor: str) -> None:
        for callbacks in self._callbacks.values():
            callbacks.pop(flavor, None)
        if not any(self._callbacks.values()):
            self.uninstall()  # nothing left to wait for: out of every import's way

    def uninstall(self) -> None:
        self._callbacks.clear()
        if self in sys.meta_path:
            sys.meta_path.remove(self)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if not self._callbacks.get(fullname) or getattr(self._busy, "name", None) == fullname:
            return None
        self._busy.name = fullname  # the look-up below must not come back here
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.name = None
        if spec is None or spec.loader is None:
            return None
        spec.loader = _HookedLoader(spec.loader, self, fullname)
        return spec

    def fire(self, name: str, module: Any) -> None:
        for flavor, callback in list(self._callbacks.pop(name, {}).items()):
            try:
                callback(module)
            except Exception as exc:  # the user's import goes on, unpatched
                from .runs import report_failure

                report_failure(flavor, exc)


def when_imported(module: str, flavor: str, callback: Callable[[Any], None]) -> None:
    """``callback(module)`` now if ``module`` is imported, else right after its first import."""
    loaded = sys.modules.get(module)
    if loaded is not None:
        callback(loaded)
        return
    from .registry import registry

    state = registry()
    with state.lock:
        if state.import_hook is None:
            state.import_hook = PostImportFinder()
        state.import_hook.watch(module, flavor, callback)


def importable(module: str) -> bool:
    """Whether ``module`` could be imported, without importing it."""
    if module in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
