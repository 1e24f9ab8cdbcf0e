"""Orbax checkpoints of a training run: TrainState + run key + JSON metadata (step, epoch, config).

Orbax writes each checkpoint into a temporary directory and renames it when complete, so a run
killed while saving leaves the previous checkpoint intact; :class:`Checkpointer` keeps the last
``max_to_keep``. The data-iterator position is the global step (the batch order is a function of
``(seed, epoch)``, see :func:`l2nas_jax.supernet.data.batch_iterator`), so (state, key, step)
is everything a resumed run needs to continue exactly where an uninterrupted run would be.

Layout of one checkpoint (``DIR/<step>/``): item ``state`` = ``{"step", "params", "batch_stats",
"opt_state": {"0": leaf, ...}, "rng": uint32 key data}`` (the optimizer state is stored as its flat
leaves, restored into the structure of the running optimizer), item ``meta`` = JSON.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import jax
import numpy as np
import orbax.checkpoint as ocp

from l2nas_jax.supernet.sharding import make_mesh, replicated
from l2nas_jax.supernet.state import TrainState


def _to_tree(state: TrainState, key: jax.Array) -> dict[str, Any]:
    leaves = jax.tree.leaves(state.opt_state)
    return {
        "step": state.step,
        "params": state.params,
        "batch_stats": state.batch_stats,
        "opt_state": {str(i): leaf for i, leaf in enumerate(leaves)},
        "rng": jax.random.key_data(key),
    }


def _from_tree(tree: Mapping[str, Any], like: TrainState) -> tuple[TrainState, jax.Array]:
    treedef = jax.tree.structure(like.opt_state)
    leaves = [tree["opt_state"][str(i)] for i in range(treedef.num_leaves)]
    state = like.replace(step=tree["step"], params=tree["params"], batch_stats=tree["batch_stats"],
                         opt_state=jax.tree.unflatten(treedef, leaves))
    return state, jax.random.wrap_key_data(tree["rng"])


def _abstract(leaf: Any) -> jax.ShapeDtypeStruct:
    """Restore target of one leaf: its own sharding, or replicated over all devices for host arrays.

    Checkpoints hold global arrays, so one written on N devices restores onto any other mesh.
    """
    if isinstance(leaf, jax.Array):
        return ocp.utils.to_shape_dtype_struct(leaf)
    arr = np.asarray(leaf)
    return jax.ShapeDtypeStruct(arr.shape, arr.dtype, sharding=replicated(make_mesh()))


class Checkpointer:
    """Save / restore (TrainState, key, meta) under ``directory`` with an orbax CheckpointManager."""

    def __init__(self, directory: str | os.PathLike, max_to_keep: int = 3, *, async_save: bool = True):
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                               enable_async_checkpointing=async_save)
        self.directory = os.path.abspath(os.fspath(directory))
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        """Step of the newest complete checkpoint, or None."""
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, step: int, state: TrainState, key: jax.Array, meta: Mapping[str, Any]) -> None:
        """Write checkpoint ``step`` (asynchronously by default; :meth:`wait` blocks until durable)."""
        self._manager.save(int(step), args=ocp.args.Composite(
            state=ocp.args.StandardSave(_to_tree(state, key)),
            meta=ocp.args.JsonSave(dict(meta)),
        ))

    def restore(self, like: TrainState, key_like: jax.Array, step: int | None = None
                ) -> tuple[TrainState, jax.Array, dict[str, Any]]:
        """Restore into the structure and shardings of ``like`` (a fresh state; host arrays: replicated).

        Raises:
          ValueError: no checkpoint in the directory, or one whose shapes do not match ``like``.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise ValueError(f"no checkpoint in {self.directory}")
        target = jax.tree.map(_abstract, _to_tree(like, key_like))
        try:
            out = self._manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"checkpoint {self.directory}/{step} does not match this model/optimizer: {e}") from None
        state, key = _from_tree(out["state"], like)
        return state, key, dict(out["meta"])

    def wait(self) -> None:
        """Block until pending asynchronous saves are on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()

    def __enter__(self) -> "Checkpointer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
