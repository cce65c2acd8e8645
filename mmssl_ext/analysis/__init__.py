"""Measuring: the benchmark tools' logic, as functions that return rows as data.

The top layer with ``setup_env``: it builds models, pipelines and hooks from
every lower layer; ``tools/analysis_tools/`` only parse arguments and print.
"""
