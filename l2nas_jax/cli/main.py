"""Command line: ``l2nas search``, ``compare``, ``sweep``, ``transfer``, ``latency`` and ``convert-ofa``; one module each.

Each subcommand parses its flags, builds the library call, runs it and prints; all logic lives
in the library. Errors from bad input are printed as one line (``l2nas: error: ...``) with exit
code 2, never as a traceback; Ctrl-C at any point is one ``l2nas: interrupted`` line, exit code 130,
and no partial output (:mod:`l2nas_jax.cli.interrupt`). Every subcommand takes ``--compile-cache
DIR|off`` (the persistent compilation cache, :mod:`l2nas_jax.core.compile_cache`); its problems are
one ``l2nas: warning:`` line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from typing import Any, Sequence

from l2nas_jax.cli import interrupt
from l2nas_jax.cli.compare import add_compare_parser
from l2nas_jax.cli.convert import add_convert_parser
from l2nas_jax.cli.latency import add_latency_parser
from l2nas_jax.cli.search import add_search_parser
from l2nas_jax.cli.sweep import add_sweep_parser
from l2nas_jax.cli.transfer import add_transfer_parser
from l2nas_jax.core import compile_cache
from l2nas_jax.core.cpu import use_all_cpu_cores
from l2nas_jax.core.threefry import unroll_on_cpu

#: The subcommands, in ``--help`` order: adding one is one module plus one line here.
SUBCOMMANDS = (add_search_parser, add_compare_parser, add_sweep_parser, add_transfer_parser, add_latency_parser,
               add_convert_parser)


def add_compile_cache_arg(p: argparse.ArgumentParser) -> None:
    """``--compile-cache DIR|off``; absent unless given (so the top level and a subcommand may both take it)."""
    p.add_argument("--compile-cache", default=argparse.SUPPRESS, metavar="DIR|off",
                   help=f"persistent compilation cache directory, or 'off' (default ${compile_cache.ENV_VAR}, "
                        f"else ~/.cache/l2nas-jax/jax): a repeated command compiles nothing")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="l2nas", description="L2NAS neural architecture search in JAX")
    add_compile_cache_arg(p)
    sub = p.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add_compile_cache_arg(add(sub))
    return p


def _format_warning(message: Any, category: type, filename: str, lineno: int, line: str | None = None) -> str:
    """Compilation-cache warnings as one ``l2nas: warning:`` line; every other warning as Python prints it."""
    if issubclass(category, compile_cache.CompileCacheWarning):
        return f"l2nas: warning: {message}\n"
    return _PYTHON_FORMAT(message, category, filename, lineno, line)


_PYTHON_FORMAT = warnings.formatwarning


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status: 0, 2 for bad input, 130 when interrupted, 1 for an internal error.

    Without ``argv`` (the ``l2nas`` script, ``python -m``) the command owns the process: Ctrl-C at
    any point ends it promptly with one line and exit code 130 (:mod:`l2nas_jax.cli.interrupt`).
    With ``argv`` (a call from Python) an interrupt returns 130 instead.
    """
    owner = argv is None
    interrupt.reset()
    try:
        with interrupt.guard() if owner else contextlib.nullcontext():
            return _run(argv)
    except KeyboardInterrupt:
        if owner:
            interrupt.exit_now()  # ends the process: no interpreter shutdown while XLA may still run
        print(interrupt.message(), file=sys.stderr)
        return interrupt.EXIT_CODE


def _run(argv: Sequence[str] | None) -> int:
    use_all_cpu_cores()
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.formatwarning = _format_warning
    try:
        unroll_on_cpu()  # after parsing: --help loads no JAX
        compile_cache.enable(getattr(args, "compile_cache", None))
        return int(args.func(args) or 0)
    except ValueError as e:  # CLIError and validation errors from the library
        print(f"l2nas: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 -- one line, not a JAX traceback; L2NAS_DEBUG=1 shows it
        if os.environ.get("L2NAS_DEBUG"):
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if _out_of_memory(e):
            print(f"l2nas: error: out of memory ({type(e).__name__}: {msg[:200]}); pass fewer --seeds (they run "
                  f"side by side: run the rest with another --seed) or a smaller config (README: Troubleshooting)",
                  file=sys.stderr)
            return 1
        print(f"l2nas: internal error: {type(e).__name__}: {msg} (set L2NAS_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1


def _out_of_memory(e: Exception) -> bool:
    """A host ``MemoryError`` or XLA's ``RESOURCE_EXHAUSTED`` (device or host memory)."""
    return isinstance(e, MemoryError) or "RESOURCE_EXHAUSTED" in str(e) or "out of memory" in str(e).lower()


if __name__ == "__main__":
    sys.exit(main())
