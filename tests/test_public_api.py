"""The public surface: every exported name resolves, is documented, and importing the package starts no JAX."""

import subprocess
import sys

import pytest

import l2nas_jax


@pytest.mark.parametrize("name", l2nas_jax.__all__)
def test_every_public_name_resolves_and_is_documented(name):
    obj = getattr(l2nas_jax, name)
    assert (obj.__doc__ or "").strip(), f"l2nas_jax.{name} has no docstring"


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        l2nas_jax.nope  # noqa: B018


def test_import_starts_no_jax():
    code = "import sys, l2nas_jax; print('jax' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
