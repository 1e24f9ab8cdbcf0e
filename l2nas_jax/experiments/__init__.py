"""Experiments built on the Python API: compare methods, sweep hyper-parameters, transfer across datasets.

No argument parsing here (that is :mod:`l2nas_jax.cli`); each module is importable from a notebook.
"""
