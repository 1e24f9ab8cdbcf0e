"""Apply a run of identically shaped sub-modules as one ``lax.scan`` over their stacked variables.

Why: XLA compiles a scan body once, so N identical blocks (NB201's cells of a stage, OFA's
layers 2-4 of a unit) cost the compile time of one, while the variables keep their per-block
names (``cell3/...``, ``layer5/...``): weight inheritance, checkpoints and the published-weight
converters are unchanged.  Variables are stacked on the way in; updated BatchNorm statistics
are unstacked back into each block's collection.
"""

from __future__ import annotations

from typing import Any, Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp


def stack_trees(trees: Sequence[Any]) -> Any:
    """Equally shaped pytrees stacked along a new leading axis (one row per tree)."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def unstack_tree(tree: Any, i: int) -> Any:
    """Row ``i`` of a tree stacked by :func:`stack_trees`."""
    return jax.tree_util.tree_map(lambda a: a[i], tree)


def apply_scanned(mdl: nn.Module, block: nn.Module, names: Sequence[str], x: chex.Array, per_block: tuple = (),
                  shared: tuple = (), *, train: bool) -> jax.Array:
    """``x`` through the children ``names`` of ``mdl`` in order, each computed as the unbound ``block``.

    Each child ``n`` is ``block.apply(variables of n, h, *per_block[:, k], *shared, train=train)``;
    ``per_block`` holds arrays with one row per child (e.g. each layer's traced op), ``shared``
    arguments every child gets.  The children's ``params`` / ``batch_stats`` must exist in ``mdl``
    (created at initialisation) with equal shapes.  Statistics are written back when ``train`` and
    ``batch_stats`` is mutable, as applying the children one by one would.
    """
    variables = {"params": stack_trees([mdl.get_variable("params", n) for n in names])}
    stats = [mdl.get_variable("batch_stats", n) for n in names]
    if all(s is not None for s in stats):
        variables["batch_stats"] = stack_trees(stats)
    update = train and "batch_stats" in variables and mdl.is_mutable_collection("batch_stats")

    def body(h: chex.Array, xs: tuple[Any, tuple]) -> tuple[jax.Array, Any]:
        v, args = xs
        if update:
            out, new = block.apply(v, h, *args, *shared, train=True, mutable=["batch_stats"])
            return out, new["batch_stats"]
        return block.apply(v, h, *args, *shared, train=train, mutable=False), None

    x, new_stats = jax.lax.scan(body, x, (variables, tuple(per_block)))
    if update:
        for i, n in enumerate(names):
            mdl.put_variable("batch_stats", n, unstack_tree(new_stats, i))
    return x


__all__ = ["apply_scanned", "stack_trees", "unstack_tree"]
