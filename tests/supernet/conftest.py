"""Fixtures shared by the supernet training tests: the tiny NB201 supernet their CLI runs build, and the runs."""

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from l2nas_jax.spaces import get_space

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


@pytest.fixture(scope="module")
def model(space):
    return space.supernet(channels=4, layers=1, num_classes=4)  # what the CLI builds from ARGS


@pytest.fixture(scope="session")
def supernet_cli_run(tmp_path_factory):
    """``run(argv) -> (out, FitResult)``: ``train/supernet.py ARGV --out OUT`` called in-process, once per
    test process for equal jobs (the same flags, whatever their order or spelled-out defaults).

    test_supernet_train.py's main run and test_mixed_precision.py's float32 run are the same job: when
    both files run in one process (plain ``pytest``, or one xdist worker), the second reads the first's
    directory and result instead of training again. Tests only read these runs (their own runs go
    to their own directories).
    """
    spec = importlib.util.spec_from_file_location("train_supernet_cli_shared", ROOT / "train" / "supernet.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    done = {}

    def run(argv):
        args = cli.build_parser().parse_args([*argv, "--out", "unused"])
        key = dataclasses.replace(cli.make_job(args), out="", command=None)
        if key not in done:
            out = tmp_path_factory.mktemp("supernet_run")
            args.out = str(out)
            done[key] = out, cli.run(args)
        return done[key]

    return run
