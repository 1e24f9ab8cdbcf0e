"""Convert the NATS-Bench topology search space (the 15,625 NAS-Bench-201 cells) into a table file.

Usage::

    python spaces/nats_topology/convert.py NATS-tss-v1_0-3ffb9-simple nats_topology.csv [--hp 200] [--seeds]

Reads the benchmark through the optional ``nats_bench`` package (``pip install nats_bench``) and
writes one CSV row per cell, in the official index order: ``index`` and ``arch`` (the NB201 cell
string), ``edge_<from>_<to>`` (the op on each of the 6 edges), then per dataset ``cifar10``,
``cifar100``, ``imagenet16_120``: ``<ds>_valid`` and ``<ds>_test`` accuracy (%, mean over training
seeds), ``<ds>_params`` and ``<ds>_flops`` (millions) and ``<ds>_latency`` (seconds); with
``--seeds`` also ``<ds>_test_seed<i>`` per training run.  The file is both an NB201 table
(``l2nas search --space nb201 --table nats_topology.csv``: searches validation accuracy, reports
test) and a generic table (``--space table``, e.g. with per-seed columns).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from l2nas_jax.spaces.nb201 import codec
from l2nas_jax.spaces.table import nats

EDGE_COLUMNS = tuple(f"edge_{src}_{dst}" for dst, src in codec.EDGES)


def decisions(i: int, arch: str) -> dict[str, Any]:
    """``index``, ``arch`` and one op column per edge of cell ``i`` (ValueError if ``arch`` is not a cell)."""
    try:
        ops = codec.parse_arch(arch)
    except ValueError as e:
        raise ValueError(f"NATS-Bench topology net {i}: {e}") from None
    return {"index": i, "arch": arch, **{c: codec.OPS[int(o)] for c, o in zip(EDGE_COLUMNS, ops)}}


def rows(api: Any, *, hp: str = "200", seeds: bool = False, limit: int | None = None) -> Iterable[dict[str, Any]]:
    """One dict per cell of a ``nats_bench`` topology-space API object (or a stand-in with the same methods)."""
    return nats.rows(api, decisions, hp=hp, seeds=seeds, limit=limit)


def open_api(path: str) -> Any:
    """The ``nats_bench`` topology-space API over ``path`` (ValueError if the package or file is missing)."""
    return nats.open_api(path, "tss")


def main(argv: list[str] | None = None, api_factory: Callable[[str], Any] = open_api) -> None:
    nats.convert_main(argv, description=__doc__.splitlines()[0], benchmark="NATS-tss-v1_0-3ffb9-simple", hp="200",
                      hp_help="12 or 200 epochs", rows_of=rows, api_factory=api_factory, noun="cells")


if __name__ == "__main__":
    main()
