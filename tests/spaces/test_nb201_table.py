"""Table loaders (embedded, CSV, official API via a stand-in module) and the NB201 environment."""

import csv
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2nas_jax.envs import make_env
from l2nas_jax.spaces.nb201 import codec as codec
from l2nas_jax.envs.table import make_nb201_env
from l2nas_jax.spaces.nb201.table import load_embedded, load_table, read_csv, save_npz


@pytest.fixture(scope="module")
def table():
    return load_embedded()


def _write_csv(path, table, rows=None, columns=("index", "arch", "cifar10_test")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        c10 = table.metric("cifar10", "test")
        for i in rows if rows is not None else range(len(table.ops)):
            row = {"index": i, "arch": table.arch_string(i), "cifar10_test": f"{c10[i]:.4f}",
                   "cifar10_valid": f"{c10[i] - 1:.4f}"}
            w.writerow([row[c] for c in columns])


def test_csv_round_trip_and_npz(tmp_path, table):
    p = tmp_path / "t.csv"
    _write_csv(p, table, columns=("index", "arch", "cifar10_valid", "cifar10_test"))
    t = read_csv(p)
    np.testing.assert_array_equal(t.ops, table.ops)
    np.testing.assert_allclose(t.metric("cifar10", "test"), table.metric("cifar10", "test"), atol=1e-4)
    assert t.splits("cifar10") == ("valid", "test")
    save_npz(t, tmp_path / "t.npz")
    t2 = load_table(tmp_path / "t.npz")
    np.testing.assert_array_equal(t2.metric("cifar10", "valid"), t.metric("cifar10", "valid"))
    # with a validation column the env searches on valid and reports test
    env = make_nb201_env("cifar10", t2)
    assert (env.search_split, env.report_split) == ("valid", "test")
    arch = jnp.array([3, 3, 3, 3, 3, 3])
    assert float(env.evaluate(jax.random.key(0), arch)) == pytest.approx(float(env.report(arch)) - 1, abs=1e-3)


@pytest.mark.parametrize(
    "mutation, message",
    [
        ("missing_column", "missing column"),
        ("no_acc", "no accuracy column"),
        ("short", "expected 15625 rows"),
        ("duplicate", "index 0 out of range or repeated"),
        ("bad_arch", "unknown NB201 op"),
        ("bad_number", "is not a number"),
    ],
)
def test_bad_csv_raises(tmp_path, table, mutation, message):
    p = tmp_path / "bad.csv"
    if mutation == "missing_column":
        _write_csv(p, table, columns=("index", "cifar10_test"))
    elif mutation == "no_acc":
        _write_csv(p, table, columns=("index", "arch"))
    elif mutation == "short":
        _write_csv(p, table, rows=range(100))
    elif mutation == "duplicate":
        _write_csv(p, table, rows=[0, *range(0, 15624)])
    else:
        _write_csv(p, table)
        lines = p.read_text().splitlines()
        if mutation == "bad_arch":
            lines[5] = lines[5].replace("nor_conv", "xor_conv", 1).replace("skip_connect", "skip_conect", 1)
        else:
            lines[5] = lines[5].rsplit(",", 1)[0] + ",abc"
        p.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=message):
        read_csv(p)


def test_duplicate_architecture_rejected(tmp_path, table):
    p = tmp_path / "dup.csv"
    _write_csv(p, table)
    lines = p.read_text().splitlines()
    lines[2] = "1," + lines[1].split(",")[1] + "," + lines[2].split(",")[2]  # row 1 gets row 0's arch
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="duplicate architecture"):
        read_csv(p)


def test_wrong_table_file_type(tmp_path):
    with pytest.raises(ValueError, match="unrecognised NB201 table"):
        load_table(tmp_path / "x.json")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot read"):
        load_table(tmp_path / "junk.npz")


def test_official_loader_through_api_module(tmp_path, table, monkeypatch):
    """The official-file path, with a stand-in for nas_201_api (the real file is not available here)."""
    c10 = table.metric("cifar10", "test")

    class FakeAPI:
        def __init__(self, path, verbose=False):
            self.path = path

        def __len__(self):
            return codec.NUM_ARCHS

        def arch(self, i):
            return table.arch_string(i)

        def get_more_info(self, i, dataset, hp="12", is_random=True):
            assert hp == "200" and is_random is False
            base = {"cifar10-valid": 1.0, "cifar10": 0.0, "cifar100": 2.0, "ImageNet16-120": 3.0}[dataset]
            return {"valid-accuracy": float(c10[i]) - base - 0.5, "test-accuracy": float(c10[i]) - base}

    monkeypatch.setitem(sys.modules, "nas_201_api", types.SimpleNamespace(NASBench201API=FakeAPI))
    f = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    f.write_bytes(b"")
    t = load_table(f)
    np.testing.assert_allclose(t.metric("cifar10", "valid"), c10 - 1.5, atol=1e-4)
    np.testing.assert_allclose(t.metric("cifar10", "test"), c10, atol=1e-4)
    np.testing.assert_allclose(t.metric("imagenet16-120", "test"), c10 - 3.0, atol=1e-4)
    env = make_env("nb201", dataset="cifar100", table=t)
    assert env.search_split == "valid"


def test_official_loader_without_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nas_201_api", None)
    with pytest.raises(ValueError, match=r"pip install 'l2nas-jax\[nb201\]'"):
        load_table(tmp_path / "NAS-Bench-201.pth")


def test_official_loader_without_torch_names_it(tmp_path, monkeypatch):
    """nas_201_api installed but PyTorch missing (the extra used to leave it out): the error says torch."""
    pkg = tmp_path / "site" / "nas_201_api"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("import torch\n\n\nclass NASBench201API:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "nas_201_api", raising=False)
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch fails, installed or not
    with pytest.raises(ValueError, match=r"torch \(PyTorch\) is not installed\): pip install 'l2nas-jax\[nb201\]'"):
        load_table(tmp_path / "NAS-Bench-201.pth")


@pytest.mark.parametrize("loader", ["csv", "npz"])
def test_fractional_accuracies_are_refused(tmp_path, table, loader):
    """Accuracies in [0, 1] instead of %: every number would be silently 100x off."""
    p = tmp_path / "frac.csv"
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("index", "arch", "cifar10_test"))
        c10 = table.metric("cifar10", "test")
        for i in range(len(table.ops)):
            w.writerow((i, table.arch_string(i), f"{c10[i] / 100:.6f}"))
    if loader == "npz":  # an .npz written without the check (as an older convert_csv.py could)
        arrays = {"ops": table.ops.astype(np.uint8), "acc:cifar10:test": (c10 / 100).astype(np.float32)}
        p = tmp_path / "frac.npz"
        np.savez_compressed(p, **arrays)
    with pytest.raises(ValueError, match=r"cifar10/test accuracies look like fractions in \[0, 1\]; NB201 tables "
                                         r"are in % \(multiply by 100\)"):
        load_table(p)


def test_env_evaluate_is_a_table_lookup(table):
    env = make_env("nb201", dataset="imagenet16-120")
    idx = np.random.default_rng(0).integers(0, codec.NUM_ARCHS, 200)
    archs = jnp.asarray(table.ops[idx])
    got = jax.jit(jax.vmap(env.evaluate))(jax.random.split(jax.random.key(0), 200), archs)
    np.testing.assert_allclose(got, table.metric("imagenet16-120", "test")[idx], rtol=0, atol=0)
    assert float(env.max_reward) == 100.0  # the fixed scale of accuracies in %, not the table's 47.31


def test_noisy_env_perturbs_search_not_report():
    env = make_env("nb201", dataset="cifar10", noise_sigma=0.5)
    arch = jnp.array([3, 3, 3, 3, 3, 3])
    vals = jax.vmap(env.evaluate, in_axes=(0, None))(jax.random.split(jax.random.key(1), 4000), arch)
    assert float(vals.std()) == pytest.approx(0.5, rel=0.05)
    assert float(vals.mean()) == pytest.approx(93.76, abs=0.03)
    assert float(env.report(arch)) == pytest.approx(93.76, abs=1e-3)
    with pytest.raises(ValueError, match="noise_sigma"):
        make_env("nb201", noise_sigma=-1.0)


@pytest.mark.slow
def test_discretize_and_mutate_valid():
    env = make_env("nb201")
    alphas = jax.random.normal(jax.random.key(0), (500, 6, 5))
    archs = jax.vmap(env.discretize)(alphas)
    np.testing.assert_array_equal(archs, np.argmax(np.asarray(alphas), -1))
    muts = jax.vmap(env.mutate)(jax.random.split(jax.random.key(1), 500), archs)
    diff = np.asarray(muts != archs).sum(-1)
    assert np.all(diff == 1)  # exactly one edge changes, to a different op
    assert np.asarray(muts).min() >= 0 and np.asarray(muts).max() < codec.NUM_OPS


def test_unknown_space_and_dataset():
    with pytest.raises(ValueError, match="unknown search space 'foo'"):
        make_env("foo")
    with pytest.raises(ValueError, match="unknown NB201 dataset 'svhn'"):
        make_env("nb201", dataset="svhn")
