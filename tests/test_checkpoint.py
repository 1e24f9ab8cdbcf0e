"""Checkpoint files: a damaged, truncated or foreign file is one ValueError naming the file, never another exception.

The checkpoints here hold a small made-up state (a PRNG key, a float and an int array) and
outputs of ``[seeds, queries]`` shape: the file format does not depend on the searcher.
"""

import io
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2nas_jax.checkpoint import load_checkpoint, read_info, save_checkpoint
from l2nas_jax.runspec import RunSpec

SPEC = RunSpec(queries=12, seeds=2, seed=3, checkpoint_every=4)
ENV = {"space": "nb201", "dataset": "cifar10"}
STATE = {"key": jax.random.split(jax.random.key(0), 2), "w": jnp.arange(6.0).reshape(2, 3),
         "n": jnp.array([1, 2], jnp.int32)}
OUTPUTS = {"reward": jnp.zeros((2, 4)), "arch": jnp.zeros((2, 4, 6), jnp.int32)}
#: The abstract state and outputs of the whole run (outputs over all 12 queries), as ``abstract_run`` gives them.
LIKE_STATE = jax.eval_shape(lambda: STATE)
LIKE_OUTPUTS = jax.eval_shape(lambda: {"reward": jnp.zeros((2, 12)), "arch": jnp.zeros((2, 12, 6), jnp.int32)})


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, STATE, OUTPUTS, 4, SPEC, ENV)
    return path


def _rewrite(path, change=None, **meta):
    """Rewrite the archive at ``path`` with ``change(arrays)`` applied and ``meta`` keys replaced."""
    arrays = dict(np.load(path))
    header = json.loads(str(arrays["meta"])) | meta
    arrays["meta"] = np.asarray(json.dumps(header))
    if change is not None:
        change(arrays)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


def test_round_trip(ckpt):
    info = read_info(ckpt)
    assert info.done == 4 and info.spec == SPEC and info.env == ENV
    state, outputs, done = load_checkpoint(ckpt, LIKE_STATE, LIKE_OUTPUTS)
    assert done == 4 and outputs["arch"].shape == (2, 4, 6)
    assert np.array_equal(jax.random.key_data(state["key"]), jax.random.key_data(STATE["key"]))
    assert np.array_equal(state["w"], STATE["w"])


def _truncated(p):
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])


def _tail_cut(p):
    p.write_bytes(p.read_bytes()[:-10])


@pytest.mark.parametrize("damage, message", [
    (_truncated, "is not an l2nas checkpoint (BadZipFile"),
    (_tail_cut, "is not an l2nas checkpoint (BadZipFile"),
    (lambda p: p.write_bytes(b""), "is not an l2nas checkpoint"),
    (lambda p: np.save(p.open("wb"), np.zeros(3)), "is not an l2nas checkpoint (TypeError: a single NumPy array"),
    (lambda p: p.write_text('{"kind": "l2nas-search-run"}'), "is not an l2nas checkpoint"),
    (lambda p: _rewrite(p, lambda a: a.__setitem__("meta", np.zeros(3))), "is not an l2nas checkpoint"),
    (lambda p: _rewrite(p, format=1), "unsupported checkpoint format 1"),
    (lambda p: _rewrite(p, done="ten"), "damaged checkpoint header"),
    (lambda p: _rewrite(p, done=0), "damaged checkpoint header (0 queries done, outside 1..12)"),
    (lambda p: _rewrite(p, done=1000), "damaged checkpoint header (1000 queries done, outside 1..12)"),
    (lambda p: _rewrite(p, spec={"queries": 3}), "damaged checkpoint header"),
])
def test_damaged_header_is_one_value_error(ckpt, damage, message):
    damage(ckpt)
    with pytest.raises(ValueError) as e:
        read_info(ckpt)
    assert str(e.value).startswith(str(ckpt)) and message in str(e.value) and "\n" not in str(e.value), e.value


def _member_of(path, name):
    with np.load(path) as z:
        return z[name]


@pytest.mark.parametrize("damage, message", [
    (lambda p: _rewrite(p, lambda a: a.pop("s1")), "does not match this run's search state (2 state arrays, this run has 3"),
    (lambda p: _rewrite(p, lambda a: a.__setitem__("s3", np.zeros(3))), "(4 state arrays, this run has 3"),
    (lambda p: _rewrite(p, lambda a: a.__setitem__("o0", np.zeros((2, 4), np.float64))), "leaf o0: (2, 4)/float64"),
    (lambda p: _rewrite(p, done=5), "leaf o"),  # the header says 5 queries, the outputs hold 4
    (lambda p: _rewrite(p, lambda a: a.__setitem__("s0", np.zeros(5, np.float32))), "leaf s0: (5,)/float32 vs (2, 2)/uint32"),
    (lambda p: _rewrite(p, lambda a: a.__setitem__("s2", np.array([{"a": 1}], dtype=object))), "is damaged (ValueError"),
])
def test_damaged_arrays_are_one_value_error(ckpt, damage, message):
    damage(ckpt)
    read_info(ckpt)  # the header is intact: only restoring the arrays finds the damage
    with pytest.raises(ValueError) as e:
        load_checkpoint(ckpt, LIKE_STATE, LIKE_OUTPUTS)
    text = str(e.value)
    assert text.startswith(f"checkpoint {ckpt} ") and message in text and "\n" not in text, text
    assert text.endswith("start the run again without --resume"), text


def test_corrupted_array_member_is_one_value_error(ckpt):
    # the leaves are flattened in key order: key (s0), n (s1), w (s2)
    assert np.array_equal(_member_of(ckpt, "s2"), STATE["w"])
    data = bytearray(ckpt.read_bytes())
    at = data.find(b"s2.npy")
    assert at > 0
    data[at + 120] ^= 0xFF  # inside s2's stored bytes (after its ~30-byte local header and ~128-byte .npy header)
    ckpt.write_bytes(bytes(data))
    read_info(ckpt)
    with pytest.raises(ValueError, match=r"is damaged \(BadZipFile: Bad CRC-32 for file 's2.npy'\): start the run again"):
        load_checkpoint(ckpt, LIKE_STATE, LIKE_OUTPUTS)
