"""Atomic file writes: a crash leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

#: Temporary files of writes in progress (any thread), for :func:`remove_pending`.
_PENDING: set[Path] = set()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    _PENDING.add(tmp_path)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    finally:
        _PENDING.discard(tmp_path)
        if tmp_path.exists():
            tmp_path.unlink()


def writing() -> bool:
    """Whether a write is in progress (its temporary file exists)."""
    return bool(_PENDING)


def remove_pending() -> None:
    """Delete the temporary files of writes still in progress (before a process ends without unwinding them)."""
    for tmp in list(_PENDING):
        tmp.unlink(missing_ok=True)
        _PENDING.discard(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically write a text file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON (NaN is refused: it is not valid JSON)."""
    write_text(path, json.dumps(obj, indent=2, allow_nan=False, default=_json_default) + "\n")


def write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> None:
    """Atomically create ``path`` with ``writer(tmp_path)`` (e.g. ``fig.savefig``)."""
    with atomic_path(path) as tmp:
        writer(tmp)


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
