"""The :class:`Space` record: everything the library knows about one search space, in one place.

A space is its architecture codec (discretize, encode, sample, mutate, ids, strings), its
analytic cost counter, its Flax networks (single-path supernet and fixed derived network),
and, where a benchmark table exists, a table loader.  Evaluators (``l2nas_jax.envs``), the
trainer (``l2nas_jax.supernet``), the CLI and the ``train/`` scripts all read this record
through the registry in :mod:`l2nas_jax.spaces`; nothing else holds space knowledge.

Networks are imported lazily (``make_supernet`` / ``make_network`` import the space's
``nets`` module on first call), so a table search never loads Flax network code.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable

import chex
import numpy as np

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
