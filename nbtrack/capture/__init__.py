"""What ``%%track`` captures around a cell: context, params, data, environment, snapshots.

Loaded only by ``%load_ext nbtrack`` (it may import IPython; ``import nbtrack`` never
imports this package). Modules:

- ``cell``: what the source says (literal params, names read and bound);
- ``context``: cell id, notebook path, the frontend's context;
- ``inputs``: fingerprints of the DataFrames and arrays a cell reads;
- ``environment``: Python, package versions, git;
- ``snapshot``: the executed notebook as a valid ``.ipynb``;
- ``recorder``: one tracked execution, from run start to summary;
- ``session``, ``background``, ``commands``: per-kernel state, the off-cell worker,
  what ``%nbtrack`` shows;
- ``frontend``: the JupyterLab extension's comm channel (maintained separately).
"""
