"""train/evaluate.py and its library (l2nas_jax.supernet.evaluate_job): found architectures from scratch.

Tiny networks on generated data (CPU): a few epochs reduce the loss, a killed-and-resumed run
ends with the same weights as an uninterrupted one, the instantiated networks' parameter and
MAC counts equal the analytic counters (full-size nets via ``jax.eval_shape``: nothing compiled),
and search results / genotype strings / files feed ``--genotype``. Runs go through the script's
parser and ``make_job`` into the library's ``train_and_evaluate``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from l2nas_jax.spaces import get_space
from l2nas_jax.spaces.base import NetOptions
from l2nas_jax.supernet.evaluate_job import resolve_protocol, train_and_evaluate
from l2nas_jax.supernet.fixed_net import build_fixed_network, model_counts
from l2nas_jax.supernet.genotype import resolve_genotype

ROOT = Path(__file__).resolve().parents[2]
DARTS_V2_PARAMS = 3_349_342  # DARTS' count_parameters_in_MB of DARTS_V2 (3.3M in the paper), aux head excluded
DARTS_V2_MACS = 528_359_040
NB201_BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
NB201_RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
OFA_TINY = "r160 d=2,3,2,2,2 | k3e3 k5e4 - - | k3e6 k7e3 k3e4 - | k3e3 k3e3 - - | k5e3 k3e3 - - | k3e3 k3e4 - -"
OFA_595M = {"ks": [3, 5, 3, 3, 5, 5, 3, 5, 7, 5, 3, 5, 3, 5, 7, 3, 3, 3, 5, 3],
            "e": [3, 4, 3, 3, 4, 4, 6, 3, 6, 6, 3, 4, 6, 6, 6, 4, 6, 6, 6, 3], "d": [3, 4, 4, 4, 4], "r": 236}


def _load_evaluate():
    spec = importlib.util.spec_from_file_location("train_evaluate", ROOT / "train" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


ev = _load_evaluate()


def _job(*argv: str):
    """The EvaluateJob that ``python train/evaluate.py ARGV`` runs."""
    return ev.make_job(ev.build_parser().parse_args(list(argv)))


def _analytic(space: str, arch, net: dict, image_size: int) -> dict:
    return get_space(space).evaluation.counts(arch, net, image_size)


def _metrics(out: Path) -> list[dict]:
    return [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines() if ln.strip()]


def _tree_equal(a, b) -> bool:
    la, lb = jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b))
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


# ----------------------------------------------------------------------------------------- counts


@pytest.mark.slow
def test_darts_v2_full_size_counts_match_published_and_analytic_counter():
    arch, _, _ = resolve_genotype("darts", "DARTS_V2")
    model, cfg = build_fixed_network("darts", arch, num_classes=10, options=NetOptions(drop_path=0.2,
                                                                                    drop_path_schedule="linear"))
    counted = model_counts(model, 32)
    analytic = _analytic("darts", arch, cfg, 32)
    assert counted["params"] == analytic["params"] == DARTS_V2_PARAMS
    assert counted["macs"] == analytic["macs"] == DARTS_V2_MACS
    assert counted["params_total"] > counted["params"]  # the auxiliary head exists, and is excluded


def test_nb201_full_size_counts_match_nb201_cost():
    from l2nas_jax.spaces.nb201.cost import nb201_cost

    for arch_string, params_m, flops_m in ((NB201_RESNET, 0.559386, 78.56193),):  # NB201 API figures; has 'none' edges
        arch, _, _ = resolve_genotype("nb201", arch_string)
        model, cfg = build_fixed_network("nb201", arch, num_classes=10, options=NetOptions())
        counted = model_counts(model, 32)
        analytic = _analytic("nb201", arch, cfg, 32)
        assert counted["params"] == analytic["params"] == round(params_m * 1e6)
        assert counted["macs"] == analytic["macs"]
        assert analytic["flops_autodl"] == round(flops_m * 1e6)  # the benchmark's published cost
        p, f = nb201_cost(arch, "cifar10")
        assert abs(float(p) * 1e6 - counted["params"]) < 1 and abs(float(f) * 1e6 - analytic["flops_autodl"]) < 64


@pytest.mark.slow
def test_ofa_full_size_counts_match_ofa_cost():
    from l2nas_jax.spaces.ofa import codec as ofa_codec
    from l2nas_jax.spaces.ofa import cost as ofa_cost

    # OFA's published flops@595M net (w1.2, r=236, 1000 classes): 595.19M MACs, 9.136M params.
    cfg595 = ofa_codec.as_config(OFA_595M)
    model, net = build_fixed_network("ofa", cfg595, num_classes=1000, options=NetOptions(width=1.2))
    counted = model_counts(model, 32)  # 32 px inputs are resized to r=236 inside the model
    analytic = _analytic("ofa", cfg595, net, 32)
    assert (counted["params"], counted["macs"]) == (analytic["params"], analytic["macs"])
    assert round(counted["params"] / 1e6, 3) == 9.136 and round(counted["macs"] / 1e6, 2) == 595.19
    p, m = ofa_cost.ofa_cost(cfg595, width=1.2, num_classes=1000)
    assert abs(float(p) * 1e6 - counted["params"]) < 2 and abs(float(m) * 1e6 - counted["macs"]) < 200
    # (the tiny subnet trained below is checked against the counter through evaluate.json's cost.match)


# ----------------------------------------------------------------------------------------- training

DARTS_TINY = ("--space", "darts", "--genotype", "DARTS_V2", "--dataset", "synthetic", "--synthetic-size", "48",
              "--channels", "4", "--layers", "3", "--epochs", "3", "--batch-size", "8", "--fast-compile",
              "--no-progress")


@pytest.fixture(scope="module")
def darts_runs(tmp_path_factory):
    """One uninterrupted tiny DARTS run (aux head, linear drop-path), and the same run killed + resumed."""
    full_dir, cut_dir = tmp_path_factory.mktemp("darts_full"), tmp_path_factory.mktemp("darts_cut")
    full, full_fit, _ = train_and_evaluate(_job(*DARTS_TINY, "--out", str(full_dir)))
    spe = full["steps_per_epoch"]
    cut, _, _ = train_and_evaluate(_job(*DARTS_TINY, "--out", str(cut_dir), "--max-steps", str(spe + 2)))
    resumed, resumed_fit, _ = train_and_evaluate(_job(*DARTS_TINY, "--out", str(cut_dir), "--resume"))
    return {"full": full, "full_fit": full_fit, "full_dir": full_dir, "cut": cut, "resumed": resumed,
            "resumed_fit": resumed_fit, "cut_dir": cut_dir}


@pytest.mark.slow
def test_darts_training_reduces_loss_and_writes_results(darts_runs):
    full, out = darts_runs["full"], darts_runs["full_dir"]
    losses = [r["loss"] for r in _metrics(out)]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert full["finished"] and full["step"] == 3 * full["steps_per_epoch"]
    assert full["cost"]["match"] is True and full["cost"]["model"]["params"] == full["cost"]["analytic"]["params"]
    assert full["arch_source"] == {"kind": "named", "name": "DARTS_V2"}
    assert full["protocol"]["overrides"] == {"epochs": 3, "batch_size": 8}
    assert full["protocol"]["drop_path"] == 0.2 and full["protocol"]["aux_weight"] == 0.4
    assert 0.0 <= full["final"]["heldout_acc_pct"] <= 100.0
    saved = json.loads((out / "evaluate.json").read_text())
    assert saved["arch"] == (out / "arch.txt").read_text().strip() == full["arch"]
    assert "provenance" in saved and saved["seed"] == 0
    # the drop-path schedule's step counter is part of the (checkpointed) BN-statistics state
    stats = darts_runs["full_fit"].state.batch_stats
    assert int(jax.device_get(stats["drop_path_step"])) == full["step"]


@pytest.mark.slow
def test_darts_resume_reaches_the_same_weights(darts_runs):
    cut, resumed = darts_runs["cut"], darts_runs["resumed"]
    spe = cut["steps_per_epoch"]
    assert not cut["finished"] and cut["step"] == spe + 2
    assert resumed["finished"] and resumed["resumed_from_step"] == spe  # last checkpoint: end of epoch 1
    a, b = darts_runs["full_fit"].state, darts_runs["resumed_fit"].state
    assert _tree_equal(a.params, b.params) and _tree_equal(a.batch_stats, b.batch_stats)
    assert _tree_equal(a.opt_state, b.opt_state)
    assert [r["step"] for r in _metrics(darts_runs["cut_dir"])] == [spe, 2 * spe, 3 * spe]


@pytest.mark.slow
def test_existing_checkpoints_need_resume(darts_runs, capsys):
    rc = ev.main([*DARTS_TINY, "--out", str(darts_runs["full_dir"])])
    assert rc == 2 and "--resume" in capsys.readouterr().err


@pytest.mark.slow
def test_resume_refuses_a_different_architecture(darts_runs):
    argv = list(DARTS_TINY)
    argv[argv.index("DARTS_V2")] = "DARTS_V1"
    with pytest.raises(ValueError, match="cannot resume.*arch"):
        train_and_evaluate(_job(*argv, "--out", str(darts_runs["cut_dir"]), "--resume"))


@pytest.mark.slow
def test_nb201_training_reduces_loss(tmp_path):
    summary, _, _ = train_and_evaluate(_job(
        "--space", "nb201", "--genotype", NB201_BEST, "--dataset", "synthetic", "--synthetic-size", "48",
        "--image-size", "8", "--channels", "4", "--layers", "1", "--epochs", "3", "--batch-size", "8",
        "--fast-compile", "--no-progress", "--out", str(tmp_path)))
    losses = [r["loss"] for r in _metrics(tmp_path)]
    assert losses[-1] < losses[0]
    assert summary["protocol"]["nesterov"] is True and summary["protocol"]["weight_decay"] == 5e-4
    assert summary["cost"]["analytic"]["params"] is None  # tiny net: no benchmark counter
    assert summary["reference"] is None  # synthetic data: no table accuracy to compare with


@pytest.mark.slow
def test_ofa_training_at_the_subnet_resolution_reduces_loss(tmp_path):
    summary, fit, _ = train_and_evaluate(_job(
        "--space", "ofa", "--genotype", OFA_TINY, "--resolution", "32", "--base-widths", "8,8,8,8,8,8,8,16,16",
        "--dataset", "synthetic", "--synthetic-size", "64", "--image-size", "16", "--epochs", "3",
        "--batch-size", "8", "--lr", "0.2", "--label-smoothing", "0", "--dropout", "0", "--fast-compile",
        "--no-progress", "--out", str(tmp_path)))
    losses = [r["loss"] for r in _metrics(tmp_path)]
    assert losses[-1] < losses[0]
    assert summary["net"]["resolution"] == 32 and summary["cost"]["match"] is True
    assert summary["cost"]["model"]["params"] == summary["cost"]["analytic"]["params"] > 0
    assert "drop_path_step" not in fit.state.batch_stats


# ----------------------------------------------------------------------------------------- --genotype


@pytest.mark.slow
def test_search_results_json_feeds_genotype(tmp_path, capsys):
    from l2nas_jax import api

    result = api.search("nb201", "cifar10", method="random", queries=16, seeds=3, seed=1)
    path = tmp_path / "results.json"
    result.save_json(path)
    best = int(np.argmax(result.best_report))
    arch, canonical, source = resolve_genotype("nb201", str(path))
    assert canonical == result.best_archs[best] and source["kind"] == "results.json" and source["run"] == best
    assert source["best_report"] == pytest.approx(float(result.best_report[best]))
    out = tmp_path / "eval"
    assert ev.main(["--space", "nb201", "--genotype", str(path), "--dry-run", "--out", str(out)]) == 0
    saved = json.loads((out / "evaluate.json").read_text())
    assert saved["arch"] == canonical and saved["cost"]["match"] is True
    # the embedded table's test accuracy of the cell, to compare a from-scratch run with
    assert saved["reference"]["nb201_table_test_acc_pct"] == pytest.approx(source["best_report"], abs=1e-3)
    # the evaluate.json itself is accepted too (re-train the same architecture)
    assert resolve_genotype("nb201", str(out / "evaluate.json"))[1] == canonical
    # ... but not for another space
    assert ev.main(["--space", "darts", "--genotype", str(path), "--dry-run", "--out", str(out)]) == 2
    assert "pass --space nb201" in capsys.readouterr().err


def test_darts_results_json_picks_the_best_run_and_skips_infeasible(tmp_path):
    from l2nas_jax.spaces.darts.codec import GENOTYPES, format_genotype, parse_genotype

    v1, v2 = (format_genotype(parse_genotype(GENOTYPES[n])) for n in ("DARTS_V1", "DARTS_V2"))
    obj = {"space": "darts", "method": "l2nas", "dataset": "cifar10", "runs": [
        {"run": 0, "best_arch": v1, "best_report": 61.5},
        {"run": 1, "best_arch": None, "best_report": None},
        {"run": 2, "best_arch": v2, "best_report": 62.25}]}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(obj))
    arch, canonical, source = resolve_genotype("darts", str(path))
    assert canonical == v2 and source["run"] == 2 and np.array_equal(arch, parse_genotype(v2))
    obj["runs"] = [{"run": 0, "best_arch": None, "best_report": None}]
    path.write_text(json.dumps(obj))
    with pytest.raises(ValueError, match="no run with a best_arch"):
        resolve_genotype("darts", str(path))


def test_genotype_forms_and_files(tmp_path):
    from l2nas_jax.spaces.darts.codec import GENOTYPES, format_genotype, parse_genotype

    v2 = format_genotype(parse_genotype(GENOTYPES["DARTS_V2"]))
    f = tmp_path / "g.txt"
    f.write_text("\n" + GENOTYPES["DARTS_V2"] + "\n")
    assert resolve_genotype("darts", str(f))[1] == v2
    assert resolve_genotype("darts", GENOTYPES["DARTS_V2"])[2] == {"kind": "string"}
    cfg_file = tmp_path / "subnet.json"
    cfg_file.write_text(json.dumps(OFA_595M))
    cfg, canonical, _ = resolve_genotype("ofa", str(cfg_file))
    assert cfg.r == 236 and canonical.startswith("r236 d=3,4,4,4,4")
    assert resolve_genotype("ofa", canonical)[0] == cfg  # the string form round-trips
    assert resolve_genotype("nb201", NB201_RESNET)[1] == NB201_RESNET


@pytest.mark.parametrize("space,value,message", [
    ("darts", "Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2, 3, 4, 5])", "not a valid darts architecture"),
    ("darts", "DARTS_V9", "not a valid darts architecture"),
    ("nb201", "|nor_conv_3x3~0|+|bogus~0|", "not a valid nb201 architecture"),
    ("ofa", "r160 d=2,2,2,2 | k3e3", "not a valid ofa architecture"),
    ("nb201", "runs/nowhere/results.json", "no such file"),
    ("darts", " ", "empty"),
])
def test_malformed_genotypes_give_one_line_errors(space, value, message, tmp_path, capsys):
    rc = ev.main(["--space", space, "--genotype", value, "--dry-run", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_protocol_defaults_and_overrides():
    protocol, overrides = resolve_protocol(_job("--space", "darts", "--genotype", "DARTS_V2", "--out", "x"))
    values = protocol.values()
    assert overrides == {} and protocol == get_space("darts").evaluation.protocol
    assert (values["epochs"], values["batch_size"], values["lr"], values["lr_min"], values["momentum"]) == (
        600, 96, 0.025, 0.0, 0.9)
    assert (values["weight_decay"], values["grad_clip"], values["aux_weight"], values["cutout"]) == (3e-4, 5.0, 0.4, 16)
    assert (values["drop_path"], values["drop_path_schedule"]) == (0.2, "linear")
    protocol, overrides = resolve_protocol(_job("--space", "nb201", "--genotype", NB201_BEST, "--out", "x",
                                                "--epochs", "7", "--no-nesterov", "--cutout", "8"))
    values = protocol.values()
    assert overrides == {"epochs": 7, "nesterov": False, "cutout": 8}
    assert (values["batch_size"], values["lr"], values["weight_decay"], values["epochs"]) == (256, 0.1, 5e-4, 7)
    values = resolve_protocol(_job("--space", "ofa", "--genotype", OFA_TINY, "--out", "x"))[0].values()
    assert (values["epochs"], values["lr"], values["label_smoothing"], values["dropout"]) == (150, 0.05, 0.1, 0.1)


def test_option_errors():
    arch, _, _ = resolve_genotype("nb201", NB201_BEST)
    with pytest.raises(ValueError, match="DARTS option"):
        build_fixed_network("nb201", arch, num_classes=10, options=NetOptions(drop_path=0.1))
    cfg, _, _ = resolve_genotype("ofa", OFA_TINY)
    with pytest.raises(ValueError, match="do not apply to OFA"):
        build_fixed_network("ofa", cfg, num_classes=10, options=NetOptions(channels=8))
    with pytest.raises(ValueError, match="auxiliary head needs"):
        train_and_evaluate(_job(*DARTS_TINY, "--image-size", "8", "--out", "/nonexistent/never_written"))
    with pytest.raises(ValueError, match="would blank"):  # DARTS' cutout 16 on 8 px images
        train_and_evaluate(_job(*DARTS_TINY, "--image-size", "8", "--no-auxiliary", "--out", "/nonexistent/x"))


def test_dry_run_says_what_it_did(tmp_path, capsys):
    """A dry run prints the architecture, its counts and the two files it wrote (it used to print nothing)."""
    out = tmp_path / "dry"
    assert ev.main(["--space", "nb201", "--genotype", NB201_BEST, "--dry-run", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"dry run: nb201: {NB201_BEST}\n  params ") and "nothing trained" in err
    assert f"wrote {out / 'arch.txt'}, {out / 'evaluate.json'}" in err
    assert sorted(p.name for p in out.iterdir()) == ["arch.txt", "evaluate.json"]  # no data, no checkpoints
