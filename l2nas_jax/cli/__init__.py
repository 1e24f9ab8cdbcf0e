"""The ``l2nas`` command line: :func:`main` plus one thin module per subcommand."""

from l2nas_jax.cli.main import main

__all__ = ["main"]
