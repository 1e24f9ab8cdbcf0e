"""Save and restore a running search (searcher state, outputs so far, query count) atomically.

The state pytree is stored as a flat list of NumPy leaves (PRNG keys as their raw
key data) in one ``.npz``; the tree structure comes from the searcher itself
(``jax.eval_shape`` of its init/step), so a checkpoint restores exactly, bit for bit.
Next to the arrays, a checkpoint holds the run's :class:`~l2nas_jax.runspec.RunSpec`
and a description of its environment, so only the same run can resume from it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import jax
import numpy as np

from l2nas_jax.core import io
from l2nas_jax.runspec import RunSpec

_FORMAT = 2


@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about itself: queries done, the run's spec, its environment's description."""

    done: int
    spec: RunSpec
    env: Mapping[str, Any]


def _to_numpy(leaf: Any) -> np.ndarray:
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(leaf))
    return np.asarray(leaf)


def save_checkpoint(path: str | os.PathLike, state: Any, outputs: Any, done: int, spec: RunSpec,
                    env: Mapping[str, Any]) -> None:
    """Write state + outputs + ``done`` + the run's ``spec`` and ``env`` description (JSON) to one file, atomically."""
    arrays: dict[str, np.ndarray] = {}
    for prefix, tree in (("s", state), ("o", outputs)):
        for i, leaf in enumerate(jax.tree.leaves(tree)):
            arrays[f"{prefix}{i}"] = _to_numpy(leaf)
    meta = {"format": _FORMAT, "done": int(done), "spec": spec.to_json(), "env": dict(env)}
    arrays["meta"] = np.asarray(json.dumps(meta, allow_nan=False))

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    io.write_with(path, _write)


def read_info(path: str | os.PathLike) -> CheckpointInfo:
    """The :class:`CheckpointInfo` of a checkpoint, with one clear error line for a missing or foreign file."""
    try:
        with _open(path) as z:
            meta = json.loads(str(z["meta"]))
    except FileNotFoundError:
        raise ValueError(f"no checkpoint at {path}") from None
    except _UNREADABLE as e:
        raise ValueError(f"{path} is not an l2nas checkpoint ({_one_line(e)})") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError(f"{path}: unsupported checkpoint format "
                         f"{meta.get('format') if isinstance(meta, dict) else None!r}")
    try:
        info = CheckpointInfo(done=int(meta["done"]), spec=RunSpec.from_json(meta["spec"]), env=dict(meta["env"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: damaged checkpoint header ({_one_line(e)})") from None
    if not 0 < info.done <= info.spec.queries:
        raise ValueError(f"{path}: damaged checkpoint header ({info.done} queries done, outside "
                         f"1..{info.spec.queries})")
    return info


#: What reading a damaged, truncated or foreign file raises (a truncated ``.npz`` is a ``BadZipFile``).
_UNREADABLE = (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile)


def _open(path: str | os.PathLike) -> Any:
    """``np.load`` of an ``.npz`` archive; a plain ``.npy`` array is refused (TypeError)."""
    z = np.load(path, allow_pickle=False)
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise TypeError("a single NumPy array, not an .npz archive")
    return z


def _one_line(e: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def load_checkpoint(path: str | os.PathLike, like_state: Any, like_outputs: Any) -> tuple[Any, Any, int]:
    """Restore ``(state, outputs, done)``; ``like_*`` give the tree structures and dtypes (e.g. from eval_shape)."""
    done = read_info(path).done
    try:
        with _open(path) as z:
            names = set(z.files)

            def restore(prefix: str, like: Any, leading: int | None) -> Any:
                leaves, treedef = jax.tree.flatten(like)
                stored = sum(1 for n in names if n[:1] == prefix and n[1:].isdigit())
                if stored != len(leaves):
                    raise _Mismatch(f"{stored} {_KIND[prefix]} arrays, this run has {len(leaves)}")
                out = []
                for i, ref in enumerate(leaves):
                    arr = z[f"{prefix}{i}"]
                    key = jax.dtypes.issubdtype(ref.dtype, jax.dtypes.prng_key)
                    want = jax.eval_shape(jax.random.key_data, ref) if key else ref
                    shape = want.shape if leading is None else (want.shape[0], leading, *want.shape[2:])
                    if arr.shape != shape or arr.dtype != want.dtype:
                        raise _Mismatch(f"leaf {prefix}{i}: {arr.shape}/{arr.dtype} vs {shape}/{want.dtype}")
                    # PRNG keys: the default impl, as jax.random.key
                    out.append(jax.random.wrap_key_data(arr) if key else jax.numpy.asarray(arr))
                return jax.tree.unflatten(treedef, out)

            return restore("s", like_state, None), restore("o", like_outputs, done), done
    except _Mismatch as e:
        raise ValueError(f"checkpoint {path} does not match this run's search state ({e}; saved by another "
                         f"version of l2nas?): start the run again without --resume") from None
    except _UNREADABLE as e:  # a truncated or corrupted archive member (bad CRC, missing array, ...)
        raise ValueError(f"checkpoint {path} is damaged ({_one_line(e)}): start the run again without --resume") \
            from None


_KIND = {"s": "state", "o": "output"}


class _Mismatch(Exception):
    """A checkpoint array that does not fit this run's state (reported as a ValueError naming the file)."""
