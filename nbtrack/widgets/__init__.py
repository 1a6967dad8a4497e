"""Compare runs inline: ``nbtrack.compare()``.

Importing this package loads ipywidgets, plotly, numpy and pandas, which is
why ``import nbtrack`` only reaches it when ``compare`` is first used.

Example:
    >>> import nbtrack, tempfile
    >>> nbtrack.set_tracking_uri(tempfile.mkdtemp())
    >>> cmp = compare()
    >>> cmp.df.empty, cmp.selected
    (True, [])
"""

from __future__ import annotations

from collections.abc import Sequence

from .data import load_runs
from .view import Comparison

__all__ = ["Comparison", "compare", "live_frontend"]


def live_frontend() -> bool:
    """Whether a frontend that renders widgets runs this kernel.

    Jupyter Server sets ``JPY_SESSION_NAME`` for the kernels of its sessions
    (JupyterLab, Notebook 7, VS Code on a server); VS Code's own kernels carry
    ``VSCODE_*`` variables or ``__vsc_ipynb_file__``. nbclient, papermill and
    ``nbconvert --execute`` set none of these: nobody will ever interact there.
    Outside IPython (a script) there is nothing to display live either.

    Example:
        >>> live_frontend()  # a doctest runs in no notebook
        False
    """
    import os

    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return False
    if os.environ.get("JPY_SESSION_NAME") or "__vsc_ipynb_file__" in shell.user_ns:
        return True
    return any(key.startswith("VSCODE_") for key in os.environ)


def compare(
    filter: str | None = None,
    runs: Sequence[str] | None = None,
    experiment: str | Sequence[str] | None = None,
    metric: str | None = None,
    *,
    selected: Sequence[str] | None = None,
    page_size: int = 20,
    display: bool = True,
    live: bool | None = None,
    sweep: str | None = None,
) -> Comparison:
    """Show runs side by side: table, curves, parallel coordinates, scatter, diff, restore.

    ``filter`` uses the filter language of ``search_runs``; ``runs`` lists run ids;
    ``experiment`` is a name or id (or a list); ``metric`` picks the metric the plots
    and the table's order start with. In a notebook the view is displayed; the
    returned object's ``.df`` is the view's DataFrame and ``.selected`` the selected
    run ids. ``sweep`` (a sweep's run id) shows its executions, led by the sweep's metric.
    Its display also carries a static HTML table and SVG plot, which is what
    nbconvert, GitHub and viewers without a kernel show.

    ``live=None`` builds the widgets only when a frontend that renders them runs the
    kernel (see ``live_frontend``); under nbclient, papermill or ``nbconvert --execute``
    the output is the static table and picture alone. ``live=True/False`` decides.

    Example:
        >>> cmp = compare("metrics.accuracy > 0.8", metric="accuracy")  # doctest: +SKIP
        >>> cmp.df[["run_name", "metrics.accuracy"]].head(3)  # doctest: +SKIP
    """
    order = None
    if sweep is not None:  # a sweep's executions, best first by its metric (nbtrack/jobs/view.py)
        from ..jobs.view import sweep_view

        filter, metric, order = sweep_view(sweep, filter, metric)
    if live is None:
        live = live_frontend()
    comparison = Comparison(load_runs(filter, runs, experiment), metric, selected=selected,
                            page_size=page_size, live=live)
    if order is not None:
        comparison.set_options(descending=order)
    if display:
        from IPython import get_ipython

        if get_ipython() is not None:
            from IPython.display import display as show

            show(comparison)
    return comparison
