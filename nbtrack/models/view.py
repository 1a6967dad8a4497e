"""``nbtrack.models()``: the registry inline, as ``nbtrack.compare()`` shows runs.

The display is static HTML (escaped, no script: it reads on GitHub, in nbconvert
output and after the kernel is gone) plus a text table for terminals: one row
per version with its stage, aliases, source run and the run's headline metrics.

Example:
    >>> import nbtrack, tempfile
    >>> nbtrack.set_tracking_uri(tempfile.mkdtemp())
    >>> print(repr(nbtrack.models(display=False)).splitlines()[0])
    nbtrack registry · 0 registered models · 0 versions
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from ..store.registry_queries import VersionSummary
from ..tables import format_time, format_value, text_table

HEADLINE_METRICS = 4
STATIC_ROWS = 200  # rows in the saved HTML; .versions and .df have them all


class RegistryView:
    """What ``nbtrack.models()`` returns: ``.versions`` (records) and ``.df`` (a DataFrame)."""

    def __init__(self, versions: Sequence[VersionSummary], name: str | None = None) -> None:
        self.versions = list(versions)
        self.name = name
        keys: dict[str, int] = {}
        for v in self.versions:
            for key in v.metrics:
                keys[key] = keys.get(key, 0) + 1
        # the metrics most versions' runs have, alphabetical among equals
        self.metric_keys = sorted(keys, key=lambda k: (-keys[k], k))[:HEADLINE_METRICS]

    @property
    def df(self):  # -> pandas.DataFrame
        import pandas as pd

        return pd.DataFrame([{"name": v.name, "version": v.version, "stage": v.current_stage,
                              "aliases": ", ".join(v.aliases), "run_id": v.run_id, "run_name": v.run_name,
                              **{f"metrics.{k}": val for k, val in v.metrics.items()},
                              "created": v.creation_timestamp} for v in self.versions])

    def _summary(self) -> str:
        models = len({v.name for v in self.versions})
        what = f"model {self.name!r}" if self.name else f"{models} registered model{'s' if models != 1 else ''}"
        return f"nbtrack registry · {what} · {len(self.versions)} version{'s' if len(self.versions) != 1 else ''}"

    def _rows(self) -> tuple[list[str], list[list[Any]]]:
        columns = ["model", "version", "stage", "aliases", "run", *self.metric_keys, "created"]
        rows = [[v.name, f"v{v.version}", "" if v.current_stage == "None" else v.current_stage,
                 " ".join(f"@{a}" for a in v.aliases), v.run_name or (v.run_id or "")[:8],
                 *[v.metrics.get(k) for k in self.metric_keys], format_time(v.creation_timestamp)]
                for v in self.versions]
        return columns, rows

    def __repr__(self) -> str:
        if not self.versions:
            return self._summary() + "\n(no versions: register one with nbtrack.register_model)"
        columns, rows = self._rows()
        return self._summary() + "\n" + text_table(columns, rows)

    def _repr_html_(self) -> str:
        out = ["<div class='nbtrack-models-static' style='font-family:sans-serif;font-size:12px'>",
               f"<div style='margin:4px 0'><b>{html.escape(self._summary())}</b></div>"]
        if not self.versions:
            out.append("<div><i>No registered versions yet. Register one with "
                       "nbtrack.register_model(model_uri, name) or log_model(..., "
                       "registered_model_name=...).</i></div></div>")
            return "".join(out)
        columns, rows = self._rows()
        out.append("<table style='border-collapse:collapse'><thead><tr>")
        out += [f"<th style='text-align:left;padding:2px 8px;border-bottom:1px solid #ccc'>"
                f"{html.escape(c)}</th>" for c in columns]
        out.append("</tr></thead><tbody>")
        for v, row in zip(self.versions[:STATIC_ROWS], rows[:STATIC_ROWS]):
            highlight = " style='background:#eef6ee'" if v.aliases or v.current_stage == "Production" else ""
            out.append(f"<tr{highlight}>")
            out += [f"<td style='padding:2px 8px'>{html.escape(format_value(cell))}</td>" for cell in row]
            out.append("</tr>")
        shown = f"first {STATIC_ROWS:,} of {len(rows):,} versions shown · " if len(rows) > STATIC_ROWS else ""
        out.append(f"</tbody></table><div style='color:#666;margin-top:4px'>{shown}versions with an alias "
                   "or in Production are shaded · nbtrack models history NAME shows every alias and stage "
                   "move</div></div>")
        return "".join(out)


def models(name: str | None = None, *, display: bool = True) -> RegistryView:
    """Show the registry (or one registered model): versions, stages, aliases and their runs'
    headline metrics. Returns the view (``.versions``, ``.df``).

    Example:
        >>> nbtrack.models()  # doctest: +SKIP
        >>> nbtrack.models("customer-sentiment").df  # doctest: +SKIP
    """
    from ..errors import NoStore
    from ..store import registry_queries as rq
    from ..tracking.fluent import store_handle

    try:
        store = store_handle().read()
        if name is not None:
            rq.get_registered_model(store, name)  # a clear error for an unknown name
        versions = rq.registry_overview(store, name)
    except NoStore:
        versions = []
    view = RegistryView(versions, name)
    if display:
        try:
            from IPython import get_ipython
        except ImportError:
            return view
        if get_ipython() is not None:
            from IPython.display import display as show

            show(view)
    return view
