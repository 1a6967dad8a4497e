#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine (Python 3.11, Node 20, root for apt),
# then runs the whole suite. `.ci/run` calls this; so does the README's second command.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's Chromium for the real-browser tests (never a browser that a tool downloads itself).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing and this is not root: browser tests will be skipped" >&2
  fi
fi

# Debian's PostgreSQL for `nbtrack push` against a Postgres-backed MLflow server
# (tests/test_interop_postgres.py starts its own cluster in a temp dir as the postgres user).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  else
    echo "postgresql is missing and this is not root: the PostgreSQL tests will be skipped" >&2
  fi
fi

python -m pip install -q --upgrade pip
# `jupyter labextension develop` leaves share/jupyter/labextensions/nbtrack as a symlink into the
# checkout it ran in; once that checkout is gone the link dangles and pip cannot write the
# prebuilt extension through it. The editable install below puts a real copy there.
labext_link="$(python -c 'import sys; print(sys.prefix)')/share/jupyter/labextensions/nbtrack"
if [ -L "$labext_link" ]; then rm -f "$labext_link"; fi
# Editable install builds the JupyterLab extension with Node (jlpm) the first time.
python -m pip install -q -e ".[test,keras,mlflow]"

python -m pytest -q -p no:cacheprovider "$@"
