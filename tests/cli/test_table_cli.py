"""``l2nas search --space table``: a generated table of your own searched end to end by each method.

The table mixes choice counts (3, 2 and 4 choices), misses some combinations, has per-seed
columns, two cost columns and separate search/report metrics; every bad table gives one line,
exit code 2 and no output directory.
"""

import csv
import itertools
import json

import numpy as np
import pytest

from l2nas_jax import methods
from l2nas_jax.cli import main

TINY = ["--set", "actor_hidden=8", "--set", "critic_hidden=8", "--set", "batch_size=8", "--set", "max_updates=1",
        "--set", "learning_starts=4", "--set", "num_actor_candidates=2", "--set", "num_mutations=4",
        "--set", "num_random_candidates=4"]


def _rows(drop_every: int = 5) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for i, (a, b, c) in enumerate(itertools.product("xyz", (0, 1), (1, 2, 3, 4))):
        if i % drop_every == 3:
            continue  # not a full grid
        base = 50 + 5 * "xyz".index(a) + 3 * b + 2 * c + rng.normal(0, 1)
        seeds = base + rng.normal(0, 0.5, 3)
        rows.append({"a": a, "b": b, "c": c, "valid": round(base, 3), "test": round(base + rng.normal(0, 0.3), 3),
                     "acc_seed0": round(seeds[0], 3), "acc_seed1": round(seeds[1], 3),
                     "acc_seed2": round(seeds[2], 3), "params": round(0.1 * (1 + c + b), 3),
                     "latency": round(1.0 + "xyz".index(a) + 0.5 * c, 3)})
    return rows


def _write(path, rows, header=None):
    header = header or list(rows[0])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([r.get(h, "") for h in header])
    return str(path)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("t") / "mine.csv", _rows())


def _search(table, out, *extra, method="l2nas"):
    args = ["search", "--space", "table", "--table", table, "--search-metric", "valid", "--report-metric", "test",
            "--method", method, "--queries", "24", "--seeds", "2", "--no-progress", "--out", str(out), *extra]
    return main(args + (TINY if method == "l2nas" else []))


@pytest.mark.slow
@pytest.mark.parametrize("method", methods.method_names())
def test_every_method_searches_a_table_of_your_own(table, tmp_path, method, capsys):
    assert _search(table, tmp_path / "run", method=method) == 0
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    rows = {f"{r['a']}-{r['b']}-{r['c']}": r for r in _rows()}
    assert res["space"] == "table" and res["search_metric"] == "valid" and res["report_metric"] == "test"
    for run in res["runs"]:
        assert run["best_arch"] in rows  # only architectures in the table are returned
        assert run["best_report"] == pytest.approx(rows[run["best_arch"]]["test"], abs=1e-3)


@pytest.mark.slow
def test_two_column_budgets_and_per_seed_runs(table, tmp_path, capsys):
    assert _search(table, tmp_path / "b", "--max", "params=0.45", "--max", "latency=3.5", method="random") == 0
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    rows = {f"{r['a']}-{r['b']}-{r['c']}": r for r in _rows()}
    for run in res["runs"]:
        r = rows[run["best_arch"]]
        assert r["params"] <= 0.45 and r["latency"] <= 3.5
    spec = json.loads((tmp_path / "b" / "run.json").read_text())
    assert spec["limits"] == ["params=0.45", "latency=3.5"]
    # per-seed columns: one training observed per query, the mean reported
    assert main(["search", "--space", "table", "--table", table, "--search-metric", "acc_seed*", "--method",
                 "random", "--queries", "24", "--seeds", "2", "--no-progress", "--out", str(tmp_path / "s")]) == 0
    res = json.loads((tmp_path / "s" / "results.json").read_text())
    assert res["search_metric"] != res["report_metric"]


def test_search_equal_to_report_is_said(table, tmp_path, capsys):
    assert main(["search", "--space", "table", "--table", table, "--search-metric", "test", "--method", "random",
                 "--queries", "5", "--seeds", "1", "--no-progress", "--out", str(tmp_path / "o")]) == 0
    assert "optimizes the metric it reports" in capsys.readouterr().err


def _bad_tables(tmp_path):
    rows = _rows()
    nan = [dict(r) for r in rows]
    nan[2]["valid"] = "nan"
    text = [dict(r) for r in rows]
    text[1]["valid"] = "high"
    dup = rows + [dict(rows[0], valid=rows[0]["valid"] + 1)]
    one = [dict(r, b=0) for r in rows]
    return {
        "missing column": (_write(tmp_path / "m.csv", rows, [h for h in rows[0] if h != "valid"]), "valid"),
        "non-numeric": (_write(tmp_path / "n.csv", text), "high"),
        "NaN metric": (_write(tmp_path / "nan.csv", nan), "nan"),
        "duplicate architecture": (_write(tmp_path / "d.csv", dup), "appears twice"),
        "duplicated column": (_write(tmp_path / "dc.csv", rows, list(rows[0]) + ["valid"]), "valid"),
        "empty": (_write(tmp_path / "e.csv", [], list(rows[0])), "empty"),
        "one choice": (_write(tmp_path / "o.csv", one), "b"),
        "binary garbage": (_garbage(tmp_path / "g.csv"), "g.csv: cannot read as CSV"),
    }


def _garbage(path):
    path.write_bytes(bytes(range(256)) * 4)
    return str(path)


def test_bad_tables_give_one_line_and_no_output(tmp_path, capsys):
    for what, (path, word) in _bad_tables(tmp_path).items():
        out = tmp_path / f"out_{what.replace(' ', '_')}"
        extra = ["--decisions", "a,b,c"] if what == "one choice" else []
        assert _search(path, out, *extra, method="random") == 2, what
        err = capsys.readouterr().err.strip()
        assert err.startswith("l2nas: error:") and len(err.splitlines()) == 1 and word in err, (what, err)
        assert not out.exists(), what


def test_impossible_budget_and_misplaced_options(table, tmp_path, capsys):
    assert _search(table, tmp_path / "x", "--max", "latency=0.1", method="random") == 2
    assert "latency" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert main(["search", "--search-metric", "valid", "--out", str(tmp_path / "y")]) == 2
    assert "only apply to --space table" in capsys.readouterr().err
    assert main(["search", "--space", "table", "--out", str(tmp_path / "z")]) == 2
    assert "--table FILE and --search-metric COLUMN" in capsys.readouterr().err


#: Both transfer tests below search the same values (source: the "valid" column, target: 100 - it) with the same
#: budget and config, so they compile the same programs: the second loads them from the session's compilation cache.
TRANSFER_BUDGET = ["--queries-from", "12", "--queries-to", "6", "--seeds", "2", "--budgets", "3,6"]


@pytest.mark.slow
def test_transfer_between_two_datasets_of_one_table(tmp_path, capsys):
    rows = [{**{k: r[k] for k in ("a", "b", "c")}, "d1_acc": r["valid"], "d2_acc": round(100 - r["valid"], 3)}
            for r in _rows()]  # two datasets whose rankings are reversed
    path = _write(tmp_path / "two.csv", rows)
    out = tmp_path / "tr"
    rc = main(["transfer", "--space", "table", "--table", path, "--search-metric", "{dataset}_acc",
               "--from", "d1", "--to", "d2", *TRANSFER_BUDGET, "--no-progress", "--out", str(out), *TINY])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    data = json.loads((out / "transfer.json").read_text())
    assert data["from"] == "d1" and data["to"] == "d2"
    assert max(r["d2_acc"] for r in rows) == pytest.approx(data["optimum"], abs=1e-3)
    rc = main(["transfer", "--space", "table", "--table", path, "--search-metric", "{dataset}_acc",
               "--from", "d1", "--to", "d1", "--no-progress", "--out", str(tmp_path / "same")])
    assert rc == 2 and "both 'd1'" in capsys.readouterr().err


@pytest.mark.slow
def test_transfer_between_two_table_files_of_one_space(tmp_path, capsys):
    """--to-table: the same decisions measured twice (the second table's ranking reversed); the same dataset name
    is allowed across two files, the target's optimum is the second file's; differing decisions are refused."""
    rows = _rows()
    first = _write(tmp_path / "first.csv", [{**{k: r[k] for k in ("a", "b", "c")}, "acc": r["valid"]} for r in rows])
    second_rows = [{**{k: r[k] for k in ("a", "b", "c")}, "acc": round(100 - r["valid"], 3)} for r in rows]
    second = _write(tmp_path / "second.csv", second_rows)
    common = ["transfer", "--space", "table", "--search-metric", "acc", "--from", "t", "--to", "t", *TRANSFER_BUDGET,
              "--no-progress", *TINY]
    out = tmp_path / "tr"
    rc = main([*common, "--table", first, "--to-table", second, "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    data = json.loads((out / "transfer.json").read_text())
    assert max(r["acc"] for r in second_rows) == pytest.approx(data["optimum"], abs=1e-3)
    assert data["source"]["optimum"] == pytest.approx(max(r["valid"] for r in rows), abs=1e-3)
    assert data["tables"] == {"from": first, "to": second} and "Tables: " in (out / "transfer.md").read_text()
    # one file twice: the source would evaluate the target itself
    assert main([*common, "--table", first, "--to-table", first, "--out", str(tmp_path / "same")]) == 2
    assert "both 'first'" in capsys.readouterr().err and not (tmp_path / "same").exists()  # a one-dataset table: its stem
    other = _write(tmp_path / "other.csv", [{"a": r["a"], "b": r["b"], "e": r["c"], "acc": r["valid"]} for r in rows])
    assert main([*common, "--table", first, "--to-table", other, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "decisions differ" in err and "e: 1" in err, err
