"""The analytic NB201 cost counter reproduces the published / reference counts (docs/spaces.md)."""

import jax
import numpy as np
import pytest

from l2nas_jax.spaces.nb201.cost import nb201_cost
from l2nas_jax.spaces.nb201.table import load_embedded

# index: (params M, FLOPs M) for cifar10, cifar100, imagenet16-120 -- docs/spaces.md section 1 reference cells;
# index 0 and 11472 (ResNet) CIFAR-10 values are published (NASLib tests, NB201 cost_info).
REFERENCE = {
    1462: [(1.531546, 220.11969), (1.537396, 220.12554), (1.538696, 55.03756)],
    1835: [(0.073306, 7.78305), (0.079156, 7.78890), (0.080456, 1.95340)],
    9930: [(1.288506, 184.73025), (1.294356, 184.73610), (1.295656, 46.19020)],
    6111: [(1.073466, 153.27297), (1.079316, 153.27882), (1.080616, 38.32588)],
    857: [(0.858426, 121.81569), (0.864276, 121.82154), (0.865576, 30.46156)],
    11472: [(0.559386, 78.56193), (0.565236, 78.56778), (0.566536, 19.64812)],
    0: [(0.129306, 15.64737), (0.135156, 15.65322), (0.136456, 3.91948)],
    4317: [(0.241306, 31.37601), (0.247156, 31.38186), (0.248456, 7.85164)],
}
DATASETS = ("cifar10", "cifar100", "imagenet16-120")


@pytest.fixture(scope="module")
def table():
    return load_embedded()


@pytest.mark.parametrize("index", sorted(REFERENCE))
def test_reference_cells(table, index):
    for dataset, (params, flops) in zip(DATASETS, REFERENCE[index]):
        p, f = nb201_cost(table.ops[index], dataset)
        assert float(p) == pytest.approx(params, abs=2e-6), (index, dataset)
        assert float(f) == pytest.approx(flops, abs=2e-5), (index, dataset)


def test_vectorized_and_jitted_over_all_cells(table):
    p, f = jax.jit(nb201_cost, static_argnums=1)(table.ops, "cifar10")
    assert p.shape == f.shape == (15625,)
    # space min/max quoted from the official file (docs/spaces.md): params 0.073306..1.531546, FLOPs 7.78305..220.11969
    assert float(p.min()) == pytest.approx(0.073306, abs=2e-6) and float(p.max()) == pytest.approx(1.531546, abs=2e-6)
    assert float(f.min()) == pytest.approx(7.78305, abs=2e-5) and float(f.max()) == pytest.approx(220.11969, abs=2e-4)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown NB201 dataset"):
        nb201_cost(np.zeros(6, int), "mnist")
