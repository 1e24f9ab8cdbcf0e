"""DARTS networks: the single-path search supernet and the fixed evaluation networks.

Follows ``quark0/darts`` ``cnn/{model_search,model,operations}.py`` (DARTS, Liu et al., ICLR
2019), summarised in docs/spaces.md section 2.  Architectures use the contract form of
:mod:`l2nas_jax.spaces.darts.codec`: ``arch = int32[2, 8, 2]`` (cell 0 normal, 1 reduce); pair
``2i``/``2i+1`` = ``(op id into DARTS_OPS, input state)`` feeding intermediate node ``i + 2``;
cell output = concat of states 2..5.

* Supernet (:func:`make_supernet`, DARTS' search ``Network(C=16, layers=8)``): stem 3x3 conv
  (3C) + BN, ``layers`` cells with reductions at ``layers//3`` and ``2*layers//3``, GAP, linear.
  Every edge (14 per cell) holds its own copy of all 7 ops; cell BNs are non-affine and pools are
  followed by a non-affine BN (DARTS ``MixedOp``).  ``arch`` is a traced call input; the chosen
  edge's variables are gathered and a 7-way ``lax.switch`` runs only the chosen op on the chosen
  input, so one compiled step serves every architecture, unselected ops are not computed, get
  exactly zero gradient and keep their BN statistics.  The switch is differentiated by
  recomputing the chosen op in the backward pass (:mod:`~l2nas_jax.spaces.switch_vjp`), not
  through a union of all ops' residuals.  A cell's 8 pairs run as a ``lax.scan`` over one copy
  of that pair program (a compiled cell the size of one pair, not eight); its edges' ops are
  initialised vmapped over the edges.
* Fixed networks (:func:`make_network`): ``NetworkCIFAR`` (C=36, 20 cells, auxiliary head on
  cell ``2*layers//3``, drop-path on non-identity ops) and ``NetworkImageNet`` (C=48, 14 cells);
  affine BN, pools without BN.  Parameter counts match
  :func:`l2nas_jax.spaces.darts.cost.darts_cost_counts` (DARTS_V2 CIFAR-10: 3,349,342).

Module paths are shared (``cell{k}/node{j}/in{i}_{op}``, ``cell{k}/preprocess{0,1}``, ``stem*``,
``classifier``), so a fixed net's conv kernels sit at the same paths as in the supernet.
"""

from __future__ import annotations

from typing import Any, Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from l2nas_jax.spaces.darts.codec import ARCH_SHAPE, DARTS_OPS, NUM_NODES, NUM_OPS, is_valid, parse_genotype
from l2nas_jax.spaces.layers import (
    DilConv,
    FactorizedReduce,
    Identity,
    Pool,
    ReLUConvBN,
    SepConv,
    batch_norm,
    classifier,
    conv,
    global_avg_pool,
)
from l2nas_jax.spaces.scan_blocks import stack_trees
from l2nas_jax.spaces.switch_vjp import recompute_switch

STEM_MULTIPLIER = 3
MULTIPLIER = 4  # cell output = concat of the 4 intermediate states
NETWORKS = ("cifar", "imagenet")


def darts_op(op: str, channels: int, stride: int, affine: bool, search: bool, **module_kw: Any) -> nn.Module:
    """The DARTS candidate op ``op`` (C -> C, ``stride``); ``search`` adds the MixedOp pool BN.

    ``module_kw`` (``name=`` or ``parent=``) is passed to the module constructor.
    """
    if op in ("sep_conv_3x3", "sep_conv_5x5"):
        k = int(op[-1])
        return SepConv(channels, k, stride, k // 2, affine, **module_kw)
    if op in ("dil_conv_3x3", "dil_conv_5x5"):
        k = int(op[-1])
        return DilConv(channels, k, stride, k - 1, 2, affine, **module_kw)
    if op in ("max_pool_3x3", "avg_pool_3x3"):
        return Pool(op[:3], stride, bn=search, **module_kw)
    if op == "skip_connect":
        return Identity(**module_kw) if stride == 1 else FactorizedReduce(channels, affine, **module_kw)
    raise ValueError(f"unknown DARTS op {op!r}; valid ops: {', '.join(DARTS_OPS)}")


def _preprocess(channels: int, reduction_prev: bool, affine: bool) -> tuple[nn.Module, nn.Module]:
    """(preprocess0, preprocess1): bring s0 (halved if the previous cell reduced) and s1 to C channels."""
    p0 = (
        FactorizedReduce(channels, affine, name="preprocess0")
        if reduction_prev
        else ReLUConvBN(channels, 1, 1, 0, affine=affine, name="preprocess0")
    )
    return p0, ReLUConvBN(channels, 1, 1, 0, affine=affine, name="preprocess1")


def drop_path(mdl: nn.Module, x: chex.Array, rate: Any) -> chex.Array:
    """Zero whole examples with probability ``rate`` and rescale the rest (DARTS ``drop_path``).

    The keep probability is float32 whatever the activations' dtype, so bf16 training draws the same masks."""
    keep = 1.0 - jnp.asarray(rate, jnp.float32)
    mask = jax.random.bernoulli(mdl.make_rng("dropout"), keep, (x.shape[0], 1, 1, 1))
    return x / keep.astype(x.dtype) * mask.astype(x.dtype)


# ----------------------------------------------------------------------------- supernet


#: Differentiate each edge's op switch by recomputing the chosen op (:mod:`~l2nas_jax.spaces.switch_vjp`).
SWITCH_VJP = True

Edge = tuple[str, int]  # (node scope name, "" for a node's own variables; input state index)


def _edge_stride(reduction: bool, i: int) -> int:
    """The stride of an op on input state ``i``: 2 on the cell inputs (states 0, 1) of a reduction cell."""
    return 2 if reduction and i < 2 else 1


def _groups(inputs: Sequence[int], reduction: bool) -> list[tuple[int, ...]]:
    """Input indices sharing a stride (and so an input shape): in reduction cells states 0, 1 are strided."""
    if not reduction:
        return [tuple(inputs)]
    return [g for g in (tuple(i for i in inputs if i < 2), tuple(i for i in inputs if i >= 2)) if g]


def _edge_groups(edges: Sequence[Edge], reduction: bool) -> list[list[Edge]]:
    """``edges`` split by stride group (see :func:`_groups`), in order."""
    return [[e for e in edges if e[1] in g] for g in _groups(sorted({i for _, i in edges}), reduction)]


def _edge_rows(edges: Sequence[Edge], reduction: bool) -> np.ndarray:
    """``int32[nodes, inputs]``: each edge's row in its group's stacked variables (nodes in ``edges`` order)."""
    nodes = list(dict.fromkeys(node for node, _ in edges))
    rows = np.zeros((len(nodes), max(i for _, i in edges) + 1), np.int32)
    for group in _edge_groups(edges, reduction):
        for row, (node, i) in enumerate(group):
            rows[nodes.index(node), i] = row
    return rows


def _edge_vars(variables: Any, edges: Sequence[Edge], op: str) -> Any:
    """One op's variables of every edge in ``edges``, stacked by edge (``{}`` for ops without any)."""
    return stack_trees([(variables.get(node, {}) if node else variables).get(f"in{i}_{op}", {}) for node, i in edges])


def _stacked_vars(variables: Any, edges: Sequence[Edge], reduction: bool) -> tuple[list[list], list[list]]:
    """(params, stats): per stride group, per op, the variables stacked over the group's edges."""
    params, stats = variables.get("params", {}), variables.get("batch_stats", {})
    groups = _edge_groups(edges, reduction)
    return ([[_edge_vars(params, g, op) for op in DARTS_OPS] for g in groups],
            [[_edge_vars(stats, g, op) for op in DARTS_OPS] for g in groups])


def _unstacked_stats(stats: list[list], edges: Sequence[Edge], reduction: bool) -> dict[str, Any]:
    """Inverse of :func:`_stacked_vars` for statistics: ``{node: {"in{i}_{op}": stats}}`` (``""``: no node)."""
    out: dict[str, Any] = {}
    for group, per_op in zip(_edge_groups(edges, reduction), stats):
        for op, stacked in zip(DARTS_OPS, per_op):
            if jax.tree_util.tree_leaves(stacked):
                for row, (node, i) in enumerate(group):
                    out.setdefault(node, {})[f"in{i}_{op}"] = jax.tree_util.tree_map(lambda a, r=row: a[r], stacked)
    return out


def _run_chosen_op(channels: int, stride: int, affine: bool, train: bool, update_stats: bool, params: list,
                   stats: list, row: chex.Array, op_id: chex.Array, x: chex.Array) -> tuple[chex.Array, list]:
    """Op ``op_id`` of the edge in stacked row ``row`` on ``x`` (one 7-way ``lax.switch``).

    The chosen edge's variables are gathered (the other edges get exactly zero gradient); only
    the chosen op's statistics row is rewritten.  Returns (output, per-op stacked statistics).
    """
    sel_p = [jax.tree_util.tree_map(lambda a: a[row], t) for t in params]
    sel_s = [jax.tree_util.tree_map(lambda a: a[row], t) for t in stats]

    def branch(k: int):
        def run(sel_p, sel_s, x):
            op = darts_op(DARTS_OPS[k], channels, stride, affine, search=True, parent=None)
            v = {"params": sel_p[k], "batch_stats": sel_s[k]}
            if not update_stats:
                return op.apply(v, x, train), sel_s
            y, upd = op.apply(v, x, train, mutable=["batch_stats"])
            return y, [upd.get("batch_stats", {}) if j == k else t for j, t in enumerate(sel_s)]

        return run

    switch = recompute_switch if SWITCH_VJP else jax.lax.switch
    y, new_s = switch(op_id, [branch(k) for k in range(NUM_OPS)], sel_p, sel_s, x)
    if not update_stats:
        return y, stats
    return y, [jax.tree_util.tree_map(lambda a, n: a.at[row].set(n), t, n) for t, n in zip(stats, new_s)]


def _pair_step(channels: int, affine: bool, train: bool, update_stats: bool, groups: Sequence[tuple[int, ...]],
               reduction: bool, params: list[list], stats: list[list], inputs: Sequence[chex.Array],
               op_id: chex.Array, inp: chex.Array, row: chex.Array) -> tuple[chex.Array, list[list]]:
    """One ``(op, input)`` pair: state ``inp`` through op ``op_id`` of its edge.

    ``inputs[g]`` stacks the states of stride group ``g`` (``groups[g]`` lists their indices), so
    the input is a dynamic index; with two groups (reduction cells) a 2-way ``lax.cond`` picks the
    strided group (states 0, 1) or the rest.  Returns the output and every group's statistics.
    """

    def group_branch(gi: int):
        def run(stats, inputs):
            x = inputs[gi][inp - groups[gi][0]]
            stride = _edge_stride(reduction, groups[gi][0])
            y, new = _run_chosen_op(channels, stride, affine, train, update_stats, params[gi], stats[gi], row, op_id, x)
            return y, [new if j == gi else s for j, s in enumerate(stats)]

        return run

    if len(groups) == 1:
        return group_branch(0)(stats, inputs)
    return jax.lax.cond(inp >= groups[1][0], group_branch(1), group_branch(0), stats, inputs)


class MixedNode(nn.Module):
    """All 7 ops on each of the ``n_inputs`` edges into one node; a call runs one ``(op, input)`` pair.

    Variables live at ``in{i}_{op}`` (one op module per edge and op).  At apply time the chosen
    edge's variables are gathered per op type and a 7-way ``lax.switch`` applies only the chosen
    op (:func:`_pair_step`); in reduction cells an outer 2-way switch picks the strided group
    (inputs 0, 1) or the stride-1 group (inputs >= 2).  BN statistics are written back only for
    the chosen edge; unselected ops are not computed and get exactly zero gradient.  In the
    supernet, :class:`SearchCell` runs all pairs of a cell through one scanned copy of the same
    program; calling a node directly (tests) runs one pair.
    """

    channels: int
    n_inputs: int
    reduction: bool
    affine: bool = False

    @nn.compact
    def __call__(self, states: Sequence[chex.Array], pair: chex.Array, train: bool) -> chex.Array:
        op_id, inp = jnp.asarray(pair[0], jnp.int32), jnp.asarray(pair[1], jnp.int32)
        if self.is_initializing():  # create every (edge, op) module; pick the output by indexing
            outs = []
            for i in range(self.n_inputs):
                for op in DARTS_OPS:
                    mdl = darts_op(op, self.channels, _edge_stride(self.reduction, i), self.affine, search=True,
                                   name=f"in{i}_{op}")
                    outs.append(mdl(states[i], train))
            return jnp.stack(outs)[inp * NUM_OPS + op_id]
        edges = [("", i) for i in range(self.n_inputs)]
        groups = _groups(range(self.n_inputs), self.reduction)
        update_stats = train and self.is_mutable_collection("batch_stats")
        params, stats = _stacked_vars(self.variables, edges, self.reduction)
        inputs = [jnp.stack([states[i] for i in g]) for g in groups]
        row = jnp.asarray(_edge_rows(edges, self.reduction))[0, inp]
        y, stats = _pair_step(self.channels, self.affine, train, update_stats, groups, self.reduction, params, stats,
                              inputs, op_id, inp, row)
        if update_stats:
            for name, value in _unstacked_stats(stats, edges, self.reduction)[""].items():
                self.put_variable("batch_stats", name, value)
        return y


class SearchCell(nn.Module):
    """DARTS search cell: preprocess, 4 nodes each = sum of its 2 selected pairs, concat states 2..5.

    The 8 pairs run as one ``lax.scan`` over a single copy of the pair program (:func:`_pair_step`)
    with the node states in a stacked buffer: the compiled cell is about as large as one pair's
    7 (14 in reduction cells) op branches instead of 8 copies of them.
    """

    channels: int
    reduction: bool
    reduction_prev: bool
    affine: bool = False
    scan: bool = True  # False: call each node per pair, unscanned (the same computation, slower to compile)

    @nn.compact
    def __call__(self, s0: chex.Array, s1: chex.Array, arch: chex.Array, train: bool) -> chex.Array:
        p0, p1 = _preprocess(self.channels, self.reduction_prev, self.affine)
        states = [p0(s0, train), p1(s1, train)]
        if self.is_initializing() and self.scan:
            # the output's values do not matter here (initial values do not depend on data): its shape does
            b, h, w, _ = self._init_edges(states, train).shape
            return jnp.zeros((b, h, w, MULTIPLIER * self.channels), states[0].dtype)
        if self.is_initializing() or not self.scan:
            for j in range(2, 2 + NUM_NODES):
                node = MixedNode(self.channels, j, self.reduction, self.affine, name=f"node{j}")
                states.append(node(states, arch[2 * j - 4], train) + node(states, arch[2 * j - 3], train))
            return jnp.concatenate(states[2:], axis=-1)
        return self._scan_pairs(states, arch, train)

    def _init_edges(self, states: list[chex.Array], train: bool) -> chex.Array:
        """Create every (edge, op) module's variables: one ``init`` per op and stride group, vmapped over the edges.

        Each edge gets its own draw; the variables sit where :class:`MixedNode`'s submodules put them
        (``node{j}/in{i}_{op}``).  Why: 98 op modules per cell initialised one by one were most of the
        supernet's one-off set-up (eagerly: each op dispatched alone; jitted: a random hash per draw).
        Returns a zero node state (its shape is the cell's spatial output shape).
        """
        edges = [(f"node{j}", i) for j in range(2, 2 + NUM_NODES) for i in range(j)]
        stride = 2 if self.reduction else 1
        b, h, w, _ = states[0].shape
        node_state = jnp.zeros((b, h // stride, w // stride, self.channels), states[0].dtype)
        out: dict[str, dict[str, Any]] = {"params": {}, "batch_stats": {}}
        for group in _edge_groups(edges, self.reduction):
            first = group[0][1]
            x = states[first] if first < 2 else node_state
            for op in DARTS_OPS:
                mdl = darts_op(op, self.channels, _edge_stride(self.reduction, first), self.affine, search=True,
                               parent=None)
                keys = jax.random.split(self.make_rng("params"), len(group))
                stacked = jax.vmap(lambda k, m=mdl: m.init(k, x, train))(keys)
                for col, tree in stacked.items():
                    for row, (node, i) in enumerate(group):
                        out[col].setdefault(node, {})[f"in{i}_{op}"] = jax.tree.map(lambda a, r=row: a[r], tree)
        for col, nodes in out.items():
            for node, value in nodes.items():
                self.put_variable(col, node, value)
        return node_state

    def _scan_pairs(self, states: list[chex.Array], arch: chex.Array, train: bool) -> chex.Array:
        edges = [(f"node{j}", i) for j in range(2, 2 + NUM_NODES) for i in range(j)]
        groups = _groups(range(2 + NUM_NODES), self.reduction)
        update_stats = train and self.is_mutable_collection("batch_stats")
        params, stats = _stacked_vars(self.variables, edges, self.reduction)
        rows = jnp.asarray(_edge_rows(edges, self.reduction))
        stride = 2 if self.reduction else 1
        b, h, w, _ = states[0].shape
        nodes = jnp.zeros((NUM_NODES, b, h // stride, w // stride, self.channels), states[0].dtype)
        # One stack per stride group; the node states are rows of the last one (filled in by the scan).
        inputs = [jnp.concatenate([jnp.stack(states), nodes])] if len(groups) == 1 else [jnp.stack(states), nodes]
        first_node = 2 - groups[-1][0]
        pairs = jnp.asarray(arch, jnp.int32)
        node_of_pair = jnp.arange(2 * NUM_NODES, dtype=jnp.int32) // 2

        def body(carry, xs):
            inputs, stats = carry
            (op_id, inp), node = xs
            y, stats = _pair_step(self.channels, self.affine, train, update_stats, groups, self.reduction, params,
                                  stats, inputs, op_id, inp, rows[node, inp])
            return ([*inputs[:-1], inputs[-1].at[first_node + node].add(y)], stats), None

        (inputs, stats), _ = jax.lax.scan(body, (inputs, stats), ((pairs[:, 0], pairs[:, 1]), node_of_pair))
        if update_stats:
            for node, value in _unstacked_stats(stats, edges, self.reduction).items():
                self.put_variable("batch_stats", node, value)
        return jnp.concatenate(list(inputs[-1][first_node:]), axis=-1)


class DartsSupernet(nn.Module):
    """DARTS search ``Network``: call ``(x, arch int32[2, 8, 2], train)`` -> logits."""

    C: int = 16
    layers: int = 8
    num_classes: int = 10
    affine: bool = False

    @nn.compact
    def __call__(self, x: chex.Array, arch: chex.Array, train: bool = False) -> chex.Array:
        chex.assert_rank(x, 4)
        chex.assert_shape(arch, ARCH_SHAPE)
        c_curr = STEM_MULTIPLIER * self.C
        s = batch_norm(train, name="stem_bn")(conv(c_curr, 3, 1, 1, name="stem_conv")(x))
        s0 = s1 = s
        c_curr, reduction_prev = self.C, False
        for k in range(self.layers):
            reduction = k in (self.layers // 3, 2 * self.layers // 3)
            c_curr *= 2 if reduction else 1
            cell = SearchCell(c_curr, reduction, reduction_prev, self.affine, name=f"cell{k}")
            s0, s1 = s1, cell(s0, s1, arch[int(reduction)], train)
            reduction_prev = reduction
        return classifier(self.num_classes)(global_avg_pool(s1))


def make_supernet(C: int = 16, layers: int = 8, num_classes: int = 10, *, affine: bool = False) -> DartsSupernet:
    """The single-path DARTS supernet; call ``apply(v, x, arch, train=...)`` with ``arch: int32[2, 8, 2]``."""
    if layers < 3:
        raise ValueError(f"DARTS supernet needs layers >= 3 (reductions at layers//3, 2*layers//3), got {layers}")
    return DartsSupernet(C=C, layers=layers, num_classes=num_classes, affine=affine)


# ----------------------------------------------------------------------------- fixed networks


class FixedNode(nn.Module):
    """One node of a derived cell: ``op_a(states[in_a]) + op_b(states[in_b])`` with drop-path."""

    channels: int
    pairs: tuple[tuple[int, int], tuple[int, int]]
    reduction: bool

    @nn.compact
    def __call__(self, states: Sequence[chex.Array], train: bool, drop_rate: Any) -> chex.Array:
        out = []
        for op_id, i in self.pairs:
            op_name = DARTS_OPS[op_id]
            stride = _edge_stride(self.reduction, i)
            op = darts_op(op_name, self.channels, stride, affine=True, search=False, name=f"in{i}_{op_name}")
            h = op(states[i], train)
            if train and not isinstance(op, Identity) and not _is_zero(drop_rate) and not self.is_initializing():
                h = drop_path(self, h, drop_rate)
            out.append(h)
        return out[0] + out[1]


def _is_zero(rate: Any) -> bool:
    """Whether the drop-path rate is statically zero (then no 'dropout' rng is needed)."""
    return isinstance(rate, (int, float)) and rate == 0


class EvalCell(nn.Module):
    """DARTS evaluation cell for one ``int[8, 2]`` genotype half (affine BN, no pool BN)."""

    channels: int
    genotype: tuple[tuple[int, int], ...]
    reduction: bool
    reduction_prev: bool

    @nn.compact
    def __call__(self, s0: chex.Array, s1: chex.Array, train: bool, drop_rate: Any) -> chex.Array:
        p0, p1 = _preprocess(self.channels, self.reduction_prev, affine=True)
        states = [p0(s0, train), p1(s1, train)]
        for j in range(2, 2 + NUM_NODES):
            pairs = (self.genotype[2 * j - 4], self.genotype[2 * j - 3])
            states.append(FixedNode(self.channels, pairs, self.reduction, name=f"node{j}")(states, train, drop_rate))
        return jnp.concatenate(states[2:], axis=-1)


class AuxiliaryHead(nn.Module):
    """Auxiliary classifier: ReLU, AvgPool 5 (stride 3 CIFAR / 2 ImageNet), 1x1 128, BN, ReLU, 2x2 768, ..."""

    num_classes: int
    network: str = "cifar"

    @nn.compact
    def __call__(self, x: chex.Array, train: bool) -> chex.Array:
        stride = 3 if self.network == "cifar" else 2
        x = nn.avg_pool(nn.relu(x), (5, 5), (stride, stride), "VALID")
        if x.shape[1:3] != (2, 2):
            raise ValueError(f"auxiliary head expects a 2x2 map after its pool, got {x.shape[1:3]}")
        x = nn.relu(batch_norm(train)(conv(128, 1)(x)))
        x = conv(768, 2)(x)
        if self.network == "cifar":  # NetworkImageNet's head omits this BN (see quark0/darts model.py)
            x = batch_norm(train)(x)
        return classifier(self.num_classes)(nn.relu(x).reshape(x.shape[0], -1))


class DartsNetwork(nn.Module):
    """DARTS ``NetworkCIFAR`` / ``NetworkImageNet`` for a fixed ``arch`` (nested tuples, static)."""

    arch: tuple[tuple[tuple[int, int], ...], ...]
    C: int = 36
    layers: int = 20
    num_classes: int = 10
    auxiliary: bool = True
    drop_path: float = 0.2
    network: str = "cifar"

    @nn.compact
    def __call__(self, x: chex.Array, train: bool = False, drop_path_rate: Any = None) -> Any:
        """Logits, or ``(logits, aux_logits)`` when training with the auxiliary head.

        ``drop_path_rate`` (float or traced scalar) overrides ``self.drop_path`` -- DARTS ramps it
        linearly over training; a non-zero rate in training needs a ``'dropout'`` rng.
        """
        chex.assert_rank(x, 4)
        rate = self.drop_path if drop_path_rate is None else drop_path_rate
        if self.network == "cifar":
            c_curr = STEM_MULTIPLIER * self.C
            s0 = s1 = batch_norm(train, name="stem_bn")(conv(c_curr, 3, 1, 1, name="stem_conv")(x))
            c_pp = c_prev = c_curr
            reduction_prev = False
        else:
            s0 = conv(self.C // 2, 3, 2, 1, name="stem0_conv0")(x)
            s0 = nn.relu(batch_norm(train, name="stem0_bn0")(s0))
            s0 = batch_norm(train, name="stem0_bn1")(conv(self.C, 3, 2, 1, name="stem0_conv1")(s0))
            s1 = batch_norm(train, name="stem1_bn")(conv(self.C, 3, 2, 1, name="stem1_conv")(nn.relu(s0)))
            reduction_prev = True
        aux = None
        c_curr = self.C
        for k in range(self.layers):
            reduction = k in (self.layers // 3, 2 * self.layers // 3)
            c_curr *= 2 if reduction else 1
            cell = EvalCell(c_curr, self.arch[int(reduction)], reduction, reduction_prev, name=f"cell{k}")
            s0, s1 = s1, cell(s0, s1, train, rate)
            reduction_prev = reduction
            if k == 2 * self.layers // 3 and self.auxiliary and (train or self.is_initializing()):
                # Created at init whatever ``train`` is, so eval-mode init can later train.
                aux = AuxiliaryHead(self.num_classes, self.network, name="auxiliary_head")(s1, train)
        logits = classifier(self.num_classes)(global_avg_pool(s1))
        return (logits, aux) if train and self.auxiliary else logits


def _check_arch(arch: Any) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Static nested-tuple form of a valid ``int[2, 8, 2]`` arch or a genotype string."""
    a = parse_genotype(arch) if isinstance(arch, str) else np.asarray(arch)
    if not is_valid(a):
        raise ValueError(
            f"not a valid DARTS arch: expected int[2, 8, 2] (op id < {NUM_OPS}, pair 2i/2i+1 inputs distinct "
            f"and < i + 2) or a genotype string, got {arch!r}"
        )
    return tuple(tuple((int(o), int(i)) for o, i in cell) for cell in a)


def make_network(
    arch: Any,
    C: int = 36,
    layers: int = 20,
    num_classes: int = 10,
    auxiliary: bool = True,
    drop_path: float = 0.2,
    *,
    network: str = "cifar",
) -> DartsNetwork:
    """Fixed DARTS evaluation net of ``arch`` (int[2, 8, 2] or genotype string); ``network`` cifar|imagenet.

    For ImageNet pass the ImageNet settings explicitly (DARTS: ``C=48, layers=14,
    num_classes=1000``, 224 px input).  Call ``apply(v, x, train=..., rngs={'dropout': key})``.
    """
    if network not in NETWORKS:
        raise ValueError(f"unknown DARTS network {network!r}; expected one of {', '.join(NETWORKS)}")
    if not 0.0 <= drop_path < 1.0:
        raise ValueError(f"drop_path must lie in [0, 1), got {drop_path}")
    if layers < 3:
        raise ValueError(f"DARTS network needs layers >= 3, got {layers}")
    return DartsNetwork(
        arch=_check_arch(arch),
        C=C,
        layers=layers,
        num_classes=num_classes,
        auxiliary=auxiliary,
        drop_path=drop_path,
        network=network,
    )
