"""The CLI end to end in a temporary directory, and its one-line errors."""

import json

import pytest

from l2nas_jax.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_search_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["search", "--queries", "30", "--seeds", "2", "--out", str(out), "--no-progress",
               "--set", "actor_hidden=16,16", "--set", "critic_hidden=16,16", "--set", "batch_size=8"])
    assert rc == 0
    data = json.loads((out / "results.json").read_text())
    assert data["num_seeds"] == 2 and data["queries"] == 30 and len(data["runs"]) == 2
    assert data["config"]["actor_hidden"] == [16, 16]
    assert data["seed"] == 0 and "jax" in data["meta"]["versions"] and "backend" in data["meta"]["device"]
    for run in data["runs"]:
        curve = run["curve"]
        assert len(curve) == 30 and all(b >= a for a, b in zip(curve, curve[1:]))  # best-so-far never drops
        assert curve[-1] == pytest.approx(run["best_report"])
    assert (out / "best_so_far.png").read_bytes()[:8] == PNG_MAGIC
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left behind
    printed = capsys.readouterr().out
    assert "mean" in printed and "reached optimum" in printed


def test_refuses_non_empty_out_without_overwrite(tmp_path, capsys):
    (tmp_path / "old.txt").write_text("x")
    rc = main(["search", "--queries", "5", "--seeds", "1", "--out", str(tmp_path), "--no-progress"])
    assert rc == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dataset", "mnist"], "unknown NB201 dataset 'mnist'"),
        (["--space", "nasbench101"], "unknown search space 'nasbench101'"),
        (["--queries", "0"], "queries must be a positive integer"),
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--set", "bogus=1"], "unknown l2nas config key 'bogus'"),
        (["--set", "tau=2"], "invalid L2NAS config value"),
        (["--set", "tau=abc"], "expected a float"),
        (["--method", "bayesopt"], "unknown method 'bayesopt'"),
        (["--table", "missing.csv"], "not found"),
        (["--noise-sigma", "nan"], "noise_sigma"),
    ],
)
def test_bad_input_gives_one_line_error(tmp_path, capsys, args, message):
    rc = main(["search", "--out", str(tmp_path / "o"), "--no-progress", "--queries", "5", *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.count("\n") == 0 and err.startswith("l2nas: error:") and message in err, err
