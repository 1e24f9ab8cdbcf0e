"""Join HW-NAS-Bench's measured hardware costs of NB201 cells with NB201 accuracies into one table file.

Usage::

    python spaces/hw_nas_bench/convert.py HW-NAS-Bench-v1_0.pickle hw_nb201.csv [--nb201 TABLE]

For each of the 15,625 NAS-Bench-201 cells (in code order) the CSV holds ``e0..e5`` (the op of
each edge, in NB201's op order), ``index`` (the official NB201 index, the key of both
benchmarks), then per dataset ``cifar10``, ``cifar100``, ``imagenet16_120``: the NB201 accuracies
(``<ds>_test``, and ``<ds>_valid`` when ``--nb201`` is the official file; default: the embedded
table), the analytic ``<ds>_params`` / ``<ds>_flops`` (millions), and every numeric
HW-NAS-Bench measurement as ``<ds>_<metric>`` (``edgegpu_latency``, ``edgegpu_energy``,
``raspi4_latency``, ``edgetpu_latency``, ``pixel3_latency``, ``eyeriss_latency``,
``eyeriss_energy``, ``fpga_latency``, ``fpga_energy``, ...).

The pickle is read with the ``hw_nas_bench_api`` package when it is installed
(``HWNASBenchAPI(path, search_space="nasbench201").query_by_index(idx, dataset)``), else directly:
``{"nasbench201": {dataset: {metric: [value per NB201 index]}}}``.
"""

from __future__ import annotations

import argparse
import csv
import os
import pickle
from pathlib import Path
from typing import Any, Callable, Mapping

import jax.numpy as jnp
import numpy as np

from l2nas_jax.core import io
from l2nas_jax.spaces.nb201 import codec, cost
from l2nas_jax.spaces.nb201 import table as nb201_table

#: table dataset name -> (HW-NAS-Bench dataset, NB201 dataset)
DATASETS = {"cifar10": ("cifar10", "cifar10"), "cifar100": ("cifar100", "cifar100"),
            "imagenet16_120": ("ImageNet", "imagenet16-120")}
SPACE = "nasbench201"

Query = Callable[[int, str], Mapping[str, Any]]


def pickle_query(path: str | os.PathLike) -> Query:
    """``query_by_index`` read straight from the pickle (``{space: {dataset: {metric: [per index]}}}``)."""
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError) as e:
        raise ValueError(f"HW-NAS-Bench file {path}: cannot read ({e})") from None
    if not isinstance(data, dict) or SPACE not in data:
        raise ValueError(f"HW-NAS-Bench file {path}: no {SPACE!r} entry (not HW-NAS-Bench-v1_0.pickle?)")
    space = data[SPACE]

    def query(idx: int, dataset: str) -> dict[str, Any]:
        if dataset not in space:
            raise ValueError(f"HW-NAS-Bench file {path}: no dataset {dataset!r} (has: {', '.join(space)})")
        return {m: v[idx] for m, v in space[dataset].items()
                if isinstance(v, (list, tuple, np.ndarray)) and len(v) > idx}  # per-index measurements only

    return query


def api_query(path: str | os.PathLike) -> Query:
    """``query_by_index`` of the official ``hw_nas_bench_api`` when installed, else :func:`pickle_query`."""
    if not Path(path).is_file():
        raise ValueError(f"HW-NAS-Bench file not found: {path}")
    try:
        from hw_nas_bench_api import HWNASBenchAPI  # type: ignore
    except ImportError:
        return pickle_query(path)
    api = HWNASBenchAPI(str(path), search_space=SPACE)
    return lambda idx, dataset: api.query_by_index(idx, dataset)


def _numeric(info: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in info.items()
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)}


def columns(query: Query, table: nb201_table.NB201Table) -> dict[str, np.ndarray]:
    """Every column of the joined table, rows in NB201 code order (so choices keep NB201's op order)."""
    index = table.code_to_index  # code -> official index
    ops = codec.code_to_ops(np.arange(codec.NUM_ARCHS))
    out: dict[str, np.ndarray] = {f"e{e}": np.asarray(codec.OPS, object)[ops[:, e]] for e in range(codec.NUM_EDGES)}
    out["index"] = index
    for ds, (hw_ds, nb_ds) in DATASETS.items():
        for split in table.splits(nb_ds):
            out[f"{ds}_{split}"] = table.by_code(nb_ds, split)
        params, flops = cost.nb201_cost(jnp.asarray(ops), nb_ds)
        out[f"{ds}_params"], out[f"{ds}_flops"] = np.asarray(params), np.asarray(flops)
        first = _numeric(query(int(index[0]), hw_ds))
        if not first:
            raise ValueError(f"HW-NAS-Bench: no numeric measurement for {hw_ds}")
        hw = {m: np.empty(codec.NUM_ARCHS, np.float64) for m in first}
        for code in range(codec.NUM_ARCHS):
            info = _numeric(query(int(index[code]), hw_ds))
            for m in first:
                if m not in info:
                    raise ValueError(f"HW-NAS-Bench: NB201 index {index[code]} on {hw_ds} has no {m!r}")
                hw[m][code] = info[m]
        out.update({f"{ds}_{m}": v for m, v in hw.items()})
    return out


def write_csv(cols: Mapping[str, np.ndarray], out: str | os.PathLike) -> None:
    """Write the columns atomically (floats in full precision)."""
    names = list(cols)
    n = len(next(iter(cols.values())))

    def fmt(v: Any) -> Any:
        return repr(float(v)) if isinstance(v, (float, np.floating)) else v

    def _write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(names)
            for i in range(n):
                w.writerow([fmt(cols[c][i]) for c in names])

    io.write_with(out, _write)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pickle", help="HW-NAS-Bench-v1_0.pickle")
    p.add_argument("out", help="CSV to write")
    p.add_argument("--nb201", default=None, help="NB201 table: embedded (default), a CSV/.npz, or the official .pth")
    a = p.parse_args(argv)
    cols = columns(api_query(a.pickle), nb201_table.load_table(a.nb201))
    write_csv(cols, a.out)
    print(f"wrote {a.out}: {codec.NUM_ARCHS} cells, {len(cols)} columns")


if __name__ == "__main__":
    main()
