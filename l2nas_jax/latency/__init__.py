"""Latency on the user's own hardware: measure fixed networks, fit a model, search under a latency budget.

* :mod:`.measure` -- the timing harness (compile excluded, warm-up, repeats, median and spread) and the
  resumable measurement of stratified architecture samples (``l2nas latency``);
* :mod:`.model` -- a pure, jittable latency model (per-choice look-up table summed as OFA does, plus a
  small learned correction) fitted on those measurements, with held-out accuracy against MACs;
* :mod:`.reduce` -- hardware-specific space reduction (choices dominated in latency and accuracy).

The search side (a modelled-latency column that ``--max-latency`` budgets) is
:mod:`l2nas_jax.envs.latency`.  Importing this package loads no JAX code.
"""
