"""Benchmark suites: every module here is imported by ``registry.load_suites``.

Add a suite (``%%track`` overhead, comparison-view build, server first page)
by adding a module that decorates functions with ``registry.benchmark``.
"""
