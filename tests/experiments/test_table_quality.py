"""The NK-landscape table benchmark: the landscapes are what they claim, the loss finder is right, a tiny run
writes a record with per-seed observations and the mean reported."""

import contextlib
import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tq():
    spec = importlib.util.spec_from_file_location("table_quality", REPO / "benchmarks" / "table_quality.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_k0_landscape_is_separable_and_scaled(tq):
    counts = (3, 4, 2)
    archs, fit = tq.nk_fitness(counts, 0, seed=5)
    assert archs.shape == (24, 3) and fit.min() == 0 and fit.max() == pytest.approx(100)
    # K=0: each decision adds its own term: f[i, j, k] = f[i, 0, 0] + f[0, j, 0] + f[0, 0, k] - 2 f[0, 0, 0]
    def additive(g):
        return g[:, :1, :1] + g[:1, :, :1] + g[:1, :1, :] - 2 * g[:1, :1, :1]

    grid = fit.reshape(counts)
    np.testing.assert_allclose(grid, additive(grid), atol=1e-9)
    g = tq.nk_fitness(counts, 2, seed=5)[1].reshape(counts)
    assert np.abs(g - additive(g)).max() > 1  # K=2: the decisions interact
    with pytest.raises(ValueError, match="K must lie in"):
        tq.nk_fitness(counts, 3, seed=0)


def test_losses_flags_only_gaps_beyond_two_standard_errors(tq):
    summary = {"l2nas": {"best_mean": [50.0, 60.0], "best_std": [1.0, 1.0]},
               "rea": {"best_mean": [50.2, 61.0], "best_std": [1.0, 1.0]},
               "ls": {"best_mean": [49.0, 60.5], "best_std": [1.0, 1.0]}}
    out = tq.losses(summary, (25, 50), num_seeds=50)  # s.e. of a difference: 0.2
    assert [(x["budget"], x["method"]) for x in out] == [(50, "rea")]
    assert out[0]["gap"] == pytest.approx(1.0) and out[0]["se"] == pytest.approx(0.2)


@pytest.mark.slow
def test_tiny_run_records_per_seed_search_and_mean_report(tq, tmp_path):
    recorded = (REPO / "benchmarks" / "results").glob("table_quality*")
    before = {p.name: p.read_bytes() for p in recorded}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert tq.main(["--landscapes", "mixed", "--ks", "1", "--seeds", "2", "--queries", "20", "--budgets", "10,20",
                        "--methods", "l2nas,random", "--out", str(tmp_path)]) == 0
    assert {p.name: p.read_bytes() for p in (REPO / "benchmarks" / "results").glob("table_quality*")} == before
    data = json.loads((tmp_path / "table_quality.json").read_text())
    cell = data["cells"]["mixed K=1"]
    assert data["seed"] == 0 and "device" in data["provenance"] and data["config"]["runs"] == 3
    assert cell["search_metric"] != cell["report_metric"] and "acc_mean" in cell["report_metric"]
    assert cell["optimum"] == pytest.approx(100, abs=1e-3)
    assert set(cell["summary"]) == {"l2nas", "random"} and cell["budgets"] == [10, 20]
    md = (tmp_path / "table_quality.md").read_text()
    assert "| mixed K=1 | 14400 |" in md and "## mixed K=1" in md
