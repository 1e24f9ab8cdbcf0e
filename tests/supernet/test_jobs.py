"""The typed jobs behind train/supernet.py and train/evaluate.py, and the space knowledge they read.

Nothing here compiles a network: job configs validate with one-line errors, the scripts map
every flag onto a job field, each space's protocol and network plan come from the registry
(``Space.evaluation``), and a space the library has never heard of by name works through the
same generic code.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from l2nas_jax.spaces import get_space, register_space, space_names, unregister_space
from l2nas_jax.spaces.base import NetOptions, TrainProtocol
from l2nas_jax.supernet.evaluate_job import (
    EvaluateJob,
    evaluation_spaces,
    net_options,
    protocols_help,
    resolve_protocol,
    train_and_evaluate,
    train_config,
)
from l2nas_jax.supernet.fixed_net import build_fixed_network, costs
from l2nas_jax.supernet.genotype import resolve_genotype
from l2nas_jax.supernet.supernet_job import SupernetJob, train_supernet

ROOT = Path(__file__).resolve().parents[2]
NB201_RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"train_{name}_jobs_test", ROOT / "train" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def toy_spaces():
    """Two copies of NB201 under new names: one that can be trained from scratch, one without networks."""
    nb201 = get_space("nb201")
    register_space("toy_cells", lambda: dataclasses.replace(nb201, name="toy_cells"))
    register_space("toy_table", lambda: dataclasses.replace(nb201, name="toy_table", nets_module=None,
                                                            evaluation=None))
    yield
    unregister_space("toy_cells")
    unregister_space("toy_table")


# ----------------------------------------------------------------------------------------- space knowledge


@pytest.mark.parametrize("name", ["nb201", "darts", "ofa"])
def test_each_builtin_space_carries_its_protocol(name):
    evaluation = get_space(name).evaluation
    assert isinstance(evaluation.protocol, TrainProtocol) and evaluation.protocol.source
    assert evaluation.protocol.epochs > 0 and evaluation.protocol.batch_size > 0
    assert name in protocols_help() and evaluation.about in " ".join(protocols_help().split())
    job = EvaluateJob(space=name, genotype="x", out="unused")
    protocol, overrides = resolve_protocol(job)
    assert protocol == evaluation.protocol and overrides == {}
    config = train_config(job, protocol)  # every optimisation value reaches the trainer
    for key in ("epochs", "batch_size", "lr", "lr_min", "momentum", "nesterov", "weight_decay", "grad_clip",
                "cutout", "aux_weight", "label_smoothing"):
        assert getattr(config, key) == getattr(protocol, key), key
    options = net_options(job, protocol)
    assert (options.drop_path, options.drop_path_schedule, options.dropout) == (
        protocol.drop_path, protocol.drop_path_schedule, protocol.dropout)


def test_standard_networks_come_from_the_space_plans():
    darts_arch, _, _ = resolve_genotype("darts", "DARTS_V2")
    plan = get_space("darts").evaluation.plan(darts_arch, NetOptions(drop_path=0.2, drop_path_schedule="linear"), 10)
    assert (plan.config["C"], plan.config["layers"], plan.config["auxiliary"]) == (36, 20, True)
    assert plan.drop_path_ramp == 0.2 and plan.kwargs["drop_path"] == 0.0  # the wrapper ramps it, not the net
    constant = get_space("darts").evaluation.plan(darts_arch, NetOptions(drop_path=0.2), 10)
    assert constant.drop_path_ramp == 0.0 and constant.kwargs["drop_path"] == 0.2
    nb_arch, _, _ = resolve_genotype("nb201", NB201_RESNET)
    plan = get_space("nb201").evaluation.plan(nb_arch, NetOptions(), 100)
    assert plan.config == {"network": "TinyNetwork", "C": 16, "N": 5, "num_classes": 100}
    assert plan.resolution is None and plan.drop_path_ramp == 0.0


def test_script_space_choices_come_from_the_registry(toy_spaces):
    assert evaluation_spaces() == tuple(n for n in space_names() if n not in ("toy_table", "table"))
    assert set(evaluation_spaces()) >= {"nb201", "darts", "ofa", "toy_cells"}
    supernet_choices = next(a.choices for a in _script("supernet").build_parser()._actions if a.dest == "space")
    evaluate_choices = next(a.choices for a in _script("evaluate").build_parser()._actions if a.dest == "space")
    assert tuple(supernet_choices) == space_names() and tuple(evaluate_choices) == evaluation_spaces()
    with pytest.raises(ValueError, match=r"^--space 'toy_table' cannot be trained from scratch; valid: nb201, "):
        EvaluateJob(space="toy_table", genotype="x", out="x")
    with pytest.raises(ValueError, match="^the toy_table space has no networks, so no supernet to train"):
        train_supernet(SupernetJob(space="toy_table", epochs=1, out="/nonexistent/never_written", dataset="synthetic"))


def test_a_registered_space_goes_through_the_generic_code(toy_spaces, tmp_path):
    arch, canonical, source = resolve_genotype("toy_cells", NB201_RESNET)
    assert canonical == NB201_RESNET and source == {"kind": "string"}
    model, net = build_fixed_network("toy_cells", arch, num_classes=10, options=NetOptions())
    assert costs("toy_cells", arch, model, net, 32)["match"] is True
    summary = train_and_evaluate(EvaluateJob(space="toy_cells", genotype=NB201_RESNET, out=str(tmp_path),
                                             dry_run=True)).summary
    assert summary["space"] == "toy_cells" and summary["cost"]["model"]["params"] == 559_386
    assert json.loads((tmp_path / "evaluate.json").read_text())["arch"] == NB201_RESNET


# ----------------------------------------------------------------------------------------- job configs


@pytest.mark.parametrize("kwargs,message", [
    ({"epochs": 0}, "--epochs must be positive, got 0"),
    ({"batch_size": -1}, "--batch-size must be positive, got -1"),
    ({"channels": 0}, "--channels must be positive, got 0"),
    ({"eval_every": -1}, "--eval-every must be >= 0, got -1"),
    ({"eval_batch_size": 0}, "--eval-batch-size must be positive, got 0"),
    ({"heldout": -3}, "--heldout must be >= 0, got -3"),
    ({"dataset": "mnist"}, "--dataset 'mnist' is unknown; valid: cifar10, cifar100, imagenet16-120, synthetic"),
    ({"space": "nope"}, "--space 'nope' cannot be trained from scratch; valid: nb201, darts, ofa"),
])
def test_evaluate_job_rejects_bad_values_in_one_line(kwargs, message):
    with pytest.raises(ValueError) as info:
        EvaluateJob(**{"space": "nb201", "genotype": NB201_RESNET, "out": "x", **kwargs})
    assert str(info.value) == message


@pytest.mark.parametrize("kwargs,message", [
    ({"epochs": 0}, "--epochs must be positive, got 0"),
    ({"synthetic_classes": 1}, None),  # accepted by the job; the generated dataset refuses it
    ({"checkpoint_every": -1}, "--checkpoint-every must be >= 0, got -1"),
    ({"eval_archs": -2}, "--eval-archs must be >= 0, got -2"),
    ({"layers": 0}, "--layers must be positive, got 0"),
    ({"dataset": "imagenet"}, "--dataset 'imagenet' is unknown; valid: cifar10, cifar100, imagenet16-120, synthetic"),
    ({"space": "nope"}, "unknown search space 'nope'; valid: nb201, darts, ofa, table"),
])
def test_supernet_job_rejects_bad_values_in_one_line(kwargs, message):
    if message is None:
        SupernetJob(**{"space": "nb201", "epochs": 1, "out": "x", **kwargs})
        return
    with pytest.raises(ValueError) as info:
        SupernetJob(**{"space": "nb201", "epochs": 1, "out": "x", **kwargs})
    assert str(info.value) == message


def test_net_options_reject_bad_values_in_one_line():
    with pytest.raises(ValueError, match=r"^--drop-path must lie in \[0, 1\), got 1.0$"):
        NetOptions(drop_path=1.0)
    with pytest.raises(ValueError, match="^--drop-path-schedule must be linear or constant, got 'cosine'$"):
        NetOptions(drop_path_schedule="cosine")
    with pytest.raises(ValueError, match="^--resolution must be positive, got 0$"):
        NetOptions(resolution=0)
    arch = get_space("ofa").evaluation.parse("r160 d=2,2,2,2,2 | k3e3 k3e3 - - | k3e3 k3e3 - - | k3e3 k3e3 - - | "
                                             "k3e3 k3e3 - - | k3e3 k3e3 - -")[0]
    with pytest.raises(ValueError, match="^--resolution must be >= 32 for OFA"):
        get_space("ofa").evaluation.plan(arch, NetOptions(resolution=16), 10)


def test_scripts_map_every_flag_onto_a_job_field():
    sn = _script("supernet")
    job = sn.make_job(sn.build_parser().parse_args(
        ["--space", "darts", "--epochs", "5", "--out", "o", "--lr", "0.1", "--no-progress", "--max-steps", "9",
         "--distributed"]))
    assert (job.space, job.epochs, job.lr, job.progress, job.max_steps) == ("darts", 5, 0.1, False, 9)
    config = job.train_config()
    assert (config.lr, config.epochs, config.batch_size, config.cutout) == (0.1, 5, 64, 16)
    ev = _script("evaluate")
    job = ev.make_job(ev.build_parser().parse_args(
        ["--space", "ofa", "--genotype", "g", "--out", "o", "--base-widths", "8,8", "--heldout", "0.5",
         "--no-nesterov", "--no-auxiliary", "--dry-run"]))
    assert (job.base_widths, job.heldout, job.nesterov, job.auxiliary, job.dry_run) == ((8, 8), 0.5, False, False, True)
    assert job.command.startswith("python train/evaluate.py")


def test_dry_run_counts_without_data_or_training(tmp_path):
    summary, fit, _ = train_and_evaluate(EvaluateJob(space="darts", genotype="DARTS_V2", out=str(tmp_path),
                                                     dry_run=True, epochs=3, channels=4, layers=3))
    assert fit is None and summary["dry_run"] is True
    assert summary["cost"]["match"] is True and summary["cost"]["model"]["params"] == summary["cost"]["analytic"]["params"]
    assert summary["protocol"]["overrides"] == {"epochs": 3} and summary["protocol"]["epochs"] == 3
    assert summary["net"]["drop_path_schedule"] == "linear" and (summary["net"]["C"], summary["net"]["layers"]) == (4, 3)
    assert summary["arch_source"] == {"kind": "named", "name": "DARTS_V2"} and summary["reference"] is None
    assert (tmp_path / "arch.txt").read_text().strip() == summary["arch"]
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "metrics.jsonl").exists()


def test_cost_summary_never_prints_none():
    """A reduced network the analytic counter does not cover: 'analytic n/a: why', not 'analytic None'."""
    from l2nas_jax.supernet.evaluate_job import cost_summary

    model = {"params": 1234567, "macs": 98_700_000}
    covered = cost_summary({"analytic": {"params": 1234567, "macs": 98_700_000}, "model": model})
    assert covered == "params 1,234,567 (analytic 1,234,567), MACs 98.70M"
    uncovered = cost_summary({"analytic": {"params": None, "macs": None, "note": "covers C=16 only"},
                              "model": model})
    assert uncovered == "params 1,234,567 (analytic n/a: covers C=16 only), MACs 98.70M"
    assert "None" not in cost_summary({"analytic": {"params": None}, "model": model})
