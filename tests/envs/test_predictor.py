"""The accuracy predictor: fitting, exact save/load, rank metrics, and searching it as an environment."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2nas_jax.api import run_method
from l2nas_jax.cli import main
from l2nas_jax.envs.predictor import (
    PredictorEnv,
    fit_predictor,
    load_predictor,
    make_predictor_env,
    predictor_env,
    rank_correlations,
    sample_training_set,
    save_predictor,
)

HIDDEN = (32, 32)


@pytest.fixture(scope="module")
def fitted(cifar10_env):
    archs, y = sample_training_set(cifar10_env, 300, jax.random.key(0))
    enc = jax.vmap(cifar10_env.encode)(archs)
    pred, metrics = fit_predictor(enc, y, jax.random.key(1), hidden=HIDDEN, steps=300, batch_size=64)
    return pred, metrics, archs, y


@pytest.mark.slow
def test_training_set_is_distinct_and_exact(cifar10_env, fitted):
    _, _, archs, y = fitted
    ids = np.asarray(jax.vmap(cifar10_env.arch_id)(archs))
    assert len(np.unique(ids)) == 300
    np.testing.assert_array_equal(np.asarray(y), np.asarray(cifar10_env.report_acc)[ids])


@pytest.mark.slow
def test_fit_learns_and_is_deterministic(cifar10_env, fitted):
    pred, metrics, archs, y = fitted
    assert metrics["num_train"] == 300 and metrics["train_spearman"] > 0.6
    # held-out cells: clearly better than chance
    held = cifar10_env.enumerate_archs()[::7][:1000]
    p = np.asarray(jax.vmap(lambda a: pred(cifar10_env.encode(a)))(held))
    true = np.asarray(jax.vmap(cifar10_env.report)(held))
    assert rank_correlations(p, true)["spearman"] > 0.5
    again, _ = fit_predictor(jax.vmap(cifar10_env.encode)(archs), y, jax.random.key(1), hidden=HIDDEN, steps=300,
                             batch_size=64)
    jax.tree.map(np.testing.assert_array_equal, pred.params, again.params)


@pytest.mark.slow
def test_save_load_round_trips_exactly(tmp_path, cifar10_env, fitted):
    pred, metrics, _, _ = fitted
    path = tmp_path / "pred.npz"
    save_predictor(path, pred, {"space": "nb201", "dataset": "cifar10", "fit": metrics, "provenance": {"x": 1}})
    loaded, meta = load_predictor(path)
    assert jax.tree.structure(loaded.params) == jax.tree.structure(pred.params)
    jax.tree.map(np.testing.assert_array_equal, loaded.params, pred.params)
    assert loaded.hidden == HIDDEN and loaded.input_shape == (6, 5)
    assert float(loaded.y_mean) == float(pred.y_mean) and float(loaded.y_std) == float(pred.y_std)
    assert meta["space"] == "nb201" and meta["fit"] == json.loads(json.dumps(metrics)) and meta["hidden"] == [32, 32]
    assert meta["normalisation"]["y_mean"] == float(pred.y_mean)
    enc = jax.vmap(cifar10_env.encode)(cifar10_env.enumerate_archs()[:2000])
    np.testing.assert_array_equal(np.asarray(jax.jit(loaded.__call__)(enc)), np.asarray(jax.jit(pred.__call__)(enc)))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # atomic write left no temp file


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_predictor(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a predictor file"):
        load_predictor(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a predictor file"):
        load_predictor(tmp_path / "other.npz")


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="encodings"):
        fit_predictor(jnp.zeros((5, 30)), jnp.zeros(5), jax.random.key(0))
    with pytest.raises(ValueError, match="NaN"):
        fit_predictor(jnp.zeros((5, 6, 5)), jnp.array([1, 2, np.nan, 3, 4.0]), jax.random.key(0))


def _tau_b_pairs(a, b):
    n, c, d, ta, tb = len(a), 0, 0, 0, 0
    for i in range(n):
        for j in range(i + 1, n):
            s = np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
            c += s > 0
            d += s < 0
            ta += a[i] == a[j]
            tb += b[i] == b[j]
    n0 = n * (n - 1) / 2
    return (c - d) / math.sqrt((n0 - ta) * (n0 - tb))


def test_rank_correlations_against_definitions():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 8, 60).astype(float)  # ties on purpose
    b = a + rng.integers(-3, 4, 60)
    r = rank_correlations(a, b)
    assert r["kendall_tau"] == pytest.approx(_tau_b_pairs(a, b), abs=1e-12)
    # Spearman = Pearson correlation of average ranks
    def ranks(x):
        return np.array([np.mean(np.flatnonzero(np.sort(x) == v)) for v in x])
    assert r["spearman"] == pytest.approx(np.corrcoef(ranks(a), ranks(b))[0, 1], abs=1e-12)
    assert rank_correlations(a, a)["kendall_tau"] == pytest.approx(1.0)


@pytest.mark.slow
def test_predictor_env_is_a_pure_environment(cifar10_env, fitted):
    pred = fitted[0]
    env = make_predictor_env(pred, cifar10_env, {"space": "nb201", "dataset": "cifar10"}, source="mem")
    archs = cifar10_env.enumerate_archs()[:50]
    e1 = jax.vmap(env.evaluate)(jax.random.split(jax.random.key(0), 50), archs)
    e2 = jax.vmap(env.evaluate)(jax.random.split(jax.random.key(9), 50), archs)
    np.testing.assert_array_equal(np.asarray(e1), np.asarray(e2))  # no noise: the key is unused
    np.testing.assert_array_equal(np.asarray(e1), np.asarray(jax.vmap(env.report)(archs)))
    np.testing.assert_allclose(np.asarray(e1), np.asarray(pred(jax.vmap(cifar10_env.encode)(archs))), rtol=1e-6)
    all_pred = np.asarray(pred(jax.vmap(cifar10_env.encode)(cifar10_env.enumerate_archs())))
    assert float(env.optimum) == pytest.approx(all_pred.max(), rel=1e-6)
    r = run_method(env, "random", queries=20, seeds=2)
    assert r.report_metric == "predicted" and np.all(r.best_report <= float(env.optimum) + 1e-4)


def test_predictor_env_refuses_a_mismatched_space(cifar10_env, fitted):
    with pytest.raises(ValueError, match="fitted on space 'darts'"):
        make_predictor_env(fitted[0], cifar10_env, {"space": "darts"})
    with pytest.raises(ValueError, match="fitted on dataset 'cifar100'"):
        make_predictor_env(fitted[0], cifar10_env, {"space": "nb201", "dataset": "cifar100"})


@pytest.mark.slow
def test_cli_searches_a_saved_predictor_with_a_budget(tmp_path, cifar10_env, fitted, capsys):
    path = tmp_path / "p.npz"
    save_predictor(path, fitted[0], {"space": "nb201", "dataset": "cifar10"})
    assert isinstance(predictor_env(path, cifar10_env), PredictorEnv)
    out = tmp_path / "run"
    rc = main(["search", "--predictor", str(path), "--max-params", "0.6M", "--method", "rea", "--queries", "30",
               "--seeds", "2", "--out", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    data = json.loads((out / "results.json").read_text())
    assert data["report_metric"] == "predicted" and data["constraint"]["max_params_M"] == 0.6
    assert all(run["feasible"] for run in data["runs"])
    assert "prediction" in capsys.readouterr().err


@pytest.mark.slow
def test_a_predictor_fitted_on_darts_measurements_is_searched_from_the_cli(tmp_path, capsys):
    """DARTS/OFA have no table: a predictor fitted on your own measurements is their evaluator."""
    from l2nas_jax.spaces import get_space

    space = get_space("darts")
    archs = jax.vmap(space.random_arch)(jax.random.split(jax.random.key(0), 48))
    acc = 80.0 + 10.0 * np.asarray(jax.vmap(space.encode)(archs))[:, :, 0].mean(1)  # a made-up measurement
    pred, _ = fit_predictor(jax.vmap(space.encode)(archs), acc, jax.random.key(1), hidden=(16,), steps=50)
    save_predictor(tmp_path / "darts.npz", pred, {"space": "darts", "dataset": "cifar10"})
    rc = main(["search", "--space", "darts", "--predictor", str(tmp_path / "darts.npz"), "--method", "random",
               "--queries", "12", "--seeds", "2", "--out", str(tmp_path / "run"), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    data = json.loads((tmp_path / "run" / "results.json").read_text())
    assert data["space"] == "darts" and data["search_metric"] == "predicted"
    best = [run["best_report"] for run in data["runs"]]
    assert all(70.0 < b < 100.0 for b in best)  # predictions of the fitted range, every number a prediction
