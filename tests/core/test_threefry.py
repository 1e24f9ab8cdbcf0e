"""The unrolled threefry lowering on CPU: straight-line code, the same random bits as JAX's rolled loop."""

import json
import os
import subprocess
import sys

import jax
import numpy as np

from l2nas_jax.core import threefry

_DRAW = """
import json, jax, numpy as np
from l2nas_jax.core import threefry
used = threefry.unroll_on_cpu()
keys = jax.random.split(jax.random.key(123), 5)
f = jax.jit(lambda k: (jax.random.bits(k, (7,)), jax.random.randint(k, (3,), 0, 5), jax.random.uniform(k, (2,))))
out = jax.vmap(f)(keys)
hlo = f.lower(keys[0]).compile().as_text()
print(json.dumps({"used": used, "whiles": hlo.count(" while("),
                  "bits": np.asarray(out[0]).tolist(), "ints": np.asarray(out[1]).tolist(),
                  "floats": np.asarray(out[2]).view(np.uint32).tolist()}))
"""


def _draw(rolled: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != threefry.ENV_VAR}
    if rolled:
        env[threefry.ENV_VAR] = "1"
    out = subprocess.run([sys.executable, "-c", _DRAW], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_unrolled_lowering_draws_the_same_bits_without_loops():
    rolled, unrolled = _draw(rolled=True), _draw(rolled=False)
    assert rolled["used"] is False and unrolled["used"] is True
    assert rolled["whiles"] > 0, "JAX's CPU default is the rolled loop"
    assert unrolled["whiles"] == 0, "the unrolled lowering compiles to straight-line code"
    for k in ("bits", "ints", "floats"):
        assert unrolled[k] == rolled[k], k


def test_in_process_it_is_on_and_idempotent():
    assert threefry.unroll_on_cpu() is True and threefry.unroll_on_cpu() is True  # conftest turned it on
    hlo = jax.jit(lambda k: jax.random.uniform(k, (4,))).lower(jax.random.key(0)).compile().as_text()
    assert " while(" not in hlo
    assert np.isfinite(np.asarray(jax.random.uniform(jax.random.key(0), (4,)))).all()


def test_rolled_block_lowers_the_loop_and_restores_the_unrolled_lowering():
    """Inside ``rolled()`` a program gets JAX's rolled loop (same bits); after it, straight-line code again."""
    def draw(k):
        return jax.random.uniform(k, (4,))

    assert threefry.unroll_on_cpu() is True
    with threefry.rolled():
        inside = jax.jit(draw).lower(jax.random.key(1)).compile()
    after = jax.jit(lambda k: draw(k) + 0.0).lower(jax.random.key(1)).compile()  # a new program: lowered again
    assert " while(" in inside.as_text()
    assert " while(" not in after.as_text()
    np.testing.assert_array_equal(np.asarray(inside(jax.random.key(1))), np.asarray(after(jax.random.key(1))))
