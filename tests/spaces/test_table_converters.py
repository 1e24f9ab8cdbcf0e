"""Converters under the top-level ``spaces/``: NATS-Bench size space and HW-NAS-Bench, run on small stand-ins
built here (a fake ``nats_bench`` API object, a pickle and a fake ``hw_nas_bench_api`` module in the real shapes)."""

import importlib.util
import itertools
import pickle
import sys
import types
from pathlib import Path

import jax
import numpy as np
import pytest

from l2nas_jax.envs.constrained import constrain
from l2nas_jax.envs.table import make_table_env
from l2nas_jax.spaces import register_space, unregister_space
from l2nas_jax.spaces.nb201 import codec as nb201_codec
from l2nas_jax.spaces.nb201.table import load_embedded
from l2nas_jax.spaces.table import load_table_space

ROOT = Path(__file__).resolve().parents[2]


def _load(rel: str):
    spec = importlib.util.spec_from_file_location(rel.replace("/", "_")[:-3], ROOT / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


nats = _load("spaces/nats_size/convert.py")
hw = _load("spaces/hw_nas_bench/convert.py")

# -- NATS-Bench size space ------------------------------------------------------------------------------------------


class _Meta:
    def get_dataset_seeds(self, dataset):
        return [888, 777]


class FakeNATS:
    """The calls the converter makes on a ``nats_bench`` size-space API, over 2^5 nets (channels 8 or 64)."""

    def __init__(self):
        self.archs = [":".join(map(str, a)) for a in itertools.product((8, 64), repeat=5)]

    def __len__(self):
        return len(self.archs)

    def arch(self, i):
        return self.archs[i]

    def _width(self, i):
        return sum(int(c) for c in self.archs[i].split(":"))

    def get_more_info(self, i, dataset, hp="90", is_random=False):
        base = {"cifar10-valid": 80.0, "cifar10": 81.0, "cifar100": 50.0, "ImageNet16-120": 25.0}[dataset]
        acc = base + self._width(i) / 40 + (0.0 if is_random is False else (is_random - 800) / 100)
        info = {"train-accuracy": 99.0, "test-accuracy": acc}
        if dataset != "cifar10":
            info["valid-accuracy"] = acc - 0.5
        return info

    def get_cost_info(self, i, dataset, hp="90"):
        w = self._width(i)
        return {"flops": 2.0 * w, "params": w / 100, "latency": 0.001 * w}

    def query_meta_info_by_index(self, i, hp="90"):
        return _Meta()


def test_nats_size_converter_writes_a_searchable_table(tmp_path, capsys):
    out = tmp_path / "nats.csv"
    nats.main([str(tmp_path / "bench"), str(out), "--seeds"], api_factory=lambda path: FakeNATS())
    assert "wrote" in capsys.readouterr().out
    space, data = load_table_space(out, search_metric="{dataset}_valid", report_metric="{dataset}_test")
    assert data.grid.names == ("c1", "c2", "c3", "c4", "c5") and data.grid.choices == (("8", "64"),) * 5
    assert data.datasets == ("cifar10", "cifar100", "imagenet16_120") and data.full
    assert (data.params_column, data.macs_column) == ("{dataset}_params", "{dataset}_flops")
    arch = space.from_string("64-8-8-8-64")
    w = 64 + 8 + 8 + 8 + 64
    v = space.table_values("cifar10")
    i = int(space.arch_id(arch))
    assert v.search[i] == np.float32(80.0 + w / 40 - 0.5) and v.report[i] == np.float32(81.0 + w / 40)
    params, flops = space.cost(arch, "imagenet16-120")
    assert float(params) == pytest.approx(w / 100) and float(flops) == pytest.approx(2.0 * w)
    seeds = space.table_values("cifar100", search_split="{dataset}_test_seed*")
    assert seeds.search_split == "cifar100_test_seed0..cifar100_test_seed1 (one of 2 runs per query)"
    np.testing.assert_allclose(seeds.search_runs[i], [50.0 + w / 40 - 0.23, 50.0 + w / 40 + 0.88], rtol=1e-6)


def test_nats_size_converter_errors():
    with pytest.raises(ValueError, match=r"expected 5 channel counts"):
        nats.parse_channels("8:16:32:64")
    with pytest.raises(ValueError, match=r"expected 5 integers"):
        nats.parse_channels("8:a:8:8:8")
    if importlib.util.find_spec("nats_bench") is None:
        with pytest.raises(ValueError, match="pip install nats_bench"):
            nats.open_api("missing")


# -- HW-NAS-Bench -----------------------------------------------------------------------------------------------------

METRICS = ("edgegpu_latency", "edgegpu_energy", "raspi4_latency", "fpga_energy")


def _measure(index: np.ndarray, metric: int, ds: int) -> np.ndarray:
    return 1.0 + (index * (metric + 3) + 7 * ds) % 97 / 10.0


@pytest.fixture(scope="module")
def hw_pickle(tmp_path_factory):
    """A pickle in HW-NAS-Bench-v1_0's structure: {"nasbench201": {dataset: {metric: [value per NB201 index]}}}."""
    idx = np.arange(nb201_codec.NUM_ARCHS)
    data = {"nasbench201": {ds: {**{m: _measure(idx, k, j).tolist() for k, m in enumerate(METRICS)},
                                 "config": "a non-numeric entry"}
                            for j, ds in enumerate(("cifar10", "cifar100", "ImageNet"))}}
    path = tmp_path_factory.mktemp("hw") / "HW-NAS-Bench-v1_0.pickle"
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return path


@pytest.fixture(scope="module")
def hw_csv(hw_pickle, tmp_path_factory):
    out = tmp_path_factory.mktemp("hwcsv") / "hw_nb201.csv"
    hw.main([str(hw_pickle), str(out)])
    return out


@pytest.fixture(scope="module")
def hw_space(hw_csv):
    return load_table_space(hw_csv, decisions=[f"e{i}" for i in range(6)], search_metric="{dataset}_test",
                            name="hw_nb201")


def test_hw_nas_bench_join_keeps_nb201_index_and_order(hw_space):
    table = load_embedded()
    space, data = hw_space
    assert data.grid.choices == (nb201_codec.OPS,) * 6 and data.full
    assert data.datasets == ("cifar10", "cifar100", "imagenet16_120")
    arch = np.array([3, 0, 2, 1, 3, 4])
    code = int(nb201_codec.ops_to_code(arch))
    official = int(table.code_to_index[code])
    assert int(data.columns["index"][np.flatnonzero(data.ids == code)[0]]) == official
    v = space.table_values("imagenet16-120")
    assert v.search[code] == table.by_code("imagenet16-120", "test")[code]
    env = make_table_env(space, "cifar100")
    for k, m in enumerate(METRICS):
        assert float(env.column(m, arch)) == pytest.approx(_measure(np.array(official), k, 1), rel=1e-6)
    assert env.resolve_column("edgegpu_energy") == "cifar100_edgegpu_energy"


@pytest.mark.slow
def test_hw_nas_bench_table_searches_under_two_device_budgets(hw_space):
    space, data = hw_space
    register_space("hw_nb201", lambda: space)
    try:
        from l2nas_jax.api import run_method

        env = constrain(make_table_env(space, "cifar10"), limits={"edgegpu_latency": 4.0, "edgegpu_energy": 5.0})
        lat, en = data.columns["cifar10_edgegpu_latency"], data.columns["cifar10_edgegpu_energy"]
        ok = (lat <= 4.0) & (en <= 5.0)
        assert env.num_feasible == int(ok.sum()) and float(env.optimum) == np.float32(data.columns["cifar10_test"][ok].max())
        r = run_method(env, "rea", queries=60, seeds=2, seed=0)
        for a in r.best_archs:
            assert a is not None
            i = int(space.arch_id(space.from_string(a)))
            assert float(env.inner.columns["cifar10_edgegpu_latency"][i]) <= 4.0
    finally:
        unregister_space("hw_nb201")


def test_hw_nas_bench_through_the_official_api_module(hw_pickle, monkeypatch):
    """With ``hw_nas_bench_api`` importable, its ``query_by_index`` is what the converter reads."""
    calls = []

    class FakeHWAPI:
        def __init__(self, path, search_space):
            assert search_space == "nasbench201"
            self.q = hw.pickle_query(path)

        def query_by_index(self, idx, dataset):
            calls.append((idx, dataset))
            return self.q(idx, dataset)

    monkeypatch.setitem(sys.modules, "hw_nas_bench_api", types.SimpleNamespace(HWNASBenchAPI=FakeHWAPI))
    query = hw.api_query(hw_pickle)
    info = query(5, "cifar100")
    assert calls == [(5, "cifar100")] and info["edgegpu_latency"] == pytest.approx(_measure(np.array(5), 0, 1))
    cols = hw.columns(query, load_embedded())
    assert "imagenet16_120_fpga_energy" in cols and "cifar10_config" not in cols


def test_hw_nas_bench_errors(tmp_path):
    bad = tmp_path / "bad.pickle"
    with open(bad, "wb") as f:
        pickle.dump({"darts": {}}, f)
    with pytest.raises(ValueError, match="no 'nasbench201' entry"):
        hw.pickle_query(bad)
    with pytest.raises(ValueError, match="HW-NAS-Bench file not found"):
        hw.api_query(tmp_path / "missing.pickle")
    q = hw.pickle_query(_one_dataset(tmp_path))
    with pytest.raises(ValueError, match=r"no dataset 'cifar100' \(has: cifar10\)"):
        q(0, "cifar100")


def _one_dataset(tmp_path):
    p = tmp_path / "one.pickle"
    with open(p, "wb") as f:
        pickle.dump({"nasbench201": {"cifar10": {"edgegpu_latency": [1.0, 2.0]}}}, f)
    return p


def test_converted_costs_match_jax_cost(hw_space):
    """The analytic params/FLOPs columns equal the NB201 cost counter (budgets agree with --space nb201)."""
    from l2nas_jax.spaces import get_space

    space, _ = hw_space
    archs = get_space("nb201").enumerate_archs()[:500]
    for a, b in zip(jax.vmap(lambda x: space.cost(x, "cifar10"))(archs),
                    jax.vmap(lambda x: get_space("nb201").cost(x, "cifar10"))(archs)):
        np.testing.assert_array_equal(a, b)


# -- NATS-Bench topology space --------------------------------------------------------------------------------------

topo = _load("spaces/nats_topology/convert.py")


class FakeTSS(FakeNATS):
    """A ``nats_bench`` topology-space stand-in: the 15,625 NB201 cells in official order, test accuracy from the
    embedded table, validation 0.3 below it with a per-cell wobble (so the two splits rank differently)."""

    def __init__(self):
        self.table = load_embedded()
        self.archs = [self.table.arch_string(i) for i in range(len(self.table.ops))]
        self.wobble = np.random.default_rng(0).normal(0, 0.4, len(self.archs))

    def _width(self, i):
        return int(np.sum(self.table.ops[i] == 3))  # conv3x3 edges: the costs grow with them

    def get_more_info(self, i, dataset, hp="200", is_random=False):
        ds = {"cifar10-valid": "cifar10", "cifar10": "cifar10", "cifar100": "cifar100",
              "ImageNet16-120": "imagenet16-120"}[dataset]
        test = float(self.table.metric(ds, "test")[i]) + (0.0 if is_random is False else (is_random - 800) / 100)
        info = {"test-accuracy": test}
        if dataset != "cifar10":
            info["valid-accuracy"] = max(test - 0.3 + self.wobble[i], 0.0)
        return info


@pytest.fixture(scope="module")
def topology_csv(tmp_path_factory):
    out = tmp_path_factory.mktemp("tss") / "nats_topology.csv"
    topo.main(["bench", str(out), "--seeds"], api_factory=lambda path: FakeTSS())
    return out


def test_nats_topology_file_is_an_nb201_table_with_validation_accuracy(topology_csv):
    from l2nas_jax.spaces.nb201.table import load_table

    table, fake = load_table(topology_csv), FakeTSS()
    np.testing.assert_array_equal(table.ops, fake.table.ops)  # official order kept
    for ds in ("cifar10", "cifar100", "imagenet16-120"):
        np.testing.assert_allclose(table.metric(ds, "test"), fake.table.metric(ds, "test"), atol=1e-4)
        assert "valid" in table.splits(ds)
    valid = table.metric("cifar100", "valid")
    np.testing.assert_allclose(valid, np.maximum(fake.table.metric("cifar100", "test") - 0.3 + fake.wobble, 0), atol=1e-4)
    # searching it optimizes validation and reports test: the two optima are different cells
    assert np.argmax(valid) != np.argmax(table.metric("cifar100", "test"))


def test_nats_topology_file_is_a_generic_table_with_per_seed_columns(topology_csv):
    space, data = load_table_space(topology_csv, search_metric="{dataset}_test_seed*",
                                   report_metric="{dataset}_test")
    assert data.grid.names == topo.EDGE_COLUMNS and all(len(c) == 5 for c in data.grid.choices)
    assert data.full and space.num_archs == 15625 and data.datasets == ("cifar10", "cifar100", "imagenet16_120")
    env = make_table_env(space, "cifar10")
    assert env.search_runs.shape == (15625, 2)  # the fake's two training seeds, one observed per query
    arch = np.asarray(space.from_string(space.to_string(np.array([3, 3, 3, 1, 3, 3]))))
    i = int(env.arch_id(arch))
    runs = np.asarray(env.search_runs[i])
    np.testing.assert_allclose(sorted(runs - float(env.report_acc[i])), [-0.23, 0.88], atol=1e-3)  # seeds 777, 888


def test_nats_topology_converter_errors():
    with pytest.raises(ValueError, match="NATS-Bench topology net 7"):
        topo.decisions(7, "|nor_conv_3x3~0|+|bogus~0|")
    if importlib.util.find_spec("nats_bench") is None:
        with pytest.raises(ValueError, match="pip install nats_bench"):
            topo.open_api("missing")
