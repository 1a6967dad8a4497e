"""``nbtrack.sklearn``: scikit-learn models in MLflow's format (see ``nbtrack.models.flavors.sklearn``)
and autolog (``nbtrack.autolog.sklearn``).

Example:
    >>> import nbtrack
    >>> nbtrack.sklearn.FLAVOR_NAME
    'sklearn'
"""

from .autolog.sklearn import autolog
from .models.flavors.sklearn import FLAVOR_NAME, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]
