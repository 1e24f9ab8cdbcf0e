"""The ``l2nas`` command line: :func:`main` plus one thin module per subcommand."""

from l2nas_jax.cli.interrupt import startup_guard

startup_guard()  # the ``l2nas`` script: Ctrl-C while the modules below load ends at once, with one line

from l2nas_jax.cli.main import main

__all__ = ["main"]
