"""Flax (linen) networks for the NAS search spaces: single-path supernets and fixed derived nets.

* :mod:`l2nas_jax.nets.ops` -- candidate ops shared by every space (NHWC).
* :mod:`l2nas_jax.nets.nb201` -- NAS-Bench-201 ``TinyNetwork`` supernet / fixed cell networks.
* :mod:`l2nas_jax.nets.darts` -- DARTS search supernet / ``NetworkCIFAR`` / ``NetworkImageNet``.

Each space module exposes ``make_supernet(...)`` (arch is a traced call input) and
``make_network(arch, ...)`` (arch fixed at construction).
"""

from l2nas_jax.nets.ops import param_count

__all__ = ["param_count"]
