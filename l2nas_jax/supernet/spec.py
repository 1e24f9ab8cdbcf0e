"""Search-space specs for supernet training and search: one :class:`SpaceSpec` per space, loaded lazily.

A spec ties a space's codec (architecture sampling and strings, in ``l2nas_jax.envs.*_codec``)
to its networks (``l2nas_jax.nets.*``): ``make_supernet(**kw)`` builds the weight-sharing
network called as ``model.apply(variables, x, arch, train=...)``, ``make_network(arch, **kw)`` a
fixed one. Importing this module imports no network code; :func:`get_space` imports the space's
modules on first use, so a missing optional part only fails for the space that needs it.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable

import jax
import numpy as np


@dataclasses.dataclass(frozen=True)
class SpaceSpec:
    """Everything the trainer and searchers need to know about one search space."""

    name: str
    sample_arch: Callable[[jax.Array], jax.Array]  # key -> int32 arch, uniform single path (jittable)
    make_supernet: Callable[..., Any]  # (**kw) -> nn.Module called (x, arch, train=)
    make_network: Callable[..., Any]  # (arch, **kw) -> nn.Module called (x, train=)
    arch_to_string: Callable[[Any], str]
    string_to_arch: Callable[[str], np.ndarray]
    num_classes: int = 10  # default dataset's classes
    image_size: int = 32  # default input resolution
    #: maps the CLI's generic (channels, layers, num_classes) to the nets' factory keywords;
    #: ``None`` values are left out so the factory defaults apply.
    net_kwargs: Callable[..., dict[str, Any]] = lambda channels=None, layers=None, num_classes=None: {}

    def supernet(self, *, channels: int | None = None, layers: int | None = None,
                 num_classes: int | None = None, **kw: Any) -> Any:
        """``make_supernet`` with the generic size arguments translated for this space."""
        return self.make_supernet(**self.net_kwargs(channels=channels, layers=layers, num_classes=num_classes), **kw)

    def network(self, arch: Any, *, channels: int | None = None, layers: int | None = None,
                num_classes: int | None = None, **kw: Any) -> Any:
        """``make_network`` with the generic size arguments translated for this space."""
        return self.make_network(arch, **self.net_kwargs(channels=channels, layers=layers, num_classes=num_classes), **kw)


def _kwargs(space: str, channels_name: str | None, layers_name: str | None) -> Callable[..., dict[str, Any]]:
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


def _nb201() -> SpaceSpec:
    codec = importlib.import_module("l2nas_jax.envs.nb201_codec")
    nets = importlib.import_module("l2nas_jax.nets.nb201")

    return SpaceSpec(
        name="nb201", sample_arch=codec.random_arch, make_supernet=nets.make_supernet, make_network=nets.make_network,
        arch_to_string=lambda a: codec.format_arch(np.asarray(a)), string_to_arch=codec.parse_arch,
        num_classes=10, image_size=32, net_kwargs=_kwargs("nb201", "C", "N"),
    )


def _darts() -> SpaceSpec:
    codec = importlib.import_module("l2nas_jax.envs.darts_codec")
    nets = importlib.import_module("l2nas_jax.nets.darts")

    def parse(s: str) -> np.ndarray:
        s = s.strip()
        return codec.parse_genotype(codec.GENOTYPES.get(s, s))  # also accepts a named genotype

    return SpaceSpec(
        name="darts", sample_arch=codec.random_arch, make_supernet=nets.make_supernet,
        make_network=nets.make_network, arch_to_string=codec.format_genotype, string_to_arch=parse,
        num_classes=10, image_size=32, net_kwargs=_kwargs("darts", "C", "layers"),
    )


def _ofa() -> SpaceSpec:
    codec = importlib.import_module("l2nas_jax.envs.ofa_codec")
    nets = importlib.import_module("l2nas_jax.nets.ofa")
    return SpaceSpec(
        name="ofa", sample_arch=codec.random_arch, make_supernet=nets.make_supernet,
        make_network=nets.make_network, arch_to_string=codec.format_subnet,
        string_to_arch=lambda s: codec.config_to_arch(codec.as_config(s)),
        num_classes=1000, image_size=max(codec.RESOLUTIONS), net_kwargs=_kwargs("ofa", None, None),
    )


_LOADERS: dict[str, Callable[[], SpaceSpec]] = {"nb201": _nb201, "darts": _darts, "ofa": _ofa}
_CACHE: dict[str, SpaceSpec] = {}


def available_spaces() -> tuple[str, ...]:
    return tuple(sorted(_LOADERS))


def register_space(name: str, loader: Callable[[], SpaceSpec]) -> None:
    """Make ``get_space(name)`` build its spec with ``loader`` (e.g. a toy space in tests)."""
    _LOADERS[name] = loader
    _CACHE.pop(name, None)


def get_space(name: str) -> SpaceSpec:
    """The spec of a space by name, importing its codec and networks on first use.

    Raises:
      ValueError: unknown space name, or the space's network module is not available.
    """
    if name not in _LOADERS:
        raise ValueError(f"unknown search space {name!r}; valid: {', '.join(available_spaces())}")
    if name not in _CACHE:
        try:
            _CACHE[name] = _LOADERS[name]()
        except ModuleNotFoundError as e:
            raise ValueError(f"search space {name!r} is not available: {e}") from None
    return _CACHE[name]
