"""NB201 / DARTS flax networks: parameter counts, single-path gradients, shapes, validation.

Compile time dominates on CPU, so variables are built from ``jax.eval_shape`` (no init
compile) with numpy values, networks are tiny, and each jitted function is compiled once, with
LLVM at -O0 (:data:`FAST`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2nas_jax.core import threefry
from l2nas_jax.spaces.darts.codec import DARTS_OPS, GENOTYPES, parse_genotype, random_arch
from l2nas_jax.spaces.darts.cost import darts_cost_counts, darts_search_counts
from l2nas_jax.spaces.nb201.codec import EDGES, OPS
from l2nas_jax.spaces.nb201.cost import nb201_cost
from l2nas_jax.spaces.layers import param_count
from l2nas_jax.spaces.darts import nets as darts
from l2nas_jax.spaces.nb201 import nets as nb201


def _np_variables(shapes, seed=0):
    """Concrete variables for a shape tree: params ~ N(0, 0.3^2), BN mean 0 / var 1."""
    rng = np.random.default_rng(seed)

    def leaf(path, s):
        name = path[-1].key
        if name == "var":
            return jnp.ones(s.shape, s.dtype)
        if name == "mean":
            return jnp.zeros(s.shape, s.dtype)
        return jnp.asarray(rng.normal(scale=0.3, size=s.shape).astype(np.float32))

    return jax.tree_util.tree_map_with_path(leaf, shapes)


def _leaves(tree):
    return jax.tree_util.tree_leaves(tree)


#: XLA CPU options that cut compile time (LLVM at -O0; the same HLO, so the same operations in the same order)
FAST = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


# ----------------------------------------------------------------------------- NB201


@pytest.mark.parametrize(
    "arch,dataset,classes",
    [
        ((3, 3, 3, 3, 3, 3), "cifar10", 10),
        ((1, 1, 1, 1, 1, 1), "cifar100", 100),
        ((0, 2, 1, 3, 4, 0), "imagenet16-120", 120),
        ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|", "cifar10", 10),
    ],
)
def test_nb201_fixed_param_count_equals_analytic_cost(arch, dataset, classes):
    model = nb201.make_network(arch, num_classes=classes)
    size = 16 if dataset == "imagenet16-120" else 32
    v = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, size, size, 3)))
    ops = nb201._check_ops(arch)
    expected = round(float(nb201_cost(np.array(ops), dataset)[0]) * 1e6)
    assert param_count(v["params"]) == expected
    # Only the chosen non-none ops exist in the cell.
    assert set(v["params"].get("cell0", {})) == {f"edge{e}" for e, o in enumerate(ops) if OPS[o] not in ("none", "skip_connect", "avg_pool_3x3")}


def test_nb201_resnet_reference_param_count():
    # ResNet cell (index 11472): 0.559386 M params on CIFAR-10 (docs/spaces.md section 1).
    model = nb201.make_network("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|")
    v = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    assert param_count(v["params"]) == 559_386


@pytest.fixture(scope="module")
def nb201_supernet():
    model = nb201.make_supernet(C=4, N=2, num_classes=10)  # N=2: the stage's cells run as a scan
    x = jnp.asarray(np.random.default_rng(1).normal(size=(8, 8, 8, 3)).astype(np.float32))
    shapes = jax.eval_shape(model.init, jax.random.key(0), x, jnp.zeros(6, jnp.int32))
    variables = _np_variables(shapes)
    traces = []
    w = jnp.linspace(-1.0, 1.0, 10)

    def loss(params, stats, arch):
        traces.append(1)
        out, upd = model.apply({"params": params, "batch_stats": stats}, x, arch, train=True, mutable=["batch_stats"])
        return jnp.sum(out * w), (out, upd["batch_stats"])

    grad_fn = jax.jit(jax.grad(loss, has_aux=True), compiler_options=FAST)
    return model, variables, grad_fn, traces


@pytest.mark.slow
@pytest.mark.parametrize("arch", [(3, 2, 4, 1, 3, 2), (2, 3, 3, 2, 1, 3)])
def test_nb201_supernet_grads_only_on_chosen_ops(nb201_supernet, arch):
    model, v, grad_fn, traces = nb201_supernet
    grads, (out, stats) = grad_fn(v["params"], v["batch_stats"], jnp.asarray(arch, jnp.int32))
    assert out.shape == (8, 10) and bool(jnp.all(jnp.isfinite(out)))
    assert len(traces) == 1  # one compiled function serves both archs
    for k in range(6):
        cell_g, cell_s, old_s = grads[f"cell{k}"], stats[f"cell{k}"], v["batch_stats"][f"cell{k}"]
        for e in range(len(EDGES)):
            for name, g in cell_g[f"edge{e}"].items():
                chosen = OPS[arch[e]] == name
                if chosen:
                    kernels = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(g)[0] if path[-1].key == "kernel"]
                    assert kernels and all(float(jnp.abs(a).max()) > 0 for a in kernels), (k, e, name)
                else:
                    assert all(float(jnp.abs(a).max()) == 0.0 for a in _leaves(g)), (k, e, name)
            for name in cell_s[f"edge{e}"]:
                same = all(
                    bool(jnp.array_equal(a, b))
                    for a, b in zip(_leaves(cell_s[f"edge{e}"][name]), _leaves(old_s[f"edge{e}"][name]))
                )
                assert same != (OPS[arch[e]] == name), (k, e, name)  # stats move only on the chosen op
    # Stem/head get gradients for every arch.
    assert float(jnp.abs(grads["stem_conv"]["kernel"]).max()) > 0


@pytest.mark.parametrize("train", [True, False])
def test_nb201_scanned_cells_equal_unrolled_cells(train):
    """The scanned stage computes what the cells one by one compute: outputs, BN statistics, gradients."""
    x = jnp.asarray(np.random.default_rng(2).normal(size=(4, 8, 8, 3)).astype(np.float32))
    arch = jnp.asarray((3, 1, 2, 0, 4, 3), jnp.int32)
    scanned, unrolled = nb201.make_supernet(C=4, N=3), nb201.make_supernet(C=4, N=3, scan_cells=False)
    v = _np_variables(jax.eval_shape(scanned.init, jax.random.key(0), x, arch))
    assert jax.tree.structure(v) == jax.tree.structure(
        jax.eval_shape(unrolled.init, jax.random.key(0), x, arch))  # same variables, same names

    def run(model, params):
        if not train:
            return jnp.sum(model.apply({"params": params, "batch_stats": v["batch_stats"]}, x, arch) ** 2), {}
        out, upd = model.apply({"params": params, "batch_stats": v["batch_stats"]}, x, arch, train=True,
                               mutable=["batch_stats"])
        return jnp.sum(out ** 2), upd["batch_stats"]

    got, want = (jax.jit(jax.value_and_grad(functools.partial(run, m), has_aux=True), compiler_options=FAST)(
        v["params"]) for m in (scanned, unrolled))
    for a, b in zip(_leaves(got), _leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    if train:  # every cell's statistics moved, each by its own cell's batch
        moved = [not np.allclose(got[0][1][f"cell{k}"]["edge0"]["nor_conv_3x3"]["BatchNorm_0"]["mean"],
                                 v["batch_stats"][f"cell{k}"]["edge0"]["nor_conv_3x3"]["BatchNorm_0"]["mean"])
                 for k in range(9)]
        assert all(moved)


@pytest.mark.parametrize("arch", [(3, 1, 2, 0, 4, 3), (0, 0, 0, 1, 1, 2), (4, 3, 2, 3, 4, 0)])
def test_nb201_edge_vjp_equals_autodiff_of_the_switch(arch, monkeypatch):
    """The hand-written backward pass of a training step gives the plain switch's output, gradients and
    BN statistics (up to float rounding, relative to the largest gradient: a conv bias's gradient is
    ~0 after BN, so both sides are rounding noise there)."""
    model = nb201.make_supernet(C=4, N=2)
    x = jnp.asarray(np.random.default_rng(3).normal(size=(8, 8, 8, 3)).astype(np.float32))
    v = model.init(jax.random.key(1), x[:1], jnp.zeros(6, jnp.int32))
    w = jnp.linspace(-1.0, 1.0, 10)

    def run():
        def loss(params):
            out, upd = model.apply({"params": params, "batch_stats": v["batch_stats"]}, x,
                                   jnp.asarray(arch, jnp.int32), train=True, mutable=["batch_stats"])
            return jnp.sum(out * w), (out, upd["batch_stats"])
        return jax.jit(jax.grad(loss, has_aux=True), compiler_options=FAST)(v["params"])

    got = run()
    monkeypatch.setattr(nb201, "EDGE_VJP", False)
    want = run()
    scale = max(float(np.max(np.abs(b))) for b in _leaves(want))
    for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(got)[0], _leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=3e-5 * scale, err_msg=jax.tree_util.keystr(path))
    # Off the path: exactly zero gradient and untouched statistics, as with the switch.
    grads, (_, stats) = got
    off = [n for n in OPS if n in ("nor_conv_1x1", "nor_conv_3x3") and n != OPS[arch[0]]]
    for name in off:
        assert all(float(np.max(np.abs(a))) == 0.0 for a in _leaves(grads["cell0"]["edge0"][name]))
        assert all(np.array_equal(a, b) for a, b in zip(_leaves(stats["cell0"]["edge0"][name]),
                                                         _leaves(v["batch_stats"]["cell0"]["edge0"][name])))


def test_nb201_scanned_init_draws_every_cell_from_its_own_key():
    """The vmapped init of a stage's cells gives each cell its own draw, with the unrolled init's layout."""
    x, arch = jnp.zeros((1, 8, 8, 3)), jnp.zeros(6, jnp.int32)
    v = nb201.make_supernet(C=4, N=3).init(jax.random.key(0), x, arch)
    ref = nb201.make_supernet(C=4, N=3, scan_cells=False).init(jax.random.key(0), x, arch)
    assert jax.tree.structure(v) == jax.tree.structure(ref)
    for a, b in zip(_leaves(v), _leaves(ref), strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
    kernels = [np.asarray(v["params"][f"cell{k}"]["edge0"]["nor_conv_3x3"]["Conv_0"]["kernel"]) for k in range(9)]
    assert all(not np.array_equal(kernels[i], kernels[j]) for i in range(9) for j in range(i))
    for k in range(9):  # the same initializer as the unrolled cells (std set by the stage's fan-in)
        want = float(np.std(ref["params"][f"cell{k}"]["edge0"]["nor_conv_3x3"]["Conv_0"]["kernel"]))
        assert 0.7 < float(np.std(kernels[k])) / want < 1.4, k
    stats = v["batch_stats"]["cell4"]["edge5"]["nor_conv_1x1"]["BatchNorm_0"]
    np.testing.assert_array_equal(stats["mean"], 0.0)
    np.testing.assert_array_equal(stats["var"], 1.0)


def test_nb201_fixed_net_all_none_node_is_not_a_folded_constant():
    """A node whose edges are all ``none`` must not make XLA constant-fold the ops that read it."""
    arch = "|none~0|+|none~0|avg_pool_3x3~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|"  # node 1 is zero
    model = nb201.make_network(arch, C=4, N=1)
    x = jnp.ones((4, 8, 8, 3))
    v = _np_variables(jax.eval_shape(model.init, jax.random.key(0), x))
    hlo = jax.jit(lambda v, x: model.apply(v, x)).lower(v, x).compile().as_text()
    big_constants = [line for line in hlo.splitlines() if " constant(" in line and "f32[4,8,8,4]" in line]
    assert not big_constants, big_constants[:1]
    out = model.apply(v, x)
    assert out.shape == (4, 10) and bool(jnp.all(jnp.isfinite(out)))


def test_nb201_supernet_needs_arch_and_fixed_rejects_bad_arch():
    x = jnp.zeros((1, 8, 8, 3))
    with pytest.raises(ValueError, match="needs arch"):
        jax.eval_shape(nb201.make_supernet(C=4, N=1).init, jax.random.key(0), x)
    with pytest.raises(ValueError, match="op ids must lie"):
        nb201.make_network((0, 1, 2, 3, 4, 5))
    with pytest.raises(ValueError, match="6 integer op ids"):
        nb201.make_network((0, 1, 2))


# ----------------------------------------------------------------------------- DARTS


@pytest.mark.slow
def test_darts_v2_param_counts_match_published_and_analytic():
    arch = parse_genotype(GENOTYPES["DARTS_V2"])
    by_hand = np.array(  # docs/spaces.md DARTS_V2, canonical (pairs of a node sorted by input)
        [
            [[0, 0], [0, 1], [0, 0], [0, 1], [6, 0], [0, 1], [6, 0], [2, 2]],
            [[4, 0], [4, 1], [4, 1], [6, 2], [4, 0], [6, 2], [4, 1], [6, 2]],
        ]
    )
    np.testing.assert_array_equal(arch, by_hand)
    model = darts.make_network(arch)
    v = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    assert param_count(v["params"], exclude=("auxiliary_head",)) == 3_349_342
    assert param_count(v["params"]) == darts_cost_counts(arch, auxiliary=True)[0]
    imagenet = darts.make_network(arch, C=48, layers=14, num_classes=1000, network="imagenet")
    v = jax.eval_shape(imagenet.init, jax.random.key(0), jnp.zeros((1, 224, 224, 3)))
    assert param_count(v["params"], exclude=("auxiliary_head",)) == 4_718_752


@pytest.mark.parametrize("seed", [0, 1])
def test_darts_random_arch_param_count_matches_darts_cost(seed):
    arch = np.asarray(random_arch(jax.random.key(seed)))
    model = darts.make_network(arch, C=8, layers=5, num_classes=10)
    v = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    expected = darts_cost_counts(arch, C=8, layers=5, num_classes=10, image_size=32, auxiliary=True)[0]
    assert param_count(v["params"]) == expected


@pytest.mark.slow
def test_darts_supernet_shapes_and_param_count():
    model = darts.make_supernet(C=4, layers=3, num_classes=10)
    x = jnp.zeros((2, 8, 8, 3))
    arch = jnp.asarray(parse_genotype(GENOTYPES["DARTS_V2"]), jnp.int32)
    v = jax.eval_shape(model.init, jax.random.key(0), x, arch)
    assert param_count(v["params"]) == darts_search_counts(C=4, layers=3, num_classes=10, image_size=8)[0]
    assert len(v["params"]["cell0"]["node5"]) == 5 * 4  # 5 edges x 4 ops with params (sep/dil convs)
    out, upd = jax.eval_shape(lambda v: model.apply(v, x, arch, train=True, mutable=["batch_stats"]), v)
    assert out.shape == (2, 10)
    assert jax.tree_util.tree_structure(upd["batch_stats"]) == jax.tree_util.tree_structure(v["batch_stats"])


class _ReduceNode(darts.nn.Module):
    """One reduction-cell node with 3 inputs (strided group {0, 1} and stride-1 group {2})."""

    @darts.nn.compact
    def __call__(self, states, pair, train):
        return darts.MixedNode(4, 3, reduction=True, name="node")(states, pair, train)


@pytest.fixture(scope="module")
def darts_node():
    rng = np.random.default_rng(2)
    states = tuple(
        jnp.asarray(rng.normal(size=s).astype(np.float32)) for s in ((4, 8, 8, 4), (4, 8, 8, 4), (4, 4, 4, 4))
    )
    model = _ReduceNode()
    shapes = jax.eval_shape(lambda k, st, p: model.init(k, st, p, True), jax.random.key(0), states, jnp.zeros(2, jnp.int32))
    variables = _np_variables(shapes)
    traces = []
    w = jnp.asarray(rng.normal(size=(4, 4, 4, 4)).astype(np.float32))

    def loss(params, stats, pair):
        traces.append(1)
        out, upd = model.apply({"params": params, "batch_stats": stats}, states, pair, True, mutable=["batch_stats"])
        return jnp.sum(out * w), (out, upd["batch_stats"])

    return variables, jax.jit(jax.grad(loss, has_aux=True), compiler_options=FAST), traces


@pytest.mark.slow
@pytest.mark.parametrize("pair", [(0, 0), (6, 1), (3, 2), (5, 2)])  # sep3@0, skip(FactorizedReduce)@1, dil5@2, avg@2
def test_darts_mixed_node_runs_only_the_chosen_edge_op(darts_node, pair):
    v, grad_fn, traces = darts_node
    grads, (out, stats) = grad_fn(v["params"], v["batch_stats"], jnp.asarray(pair, jnp.int32))
    assert out.shape == (4, 4, 4, 4)
    assert len(traces) == 1
    chosen = f"in{pair[1]}_{DARTS_OPS[pair[0]]}"
    for name, g in grads["node"].items():
        nonzero = [float(jnp.abs(a).max()) > 0 for a in _leaves(g)]
        assert all(nonzero) if name == chosen else not any(nonzero), name
    for name, s in stats["node"].items():
        same = all(bool(jnp.array_equal(a, b)) for a, b in zip(_leaves(s), _leaves(v["batch_stats"]["node"][name])))
        assert same != (name == chosen), name


@pytest.mark.slow
def test_darts_fixed_net_aux_head_and_drop_path_shapes():
    arch = parse_genotype(GENOTYPES["PC_DARTS_cifar"])
    model = darts.make_network(arch, C=4, layers=3, num_classes=7)
    x = jnp.zeros((2, 32, 32, 3))
    v = jax.eval_shape(model.init, jax.random.key(0), x)  # eval-mode init still creates the aux head
    assert "auxiliary_head" in v["params"]
    (logits, aux), _ = jax.eval_shape(
        lambda v: model.apply(v, x, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(1)}), v
    )
    assert logits.shape == (2, 7) and aux.shape == (2, 7)
    assert jax.eval_shape(lambda v: model.apply(v, x, train=False), v).shape == (2, 7)
    with pytest.raises(Exception, match="dropout"):  # drop-path in training needs a 'dropout' rng
        jax.eval_shape(lambda v: model.apply(v, x, train=True, mutable=["batch_stats"]), v)
    no_aux = darts.make_network(arch, C=4, layers=3, auxiliary=False, drop_path=0.0)
    v2 = jax.eval_shape(no_aux.init, jax.random.key(0), x)
    out, _ = jax.eval_shape(lambda v: no_aux.apply(v, x, train=True, mutable=["batch_stats"]), v2)
    assert out.shape == (2, 10)


def test_drop_path_zeroes_whole_examples_and_rescales():
    class _DP(darts.nn.Module):
        @darts.nn.compact
        def __call__(self, x, rate):
            return darts.drop_path(self, x, rate)

    x = jnp.ones((64, 2, 2, 3))
    y = _DP().apply({}, x, 0.25, rngs={"dropout": jax.random.key(3)})
    per_example = np.asarray(y).reshape(64, -1)
    kept = per_example[per_example != 0]
    np.testing.assert_allclose(kept, 1 / 0.75, rtol=1e-6)  # survivors rescaled by 1 / keep
    assert (per_example == per_example[:, :1]).all()  # whole examples dropped
    assert 0 < (per_example[:, 0] == 0).sum() < 64
    # bf16 activations draw the same examples (the keep probability stays float32) and stay bf16
    y16 = _DP().apply({}, x.astype(jnp.bfloat16), 0.3, rngs={"dropout": jax.random.key(4)})
    y32 = _DP().apply({}, x, 0.3, rngs={"dropout": jax.random.key(4)})
    assert y16.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(y16[:, 0, 0, 0]) == 0, np.asarray(y32[:, 0, 0, 0]) == 0)


def test_avg_pool_keeps_bf16_and_excludes_padding():
    from l2nas_jax.spaces.layers import avg_pool_exclude_pad

    x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    for dtype in (jnp.float32, jnp.bfloat16):
        y = avg_pool_exclude_pad(x.astype(dtype), 1)
        assert y.dtype == dtype
        assert float(y[0, 0, 0, 0]) == (0 + 1 + 4 + 5) / 4  # a corner window covers 4 real pixels
        assert float(y[0, 1, 1, 0]) == 5.0  # an inner window: the mean of 0,1,2,4,5,6,8,9,10


def test_darts_make_network_rejects_bad_input():
    bad = parse_genotype(GENOTYPES["DARTS_V2"]).copy()
    bad[0, 0, 1] = 1  # node 2 now reads state 1 twice
    with pytest.raises(ValueError, match="not a valid DARTS arch"):
        darts.make_network(bad)
    with pytest.raises(ValueError, match="unknown DARTS network"):
        darts.make_network(GENOTYPES["DARTS_V2"], network="mobile")
    with pytest.raises(ValueError):
        darts.make_network("Genotype(normal=[('conv_9x9', 0)])")


def _chosen_ops_cell(cell, variables, s0, s1, arch):
    """A search cell by its definition: preprocess, then each node = the sum of its two chosen ops, each op
    its own module applied to its input state with its edge's variables; returns (output, batch_stats).

    No MixedNode, switch, cond or scan (the unscanned MixedNode path shares ``_pair_step`` with the scan, so it
    could share a bug with it), and ``arch`` is a trace-time constant: the program holds the 8 chosen ops
    only, so it compiles in seconds where the unscanned cell (8 copies of every op branch) took a minute.
    Only the preprocess and the chosen ops' statistics move; unchosen ops' parameters get zero gradient.
    """
    params, stats = variables["params"], variables["batch_stats"]
    new_stats = {name: dict(s) for name, s in stats.items()}
    states = []
    for mdl, x in zip(darts._preprocess(cell.channels, cell.reduction_prev, cell.affine), (s0, s1)):
        y, upd = mdl.clone(name=None).apply({"params": params[mdl.name], "batch_stats": stats[mdl.name]}, x, True,
                                            mutable=["batch_stats"])
        new_stats[mdl.name] = upd["batch_stats"]
        states.append(y)
    for j in range(2, 2 + darts.NUM_NODES):
        node = 0.0
        for op_id, i in np.asarray(arch)[2 * j - 4:2 * j - 2]:
            op, edge = DARTS_OPS[op_id], f"in{i}_{DARTS_OPS[op_id]}"
            stride = 2 if cell.reduction and i < 2 else 1  # reduction cells: ops on the cell inputs are strided
            mdl = darts.darts_op(op, cell.channels, stride, cell.affine, search=True)
            edge_vars = {"params": params[f"node{j}"].get(edge, {}), "batch_stats": stats[f"node{j}"].get(edge, {})}
            y, upd = mdl.apply(edge_vars, states[i], True, mutable=["batch_stats"])
            if upd.get("batch_stats"):
                new_stats[f"node{j}"][edge] = upd["batch_stats"]
            node = node + y
        states.append(node)
    return jnp.concatenate(states[2:], axis=-1), new_stats


@pytest.mark.slow
@pytest.mark.parametrize("reduction", [False, True])
def test_darts_scanned_cell_equals_unscanned_nodes(reduction):
    """The supernet's scanned cell: same output and statistics as calling each node's chosen ops per pair
    (:func:`_chosen_ops_cell`), and (reduction cell: both stride groups, the cond between them) the same
    gradients, for 3 random archs."""
    rng = np.random.default_rng(3)
    s0, s1 = (jnp.asarray(rng.normal(size=(4, 8, 8, 6)).astype(np.float32)) for _ in range(2))
    cell = darts.SearchCell(4, reduction, False)
    v = _np_variables(jax.eval_shape(lambda k: cell.init(k, s0, s1, jnp.zeros((8, 2), jnp.int32), True),
                                     jax.random.key(0)))
    w = jnp.asarray(rng.normal(size=(4, 4, 4, 16) if reduction else (4, 8, 8, 16)).astype(np.float32))

    def loss(params, arch):
        out, upd = cell.apply({"params": params, "batch_stats": v["batch_stats"]}, s0, s1, arch, True,
                              mutable=["batch_stats"])
        return jnp.sum(out * w), (out, upd["batch_stats"])

    def reference_loss(params, arch):
        out, stats = _chosen_ops_cell(cell, {"params": params, "batch_stats": v["batch_stats"]}, s0, s1, arch)
        return jnp.sum(out * w), (out, stats)

    def differentiated(f):
        if reduction:
            return jax.grad(f, has_aux=True)
        # forward only: the normal cell differs by its single state buffer, not by its gradient path
        return lambda *args: (None, f(*args)[1])

    archs = [np.asarray(random_arch(jax.random.fold_in(jax.random.key(4), t))[int(reduction)]) for t in range(3)]
    scanned = jax.jit(differentiated(loss), compiler_options=FAST)  # arch traced: one program for every arch
    # the references of the 3 archs (each a constant of its part) in one program: one compile, not three
    references = jax.jit(lambda p: [differentiated(functools.partial(reference_loss, arch=a))(p) for a in archs],
                         compiler_options=FAST)
    for arch, (g0, (o0, st0)) in zip(archs, references(v["params"])):
        g1, (o1, st1) = scanned(v["params"], arch)
        np.testing.assert_allclose(o1, o0, rtol=1e-5, atol=1e-5)
        assert jax.tree_util.tree_structure(st1) == jax.tree_util.tree_structure(st0)
        for a, b in zip(_leaves(st1), _leaves(st0)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        assert jax.tree_util.tree_structure(g1) == jax.tree_util.tree_structure(g0)
        for a, b in zip(_leaves(g1), _leaves(g0)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reduction", [False, True])
def test_darts_search_cell_vmapped_init_matches_the_per_module_init(reduction):
    """The scanned cell initialises its edges' ops vmapped over the edges: the same variables (paths,
    shapes, statistics) as one module per (edge, op), drawn from the same distributions, each edge its own draw."""
    rng = np.random.default_rng(5)
    s0, s1 = (jnp.asarray(rng.normal(size=(2, 8, 8, 6)).astype(np.float32)) for _ in range(2))
    arch = jnp.zeros((8, 2), jnp.int32)

    def init(scan):
        cell = darts.SearchCell(8, reduction, False, scan=scan)
        with threefry.rolled():  # as supernet/train.py initialises: the same bits, compiled several times faster
            return jax.jit(lambda k: cell.init(k, s0, s1, arch, False), compiler_options=FAST)(jax.random.key(0))

    vmapped, per_module = init(True), init(False)
    assert jax.tree.structure(vmapped) == jax.tree.structure(per_module)
    assert [a.shape for a in jax.tree.leaves(vmapped)] == [a.shape for a in jax.tree.leaves(per_module)]
    for a, b in zip(jax.tree.leaves(vmapped["batch_stats"]), jax.tree.leaves(per_module["batch_stats"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # zeros / ones
    def edge_values(v, op):
        return [np.concatenate([np.asarray(a).ravel() for a in jax.tree.leaves(v["params"][f"node{j}"][f"in{i}_{op}"])])
                for j in range(2, 6) for i in range(j)]

    for op in ("sep_conv_3x3", "dil_conv_5x5"):
        ours, theirs = edge_values(vmapped, op), edge_values(per_module, op)
        assert len({k.tobytes() for k in ours}) == len(ours), "every edge draws its own weights"
        ratio = np.concatenate(ours).std() / np.concatenate(theirs).std()
        assert abs(ratio - 1) < 0.15, (op, ratio)  # the same initializers (scales), other draws
    cell = darts.SearchCell(8, reduction, False)
    out = jax.jit(lambda v: cell.apply(v, s0, s1, random_arch(jax.random.key(1))[int(reduction)], False),
                  compiler_options=FAST)(vmapped)
    assert out.shape == ((2, 4, 4, 32) if reduction else (2, 8, 8, 32)) and bool(jnp.isfinite(out).all())
