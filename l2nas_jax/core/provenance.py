"""What every results file records about where it came from (versions, device)."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

import jax

_PACKAGES = ("l2nas-jax", "jax", "jaxlib", "flax", "optax", "chex", "numpy")


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def device_info() -> dict[str, object]:
    devs = jax.devices()
    return {
        "backend": jax.default_backend(),
        "device_kind": devs[0].device_kind,
        "device_count": len(devs),
        "platform": platform.platform(),
        "processor": platform.machine(),
    }


def provenance() -> dict[str, object]:
    """Versions and device, for results files."""
    return {"versions": package_versions(), "device": device_info()}
