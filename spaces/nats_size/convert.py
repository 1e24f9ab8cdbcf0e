"""Convert the NATS-Bench size search space (5 layers x 8 channel choices, 32,768 nets) into a table file.

Usage::

    python spaces/nats_size/convert.py NATS-sss-v1_0-50262-simple nats_size.csv [--hp 90] [--seeds]

Reads the benchmark through the optional ``nats_bench`` package (``pip install nats_bench``) and
writes one CSV row per network: ``c1..c5`` (channels of each layer, from 8 to 64), then per
dataset ``cifar10``, ``cifar100``, ``imagenet16_120``: ``<ds>_valid`` and ``<ds>_test`` accuracy (%,
mean over training seeds), ``<ds>_params`` and ``<ds>_flops`` (millions) and ``<ds>_latency``
(seconds); with ``--seeds`` also ``<ds>_test_seed<i>`` per training run.  Search it with::

    load_table_space("nats_size.csv", search_metric="{dataset}_valid", report_metric="{dataset}_test")
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path
from typing import Any, Callable, Iterable

from l2nas_jax.core import io

LAYERS = 5
CHANNELS = (8, 16, 24, 32, 40, 48, 56, 64)
NUM_ARCHS = len(CHANNELS) ** LAYERS  # 32,768
#: table dataset name -> (NATS-Bench dataset for validation accuracy, for test accuracy and costs)
DATASETS = {"cifar10": ("cifar10-valid", "cifar10"), "cifar100": ("cifar100", "cifar100"),
            "imagenet16_120": ("ImageNet16-120", "ImageNet16-120")}


def parse_channels(arch: str) -> list[int]:
    """``"8:16:32:64:64"`` -> ``[8, 16, 32, 64, 64]``; ValueError naming the problem."""
    parts = str(arch).split(":")
    try:
        ch = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"NATS-Bench size arch {arch!r}: expected {LAYERS} integers joined by ':'") from None
    if len(ch) != LAYERS or any(c not in CHANNELS for c in ch):
        raise ValueError(f"NATS-Bench size arch {arch!r}: expected {LAYERS} channel counts from {CHANNELS}")
    return ch


def _num(info: dict, key: str, where: str) -> float:
    if key not in info:
        raise ValueError(f"NATS-Bench {where}: no {key!r} (has: {', '.join(sorted(info))})")
    return float(info[key])


def rows(api: Any, *, hp: str = "90", seeds: bool = False, limit: int | None = None) -> Iterable[dict[str, Any]]:
    """One dict per network of a ``nats_bench`` size-space API object (or a stand-in with the same methods)."""
    n = len(api) if limit is None else min(limit, len(api))
    for i in range(n):
        row: dict[str, Any] = {f"c{k + 1}": c for k, c in enumerate(parse_channels(api.arch(i)))}
        for ds, (valid_ds, test_ds) in DATASETS.items():
            where = f"net {i} on {ds}"
            row[f"{ds}_valid"] = _num(api.get_more_info(i, valid_ds, hp=hp, is_random=False), "valid-accuracy", where)
            row[f"{ds}_test"] = _num(api.get_more_info(i, test_ds, hp=hp, is_random=False), "test-accuracy", where)
            cost = api.get_cost_info(i, test_ds, hp=hp)
            row[f"{ds}_params"] = _num(cost, "params", where)
            row[f"{ds}_flops"] = _num(cost, "flops", where)
            row[f"{ds}_latency"] = _num(cost, "latency", where)
            if seeds:
                for s, seed in enumerate(sorted(api.query_meta_info_by_index(i, hp=hp).get_dataset_seeds(test_ds))):
                    info = api.get_more_info(i, test_ds, hp=hp, is_random=seed)
                    row[f"{ds}_test_seed{s}"] = _num(info, "test-accuracy", f"{where} seed {seed}")
        yield row


def write_csv(records: Iterable[dict[str, Any]], out: str | os.PathLike) -> int:
    """Write the rows atomically (every row must have the first row's columns); returns the row count."""
    records = list(records)
    if not records:
        raise ValueError("no networks to write")
    names = list(records[0])
    for i, r in enumerate(records):
        if list(r) != names:
            raise ValueError(f"net {i} has columns {list(r)}, the first net {names} (seed counts differ? drop --seeds)")

    def _write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(names)
            for r in records:
                w.writerow([repr(float(v)) if isinstance(v, float) else v for v in r.values()])

    io.write_with(out, _write)
    return len(records)


def open_api(path: str) -> Any:
    """The ``nats_bench`` size-space API over ``path`` (ValueError if the package or file is missing)."""
    try:
        from nats_bench import create  # type: ignore
    except ImportError:
        raise ValueError("converting NATS-Bench needs the optional package: pip install nats_bench") from None
    if not Path(path).exists():
        raise ValueError(f"NATS-Bench size-space file not found: {path}")
    return create(path, "sss", fast_mode=True, verbose=False)


def main(argv: list[str] | None = None, api_factory: Callable[[str], Any] = open_api) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("benchmark", help="NATS-Bench size-space file or directory (NATS-sss-v1_0-50262-simple)")
    p.add_argument("out", help="CSV to write")
    p.add_argument("--hp", default="90", help="training schedule: 01, 12 or 90 epochs (default 90)")
    p.add_argument("--seeds", action="store_true", help="also write per-seed test accuracy columns")
    a = p.parse_args(argv)
    n = write_csv(rows(api_factory(a.benchmark), hp=a.hp, seeds=a.seeds), a.out)
    print(f"wrote {a.out}: {n} networks")


if __name__ == "__main__":
    main()
