"""The :class:`Space` record: everything the library knows about one search space, in one place.

A space is its architecture codec (discretize, encode, sample, mutate, ids, strings), its
analytic cost counter, its Flax networks (single-path supernet and fixed derived network),
where a benchmark table exists, a table loader, and, where its found architectures can be
trained from scratch, an :class:`Evaluation` (the standard training protocol, how to build
and count the fixed network, what to compare the result with).  Evaluators (``l2nas_jax.envs``), the
trainer (``l2nas_jax.supernet``), the CLI and the ``train/`` scripts all read this record
through the registry in :mod:`l2nas_jax.spaces`; nothing else holds space knowledge.

Networks are imported lazily (``make_supernet`` / ``make_network`` import the space's
``nets`` module on first call), so a table search never loads Flax network code.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Mapping

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: importing the registry must not start JAX
    import chex

#: Hash buckets for repeat accounting in spaces too large for a dense id (DARTS ~1e18,
#: OFA ~1e19 archs): a bool bitmap of this size per seed; with T queries the chance that
#: any two distinct archs share a bucket is about T^2 / 2^21 (0.05 % of queries at T=1000).
HASH_BUCKETS = 2**20


@dataclasses.dataclass(frozen=True)
class TableValues:
    """One dataset's column pair of a benchmark table, indexed by ``arch_id`` (``float32[num_archs]``)."""

    search: np.ndarray  # the metric the search optimizes
    report: np.ndarray  # the metric reported to the user (kept apart: honest protocol)
    dataset: str
    search_split: str
    report_split: str


@dataclasses.dataclass(frozen=True)
class TrainProtocol:
    """A published recipe for training one found architecture of a space from scratch.

    The optimisation fields are those of ``l2nas_jax.supernet.train.TrainConfig`` (validated
    there); ``drop_path`` / ``drop_path_schedule`` / ``dropout`` act inside the network
    (validated by :class:`NetOptions`). Every value can be overridden per run.
    """

    source: str  # where the recipe comes from (paper, file)
    epochs: int
    batch_size: int  # global batch, split over devices
    lr: float  # peak learning rate, cosine-annealed per step to lr_min
    lr_min: float
    momentum: float
    nesterov: bool
    weight_decay: float
    grad_clip: float  # global-norm clip, 0 = off
    cutout: int  # cutout square size, 0 = off
    aux_weight: float = 0.0  # weight of an auxiliary head's loss (DARTS)
    label_smoothing: float = 0.0
    drop_path: float = 0.0  # drop-path probability (final value when linear)
    drop_path_schedule: str = "constant"  # "linear": epoch e uses drop_path * e / epochs; "constant"
    dropout: float = 0.0  # dropout before the classifier

    def values(self) -> dict[str, Any]:
        """Every setting but ``source``, in field order (JSON-ready)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "source"}


@dataclasses.dataclass(frozen=True)
class NetOptions:
    """Size and regularisation of a fixed network to build (``None`` = the space's standard value).

    A space reads the options it has and refuses the ones it has not (one-line ValueError).
    Error messages name each option by its ``train/evaluate.py`` flag.
    """

    channels: int | None = None  # initial channels (DARTS / NB201 C)
    layers: int | None = None  # DARTS total cells / NB201 cells per stage N
    auxiliary: bool = True  # DARTS auxiliary head
    width: float = 1.0  # OFA width multiplier (1.0 or 1.2 nets)
    base_widths: tuple[int, ...] | None = None  # OFA stage widths override (tiny CPU nets)
    resolution: int | None = None  # OFA input resolution (default: the subnet's r)
    drop_path: float = 0.0
    drop_path_schedule: str = "constant"  # "linear" (DARTS) or "constant"
    dropout: float = 0.0  # OFA dropout before the classifier

    def __post_init__(self) -> None:
        for name in ("channels", "layers", "resolution"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"--{name} must be positive, got {v}")
        if self.drop_path_schedule not in ("linear", "constant"):
            raise ValueError(f"--drop-path-schedule must be linear or constant, got {self.drop_path_schedule!r}")
        if not 0.0 <= self.drop_path < 1.0:
            raise ValueError(f"--drop-path must lie in [0, 1), got {self.drop_path}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"--dropout must lie in [0, 1), got {self.dropout}")


@dataclasses.dataclass(frozen=True)
class FixedNetPlan:
    """How to build the fixed network of one architecture: what a space's :attr:`Evaluation.plan` returns."""

    kwargs: Mapping[str, Any]  # Space.network(arch, **kwargs)
    config: Mapping[str, Any]  # JSON description of the network (evaluate.json "net")
    resolution: int | None = None  # inputs are resized to resolution x resolution inside the model
    drop_path_ramp: float = 0.0  # > 0: drop-path rate raised linearly from 0 to this over training


def require_no_drop_path(space: str, options: NetOptions) -> None:
    """ValueError if ``options`` ask for drop-path from a network that has none."""
    if options.drop_path > 0:
        raise ValueError(f"--drop-path is a DARTS option; the {space} network has no drop-path")


def _any_image_size(net_config: Mapping[str, Any], image_size: int) -> None:
    return None


def _no_reference(arch: Any, dataset: str, net_config: Mapping[str, Any]) -> dict[str, Any] | None:
    return None


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Training a found architecture of a space from scratch: protocol, network, counts, reference.

    Read by ``l2nas_jax.supernet.evaluate_job`` (``train/evaluate.py``), which holds no space
    knowledge of its own. ``arch`` here is what :attr:`parse` returns (it may describe networks
    beyond the search space, e.g. an OFA subnet at any resolution).
    """

    protocol: TrainProtocol
    #: architecture text -> ``(arch, canonical string)``; ValueError naming the problem
    parse: Callable[[str], tuple[Any, str]]
    #: ``(arch, options, num_classes) -> FixedNetPlan``; ValueError for options the space has not
    plan: Callable[[Any, NetOptions, int], FixedNetPlan]
    #: ``(arch, net config, image size) -> {"params", "macs", "counter"|"note", ...}`` (exact integers or None)
    counts: Callable[[Any, Mapping[str, Any], int], dict[str, Any]]
    #: ValueError if the network cannot train on images of this size
    check_image_size: Callable[[Mapping[str, Any], int], None] = _any_image_size
    #: ``(arch, dataset, net config) ->`` a published accuracy to compare with, or None
    reference: Callable[[Any, str, Mapping[str, Any]], dict[str, Any] | None] = _no_reference
    #: named architectures accepted in place of an architecture string (e.g. DARTS_V2)
    named_archs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: prose description of the protocol and network, shown by ``train/evaluate.py --help``
    about: str = ""


def _no_sizes(channels: int | None = None, layers: int | None = None,
              num_classes: int | None = None) -> dict[str, Any]:
    return {} if num_classes is None else {"num_classes": int(num_classes)}


@dataclasses.dataclass(frozen=True, eq=False)
class Space:
    """One search space: codec, cost counter, networks and (optionally) a benchmark table.

    Compared and hashed by identity: the registry builds each space once, so a ``Space``
    is a stable static field of jitted environments.
    """

    name: str
    alpha_shape: tuple[int, int]
    arch_shape: tuple[int, ...]
    num_archs: int  # ids are in [0, num_archs): exact codes (NB201) or hash buckets
    discretize: Callable[[chex.Array], chex.Array]  # float[*alpha_shape] -> int32[*arch_shape]
    encode: Callable[[chex.Array], chex.Array]  # int32 arch -> float32[*alpha_shape]
    random_arch: Callable[[chex.PRNGKey], chex.Array]  # uniform single path (jittable)
    mutate: Callable[[chex.PRNGKey, chex.Array], chex.Array]
    arch_id: Callable[[chex.Array], chex.Array]  # int32 in [0, num_archs)
    to_string: Callable[[Any], str]
    from_string: Callable[[str], np.ndarray]
    cost: Callable[..., tuple[chex.Array, chex.Array]]  # arch -> (params_M, macs_M) of the derived net
    exact_ids: bool = True  # False: arch_id is a hash (repeat counts may include rare collisions)
    datasets: tuple[str, ...] = ()  # datasets its table (if any) covers
    #: every architecture in id order (``int32[num_archs, *arch_shape]``); None if not enumerable
    enumerate_archs: Callable[[], chex.Array] | None = None
    #: ``(dataset, table=None, *, search_split=None, report_split="test") -> TableValues``; None: no table
    table_values: Callable[..., TableValues] | None = None
    #: module holding ``make_supernet(**kw)`` and ``make_network(arch, **kw)`` (imported on first use)
    nets_module: str | None = None
    num_classes: int = 10  # default dataset's classes (supernet training)
    image_size: int = 32  # default input resolution
    #: maps the generic (channels, layers, num_classes) to the nets' factory keywords
    net_kwargs: Callable[..., dict[str, Any]] = _no_sizes
    #: training a found architecture from scratch (``train/evaluate.py``); None: not supported
    evaluation: Evaluation | None = None
    #: the table's search metric's fixed reward scale (accuracy in %: 100); None: not declared (a generic
    #: table), and the methods use the running maximum of their observations -- never the table's maximum
    reward_scale: float | None = None
    #: a name per (decision, choice) of the one-hot encoding (``alpha_shape``), for listings; None: unnamed
    choice_names: tuple[tuple[str, ...], ...] | None = None

    @property
    def has_table(self) -> bool:
        return self.table_values is not None

    def _nets(self) -> Any:
        if self.nets_module is None:
            raise ValueError(f"the {self.name} space has no networks")
        try:
            return importlib.import_module(self.nets_module)
        except ModuleNotFoundError as e:
            raise ValueError(f"the {self.name} space's networks are not available: {e}") from None

    def make_supernet(self, **kw: Any) -> Any:
        """The weight-sharing network, called as ``model.apply(variables, x, arch, train=...)``."""
        return self._nets().make_supernet(**kw)

    def make_network(self, arch: Any, **kw: Any) -> Any:
        """The fixed derived network of ``arch``, called as ``model.apply(variables, x, train=...)``."""
        return self._nets().make_network(arch, **kw)

    def supernet(self, *, channels: int | None = None, layers: int | None = None,
                 num_classes: int | None = None, **kw: Any) -> Any:
        """``make_supernet`` with the generic size arguments translated for this space."""
        return self.make_supernet(**self.net_kwargs(channels=channels, layers=layers, num_classes=num_classes), **kw)

    def network(self, arch: Any, *, channels: int | None = None, layers: int | None = None,
                num_classes: int | None = None, **kw: Any) -> Any:
        """``make_network`` with the generic size arguments translated for this space."""
        return self.make_network(arch, **self.net_kwargs(channels=channels, layers=layers, num_classes=num_classes),
                                 **kw)


def size_kwargs(space: str, channels_name: str | None, layers_name: str | None) -> Callable[..., dict[str, Any]]:
    """A ``net_kwargs`` translating generic sizes to the factory's names (None: the space has no such knob)."""

    def build(channels: int | None = None, layers: int | None = None, num_classes: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if channels is not None:
            if channels_name is None:
                raise ValueError(f"the {space} space has no channels setting (its widths are fixed by the net)")
            out[channels_name] = int(channels)
        if layers is not None:
            if layers_name is None:
                raise ValueError(f"the {space} space has no layers setting (its depth is part of the arch)")
            out[layers_name] = int(layers)
        if num_classes is not None:
            out["num_classes"] = int(num_classes)
        return out

    return build
