"""OFA MobileNetV3 space: codec, analytic cost, fixed subnets and the elastic supernet.

Compile budget: the supernet is compiled once (one train step returning logits, grads and
new BN statistics, at XLA -O0), its masked reference form once (no switches: about half the
compile), one fixed subnet once; everything else is traced only
(``jax.eval_shape`` / ``jax.make_jaxpr``) or is small.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from l2nas_jax.spaces import conv as conv_lib
from l2nas_jax.spaces.ofa import codec as codec
from l2nas_jax.spaces.ofa import cost as oc
from l2nas_jax.spaces.ofa import nets as ofa

FAST = {"xla_backend_optimization_level": 0}  # compile-time, not run-time, is what tests pay for
TINY = (8, 8, 8, 16, 16, 24, 24, 32, 32)  # base widths for CPU-sized nets
CLASSES = 10
SIZE = 32

# ---------------------------------------------------------------- codec

_discretize = jax.jit(codec.discretize)
_encode = jax.jit(codec.encode)
_random = jax.jit(jax.vmap(codec.random_arch))
_mutate = jax.jit(jax.vmap(codec.mutate))
_canon = jax.jit(codec.canonicalize)
_hash = jax.jit(codec.arch_hash, static_argnums=1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(np.float32, codec.ALPHA_SHAPE, elements=st.floats(-1e3, 1e3, width=32, allow_subnormal=False)))
def test_discretize_random_alpha_is_valid_and_canonical(alpha):
    arch = np.asarray(_discretize(alpha))
    assert arch.shape == (26,) and arch.dtype == np.int32
    assert (arch[:20] >= 0).all() and (arch[:20] <= 8).all()
    assert (arch[20:25] >= 0).all() and (arch[20:25] <= 2).all()
    assert 0 <= arch[25] <= 4
    # argmax over the valid columns only
    assert arch[25] == int(np.argmax(alpha[25, :5]))
    np.testing.assert_array_equal(arch[20:25], np.argmax(alpha[20:25, :3], axis=1))
    for i in range(20):
        depth = codec.DEPTHS[arch[20 + i // 4]]
        assert arch[i] == (int(np.argmax(alpha[i])) if i % 4 < depth else 0)
    # one-hot round trip
    np.testing.assert_array_equal(np.asarray(_discretize(_encode(arch))), arch)


def test_invalid_columns_never_chosen():
    alpha = np.zeros(codec.ALPHA_SHAPE, np.float32)
    alpha[20:, :] = -1.0
    alpha[20:25, 3:] = 100.0  # invalid depth columns
    alpha[25, 5:] = 100.0  # invalid resolution columns
    alpha[20:25, 2] = 0.5
    alpha[25, 4] = 0.5
    arch = np.asarray(_discretize(alpha))
    assert (arch[20:25] == 2).all() and arch[25] == 4


def test_encode_layout():
    arch = codec.config_to_arch(codec.parse_subnet("r176 d=2,3,4,2,3 | k3e3 k7e6 - - | k5e4 k5e4 k5e4 - | "
                                                   "k3e6 k5e6 k7e6 k3e4 | k7e3 k7e3 - - | k3e3 k3e4 k3e6 -"))
    onehot = np.asarray(_encode(arch))
    assert onehot.shape == (26, 9)
    assert onehot[~codec.VALID_MASK].sum() == 0
    assert onehot[1, codec.op_id(7, 6)] == 1 and onehot[1].sum() == 1
    assert onehot[2].sum() == 0 and onehot[3].sum() == 0  # skipped layers
    np.testing.assert_array_equal(onehot[20:25].argmax(1), [0, 1, 2, 0, 1])
    assert onehot[25].argmax() == 1
    assert onehot.sum() == 2 + 3 + 4 + 2 + 3 + 6
    np.testing.assert_array_equal(np.asarray(_encode(np.stack([arch, arch]))), np.stack([onehot, onehot]))


def test_random_arch_and_mutate():
    keys = jax.random.split(jax.random.key(0), 256)
    archs = np.asarray(_random(keys))
    np.testing.assert_array_equal(archs, np.asarray(_canon(archs)))
    assert len({a.tobytes() for a in archs}) == 256
    assert set(archs[:, 25]) == set(range(5)) and set(archs[:, 20:25].ravel()) == {0, 1, 2}
    assert set(archs[:, :20].ravel()) == set(range(9))
    mutants = np.asarray(_mutate(jax.random.split(jax.random.key(1), 256), archs))
    np.testing.assert_array_equal(mutants, np.asarray(_canon(mutants)))
    changed = (mutants != archs).sum(1)
    assert (changed >= 1).all()
    same_depth = (mutants[:, 20:] == archs[:, 20:]).all(1)
    assert (changed[same_depth] == 1).all()  # one layer op resampled
    assert ((mutants[:, 20:] != archs[:, 20:]).sum(1) <= 1).all()  # at most one depth/resolution gene
    kinds = [(~same_depth & (mutants[:, 25] == archs[:, 25])).any(), (mutants[:, 25] != archs[:, 25]).any(),
             same_depth.any()]
    assert all(kinds)  # depths, resolution and layer ops all get mutated


def test_arch_hash():
    keys = jax.random.split(jax.random.key(2), 512)
    archs = _random(keys)
    h = np.asarray(_hash(archs, 2**31 - 1))
    assert len(set(h.tolist())) == 512 and (h >= 0).all()
    a = np.asarray(codec.config_to_arch(codec.parse_subnet(
        "r224 d=2,2,2,2,2 | k3e3 k3e3 - - | k3e3 k3e3 - - | k3e3 k3e3 - - | k3e3 k3e3 - - | k3e3 k3e3 - -")))
    b = a.copy()
    b[2:4] = 8  # skipped layers: same subnet, same hash
    ha, hb = np.asarray(_hash(np.stack([a, b]), 1000))
    assert ha == hb and 0 <= ha < 1000
    assert ((np.asarray(_hash(archs, 7)) >= 0) & (np.asarray(_hash(archs, 7)) < 7)).all()
    with pytest.raises(ValueError, match="num_buckets"):
        codec.arch_hash(a, 0)


SUBNET_595M = ("r236 d=3,4,4,4,4 | k3e3 k5e4 k3e3 - | k5e4 k5e4 k3e6 k5e3 | k7e6 k5e6 k3e3 k5e4 | "
               "k3e6 k5e6 k7e6 k3e4 | k3e6 k3e6 k5e6 k3e3")


def test_config_round_trips():
    for arch in np.asarray(_random(jax.random.split(jax.random.key(3), 20))):
        cfg = codec.arch_to_config(arch)
        np.testing.assert_array_equal(codec.config_to_arch(cfg), arch)
        assert codec.SubnetConfig.from_json(cfg.to_json()) == cfg
        s = codec.format_subnet(cfg)
        assert codec.parse_subnet(s) == cfg and codec.format_subnet(arch) == s
        assert codec.parse_subnet("  " + s.replace(" | ", "|").replace("d=", "d = ") + " ") == cfg
    cfg = codec.parse_subnet(SUBNET_595M)
    assert str(cfg) == SUBNET_595M and cfg.r == 236
    assert json.loads(cfg.to_json()) == {"ks": list(cfg.ks), "e": list(cfg.e), "d": [3, 4, 4, 4, 4], "r": 236}
    # OFA's own dicts: non-canonical skipped entries, 'image_size' / list-valued 'r'
    raw = {"ks": [7] * 20, "e": [6] * 20, "d": [2] * 5, "image_size": 192}
    c2 = codec.SubnetConfig.from_dict(raw)
    assert c2.r == 192 and c2.ks[3] == 7 and c2.canonical().ks[3] == 3
    assert codec.SubnetConfig.from_json(c2.to_json()) == c2
    assert codec.SubnetConfig.from_dict({"ks": raw["ks"], "e": raw["e"], "d": raw["d"], "r": [192]}) == c2
    assert codec.config_to_arch(c2)[3] == 0 and codec.config_to_arch(c2)[0] == 8
    assert codec.as_config(c2.to_json()) == c2 and codec.as_config(str(c2)) == c2.canonical()


_U2 = "k3e3 k3e3 - -"  # a depth-2 unit


def _subnet(header: str = "r224 d=2,2,2,2,2", first: str = _U2, units: int = 4) -> str:
    return " | ".join([header, first] + [_U2] * units)


@pytest.mark.parametrize(
    "text, match",
    [
        (_subnet(units=3), "5 '\\|'-separated"),
        (_subnet("r224 d=2,2,2,2"), "5 depths"),
        (_subnet("r224 d=2,2,5,2,2"), "depth of unit 2 = 5"),
        (_subnet(first="k4e3 k3e3 - -"), "kernel 4"),
        (_subnet(first="k3e5 k3e3 - -"), "expand 5"),
        (_subnet(first="k3e3 k3e3 k3e3 -"), "beyond depth"),
        (_subnet("r224 d=3,2,2,2,2"), "bad token"),
        (_subnet(first="k3e3 k3e3 -"), "4 layers"),
        (_subnet("224 d=2,2,2,2,2"), "header"),
        (_subnet("r224 d=2,x,2,2,2"), "header"),
        (_subnet("r8 d=2,2,2,2,2"), "resolution"),
        ("garbage", "expected a header"),
    ],
)
def test_parse_errors(text, match):
    with pytest.raises(ValueError, match=match):
        codec.parse_subnet(text)


def test_config_and_arch_errors():
    good = {"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 224}
    for bad, match in [
        ({**good, "ks": [3] * 19}, "20 entries"),
        ({**good, "ks": [3] * 19 + [9]}, r"ks\[19\] = 9"),
        ({**good, "e": [3] * 19 + [2]}, r"e\[19\] = 2"),
        ({**good, "d": [2, 2, 2, 2, 1]}, r"d\[4\] = 1"),
        ({**good, "r": -3}, "resolution"),
        ({**good, "r": "224"}, "resolution"),
        ({**good, "ks": "3333"}, "list of 20"),
        ({k: v for k, v in good.items() if k != "e"}, "missing key"),
        ({**good, "x": 1}, "unknown key"),
        ({**good, "image_size": 160}, "both"),
    ]:
        with pytest.raises(ValueError, match=match):
            codec.SubnetConfig.from_dict(bad)
    with pytest.raises(ValueError, match="not valid JSON"):
        codec.SubnetConfig.from_json("{ks: 3")
    with pytest.raises(ValueError, match="no arch id"):
        codec.config_to_arch({**good, "r": 236})
    with pytest.raises(ValueError, match="shape"):
        codec.arch_to_config(np.zeros(25, np.int32))
    with pytest.raises(ValueError, match="entry 22 \\(depth id\\) = 3"):
        codec.arch_to_config(np.array([0] * 22 + [3, 0, 0, 0]))
    with pytest.raises(ValueError, match="resolution id"):
        codec.arch_to_config(np.array([0] * 25 + [5]))
    with pytest.raises(ValueError, match="integer"):
        codec.arch_to_config(np.zeros(26, np.float32))
    with pytest.raises(ValueError, match="kernel"):
        codec.op_id(4, 3)


# ---------------------------------------------------------------- analytic cost


# (width, largest?, resolution, params_M, MACs_M) from docs/spaces.md section 3
COST_TABLE = [
    (1.0, True, 224, 7.664760, 566.17), (1.0, True, 192, 7.664760, 417.29),
    (1.0, True, 160, 7.664760, 291.32), (1.0, True, 128, 7.664760, 188.25),
    (1.0, False, 224, 3.410792, 121.28), (1.0, False, 192, 3.410792, 89.84),
    (1.0, False, 160, 3.410792, 63.24), (1.0, False, 128, 3.410792, 41.48),
    (1.2, True, 224, 10.701632, 843.10), (1.2, True, 192, 10.701632, 621.27),
    (1.2, True, 160, 10.701632, 433.56),
    (1.2, False, 224, 4.602456, 193.08), (1.2, False, 192, 4.602456, 142.83),
    (1.2, False, 160, 4.602456, 100.32),
]  # fmt: skip


@pytest.mark.slow
def test_cost_table():
    for width, largest, res, params, macs in COST_TABLE:
        p, m = oc.ofa_cost(oc.max_min_arch(largest), width=width, resolution=res)
        assert float(p) == pytest.approx(params, abs=1e-6), (width, largest, res)
        assert float(m) == pytest.approx(macs, abs=0.006), (width, largest, res)
        if res in codec.RESOLUTIONS:  # the arch's own resolution id gives the same
            arch = oc.max_min_arch(largest, codec.RESOLUTIONS.index(res))
            assert float(oc.ofa_cost(arch, width=width)[1]) == pytest.approx(float(m), rel=1e-6)


def test_cost_published_points():
    # OFA flops@595M (w1.2 at 236 px): 595.19M MACs, 9.136M params (README: 595M, 9.1M)
    p, m = oc.ofa_cost(codec.parse_subnet(SUBNET_595M), width=1.2)
    assert float(m) == pytest.approx(595.19, abs=0.01) and float(p) == pytest.approx(9.136, abs=5e-4)
    # the same through an arch + resolution override
    arch = np.concatenate([codec.config_layers(codec.parse_subnet(SUBNET_595M)), [0]])
    assert float(oc.ofa_cost(arch, width=1.2, resolution=236)[1]) == pytest.approx(float(m), rel=1e-6)
    # OFA's MobileNetV3-Large config: 216.6M MACs / 5.48M params (published 217M / 5.4M)
    mnv3 = [(3, 64, 24, 2, False), (3, 72, 24, 1, False), (5, 72, 40, 2, True), (5, 120, 40, 1, True),
            (5, 120, 40, 1, True), (3, 240, 80, 2, False), (3, 200, 80, 1, False), (3, 184, 80, 1, False),
            (3, 184, 80, 1, False), (3, 480, 112, 1, True), (3, 672, 112, 1, True), (5, 672, 160, 2, True),
            (5, 960, 160, 1, True), (5, 960, 160, 1, True)]  # fmt: skip
    p, m = oc.network_cost(mnv3, 224, widths=oc.stage_widths(1.0), explicit_mid=True)
    assert m == pytest.approx(216.6, abs=0.05) and p == pytest.approx(5.48, abs=0.005)


@pytest.mark.slow
def test_cost_batched_matches_plain_counter():
    archs = np.asarray(_random(jax.random.split(jax.random.key(4), 64)))
    p, m = oc.ofa_cost(archs, width=1.2, num_classes=100)  # leading batch dim
    assert p.shape == m.shape == (64,)
    for a, pi, mi in list(zip(archs, p, m))[:16]:
        cfg = codec.arch_to_config(a)
        pr, mr = oc.network_cost(oc.config_layer_list(cfg, 1.2), cfg.r, widths=oc.stage_widths(1.2), num_classes=100)
        assert float(pi) == pytest.approx(pr, abs=1e-6) and float(mi) == pytest.approx(mr, rel=1e-6)
    # every subnet lies between the smallest (at 160 px) and the largest (at 224 px)
    lo, hi = (oc.ofa_cost(oc.max_min_arch(big, r), width=1.2, num_classes=100) for big, r in ((False, 0), (True, 4)))
    assert (np.asarray(m) >= float(lo[1])).all() and (np.asarray(m) <= float(hi[1])).all()
    assert (np.asarray(p) >= float(lo[0])).all() and (np.asarray(p) <= float(hi[0])).all()


# ---------------------------------------------------------------- fixed subnets


def _jaxpr_macs(jaxpr) -> int:
    """Conv + matmul MACs of a jaxpr in OFA's convention (``C_in/groups * k^2 * out_elements``; ``in*out``)."""
    total = 0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "conv_general_dilated":
            kh, kw, cin_per_group, _ = eqn.invars[1].aval.shape  # HWIO
            total += int(np.prod(eqn.outvars[0].aval.shape)) * kh * kw * cin_per_group
        elif name == "dot_general":
            (lhs_c, _), _ = eqn.params["dimension_numbers"]
            contracted = int(np.prod([eqn.invars[0].aval.shape[i] for i in lhs_c]))
            total += int(np.prod(eqn.outvars[0].aval.shape)) * contracted
        for v in eqn.params.values():
            for sub in v if isinstance(v, (tuple, list)) else (v,):
                if isinstance(sub, jax.extend.core.ClosedJaxpr):
                    total += _jaxpr_macs(sub.jaxpr)
                elif isinstance(sub, jax.extend.core.Jaxpr):
                    total += _jaxpr_macs(sub)
    return total


def _fixed_shapes_and_macs(net, size):
    """Parameter shapes and the MACs of the network's convolution / matmul ops (depthwise convs traced as
    convolution ops, not as the CPU's equivalent sum of taps, so that every MAC is an op counted here)."""
    x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
    variables = jax.eval_shape(net.init, jax.random.key(0), x)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv_lib, "_taps_here", lambda: False)
        jaxpr = jax.make_jaxpr(lambda v, x: net.apply(v, x, train=False))(variables, x)
    return variables, _jaxpr_macs(jaxpr.jaxpr)


def test_fixed_full_size_matches_cost():
    net = ofa.make_network(oc.max_min_arch(True))  # w1.0, k7 e6 d4, 1000 classes
    variables, macs = _fixed_shapes_and_macs(net, 224)
    assert ofa.count_params(variables["params"]) == 7_664_760
    assert macs == pytest.approx(566.17e6, abs=0.006e6)
    assert jax.tree_util.tree_structure(variables["batch_stats"]).num_leaves == 2 * (1 + 2 + 3 * 20 + 1)


def test_fixed_tiny_matches_cost():
    for arch in np.asarray(_random(jax.random.split(jax.random.key(5), 2))):
        net = ofa.make_network(arch, num_classes=CLASSES, base_widths=TINY)
        variables, macs = _fixed_shapes_and_macs(net, SIZE)
        p, m = oc.ofa_cost(arch, num_classes=CLASSES, base_widths=TINY, resolution=SIZE)
        assert ofa.count_params(variables["params"]) == round(float(p) * 1e6)
        assert macs == pytest.approx(float(m) * 1e6, rel=1e-6)
        active = codec.arch_to_config(arch).active()
        assert sorted(k for k in variables["params"] if k.startswith("layer")) == sorted(
            f"layer{i}" for i in range(20) if active[i]
        )


# ---------------------------------------------------------------- supernet


def _random_variables(shapes, seed: int):
    """Random non-trivial supernet variables (transforms off identity, BN stats off defaults)."""
    rng = np.random.default_rng(seed)
    flat = jax.tree_util.tree_flatten_with_path(shapes)[0]
    leaves = []
    for path, s in flat:
        name = jax.tree_util.keystr(path)
        if "transform" in name:
            v = np.eye(s.shape[0]) + 0.2 * rng.standard_normal(s.shape)
        elif "'var'" in name or "'scale'" in name:
            v = rng.uniform(0.5, 1.5, s.shape)
        else:
            v = 0.3 * rng.standard_normal(s.shape)
        leaves.append(jnp.asarray(v, jnp.float32))
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(shapes), leaves)


# unit 0 depth 2 (layers 2, 3 skipped); layer 0 k3 e3, layer 1 k5 e6, layer 4 k7 e4 ...
ARCH_A = ("r160 d=2,3,4,2,3 | k3e3 k5e6 - - | k7e4 k3e6 k5e3 - | k7e6 k5e4 k3e3 k3e6 | k5e6 k3e4 - - | "
          "k7e3 k3e6 k5e4 -")


def _train_grads(sup, masked: bool = False):
    """``(variables, x, arch) -> (grads, (logits, new batch_stats))`` of a train-mode supernet step
    (``masked``: through the masked per-layer reference form instead of the switched, scanned one)."""
    mutable = ["batch_stats", ofa.MODULE_PATH_COLLECTION] if masked else ["batch_stats"]

    def step(variables, x, arch):
        def loss(params):
            out, new = sup.apply({**variables, "params": params}, x, arch, train=True, mutable=mutable)
            return jnp.mean(out**2), (out, new["batch_stats"])

        return jax.grad(loss, has_aux=True)(variables["params"])

    return step


@pytest.fixture(scope="module")
def supernet_run():
    sup = ofa.make_supernet(num_classes=CLASSES, base_widths=TINY)
    x = jax.random.normal(jax.random.key(7), (4, SIZE, SIZE, 3))
    arch = jnp.asarray(codec.config_to_arch(codec.parse_subnet(ARCH_A)))
    shapes = jax.eval_shape(sup.init, jax.random.key(0), x, arch)
    variables = _random_variables(shapes, 0)
    compiled = jax.jit(_train_grads(sup)).lower(variables, x, arch).compile(FAST)
    grads, (logits, stats) = compiled(variables, x, arch)
    # the same compiled function serves another arch
    arch_b = np.asarray(_random(jax.random.split(jax.random.key(11), 1))[0])
    logits_b = compiled(variables, x, jnp.asarray(arch_b))[1][0]
    return dict(sup=sup, x=x, arch=np.asarray(arch), variables=variables, grads=grads, logits=logits,
                stats=stats, arch_b=arch_b, logits_b=logits_b)  # fmt: skip


@pytest.mark.slow
def test_supernet_outputs(supernet_run):
    r = supernet_run
    assert r["logits"].shape == (4, CLASSES) and r["logits_b"].shape == (4, CLASSES)
    assert np.isfinite(np.asarray(r["logits"])).all()
    assert not np.allclose(r["logits"], r["logits_b"])


@pytest.mark.slow
def test_supernet_gradients_only_on_active_path(supernet_run):
    r = supernet_run
    g, specs = jax.device_get(r["grads"]), oc.layer_specs(1.0, TINY)
    cfg = codec.parse_subnet(ARCH_A)
    for i, active in enumerate(cfg.active()):
        norms = jax.tree_util.tree_map(lambda a: float(np.abs(a).sum()), g[f"layer{i}"])
        if not active:  # skipped layer: exactly zero everywhere
            assert all(v == 0.0 for v in jax.tree_util.tree_leaves(norms)), i
            continue
        s, ei, k = specs[i], codec.EXPANDS.index(cfg.e[i]), cfg.ks[i]
        mid, se = s.mids[ei], s.ses[ei]
        li = g[f"layer{i}"]
        ex = np.asarray(li["expand_conv"]["kernel"])
        assert np.abs(ex[..., :mid]).sum() > 0 and np.abs(ex[..., mid:]).sum() == 0, i
        pr = np.asarray(li["project_conv"]["kernel"])
        assert np.abs(pr[:, :, :mid]).sum() > 0 and np.abs(pr[:, :, mid:]).sum() == 0, i
        for bn in ("expand_bn", "dw_bn"):
            assert np.abs(np.asarray(li[bn]["scale"])[mid:]).sum() == 0
        dw = np.asarray(li["dw_conv"]["kernel"])
        inner = np.zeros((7, 7), bool)  # k5 and k3 both read the centre 5x5 (k3 = T53 @ crop(T75 @ crop5))
        inner[(k < 7) : 7 - (k < 7), (k < 7) : 7 - (k < 7)] = True
        assert np.abs(dw[~inner]).sum() == 0 and np.abs(dw[inner][:, :, :mid]).sum() > 0, i
        assert np.abs(dw[..., mid:]).sum() == 0
        t75, t53 = (float(np.abs(np.asarray(li["dw_conv"][n])).sum()) for n in ("transform_7to5", "transform_5to3"))
        assert (t75 > 0) == (k < 7) and (t53 > 0) == (k == 3), i
        if s.use_se:
            red = np.asarray(li["se_reduce"]["kernel"])
            assert np.abs(red[:mid, :se]).sum() > 0
            assert np.abs(red[mid:]).sum() == 0 and np.abs(red[:, se:]).sum() == 0
    assert np.abs(g["head"]["classifier"]["kernel"]).sum() > 0
    assert np.abs(g["stem"]["first_conv"]["kernel"]).sum() > 0


@pytest.mark.slow
def test_supernet_bn_stats_only_update_active(supernet_run):
    r = supernet_run
    old, new = jax.device_get((r["variables"]["batch_stats"], r["stats"]))
    specs = oc.layer_specs(1.0, TINY)
    cfg = codec.parse_subnet(ARCH_A)
    for i, active in enumerate(cfg.active()):
        mid = specs[i].mids[codec.EXPANDS.index(cfg.e[i])]
        o, n = old[f"layer{i}"], new[f"layer{i}"]
        for bn in ("expand_bn", "dw_bn"):
            changed = np.asarray(o[bn]["mean"] != n[bn]["mean"])
            assert changed[:mid].all() == active and not changed[mid:].any(), (i, bn)
        assert bool((o["project_bn"]["var"] != n["project_bn"]["var"]).all()) == active


@pytest.mark.slow
def test_supernet_equals_extracted_subnet(supernet_run):
    r = supernet_run
    net, fixed = ofa.extract_subnet(r["sup"], r["variables"], codec.parse_subnet(ARCH_A))
    assert ofa.count_params(fixed["params"]) == round(
        float(oc.ofa_cost(r["arch"], num_classes=CLASSES, base_widths=TINY)[0]) * 1e6
    )
    fn = jax.jit(lambda v, x: net.apply(v, x, train=True, mutable=["batch_stats"]))
    logits, new = fn.lower(fixed, r["x"]).compile(FAST)(fixed, r["x"])
    np.testing.assert_allclose(logits, r["logits"], rtol=2e-4, atol=2e-5 * float(jnp.abs(logits).max()))
    _, want = ofa.extract_subnet(r["sup"], {"params": r["variables"]["params"], "batch_stats": r["stats"]}, ARCH_A)
    for a, b in zip(jax.tree_util.tree_leaves(new["batch_stats"]), jax.tree_util.tree_leaves(want["batch_stats"])):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)


@pytest.mark.slow
def test_scanned_unit_layers_equal_the_masked_layers_applied_one_by_one(supernet_run):
    """The supernet as trained (each unit's layers 2-4 one scan, each layer only its choice) gives the
    outputs, gradients and running statistics of the masked largest layers applied one by one (the
    reference form, path skipped layers included; per layer, switched = masked is tested below)."""
    r = supernet_run
    grads, (logits, stats) = jax.jit(_train_grads(r["sup"], masked=True)).lower(r["variables"], r["x"], r["arch"]).compile(FAST)(
        r["variables"], r["x"], r["arch"])
    np.testing.assert_allclose(r["logits"], logits, rtol=1e-4, atol=1e-5)
    want, got = jax.tree_util.tree_flatten_with_path((grads, stats))[0], jax.tree.leaves((r["grads"], r["stats"]))
    assert len(want) == len(got)
    for (path, a), b in zip(want, got):  # the two sum in different orders: rounding grows through 20 layers
        a = np.asarray(a)
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=5e-5 + 1e-3 * np.abs(a).max(),
                                   err_msg=jax.tree_util.keystr(path))


def test_elastic_kernel_transform_and_masked_bn():
    rng = np.random.default_rng(0)
    k7 = jnp.asarray(rng.standard_normal((7, 7, 1, 4)), jnp.float32)
    k3, k5, same = ofa.elastic_dw_kernels(k7, jnp.eye(25), jnp.eye(9))  # identity = plain centre crops
    np.testing.assert_array_equal(k5, k7[1:6, 1:6])
    np.testing.assert_array_equal(k3, k7[2:5, 2:5])
    assert same is k7
    t75 = jnp.asarray(rng.standard_normal((25, 25)), jnp.float32)
    k5 = ofa.elastic_dw_kernels(k7, t75, jnp.eye(9))[1]
    # F.linear(filter.view(-1, 25), M) as in DynamicSeparableConv2d
    want = (np.asarray(k7)[1:6, 1:6, 0, :].reshape(25, 4).T @ np.asarray(t75).T).T.reshape(5, 5, 1, 4)
    np.testing.assert_allclose(k5, want, rtol=1e-5, atol=1e-5)
    # masked BN: eval uses running stats; train updates only where asked
    bn = ofa.MaskedBatchNorm(3)
    x = jnp.asarray(rng.standard_normal((8, 2, 2, 3)) * 2 + 1, jnp.float32)
    v = bn.init(jax.random.key(0), x, jnp.ones(3, bool), False)
    np.testing.assert_allclose(bn.apply(v, x, jnp.ones(3, bool), False), x / np.sqrt(1 + 1e-5), rtol=1e-6)
    y, upd = bn.apply(v, x, jnp.array([True, False, True]), True, mutable=["batch_stats"])
    np.testing.assert_allclose(jnp.mean(y, axis=(0, 1, 2)), 0, atol=1e-5)
    mean = np.asarray(upd["batch_stats"]["mean"])
    assert mean[1] == 0 and mean[0] == pytest.approx(0.1 * float(x[..., 0].mean()), rel=1e-5)


@pytest.mark.parametrize("stride", [1, 2])
def test_elastic_depthwise_conv_equals_the_zero_padded_7x7_kernel_with_its_gradients(stride):
    """Only the chosen kernel size is computed: values and gradients (weights, transforms, input) equal
    a plain 7x7 depthwise convolution with the chosen kernel zero-padded to 7x7, for each size."""
    rng = np.random.default_rng(1)
    conv = ofa.ElasticDepthwiseConv(4, stride)
    x = jnp.asarray(rng.standard_normal((2, 9, 9, 4)), jnp.float32)
    out = 9 if stride == 1 else 5
    g = jnp.asarray(rng.standard_normal((2, out, out, 4)), jnp.float32)
    params = jax.tree.map(lambda a: jnp.asarray(rng.standard_normal(a.shape) * 0.3, jnp.float32),
                          conv.init(jax.random.key(0), x, jnp.int32(2))["params"])

    def ours(p, x, idx):
        return jnp.sum(conv.apply({"params": p}, x, idx) * g)

    def reference(p, x, idx):
        kernel = ofa.elastic_dw_kernels(p["kernel"], p["transform_7to5"], p["transform_5to3"])[idx]
        pad = (7 - kernel.shape[0]) // 2
        kernel = jnp.pad(kernel, ((pad, pad), (pad, pad), (0, 0), (0, 0)))
        y = jax.lax.conv_general_dilated(x, kernel, (stride, stride), ((3, 3), (3, 3)),
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=4)
        return jnp.sum(y * g)

    grad = jax.jit(jax.value_and_grad(ours, argnums=(0, 1)))
    for idx in range(3):
        (v, (dp, dx)) = grad(params, x, jnp.int32(idx))
        (rv, (rp, rx)) = jax.value_and_grad(reference, argnums=(0, 1))(params, x, idx)
        np.testing.assert_allclose(float(v), float(rv), rtol=1e-5)
        for a, b in zip(jax.tree.leaves((dp, dx)), jax.tree.leaves((rp, rx))):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)
        unused = {0: (), 1: ("transform_5to3",), 2: ("transform_5to3", "transform_7to5")}[idx]
        assert all(float(jnp.abs(dp[name]).max()) == 0 for name in unused)


@pytest.mark.parametrize("layer", [3, 14])  # an SE-free relu layer; an SE h_swish layer (both may be skipped)
def test_switched_layer_equals_the_masked_layer_with_gradients_and_statistics(layer):
    """A layer computing only its choice (sliced weights, skipped beyond the unit's depth) gives the
    masked largest layer's output, gradients and running statistics, for every expand ratio and kernel."""
    spec = oc.layer_specs(1.0, TINY)[layer]
    mdl = ofa.ElasticMBConv(spec)
    rng = np.random.default_rng(layer)
    x = jnp.asarray(rng.standard_normal((4, 6, 6, spec.c_in)), jnp.float32)
    v = mdl.init(jax.random.key(0), x, jnp.int32(0), jnp.bool_(True), True)
    v = jax.tree.map(lambda a: jnp.asarray(rng.standard_normal(a.shape) * 0.3 + (a.ndim == 1), jnp.float32), v)
    g = jnp.asarray(rng.standard_normal((4, 6, 6, spec.c_out)), jnp.float32)

    def loss(params, x, op, active, masked):
        cols = ["batch_stats", ofa.MODULE_PATH_COLLECTION] if masked else ["batch_stats"]
        y, upd = mdl.apply({"params": params, "batch_stats": v["batch_stats"]}, x, op, active, True, mutable=cols)
        return jnp.sum(y * g), upd["batch_stats"]

    grad = jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True), static_argnums=4)
    for op, active in [(0, True), (4, True), (8, True), (5, False)]:
        (dp, dx), st = grad(v["params"], x, jnp.int32(op), jnp.bool_(active), False)
        (rp, rx), rst = grad(v["params"], x, jnp.int32(op), jnp.bool_(active), True)
        for a, b in zip(jax.tree.leaves((dp, dx, st)), jax.tree.leaves((rp, rx, rst))):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-5)
        if not active:
            np.testing.assert_array_equal(np.asarray(dx), np.asarray(g))  # skipped: the identity


def test_make_network_inputs_and_errors():
    cfg = codec.parse_subnet(SUBNET_595M)
    assert ofa.make_network(cfg.to_json()).config == cfg
    assert ofa.make_network(cfg.to_dict(), width=1.2).config == cfg
    assert ofa.make_network(SUBNET_595M).config == cfg
    with pytest.raises(ValueError, match="base_widths"):
        ofa.make_supernet(base_widths=(8, 8))
    with pytest.raises(ValueError, match="width"):
        ofa.make_network(cfg, width=0.0)
