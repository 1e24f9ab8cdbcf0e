"""One results writer for every benchmark: Markdown + JSON that record the seed, config, command and device.

A benchmark writes into the directory given by ``--out`` (default ``runs/benchmarks/<name>``)
and updates the committed figures in ``benchmarks/results/`` only when asked (``--record``),
so running a benchmark to try it never rewrites the recorded results. Every JSON file carries
the command line, the UTC time, the seed, the config and :func:`~l2nas_jax.core.provenance.provenance`
(package versions and device), as every results file must.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import shlex
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from l2nas_jax.core import io
from l2nas_jax.core.provenance import provenance


def add_output_args(parser: argparse.ArgumentParser, name: str) -> None:
    """Add ``--out DIR`` and ``--record`` to a benchmark's parser."""
    parser.add_argument("--out", type=Path, default=Path("runs") / "benchmarks" / name,
                        help=f"directory for this run's files (default runs/benchmarks/{name})")
    parser.add_argument("--record", action="store_true",
                        help="also update the committed figures in benchmarks/results/")


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """The command that produced a record, as a user would type it."""
    given = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["python", script, *(shlex.quote(a) for a in given)])


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclasses.dataclass(frozen=True)
class Record:
    """What one benchmark run produced: ``<stem>.md`` (optional), ``<stem>.json`` and extra files."""

    stem: str  # file stem, e.g. "nb201_quality"
    command: str
    seed: int | None
    config: Mapping[str, Any]
    data: Mapping[str, Any]  # the figures (JSON-compatible, finite)
    markdown: str | None = None
    #: extra files by name: a writer called with the target path (plots), written next to the others
    extra: Mapping[str, Callable[[Path], None]] = dataclasses.field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {"benchmark": self.stem, "command": self.command, "generated": utc_now(), "seed": self.seed,
                "config": dict(self.config), **dict(self.data), "provenance": provenance()}


def write_record(record: Record, out_dir: str | Path, results_dir: str | Path | None = None) -> list[Path]:
    """Write the record into ``out_dir`` and, if ``results_dir`` is given (``--record``), there too."""
    payload = record.payload()
    written = []
    for d in [Path(out_dir)] + ([Path(results_dir)] if results_dir is not None else []):
        io.write_json(d / f"{record.stem}.json", payload)
        written.append(d / f"{record.stem}.json")
        if record.markdown is not None:
            io.write_text(d / f"{record.stem}.md", record.markdown)
            written.append(d / f"{record.stem}.md")
        for name, write in record.extra.items():
            write(d / name)
            written.append(d / name)
    return written


def save(record: Record, args: argparse.Namespace, results_dir: str | Path) -> list[Path]:
    """:func:`write_record` driven by the ``--out`` / ``--record`` flags of :func:`add_output_args`."""
    paths = write_record(record, args.out, results_dir if args.record else None)
    print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return paths
