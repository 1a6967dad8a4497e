"""``nbtrack.sklearn``: scikit-learn models in MLflow's format (see ``nbtrack.models.flavors.sklearn``).

Example:
    >>> import nbtrack
    >>> nbtrack.sklearn.FLAVOR_NAME
    'sklearn'
"""

from .models.flavors.sklearn import FLAVOR_NAME, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "load_model", "log_model", "save_model"]
