"""Notebooks as jobs: parameterized runs (papermill), sweeps over executors, reproduce.

- ``parameters``: what a notebook's ``parameters`` cell assigns; values checked against it;
- ``execute``: ``run_notebook`` (one execution = one run, ``%%track`` cells its children);
- ``config``: W&B/trackio sweep configs and the trials they plan;
- ``sweep``: the sweep driver (placeholders, executors, Ctrl-C, resume);
- ``worker``: one execution into a store of its own, sent back as a bundle;
- ``reproduce``: rebuild a run's kernel state in a fresh kernel and compare;
- ``cli``: ``nbtrack run`` / ``sweep`` / ``reproduce``.

Nothing here is imported by ``import nbtrack``; papermill, Optuna, Dask and tqdm load on use.
"""
