"""Save and restore a running search (searcher state, outputs so far, query count) atomically.

The state pytree is stored as a flat list of NumPy leaves (PRNG keys as their raw
key data) in one ``.npz``; the tree structure comes from the searcher itself
(``jax.eval_shape`` of its init/step), so a checkpoint restores exactly, bit for bit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from l2nas_jax.core import io

_FORMAT = 1


def _to_numpy(leaf: Any) -> np.ndarray:
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(leaf))
    return np.asarray(leaf)


def save_checkpoint(path: str | os.PathLike, state: Any, outputs: Any, done: int, spec: dict[str, Any]) -> None:
    """Write state + outputs + ``done`` + the run's ``spec`` (JSON) to one file, atomically."""
    arrays: dict[str, np.ndarray] = {}
    for prefix, tree in (("s", state), ("o", outputs)):
        for i, leaf in enumerate(jax.tree.leaves(tree)):
            arrays[f"{prefix}{i}"] = _to_numpy(leaf)
    arrays["meta"] = np.asarray(json.dumps({"format": _FORMAT, "done": int(done), "spec": spec}))

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    io.write_with(path, _write)


def read_spec(path: str | os.PathLike) -> tuple[int, dict[str, Any]]:
    """``(done, spec)`` of a checkpoint, with a clear error for a missing or foreign file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
    except FileNotFoundError:
        raise ValueError(f"no checkpoint at {path}") from None
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"{path} is not an l2nas checkpoint ({e})") from None
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{path}: unsupported checkpoint format {meta.get('format')!r}")
    return int(meta["done"]), meta["spec"]


def load_checkpoint(path: str | os.PathLike, like_state: Any, like_outputs: Any) -> tuple[Any, Any, int]:
    """Restore ``(state, outputs, done)``; ``like_*`` give the tree structures and dtypes (e.g. from eval_shape)."""
    done, _ = read_spec(path)
    with np.load(path, allow_pickle=False) as z:
        def restore(prefix: str, like: Any, leading: int | None) -> Any:
            leaves, treedef = jax.tree.flatten(like)
            out = []
            for i, ref in enumerate(leaves):
                arr = z[f"{prefix}{i}"]
                if jax.dtypes.issubdtype(ref.dtype, jax.dtypes.prng_key):
                    out.append(jax.random.wrap_key_data(arr))  # default impl, as jax.random.key
                    continue
                shape = ref.shape if leading is None else (ref.shape[0], leading, *ref.shape[2:])
                if arr.shape != shape or arr.dtype != ref.dtype:
                    raise ValueError(f"checkpoint {path} does not match this run (leaf {prefix}{i}: "
                                     f"{arr.shape}/{arr.dtype} vs {shape}/{ref.dtype})")
                out.append(jax.numpy.asarray(arr))
            return jax.tree.unflatten(treedef, out)

        return restore("s", like_state, None), restore("o", like_outputs, done), done
