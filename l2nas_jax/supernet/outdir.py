"""The ``--out`` directory of the ``train/`` scripts: an earlier run in it is never written over unasked.

``train/supernet.py`` and ``train/evaluate.py`` (:mod:`~l2nas_jax.supernet.supernet_job`,
:mod:`~l2nas_jax.supernet.evaluate_job`) write :data:`RUN_FILES` into ``--out``. A directory
that already holds any of them (an earlier run of either script, or the ``run.json`` of an
``l2nas`` command) is refused with a one-line error, unless ``--resume`` continues that run
(training only) or ``--overwrite`` replaces it: the earlier run's files are removed first, so the
two runs are never left mixed (``metrics.jsonl`` is appended to), and files of other programs
stay. This is the ``l2nas`` CLI's rule (:func:`l2nas_jax.cli.common.prepare_out_dir`), except that
a directory holding only other programs' files is accepted: nothing of theirs is written over.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Sequence

#: Everything the two ``train/`` scripts write into ``--out`` (``checkpoints`` is a directory).
RUN_FILES: tuple[str, ...] = ("checkpoints", "metrics.jsonl", "supernet.json", "run.json", "arch.txt",
                              "evaluate.json")


def _is_run_file(name: str) -> bool:  # the files, and the temporary files of their atomic writes
    return name in RUN_FILES or (name.endswith(".tmp") and any(name.startswith(f".{f}.") for f in RUN_FILES))


def run_files(out: str | os.PathLike) -> list[Path]:
    """The entries of ``out`` an earlier run of the ``train/`` scripts wrote (empty if ``out`` is no directory)."""
    out = Path(out)
    if not out.is_dir():
        return []
    return sorted(p for p in out.iterdir()
                  if _is_run_file(p.name) and not (p.is_dir() and not any(p.iterdir())))  # an empty checkpoints/: nothing


def _has_checkpoints(out: Path) -> bool:
    return (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir())


def check_out_dir(out: str | os.PathLike, *, resume: bool, overwrite: bool, can_resume: bool = True) -> list[Path]:
    """Refuse (one-line ValueError) an ``out`` that is a file, or that holds an earlier run's files when
    neither ``resume`` (with ``can_resume``: a training run) nor ``overwrite`` is set.

    Writes nothing; returns the earlier run's entries that ``overwrite`` replaces (empty otherwise),
    for :func:`remove_run_files` once the new run's settings have been validated.
    """
    out = Path(out)
    if resume and overwrite:
        raise ValueError("--resume continues the run in --out, --overwrite replaces it: pass one of them")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a directory")
    held = run_files(out)
    if overwrite or not held:
        return held
    if resume and can_resume:
        return []
    names = ", ".join(p.name + ("/" if p.is_dir() else "") for p in held)
    if can_resume and _has_checkpoints(out):
        hint = "pass --resume to continue that run, or --overwrite to replace it"
    else:
        hint = "pass --overwrite to replace it"
    raise ValueError(f"output directory {out} holds an earlier run's {names}; {hint} (other files are kept), "
                     f"or choose another --out")


def remove_run_files(paths: Sequence[Path]) -> None:
    """Delete an earlier run's entries (``checkpoints/`` with everything in it) and say so on stderr."""
    if not paths:
        return
    names = ", ".join(p.name + ("/" if p.is_dir() else "") for p in paths)
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)
    print(f"note: --overwrite: removed the earlier run's {names} from {paths[0].parent}", file=sys.stderr)


def replace_earlier_run(paths: Sequence[Path]) -> None:
    """:func:`remove_run_files` on process 0; every process waits for it (multi-host: one shared ``out``)."""
    import jax

    if jax.process_index() == 0:
        remove_run_files(paths)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("l2nas_train_out_dir")
