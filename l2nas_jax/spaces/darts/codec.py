"""DARTS cell-space representations and the conversions between them.

The space is the DARTS CNN space (Liu, Simonyan & Yang, ICLR 2019; ``quark0/darts``
``cnn/genotypes.py``, ``cnn/model_search.py``): two cell types (normal, reduce), each with
4 intermediate nodes (states 2..5); node ``j`` sums two ops applied to two distinct earlier
states in ``[0, j)``; the cell output concatenates states 2..5.

Representations (one op order, :data:`DARTS_OPS`, used everywhere; there is no ``none``):

* **alpha** -- ``float32[2, 14, 7]`` (or its flat 2-D form ``[28, 7]``, rows 0-13 normal,
  14-27 reduce); one row per search edge in DARTS edge order (:data:`EDGE_NODE`,
  :data:`EDGE_INPUT`).
* **arch** -- ``int32[2, 8, 2]``: per cell 8 ``(op_id, input_state)`` pairs; pairs ``2i`` and
  ``2i+1`` feed node ``i + 2``.  Canonical form: the two inputs of a node are ascending.
* **genotype string** -- DARTS' printed ``Genotype(normal=[('sep_conv_3x3', 0), ...],
  normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])``.

Array functions marked *jittable* accept traced arrays (use ``jax.vmap`` for batches);
``is_valid``, ``format_genotype`` and ``parse_genotype`` are host-side (numpy / Python).
"""

from __future__ import annotations

import ast
import functools
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np

#: Op order of this project (contract); index = op id.  DARTS' own ``PRIMITIVES`` order differs
#: and also has ``none``, which a derived genotype never uses.
DARTS_OPS: tuple[str, ...] = (
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
)
NUM_OPS = len(DARTS_OPS)
NUM_CELLS = 2  # 0 = normal, 1 = reduce
CELL_NAMES: tuple[str, ...] = ("normal", "reduce")
NUM_NODES = 4  # intermediate nodes = states 2..5
NUM_EDGES = 14
NUM_PAIRS = 2 * NUM_NODES
CONCAT: tuple[int, ...] = (2, 3, 4, 5)
ALPHA_SHAPE: tuple[int, int] = (NUM_CELLS * NUM_EDGES, NUM_OPS)
ARCH_SHAPE: tuple[int, int, int] = (NUM_CELLS, NUM_PAIRS, 2)
#: Target state and input state of each search edge (DARTS order: node 2 from {0,1}, node 3 from
#: {0,1,2}, node 4 from {0..3}, node 5 from {0..4}).
EDGE_NODE = np.array([2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 5], dtype=np.int32)
EDGE_INPUT = np.array([0, 1, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3, 4], dtype=np.int32)
#: First edge index of each intermediate node (node j's edges are NODE_START[j-2] + input).
NODE_START = np.array([0, 2, 5, 9], dtype=np.int32)
#: Node fed by each of the 8 pairs.
PAIR_NODE = np.repeat(np.arange(2, 2 + NUM_NODES, dtype=np.int32), 2)
#: Number of canonical archs: per cell prod_j C(j, 2) * 7^2 over j = 2..5, squared (~1.08e18).
NUM_ARCHS: int = (1 * 3 * 6 * 10 * NUM_OPS**NUM_PAIRS) ** NUM_CELLS

_SHORT = {"s3": 0, "s5": 1, "d3": 2, "d5": 3, "mp": 4, "ap": 5, "sk": 6}


def _g(normal: str, reduce: str) -> str:
    """Genotype string from docs/spaces.md's shorthand (``s3,0 s3,1 ...``), kept in published order."""

    def pairs(text: str) -> str:
        items = [t.split(",") for t in text.split()]
        return ", ".join(f"('{DARTS_OPS[_SHORT[o]]}', {int(i)})" for o, i in items)

    return (
        f"Genotype(normal=[{pairs(normal)}], normal_concat=[2, 3, 4, 5], "
        f"reduce=[{pairs(reduce)}], reduce_concat=[2, 3, 4, 5])"
    )


#: Published genotypes (pairs in their published order; parse_genotype canonicalizes).
#: Sources: ``quark0/darts`` cnn/genotypes.py (DARTS_V1/V2), ``yuhuixu1993/PC-DARTS``,
#: ``chenxin061/pdarts``, GDAS via ``sbl1996/hanser`` (see docs/spaces.md section 2).
GENOTYPES: dict[str, str] = {
    "DARTS_V1": _g("s3,1 s3,0 sk,0 s3,1 sk,0 s3,1 s3,0 sk,2", "mp,0 mp,1 sk,2 mp,0 mp,0 sk,2 sk,2 ap,0"),
    "DARTS_V2": _g("s3,0 s3,1 s3,0 s3,1 s3,1 sk,0 sk,0 d3,2", "mp,0 mp,1 sk,2 mp,1 mp,0 sk,2 sk,2 mp,1"),
    "PC_DARTS_cifar": _g("s3,1 sk,0 s3,0 d3,1 s5,0 s3,1 ap,0 d3,1", "s5,1 mp,0 s5,1 s5,2 s3,0 s3,3 s3,1 s3,2"),
    "PDARTS": _g("sk,0 d3,1 sk,0 s3,1 s3,1 s3,3 s3,0 d5,4", "ap,0 s5,1 s3,0 d5,2 mp,0 d3,1 d3,1 d5,3"),
    "GDAS_V1": _g("sk,0 sk,1 sk,0 s5,2 s3,3 sk,0 s5,4 s3,3", "s5,0 s3,1 s5,2 s5,1 d5,2 s3,1 s5,0 s5,2"),
}
GENOTYPES["DARTS"] = GENOTYPES["DARTS_V2"]  # alias used by quark0/darts (DARTS = DARTS_V2)


# ----------------------------------------------------------------------------- array codecs


def _as_cells(alpha: chex.Array) -> jax.Array:
    """View α as ``[2, 14, 7]`` (accepts the flat ``[28, 7]`` form)."""
    alpha = jnp.asarray(alpha)
    if alpha.shape == ALPHA_SHAPE:
        return alpha.reshape(NUM_CELLS, NUM_EDGES, NUM_OPS)
    if alpha.shape == (NUM_CELLS, NUM_EDGES, NUM_OPS):
        return alpha
    raise ValueError(f"DARTS alpha must have shape {ALPHA_SHAPE} or (2, 14, 7), got {alpha.shape}")


#: For node n (state n + 2): the 5 padded candidate edges, and which of them exist (input < node).
_NODE_EDGES = np.array([[NODE_START[n] + min(i, n + 1) for i in range(5)] for n in range(NUM_NODES)], np.int32)
_NODE_VALID = np.array([[i < n + 2 for i in range(5)] for n in range(NUM_NODES)])


@jax.jit
def discretize(alpha: chex.Array) -> jax.Array:
    """Derive the canonical arch ``int32[2, 8, 2]`` from α (jittable).

    Per node keep the two incoming edges with the largest max-over-ops weight (ties -> lower
    edge index; NaN counts as -inf; XLA treats subnormals as 0), each with its argmax op (ties -> lower op id), inputs
    ascending.  This is DARTS' ``genotype()`` rule on whatever weights are given; DARTS ranks
    edges on ``softmax(α)`` rows, so pass ``jax.nn.softmax(α, -1)`` to reproduce it exactly.
    """
    a = _as_cells(alpha).astype(jnp.float32)
    a = jnp.where(jnp.isnan(a), -jnp.inf, a)
    score = a.max(-1)[:, _NODE_EDGES]  # [2, 4, 5] (padded slots masked below)
    best_op = jnp.argmax(a, axis=-1).astype(jnp.int32)[:, _NODE_EDGES]  # first max on ties
    valid = jnp.asarray(_NODE_VALID)
    idx = jnp.arange(5)
    si, sk = score[..., :, None], score[..., None, :]
    # Strict total order over a node's real edges: i beats k if s_i > s_k, or equal and i < k.
    beats = valid[:, :, None] & (~valid[:, None, :] | (si > sk) | ((si == sk) & (idx[:, None] < idx[None, :])))
    keep = valid & (beats.sum(-2) < 2)  # [2, 4, 5]: exactly two kept edges per node
    lo = jnp.argmax(keep, axis=-1)
    hi = 4 - jnp.argmax(keep[..., ::-1], axis=-1)
    inputs = jnp.stack([lo, hi], -1)  # [2, 4, 2]
    ops = jnp.take_along_axis(best_op, inputs, axis=-1)
    return jnp.stack([ops, inputs], -1).reshape(ARCH_SHAPE).astype(jnp.int32)


@jax.jit
def encode(arch: chex.Array) -> jax.Array:
    """One-hot ``float32[28, 7]`` of an arch: kept edges one-hot, dropped edges zero (jittable)."""
    arch = jnp.asarray(arch, jnp.int32)
    if arch.shape != ARCH_SHAPE:
        raise ValueError(f"DARTS arch must have shape {ARCH_SHAPE} (vmap for batches), got {arch.shape}")
    ops, inputs = arch[..., 0], arch[..., 1]
    rows = jnp.asarray(NODE_START)[jnp.asarray(PAIR_NODE) - 2][None, :] + inputs
    rows = rows + NUM_EDGES * jnp.arange(NUM_CELLS)[:, None]
    out = jnp.zeros(ALPHA_SHAPE, jnp.float32)
    return out.at[rows.reshape(-1), ops.reshape(-1)].set(1.0)


def _xp(x: Any):
    return np if isinstance(x, (np.ndarray, list, tuple)) else jnp


def canonicalize(arch: chex.Array) -> chex.Array:
    """Sort each node's two pairs by input state (jittable; numpy in -> numpy out)."""
    xp = _xp(arch)
    a = xp.asarray(arch).astype(xp.int32)
    if a.shape[-3:] != ARCH_SHAPE:
        raise ValueError(f"DARTS arch must have shape {ARCH_SHAPE}, got {a.shape}")
    a = a.reshape(a.shape[:-3] + (NUM_CELLS, NUM_NODES, 2, 2))
    first, second = a[..., 0, :], a[..., 1, :]
    swap = (first[..., 1] > second[..., 1])[..., None]
    lo = xp.where(swap, second, first)
    hi = xp.where(swap, first, second)
    return xp.stack([lo, hi], axis=-2).reshape(a.shape[:-4] + ARCH_SHAPE).astype(xp.int32)


@jax.jit
def random_arch(key: chex.PRNGKey) -> jax.Array:
    """Uniform canonical arch: per node 2 distinct inputs, each op uniform (jittable)."""
    u = jax.random.uniform(key, (3, NUM_CELLS, NUM_PAIRS))  # one draw: cheap to compile
    ops = jnp.minimum((u[0] * NUM_OPS).astype(jnp.int32), NUM_OPS - 1)
    node = jnp.asarray(PAIR_NODE[0::2])  # [4] = 2..5
    a = jnp.minimum((u[1, :, :NUM_NODES] * node).astype(jnp.int32), node - 1)  # uniform in [0, j)
    b = jnp.minimum((u[2, :, :NUM_NODES] * (node - 1)).astype(jnp.int32), node - 2)  # [0, j-1)
    b = b + (b >= a)  # uniform over [0, j) minus {a}
    inputs = jnp.stack([jnp.minimum(a, b), jnp.maximum(a, b)], -1).reshape(NUM_CELLS, NUM_PAIRS)
    return jnp.stack([ops, inputs], -1).astype(jnp.int32)


@jax.jit
def mutate(key: chex.PRNGKey, arch: chex.Array) -> jax.Array:
    """Change one pair's op, or one input to a new state distinct from both (jittable).

    Picks a cell and pair uniformly, then op vs input with probability 1/2 (node 2 has no
    alternative input, so it always changes its op).  The result is canonical and differs
    from ``canonicalize(arch)``.
    """
    arch = canonicalize(jnp.asarray(arch, jnp.int32))
    u = jax.random.uniform(key, (5,))  # one draw: cheap to compile
    c = jnp.minimum((u[0] * NUM_CELLS).astype(jnp.int32), NUM_CELLS - 1)
    p = jnp.minimum((u[1] * NUM_PAIRS).astype(jnp.int32), NUM_PAIRS - 1)
    node = jnp.asarray(PAIR_NODE)[p]
    change_input = (u[2] < 0.5) & (node > 2)
    op, cur, other = arch[c, p, 0], arch[c, p, 1], arch[c, p ^ 1, 1]
    new_op = (op + 1 + jnp.minimum((u[3] * (NUM_OPS - 1)).astype(jnp.int32), NUM_OPS - 2)) % NUM_OPS
    # r-th (uniform) state in [0, node) other than the pair's two current inputs.
    cand = jnp.arange(NUM_NODES + 1)
    allowed = (cand < node) & (cand != cur) & (cand != other)
    n_allowed = jnp.maximum(allowed.sum(), 1)
    r = jnp.minimum((u[4] * n_allowed).astype(jnp.int32), n_allowed - 1)
    new_in = jnp.argmax(allowed & (jnp.cumsum(allowed) == r + 1)).astype(jnp.int32)
    new_pair = jnp.where(change_input, jnp.stack([op, new_in]), jnp.stack([new_op, cur]))
    return canonicalize(arch.at[c, p].set(new_pair.astype(jnp.int32)))


def _rotl(x: jax.Array, r: int) -> jax.Array:
    return (x << jnp.uint32(r)) | (x >> jnp.uint32(32 - r))


def _fmix32(h: jax.Array) -> jax.Array:
    h = h ^ (h >> jnp.uint32(16))
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> jnp.uint32(13))
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> jnp.uint32(16))


@functools.partial(jax.jit, static_argnames="num_buckets")
def arch_hash(arch: chex.Array, num_buckets: int) -> jax.Array:
    """int32 hash of the canonical arch in ``[0, num_buckets)`` (jittable, any batch dims).

    The 16 pairs are packed injectively (6 bits each, 5 per 32-bit word) into 4 words, then
    mixed with the MurmurHash3 (x86_32) block and finalizer steps; the space (~1e18 archs) is
    far too large for a dense id, so this is used for repeat accounting.
    """
    if not 1 <= int(num_buckets) < 2**31:
        raise ValueError(f"num_buckets must be in [1, 2**31), got {num_buckets}")
    a = canonicalize(jnp.asarray(arch, jnp.int32))
    code = (a[..., 0] * (NUM_NODES + 1) + a[..., 1]).reshape(a.shape[:-3] + (NUM_CELLS * NUM_PAIRS,))
    code = code.astype(jnp.uint32)
    h = jnp.full(code.shape[:-1], 0x5BD1E995, dtype=jnp.uint32)
    for w in range(0, NUM_CELLS * NUM_PAIRS, 5):
        word = jnp.zeros(code.shape[:-1], jnp.uint32)
        for i in range(w, min(w + 5, NUM_CELLS * NUM_PAIRS)):
            word = (word << jnp.uint32(6)) | code[..., i]
        k = _rotl(word * jnp.uint32(0xCC9E2D51), 15) * jnp.uint32(0x1B873593)
        h = _rotl(h ^ k, 13) * jnp.uint32(5) + jnp.uint32(0xE6546B64)
    h = _fmix32(h ^ jnp.uint32(16))
    return (h % jnp.uint32(num_buckets)).astype(jnp.int32)


def is_valid(arch: Any, *, canonical: bool = False) -> bool:
    """Whether ``arch`` is a valid int ``[2, 8, 2]`` arch (optionally also canonical) (numpy)."""
    a = np.asarray(arch)
    if a.shape != ARCH_SHAPE or not (np.issubdtype(a.dtype, np.integer)):
        return False
    ops, inputs = a[..., 0], a[..., 1]
    if ops.min() < 0 or ops.max() >= NUM_OPS or inputs.min() < 0 or (inputs >= PAIR_NODE[None, :]).any():
        return False
    lo, hi = inputs[:, 0::2], inputs[:, 1::2]
    if (lo == hi).any():
        return False
    return bool((lo < hi).all()) if canonical else True


# ----------------------------------------------------------------------------- genotype strings


def format_genotype(arch: Any) -> str:
    """DARTS ``Genotype(...)`` string of an arch (canonical pair order; round-trips exactly)."""
    a = np.asarray(arch)
    if not is_valid(a):
        raise ValueError(f"not a valid DARTS arch int[2, 8, 2]: {a.tolist()!r}")
    a = canonicalize(a)
    parts = []
    for c, name in enumerate(CELL_NAMES):
        pairs = ", ".join(f"('{DARTS_OPS[int(o)]}', {int(i)})" for o, i in a[c])
        parts.append(f"{name}=[{pairs}], {name}_concat=[2, 3, 4, 5]")
    return f"Genotype({', '.join(parts)})"


_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
_MAX_LEN = 20_000


def _literal(node: ast.AST, what: str) -> Any:
    """Literal value of an AST node (``range(a, b)`` allowed, as printed by DARTS' search logs)."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
        and 1 <= len(node.args) <= 3
    ):
        args = [_literal(x, what) for x in node.args]
        if not all(type(x) is int for x in args):
            raise ValueError(f"{what}: range() arguments must be integers")
        return list(range(*args))
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as e:
        raise ValueError(f"{what} is not a literal list ({type(e).__name__})") from None


def _parse_cell(value: Any, cell: str) -> np.ndarray:
    """Validate one cell's pair list and return its canonical ``int32[8, 2]``."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{cell} must be a list of (op_name, input_state) pairs, got {type(value).__name__}")
    if len(value) != NUM_PAIRS:
        raise ValueError(f"{cell} has {len(value)} pairs, expected {NUM_PAIRS} (2 per node for nodes 2..5)")
    out = np.zeros((NUM_PAIRS, 2), np.int32)
    for p, pair in enumerate(value):
        node = int(PAIR_NODE[p])
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise ValueError(f"{cell} pair {p} must be an (op_name, input_state) pair, got {pair!r}")
        name, inp = pair
        if not isinstance(name, str):
            raise ValueError(f"{cell} pair {p}: op name must be a string, got {name!r}")
        if name not in DARTS_OPS:
            hint = " ('none' is never part of a derived DARTS genotype)" if name == "none" else ""
            raise ValueError(f"unknown DARTS op {name!r} in {cell} pair {p}{hint}; valid ops: {', '.join(DARTS_OPS)}")
        if type(inp) is not int:
            raise ValueError(f"{cell} pair {p}: input state must be an integer, got {inp!r}")
        if not 0 <= inp < node:
            raise ValueError(
                f"{cell} pair {p} ({name!r}, {inp}) feeds node {node}, so its input state must be in [0, {node}), got {inp}"
            )
        out[p] = (DARTS_OPS.index(name), inp)
    for n in range(NUM_NODES):
        if out[2 * n, 1] == out[2 * n + 1, 1]:
            raise ValueError(
                f"{cell} node {n + 2} reads input state {out[2 * n, 1]} twice (pairs {2 * n} and {2 * n + 1}); "
                "the two inputs of a node must differ"
            )
    return out


def parse_genotype(s: str) -> np.ndarray:
    """Parse a DARTS ``Genotype(...)`` string, or a name in :data:`GENOTYPES`, into a canonical arch.

    Accepts keyword or positional fields, pairs in any order within a node, tuples or lists,
    either quote style, any whitespace, and ``range(2, 6)`` concats (as DARTS' search logs print
    them).  Parsed with :mod:`ast` (no evaluation).

    Raises:
      ValueError: naming the problem (unknown name/op, pair count, input range, duplicate input,
        concat, missing/unknown field, or text that is not a genotype at all).
    """
    if not isinstance(s, str):
        raise ValueError(f"DARTS genotype must be a str, got {type(s).__name__}")
    text = s.strip()
    if text in GENOTYPES:
        return parse_genotype(GENOTYPES[text])
    folded = {k.lower(): k for k in GENOTYPES}
    if text.lower() in folded:
        return parse_genotype(GENOTYPES[folded[text.lower()]])
    if text.isidentifier():
        raise ValueError(f"unknown DARTS genotype name {text!r}; known names: {', '.join(GENOTYPES)}")
    if len(text) > _MAX_LEN:
        raise ValueError(f"DARTS genotype string too long ({len(text)} chars)")
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        tree = None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "Genotype"):
        raise ValueError(
            f"malformed DARTS genotype {s[:200]!r}: expected 'Genotype(normal=[...], normal_concat=[2, 3, 4, 5], "
            f"reduce=[...], reduce_concat=[2, 3, 4, 5])' or a name in {', '.join(GENOTYPES)}"
        )
    if len(tree.args) > len(_FIELDS):
        raise ValueError(f"Genotype takes {len(_FIELDS)} fields, got {len(tree.args)} positional arguments")
    fields: dict[str, ast.AST] = dict(zip(_FIELDS, tree.args))
    for kw in tree.keywords:
        if kw.arg is None:
            raise ValueError("Genotype(**...) is not supported; write the fields out")
        if kw.arg not in _FIELDS:
            raise ValueError(f"unknown Genotype field {kw.arg!r}; expected {', '.join(_FIELDS)}")
        if kw.arg in fields:
            raise ValueError(f"Genotype field {kw.arg!r} given twice")
        fields[kw.arg] = kw.value
    missing = [f for f in _FIELDS if f not in fields]
    if missing:
        raise ValueError(f"Genotype is missing field(s) {', '.join(missing)}")
    cells = []
    for name in CELL_NAMES:
        concat = _literal(fields[f"{name}_concat"], f"{name}_concat")
        if not isinstance(concat, (list, tuple)) or [c for c in concat] != list(CONCAT) or not all(
            type(c) is int for c in concat
        ):
            raise ValueError(f"{name}_concat must be [2, 3, 4, 5] (all intermediate nodes), got {concat!r}")
        cells.append(_parse_cell(_literal(fields[name], name), name))
    return canonicalize(np.stack(cells).astype(np.int32))
