"""The only package that runs SQL: the store's schema, typed write commands and queries.

The commands' handlers register themselves when their modules are imported. They are
imported here, in dependency order, because Python runs this file before any module of
the package: whichever module a caller imports first (``store.transfer`` in a sweep's
worker, ``store.registry``...), every command has its handler and no module is met
half-imported.
"""

from . import commands  # noqa: F401  (the command types and the handler registry)
from . import writer  # noqa: F401  (runs, params, tags, metrics, artifacts, inputs)
from . import registry  # noqa: F401  (the model registry's commands and handlers)
from . import transfer  # noqa: F401  (ImportRun: moving runs between stores)
from . import experiments  # noqa: F401  (create, rename, delete, restore and tag experiments)
from . import sync  # noqa: F401  (push/pull mappings with an MLflow store: nbtrack/interop)
