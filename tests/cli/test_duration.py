"""The rough duration announced before a long run: calibrated on the recorded speed benchmark, printed once."""

import json
from pathlib import Path

import pytest

from l2nas_jax import api
from l2nas_jax.cli import common, main

SPEED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "nb201_speed.json"


@pytest.mark.parametrize("name", ["default", "literal"])
def test_estimate_matches_the_recorded_speed_benchmark_within_a_factor_two(name):
    rec = json.loads(SPEED.read_text())
    entry, queries = rec[name], rec["queries"]
    for kind in ("single", "sweep"):
        run = entry[kind]
        measured = run["compile_s"] + run["run_s"]
        est = api.estimate_seconds("l2nas", run["seeds"], queries, entry["config"])
        assert measured / 2 < est < 2 * measured, (name, kind, est, measured)


def test_estimate_scales_with_seeds_queries_and_updates():
    base = api.estimate_seconds("l2nas", 8, 1000)
    step = base - api.runner_lib.COMPILE_SECONDS
    assert api.estimate_seconds("l2nas", 80, 1000) == pytest.approx(base + 9 * step)
    assert api.estimate_seconds("l2nas", 8, 3000) == pytest.approx(base + 2 * step)
    assert api.estimate_seconds("l2nas", 8, 1000, {"max_updates": 10}) > base
    assert api.estimate_seconds("rea", 8, 1000) < base


def test_long_runs_are_announced(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(common, "LONG_RUN_SECONDS", 0.0)
    rc = main(["search", "--method", "random", "--queries", "20", "--seeds", "1", "--out", str(tmp_path / "r"),
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0 and err.count("l2nas: note: this run takes roughly") == 1, err
    monkeypatch.setattr(common, "LONG_RUN_SECONDS", 1e9)
    rc = main(["search", "--method", "random", "--queries", "20", "--seeds", "1", "--out", str(tmp_path / "s"),
               "--no-progress"])
    assert rc == 0 and "takes roughly" not in capsys.readouterr().err
