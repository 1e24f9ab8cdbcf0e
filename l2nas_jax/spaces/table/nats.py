"""Reading NATS-Bench through its optional ``nats_bench`` API into table rows (shared by the converters).

Both NATS-Bench spaces (topology ``tss``: the NAS-Bench-201 cells; size ``sss``: 5 layers x 8
channel counts) answer the same calls; a converter supplies how an architecture string becomes
decision columns, and these functions add, per dataset, validation and test accuracy (%, mean
over training seeds), params and FLOPs (millions), latency (s) and optionally one test accuracy
per training seed, then write the rows as one CSV, atomically.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from l2nas_jax.core import io

#: table dataset name -> (NATS-Bench dataset for validation accuracy, for test accuracy and costs)
DATASETS = {"cifar10": ("cifar10-valid", "cifar10"), "cifar100": ("cifar100", "cifar100"),
            "imagenet16_120": ("ImageNet16-120", "ImageNet16-120")}
SPACES = {"tss": "topology", "sss": "size"}


def number(info: Mapping[str, Any], key: str, where: str) -> float:
    """``info[key]`` as a float, or a ValueError naming what is missing and where."""
    if key not in info:
        raise ValueError(f"NATS-Bench {where}: no {key!r} (has: {', '.join(sorted(info))})")
    return float(info[key])


def metrics(api: Any, i: int, *, hp: str, seeds: bool = False) -> dict[str, float]:
    """Every dataset's accuracy and cost columns of network ``i`` (and per-seed test accuracy with ``seeds``)."""
    row: dict[str, float] = {}
    for ds, (valid_ds, test_ds) in DATASETS.items():
        where = f"net {i} on {ds}"
        row[f"{ds}_valid"] = number(api.get_more_info(i, valid_ds, hp=hp, is_random=False), "valid-accuracy", where)
        row[f"{ds}_test"] = number(api.get_more_info(i, test_ds, hp=hp, is_random=False), "test-accuracy", where)
        cost = api.get_cost_info(i, test_ds, hp=hp)
        row[f"{ds}_params"] = number(cost, "params", where)
        row[f"{ds}_flops"] = number(cost, "flops", where)
        row[f"{ds}_latency"] = number(cost, "latency", where)
        if seeds:
            for s, seed in enumerate(sorted(api.query_meta_info_by_index(i, hp=hp).get_dataset_seeds(test_ds))):
                info = api.get_more_info(i, test_ds, hp=hp, is_random=seed)
                row[f"{ds}_test_seed{s}"] = number(info, "test-accuracy", f"{where} seed {seed}")
    return row


def rows(api: Any, decisions: Callable[[int, str], Mapping[str, Any]], *, hp: str, seeds: bool = False,
         limit: int | None = None) -> Iterable[dict[str, Any]]:
    """One dict per network: ``decisions(i, api.arch(i))`` (the leading columns), then :func:`metrics`."""
    n = len(api) if limit is None else min(limit, len(api))
    for i in range(n):
        yield {**decisions(i, api.arch(i)), **metrics(api, i, hp=hp, seeds=seeds)}


def write_csv(records: Iterable[Mapping[str, Any]], out: str | os.PathLike) -> int:
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


def open_api(path: str, kind: str) -> Any:
    """The ``nats_bench`` API of space ``kind`` (``tss``/``sss``) over ``path``; ValueError if package/file missing."""
    if kind not in SPACES:
        raise ValueError(f"unknown NATS-Bench space {kind!r}; valid: {', '.join(SPACES)}")
    try:
        from nats_bench import create  # type: ignore
    except ImportError:
        raise ValueError("converting NATS-Bench needs the optional package: pip install nats_bench") from None
    if not Path(path).exists():
        raise ValueError(f"NATS-Bench {SPACES[kind]}-space file not found: {path}")
    return create(path, kind, fast_mode=True, verbose=False)


def convert_main(argv: list[str] | None, *, description: str, benchmark: str, hp: str, hp_help: str,
                 rows_of: Callable[..., Iterable[dict[str, Any]]], api_factory: Callable[[str], Any],
                 noun: str = "networks") -> None:
    """The command line both converters share: ``BENCHMARK OUT [--hp H] [--seeds]``."""
    import argparse

    p = argparse.ArgumentParser(description=description)
    p.add_argument("benchmark", help=f"NATS-Bench file or directory ({benchmark})")
    p.add_argument("out", help="CSV to write")
    p.add_argument("--hp", default=hp, help=f"training schedule: {hp_help} (default {hp})")
    p.add_argument("--seeds", action="store_true", help="also write per-seed test accuracy columns")
    a = p.parse_args(argv)
    n = write_csv(rows_of(api_factory(a.benchmark), hp=a.hp, seeds=a.seeds), a.out)
    print(f"wrote {a.out}: {n} {noun}")
