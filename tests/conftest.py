"""Test set-up: two CPU devices, so the seed-sharding path is exercised too."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def cifar10_env():
    from l2nas_jax.api import build_env

    return build_env("nb201", "cifar10")
