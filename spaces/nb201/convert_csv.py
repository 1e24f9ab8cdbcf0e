"""Build the embedded NB201 table from a CSV (``index, arch, <dataset>_<split>...``).

Usage::

    python spaces/nb201/convert_csv.py nb201_test_acc.csv l2nas_jax/data/nb201_test_acc.npz

where ``nb201_test_acc.csv`` holds the 15,625 cells in the official index order with their
200-epoch test accuracies (NATS-Bench topology space; see ``l2nas_jax/data/README.md``).

The CSV is validated (15,625 unique cells, official arch strings, finite percentages)
and written as a compressed ``.npz`` (uint8 ops + float32 accuracies).
"""

from __future__ import annotations

import argparse
import dataclasses

from l2nas_jax.spaces.nb201.table import EMBEDDED_SOURCE, read_csv, save_npz


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("csv")
    p.add_argument("out")
    p.add_argument("--source", default=EMBEDDED_SOURCE, help="provenance note stored in the file")
    a = p.parse_args()
    table = dataclasses.replace(read_csv(a.csv), source=a.source)
    save_npz(table, a.out)
    print(f"wrote {a.out}: {len(table.ops)} cells, metrics {sorted(table.acc)}")


if __name__ == "__main__":
    main()
