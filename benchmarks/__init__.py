"""Peer-comparison benchmarks for nbtrack: ``python -m benchmarks``.

Every benchmark runs nbtrack and its peers (MLflow, trackio) on the same
workload in the same invocation, each repetition in a fresh process and a fresh
temporary store, and reports medians and peer/nbtrack ratios. See README.md.
"""
