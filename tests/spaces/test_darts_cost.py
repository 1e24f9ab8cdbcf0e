import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2nas_jax.spaces.darts import codec as dc
from l2nas_jax.spaces.darts.cost import darts_cost, darts_cost_counts, darts_search_cost, darts_search_counts

# docs/spaces.md section 2: CIFAR-10 eval net (C=36, 20 cells), auxiliary head excluded.
TABLE = {
    "DARTS_V2": (3_349_342, 528.36),
    "DARTS_V1": (3_169_414, 500.99),
    "PC_DARTS_cifar": (3_634_678, 556.67),
    "PDARTS": (3_433_798, 532.17),
    "GDAS_V1": (3_368_782, 519.43),
}


@pytest.mark.parametrize("name", list(TABLE))
def test_cifar_table(name):
    params, macs = TABLE[name]
    arch = dc.parse_genotype(name)
    p_int, m_int = darts_cost_counts(arch)
    assert p_int == params
    assert m_int / 1e6 == pytest.approx(macs, abs=0.01)
    p, m = darts_cost(arch)
    assert p.dtype == jnp.float32 and m.dtype == jnp.float32
    assert float(p) == pytest.approx(params / 1e6, abs=1e-6)
    assert float(m) == pytest.approx(macs, abs=0.01)


def test_search_supernet():
    p, m = darts_search_counts()
    assert p == 1_930_618  # "param size = 1.930618MB" in train_search.py logs
    assert darts_search_cost()[0] == pytest.approx(1.930618, abs=1e-6)
    assert darts_search_cost()[1] == pytest.approx(m / 1e6)
    # A tiny supernet (what the nets tests instantiate) still counts: fewer cells, fewer params.
    tiny = darts_search_counts(C=4, layers=2, image_size=8)
    assert 0 < tiny[0] < p and 0 < tiny[1] < m


def test_imagenet_darts_v2():
    arch = dc.parse_genotype("DARTS_V2")
    p_int, m_int = darts_cost_counts(arch, network="imagenet")
    assert p_int == 4_718_752  # README "4.7M"
    assert m_int / 1e6 == pytest.approx(529.91, abs=0.01)
    p, m = darts_cost(arch, network="imagenet")
    assert float(p) == pytest.approx(4.718752, abs=1e-6) and float(m) == pytest.approx(529.91, abs=0.01)
    # Explicit arguments equal to the defaults give the same numbers.
    assert darts_cost_counts(arch, network="imagenet", C=48, layers=14, num_classes=1000, image_size=224) == (
        p_int,
        m_int,
    )


def test_auxiliary_head_cifar():
    arch = dc.parse_genotype("DARTS_V2")
    base_p, base_m = darts_cost_counts(arch)
    aux_p, aux_m = darts_cost_counts(arch, auxiliary=True)
    c_aux = 4 * 144  # output of cell 13 (the second reduction cell)
    head_p = c_aux * 128 + 2 * 128 + 128 * 4 * 768 + 2 * 768 + 768 * 10 + 10
    head_m = c_aux * 128 * 4 + 128 * 768 * 4 + 768 * 10
    assert (aux_p - base_p, aux_m - base_m) == (head_p, head_m)
    assert float(darts_cost(arch, auxiliary=True)[0]) == pytest.approx(aux_p / 1e6, abs=1e-6)


def test_marginal_costs_by_hand():
    """Swapping single ops changes the cost by the hand-derived per-op amounts."""
    base = dc.parse_genotype("DARTS_V2")
    s3, sk, mp = (dc.DARTS_OPS.index(n) for n in ("sep_conv_3x3", "skip_connect", "max_pool_3x3"))
    assert tuple(base[0, 4]) == (sk, 0) and tuple(base[1, 0]) == (mp, 0)
    p0, m0 = darts_cost_counts(base)
    # Normal (skip, 0) -> (sep_conv_3x3, 0): 6 normal cells at each of C = 36/72/144, sizes 32/16/8.
    a = base.copy()
    a[0, 4, 0] = s3
    p, m = darts_cost_counts(a)
    cs, hws = (36, 72, 144), (32, 16, 8)
    assert p - p0 == sum(6 * 2 * (9 * c + c * c + 2 * c) for c in cs)
    assert m - m0 == sum(6 * 2 * (9 * c + c * c) * hw * hw for c, hw in zip(cs, hws))
    # Reduce (max_pool, 0) -> (skip, 0): a stride-2 skip is a FactorizedReduce in both reduction cells.
    a = base.copy()
    a[1, 0, 0] = sk
    p, m = darts_cost_counts(a)
    assert p - p0 == sum(c * c + 2 * c for c in (72, 144))
    assert m - m0 == sum(c * c * hw * hw for c, hw in ((72, 16), (144, 8)))
    # ... while a stride-1 skip (input state 2) is free.
    a = base.copy()
    a[1, 3] = (mp, 2)
    assert darts_cost_counts(a) == (p0, m0)


CONFIGS = [
    {},
    {"network": "imagenet"},
    {"C": 4, "layers": 2, "num_classes": 3, "image_size": 8},
    {"C": 6, "layers": 5, "num_classes": 7, "image_size": 32, "auxiliary": True},
]


@pytest.fixture(scope="module")
def archs():
    rng = np.random.default_rng(0)  # numpy sampling: no extra XLA compile
    a = np.zeros((32, 2, 8, 2), np.int32)
    a[..., 0] = rng.integers(0, 7, size=(32, 2, 8))
    for i in range(32):
        for c in range(2):
            for n in range(4):
                a[i, c, 2 * n : 2 * n + 2, 1] = np.sort(rng.choice(n + 2, 2, replace=False))
    assert all(dc.is_valid(x, canonical=True) for x in a)
    return np.concatenate([a, np.stack([dc.parse_genotype(n) for n in TABLE])])


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
def test_jit_vmap_matches_counts(archs, cfg):
    fn = jax.jit(jax.vmap(functools.partial(darts_cost, **cfg)))
    p, m = (np.asarray(x) for x in fn(jnp.asarray(archs)))
    ref = np.array([darts_cost_counts(a, **cfg) for a in archs], np.float64) / 1e6
    np.testing.assert_allclose(p, ref[:, 0], atol=1e-6, rtol=0)
    np.testing.assert_allclose(m, ref[:, 1], atol=1e-3 * max(1.0, ref[:, 1].max() / 100), rtol=0)
    # Leading batch dims work without vmap too, and random archs are not all the same cost.
    p2, _ = darts_cost(archs.reshape(-1, 1, 2, 8, 2), **cfg)
    np.testing.assert_array_equal(np.asarray(p2)[:, 0], p)
    assert len(np.unique(p)) > len(archs) // 2


def test_errors():
    arch = dc.parse_genotype("DARTS_V2")
    with pytest.raises(ValueError, match="unknown DARTS network 'mobile'"):
        darts_cost(arch, network="mobile")
    with pytest.raises(ValueError, match="spatial size 7 is odd"):
        darts_cost_counts(arch, image_size=14)  # second reduction cell would halve 7
    with pytest.raises(ValueError, match="odd"):
        darts_cost_counts(arch, image_size=30)
    assert darts_cost_counts(arch, image_size=28)[0] == TABLE["DARTS_V2"][0]  # 28 -> 14 -> 7 is fine
    with pytest.raises(ValueError, match="must be a positive int"):
        darts_cost_counts(arch, C=0)
    with pytest.raises(ValueError, match="auxiliary head needs"):
        darts_cost_counts(arch, C=4, layers=2, image_size=8, auxiliary=True)
    bad = arch.copy()
    bad[0, 1, 1] = 0
    with pytest.raises(ValueError, match="not a valid DARTS arch"):
        darts_cost_counts(bad)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2, 8, 2\)"):
        darts_cost(jnp.zeros((2, 8), jnp.int32))
