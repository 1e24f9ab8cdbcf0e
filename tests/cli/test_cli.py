"""The CLI end to end in a temporary directory, and its one-line errors."""

import json

import pytest

from l2nas_jax.cli import main
from l2nas_jax.cli.common import parse_budgets
from l2nas_jax.core.compile_cache import count_compilations
from l2nas_jax.runspec import RunSpec

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_search_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["search", "--queries", "30", "--seeds", "2", "--out", str(out), "--no-progress",
               "--set", "actor_hidden=16,16", "--set", "critic_hidden=16,16", "--set", "batch_size=8"])
    assert rc == 0
    data = json.loads((out / "results.json").read_text())
    assert data["num_seeds"] == 2 and data["queries"] == 30 and len(data["runs"]) == 2
    assert data["config"]["actor_hidden"] == [16, 16]
    spec = RunSpec.load(out / "run.json")  # the run as it was asked for, next to its results
    assert spec.queries == 30 and spec.seeds == 2 and spec.config.actor_hidden == (16, 16) and spec.checkpoint_every == 0
    assert json.loads((out / "run.json").read_text()) == spec.to_json()
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
        (["--seeds", "0"], "--seeds must be a positive integer"),
        (["--seed", "-1"], "--seed must be a non-negative integer"),
        (["--seed", str(2**63)], "--seed must be a non-negative integer <= 4294967295"),
        (["--checkpoint-every", "-5"], "--checkpoint-every must be a non-negative integer"),
        (["--supernet-images", "0"], "--supernet-images must be a positive integer"),
        (["--set", "actor_lr=inf"], "l2nas config actor_lr must be a finite number, got inf"),
        (["--set", "bogus=1"], "unknown l2nas config key 'bogus'"),
        (["--set", "tau=2"], "invalid L2NAS config value"),
        (["--set", "tau=abc"], "expected a float"),
        (["--method", "bayesopt"], "unknown method 'bayesopt'"),
        (["--table", "missing.csv"], "not found"),
        (["--noise-sigma", "nan"], "--noise-sigma must be a finite number >= 0"),
        (["--noise-sigma", "1", "--predictor", "p.npz"], "--noise-sigma has no effect on a predictor"),
        (["--max-macs", "inf"], "--max-macs: cannot parse 'inf'"),
    ],
)
def test_bad_input_gives_one_line_error(tmp_path, capsys, args, message):
    rc = main(["search", "--out", str(tmp_path / "o"), "--no-progress", "--queries", "5", *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.count("\n") == 0 and err.startswith("l2nas: error:") and message in err, err


@pytest.mark.parametrize("config, message", [
    ({"tau": "0.9"}, "l2nas config tau must be a finite number, got '0.9'"),
    ({"batch_size": 8.0}, "l2nas config batch_size must be an integer, got 8.0"),
    ({"avoid_repeats": "yes"}, "l2nas config avoid_repeats must be true or false"),
    ({"actor_hidden": 16}, "l2nas config actor_hidden must be a list"),
    ({"bogus": 1}, "unknown l2nas config key(s): bogus"),
])
def test_bad_config_file_gives_one_line_error(tmp_path, capsys, config, message):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(config))
    rc = main(["search", "--out", str(tmp_path / "o"), "--no-progress", "--queries", "5", "--config", str(path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.count("\n") == 0 and f"config file {path}: " in err and message in err, err
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_budget_lists_are_positive_integers():
    assert parse_budgets("50, 100,200") == (50, 100, 200)
    for bad in ("10,0", "10,x", "-5", "1.5"):
        with pytest.raises(ValueError, match=r"^budgets must be positive comma-separated integers, got "):
            parse_budgets(bad)


def _fake_supernet_dir(path):
    """A supernet run directory's supernet.json only (the dataset is checked before anything is loaded)."""
    path.mkdir()
    (path / "supernet.json").write_text(json.dumps({
        "space": "nb201", "net": {"channels": 4, "layers": 1, "num_classes": 4}, "seed": 0, "train_config": {},
        "dataset": {"name": "synthetic", "num_classes": 4, "image_size": 8, "train": 192, "heldout": 64}}))
    return path


def test_supernet_search_refuses_another_dataset(tmp_path, capsys):
    sn = _fake_supernet_dir(tmp_path / "sn")
    rc = main(["search", "--supernet", str(sn), "--dataset", "cifar100", "--out", str(tmp_path / "o"),
               "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0, err
    assert f"{sn} holds a supernet trained on synthetic, not cifar100: drop --dataset" in err
    assert not (tmp_path / "o").exists()


def test_supernet_search_without_dataset_records_the_supernets(tmp_path):
    from l2nas_jax.cli.main import build_parser
    from l2nas_jax.cli.search import spec_from_args

    sn = _fake_supernet_dir(tmp_path / "sn")
    parse = build_parser().parse_args
    assert spec_from_args(parse(["search", "--supernet", str(sn)])).dataset == "synthetic"  # not the default cifar10
    assert spec_from_args(parse(["search"])).dataset == "cifar10"


@pytest.mark.parametrize("command", ["search", "compare", "sweep", "transfer"])
def test_search_too_large_for_memory_is_refused_before_running(tmp_path, capsys, monkeypatch, command):
    from l2nas_jax import runner

    monkeypatch.setattr(runner, "available_memory", lambda: 4 * 2**30)  # the same answer on every machine
    extra = {"sweep": ["--grid", "tau=0.8,0.9", "--queries", "100000"],
             "transfer": ["--queries-from", "50000", "--queries-to", "50000"]}.get(command, ["--queries", "100000"])
    rc = main([command, "--seeds", "100000", *extra, "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0, err
    seeds = 200000 if command == "sweep" else 100000  # a sweep runs every grid point's seeds at once
    assert err.startswith(f"l2nas: error: {seeds} seeds x 100000 queries need about ") and "more than the 4.0 GiB" in err
    assert "pass fewer --seeds" in err and "fewer --queries" in err
    assert not (tmp_path / "o").exists()  # refused before --out was touched (nothing compiled or allocated)


@pytest.mark.parametrize("command", [["search", "--queries", "5"], ["compare", "--methods", "random", "--queries", "5"],
                                     ["sweep", "--grid", "tau=0.8", "--queries", "5"],
                                     ["transfer", "--queries-from", "5", "--queries-to", "5"]])
def test_an_out_that_cannot_be_created_is_refused_before_anything_runs(tmp_path, capsys, command):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with count_compilations() as count:
        rc = main([*command, "--out", str(blocker / "run"), "--no-progress", "--seeds", "1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0, err
    assert err.startswith("l2nas: error: --out ") and "cannot create or write into this directory" in err, err
    assert count.compiled == 0, "refused only after compiling"
    assert blocker.read_text() == "not a directory"
