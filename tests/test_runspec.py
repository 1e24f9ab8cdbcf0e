"""RunSpec: one typed description of a search run, validated once, with an exact JSON round trip."""

import dataclasses
import json
import math

import numpy as np
import pytest

import l2nas_jax
from l2nas_jax import api
from l2nas_jax.agent.search import L2NASConfig
from l2nas_jax.baselines.evolution import REAConfig
from l2nas_jax.runspec import MAX_SEED, RunSpec

FULL = RunSpec(space="nb201", dataset="cifar100", method="rea", config={"population": 7}, queries=300, seeds=4,
               seed=MAX_SEED, table="tables/nb201.npz", noise_sigma=0.25, max_params="0.6M", max_macs=9e7,
               free_repeats=True, checkpoint_every=50)


@pytest.mark.parametrize("spec", [
    RunSpec(),
    FULL,
    RunSpec(method="l2nas", config=L2NASConfig(actor_hidden=(16, 8), tau=0.8), pareto=True, lambda_range=(0.1, 3)),
    RunSpec(space="darts", dataset="", supernet="runs/supernet", supernet_images=None, data_dir="/data"),
    RunSpec(method="reinforce", predictor="p.npz", max_macs="600M"),
])
def test_json_round_trip_is_exact(spec):
    text = json.dumps(spec.to_json())
    back = RunSpec.from_json(json.loads(text))
    assert back == spec and json.dumps(back.to_json()) == text
    assert hash(back) == hash(spec)


def test_file_round_trip(tmp_path):
    FULL.save(tmp_path / "run.json")
    assert RunSpec.load(tmp_path / "run.json") == FULL
    assert json.loads((tmp_path / "run.json").read_text())["kind"] == "l2nas-search-run"


def test_values_are_normalized_once():
    s = RunSpec(config={"actor_hidden": [16, 16], "tau": 1 / 2, "actor_lr": 1}, queries=np.int64(40),
                seed=np.int32(3), noise_sigma=1, pareto=True)
    assert s.config == L2NASConfig(actor_hidden=(16, 16), tau=0.5, actor_lr=1.0)
    assert type(s.config.actor_lr) is float and type(s.queries) is int and type(s.seed) is int
    assert s.noise_sigma == 1.0 and type(s.noise_sigma) is float
    assert s.lambda_range == (0.05, 10.0)  # the default range is recorded, not implied
    assert RunSpec(config=None) == RunSpec(config={}) == RunSpec(config=L2NASConfig())


@pytest.mark.parametrize("fields, message", [
    ({"config": {"actor_lr": math.inf}}, "l2nas config actor_lr must be a finite number, got inf"),
    ({"config": {"tau": "0.9"}}, "l2nas config tau must be a finite number, got '0.9'"),
    ({"config": {"batch_size": "8"}}, "l2nas config batch_size must be an integer, got '8'"),
    ({"config": {"avoid_repeats": 1}}, "l2nas config avoid_repeats must be true or false, got 1"),
    ({"config": {"actor_hidden": [16, 2.5]}}, "l2nas config actor_hidden[1] must be an integer, got 2.5"),
    ({"config": {"bogus": 1}}, "unknown l2nas config key(s): bogus; valid: "),
    ({"config": {"tau": 1.5}}, "invalid L2NAS config value(s): tau=1.5"),
    ({"method": "rea", "config": L2NASConfig()}, "config is a L2NASConfig, but method rea takes a REAConfig"),
    ({"config": [1, 2]}, "config must be a L2NASConfig, a dict of overrides or None"),
    ({"seeds": -2}, "seeds must be a positive integer, got -2"),
    ({"seeds": 0}, "seeds must be a positive integer, got 0"),
    ({"seed": -1}, "seed must be a non-negative integer <= 4294967295, got -1"),
    ({"seed": 2**63}, "seed must be a non-negative integer <= 4294967295, got 9223372036854775808"),
    ({"queries": 0}, "queries must be a positive integer"),
    ({"queries": "100"}, "queries must be a positive integer <= 2147483647, got '100'"),
    ({"queries": 2**31}, "queries must be a positive integer <= 2147483647"),
    ({"noise_sigma": math.nan}, "noise_sigma must be a finite number >= 0, got nan"),
    ({"noise_sigma": "0.5"}, "noise_sigma must be a finite number >= 0, got '0.5'"),
    ({"pareto": "yes"}, "pareto must be true or false, got 'yes'"),
    ({"free_repeats": 0}, "free_repeats must be true or false, got 0"),
    ({"checkpoint_every": -1}, "checkpoint_every must be a non-negative integer, got -1"),
    ({"supernet_images": 0}, "supernet_images must be a positive integer, got 0"),
    ({"space": "nasbench101"}, "unknown search space 'nasbench101'"),
    ({"method": "bayesopt"}, "unknown method 'bayesopt'"),
    ({"max_params": "lots"}, "max_params: cannot parse 'lots'"),
    ({"max_macs": math.inf}, "max_macs must be a finite number > 0, got inf"),
    ({"pareto": True, "max_params": "0.6M"}, "pareto cannot be combined with max_params/max_macs"),
    ({"lambda_range": (0.1, 1.0)}, "lambda_range only applies to a pareto search"),
    ({"pareto": True, "lambda_range": (2.0, 1.0)}, "lambda_range must have lo <= hi"),
    ({"pareto": True, "lambda_range": (0.0, 1.0)}, "lambda_range[0] must be a finite number > 0, got 0.0"),
    ({"supernet": "run", "table": "t.csv"}, "supernet evaluates architectures itself; drop table/noise_sigma/predictor"),
    ({"predictor": "p.npz", "noise_sigma": 0.5}, "noise_sigma has no effect on a predictor"),
    ({"noise_model": "laplace", "noise_sigma": 0.5}, "noise_model must be one of gaussian, hetero"),
    ({"noise_model": "hetero"}, "noise_model hetero scales the noise: give noise_sigma > 0"),
    ({"incumbent": "last"}, "incumbent must be one of denoised, observed"),
    ({"reevaluate": 1}, "reevaluate must be 0 (off) or >= 2"),
    ({"reevaluate": -4}, "reevaluate must be a non-negative integer, got -4"),
    ({"reevaluate": 4, "free_repeats": True}, "reevaluate measures architectures again, free_repeats serves"),
    ({"reevaluate": 4, "pareto": True}, "reevaluate is not supported with pareto"),
])
def test_bad_values_are_refused_in_one_line(fields, message):
    with pytest.raises(ValueError) as e:
        RunSpec(**fields)
    assert "\n" not in str(e.value) and message in str(e.value), str(e.value)


def test_create_names_fields_by_label():
    flag = lambda f: "--" + f.replace("_", "-")  # noqa: E731
    with pytest.raises(ValueError, match="^--noise-sigma must be a finite number >= 0, got inf$"):
        RunSpec.create(flag, noise_sigma=math.inf)
    with pytest.raises(ValueError, match="^--pareto cannot be combined with --max-params/--max-macs"):
        RunSpec.create(flag, pareto=True, max_macs="600M")
    with pytest.raises(ValueError, match="unknown run spec field"):
        RunSpec.create(flag, colour="red")
    assert RunSpec.create(flag, method="rea", seeds=3) == RunSpec(method="rea", seeds=3)


@pytest.mark.parametrize("edit, message", [
    ({"kind": "l2nas-compare"}, "not an l2nas search run spec"),
    ({"version": 99}, "not an l2nas search run spec"),
    ({"colour": "red"}, "unknown run spec key(s): colour"),
    ({"config": "tiny"}, "config must be a JSON object"),
    ({"config": {"population": 7.0}}, "rea config population must be an integer, got 7.0"),
    ({"lambda_range": [1]}, "lambda_range only applies to a pareto search"),
])
def test_from_json_refuses_foreign_or_edited_objects(edit, message):
    with pytest.raises(ValueError) as e:
        RunSpec.from_json(FULL.to_json() | edit)
    assert message in str(e.value), str(e.value)
    with pytest.raises(ValueError, match="missing key"):
        RunSpec.from_json({k: v for k, v in FULL.to_json().items() if k != "queries"})


def test_a_spec_written_before_the_noise_options_reads_back_as_it_ran():
    data = RunSpec(noise_sigma=0.5).to_json()
    for key in ("noise_model", "incumbent", "reevaluate"):
        del data[key]
    old = RunSpec.from_json(data)
    assert (old.noise_model, old.incumbent, old.reevaluate) == ("gaussian", "observed", 0)  # the rule it ran with
    assert RunSpec().incumbent == "denoised"


def test_differences_name_fields_and_config_keys():
    other = dataclasses.replace(FULL, seeds=5, config=REAConfig(population=8))
    assert FULL.differences(other) == ["seeds", "config.population"]
    assert FULL.differences(FULL) == []


def test_run_spec_equals_search_and_run_method():
    spec = RunSpec(method="random", queries=20, seeds=2, seed=5, max_params="0.6M")
    via_spec = api.run_spec(spec)
    via_search = l2nas_jax.search("nb201", "cifar10", method="random", queries=20, seeds=2, seed=5, max_params="0.6M")
    env = api.spec_env(spec)
    via_method = api.run_method(env, "random", queries=20, seeds=2, seed=5)
    for r in (via_search, via_method):
        np.testing.assert_array_equal(r.trajectory.archs, via_spec.trajectory.archs)
        np.testing.assert_array_equal(r.curves, via_spec.curves)
    assert api.env_run_spec(env, method="random", queries=20, seeds=2, seed=5).max_params == "0.6M"


def test_run_method_arguments_are_checked_by_the_spec(cifar10_env):
    constrained = api.build_env("nb201", "cifar10", max_params="0.6M")
    with pytest.raises(ValueError, match="pareto cannot be combined with max_params"):
        api.run_method(constrained, "random", queries=5, pareto=True)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        api.run_method(cifar10_env, "random", queries=5, seed=-3)
    with pytest.raises(ValueError, match="l2nas config critic_lr must be a finite number"):
        api.run_method(cifar10_env, "l2nas", queries=5, config={"critic_lr": math.nan})
    with pytest.raises(ValueError, match="resume=True needs a checkpoint path"):
        api.run_method(cifar10_env, "random", queries=5, resume=True)
