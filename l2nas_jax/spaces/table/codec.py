"""The codec of a categorical grid: N decisions, decision ``d`` with ``counts[d]`` choices.

* **arch** -- ``int32[N]`` choice indices (choice ``i`` of decision ``d`` is ``Grid.choices[d][i]``).
* **id** -- mixed-radix code ``sum(arch[d] * prod(counts[d+1:]))``, the first decision most
  significant, in ``[0, prod(counts))``.  With 6 decisions of 5 choices this is exactly
  NAS-Bench-201's code (``l2nas_jax.spaces.nb201.codec.ops_to_code``).
* **alpha / one-hot** -- ``float32[N, max(counts)]``; the columns ``>= counts[d]`` of row ``d`` are
  unused: :func:`discretize` masks them, :func:`encode` leaves them 0.

When every decision has the same number of choices, each operator is written exactly as the
NB201 codec writes it (same PRNG draws), so a 6 x 5 grid reproduces NB201 searches bit for bit.

**Tables that are not full grids** (``rows`` given: only those combinations exist).  No operator
ever leaves the table: :func:`random_arch` draws a table row uniformly; :func:`mutate` draws
:data:`MUTATE_TRIES` grid mutations and keeps the first that is in the table, else moves to a
uniformly chosen nearest table row (fewest changed decisions, at least one); :func:`discretize`
returns the table row with the largest summed alpha (the nearest row in Hamming distance to a
one-hot).  Every operator stays jittable and bounded in work (``O(rows * N)``).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np

#: Grid mutations tried in a table that is not a full grid before moving to a nearest row.
MUTATE_TRIES = 16


@dataclasses.dataclass(frozen=True)
class Grid:
    """Decision names and their choices (original values as text), in choice-index order."""

    names: tuple[str, ...]
    choices: tuple[tuple[str, ...], ...]

    @property
    def num_decisions(self) -> int:
        return len(self.names)

    @property
    def counts(self) -> tuple[int, ...]:
        return tuple(len(c) for c in self.choices)

    @property
    def max_choices(self) -> int:
        return max(self.counts)

    @property
    def uniform(self) -> bool:
        """Every decision has the same number of choices (no masked alpha columns)."""
        return len(set(self.counts)) == 1

    @property
    def size(self) -> int:
        """Architectures in the full grid (Python int: may exceed int32 before it is checked)."""
        return int(np.prod([int(c) for c in self.counts], dtype=object))

    @property
    def radix(self) -> np.ndarray:
        """``int32[N]``: place value of each decision in the mixed-radix id."""
        counts = self.counts
        return np.array([int(np.prod(counts[d + 1:], dtype=np.int64)) for d in range(len(counts))], np.int32)

    @property
    def mask(self) -> np.ndarray:
        """``bool[N, max_choices]``: the alpha columns that are real choices."""
        return np.arange(self.max_choices)[None, :] < np.asarray(self.counts)[:, None]


def arch_to_id(grid: Grid, arch):
    """Mixed-radix id of choice indices (NumPy or JAX, any leading batch dims)."""
    xp = jnp if isinstance(arch, jax.Array) else np
    return (arch * xp.asarray(grid.radix)).sum(-1).astype(xp.int32)


def id_to_arch(grid: Grid, code):
    """Inverse of :func:`arch_to_id` (NumPy or JAX, any leading batch dims)."""
    xp = jnp if isinstance(code, jax.Array) else np
    code = xp.asarray(code)[..., None]
    return ((code // xp.asarray(grid.radix)) % xp.asarray(grid.counts, dtype=xp.int32)).astype(xp.int32)


@dataclasses.dataclass(frozen=True)
class Codec:
    """The jittable operators of a grid (see the module docstring); ``rows`` is None for a full grid."""

    discretize: Callable[[chex.Array], chex.Array]
    encode: Callable[[chex.Array], chex.Array]
    random_arch: Callable[[chex.PRNGKey], chex.Array]
    mutate: Callable[[chex.PRNGKey, chex.Array], chex.Array]
    arch_id: Callable[[chex.Array], chex.Array]


def _grid_ops(grid: Grid) -> tuple[Callable, Callable, Callable]:
    """(discretize, random_arch, mutate) over the full grid."""
    n, c = grid.num_decisions, grid.max_choices
    if grid.uniform:  # written as the NB201 codec writes them: the same draws, bit for bit

        def discretize(alpha):
            return jnp.argmax(alpha, axis=-1).astype(jnp.int32)

        def random_arch(key):
            return jax.random.randint(key, (n,), 0, c, dtype=jnp.int32)

        def mutate(key, arch):
            k_pos, k_val = jax.random.split(key)
            pos = jax.random.randint(k_pos, (), 0, n)
            shift = jax.random.randint(k_val, (), 1, c)
            return arch.at[pos].set((arch[pos] + shift) % c)

        return discretize, random_arch, mutate

    mask = grid.mask
    counts = np.asarray(grid.counts, np.int32)

    def discretize(alpha):
        return jnp.argmax(jnp.where(jnp.asarray(mask), alpha, -jnp.inf), axis=-1).astype(jnp.int32)

    def random_arch(key):
        return jax.random.randint(key, (n,), 0, jnp.asarray(counts), dtype=jnp.int32)

    def mutate(key, arch):
        k_pos, k_val = jax.random.split(key)
        pos = jax.random.randint(k_pos, (), 0, n)
        count = jnp.asarray(counts)[pos]
        shift = jax.random.randint(k_val, (), 1, count)
        return arch.at[pos].set((arch[pos] + shift) % count)

    return discretize, random_arch, mutate


def make_codec(grid: Grid, rows: np.ndarray | None = None) -> Codec:
    """The operators of ``grid``; with ``rows`` (``int32[R, N]``, the table's architectures) they stay inside it."""
    n, c = grid.num_decisions, grid.max_choices
    eye = np.eye(c, dtype=np.float32)

    def encode(arch):
        return jnp.asarray(eye)[jnp.asarray(arch)]

    def arch_id(arch):
        return arch_to_id(grid, jnp.asarray(arch))

    discretize, random_arch, mutate = _grid_ops(grid)
    if rows is None:
        return Codec(discretize=discretize, encode=encode, random_arch=random_arch, mutate=mutate, arch_id=arch_id)

    rows = np.asarray(rows, np.int32)
    present = np.zeros(grid.size, bool)
    present[arch_to_id(grid, rows)] = True
    grid_mutate = mutate

    def table_discretize(alpha):
        scores = jnp.asarray(alpha)[np.arange(n)[None, :], jnp.asarray(rows)].sum(-1)  # [R]: summed alpha per row
        return jnp.asarray(rows)[jnp.argmax(scores)]

    def table_random_arch(key):
        return jnp.asarray(rows)[jax.random.randint(key, (), 0, rows.shape[0])]

    def nearest_row(key, arch):
        dist = jnp.sum(jnp.asarray(rows) != arch, axis=-1)
        dist = jnp.where(dist == 0, n + 1, dist)
        logits = jnp.where(dist == dist.min(), 0.0, -jnp.inf)
        return jnp.asarray(rows)[jax.random.categorical(key, logits)]

    def table_mutate(key, arch):
        k_try, k_near = jax.random.split(key)
        cands = jax.vmap(grid_mutate, in_axes=(0, None))(jax.random.split(k_try, MUTATE_TRIES), arch)
        ok = jnp.asarray(present)[arch_id(cands)]
        return jnp.where(ok.any(), cands[jnp.argmax(ok)], nearest_row(k_near, arch)).astype(jnp.int32)

    return Codec(discretize=table_discretize, encode=encode, random_arch=table_random_arch, mutate=table_mutate,
                 arch_id=arch_id)
