"""``nbtrack.keras``: Keras 3 models in MLflow's format (see ``nbtrack.models.flavors.keras``).

Example:
    >>> import nbtrack
    >>> nbtrack.keras.FLAVOR_NAME
    'keras'
"""

from .autolog.keras import autolog
from .models.flavors.keras import FLAVOR_NAME, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]
