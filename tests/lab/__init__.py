"""Helpers for the JupyterLab-side tests: stores built with the real nbtrack API."""
