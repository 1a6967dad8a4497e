"""``nbtrack.pyfunc``: any model behind one ``predict``; custom ``PythonModel`` classes
(see ``nbtrack.models.flavors.pyfunc``).

Example:
    >>> import nbtrack
    >>> issubclass(nbtrack.pyfunc.PythonModel, object)
    True
"""

from .models.flavors.pyfunc import (
                                    PyFuncModel,
                                    PythonModel,
                                    PythonModelContext,
                                    load_model,
                                    log_model,
                                    save_model,
)

__all__ = ["PyFuncModel", "PythonModel", "PythonModelContext", "load_model", "log_model", "save_model"]
