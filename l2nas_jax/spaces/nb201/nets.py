"""NAS-Bench-201 cell networks: the single-path weight-sharing supernet and fixed cell networks.

Skeleton (``TinyNetwork(C=16, N=5)``, ``D-X-Y/AutoDL-Projects``
``xautodl/models/cell_infers/tiny_network.py``; docs/spaces.md section 1): stem Conv3x3 -> BN, three
stages of N cells (C, 2C, 4C channels) joined by ResNet reduction blocks, then BN -> ReLU ->
global average pool -> Linear.  A cell has 4 nodes; node j = sum_{i<j} op_{j<-i}(node i); the 6
edges and 5 ops follow :mod:`l2nas_jax.spaces.nb201.codec` (``arch = int32[6]`` op ids).

* Supernet (:func:`make_supernet`): every edge holds all 5 candidate ops; ``arch`` is a traced
  call input and :func:`~l2nas_jax.spaces.layers.single_path` runs only the chosen op per edge, so one
  compiled step serves all 15,625 cells.  Cell BN is non-affine and the cell convs carry a bias
  (AutoDL search cells: ``affine=False``, conv ``bias = not affine``); stem, reduction blocks and
  head are affine, as in AutoDL's search networks.  The N cells of a stage run as one ``lax.scan``
  over their stacked variables (XLA compiles one cell per stage, not N; parameter names stay per
  cell).  A training step differentiates each edge with a hand-written backward pass
  (:mod:`~l2nas_jax.spaces.nb201.edge_vjp`), not through the switch: no zero-filled residuals.
* Fixed network (:func:`make_network`): only the chosen ops exist (``none`` edges are dropped);
  affine BN, bias-free convs.  Its parameter count equals
  :func:`l2nas_jax.spaces.nb201.cost.nb201_cost` exactly.

Module names are shared (``cell{k}/edge{e}/{op}``, ``reduce{s}``, ...), so with equal ``affine``
a fixed network's parameters are a sub-tree of the supernet's (weight inheritance by path).
"""

from __future__ import annotations

from typing import Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from l2nas_jax.spaces.nb201.codec import EDGES, NUM_EDGES, NUM_OPS, OPS, parse_arch
from l2nas_jax.spaces.nb201.edge_vjp import CONV_OPS, mixed_edge_train
from l2nas_jax.spaces.layers import (
    SAVE_CONV_OUT,
    Identity,
    Pool,
    ReLUConvBN,
    Zero,
    batch_norm,
    classifier,
    conv,
    global_avg_pool,
    single_path,
)
from l2nas_jax.spaces.scan_blocks import apply_scanned, unstack_tree

NUM_NODES = 4


#: ReLUConvBN that keeps only its convolution output for the backward pass (see ``SAVE_CONV_OUT``).
_RematReLUConvBN = nn.remat(ReLUConvBN, policy=SAVE_CONV_OUT, static_argnums=(2,))


def nb201_op(op: str, channels: int, affine: bool, name: str | None = None, *, in_switch: bool = False) -> nn.Module:
    """The NB201 candidate op ``op`` on ``channels`` channels (stride 1, C_in = C_out).

    ``in_switch``: the op is a single-path switch branch, so its convolutions save only their
    output for the backward pass (same parameters, same values; a cheaper switch).
    """
    if op == "none":
        return Zero(name=name)
    if op == "skip_connect":
        return Identity(name=name)
    if op in CONV_OPS:
        kernel, pad = CONV_OPS[op]
        conv_op = _RematReLUConvBN if in_switch else ReLUConvBN
        return conv_op(channels, kernel, 1, pad, affine=affine, conv_bias=not affine, name=name)
    if op == "avg_pool_3x3":
        return Pool("avg", 1, name=name)
    raise ValueError(f"unknown NB201 op {op!r}; valid ops: {', '.join(OPS)}")


class ResNetBasicBlock(nn.Module):
    """Stage-reduction block: (ReLUConvBN 3x3 s2 -> ReLUConvBN 3x3) + (AvgPool 2 -> Conv1x1) shortcut."""

    features: int

    @nn.compact
    def __call__(self, x: chex.Array, train: bool) -> chex.Array:
        y = ReLUConvBN(self.features, 3, 2, 1, name="conv_a")(x, train)
        y = ReLUConvBN(self.features, 3, 1, 1, name="conv_b")(y, train)
        shortcut = nn.avg_pool(x, (2, 2), (2, 2), "VALID")
        shortcut = conv(self.features, 1, name="downsample")(shortcut)
        return shortcut + y


#: Train supernet edges with the hand-written backward pass (:mod:`~l2nas_jax.spaces.nb201.edge_vjp`);
#: False differentiates the plain switch (the reference the tests compare it with).
EDGE_VJP = True


class MixedEdge(nn.Module):
    """One supernet edge: all 5 NB201 ops (named by op); a call runs only op ``index``.

    The switch is lifted over this edge's module only, so each branch carries just this edge's
    variables (keeps the compiled program small).
    """

    channels: int
    affine: bool = False

    def setup(self) -> None:
        for name in OPS:
            setattr(self, name, nb201_op(name, self.channels, self.affine, in_switch=True))

    def __call__(self, x: chex.Array, index: chex.Array, train: bool) -> chex.Array:
        if (EDGE_VJP and train and not self.affine and x.dtype == jnp.float32 and not self.is_initializing()
                and self.is_mutable_collection("batch_stats")):
            # Training: the hand-written backward pass (edge_vjp), same values, no zero-filled residuals.
            out, stats = mixed_edge_train(self.variables["params"], self.variables["batch_stats"], x, index)
            for name, value in stats.items():
                self.put_variable("batch_stats", name, value)
            return out

        def branch(name: str):
            return lambda mdl, h: getattr(mdl, name)(h, train)

        return single_path(self, index, [branch(name) for name in OPS], x)


class FixedEdge(nn.Module):
    """One fixed-cell edge holding only its op (same variable path as in :class:`MixedEdge`)."""

    channels: int
    op: str
    affine: bool = True

    @nn.compact
    def __call__(self, x: chex.Array, train: bool) -> chex.Array:
        return nb201_op(self.op, self.channels, self.affine, name=self.op)(x, train)


class SearchCell(nn.Module):
    """NB201 supernet cell: all 5 ops on each of the 6 edges, only ``arch[e]`` is run on edge e."""

    channels: int
    affine: bool = False

    @nn.compact
    def __call__(self, x: chex.Array, arch: chex.Array, train: bool) -> chex.Array:
        nodes = [x]
        for j in range(1, NUM_NODES):
            terms = [
                MixedEdge(self.channels, self.affine, name=f"edge{e}")(nodes[i], arch[e], train)
                for e, (dst, i) in enumerate(EDGES)
                if dst == j
            ]
            nodes.append(sum(terms[1:], terms[0]))
        return nodes[-1]


class InferCell(nn.Module):
    """NB201 fixed cell: only the ops of ``ops`` (static) exist; ``none`` edges are dropped."""

    channels: int
    ops: tuple[int, ...]
    affine: bool = True

    @nn.compact
    def __call__(self, x: chex.Array, train: bool) -> chex.Array:
        nodes = [x]
        for j in range(1, NUM_NODES):
            terms = [
                FixedEdge(self.channels, OPS[self.ops[e]], self.affine, name=f"edge{e}")(nodes[i], train)
                for e, (dst, i) in enumerate(EDGES)
                if dst == j and OPS[self.ops[e]] != "none"
            ]
            # A node whose edges are all `none` is zero.  It is written as x * 0 rather than a zeros
            # constant: XLA constant-folds ops on constants at compile time, and folding a pooled
            # batch-sized zeros array took ~10 s per cell (150 s to compile one such network).
            nodes.append(sum(terms[1:], terms[0]) if terms else x * 0.0)
        return nodes[-1]


class TinyNetwork(nn.Module):
    """NB201 ``TinyNetwork``: a supernet when ``ops`` is None (arch = call input), else a fixed net."""

    C: int = 16
    N: int = 5
    num_classes: int = 10
    ops: tuple[int, ...] | None = None
    affine: bool | None = None  # cell BN/conv convention; None -> False for the supernet, True fixed
    scan_cells: bool = True  # supernet: a stage's cells as one lax.scan (same values, ~1.5x faster compile)

    @nn.compact
    def __call__(self, x: chex.Array, arch: chex.Array | None = None, train: bool = False) -> chex.Array:
        """Logits ``float32[B, num_classes]`` of images ``x: float32[B, H, W, 3]`` (H, W divisible by 4)."""
        chex.assert_rank(x, 4)
        supernet = self.ops is None
        if supernet:
            if arch is None:
                raise ValueError("the NB201 supernet needs arch (int32[6] op ids) as a call input")
            chex.assert_shape(arch, (NUM_EDGES,))
        elif arch is not None:
            raise ValueError("a fixed NB201 network takes no arch input (its cell is fixed at construction)")
        affine = (not supernet) if self.affine is None else self.affine
        x = conv(self.C, 3, 1, 1, name="stem_conv")(x)
        x = batch_norm(train, name="stem_bn")(x)
        channels, k = self.C, 0
        for stage in range(3):
            if stage:
                channels *= 2
                x = ResNetBasicBlock(channels, name=f"reduce{stage}")(x, train)
            if supernet:
                x = self._search_cells(x, arch, train, channels, affine, k)
                k += self.N
                continue
            for _ in range(self.N):
                x = InferCell(channels, self.ops, affine, name=f"cell{k}")(x, train)
                k += 1
        x = nn.relu(batch_norm(train, name="lastact_bn")(x))
        return classifier(self.num_classes)(global_avg_pool(x))

    def _search_cells(self, x: chex.Array, arch: chex.Array, train: bool, channels: int, affine: bool,
                      first: int) -> chex.Array:
        """The N search cells of a stage (``cell{first}`` ...): created one by one, applied as a scan."""
        names = [f"cell{first + i}" for i in range(self.N)]
        if self.N == 1 or not self.scan_cells:
            for n in names:
                x = SearchCell(channels, affine, name=n)(x, arch, train)
            return x
        if self.is_initializing():
            _init_cells(self, x, arch, channels, affine, names)
        return apply_scanned(self, SearchCell(channels, affine), names, x, shared=(arch,), train=train)


def _init_cells(mdl: nn.Module, x: chex.Array, arch: chex.Array, channels: int, affine: bool,
                names: Sequence[str]) -> None:
    """Create the variables of a stage's search cells ``names``: one ``init`` vmapped over their keys.

    Why: the one-off initialisation then compiles one cell per stage, not N (each cell still draws
    its own parameters from its own key).
    """
    cell = SearchCell(channels, affine)
    keys = jax.random.split(mdl.make_rng("params"), len(names))
    variables = jax.vmap(lambda k: cell.init({"params": k}, x, arch, train=False))(keys)
    for i, n in enumerate(names):
        for col, tree in variables.items():
            mdl.put_variable(col, n, unstack_tree(tree, i))


def _check_ops(arch: str | Sequence[int] | np.ndarray) -> tuple[int, ...]:
    """Static ``int[6]`` op ids from an arch string or array; ValueError naming a bad value."""
    ops = parse_arch(arch) if isinstance(arch, str) else np.asarray(arch)
    if ops.shape != (NUM_EDGES,) or not np.issubdtype(ops.dtype, np.integer):
        raise ValueError(f"NB201 arch must be {NUM_EDGES} integer op ids or an arch string, got {arch!r}")
    if ops.min() < 0 or ops.max() >= NUM_OPS:
        raise ValueError(f"NB201 op ids must lie in [0, {NUM_OPS}), got {ops.tolist()}")
    return tuple(int(o) for o in ops)


def make_supernet(C: int = 16, N: int = 5, num_classes: int = 10, *, affine: bool = False,
                  scan_cells: bool = True) -> TinyNetwork:
    """The single-path NB201 supernet; call ``apply(v, x, arch, train=...)`` with ``arch: int32[6]``."""
    return TinyNetwork(C=C, N=N, num_classes=num_classes, ops=None, affine=affine, scan_cells=scan_cells)


def make_network(
    arch: str | Sequence[int] | np.ndarray, C: int = 16, N: int = 5, num_classes: int = 10, *, affine: bool = True
) -> TinyNetwork:
    """The fixed NB201 cell network of ``arch`` (op ids or arch string); call ``apply(v, x, train=...)``."""
    return TinyNetwork(C=C, N=N, num_classes=num_classes, ops=_check_ops(arch), affine=affine)
