"""``compare`` and ``l2nas compare``: tables consistent with the JSON, validation, output dir safety."""

import contextlib
import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest

from l2nas_jax.cli import main
from l2nas_jax.experiments.compare import FILES, clip_budgets, compare

METHODS = ("rea", "random", "reinforce")
QUERIES, SEEDS, SEED = 60, 4, 5
BUDGETS = (10, 50, 60)  # as clipped from --budgets 10,50,100
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(["compare", "--queries", str(QUERIES), "--seeds", str(SEEDS), "--seed", str(SEED), "--no-progress",
                   "--methods", ",".join(METHODS), "--budgets", "10,50,100", "--out", str(out)])
    return rc, out, stdout.getvalue(), stderr.getvalue()


def _markdown_rows(text: str) -> dict[str, list[str]]:
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| ")]
    header, *body = [[c.strip() for c in r] for r in rows]
    assert header[0] == "method"
    return {r[0]: r[1:] for r in body}


def _expected_cells(run: dict, optimum: float, tol: float) -> list[str]:
    """A table row recomputed with NumPy from the JSON's raw per-seed curves."""
    curves = np.asarray(run["curves"], np.float64)
    cells = [f"{curves[:, b - 1].mean():.2f} ± {curves[:, b - 1].std():.2f}" for b in BUDGETS]
    hit = curves >= optimum - tol
    reached = hit[:, -1]
    cells.append(f"{reached.sum()}/{len(curves)} ({100 * reached.mean():.0f}%)")
    first = [np.flatnonzero(h)[0] + 1 for h in hit if h[-1]]
    cells.append(f"{np.mean(first):.0f}" if first else "n/a")
    cells.append(f"{np.mean(run['repeats']):.1f}")
    cells.append(f"{run['wall_s']:.1f}")
    return cells


@pytest.mark.slow
def test_cli_writes_all_files(cli_run):
    rc, out, stdout, stderr = cli_run
    assert rc == 0, stderr
    for name in FILES:
        assert (out / name).stat().st_size > 0
    for png in ("best_so_far.png", "regret.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*.tmp")), "atomic writes left temporary files"
    for m in METHODS:
        assert any(line.startswith(m + " ") for line in stdout.splitlines()), stdout


@pytest.mark.slow
def test_markdown_table_matches_json(cli_run):
    _, out, stdout, _ = cli_run
    data = json.loads((out / "compare.json").read_text())
    assert data["methods"] == list(METHODS)
    assert data["budgets"] == list(BUDGETS)
    assert (data["seed"], data["num_seeds"], data["queries"]) == (SEED, SEEDS, QUERIES)
    assert set(data["config"]) == set(METHODS) and data["config"]["rea"]["population"] == 10
    assert {"versions", "device"} <= set(data["provenance"])
    rows = _markdown_rows((out / "compare.md").read_text())
    assert list(rows) == list(METHODS)
    for m in METHODS:
        run = data["runs"][m]
        assert np.asarray(run["curves"]).shape == (SEEDS, QUERIES)
        assert np.all(np.diff(run["curves"], axis=1) >= 0), "best-so-far curves must not decrease"
        np.testing.assert_array_equal(np.asarray(run["curves"])[:, np.asarray(BUDGETS) - 1], run["best_at_budgets"])
        assert rows[m] == _expected_cells(run, data["optimum"], data["optimum_tol"]), m
        # The terminal table shows the same cells.
        term = next(line for line in stdout.splitlines() if line.startswith(m + " "))
        for cell in rows[m][:len(BUDGETS)]:
            assert cell.replace(" ± ", " +- ") in term
        s = data["summary"][m]
        curves = np.asarray(run["curves"], np.float64)
        assert s["best_mean"] == [float(curves[:, b - 1].mean()) for b in BUDGETS]


@pytest.mark.slow
def test_refuses_non_empty_out_dir(cli_run, capsys):
    _, out, _, _ = cli_run
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    rc = main(["compare", "--queries", "5", "--seeds", "1", "--methods", "random", "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "--overwrite" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before, "refused run must not touch files"


def test_unknown_or_duplicate_method_raises(cifar10_env, capsys):
    env = cifar10_env
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        compare(env, ["rea", "nope"], queries=5, seeds=1)
    with pytest.raises(ValueError, match="more than once"):
        compare(env, ["rea", "rea"], queries=5, seeds=1)
    with pytest.raises(ValueError, match="only apply"):
        compare(env, ["rea"], queries=5, seeds=1, noise_sigma=1.0)
    assert main(["compare", "--methods", "rea,nope", "--queries", "5"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err


def test_clip_budgets():
    assert clip_budgets((50, 100, 200, 500, 1000), 300) == (50, 100, 200, 300)
    assert clip_budgets((50, 100), 30) == (30,)
    with pytest.raises(ValueError):
        clip_budgets((0, 10), 30)


def test_quality_benchmark_script_runs_small(tmp_path):
    spec = importlib.util.spec_from_file_location("nb201_quality", REPO / "benchmarks" / "nb201_quality.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    md, js = tmp_path / "nb201_quality.md", tmp_path / "nb201_quality.json"
    recorded = (REPO / "benchmarks" / "results" / "nb201_quality.json").read_bytes()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert mod.main(["--datasets", "cifar100", "--methods", "random", "--seeds", "2", "--queries", "20",
                         "--out", str(tmp_path)]) == 0
    # without --record the committed results are left alone
    assert (REPO / "benchmarks" / "results" / "nb201_quality.json").read_bytes() == recorded
    data = json.loads(js.read_text())
    assert data["seed"] == 0 and data["num_seeds"] == 2 and "device" in data["provenance"]
    assert data["config"]["queries"] == 20 and data["command"].startswith("python benchmarks/nb201_quality.py")
    assert data["datasets"]["cifar100"]["runs"]["random"]["best_at_budgets"]
    assert "### nb201 / cifar100" in md.read_text()


def _fake_result(method, curves, meta, optimum=94.37):
    """What ComparisonResult reads of a SearchResult, without running a search."""
    from types import SimpleNamespace

    curves = np.asarray(curves, np.float64)
    s, t = curves.shape
    return SimpleNamespace(method=method, space="nb201", dataset="cifar10", queries=t, num_seeds=s, seed=0,
                           optimum=optimum, search_metric="test", report_metric="test", curves=curves,
                           repeats=np.zeros(s, int), queries_to_best=np.full(s, t), best_archs=["a"] * s,
                           config={}, meta=meta)


def test_unmeasured_wall_time_is_n_a_not_zero():
    """A sweep's points share one compiled program: no per-point wall time, so 'n/a' (it printed 0.0)."""
    from l2nas_jax.experiments.compare import ComparisonResult

    curves = np.linspace(90, 93, 20)[None].repeat(2, 0)
    res = ComparisonResult.build({"measured": _fake_result("measured", curves, {"wall_s": 3.25}),
                                  "swept": _fake_result("swept", curves, {})}, (10, 20))
    rows = {r[0]: r for r in res.rows()}
    assert rows["measured"][-1] == "3.2" and rows["swept"][-1] == "n/a"
    last = [line.split()[-1] for line in res.table().splitlines()[-2:]]
    assert last == ["3.2", "n/a"] and "None" not in res.table() and "None" not in res.to_markdown()
    runs = res.to_json()["runs"]
    assert runs["measured"]["wall_s"] == 3.25 and runs["swept"]["wall_s"] is None
    assert res.to_json()["summary"]["swept"]["wall_s"] is None


def test_unknown_optimum_is_n_a():
    from l2nas_jax.core import io as l2io
    from l2nas_jax.experiments.compare import ComparisonResult

    curves = np.linspace(90, 93, 20)[None].repeat(2, 0)
    res = ComparisonResult.build({"m": _fake_result("m", curves, {"wall_s": 1.0}, optimum=float("nan"))}, (10,))
    assert "table optimum n/a" in res.description() and "nan" not in res.description()
    data = res.to_json()
    assert data["optimum"] is None
    l2io.write_json(Path("/dev/null"), {"optimum": data["optimum"]})  # valid JSON (NaN is refused)
