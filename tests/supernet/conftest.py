"""Fixtures shared by the supernet training tests: the tiny NB201 supernet their CLI runs build."""

import pytest

from l2nas_jax.spaces import get_space


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


@pytest.fixture(scope="module")
def model(space):
    return space.supernet(channels=4, layers=1, num_classes=4)  # what the CLI builds from ARGS
