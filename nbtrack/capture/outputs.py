"""A copy of what a tracked cell shows, for its run's notebook snapshot.

The snapshot is taken from what the frontend sent as the cell started, so it holds
the cell's *previous* outputs; a run's own outputs exist only as the kernel emits
them. ``OutputCopy`` listens where IPython emits them (display publisher,
display hook, tracebacks, the kernel's stdout/stderr streams) and keeps an
nbformat copy, while everything still reaches the frontend unchanged.

It listens by shadowing methods on those objects' instances (never replacing
``sys.stdout`` itself, which code may hold or check) and puts each back on exit.
Where an object refuses (a plain terminal's stdout), that kind of output is
simply not copied. The copy is capped, so a cell that prints megabytes costs
little.

Example:
    >>> from IPython.testing.globalipapp import get_ipython  # doctest: +SKIP
    >>> with OutputCopy(get_ipython()) as copy:  # doctest: +SKIP
    ...     get_ipython().run_cell("print('hi'); 1 + 1")
    >>> [o["output_type"] for o in copy.outputs]  # doctest: +SKIP
    ['stream', 'execute_result']
"""

from __future__ import annotations

import sys
from typing import Any

MAX_COPIED_CHARS = 1_000_000  # of all outputs together; the rest is noted, not copied
_MISSING = object()


class OutputCopy:
    """Context manager: while open, ``outputs`` grows with what the cell shows (nbformat 4)."""

    def __init__(self, shell: Any, execution_count: int | None = None) -> None:
        self.shell = shell
        self.execution_count = execution_count
        self.outputs: list[dict[str, Any]] = []
        self._size = 0
        self._truncated = False
        self._restore: list[tuple[Any, str, Any]] = []

    # --- listening ---------------------------------------------------------------------------

    def __enter__(self) -> OutputCopy:
        shell = self.shell
        self._shadow(getattr(shell, "display_pub", None), "publish", self._on_display)
        self._shadow(getattr(shell, "displayhook", None), "write_format_data", self._on_result)
        self._shadow(shell, "_showtraceback", self._on_traceback)
        for name in ("stdout", "stderr"):
            self._shadow(getattr(sys, name), "write", self._stream_listener(name))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, attribute, previous in reversed(self._restore):
            try:
                if previous is _MISSING:
                    del owner.__dict__[attribute]  # back to the class's method
                else:
                    setattr(owner, attribute, previous)  # an enclosing tracked cell's copy
            except (KeyError, AttributeError, TypeError):
                pass
        self._restore.clear()
        if self._truncated:
            self.outputs.append({"output_type": "stream", "name": "stderr",
                                 "text": "[nbtrack: the rest of this cell's output was not copied]\n"})

    def _shadow(self, owner: Any, attribute: str, listener: Any) -> None:
        """Put a copying wrapper on ``owner``'s instance; skip owners that refuse it."""
        if owner is None:
            return
        original = getattr(owner, attribute, None)
        if original is None:
            return
        previous = getattr(owner, "__dict__", {}).get(attribute, _MISSING)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                listener(*args, **kwargs)
            except Exception:  # copying never stands between the cell and its output
                pass
            return original(*args, **kwargs)

        try:
            setattr(owner, attribute, wrapper)
        except (AttributeError, TypeError):  # e.g. a TextIOWrapper's read-only write
            return
        self._restore.append((owner, attribute, previous))

    # --- what each source emits ------------------------------------------------------------

    def _keep(self, output: dict[str, Any], size: int) -> None:
        if self._size + size > MAX_COPIED_CHARS:
            self._truncated = True
            return
        self._size += size
        self.outputs.append(output)

    def _stream_listener(self, name: str) -> Any:
        def on_write(text: Any, *_: Any, **__: Any) -> None:
            if not isinstance(text, str) or not text:
                return
            last = self.outputs[-1] if self.outputs else None
            if last is not None and last["output_type"] == "stream" and last["name"] == name:
                if self._size + len(text) > MAX_COPIED_CHARS:
                    self._truncated = True
                    return
                self._size += len(text)
                last["text"] += text  # consecutive writes are one output, as the frontend shows
            else:
                self._keep({"output_type": "stream", "name": name, "text": text}, len(text))
        return on_write

    def _on_display(self, data: Any, metadata: Any = None, *_: Any, update: bool = False, **__: Any) -> None:
        if update or not isinstance(data, dict):
            return  # an update of an earlier display: the snapshot keeps the first form
        self._keep({"output_type": "display_data", "data": dict(data), "metadata": dict(metadata or {})},
                   _size_of(data))

    def _on_result(self, format_dict: Any, md_dict: Any = None) -> None:
        if isinstance(format_dict, dict):
            self._keep({"output_type": "execute_result", "execution_count": self.execution_count,
                        "data": dict(format_dict), "metadata": dict(md_dict or {})}, _size_of(format_dict))

    def _on_traceback(self, etype: Any, evalue: Any, stb: Any, *_: Any, **__: Any) -> None:
        lines = [str(line) for line in (stb or [])]
        self._keep({"output_type": "error", "ename": getattr(etype, "__name__", str(etype)),
                    "evalue": str(evalue), "traceback": lines}, sum(map(len, lines)))


def _size_of(data: dict[str, Any]) -> int:
    return sum(len(v) if isinstance(v, str) else 100 for v in data.values())


def with_outputs(cell: dict[str, Any], outputs: list[dict[str, Any]], execution_count: int | None) -> dict[str, Any]:
    """``cell`` (an nbformat code cell) as the run left it: its own outputs and count."""
    return {**cell, "outputs": list(outputs), "execution_count": execution_count}
