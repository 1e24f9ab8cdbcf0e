"""Shared pieces of the subcommands: the error type, common flags, config overrides, output dirs, progress."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from l2nas_jax import methods
from l2nas_jax.cli import interrupt
from l2nas_jax.core import validate
from l2nas_jax.spaces import space_names


class CLIError(ValueError):
    """A user-facing error: printed as one line, exit code 2."""


SPACES = space_names()
DATASETS = ("cifar10", "cifar100", "imagenet16-120")


#: Every file an ``l2nas`` command writes into its ``--out`` directory (search, compare, sweep, transfer).
#: ``--overwrite`` removes these (and their temporary ``.NAME.*.tmp`` files) from an earlier run, nothing else.
TOOL_FILES: tuple[str, ...] = (
    "run.json", "checkpoint.npz", "results.json", "best_so_far.png", "regret.png", "pareto.json", "pareto.png",
    "compare.md", "compare.json", "sweep.md", "sweep.json", "transfer.md", "transfer.json")


def tool_files(out: str | Path) -> list[Path]:
    """The files in ``out`` an ``l2nas`` command wrote (:data:`TOOL_FILES` and their temporary files)."""
    out = Path(out)
    if not out.is_dir():
        return []
    return sorted(p for p in out.iterdir() if (p.is_file() or p.is_symlink()) and _is_tool_file(p.name))


def _is_tool_file(name: str) -> bool:
    return name in TOOL_FILES or (name.endswith(".tmp") and any(name.startswith(f".{f}.") for f in TOOL_FILES))


def remove_tool_files(out: str | Path) -> list[Path]:
    """Delete :func:`tool_files` from ``out`` (files of other programs and subdirectories stay); returns them."""
    removed = tool_files(out)
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


def prepare_out_dir(out: str | Path, overwrite: bool, produced: Sequence[str]) -> Path:
    """Create ``out``; refuse an existing non-empty directory unless ``overwrite``.

    With ``overwrite``, the files of an earlier ``l2nas`` run in ``out`` are removed first (all of
    them, not only the ``produced`` ones this run rewrites), so the old run's results, plots and
    checkpoint are never left mixed with the new run's; files of other programs stay.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            held = [p.name for p in tool_files(out)]
            what = f"it holds an earlier run's {', '.join(held)}" if held else "it holds files l2nas did not write"
            raise CLIError(f"output directory {out} is not empty ({what}); pass --overwrite to replace the earlier "
                           f"run's files with {', '.join(produced)} (other files are kept), or choose another --out")
        removed = remove_tool_files(out)
        if removed:
            print(f"note: --overwrite: removed the earlier run's {', '.join(p.name for p in removed)} from {out}",
                  file=sys.stderr)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".l2nas-write-probe-{os.getpid()}"
        probe.write_bytes(b"")  # before anything runs: a directory we cannot write into fails now, not at the end
        probe.unlink()
    except OSError as e:
        raise CLIError(f"--out {out}: cannot create or write into this directory ({e.strerror or e}); "
                       f"choose another --out") from None
    return out


class RunOutputs:
    """The output files of one command in ``out``: if the command is interrupted (or fails) before
    :meth:`complete`, they are removed (no half-finished run is left), unless ``resume_hint()``
    returns a hint (a checkpoint to resume from), which then ends the ``l2nas: interrupted`` line.

    Use as ``with RunOutputs(out) as outputs: ...; outputs.complete()``.
    """

    def __init__(self, out: Path, resume_hint: Callable[[], str | None] | None = None):
        self.out, self.resume_hint, self.completed = Path(out), resume_hint, False
        self._block: Any = None

    def cleanup(self) -> str | None:
        if self.completed:
            return None
        hint = self.resume_hint() if self.resume_hint is not None else None
        if hint is None:
            remove_tool_files(self.out)
        return hint

    def complete(self) -> None:
        self.completed = True

    def __enter__(self) -> RunOutputs:
        self._block = interrupt.on_interrupt(self.cleanup)
        self._block.__enter__()
        return self

    def __exit__(self, *exc: object) -> Any:
        if isinstance(exc[1], Exception):  # a failed run (an error line follows) leaves no files either
            self.cleanup()
        return self._block.__exit__(*exc)


def coerce_value(value: str, default: Any, what: str) -> Any:
    """Parse ``value`` to the type of ``default`` (bool, tuple of ints, int, float, str); ``what`` names it in errors."""
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return value.lower() in ("true", "1")
        if isinstance(default, tuple):
            return tuple(int(v) for v in value.split(",") if v)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        raise CLIError(f"{what}={value}: expected a {type(default).__name__}") from None
    return value


def parse_assignment(item: str, flag: str, defaults: dict[str, Any], method: str) -> tuple[str, str]:
    """Split ``key=value`` and check ``key`` is a config field."""
    if "=" not in item:
        raise CLIError(f"{flag} expects key=value, got {item!r}")
    k, v = item.split("=", 1)
    if k not in defaults:
        raise CLIError(f"unknown {method} config key {k!r}; valid: {', '.join(sorted(defaults))}")
    return k, v


def method_overrides(method: str, config_file: str | None, sets: Sequence[str]) -> dict[str, Any]:
    """Config overrides from a JSON file and ``--set key=value`` pairs, each checked against its field's type.

    Unknown keys and mistyped JSON values (``{"tau": "0.9"}``: a string, not a number) are one-line errors.
    """
    from l2nas_jax.runspec import config_overrides  # loads JAX: only when a command runs

    cls, _ = methods.get_method(method)
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    if config_file:
        try:
            loaded = json.loads(Path(config_file).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CLIError(f"cannot read config file {config_file}: {e}") from None
        if not isinstance(loaded, dict):
            raise CLIError(f"config file {config_file} must hold a JSON object")
        try:
            out.update(config_overrides(method, loaded))
        except ValueError as e:
            raise CLIError(f"config file {config_file}: {e}") from None
    for item in sets:
        k, v = parse_assignment(item, "--set", defaults, method)
        out[k] = coerce_value(v, defaults[k], f"--set {k}")
    return config_overrides(method, out)


#: Run spec fields whose flag is not simply the field's name with dashes.
_FLAGS = {"limits": "--max", "pareto_column": "--pareto COLUMN"}


def flag_label(field: str) -> str:
    """The command-line flag of a run spec field (``noise_sigma`` -> ``--noise-sigma``), for error messages."""
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


#: Runs estimated to take longer than this (seconds, on the reference CPU) are announced before they start.
LONG_RUN_SECONDS = 120.0


def announce_duration(seconds: float) -> None:
    """One stderr line with a long run's rough duration (from the project's 2-core CPU figures)."""
    if seconds > LONG_RUN_SECONDS:
        text = f"{seconds / 60:.0f} minutes" if seconds < 5400 else f"{seconds / 3600:.1f} hours"
        print(f"l2nas: note: this run takes roughly {text} on a 2-core CPU (more or less elsewhere); fewer --seeds "
              f"or --queries shorten it, and Ctrl-C stops it at any time", file=sys.stderr)


def progress_bar(total: int, desc: str, enabled: bool, unit: str = "query"):
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr)
    last = [0]

    def update(done: int) -> None:
        bar.update(done - last[0])
        last[0] = done

    return bar, update


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", default="nb201", help=f"search space: {', '.join(SPACES)} (default nb201)")
    p.add_argument("--dataset", default="cifar10", help=f"dataset: {', '.join(DATASETS)} (default cifar10)")
    p.add_argument("--queries", type=int, default=1000, help="evaluations per run (default 1000)")
    p.add_argument("--seeds", type=int, default=8, help="independent runs, vmapped (default 8)")
    p.add_argument("--seed", type=int, default=0, help="base seed; run i uses split(key(seed), seeds)[i]")
    p.add_argument("--table", default=None,
                   help="NB201 table: .csv, .npz, or the official .pth (default: embedded); with --space table, "
                        "a table file of your own (CSV/JSON: one architecture per row)")
    p.add_argument("--noise-sigma", type=float, default=0.0, help="Gaussian noise (accuracy points) on the search metric")
    p.add_argument("--noise-model", default="gaussian", choices=("gaussian", "hetero"),
                   help="gaussian: the same sigma for every net; hetero: sigma at the best net, growing with the "
                        "error rate (worse nets are noisier, as in real benchmarks)")
    p.add_argument("--incumbent", default="denoised", choices=("denoised", "observed"),
                   help="what a run returns: the best estimate (mean of repeated measurements, shrunk by the "
                        "noise estimated from them; default) or the best single observation")
    p.add_argument("--reevaluate", type=int, default=0, metavar="N",
                   help="under noise, spend up to one query in N measuring a top candidate again (all methods "
                        "alike; 0: off, the default; 4 is a good start at --noise-sigma 0.5)")
    add_table_args(p)
    p.add_argument("--free-repeats", action="store_true",
                   help="serve repeated architectures from a cache without spending budget (all methods alike)")
    p.add_argument("--overwrite", action="store_true", help="replace results in a non-empty --out directory")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_table_args(p: argparse.ArgumentParser) -> None:
    """Options of ``--space table`` (a table file of your own) and budgets on any named column."""
    p.add_argument("--search-metric", default=None, metavar="COLUMN",
                   help="--space table: the column the search maximises (a glob such as 'acc_seed*' = one "
                        "training per query, drawn at random; '{dataset}_valid' per dataset)")
    p.add_argument("--report-metric", default=None, metavar="COLUMN",
                   help="--space table: the column reported (default: the search metric; say so if they differ)")
    p.add_argument("--decisions", default=None, metavar="COL,COL,...",
                   help="--space table: the decision columns (default: inferred, see the README)")
    p.add_argument("--max", dest="limits", action="append", default=[], metavar="COLUMN=VALUE",
                   help="budget on a named column of a table (repeatable), e.g. --max edgegpu_latency=5")


def table_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``build_env`` keywords of :func:`add_table_args`."""
    return {"search_metric": args.search_metric, "report_metric": args.report_metric,
            "decisions": None if args.decisions is None else parse_list(args.decisions, "decision"),
            "limits": list(args.limits)}


def parse_list(text: str, what: str) -> list[str]:
    """Split a comma-separated CLI list, dropping blanks."""
    items = [s.strip() for s in str(text).split(",") if s.strip()]
    if not items:
        raise CLIError(f"empty {what} list")
    return items


def parse_budgets(text: str) -> tuple[int, ...]:
    """``"50,100,200"`` -> ``(50, 100, 200)``."""
    items = parse_list(text, "budget")
    try:
        return tuple(validate.positive_int("budget", int(b)) for b in items)
    except ValueError:
        raise CLIError(f"budgets must be positive comma-separated integers, got {text!r}") from None


def parse_positive_ints(text: str | None, flag: str) -> tuple[int, ...] | None:
    """``"8,16,24"`` -> ``(8, 16, 24)`` for a flag of positive integers (None stays None)."""
    if text is None:
        return None
    try:
        values = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise CLIError(f"{flag} must be comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise CLIError(f"{flag} must be positive integers, got {text!r}")
    return values
