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

from typing import Any, Callable, Iterable

from l2nas_jax.spaces.table import nats

LAYERS = 5
CHANNELS = (8, 16, 24, 32, 40, 48, 56, 64)
NUM_ARCHS = len(CHANNELS) ** LAYERS  # 32,768


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


def decisions(i: int, arch: str) -> dict[str, int]:
    """The decision columns ``c1..c5`` of one network."""
    return {f"c{k + 1}": c for k, c in enumerate(parse_channels(arch))}


def rows(api: Any, *, hp: str = "90", seeds: bool = False, limit: int | None = None) -> Iterable[dict[str, Any]]:
    """One dict per network of a ``nats_bench`` size-space API object (or a stand-in with the same methods)."""
    return nats.rows(api, decisions, hp=hp, seeds=seeds, limit=limit)


def open_api(path: str) -> Any:
    """The ``nats_bench`` size-space API over ``path`` (ValueError if the package or file is missing)."""
    return nats.open_api(path, "sss")


def main(argv: list[str] | None = None, api_factory: Callable[[str], Any] = open_api) -> None:
    nats.convert_main(argv, description=__doc__.splitlines()[0], benchmark="NATS-sss-v1_0-50262-simple", hp="90",
                      hp_help="01, 12 or 90 epochs", rows_of=rows, api_factory=api_factory, noun="networks")


if __name__ == "__main__":
    main()
