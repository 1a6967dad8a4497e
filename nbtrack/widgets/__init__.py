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

__all__ = ["compare", "Comparison"]


def compare(
    filter: str | None = None,
    runs: Sequence[str] | None = None,
    experiment: str | Sequence[str] | None = None,
    metric: str | None = None,
    *,
    selected: Sequence[str] | None = None,
    page_size: int = 20,
    display: bool = True,
) -> Comparison:
    """Show runs side by side: table, curves, parallel coordinates, scatter, diff, restore.

    ``filter`` uses the filter language of ``search_runs``; ``runs`` lists run ids;
    ``experiment`` is a name or id (or a list); ``metric`` picks the metric the plots
    and the table's order start with. In a notebook the view is displayed; the
    returned object's ``.df`` is the view's DataFrame and ``.selected`` the selected
    run ids. Its display also carries a static HTML table and SVG plot, which is what
    nbconvert, GitHub and viewers without a kernel show.

    Example:
        >>> cmp = compare("metrics.accuracy > 0.8", metric="accuracy")  # doctest: +SKIP
        >>> cmp.df[["run_name", "metrics.accuracy"]].head(3)  # doctest: +SKIP
    """
    comparison = Comparison(load_runs(filter, runs, experiment), metric, selected=selected,
                            page_size=page_size)
    if display:
        from IPython import get_ipython

        if get_ipython() is not None:
            from IPython.display import display as show

            show(comparison)
    return comparison
