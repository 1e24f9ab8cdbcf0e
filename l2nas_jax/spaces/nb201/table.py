"""NAS-Bench-201 accuracy tables: the embedded default, user CSVs, and the official file.

A table holds, for all 15,625 cells in the **official benchmark index order**, the
cell's op indices and one accuracy array per ``(dataset, split)``.  The embedded
table (``l2nas_jax/data/nb201_test_acc.npz``) has *test* accuracies only (200-epoch
mean over training seeds, NATS-Bench topology space); searching on it optimizes the
same metric that is reported, which is a known limitation of table-only setups.  The
official file, loaded through the optional ``nas_201_api`` package, also provides
validation accuracy, which should then be the search metric.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import zipfile
from importlib import resources
from pathlib import Path
from typing import Mapping

import numpy as np

from l2nas_jax.core import io
from l2nas_jax.spaces.nb201.codec import NUM_ARCHS, NUM_EDGES, format_arch, ops_to_code, parse_arch

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
SPLITS: tuple[str, ...] = ("valid", "test")
EMBEDDED_NAME = "nb201_test_acc.npz"
EMBEDDED_SOURCE = (
    "NAS-Bench-201 / NATS-Bench topology space, 200-epoch mean test accuracy over training seeds "
    "(Dong & Yang, ICLR 2020; Dong et al., TPAMI 2021); test accuracies only"
)


def check_dataset(dataset: str) -> str:
    """Return the canonical dataset name or raise a ValueError naming the valid ones."""
    key = str(dataset).lower().replace("_", "-")
    if key not in DATASETS:
        raise ValueError(f"unknown NB201 dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    return key


def _column(dataset: str, split: str) -> str:
    return f"{dataset.replace('-', '_')}_{split}"


@dataclasses.dataclass(frozen=True)
class NB201Table:
    """Host-side NB201 table: ``ops[i]`` is the cell with official index ``i``."""

    ops: np.ndarray  # int32 (15625, 6)
    acc: Mapping[tuple[str, str], np.ndarray]  # (dataset, split) -> float32 (15625,)
    source: str

    def __post_init__(self) -> None:
        _validate(self.ops, self.acc, self.source)

    @property
    def codes(self) -> np.ndarray:
        """Mixed-radix code of each row (official index order)."""
        return ops_to_code(self.ops)

    @property
    def code_to_index(self) -> np.ndarray:
        """Dense ``int32[15625]`` map from mixed-radix code to official index."""
        out = np.empty(NUM_ARCHS, dtype=np.int32)
        out[self.codes] = np.arange(NUM_ARCHS, dtype=np.int32)
        return out

    def splits(self, dataset: str) -> tuple[str, ...]:
        dataset = check_dataset(dataset)
        return tuple(s for s in SPLITS if (dataset, s) in self.acc)

    def metric(self, dataset: str, split: str) -> np.ndarray:
        """Accuracy per official index; a clear error if the table lacks that metric."""
        dataset = check_dataset(dataset)
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        if (dataset, split) not in self.acc:
            have = ", ".join(f"{d}/{s}" for d, s in sorted(self.acc)) or "none"
            raise ValueError(f"this NB201 table ({self.source}) has no {split} accuracy for {dataset}; it has: {have}")
        return self.acc[(dataset, split)]

    def by_code(self, dataset: str, split: str) -> np.ndarray:
        """Accuracy indexed by mixed-radix code (a single gather in the search loop)."""
        out = np.empty(NUM_ARCHS, dtype=np.float32)
        out[self.codes] = self.metric(dataset, split)
        return out

    def arch_string(self, index: int) -> str:
        return format_arch(self.ops[index])


def _validate(ops: np.ndarray, acc: Mapping[tuple[str, str], np.ndarray], source: str) -> None:
    if ops.shape != (NUM_ARCHS, NUM_EDGES):
        raise ValueError(f"NB201 table {source}: expected {NUM_ARCHS} rows of {NUM_EDGES} ops, got shape {ops.shape}")
    codes = ops_to_code(ops)
    if len(np.unique(codes)) != NUM_ARCHS:
        dup = np.flatnonzero(np.bincount(codes, minlength=NUM_ARCHS) > 1)[0]
        raise ValueError(f"NB201 table {source}: duplicate architecture {format_arch(_ops_of(dup))}")
    if not acc:
        raise ValueError(f"NB201 table {source}: no accuracy columns")
    for (d, s), v in acc.items():
        if v.shape != (NUM_ARCHS,):
            raise ValueError(f"NB201 table {source}: {d}/{s} has shape {v.shape}, expected ({NUM_ARCHS},)")
        if not np.all(np.isfinite(v)):
            bad = int(np.flatnonzero(~np.isfinite(v))[0])
            raise ValueError(f"NB201 table {source}: non-finite {d}/{s} accuracy at index {bad}")
        if v.min() < 0 or v.max() > 100:
            raise ValueError(f"NB201 table {source}: {d}/{s} accuracies must be percentages in [0, 100]")
        if v.max() <= 1.0:  # every cell at most 1%: a table of fractions, 100x off if accepted
            raise ValueError(f"NB201 table {source}: {d}/{s} accuracies look like fractions in [0, 1]; "
                             f"NB201 tables are in % (multiply by 100)")


def _ops_of(code: int) -> np.ndarray:
    from l2nas_jax.spaces.nb201.codec import code_to_ops

    return code_to_ops(np.int32(code))


def read_csv(path: str | os.PathLike) -> NB201Table:
    """Read a table CSV: columns ``index, arch`` and ``<dataset>_<split>`` accuracies.

    Dataset column names use underscores (``imagenet16_120_test``); at least one
    accuracy column is required; rows may come in any order but ``index`` must cover
    ``0..15624`` exactly once.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"NB201 table file not found: {path}")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        missing = [c for c in ("index", "arch") if c not in cols]
        if missing:
            raise ValueError(f"NB201 table {path}: missing column(s) {', '.join(missing)} (has: {', '.join(cols)})")
        acc_cols = {(d, s): _column(d, s) for d in DATASETS for s in SPLITS if _column(d, s) in cols}
        if not acc_cols:
            expected = ", ".join(_column(d, s) for d in DATASETS for s in SPLITS)
            raise ValueError(f"NB201 table {path}: no accuracy column; expected some of: {expected}")
        rows = list(reader)
    if len(rows) != NUM_ARCHS:
        raise ValueError(f"NB201 table {path}: expected {NUM_ARCHS} rows, got {len(rows)}")
    ops = np.full((NUM_ARCHS, NUM_EDGES), -1, dtype=np.int32)
    acc = {k: np.full(NUM_ARCHS, np.nan, dtype=np.float32) for k in acc_cols}
    seen = np.zeros(NUM_ARCHS, dtype=bool)
    for line, row in enumerate(rows, start=2):
        try:
            idx = int(row["index"])
        except (TypeError, ValueError):
            raise ValueError(f"NB201 table {path}, line {line}: index {row['index']!r} is not an integer") from None
        if not 0 <= idx < NUM_ARCHS or seen[idx]:
            raise ValueError(f"NB201 table {path}, line {line}: index {idx} out of range or repeated")
        seen[idx] = True
        try:
            ops[idx] = parse_arch(row["arch"])
        except ValueError as e:
            raise ValueError(f"NB201 table {path}, line {line}: {e}") from None
        for k, col in acc_cols.items():
            try:
                acc[k][idx] = float(row[col])
            except (TypeError, ValueError):
                raise ValueError(f"NB201 table {path}, line {line}: {col}={row[col]!r} is not a number") from None
    return NB201Table(ops=ops, acc=acc, source=str(path))


def save_npz(table: NB201Table, path: str | os.PathLike) -> None:
    """Write a compact compressed table (uint8 ops + float32 accuracies), atomically."""
    arrays = {"ops": table.ops.astype(np.uint8), "source": np.asarray(table.source)}
    for (d, s), v in table.acc.items():
        arrays[f"acc:{d}:{s}"] = v.astype(np.float32)

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    io.write_with(path, _write)


def load_npz(path: str | os.PathLike) -> NB201Table:
    """Load a table written by :func:`save_npz`."""
    try:
        z_ctx = np.load(path, allow_pickle=False)
        if not hasattr(z_ctx, "files"):
            raise ValueError(f"NB201 table {path}: cannot read (not an .npz archive)")
        with z_ctx as z:
            if "ops" not in z.files:
                raise ValueError(f"NB201 table {path}: not an l2nas table (no 'ops' array)")
            acc = {}
            for k in z.files:
                if k.startswith("acc:"):
                    _, d, s = k.split(":")
                    acc[(d, s)] = z[k].astype(np.float32)
            source = str(z["source"]) if "source" in z.files else str(path)
            return NB201Table(ops=z["ops"].astype(np.int32), acc=acc, source=source)
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"NB201 table {path}: cannot read ({e})") from None
    except ValueError as e:
        if str(e).startswith("NB201 table"):
            raise
        raise ValueError(f"NB201 table {path}: cannot read ({e})") from None


def load_embedded() -> NB201Table:
    """The embedded default table (test accuracies only; see module docstring)."""
    ref = resources.files("l2nas_jax") / "data" / EMBEDDED_NAME
    with resources.as_file(ref) as p:
        return load_npz(p)


def load_official(path: str | os.PathLike, *, hp: str = "200") -> NB201Table:
    """Load the official NAS-Bench-201 file via the optional ``nas_201_api`` package.

    Gives validation and test accuracy for the three datasets (CIFAR-10 validation from
    the ``cifar10-valid`` split, test from ``cifar10``), averaged over training seeds.
    """
    try:
        from nas_201_api import NASBench201API  # type: ignore  # imports torch: the .pth file is a PyTorch pickle
    except ImportError as e:
        missing = "torch (PyTorch)" if (e.name or "").split(".")[0] == "torch" else "nas_201_api"
        raise ValueError(
            f"loading the official NAS-Bench-201 file needs nas-bench-201 and PyTorch ({missing} is not installed): "
            f"pip install 'l2nas-jax[nb201]' (installs both)"
        ) from None
    if not Path(path).exists():
        raise ValueError(f"official NAS-Bench-201 file not found: {path}")
    api = NASBench201API(str(path), verbose=False)
    n = len(api)
    if n != NUM_ARCHS:
        raise ValueError(f"official NAS-Bench-201 file {path}: expected {NUM_ARCHS} architectures, got {n}")
    ops = np.stack([parse_arch(api.arch(i)) for i in range(n)])
    sources = {
        ("cifar10", "valid"): ("cifar10-valid", "valid-accuracy"),
        ("cifar10", "test"): ("cifar10", "test-accuracy"),
        ("cifar100", "valid"): ("cifar100", "valid-accuracy"),
        ("cifar100", "test"): ("cifar100", "test-accuracy"),
        ("imagenet16-120", "valid"): ("ImageNet16-120", "valid-accuracy"),
        ("imagenet16-120", "test"): ("ImageNet16-120", "test-accuracy"),
    }
    acc = {
        k: np.array([api.get_more_info(i, ds, hp=hp, is_random=False)[m] for i in range(n)], dtype=np.float32)
        for k, (ds, m) in sources.items()
    }
    return NB201Table(ops=ops, acc=acc, source=f"official NAS-Bench-201 file {path} (hp={hp})")


def load_table(spec: str | os.PathLike | None = None) -> NB201Table:
    """Load a table from a spec: ``None``/``"embedded"``, a ``.csv``, a ``.npz``, or an official ``.pth``."""
    if spec is None or str(spec) == "embedded":
        return load_embedded()
    p = Path(spec)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return read_csv(p)
    if suffix == ".npz":
        if not p.is_file():
            raise ValueError(f"NB201 table file not found: {p}")
        return load_npz(p)
    if suffix in (".pth", ".pickle", ".pkl"):
        return load_official(p)
    raise ValueError(f"unrecognised NB201 table file {p}: expected .csv, .npz or the official .pth")
