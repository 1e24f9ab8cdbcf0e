"""OFA MobileNetV3 subnet representations and the conversions between them.

The space (Cai et al., OFA, ICLR 2020; ``mit-han-lab/once-for-all``
``ofa/imagenet_classification/elastic_nn/networks/ofa_mbv3.py``): 5 units of up to 4
MBConv layers; per layer a kernel in :data:`KERNELS` and an expand ratio in
:data:`EXPANDS`; per unit a depth in :data:`DEPTHS` (a unit keeps its FIRST ``d``
layers); one input resolution.  Representations:

* **arch** -- ``int32[26]``: 20 per-layer op ids ``expand_idx * 3 + kernel_idx`` in
  ``0..8`` (layer ``i`` is layer ``i % 4`` of unit ``i // 4``), 5 depth ids into
  :data:`DEPTHS`, 1 resolution id into :data:`RESOLUTIONS`.  Op ids of skipped layers
  (past their unit's depth) are ignored; the canonical form sets them to 0.
* **alpha / one-hot** -- ``float32[26, 9]`` (:data:`ALPHA_SHAPE`): rows 0-19 the 9 MBConv
  choices of each layer, rows 20-24 the depth choice in columns 0-2, row 25 the
  resolution choice in columns 0-4.  Other columns are invalid (:data:`VALID_MASK`):
  never chosen by :func:`discretize`, always 0 in :func:`encode`; skipped layers encode
  as all-zero rows (as OFA's accuracy-predictor encoder does).
* :class:`SubnetConfig` -- OFA's own dict ``{"ks": [20], "e": [20], "d": [5], "r": int}``
  (JSON; ``"image_size"`` is accepted for ``"r"``) and a compact string
  ``r224 d=4,3,2,4,4 | k3e4 k5e6 k3e3 k7e6 | k3e4 k5e6 k3e3 - | ...`` (skipped layers
  shown as ``-``); both round-trip (the string form is canonical).

Array functions are jit/vmap-compatible (they accept leading batch dimensions unless
noted); parsing/validation/config functions are host-side.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Mapping, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

KERNELS: tuple[int, ...] = (3, 5, 7)
EXPANDS: tuple[int, ...] = (3, 4, 6)
DEPTHS: tuple[int, ...] = (2, 3, 4)
#: Resolutions of the OFA tutorial / predictor searches (``ofa/tutorial``).
RESOLUTIONS: tuple[int, ...] = (160, 176, 192, 208, 224)

NUM_UNITS = 5
LAYERS_PER_UNIT = max(DEPTHS)
NUM_LAYERS = NUM_UNITS * LAYERS_PER_UNIT  # 20
NUM_LAYER_OPS = len(EXPANDS) * len(KERNELS)  # 9
DEPTH_ROW = NUM_LAYERS  # rows 20..24 of alpha / entries 20..24 of arch
RES_ROW = NUM_LAYERS + NUM_UNITS  # row / entry 25
ARCH_LEN = RES_ROW + 1  # 26
ALPHA_SHAPE: tuple[int, int] = (ARCH_LEN, NUM_LAYER_OPS)
#: number of valid choices of each arch entry (9 per layer, 3 per depth, 5 for resolution).
NUM_CHOICES = np.array([NUM_LAYER_OPS] * NUM_LAYERS + [len(DEPTHS)] * NUM_UNITS + [len(RESOLUTIONS)], np.int32)
#: ``bool[26, 9]``: which alpha columns are real choices of each row.
VALID_MASK = np.arange(NUM_LAYER_OPS)[None, :] < NUM_CHOICES[:, None]
#: position of each layer inside its unit (0..3).
LAYER_POS = np.tile(np.arange(LAYERS_PER_UNIT), NUM_UNITS).astype(np.int32)
#: unit of each layer (0..4).
LAYER_UNIT = np.repeat(np.arange(NUM_UNITS), LAYERS_PER_UNIT).astype(np.int32)

_DEPTH_VALUES = np.asarray(DEPTHS, np.int32)
_TOKEN = re.compile(r"^k(\d+)e(\d+)$")
_HEADER = re.compile(r"^r(\d+)\s+d\s*=\s*([0-9,\s]+)$")


# --------------------------------------------------------------------------- op ids


def op_id(kernel: int, expand: int) -> int:
    """Op id ``expand_idx * 3 + kernel_idx`` of an MBConv choice (ValueError if not in the space)."""
    if kernel not in KERNELS:
        raise ValueError(f"OFA kernel size must be one of {KERNELS}, got {kernel!r}")
    if expand not in EXPANDS:
        raise ValueError(f"OFA expand ratio must be one of {EXPANDS}, got {expand!r}")
    return EXPANDS.index(expand) * len(KERNELS) + KERNELS.index(kernel)


def op_kernel_idx(op):
    """Kernel index (into :data:`KERNELS`) of op ids (numpy or jax)."""
    return op % len(KERNELS)


def op_expand_idx(op):
    """Expand index (into :data:`EXPANDS`) of op ids (numpy or jax)."""
    return op // len(KERNELS)


# --------------------------------------------------------------------------- array functions


def active_layers(arch: chex.Array) -> chex.Array:
    """``bool[..., 20]``: which layers run (position in unit < the unit's depth); numpy in, numpy out."""
    xp = np if isinstance(arch, np.ndarray) else jnp
    arch = xp.asarray(arch)
    depth = xp.asarray(_DEPTH_VALUES)[arch[..., DEPTH_ROW:RES_ROW]]  # [..., 5]
    return xp.asarray(LAYER_POS) < depth[..., xp.asarray(LAYER_UNIT)]


def canonicalize(arch: chex.Array) -> chex.Array:
    """Set the op ids of skipped layers to 0 so equal subnets have equal arrays."""
    arch = jnp.asarray(arch, jnp.int32)
    chex.assert_axis_dimension(arch, -1, ARCH_LEN)
    ops = jnp.where(active_layers(arch), arch[..., :NUM_LAYERS], 0)
    return jnp.concatenate([ops, arch[..., NUM_LAYERS:]], axis=-1).astype(jnp.int32)


def discretize(alpha: chex.Array) -> chex.Array:
    """Argmax over each row's valid columns -> canonical ``int32[..., 26]``."""
    alpha = jnp.asarray(alpha)
    chex.assert_axis_dimension(alpha, -2, ARCH_LEN)
    chex.assert_axis_dimension(alpha, -1, NUM_LAYER_OPS)
    masked = jnp.where(jnp.asarray(VALID_MASK), alpha, -jnp.inf)
    return canonicalize(jnp.argmax(masked, axis=-1).astype(jnp.int32))


def encode(arch: chex.Array) -> chex.Array:
    """``float32[..., 26, 9]`` one-hot of an arch; skipped layers are all-zero rows."""
    arch = jnp.asarray(arch, jnp.int32)
    chex.assert_axis_dimension(arch, -1, ARCH_LEN)
    onehot = jax.nn.one_hot(arch, NUM_LAYER_OPS, dtype=jnp.float32)
    keep = jnp.concatenate(
        [active_layers(arch), jnp.ones(arch.shape[:-1] + (ARCH_LEN - NUM_LAYERS,), bool)], axis=-1
    )
    return onehot * keep[..., None]


#: Image sizes of the published OFA accuracy predictor's encoding (``MobileNetArchEncoder``: 128..224 step 4).
PREDICTOR_IMAGE_SIZES: tuple[int, ...] = tuple(range(128, 225, 4))


def predictor_features_dim(image_sizes: Sequence[int] = PREDICTOR_IMAGE_SIZES) -> int:
    """Length of OFA's accuracy-predictor encoding: one-hot resolution + per-layer kernel and expand one-hots."""
    return len(image_sizes) + NUM_LAYERS * (len(KERNELS) + len(EXPANDS))


def predictor_features(arch: chex.Array, image_sizes: Sequence[int] = PREDICTOR_IMAGE_SIZES) -> chex.Array:
    """``float32[..., D]``: OFA's ``MobileNetArchEncoder.arch2feature`` of an arch (D = :func:`predictor_features_dim`).

    Layout as OFA's encoder: the resolution one-hot over ``image_sizes``, then for each of the 20
    layers a kernel one-hot, then for each layer an expand one-hot; skipped layers are all zero.
    Every :data:`RESOLUTIONS` entry must be in ``image_sizes`` (checked on the host).
    """
    missing = [r for r in RESOLUTIONS if r not in image_sizes]
    if missing:
        raise ValueError(f"predictor image sizes {list(image_sizes)} lack the space's resolutions {missing}")
    arch = jnp.asarray(arch, jnp.int32)
    chex.assert_axis_dimension(arch, -1, ARCH_LEN)
    res_pos = jnp.asarray([list(image_sizes).index(r) for r in RESOLUTIONS], jnp.int32)[arch[..., RES_ROW]]
    keep = active_layers(arch)[..., None].astype(jnp.float32)
    ops = arch[..., :NUM_LAYERS]
    k = jax.nn.one_hot(op_kernel_idx(ops), len(KERNELS), dtype=jnp.float32) * keep
    e = jax.nn.one_hot(op_expand_idx(ops), len(EXPANDS), dtype=jnp.float32) * keep
    flat = arch.shape[:-1] + (-1,)
    return jnp.concatenate([jax.nn.one_hot(res_pos, len(image_sizes), dtype=jnp.float32),
                            k.reshape(flat), e.reshape(flat)], axis=-1)


def _uniform_ints(bits: chex.Array, n: chex.Array) -> chex.Array:
    """Map uint32 random bits to ints in ``[0, n)`` (modulo bias < n / 2^32, negligible here)."""
    return (bits % jnp.asarray(n, jnp.uint32)).astype(jnp.int32)


def random_arch(key: chex.PRNGKey) -> chex.Array:
    """Uniform op per layer, depth per unit and resolution (OFA's ``sample_active_subnet``); canonical."""
    bits = jax.random.bits(key, (ARCH_LEN,), jnp.uint32)  # one PRNG call: cheap to compile
    return canonicalize(_uniform_ints(bits, NUM_CHOICES))


def mutate(key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
    """Resample one gene -- an active layer's op, a unit depth or the resolution -- to a new value.

    The gene is uniform over the active layers, the 5 depths and the resolution (OFA's
    evolution mutates ks/e per layer, d per unit and the resolution).  Layers that a depth
    increase brings into play get uniformly random ops.  The result is canonical and differs
    from ``canonicalize(arch)``.  Single arch only (vmap for batches).
    """
    arch = canonicalize(arch)
    chex.assert_shape(arch, (ARCH_LEN,))
    bits = jax.random.bits(key, (2 + NUM_LAYERS,), jnp.uint32)
    eligible = jnp.concatenate([active_layers(arch), jnp.ones((ARCH_LEN - NUM_LAYERS,), bool)])
    rank = _uniform_ints(bits[0], jnp.sum(eligible))  # pick the rank-th eligible gene
    gene = jnp.argmax(jnp.cumsum(eligible) > rank)
    n = jnp.asarray(NUM_CHOICES)[gene]
    shift = 1 + _uniform_ints(bits[1], n - 1)  # 1..n-1: never the old value
    new = arch.at[gene].set((arch[gene] + shift) % n)
    newly_active = active_layers(new) & ~active_layers(arch)
    fill = _uniform_ints(bits[2:], NUM_LAYER_OPS)
    new = new.at[:NUM_LAYERS].set(jnp.where(newly_active, fill, new[:NUM_LAYERS]))
    return canonicalize(new)


def arch_hash(arch: chex.Array, num_buckets: int) -> chex.Array:
    """Hash of the canonical arch into ``[0, num_buckets)`` (int32; for repeat accounting).

    The space has ~10^20 subnets, too many for a dense id; this is a 32-bit FNV-1a hash over
    the 26 entries followed by a murmur3 finaliser, so collisions are rare for
    ``num_buckets`` up to ~2^31.
    """
    if not 1 <= int(num_buckets) <= 2**31 - 1:
        raise ValueError(f"num_buckets must be in [1, 2**31 - 1], got {num_buckets!r}")
    arch = canonicalize(arch).astype(jnp.uint32)
    h = jnp.full(arch.shape[:-1], 2166136261, jnp.uint32)
    for i in range(ARCH_LEN):
        h = (h ^ arch[..., i]) * jnp.uint32(16777619)
    h = (h ^ (h >> 16)) * jnp.uint32(0x85EBCA6B)
    h = (h ^ (h >> 13)) * jnp.uint32(0xC2B2AE35)
    h = h ^ (h >> 16)
    return (h % jnp.uint32(num_buckets)).astype(jnp.int32)


def validate_arch(arch: Any) -> np.ndarray:
    """Host-side check of an arch array; returns it as ``int32[26]`` numpy or raises ValueError."""
    a = np.asarray(arch)
    if a.shape != (ARCH_LEN,):
        raise ValueError(f"OFA arch must have shape ({ARCH_LEN},), got {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"OFA arch must be an integer array, got dtype {a.dtype}")
    bad = np.nonzero((a < 0) | (a >= NUM_CHOICES))[0]
    if bad.size:
        i = int(bad[0])
        what = "layer op" if i < DEPTH_ROW else ("depth id" if i < RES_ROW else "resolution id")
        raise ValueError(f"OFA arch entry {i} ({what}) = {int(a[i])} is outside [0, {int(NUM_CHOICES[i])})")
    return a.astype(np.int32)


# --------------------------------------------------------------------------- SubnetConfig


def _check_int_list(name: str, values: Any, length: int, allowed: Sequence[int]) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise ValueError(f"OFA config {name!r} must be a list of {length} ints, got {values!r}")
    values = list(values)
    if len(values) != length:
        raise ValueError(f"OFA config {name!r} must have {length} entries, got {len(values)}")
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise ValueError(f"OFA config {name}[{i}] must be an int, got {v!r}")
        if int(v) not in allowed:
            raise ValueError(f"OFA config {name}[{i}] = {int(v)} is not one of {tuple(allowed)}")
        out.append(int(v))
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class SubnetConfig:
    """An OFA MobileNetV3 subnet in OFA's own terms (``ofa_mbv3.sample_active_subnet`` + resolution).

    ``ks``/``e`` hold 20 entries (skipped layers' entries are kept but ignored), ``d`` 5
    depths, ``r`` the input resolution (any size >= 32; :func:`config_to_arch` needs one of
    :data:`RESOLUTIONS`, while costs and networks accept any, e.g. 236 for OFA's flops@595M).
    """

    ks: tuple[int, ...]
    e: tuple[int, ...]
    d: tuple[int, ...]
    r: int = 224

    def __post_init__(self) -> None:
        object.__setattr__(self, "ks", _check_int_list("ks", self.ks, NUM_LAYERS, KERNELS))
        object.__setattr__(self, "e", _check_int_list("e", self.e, NUM_LAYERS, EXPANDS))
        object.__setattr__(self, "d", _check_int_list("d", self.d, NUM_UNITS, DEPTHS))
        r = self.r
        if isinstance(r, bool) or not isinstance(r, int | np.integer) or int(r) < 32:
            raise ValueError(f"OFA config resolution 'r' must be an int >= 32, got {r!r}")
        object.__setattr__(self, "r", int(r))

    def active(self) -> tuple[bool, ...]:
        """Which of the 20 layers run."""
        return tuple(int(LAYER_POS[i]) < self.d[int(LAYER_UNIT[i])] for i in range(NUM_LAYERS))

    def canonical(self) -> SubnetConfig:
        """Same subnet with skipped layers' entries set to k3 e3 (op 0)."""
        act = self.active()
        ks = tuple(k if a else KERNELS[0] for k, a in zip(self.ks, act))
        e = tuple(x if a else EXPANDS[0] for x, a in zip(self.e, act))
        return SubnetConfig(ks, e, self.d, self.r)

    def to_dict(self) -> dict[str, Any]:
        """OFA-style dict ``{"ks", "e", "d", "r"}`` (plain ints)."""
        return {"ks": list(self.ks), "e": list(self.e), "d": list(self.d), "r": self.r}

    def to_json(self) -> str:
        """JSON string of :meth:`to_dict` (one line)."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> SubnetConfig:
        """Build from an OFA dict; ``r`` may be an int or a one-element list, or given as ``image_size``."""
        if not isinstance(obj, Mapping):
            raise ValueError(f"OFA config must be a dict with keys ks, e, d, r; got {type(obj).__name__}")
        missing = [k for k in ("ks", "e", "d") if k not in obj]
        if missing:
            raise ValueError(f"OFA config is missing key(s) {missing}; has {sorted(obj)}")
        if "r" in obj and "image_size" in obj and obj["r"] != obj["image_size"]:
            raise ValueError(f"OFA config has both 'r'={obj['r']!r} and 'image_size'={obj['image_size']!r}")
        r = obj.get("r", obj.get("image_size", 224))
        if isinstance(r, list | tuple):
            if len(r) != 1:
                raise ValueError(f"OFA config resolution list must hold one size, got {r!r}")
            r = r[0]
        unknown = sorted(set(obj) - {"ks", "e", "d", "r", "image_size", "w", "wid"})
        if unknown:
            raise ValueError(f"OFA config has unknown key(s) {unknown}")
        return cls(obj["ks"], obj["e"], obj["d"], r)

    @classmethod
    def from_json(cls, text: str) -> SubnetConfig:
        """Inverse of :meth:`to_json` (ValueError for invalid JSON or content)."""
        try:
            obj = json.loads(text)
        except (TypeError, json.JSONDecodeError) as err:
            raise ValueError(f"OFA config is not valid JSON: {err}") from None
        return cls.from_dict(obj)

    def __str__(self) -> str:
        return format_subnet(self)


def config_layers(cfg: SubnetConfig) -> np.ndarray:
    """``int32[25]``: the canonical op ids and depth ids of a config (no resolution)."""
    ops = [op_id(k, e) if a else 0 for k, e, a in zip(cfg.ks, cfg.e, cfg.active())]
    return np.asarray(ops + [DEPTHS.index(d) for d in cfg.d], np.int32)


def config_to_arch(cfg: SubnetConfig | Mapping[str, Any]) -> np.ndarray:
    """Canonical ``int32[26]`` arch of a config (ValueError if ``r`` is not in :data:`RESOLUTIONS`)."""
    if not isinstance(cfg, SubnetConfig):
        cfg = SubnetConfig.from_dict(cfg)
    if cfg.r not in RESOLUTIONS:
        raise ValueError(f"OFA resolution {cfg.r} has no arch id; the arch space uses {RESOLUTIONS}")
    return np.concatenate([config_layers(cfg), [RESOLUTIONS.index(cfg.r)]]).astype(np.int32)


def arch_to_config(arch: Any) -> SubnetConfig:
    """Canonical :class:`SubnetConfig` of an arch (skipped layers get k3 e3)."""
    a = validate_arch(arch)
    ops = np.where(active_layers(a), a[:NUM_LAYERS], 0)
    return SubnetConfig(
        ks=tuple(KERNELS[int(o) % 3] for o in ops),
        e=tuple(EXPANDS[int(o) // 3] for o in ops),
        d=tuple(DEPTHS[int(x)] for x in a[DEPTH_ROW:RES_ROW]),
        r=RESOLUTIONS[int(a[RES_ROW])],
    )


# --------------------------------------------------------------------------- string form


def format_subnet(subnet: SubnetConfig | Any) -> str:
    """Compact string ``r224 d=4,3,2,4,4 | k3e4 k5e6 k3e3 k7e6 | ...`` (skipped layers ``-``)."""
    cfg = subnet if isinstance(subnet, SubnetConfig) else arch_to_config(subnet)
    act = cfg.active()
    units = []
    for u in range(NUM_UNITS):
        toks = []
        for j in range(LAYERS_PER_UNIT):
            i = u * LAYERS_PER_UNIT + j
            toks.append(f"k{cfg.ks[i]}e{cfg.e[i]}" if act[i] else "-")
        units.append(" ".join(toks))
    return f"r{cfg.r} d=" + ",".join(map(str, cfg.d)) + " | " + " | ".join(units)


def parse_subnet(text: str) -> SubnetConfig:
    """Parse :func:`format_subnet` output into a canonical :class:`SubnetConfig` (ValueError naming the problem)."""
    if not isinstance(text, str):
        raise ValueError(f"OFA subnet string must be a str, got {type(text).__name__}")
    parts = [p.strip() for p in text.strip().split("|")]
    if len(parts) != NUM_UNITS + 1:
        raise ValueError(
            f"malformed OFA subnet string {text!r}: expected a header and {NUM_UNITS} '|'-separated units, "
            f"got {len(parts)} part(s)"
        )
    m = _HEADER.match(parts[0])
    if m is None:
        raise ValueError(f"malformed OFA subnet header {parts[0]!r}: expected 'r<size> d=<d1>,...,<d5>'")
    try:
        depths = [int(x) for x in m.group(2).split(",")]
    except ValueError:
        msg = f"malformed OFA depth list {m.group(2)!r}: expected {NUM_UNITS} comma-separated ints"
        raise ValueError(msg) from None
    if len(depths) != NUM_UNITS:
        raise ValueError(f"OFA subnet string needs {NUM_UNITS} depths, got {len(depths)} in {m.group(2)!r}")
    for u, d in enumerate(depths):
        if d not in DEPTHS:
            raise ValueError(f"OFA depth of unit {u} = {d} is not one of {DEPTHS}")
    ks, es = [], []
    for u, unit in enumerate(parts[1:]):
        toks = unit.split()
        if len(toks) != LAYERS_PER_UNIT:
            raise ValueError(
                f"OFA unit {u} must list {LAYERS_PER_UNIT} layers ('k<k>e<e>' or '-'), got {len(toks)}: {unit!r}"
            )
        for j, tok in enumerate(toks):
            if j >= depths[u]:
                if tok != "-":
                    raise ValueError(f"OFA unit {u} layer {j} is beyond depth {depths[u]} and must be '-', got {tok!r}")
                ks.append(KERNELS[0])
                es.append(EXPANDS[0])
                continue
            t = _TOKEN.match(tok)
            if t is None:
                raise ValueError(f"OFA unit {u} layer {j}: bad token {tok!r} (expected 'k<kernel>e<expand>')")
            k, e = int(t.group(1)), int(t.group(2))
            if k not in KERNELS:
                raise ValueError(f"OFA unit {u} layer {j}: kernel {k} is not one of {KERNELS}")
            if e not in EXPANDS:
                raise ValueError(f"OFA unit {u} layer {j}: expand {e} is not one of {EXPANDS}")
            ks.append(k)
            es.append(e)
    return SubnetConfig(tuple(ks), tuple(es), tuple(depths), int(m.group(1)))


def as_config(subnet: SubnetConfig | Mapping[str, Any] | str | Any) -> SubnetConfig:
    """Coerce a config, OFA dict, subnet string, JSON string or arch array to a :class:`SubnetConfig`."""
    if isinstance(subnet, SubnetConfig):
        return subnet
    if isinstance(subnet, Mapping):
        return SubnetConfig.from_dict(subnet)
    if isinstance(subnet, str):
        return SubnetConfig.from_json(subnet) if subnet.lstrip().startswith("{") else parse_subnet(subnet)
    return arch_to_config(subnet)
