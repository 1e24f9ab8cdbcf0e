"""Command line: ``l2nas search``, ``compare``, ``sweep`` and ``transfer``; one thin module per subcommand.

Each subcommand parses its flags, builds the library call, runs it and prints; all logic lives
in the library. Errors from bad input are printed as one line (``l2nas: error: ...``) with exit
code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from l2nas_jax.cli.compare import add_compare_parser
from l2nas_jax.cli.search import add_search_parser
from l2nas_jax.cli.sweep import add_sweep_parser
from l2nas_jax.cli.transfer import add_transfer_parser
from l2nas_jax.core.cpu import use_all_cpu_cores

#: The subcommands, in ``--help`` order: adding one is one module plus one line here.
SUBCOMMANDS = (add_search_parser, add_compare_parser, add_sweep_parser, add_transfer_parser)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="l2nas", description="L2NAS neural architecture search in JAX")
    sub = p.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    use_all_cpu_cores()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as e:  # CLIError and validation errors from the library
        print(f"l2nas: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("l2nas: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 -- one line, not a JAX traceback; L2NAS_DEBUG=1 shows it
        if os.environ.get("L2NAS_DEBUG"):
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"l2nas: internal error: {type(e).__name__}: {msg} (set L2NAS_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
