"""Generic table spaces: NB201 as a table file searches bit for bit like ``nb201``; mixed grids, partial
tables, per-seed columns, column budgets and every bad table's one-line error."""

import csv
import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2nas_jax import methods
from l2nas_jax.api import run_method
from l2nas_jax.envs.constrained import constrain, enumerate_space, parse_limits
from l2nas_jax.envs.table import make_table_env
from l2nas_jax.spaces import get_space, register_space, unregister_space
from l2nas_jax.spaces.nb201 import codec as nb201_codec
from l2nas_jax.spaces.nb201 import cost as nb201_cost
from l2nas_jax.spaces.nb201.table import load_embedded
from l2nas_jax.spaces.table import MISSING_MARGIN, load_table_space

TINY = dict(actor_hidden=(8,), critic_hidden=(8,), batch_size=8, max_updates=1, learning_starts=4,
            num_actor_candidates=2, num_mutations=4, num_random_candidates=4)
NB201_DATASETS = ("cifar10", "cifar100", "imagenet16-120")
TRAJ = ("archs", "observed", "report", "is_repeat", "incumbent_index")


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _config(method):
    return dict(TINY) if method == "l2nas" else None


@pytest.fixture(scope="module")
def nb201_file(tmp_path_factory):
    """The embedded NB201 table as a generic CSV: 6 op columns (rows in code order), test accuracy and costs."""
    table = load_embedded()
    ops = nb201_codec.code_to_ops(np.arange(nb201_codec.NUM_ARCHS))
    cols = {}
    for d in NB201_DATASETS:
        params, flops = nb201_cost.nb201_cost(jnp.asarray(ops), d)
        key = d.replace("-", "_")
        cols[f"{key}_test"] = table.by_code(d, "test")
        cols[f"{key}_params"], cols[f"{key}_flops"] = np.asarray(params), np.asarray(flops)
    header = [f"e{i}" for i in range(6)] + list(cols)
    rows = ([nb201_codec.OPS[o] for o in ops[i]] + [repr(float(v[i])) for v in cols.values()]
            for i in range(len(ops)))
    return write_csv(tmp_path_factory.mktemp("nb201") / "nb201_generic.csv", header, rows)


@pytest.fixture(scope="module")
def nb201_table_space(nb201_file):
    # NB201 declares accuracies in % (reward scale 100); the same declaration makes the copy search identically
    space, data = load_table_space(nb201_file, search_metric="{dataset}_test", name="nb201_generic", reward_scale=100.0)
    register_space("nb201_generic", lambda: space)
    yield space, data
    unregister_space("nb201_generic")


# -- NB201 exported as a table ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_nb201_table_reproduces_the_nb201_codec(nb201_table_space):
    space, data = nb201_table_space
    nb = get_space("nb201")
    assert space.alpha_shape == nb.alpha_shape and space.num_archs == nb.num_archs and data.full
    assert data.grid.choices == (nb201_codec.OPS,) * 6  # first appearance in code order = NB201's op order
    assert data.datasets == ("cifar10", "cifar100", "imagenet16_120")
    assert (data.params_column, data.macs_column) == ("{dataset}_params", "{dataset}_flops")  # auto-detected
    np.testing.assert_array_equal(space.enumerate_archs(), nb.enumerate_archs())
    keys = jax.random.split(jax.random.key(3), 64)
    alphas = jax.random.uniform(jax.random.key(4), (64, 6, 5))
    for f, args in ((lambda s: jax.vmap(s.random_arch), (keys,)), (lambda s: jax.vmap(s.discretize), (alphas,))):
        np.testing.assert_array_equal(f(space)(*args), f(nb)(*args))
    archs = jax.vmap(nb.random_arch)(keys)
    np.testing.assert_array_equal(jax.vmap(space.mutate)(keys, archs), jax.vmap(nb.mutate)(keys, archs))
    np.testing.assert_array_equal(jax.vmap(space.encode)(archs), jax.vmap(nb.encode)(archs))
    np.testing.assert_array_equal(jax.vmap(space.arch_id)(archs), jax.vmap(nb.arch_id)(archs))
    for d in NB201_DATASETS:
        tv, nv = space.table_values(d), nb.table_values(d)
        np.testing.assert_array_equal(tv.search, nv.search)
        np.testing.assert_array_equal(tv.report, nv.report)
        all_archs = nb.enumerate_archs()
        for a, b in zip(space.cost(all_archs, d), nb.cost(all_archs, d)):
            np.testing.assert_array_equal(a, b)
    arch = np.array([3, 1, 0, 4, 2, 3])
    assert space.to_string(arch) == "nor_conv_3x3-skip_connect-none-avg_pool_3x3-nor_conv_1x1-nor_conv_3x3"
    np.testing.assert_array_equal(space.from_string(space.to_string(arch)), arch)


@pytest.mark.slow
@pytest.mark.parametrize("method", methods.method_names())
def test_nb201_table_searches_bit_identically(nb201_table_space, method):
    space, _ = nb201_table_space
    cases = (("cifar10", 0.0), ("cifar100", 0.5)) if method in ("l2nas", "random") else (("cifar10", 0.0),)
    for dataset, noise in cases:  # the noisy path once per kind of method (learned, sampled) keeps CI short
        a = run_method(make_table_env(space, dataset, noise_sigma=noise), method, queries=40, seeds=2, seed=7,
                       config=_config(method))
        b = run_method(make_table_env("nb201", dataset, noise_sigma=noise), method, queries=40, seeds=2, seed=7,
                       config=_config(method))
        for k in TRAJ:
            np.testing.assert_array_equal(getattr(a.trajectory, k), getattr(b.trajectory, k), err_msg=f"{dataset} {k}")
        assert a.optimum == b.optimum
        assert [nb201_codec.format_arch(space.from_string(s)) for s in a.best_archs] == b.best_archs


@pytest.mark.slow
def test_nb201_table_constrained_matches_nb201(nb201_table_space):
    """Same exact constrained optimum and feasible set; random search queries the same archs under a budget."""
    space, _ = nb201_table_space
    a = constrain(make_table_env(space, "cifar10"), "0.6M")
    b = constrain(make_table_env("nb201", "cifar10"), "0.6M")
    assert (a.optimum, a.num_feasible) == (b.optimum, b.num_feasible) and not a.generic
    assert nb201_codec.format_arch(space.from_string(a.optimum_arch)) == b.optimum_arch
    ra = run_method(a, "random", queries=40, seeds=2, seed=7)
    rb = run_method(b, "random", queries=40, seeds=2, seed=7)
    np.testing.assert_array_equal(ra.trajectory.archs, rb.trajectory.archs)
    np.testing.assert_array_equal(ra.feasible, rb.feasible)
    np.testing.assert_allclose(ra.trajectory.report, rb.trajectory.report, rtol=1e-6)


# -- a generated table with mixed choice counts --------------------------------------------------------------------

COUNTS = (2, 3, 4, 5)  # 120 combinations


def _landscape(arch: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = [rng.normal(0, 2.0, c) for c in COUNTS]
    return 60.0 + sum(w[d][arch[..., d]] for d in range(len(COUNTS)))


def _mixed_table(path, *, keep=None, seeds=3):
    """Decisions as text/integers, per-seed valid columns, a test column, params and two device costs."""
    names = [("small", "large"), (16, 32, 64), ("a", "b", "c", "d"), (1, 2, 3, 4, 5)]
    rng = np.random.default_rng(1)
    rows, archs = [], []
    for arch in itertools.product(*(range(c) for c in COUNTS)):
        arch = np.asarray(arch)
        if keep is not None and not keep(arch):
            continue
        base = _landscape(arch)
        runs = base + rng.normal(0, 0.5, seeds)
        lat = 1.0 + arch.sum() + 0.5 * arch[0]
        energy = 2.0 + 3.0 * arch[1] - arch[3] * 0.25
        rows.append([names[d][a] for d, a in enumerate(arch)] + [f"{v:.6f}" for v in runs] +
                    [f"{base + 0.3:.6f}", f"{0.1 * (1 + arch.sum()):.6f}", f"{lat:.4f}", f"{energy:.4f}"])
        archs.append(arch)
    header = ["width", "channels", "block", "depth"] + [f"acc_seed{s}" for s in range(seeds)] + \
        ["test_acc", "params", "latency_ms", "energy_mj"]
    rng.shuffle(rows)  # row order does not matter for integer decisions; text keeps first appearance
    return write_csv(path, header, rows)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    path = _mixed_table(tmp_path_factory.mktemp("mixed") / "mixed.csv")
    space, data = load_table_space(path, search_metric="acc_seed*", report_metric="test_acc", name="mixed_toy",
                                   choices={"width": ["small", "large"], "block": ["a", "b", "c", "d"]})
    register_space("mixed_toy", lambda: space)
    yield space, data
    unregister_space("mixed_toy")


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    path = _mixed_table(tmp_path_factory.mktemp("partial") / "partial.csv",
                        keep=lambda a: (a[0] + a[1] + a[2] + a[3]) % 3 != 0 and not (a[2] == 3 and a[3] == 4))
    space, data = load_table_space(path, search_metric="acc_seed*", report_metric="test_acc", name="partial_toy",
                                   decisions=["width", "channels", "block", "depth"])
    register_space("partial_toy", lambda: space)
    yield space, data
    unregister_space("partial_toy")


@pytest.mark.slow
def test_mixed_grid_masks_unused_choices(mixed):
    space, data = mixed
    assert space.alpha_shape == (4, 5) and space.num_archs == 120 and data.full
    assert data.grid.names == ("width", "channels", "block", "depth")  # inferred: text/integer columns
    assert data.grid.choices[1] == ("16", "32", "64") and data.grid.choices[3] == ("1", "2", "3", "4", "5")
    counts = np.asarray(COUNTS)
    keys = jax.random.split(jax.random.key(0), 500)
    archs = jax.vmap(space.random_arch)(keys)
    assert np.all(np.asarray(archs) < counts) and np.all(np.asarray(archs) >= 0)
    assert {tuple(r) for r in np.asarray(archs)[:, 3:]} == {(v,) for v in range(5)}
    mutated = np.asarray(jax.vmap(space.mutate)(keys, archs))
    assert np.all(mutated < counts) and np.all((mutated != np.asarray(archs)).sum(1) == 1)
    found = np.asarray(jax.vmap(space.discretize)(jax.random.normal(jax.random.key(1), (500, 4, 5)) * 10))
    assert np.all(found < counts) and found[:, 0].max() == 1
    code = np.asarray(space.encode(jnp.asarray([1, 2, 3, 4])))
    assert code.shape == (4, 5) and code.sum() == 4 and code[0, 1] == 1 and code[0, 2:].sum() == 0
    np.testing.assert_array_equal(jax.vmap(space.arch_id)(space.enumerate_archs()), np.arange(120))
    arch = space.from_string("large-64-c-5")
    np.testing.assert_array_equal(arch, [1, 2, 2, 4])
    assert space.to_string(arch) == "large-64-c-5"
    with pytest.raises(ValueError, match=r"channels='48' is not a choice \(choices: 16, 32, 64\)"):
        space.from_string("large-48-c-5")


def test_per_seed_observation_and_mean_report_are_kept_apart(mixed):
    space, data = mixed
    env = make_table_env(space, "mixed")
    runs = np.stack([data.columns[f"acc_seed{s}"] for s in range(3)], -1)
    ids = data.ids
    arch = space.from_string("small-32-b-4")
    i = int(np.flatnonzero(ids == int(space.arch_id(arch)))[0])
    seen = np.asarray(jax.vmap(env.evaluate, (0, None))(jax.random.split(jax.random.key(0), 200), arch))
    np.testing.assert_allclose(sorted(set(seen.tolist())), sorted(runs[i].astype(np.float32)), rtol=0)
    assert float(env.report(arch)) == np.float32(data.columns["test_acc"][i])
    assert float(env.search_acc[int(space.arch_id(arch))]) == np.float32(runs[i].mean())
    assert env.search_split == "acc_seed0..acc_seed2 (one of 3 runs per query)" and env.report_split == "test_acc"
    assert np.isnan(float(env.max_reward))  # a generic table declares no reward scale; the table's max is never read
    mean = make_table_env(space, "mixed", report_split="acc_seed*")  # the mean of the runs as the report
    np.testing.assert_allclose(float(mean.report(arch)), runs[i].mean(), rtol=1e-6)


@pytest.mark.slow
def test_partial_table_operators_stay_inside(partial):
    space, data = partial
    assert not data.full and 0 < len(data.rows) < 120
    present = data.present
    keys = jax.random.split(jax.random.key(2), 400)
    archs = jax.vmap(space.random_arch)(keys)
    assert present[np.asarray(jax.vmap(space.arch_id)(archs))].all()
    mutated = jax.vmap(space.mutate)(keys, archs)
    assert present[np.asarray(jax.vmap(space.arch_id)(mutated))].all()
    assert np.mean(np.any(np.asarray(mutated) != np.asarray(archs), 1)) > 0.95
    alphas = jax.random.normal(jax.random.key(3), (400, 4, 5))
    assert present[np.asarray(jax.vmap(space.arch_id)(jax.vmap(space.discretize)(alphas)))].all()
    for one_hot in jax.vmap(space.encode)(jnp.asarray(data.rows[:20])):  # a row's own one-hot projects onto itself
        assert int(space.arch_id(space.discretize(one_hot))) in data.ids
    env = make_table_env(space, "partial")
    missing = np.flatnonzero(~present)[0]
    arch = space.enumerate_archs()[missing]
    floor = min(0.0, float(env.search_runs[present].min()), float(env.report_acc[present].min()))
    assert not bool(env.is_present(arch)) and env.value_floor == floor
    assert float(env.report(arch)) == np.float32(floor - MISSING_MARGIN) < float(env.report_acc[present].min())
    assert float(env.evaluate(jax.random.key(0), arch)) < float(env.search_runs[present].min())
    with pytest.raises(ValueError, match="is not in table"):
        space.from_string(space.to_string(arch))


@pytest.mark.slow
@pytest.mark.parametrize("method", methods.method_names())
@pytest.mark.parametrize("which", ["partial"])  # mixed choice counts AND missing rows (the full grid: CLI tests)
def test_every_method_searches_a_generated_table(method, which, request):
    space, data = request.getfixturevalue(which)
    env = make_table_env(space, space.datasets[0])
    r = run_method(env, method, queries=50, seeds=2, seed=3, config=_config(method))
    archs = np.asarray(r.trajectory.archs)
    ids = np.asarray(jax.vmap(jax.vmap(space.arch_id))(archs))
    assert data.present[ids].all()  # never outside the table, whatever the method
    report = data.dense(data.columns["test_acc"], 0.0)
    np.testing.assert_array_equal(r.trajectory.report, report[ids])
    runs = np.stack([data.dense(data.columns[f"acc_seed{s}"], 0.0) for s in range(3)], -1)[ids]
    assert np.all(np.any(np.isclose(np.asarray(r.trajectory.observed)[..., None], runs, rtol=0, atol=1e-4), -1))
    assert r.optimum == pytest.approx(float(data.columns["test_acc"].max()), rel=1e-6)
    assert all(a is not None and data.present[int(space.arch_id(space.from_string(a)))] for a in r.best_archs)


# -- budgets on named cost columns ---------------------------------------------------------------------------------


def _brute(data, lat, energy):
    ok = (data.columns["latency_ms"] <= lat) & (data.columns["energy_mj"] <= energy)
    return float(data.columns["test_acc"][ok].max()), int(ok.sum())


@pytest.mark.parametrize("which", ["mixed", "partial"])
def test_two_column_budgets_give_the_exact_constrained_optimum(which, request):
    space, data = request.getfixturevalue(which)
    env = make_table_env(space, space.datasets[0])
    c = constrain(env, limits=["latency_ms=6", "energy_mj=5.5"])
    best, n = _brute(data, 6, 5.5)
    assert c.optimum_exact and c.generic and c.num_feasible == n
    assert float(c.optimum) == pytest.approx(best, rel=1e-6)
    assert c.describe() == "latency_ms <= 6, energy_mj <= 5.5"
    en = enumerate_space(env, limits=c.limits)
    assert en.num_feasible == n
    both = constrain(env, "0.5M", limits={"latency_ms": 6})  # a params budget and a column budget together
    ok = (data.columns["params"] <= 0.5 + 1e-9) & (data.columns["latency_ms"] <= 6)
    assert both.num_feasible == int(ok.sum())
    arch = jnp.asarray(data.rows[np.argmax(data.columns["latency_ms"])])
    assert not bool(c.is_feasible(arch)) and float(c.evaluate(jax.random.key(0), arch)) < c.floor - c.margin + 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("method", methods.method_names())
def test_two_column_budgets_never_return_an_infeasible_incumbent(partial, method):
    for space, data in (partial,):
        env = constrain(make_table_env(space, space.datasets[0]), limits={"latency_ms": 5, "energy_mj": 5})
        r = run_method(env, method, queries=40, seeds=3, seed=11, config=_config(method))
        lat, energy = data.dense(data.columns["latency_ms"], np.inf), data.dense(data.columns["energy_mj"], np.inf)
        ids = np.asarray(jax.vmap(jax.vmap(space.arch_id))(np.asarray(r.trajectory.archs)))
        feasible = (lat[ids] <= 5) & (energy[ids] <= 5) & data.present[ids]
        np.testing.assert_array_equal(r.feasible, feasible)
        assert np.all(np.asarray(r.trajectory.observed)[~feasible] < 0)
        for s, a in enumerate(r.best_archs):
            if a is None:
                assert not feasible[s].any()
            else:
                i = int(space.arch_id(space.from_string(a)))
                assert lat[i] <= 5 and energy[i] <= 5 and data.present[i]
        assert np.all(r.best_report <= float(env.optimum) + 1e-6)


@pytest.mark.slow
def test_pareto_against_a_named_column(tmp_path):
    path = _mixed_table(tmp_path / "pareto.csv")
    space, _ = load_table_space(path, search_metric="test_acc", macs_column="latency_ms", name="pareto_toy")
    register_space("pareto_toy", lambda: space)
    try:
        r = run_method(make_table_env(space, "pareto"), "rea", queries=40, seeds=2, seed=0, pareto=True)
        assert r.pareto["true_front_size"] >= 1 and 0 < r.pareto["hypervolume_ratio"] <= 1 + 1e-9
    finally:
        unregister_space("pareto_toy")


def test_budget_errors(mixed):
    space, _ = mixed
    env = make_table_env(space, "mixed")
    with pytest.raises(ValueError, match=r"budget latency_ms <= 0.5 is below the smallest latency_ms of any "
                                         r"mixed_toy architecture \(1\)"):
        constrain(env, limits={"latency_ms": 0.5})
    with pytest.raises(ValueError, match="no mixed_toy architecture in the table has latency_ms <= 1.2 and "
                                         "energy_mj <= 1.9 together"):
        constrain(env, limits={"latency_ms": 1.2, "energy_mj": 1.9})
    with pytest.raises(ValueError, match="has no numeric column 'watts'.*columns: acc_seed0"):
        constrain(env, limits={"watts": 1})
    with pytest.raises(ValueError, match="max_macs: the mixed_toy table has no MACs column"):
        constrain(env, max_macs="1M")
    with pytest.raises(ValueError, match="the nb201 space has no named cost columns.*hw_nas_bench.*--space table"):
        constrain(make_table_env("nb201"), limits={"latency": 1})
    for bad, msg in ((["lat"], "expected COLUMN=VALUE"), (["lat=-1"], "positive"), (["lat=x"], "cannot parse"),
                     (["a=1", "a=2"], "given twice"), ([("", 1)], "non-empty")):
        with pytest.raises(ValueError, match=msg):
            parse_limits(bad)
    assert parse_limits(["lat=1.5k", ("energy", 2)]) == (("lat", 1500.0), ("energy", 2.0))


# -- loaders -----------------------------------------------------------------------------------------------------


def test_keyed_json_split_per_character_and_by_separator(tmp_path):
    rng = np.random.default_rng(0)
    per_char = {"".join(map(str, a)): {"acc": float(rng.uniform(50, 90)), "lat": [1.0, 2.0]}
                for a in itertools.product(range(3), repeat=3)}
    p = tmp_path / "chars.json"
    p.write_text(json.dumps(per_char))
    space, data = load_table_space(p, search_metric="acc")
    assert data.grid.names == ("d0", "d1", "d2") and data.sep == "" and space.num_archs == 27
    assert space.to_string(np.array([2, 0, 1])) == "201" and "lat_0" in data.columns
    np.testing.assert_allclose(space.table_values().report[int(space.arch_id(np.array([2, 0, 1])))],
                               per_char["201"]["acc"], rtol=1e-6)
    nested = {f"{w}_{d}": {"cifar10": {"valid": 50.0 + w + d, "test": 49.0 + w}, "cifar100": {"valid": 30.0 + d,
                                                                                              "test": 29.0}}
              for w in (8, 16, 32) for d in (1, 2)}
    p = tmp_path / "sep.json"
    p.write_text(json.dumps(nested))
    space, data = load_table_space(p, decisions=["width", "depth"], search_metric="{dataset}_valid",
                                   report_metric="{dataset}_test")
    assert data.grid.names == ("width", "depth") and data.sep == "_" and data.datasets == ("cifar10", "cifar100")
    assert data.grid.choices == (("8", "16", "32"), ("1", "2"))
    assert float(space.table_values("cifar100").search[int(space.arch_id(space.from_string("32_2")))]) == 32.0
    with pytest.raises(ValueError, match="unknown dataset 'svhn'; valid: cifar10, cifar100"):
        space.table_values("svhn")


def test_json_records_and_inferred_decisions(tmp_path):
    recs = [{"index": i, "op": op, "k": k, "acc": 70.0 + i, "note": "x"}
            for i, (op, k) in enumerate(itertools.product(["conv", "pool", "skip"], [3, 5]))]
    p = tmp_path / "recs.json"
    p.write_text(json.dumps(recs))
    space, data = load_table_space(p, search_metric="acc")
    assert data.grid.names == ("op", "k") and data.grid.choices == (("conv", "pool", "skip"), ("3", "5"))
    assert space.datasets == ("recs",) and make_table_env(space, "recs").dataset == "recs"


def test_parquet_needs_pyarrow(tmp_path):
    pytest.importorskip("numpy")
    try:
        import pyarrow  # noqa: F401
        pytest.skip("pyarrow is installed")
    except ImportError:
        pass
    p = tmp_path / "t.parquet"
    p.write_bytes(b"PAR1")
    with pytest.raises(ValueError, match="needs the optional package pyarrow"):
        load_table_space(p, search_metric="acc")


# -- every bad table: one clear line naming the file ---------------------------------------------------------------

GOOD = [["a", "1", "90.0", "1.0"], ["b", "1", "91.0", "2.0"], ["a", "2", "92.0", "3.0"], ["b", "2", "93.0", "4.0"]]
HEADER = ["op", "k", "acc", "lat"]


@pytest.mark.parametrize("header, rows, kwargs, msg", [
    (HEADER, GOOD, dict(search_metric="valid"), r"search metric column 'valid' is not a numeric column"),
    (HEADER, GOOD, dict(search_metric="acc", decisions=["op", "depth"]), r"no decision column 'depth'"),
    (["op", "k", "acc", "acc"], GOOD, dict(search_metric="acc"), r"column 'acc' appears twice"),
    (HEADER, GOOD[:2] + [["a", "2", "high", "3"]] + GOOD[3:], dict(search_metric="acc"),
     r"line 4: column 'acc' value 'high' is not a number"),
    (HEADER, GOOD[:3] + [["b", "2", "nan", "4"]], dict(search_metric="acc"), r"line 5: column 'acc' is 'nan'"),
    (HEADER, GOOD[:3] + [["b", "2", "inf", "4"]], dict(search_metric="acc"), r"line 5: column 'acc' is 'inf'"),
    (HEADER, GOOD + [["b", "1", "80.0", "2.0"]], dict(search_metric="acc"),
     r"line 3 and line 6: architecture b-1 appears twice with different values \(column 'acc': 91 vs 80\)"),
    (HEADER, [r for r in GOOD if r[0] == "a"], dict(search_metric="acc", decisions=["op", "k"]),
     r"decision column 'op' has one value only \('a'\)"),
    (HEADER, [], dict(search_metric="acc"), r"no rows \(the table is empty\)"),
    (HEADER, GOOD[:2] + [["a", "2", "92.0"]], dict(search_metric="acc"), r"line 4 has 3 fields, the header has 4"),
    (HEADER, GOOD[:2] + [["", "2", "92.0", "3"]], dict(search_metric="acc", decisions=["op", "k"]),
     r"line 4: decision column 'op' is empty"),
    (HEADER, GOOD, dict(search_metric="acc", choices={"op": ["a"]}), r"line 3: decision 'op' value 'b' is not among"),
    (HEADER, [[r[0], r[1], "-" + r[2], r[3]] for r in GOOD], dict(search_metric="acc"), r"has no positive value"),
    (["x", "acc"], [["1.5", "90"], ["2.5", "91"]], dict(search_metric="acc"), r"no decision column found"),
])
def test_bad_tables_give_one_line_errors(tmp_path, header, rows, kwargs, msg):
    path = write_csv(tmp_path / "bad.csv", header, rows)
    with pytest.raises(ValueError, match=msg) as e:
        space, _ = load_table_space(path, **kwargs)
        space.table_values(None)
    text = str(e.value)
    assert "\n" not in text and str(path) in text


def test_file_level_errors(tmp_path):
    with pytest.raises(ValueError, match="table file not found"):
        load_table_space(tmp_path / "none.csv", search_metric="acc")
    p = tmp_path / "t.xlsx"
    p.write_text("x")
    with pytest.raises(ValueError, match=r"unrecognised file type '.xlsx'"):
        load_table_space(p, search_metric="acc")
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match=r"bad.json: cannot read as JSON"):
        load_table_space(p, search_metric="acc")
    p.write_text(json.dumps({"0-1": {"acc": 1.0}, "0-1-2": {"acc": 2.0}}))
    with pytest.raises(ValueError, match=r"key '0-1-2' splits into 3 decision values \(separator '-'\)"):
        load_table_space(p, search_metric="acc", key_sep="-")
    p.write_text(json.dumps({}))
    with pytest.raises(ValueError, match=r"no rows"):
        load_table_space(p, search_metric="acc")
    big = tmp_path / "big.csv"
    write_csv(big, [f"d{i}" for i in range(25)] + ["acc"], [["0"] * 25 + ["1.5"], ["1"] * 25 + ["2.5"]])
    with pytest.raises(ValueError, match="exceeds 16777216"):
        load_table_space(big, search_metric="acc")
    space, _ = load_table_space(write_csv(tmp_path / "ok.csv", HEADER, GOOD), search_metric="acc")
    with pytest.raises(ValueError, match="takes no other table"):
        space.table_values(None, "other.csv")
