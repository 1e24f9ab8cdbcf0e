"""The agent's state: the mean one-hot encoding of the k best distinct architectures so far.

The top-k also keeps the architectures themselves, the parents of the candidate
pool's mutations.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class TopK:
    values: jax.Array  # float32[k], -inf for empty slots
    codes: jax.Array  # float32[k, rows, cols] one-hot encodings
    archs: jax.Array  # int32[k, *arch_shape]


def topk_init(k: int, code_shape: tuple[int, int], arch_shape: tuple[int, ...]) -> TopK:
    return TopK(values=jnp.full((k,), -jnp.inf, jnp.float32), codes=jnp.zeros((k, *code_shape), jnp.float32),
                archs=jnp.zeros((k, *arch_shape), jnp.int32))


def topk_insert(tk: TopK, code: chex.Array, arch: chex.Array, value: chex.Array, is_new: chex.Array) -> TopK:
    """Insert a new architecture (skipped when ``is_new`` is False, so entries stay distinct)."""
    k = tk.values.shape[0]
    vals = jnp.concatenate([tk.values, jnp.where(is_new, value, -jnp.inf)[None]])
    top_vals, idx = jax.lax.top_k(vals, k)
    codes = jnp.concatenate([tk.codes, code[None]])[idx]
    archs = jnp.concatenate([tk.archs, jnp.asarray(arch, tk.archs.dtype)[None]])[idx]
    return TopK(values=top_vals, codes=codes, archs=archs)


def topk_filled(tk: TopK) -> jax.Array:
    """Number of filled entries (int32)."""
    return jnp.sum(jnp.isfinite(tk.values)).astype(jnp.int32)


def topk_state(tk: TopK) -> jax.Array:
    """Flattened mean one-hot of the filled entries (zeros before the first insert)."""
    valid = jnp.isfinite(tk.values).astype(jnp.float32)
    mean = jnp.einsum("k,krc->rc", valid, tk.codes) / jnp.maximum(valid.sum(), 1.0)
    return mean.reshape(-1)
