"""Hardware-specific space reduction: dominated choices dropped (and only those), searches stay inside."""

import jax
import numpy as np
import pytest

from l2nas_jax.api import build_env, env_run_spec, run_method, spec_env
from l2nas_jax.cli import main
from l2nas_jax.envs import reduced
from l2nas_jax.latency import model as lm, reduce as reduce_lib
from l2nas_jax.spaces import get_space

NB201 = get_space("nb201")


def test_only_dominated_choices_are_dropped():
    lat = np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]])
    acc = np.array([[0.0, 2.0, 1.0, 3.0],  # choice 2 is slower than 1 and less accurate: dropped
                    [3.0, 2.0, 1.0, 0.0]])  # choice 0 dominates all: but two choices stay
    keep = reduce_lib.reduce_choices(lat, acc)
    assert keep[0].tolist() == [True, True, False, True]
    assert keep[1].sum() == reduce_lib.MIN_KEEP and keep[1, 0]
    assert keep[1].tolist() == [True, True, False, False]  # the least dominated of the rest survives
    assert reduce_lib.dropped(keep) == ["decision 0: choice 2", "decision 1: choice 2", "decision 1: choice 3"]
    names = [[f"d{d}c{c}" for c in range(4)] for d in range(2)]
    assert reduce_lib.dropped(keep, names) == ["d0c2", "d1c2", "d1c3"]
    # a trade-off (slower but more accurate) is never dropped
    assert reduce_lib.reduce_choices(lat[:1], np.array([[0.0, 1.0, 2.0, 3.0]])).all()


def test_choice_accuracy_recovers_additive_contributions():
    archs = np.asarray(NB201.enumerate_archs())
    enc = np.asarray(jax.vmap(lambda a: NB201.encode(a).reshape(-1))(archs))
    true = np.random.default_rng(0).normal(size=(6, 5))
    acc = enc @ true.reshape(-1)
    est = reduce_lib.choice_accuracy(enc, acc, (6, 5))
    np.testing.assert_allclose(est, true - true.mean(1, keepdims=True), atol=1e-3)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A made-up device where average pooling is the slowest op on every edge (so it is dominated)."""
    op_ms = np.array([0.0, 0.1, 0.5, 1.0, 2.0])  # none, skip, conv1x1, conv3x3, pool
    archs = np.asarray(jax.vmap(NB201.random_arch)(jax.random.split(jax.random.key(0), 120)))
    recs = [{"arch": NB201.to_string(a), "median_ms": 1.0 + float(np.bincount(a, minlength=5) @ op_ms)} for a in archs]
    path = tmp_path_factory.mktemp("reduce") / "model.npz"
    lm.save_model(lm.fit(NB201, recs, correction=False), path)
    return path


@pytest.mark.slow
def test_reduced_search_stays_inside_and_its_optimum_is_exact(model_file):
    env = build_env("nb201", "cifar100", latency_model=model_file, reduce_space="cifar10")
    assert any("avg_pool_3x3" in d for d in env.dropped_choices)  # slowest everywhere, rarely the most accurate
    keep = np.asarray(env.inner.keep)
    archs = np.asarray(NB201.enumerate_archs())
    inside = np.array([keep[np.arange(6), a].all() for a in archs])
    acc = np.asarray(jax.vmap(build_env("nb201", "cifar100").report)(NB201.enumerate_archs()))
    assert env.optimum_exact and env.num_feasible == int(inside.sum()) < len(archs)
    assert float(env.optimum) == pytest.approx(float(acc[inside].max()))
    # what a run records says which space it searched (a resume from the record rebuilds the same reduced space)
    spec = env_run_spec(env, method="rea", queries=40)
    assert spec.reduce_space == "cifar10"
    again = spec_env(spec)
    np.testing.assert_array_equal(np.asarray(again.inner.keep), keep)
    assert again.num_feasible == env.num_feasible and float(again.optimum) == float(env.optimum)
    assert env_run_spec(build_env("nb201", "cifar100", latency_model=model_file), queries=40).reduce_space is None
    for method in ("l2nas", "rea"):
        r = run_method(env, method, queries=40, seeds=2, seed=3)
        queried = np.asarray(r.trajectory.archs).reshape(-1, 6)
        # every proposal lands inside: random draws and mutations are projected, the actor's logits masked
        assert all(keep[np.arange(6), a].all() for a in queried), method
        for a in r.best_archs:
            assert keep[np.arange(6), NB201.from_string(a)].all(), (method, a)
    # the actor's continuous proposals are projected inside: masked logits never win
    alpha = np.zeros((6, 5), np.float32)
    alpha[:, 4] = 10.0  # the actor wants pooling on every edge
    arch = np.asarray(env.discretize(alpha))
    assert keep[np.arange(6), arch].all()


@pytest.mark.slow
def test_reduce_space_cli(model_file, tmp_path, capsys):
    rc = main(["search", "--latency-model", str(model_file), "--reduce-space", "cifar10", "--dataset", "cifar100",
               "--queries", "30", "--seeds", "2", "--out", str(tmp_path / "r"), "--no-progress"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "reduced space:" in out.out and "dropped as slower on this machine" in out.out
    assert "edge 0->1: avg_pool_3x3" in out.out
    rc = main(["search", "--reduce-space", "--queries", "30", "--seeds", "2", "--out", str(tmp_path / "s"),
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "needs --latency-model FILE" in err


def test_keep_mask_is_checked():
    env = build_env("nb201", "cifar10")
    with pytest.raises(ValueError, match=r"must have shape \(6, 5\)"):
        reduced.reduce(env, np.ones((5, 5), bool))
    bad = np.ones((6, 5), bool)
    bad[2] = False
    with pytest.raises(ValueError, match="keep at least one choice of every decision"):
        reduced.reduce(env, bad)
