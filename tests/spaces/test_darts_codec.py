import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from l2nas_jax.spaces.darts import codec as dc

NAMES = ["DARTS_V1", "DARTS_V2", "PC_DARTS_cifar", "PDARTS", "GDAS_V1"]


@functools.lru_cache(maxsize=None)
def _jitted():
    """Compile each function once for the whole module."""
    return {
        "discretize": jax.jit(dc.discretize),
        "encode": jax.jit(dc.encode),
        "random": jax.jit(jax.vmap(dc.random_arch)),
        "mutate": jax.jit(jax.vmap(dc.mutate)),
        "hash": jax.jit(dc.arch_hash, static_argnums=1),
    }


def _darts_genotype_rule(alpha: np.ndarray) -> np.ndarray:
    """Independent numpy port of DARTS' ``genotype()._parse`` (stable sort by -max), canonicalized."""
    a = np.where(np.isnan(alpha), -np.inf, alpha).reshape(2, 14, 7)
    out = np.zeros((2, 8, 2), np.int32)
    for c in range(2):
        start = 0
        for n in range(4):
            w = a[c, start : start + n + 2]
            edges = sorted(range(n + 2), key=lambda x: -w[x].max())[:2]
            for slot, j in enumerate(sorted(edges)):
                out[c, 2 * n + slot] = (int(np.argmax(w[j])), j)
            start += n + 2
    return out


# ----------------------------------------------------------------------------- constants / genotypes


def test_contract_constants():
    assert dc.DARTS_OPS == (
        "sep_conv_3x3",
        "sep_conv_5x5",
        "dil_conv_3x3",
        "dil_conv_5x5",
        "max_pool_3x3",
        "avg_pool_3x3",
        "skip_connect",
    )
    assert dc.NUM_EDGES == 14 and dc.ALPHA_SHAPE == (28, 7) and dc.ARCH_SHAPE == (2, 8, 2)
    np.testing.assert_array_equal(dc.EDGE_NODE, [2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 5])
    np.testing.assert_array_equal(dc.EDGE_INPUT, [0, 1, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3, 4])
    assert dc.NUM_ARCHS == (180 * 7**8) ** 2


def test_darts_v2_parses_to_published_pairs():
    a = dc.parse_genotype("DARTS_V2")
    ops = {n: i for i, n in enumerate(dc.DARTS_OPS)}
    s3, sk, d3, mp = ops["sep_conv_3x3"], ops["skip_connect"], ops["dil_conv_3x3"], ops["max_pool_3x3"]
    # quark0/darts DARTS_V2, canonicalized (inputs ascending within a node).
    normal = [(s3, 0), (s3, 1), (s3, 0), (s3, 1), (sk, 0), (s3, 1), (sk, 0), (d3, 2)]
    reduce = [(mp, 0), (mp, 1), (mp, 1), (sk, 2), (mp, 0), (sk, 2), (mp, 1), (sk, 2)]
    np.testing.assert_array_equal(a, np.array([normal, reduce], np.int32))
    assert a.dtype == np.int32


@pytest.mark.parametrize("name", NAMES)
def test_named_genotypes_round_trip(name):
    a = dc.parse_genotype(name)
    assert dc.is_valid(a, canonical=True)
    np.testing.assert_array_equal(dc.parse_genotype(dc.GENOTYPES[name]), a)
    s = dc.format_genotype(a)
    assert s.startswith("Genotype(normal=[('") and s.endswith("reduce_concat=[2, 3, 4, 5])")
    np.testing.assert_array_equal(dc.parse_genotype(s), a)
    assert dc.format_genotype(dc.parse_genotype(s)) == s  # canonical strings round-trip exactly
    np.testing.assert_array_equal(np.asarray(_jitted()["discretize"](dc.encode(a))), a)


def test_genotype_names_are_case_insensitive_and_darts_alias():
    np.testing.assert_array_equal(dc.parse_genotype(" darts_v2 "), dc.parse_genotype("DARTS_V2"))
    np.testing.assert_array_equal(dc.parse_genotype("DARTS"), dc.parse_genotype("DARTS_V2"))


def test_parse_accepts_layout_variants():
    ref = dc.parse_genotype("PDARTS")
    s = dc.format_genotype(ref)
    variants = [
        s.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)").replace(
            "reduce_concat=[2, 3, 4, 5]", "reduce_concat=range(2, 6)"
        ),  # DARTS' search logs print range objects
        s.replace("'", '"'),
        s.replace(", ", ",\n    ").replace("(", "( ").replace("[", "[ "),
        re.sub(r"\('(\w+)', (\d)\)", r"['\1', \2]", s),  # lists instead of tuples
        dc.GENOTYPES["PDARTS"],  # published (non-canonical) pair order
    ]
    # positional fields
    variants.append(
        s.replace("normal=", "").replace("normal_concat=", "").replace("reduce=", "").replace("reduce_concat=", "")
    )
    for v in variants:
        np.testing.assert_array_equal(dc.parse_genotype(v), ref, err_msg=v)


def _bad(name="DARTS_V2"):
    return dc.format_genotype(dc.parse_genotype(name))


@pytest.mark.parametrize(
    "text, fragment",
    [
        (_bad().replace("'sep_conv_3x3'", "'conv_9x9'", 1), "unknown DARTS op 'conv_9x9' in normal pair 0"),
        (_bad().replace("'max_pool_3x3'", "'none'", 1), "'none' is never part"),
        (_bad().replace("('sep_conv_3x3', 0), ", "", 1), "normal has 7 pairs, expected 8"),
        (_bad().replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', 2)", 1), r"feeds node 2, so its input state must be in \[0, 2\), got 2"),
        (_bad().replace("('skip_connect', 2)]", "('skip_connect', 7)]"), r"reduce pair 7 .* must be in \[0, 5\), got 7"),
        (_bad().replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', 0)", 1), "normal node 2 reads input state 0 twice"),
        (_bad().replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', -1)", 1), "must be in \\[0, 2\\), got -1"),
        (_bad().replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 4]"), r"normal_concat must be \[2, 3, 4, 5\]"),
        (_bad().replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=[5, 4, 3, 2]"), r"reduce_concat must be"),
        (_bad().replace(", reduce_concat=[2, 3, 4, 5]", ""), "missing field.*reduce_concat"),
        (_bad().replace("reduce_concat=", "reduce_cat="), "unknown Genotype field 'reduce_cat'"),
        (_bad().replace("reduce_concat=", "normal_concat="), "field 'normal_concat' given twice"),
        (_bad().replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', '0')", 1), "input state must be an integer"),
        (_bad().replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', True)", 1), "input state must be an integer"),
        (_bad().replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', 0, 1)", 1), "normal pair 0 must be an"),
        (_bad().replace("('sep_conv_3x3', 0)", "(3, 0)", 1), "op name must be a string"),
        (_bad().replace("normal=[", "normal=foo([").replace("], normal_concat", "]), normal_concat"), "normal is not a literal"),
        (_bad().replace("normal=[", "normal=7, x=[", 1), "unknown Genotype field 'x'"),
        ("DARTS_V3", "unknown DARTS genotype name 'DARTS_V3'"),
        ("hello world", "malformed DARTS genotype"),
        ("", "malformed DARTS genotype"),
        ("Genotype(normal=[", "malformed DARTS genotype"),
        ("[('sep_conv_3x3', 0)]", "malformed DARTS genotype"),
        ("__import__('os').system('true')", "malformed DARTS genotype"),
        ("Genotype(**{})", r"Genotype\(\*\*...\) is not supported"),
        ("Genotype(1, 2, 3, 4, 5)", "4 fields, got 5 positional"),
        ("Genotype(" + "[" * 5000 + "]" * 5000 + ")", "malformed|not a literal|too long"),
    ],
)
def test_malformed_genotypes_raise(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        dc.parse_genotype(text)


def test_parse_rejects_non_string():
    with pytest.raises(ValueError, match="must be a str"):
        dc.parse_genotype(3)


def test_format_rejects_invalid_arch():
    a = dc.parse_genotype("DARTS_V2").copy()
    a[0, 1, 1] = a[0, 0, 1]  # duplicate input at node 2
    with pytest.raises(ValueError, match="not a valid DARTS arch"):
        dc.format_genotype(a)
    with pytest.raises(ValueError, match="not a valid DARTS arch"):
        dc.format_genotype(np.zeros((2, 7, 2), np.int32))


def test_is_valid_and_canonicalize():
    a = dc.parse_genotype("GDAS_V1")
    assert dc.is_valid(a) and dc.is_valid(a, canonical=True)
    swapped = a.copy()
    swapped[1, [2, 3]] = swapped[1, [3, 2]]
    assert dc.is_valid(swapped) and not dc.is_valid(swapped, canonical=True)
    out = dc.canonicalize(swapped)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, a)
    np.testing.assert_array_equal(np.asarray(jax.jit(dc.canonicalize)(swapped)), a)
    bad_op, bad_in = a.copy(), a.copy()
    bad_op[0, 0, 0] = 7
    bad_in[0, 4, 1] = 4  # node 4 reads state 4 (itself)
    assert not dc.is_valid(bad_op) and not dc.is_valid(bad_in)
    assert not dc.is_valid(a.astype(np.float32)) and not dc.is_valid(a[:, :7])


# ----------------------------------------------------------------------------- discretize / encode


def test_discretize_accepts_both_alpha_shapes_and_rejects_others():
    alpha = np.random.default_rng(3).normal(size=(28, 7)).astype(np.float32)
    a = np.asarray(dc.discretize(alpha))
    np.testing.assert_array_equal(np.asarray(dc.discretize(alpha.reshape(2, 14, 7))), a)
    np.testing.assert_array_equal(a, _darts_genotype_rule(np.asarray(alpha)))
    with pytest.raises(ValueError, match="alpha must have shape"):
        dc.discretize(jnp.zeros((14, 8)))


def test_discretize_ties_prefer_lower_edge_and_op():
    # All-equal α: every node keeps its two lowest inputs (0, 1) with op 0.
    a = np.asarray(dc.discretize(jnp.zeros((28, 7))))
    assert (a[..., 0] == 0).all()
    np.testing.assert_array_equal(a[..., 1], np.tile([0, 1], (2, 4)))
    # NaN rows never win over finite ones.
    alpha = np.zeros((28, 7), np.float32)
    alpha[9] = np.nan  # node 5, input 0
    alpha[13, 6] = 5.0  # node 5, input 4 via skip_connect
    a = np.asarray(dc.discretize(alpha))
    assert a[0, 6:8].tolist() == [[0, 1], [6, 4]]


def test_encode_layout():
    a = dc.parse_genotype("DARTS_V2")
    x = np.asarray(_jitted()["encode"](a))
    assert x.shape == (28, 7) and x.dtype == np.float32
    assert x.sum() == 16 and set(np.unique(x)) == {0.0, 1.0}
    # normal node 5 (edges 9-13) keeps (skip, 0) and (dil_conv_3x3, 2): rows 9 and 11.
    assert x[9].argmax() == dc.DARTS_OPS.index("skip_connect") and x[11].argmax() == dc.DARTS_OPS.index("dil_conv_3x3")
    assert x[[10, 12, 13]].sum() == 0
    # reduce node 3 keeps (max_pool, 1), (skip, 2): rows 14 + 3 and 14 + 4.
    assert x[17].argmax() == dc.DARTS_OPS.index("max_pool_3x3") and x[18].argmax() == dc.DARTS_OPS.index("skip_connect")
    assert x[16].sum() == 0
    with pytest.raises(ValueError, match=r"shape \(2, 8, 2\)"):
        dc.encode(jnp.zeros((2, 8), jnp.int32))


_ALPHA = st.one_of(
    hnp.arrays(np.float32, (28, 7), elements=st.floats(-1e3, 1e3, width=32, allow_subnormal=False)),  # XLA CPU flushes subnormals
    hnp.arrays(np.float32, (28, 7), elements=st.sampled_from([0.0, 1.0, 2.0])),  # many ties
    hnp.arrays(np.float32, (28, 7), elements=st.sampled_from([0.0, 1.0, np.inf, -np.inf, np.nan])),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alpha=_ALPHA)
def test_discretize_property(alpha):
    a = np.asarray(_jitted()["discretize"](alpha))
    assert a.dtype == np.int32 and a.shape == (2, 8, 2)
    # Two distinct incoming edges per node, inputs < node, canonical, ops in range (no 'none').
    assert dc.is_valid(a, canonical=True)
    np.testing.assert_array_equal(a, _darts_genotype_rule(alpha))
    np.testing.assert_array_equal(np.asarray(_jitted()["discretize"](_jitted()["encode"](a))), a)


# ----------------------------------------------------------------------------- random / mutate / hash


@pytest.fixture(scope="module")
def random_archs():
    return np.asarray(_jitted()["random"](jax.random.split(jax.random.PRNGKey(0), 4000)))


def test_random_arch_valid_and_uniform(random_archs):
    n = len(random_archs)
    assert all(dc.is_valid(a, canonical=True) for a in random_archs)
    ops = random_archs[..., 0].ravel()
    np.testing.assert_allclose(np.bincount(ops, minlength=7) / ops.size, 1 / 7, atol=0.01)
    # Node 5 (pairs 6, 7): all C(5, 2) = 10 input pairs about equally likely.
    pairs = random_archs[:, :, 6, 1] * 5 + random_archs[:, :, 7, 1]
    counts = np.bincount(pairs.ravel(), minlength=25)
    expected = [lo * 5 + hi for lo in range(5) for hi in range(lo + 1, 5)]
    assert set(np.flatnonzero(counts)) == set(expected)
    np.testing.assert_allclose(counts[expected] / (2 * n), 0.1, atol=0.02)
    assert len({a.tobytes() for a in random_archs}) == n


def test_mutate_valid_and_different(random_archs):
    base = random_archs[:1000]
    keys = jax.random.split(jax.random.PRNGKey(1), len(base))
    out = np.asarray(_jitted()["mutate"](keys, base))
    assert all(dc.is_valid(m, canonical=True) for m in out)
    diff = (out != base).reshape(len(base), -1)
    assert diff.any(1).all()
    ops_changed = (out[..., 0] != base[..., 0]).sum((1, 2))
    inputs_changed = (np.sort(out[..., 1].reshape(-1, 2, 4, 2), -1) != base[..., 1].reshape(-1, 2, 4, 2)).any(-1)
    # One mutation = exactly one op changed, or one node's input set changed (ops may move with it).
    assert ((ops_changed == 1) & ~inputs_changed.any((1, 2)) | (inputs_changed.sum((1, 2)) == 1)).all()
    frac_input = inputs_changed.any((1, 2)).mean()
    assert 0.3 < frac_input < 0.55  # 1/2 * (6 of 8 pairs can move an input) = 0.375
    # Non-canonical input is accepted and the result is still canonical.
    swapped = base[0].copy()
    swapped[0, [6, 7]] = swapped[0, [7, 6]]
    m = np.asarray(dc.mutate(jax.random.PRNGKey(5), swapped))
    assert dc.is_valid(m, canonical=True) and not np.array_equal(m, base[0])


def test_arch_hash(random_archs):
    h = _jitted()["hash"]
    named = [int(h(dc.parse_genotype(n), 1 << 20)) for n in NAMES]
    assert len(set(named)) == len(NAMES) and all(0 <= x < 1 << 20 for x in named)
    hs = np.asarray(h(random_archs, 1 << 24))  # batch dims are supported
    assert hs.dtype == np.int32 and hs.min() >= 0 and hs.max() < 1 << 24
    n = len(random_archs)
    assert n - len(set(hs.tolist())) <= 5  # ~0.5 collisions expected among 4000 in 2^24 buckets
    small = np.asarray(h(random_archs, 7))
    np.testing.assert_allclose(np.bincount(small, minlength=7) / n, 1 / 7, atol=0.025)
    # Hash depends only on the canonical arch, and equals the unbatched value.
    swapped = random_archs[0].copy()
    swapped[1, [4, 5]] = swapped[1, [5, 4]]
    assert int(h(swapped, 1 << 24)) == hs[0] == int(dc.arch_hash(random_archs[0], 1 << 24))
    with pytest.raises(ValueError, match="num_buckets"):
        dc.arch_hash(random_archs[0], 0)
