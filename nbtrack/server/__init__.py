"""nbtrack's Jupyter server extension: a REST API over the stores under the server root.

Reads of runs and the model registry (``api``, ``registry_api``); writes only
through nbtrack's registry and notebook jobs (``registry_api``, ``jobs``).

``pip install nbtrack`` enables it (``etc/jupyter/jupyter_server_config.d/nbtrack.json``);
``jupyter server extension enable nbtrack.server`` does it by hand. The API is
described in ``docs/rest-api.md``. Importing this package imports neither
tornado nor jupyter_server: the handlers load when the server loads the extension.

Example:
    >>> _jupyter_server_extension_points()
    [{'module': 'nbtrack.server'}]
"""

from __future__ import annotations

from typing import Any

LABEXTENSION_NAME = "nbtrack"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nbtrack.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    # "src" is relative to the nbtrack package directory, where the build lands.
    return [{"src": "labextension", "dest": LABEXTENSION_NAME}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Register the API routes; stores are read relative to the server's root directory."""
    from .handlers import API_PREFIX, setup_handlers

    setup_handlers(server_app.web_app, str(server_app.root_dir))
    server_app.log.info("nbtrack: REST API at %s%s/", server_app.base_url, API_PREFIX)
