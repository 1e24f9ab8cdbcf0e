"""NAS-Bench-201 cell representations and the conversions between them.

Representations (one canonical op order, :data:`OPS`, used everywhere):

* **arch string** -- the official format
  ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``; edges in the order
  (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2).
* **ops** -- ``int32[6]`` op indices into :data:`OPS`, same edge order.
* **code** -- mixed-radix integer ``sum(ops[e] * 5**(5-e))`` in ``[0, 15625)``;
  a dense id used for look-ups and repeat detection.  This is *not* the
  official benchmark index (that order is the benchmark file's; see
  :mod:`l2nas_jax.spaces.nb201.table` for the index <-> code map).
* **one-hot** -- ``float32[6, 5]``, one row per edge.
"""

from __future__ import annotations

import re
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_OPS = len(OPS)
NUM_EDGES = 6
NUM_ARCHS = NUM_OPS**NUM_EDGES  # 15,625
#: (target node, source node) of each edge, in arch-string order.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
_RADIX = np.array([NUM_OPS ** (NUM_EDGES - 1 - e) for e in range(NUM_EDGES)], dtype=np.int32)
_TOKEN = re.compile(r"^([a-z0-9_]+)~(\d+)$")


def parse_arch(arch: str) -> np.ndarray:
    """Parse an official arch string into ``int32[6]`` op indices.

    Raises:
      ValueError: naming the problem (type, node layout, unknown op, wrong input index).
    """
    if not isinstance(arch, str):
        raise ValueError(f"NB201 arch string must be a str, got {type(arch).__name__}")
    s = arch.strip()
    nodes = s.split("+")
    if len(nodes) != 3:
        raise ValueError(
            f"malformed NB201 arch string {arch!r}: expected 3 node groups separated by '+', got {len(nodes)}"
        )
    ops: list[int] = []
    for node, group in enumerate(nodes, start=1):
        if not (group.startswith("|") and group.endswith("|") and len(group) >= 2):
            raise ValueError(f"malformed NB201 arch string {arch!r}: node {node} group {group!r} must be '|...|'")
        tokens = group[1:-1].split("|")
        if len(tokens) != node:
            raise ValueError(
                f"malformed NB201 arch string {arch!r}: node {node} needs {node} input edge(s), got {len(tokens)}"
            )
        for src, tok in enumerate(tokens):
            m = _TOKEN.match(tok)
            if m is None:
                raise ValueError(f"malformed NB201 arch string {arch!r}: bad edge token {tok!r} (expected 'op~i')")
            name, idx = m.group(1), int(m.group(2))
            if name not in OPS:
                raise ValueError(f"unknown NB201 op {name!r} in {arch!r}; valid ops: {', '.join(OPS)}")
            if idx != src:
                raise ValueError(
                    f"malformed NB201 arch string {arch!r}: token {tok!r} of node {node} must read from node {src}"
                )
            ops.append(OPS.index(name))
    return np.asarray(ops, dtype=np.int32)


def format_arch(ops: Sequence[int] | np.ndarray) -> str:
    """Format ``int[6]`` op indices as the official arch string."""
    ops = np.asarray(ops)
    if ops.shape != (NUM_EDGES,):
        raise ValueError(f"NB201 ops must have shape ({NUM_EDGES},), got {ops.shape}")
    if ops.min() < 0 or ops.max() >= NUM_OPS:
        raise ValueError(f"NB201 op indices must lie in [0, {NUM_OPS}), got {ops.tolist()}")
    names = [OPS[int(o)] for o in ops]
    groups, e = [], 0
    for node in range(1, 4):
        groups.append("|" + "|".join(f"{names[e + s]}~{s}" for s in range(node)) + "|")
        e += node
    return "+".join(groups)


def ops_to_code(ops):
    """Mixed-radix code of op indices (works on numpy or jax arrays, any leading batch dims)."""
    xp = jnp if isinstance(ops, jnp.ndarray) and not isinstance(ops, np.ndarray) else np
    return (ops * xp.asarray(_RADIX)).sum(-1).astype(xp.int32)


def code_to_ops(code):
    """Inverse of :func:`ops_to_code` (numpy or jax, any leading batch dims)."""
    xp = jnp if isinstance(code, jnp.ndarray) and not isinstance(code, np.ndarray) else np
    code = xp.asarray(code)[..., None]
    return ((code // xp.asarray(_RADIX)) % NUM_OPS).astype(xp.int32)


def one_hot(ops) -> jnp.ndarray:
    """``float32[..., 6, 5]`` one-hot encoding of op indices."""
    return jnp.eye(NUM_OPS, dtype=jnp.float32)[jnp.asarray(ops)]


def random_arch(key) -> jnp.ndarray:
    """Uniform random cell: ``int32[6]`` (jittable)."""
    return jax.random.randint(key, (NUM_EDGES,), 0, NUM_OPS, dtype=jnp.int32)


def mutate(key, arch) -> jnp.ndarray:
    """Change one uniformly chosen edge to a different op (the NB201 paper's REA mutation)."""
    k_edge, k_op = jax.random.split(key)
    edge = jax.random.randint(k_edge, (), 0, NUM_EDGES)
    shift = jax.random.randint(k_op, (), 1, NUM_OPS)
    return arch.at[edge].set((arch[edge] + shift) % NUM_OPS)
