"""The noise options from the command line: noise model, incumbent rule, re-evaluation."""

import json

import pytest

from l2nas_jax.cli import main
from l2nas_jax.runspec import RunSpec


@pytest.mark.slow
def test_search_with_hetero_noise_and_reevaluation(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["search", "--method", "rea", "--queries", "80", "--seeds", "2", "--noise-sigma", "0.5",
               "--noise-model", "hetero", "--reevaluate", "4", "--out", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    spec = RunSpec.load(out / "run.json")
    assert (spec.noise_model, spec.incumbent, spec.reevaluate) == ("hetero", "denoised", 4)
    data = json.loads((out / "results.json").read_text())
    assert data["meta"]["incumbent"] == "denoised" and data["meta"]["reevaluate"] == 4
    assert "error / best error" in data["search_metric"]
    assert all(run["reevaluations"] >= 5 for run in data["runs"])  # 80 queries, one in 4 from query 50 on


@pytest.mark.parametrize("args, message", [
    (["--reevaluate", "4", "--free-repeats"], "--reevaluate measures architectures again, --free-repeats serves"),
    (["--reevaluate", "1"], "--reevaluate must be 0 (off) or >= 2"),
    (["--noise-model", "hetero"], "--noise-model hetero scales the noise: give --noise-sigma > 0"),
])
def test_contradictory_noise_options_are_one_line_errors(tmp_path, capsys, args, message):
    rc = main(["search", "--queries", "10", "--seeds", "1", "--out", str(tmp_path / "r"), "--no-progress", *args])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err, err
