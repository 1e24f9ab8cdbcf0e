"""Where the architecture to train from scratch comes from: a string, a name, a file or a search's results.

:func:`resolve_genotype` accepts, for any space with an
:attr:`~l2nas_jax.spaces.base.Space.evaluation`: the space's architecture string (DARTS
``Genotype(normal=[...], ...)``, NB201 ``|op~0|+|...|``, OFA ``r224 d=... | k3e4 ...`` or OFA's
JSON ``{"ks", "e", "d", "r"}``), a named architecture of the space (DARTS_V2, DARTS_V1,
PC_DARTS_cifar, PDARTS, GDAS_V1), a file holding any of these, an ``l2nas search`` results.json
(the best architecture of the run with the best reported metric) or an evaluate.json written by
``train/evaluate.py``. Every failure is one ValueError line naming the problem.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

from l2nas_jax.spaces.base import Space
from l2nas_jax.supernet.fixed_net import as_space, evaluation_of

_MAX_SHOWN = 120  # characters of a bad architecture string quoted in an error


def best_run(obj: Mapping[str, Any], space: str, where: str) -> tuple[str, dict[str, Any]]:
    """``(arch string, source info)`` of the run with the highest best_report in an ``l2nas search`` results.json."""
    found = obj.get("space")
    if found is not None and found != space:
        raise ValueError(f"{where} holds a {found!r} search, not {space!r}; pass --space {found}")
    runs = [r for r in obj.get("runs", []) if isinstance(r, Mapping) and r.get("best_arch")]
    if not runs:
        raise ValueError(f"{where} has no run with a best_arch (every run infeasible?)")

    def score(r: Mapping[str, Any]) -> float:
        v = r.get("best_report")
        return -math.inf if v is None else float(v)

    best = max(runs, key=score)  # first of equals: the lowest run index
    info = {"kind": "results.json", "path": where, "run": best.get("run"), "best_report": best.get("best_report"),
            "method": obj.get("method"), "search_dataset": obj.get("dataset"),
            "report_metric": obj.get("report_metric"), "num_runs": len(obj.get("runs", []))}
    return str(best["best_arch"]), info


def _read_file(path: Path, space: str) -> tuple[str, dict[str, Any], bool]:
    """``(architecture text, source info, text is an unrecognised JSON object)`` of a ``--genotype`` file."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"--genotype: cannot read {path}: {e}") from None
    stripped = text.strip()
    if not stripped.startswith("{"):
        return text, {"kind": "file", "path": str(path)}, False
    try:
        obj = json.loads(stripped)
    except json.JSONDecodeError as e:
        raise ValueError(f"--genotype: {path} is not valid JSON: {e}") from None
    if isinstance(obj, Mapping) and "runs" in obj:
        arch, info = best_run(obj, space, str(path))
        return arch, info, False
    if isinstance(obj, Mapping) and isinstance(obj.get("arch"), str):  # an evaluate.json
        if obj.get("space") not in (None, space):
            raise ValueError(f"--genotype: {path} is a {obj['space']!r} architecture, not {space!r}")
        return obj["arch"], {"kind": "evaluate.json", "path": str(path)}, False
    return text, {"kind": "file", "path": str(path)}, True  # maybe the space's own JSON form (OFA)


def _is_file(value: str) -> bool:
    try:
        return len(value) < 4096 and Path(value.strip()).expanduser().is_file()
    except OSError:
        return False


def resolve_genotype(space: str | Space, value: str) -> tuple[Any, str, dict[str, Any]]:
    """``(arch, canonical string, source info)`` of a ``--genotype`` value (forms: see the module docstring).

    ``arch`` is what the space's ``evaluation.parse`` returns, ready for
    :func:`~l2nas_jax.supernet.fixed_net.build_fixed_network`.
    """
    sp = as_space(space)
    evaluation = evaluation_of(sp)
    if value is None or not str(value).strip():
        raise ValueError("--genotype is empty")
    value = str(value)
    text, source, unknown_json = value, {"kind": "string"}, False
    if _is_file(value):
        text, source, unknown_json = _read_file(Path(value.strip()).expanduser(), sp.name)
    elif value.strip().endswith((".json", ".txt")) or os.sep in value.strip():
        raise ValueError(f"--genotype: no such file {value.strip()!r}")
    elif value.strip() in evaluation.named_archs:
        source = {"kind": "named", "name": value.strip()}
    if not text.strip():
        raise ValueError("--genotype is empty")
    try:
        arch, canonical = evaluation.parse(text)
    except ValueError as e:
        if unknown_json:
            raise ValueError(f"--genotype: {source['path']} is JSON but neither an l2nas search results.json "
                             f"(with 'runs'), an evaluate.json (with 'arch') nor a {sp.name} architecture ({e})") from None
        shown = text.strip() if len(text.strip()) <= _MAX_SHOWN else text.strip()[:_MAX_SHOWN - 3] + "..."
        raise ValueError(f"--genotype is not a valid {sp.name} architecture ({e}); got {shown!r}") from None
    return arch, canonical, source
