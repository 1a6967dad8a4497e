"""The images MLflow's sklearn autolog logs for a classifier, drawn from the training
predictions autolog computes anyway:

- ``training_confusion_matrix.png``: normalized by true class, ``Blues``;
- for a binary classifier with ``predict_proba`` or ``decision_function``:
  ``training_roc_curve.png`` and ``training_precision_recall_curve.png``.

They are drawn on matplotlib's Agg canvas directly (``matplotlib.figure.Figure``), never
through ``pyplot``: the user's current figure, backend and inline output stay as they were,
and nothing appears under the cell. Without matplotlib there are no images, and nothing
else changes.

Example:
    >>> import numpy as np
    >>> images = classifier_images(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]),
    ...                            np.array([0.1, 0.9, 0.4, 0.2]), classes=[0, 1])  # doctest: +SKIP
    >>> sorted(images)  # doctest: +SKIP
    ['training_confusion_matrix.png', 'training_precision_recall_curve.png', 'training_roc_curve.png']
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Sequence
from typing import Any

PREFIX = "training_"
DPI = 175  # MLflow's savefig.dpi
# MLflow's figure sizes: the confusion matrix 6 x 4 in, the curves matplotlib's default.
MATRIX_SIZE = (6.0, 4.0)
CURVE_SIZE = (6.4, 4.8)
FONT_SIZE = 8.0  # MLflow's font.size for these figures
LABEL_SIZE = 8.0  # and its axes.labelsize


def plotting_available() -> bool:
    """True when matplotlib is installed (found without importing it)."""
    return importlib.util.find_spec("matplotlib") is not None


def classifier_images(y: Any, predicted: Any, scores: Any | None, *, classes: Sequence[Any] | None,
                      sample_weight: Any = None, estimator_name: str | None = None) -> dict[str, bytes]:
    """PNG bytes by artifact name: the confusion matrix, and for two classes with ``scores``
    (the positive class's probability or decision value) the ROC and precision-recall curves,
    their legend naming ``estimator_name`` as ``from_estimator`` does. Safe off the main
    thread: no pyplot, and no change to matplotlib's global ``rcParams`` (font sizes are set
    on each figure), so a plot the user draws meanwhile is unaffected."""
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    labels = list(classes) if classes is not None else None
    count = len(labels) if labels is not None else len(set(y))
    size = min(FONT_SIZE, 50.0 / max(count, 1))  # MLflow shrinks the matrix's text with many classes
    figure, ax = _figure(MATRIX_SIZE)
    ConfusionMatrixDisplay.from_predictions(y, predicted, labels=labels, sample_weight=sample_weight,
                                            normalize="true", cmap="Blues", ax=ax,
                                            text_kw={"fontsize": size})
    images = {PREFIX + "confusion_matrix.png": _png(figure, "Normalized confusion matrix", size)}
    if scores is not None and labels is not None and len(labels) == 2:
        for name, display, title in (("roc_curve", RocCurveDisplay, "ROC curve"),
                                     ("precision_recall_curve", PrecisionRecallDisplay,
                                      "Precision recall curve")):
            figure, ax = _figure(CURVE_SIZE)
            display.from_predictions(y, scores, pos_label=labels[1], sample_weight=sample_weight,
                                     name=estimator_name, ax=ax)
            images[PREFIX + name + ".png"] = _png(figure, title, FONT_SIZE)
    return images


def _figure(size: tuple[float, float]) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=DPI, layout="tight")
    FigureCanvasAgg(figure)
    return figure, figure.subplots()


def _png(figure: Any, title: str, font_size: float) -> bytes:
    """The figure as PNG, its texts at MLflow's sizes (ticks, title, legend at ``font_size``,
    axis labels at 8 pt)."""
    for axes in figure.axes:  # the plot and, for the matrix, its colour bar
        axes.tick_params(labelsize=font_size)
        axes.xaxis.label.set_fontsize(LABEL_SIZE)
        axes.yaxis.label.set_fontsize(LABEL_SIZE)
        legend = axes.get_legend()
        if legend is not None:
            for text in legend.get_texts():
                text.set_fontsize(font_size)
    figure.axes[0].set_title(title, fontsize=font_size)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
