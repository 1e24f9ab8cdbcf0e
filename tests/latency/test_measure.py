"""The latency harness: timing rules (fake clock), real tiny networks, stratified samples, resumable files."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2nas_jax.latency import measure
from l2nas_jax.spaces import get_space

TINY = measure.NetSpec(channels=4, layers=1)


class FakeClock:
    """A clock that only advances when the timed call runs: each call costs ``cost`` seconds."""

    def __init__(self, cost):
        self.t, self.cost = 0.0, cost

    def __call__(self):
        return self.t

    def call(self):
        self.t += self.cost
        return jnp.zeros(())


def test_time_compiled_medians_per_call_and_batches_short_calls():
    clock = FakeClock(0.0005)  # 0.5 ms per call: 4 calls per repeat reach the 2 ms minimum
    t = measure.time_compiled(clock.call, warmup=2, repeats=5, min_repeat_ms=2.0, compile_s=1.5, clock=clock)
    assert t.number == 4 and t.repeats == 5
    assert t.median_ms == pytest.approx(0.5) and t.q10_ms == pytest.approx(0.5) and t.q90_ms == pytest.approx(0.5)
    assert t.compile_s == 1.5 and t.spread == pytest.approx(0.0)
    assert clock.t == pytest.approx(0.0005 * (2 + 1 + 5 * 4))  # warm-up, the probe call, the timed repeats


def test_time_function_excludes_compile_time():
    def heavy_to_compile(x):  # a long unrolled chain: slow to compile, fast to run
        for i in range(300):
            x = jnp.sin(x) * 1.0001 + i * 1e-6
        return x

    t = measure.time_function(heavy_to_compile, jnp.ones(4), warmup=1, repeats=5)
    assert t.compile_s > 0.05
    assert 0 < t.median_ms < 1e3 * t.compile_s / 5  # compile time is not in the latency


def test_tiny_network_medians_are_positive_and_stable():
    space = get_space("nb201")
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    a = measure.measure_arch(space, arch, batch=2, net=TINY, repeats=9)
    b = measure.measure_arch(space, arch, batch=2, net=TINY, repeats=9)
    for r in (a, b):
        assert 0 < r["q10_ms"] <= r["median_ms"] <= r["q90_ms"]
        assert r["compile_s"] > 0 and r["macs_M"] > 0 and r["params_M"] > 0
    assert 1 / 3 < a["median_ms"] / b["median_ms"] < 3  # the same network twice: the same latency, roughly
    # exact MACs of the measured (tiny) network: more conv edges, more MACs
    c = measure.measure_arch(space, arch.replace("nor_conv_3x3", "skip_connect"), batch=2, net=TINY, repeats=3)
    assert c["macs_M"] < a["macs_M"]


def test_stratified_sample_covers_cheap_and_expensive():
    space = get_space("nb201")
    archs = measure.stratified_sample(space, 10, seed=3)
    assert len(set(archs)) == 10
    macs = np.array([float(space.cost(jnp.asarray(space.from_string(a)))[1]) for a in archs])
    assert np.all(np.diff(macs) >= 0)  # in MACs order
    every = np.asarray(jax.vmap(space.cost)(space.enumerate_archs())[1])
    assert macs[0] <= np.quantile(every, 0.15) and macs[-1] >= np.quantile(every, 0.85)
    assert archs == measure.stratified_sample(space, 10, seed=3)  # deterministic


def test_measurement_file_resumes_where_it_stopped(tmp_path):
    space = get_space("nb201")
    out = tmp_path / "m.json"

    def stop_after_first(done, total):
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        measure.measure_archs(space, out, num_archs=3, net=TINY, repeats=3, progress=stop_after_first)
    first = json.loads(out.read_text())
    assert len(first["records"]) == 1 and len(first["archs"]) == 3
    seen = []
    data = measure.measure_archs(space, out, num_archs=3, net=TINY, repeats=3, progress=lambda d, t: seen.append(d))
    assert seen == [1, 2, 3]  # continued: the first architecture was not measured again
    assert data["records"][0] == first["records"][0] and [r["arch"] for r in data["records"]] == first["archs"]
    assert data["settings"]["backend"] == jax.default_backend() and "versions" in data

    with pytest.raises(ValueError, match="other settings .*repeats: 3 there, 5 now.*--overwrite"):
        measure.measure_archs(space, out, num_archs=3, net=TINY, repeats=5)
    before = out.read_bytes()
    with pytest.raises(ValueError, match="other settings"):
        measure.measure_archs(space, out, num_archs=4, net=TINY, repeats=3)
    assert out.read_bytes() == before  # a refused run leaves the file as it was


@pytest.mark.parametrize("content, message", [
    (b"", "not a latency measurement file"),
    (b"\x00\xff garbage", "not a latency measurement file"),
    (json.dumps({"format": "other"}).encode(), "expected format"),
    (json.dumps({"format": measure.FORMAT, "settings": {}, "archs": [], "records": [{"median_ms": -1}]}).encode(),
     "positive median_ms"),
])
def test_bad_measurement_files_name_the_file(tmp_path, content, message):
    f = tmp_path / "bad.json"
    f.write_bytes(content)
    with pytest.raises(ValueError, match=message) as e:
        measure.read_measurements(f)
    assert str(f) in str(e.value)
