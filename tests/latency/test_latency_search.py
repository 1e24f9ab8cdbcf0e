"""Search under a modelled-latency budget: never over budget, exact enumerated optimum on NB201, the returned
architectures measured again; ``l2nas latency`` end to end; bad input is one line."""

import json

import jax
import numpy as np
import pytest

from l2nas_jax.api import build_env, run_method
from l2nas_jax.cli import main
from l2nas_jax.envs.latency import parse_latency
from l2nas_jax.latency import measure, model as lm
from l2nas_jax.spaces import get_space

NB201 = get_space("nb201")
OP_MS = np.array([0.0, 0.3, 0.7, 2.0, 0.5])  # none, skip, conv1x1, conv3x3, pool: a made-up device


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A latency model of a made-up device (op costs + a per-edge bias), with tiny-network measurement settings."""
    archs = jax.vmap(NB201.random_arch)(jax.random.split(jax.random.key(0), 150))
    recs = []
    for a in np.asarray(archs):
        x = np.asarray(NB201.encode(a)).reshape(6, 5)
        recs.append({"arch": NB201.to_string(a), "median_ms": float(1.0 + x.sum(0) @ OP_MS + 0.2 * x[0, 2])})
    net = measure.NetSpec(channels=4, layers=1)
    settings = measure.settings(NB201, batch=1, net=net, num_classes=10, seed=0, num_archs=150, warmup=1, repeats=3)
    model = lm.fit(NB201, recs, meta={"measured_with": settings})
    path = tmp_path_factory.mktemp("latency") / "model.npz"
    lm.save_model(model, path)
    return path


def modelled_all(path):
    m = lm.load_model(path, NB201)
    return np.asarray(jax.jit(jax.vmap(lambda a: lm.predict(m, NB201, a)))(NB201.enumerate_archs()))


def test_parse_latency():
    assert parse_latency("5ms") == 5.0 and parse_latency("500us") == 0.5 and parse_latency("0.01s") == 10.0
    assert parse_latency(2) == 2.0 and parse_latency(" 1.5 ") == 1.5
    for bad in ("5 parsecs", "-1ms", "0", "inf", True):
        with pytest.raises(ValueError, match="max_latency"):
            parse_latency(bad)


@pytest.mark.slow
def test_budget_is_never_exceeded_and_the_optimum_is_exact(model_file):
    lat = modelled_all(model_file)
    budget = float(np.quantile(lat, 0.3))
    env = build_env("nb201", "cifar10", latency_model=model_file, max_latency=f"{budget}ms")
    acc = np.asarray(jax.vmap(build_env("nb201", "cifar10").report)(NB201.enumerate_archs()))
    ok = lat <= budget * (1 + 1e-6)
    assert env.optimum_exact and env.num_feasible == int(ok.sum())
    assert float(env.optimum) == pytest.approx(float(acc[ok].max()))  # brute force over all 15,625 cells
    assert float(env.optimum) < float(acc.max())  # the budget binds
    for method in ("l2nas", "rea"):
        r = run_method(env, method, queries=60, seeds=3, seed=1)
        for a in r.best_archs:
            assert a is not None
            i = int(NB201.arch_id(NB201.from_string(a)))
            assert lat[i] <= budget * (1 + 1e-6), (method, a, lat[i], budget)


@pytest.mark.slow
def test_pareto_front_against_modelled_latency(model_file):
    env = build_env("nb201", "cifar10", latency_model=model_file, pareto_column="latency")
    r = run_method(env, "l2nas", queries=40, seeds=2, pareto=True)
    p = r.pareto
    assert p["cost"] == "latency (ms, modelled)" and "minimize latency" in p["objectives"]
    lat = modelled_all(model_file)
    for point in p["true_front"]:  # the true front is enumerated in modelled latency, not MACs
        assert point["macs_M"] == pytest.approx(lat[int(NB201.arch_id(NB201.from_string(point["arch"])))], rel=1e-5)
    costs = np.array([q["macs_M"] for q in p["true_front"]])
    accs = np.array([q["accuracy"] for q in p["true_front"]])
    assert np.all(np.diff(costs) > 0) and np.all(np.diff(accs) > 0)  # a front: dearer is better


@pytest.mark.slow
def test_search_cli_reports_the_measured_latency(model_file, tmp_path, capsys):
    budget = float(np.quantile(modelled_all(model_file), 0.5))
    out = tmp_path / "run"
    rc = main(["search", "--latency-model", str(model_file), "--max-latency", f"{budget}ms", "--queries", "60",
               "--seeds", "2", "--out", str(out), "--no-progress"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert f"latency <= {budget:g} ms" in cap.out and "modelled / measured" in cap.out
    data = json.loads((out / "results.json").read_text())
    checks = data["meta"]["latency_check"]
    assert checks and {c["arch"] for c in checks} == {r["best_arch"] for r in data["runs"]}
    for c in checks:
        assert c["modelled_ms"] <= budget * (1 + 1e-6) and c["measured_ms"] > 0 and c["device_matches"]
        assert f"{c['measured_ms']:8.3f} ms" in cap.out
    spec = json.loads((out / "run.json").read_text())
    assert spec["latency_model"] == str(model_file) and spec["max_latency"] == f"{budget}ms"


@pytest.mark.parametrize("extra, message", [
    (["--max-latency", "5ms"], "needs --latency-model FILE"),
    (["--pareto", "latency"], "needs --latency-model FILE"),
    (["--latency-model", "{model}", "--max-latency", "5 parsecs"], "--max-latency: cannot parse '5 parsecs'"),
    (["--latency-model", "{model}", "--max-latency", "0.001ms"], "below the smallest latency"),
    (["--latency-model", "{model}", "--max-latency", "5ms", "--pareto", "latency"], "cannot be combined"),
    (["--latency-model", "{missing}", "--max-latency", "5ms"], "no such latency model file"),
    (["--latency-model", "{darts}", "--max-latency", "5ms"], "latency model of the darts space (197 features), not of nb201"),
])
def test_bad_latency_options_are_one_line_errors(model_file, tmp_path, capsys, extra, message):
    darts = get_space("darts")
    recs = [{"arch": darts.to_string(a), "median_ms": 1.0 + i % 3}
            for i, a in enumerate(np.asarray(jax.vmap(darts.random_arch)(jax.random.split(jax.random.key(0), 8))))]
    lm.save_model(lm.fit(darts, recs, correction=False), tmp_path / "darts.npz")
    extra = [e.format(model=model_file, missing=tmp_path / "nope.npz", darts=tmp_path / "darts.npz") for e in extra]
    rc = main(["search", "--queries", "10", "--seeds", "1", "--out", str(tmp_path / "r"), "--no-progress", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_latency_cli_measures_fits_and_resumes(tmp_path, capsys):
    meas, model = tmp_path / "m.json", tmp_path / "model.npz"
    args = ["latency", "--space", "nb201", "--archs", "8", "--channels", "4", "--layers", "1", "--repeats", "3",
            "--warmup", "1", "--out", str(meas), "--model", str(model), "--no-progress"]
    assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "nb201: 8 architectures on cpu" in out and "held-out (3 of 8 measured, mean of 5 random splits)" in out and "MACs Kendall tau" in out
    first = json.loads(meas.read_text())
    assert len(first["records"]) == 8 and model.with_suffix(".png").stat().st_size > 0
    m = lm.load_model(model, NB201)
    assert m.meta["measured_with"]["net"]["channels"] == 4 and "kendall_tau" in m.meta["holdout"]
    assert main(args) == 0  # complete: nothing measured again
    assert json.loads(meas.read_text())["records"] == first["records"]
    rc = main([*args[:-5], "--repeats", "5", "--out", str(meas), "--no-progress"])
    assert rc == 2 and "other settings" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--space", "table"], "no networks to measure"),
    (["--space", "nope"], "unknown search space 'nope'"),
    (["--archs", "0"], "--archs must be a positive integer"),
    (["--model", "{tmp}/m.txt"], "--model must name a .npz file"),
    (["--archs", "5", "--model", "{tmp}/m.npz"], "--model needs --archs >= 7"),
    (["--channels", "0"], "--channels must be positive"),
    (["--base-widths", "8,x"], "--base-widths must be comma-separated integers"),
])
def test_bad_latency_command_input(tmp_path, capsys, extra, message):
    extra = [e.format(tmp=tmp_path) for e in extra]
    rc = main(["latency", "--out", str(tmp_path / "m.json"), "--no-progress", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "m.json").exists()


def predictor_and_latency_files(space_name, dataset, tmp_path, n, latency):
    """Files of a made-up accuracy predictor and latency model (``latency(i, arch) -> ms``) on ``n`` random archs."""
    from l2nas_jax.envs.predictor import fit_predictor, save_predictor

    space = get_space(space_name)
    archs = jax.vmap(space.random_arch)(jax.random.split(jax.random.key(0), n))
    enc = jax.vmap(space.encode)(archs)
    made_up = np.asarray(enc).reshape(n, -1)[:, ::3].sum(1).astype(np.float32)  # any function of the encoding
    pred, _ = fit_predictor(enc, made_up, jax.random.key(1), hidden=(16,), steps=30, batch_size=16)
    save_predictor(tmp_path / "p.npz", pred, {"space": space_name, "dataset": dataset})
    recs = [{"arch": space.to_string(a), "median_ms": latency(i, a)} for i, a in enumerate(np.asarray(archs))]
    lm.save_model(lm.fit(space, recs, correction=False), tmp_path / "lat.npz")
    return space, archs, tmp_path / "p.npz", tmp_path / "lat.npz"


@pytest.mark.slow
def test_latency_budget_on_a_space_without_a_table(tmp_path):
    """OFA (not enumerable): a fitted accuracy predictor searched under a modelled-latency budget."""
    ofa, archs, pred, lat_file = predictor_and_latency_files(
        "ofa", "imagenet", tmp_path, 64, lambda i, a: 1.0 + float(get_space("ofa").cost(a)[1]) / 100)
    lat = lm.load_model(lat_file, ofa)
    modelled = np.asarray(jax.vmap(lambda a: lm.predict(lat, ofa, a))(archs))
    budget = float(np.quantile(modelled, 0.3))
    env = build_env("ofa", "imagenet", predictor=pred, latency_model=lat_file, max_latency=budget)
    assert not env.optimum_exact  # no enumeration: the unconstrained optimum bounds it
    r = run_method(env, "rea", queries=40, seeds=2)
    for a in r.best_archs:
        assert a is not None
        assert float(lm.predict(lat, ofa, ofa.from_string(a))) <= budget * (1 + 1e-6)


@pytest.mark.slow
def test_pareto_against_latency_on_a_space_without_a_table(tmp_path):
    _, _, pred, lat_file = predictor_and_latency_files("darts", "cifar10", tmp_path, 32, lambda i, a: 2.0 + i % 5)
    env = build_env("darts", "cifar10", predictor=pred, latency_model=lat_file, pareto_column="latency")
    p = run_method(env, "random", queries=30, seeds=2, pareto=True).pareto
    assert p["cost"] == "latency (ms, modelled)" and "true_front" not in p and p["front"]
