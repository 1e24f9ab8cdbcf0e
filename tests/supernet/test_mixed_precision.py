"""bfloat16 mixed precision (``--dtype bfloat16`` / ``TrainConfig.dtype``): learns, matches fp32, keeps the state fp32.

The nets are those of test_supernet_train.py (NB201 supernet, C=4, N=1, 8x8 inputs, 4 generated
classes, batch 16 over the test process's 2 CPU devices) with the same flags, so the float32 run IS
that module's main run when both run in one process (conftest.py's ``supernet_cli_run``), and its
compiled step otherwise (the session's compilation cache); every other test here reuses the compiled
steps, traces and evaluations of this module's two CLI runs through the trainer's memoisation.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2nas_jax.spaces.base import NetOptions
from l2nas_jax.supernet import data, sharding, train
from l2nas_jax.supernet.fixed_net import build_fixed_network
from l2nas_jax.supernet.genotype import resolve_genotype

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--space", "nb201", "--dataset", "synthetic", "--epochs", "3", "--channels", "4", "--layers", "1",
        "--image-size", "8", "--synthetic-size", "256", "--synthetic-classes", "4", "--batch-size", "16",
        "--lr", "0.1", "--cutout", "0", "--seed", "3", "--eval-archs", "2", "--fast-compile", "--no-progress"]
BAD_DTYPE = "error: --dtype 'float16' is not supported; valid: float32, bfloat16"


def _load(script: str, name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "train" / script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


cli = _load("supernet.py", "train_supernet_cli_mp")
ev = _load("evaluate.py", "train_evaluate_cli_mp")


def _config(dtype: str) -> train.TrainConfig:
    """The TrainConfig of ``train/supernet.py ARGS --dtype dtype`` (equal configs share compiled steps)."""
    return cli.make_job(cli.build_parser().parse_args(ARGS + ["--out", "unused", "--dtype", dtype])).train_config()


@pytest.fixture(scope="module")
def runs(supernet_cli_run):
    """``{dtype: (out, FitResult)}``: the CLI run (3 epochs x 12 steps, in-process) in each compute dtype
    (the float32 one is test_supernet_train.py's main run: conftest.py runs it once per process)."""
    return {dtype: supernet_cli_run(ARGS + ["--dtype", dtype]) for dtype in train.DTYPES}


def _records(out: Path) -> list[dict]:
    return [json.loads(ln) for ln in (out / train.METRICS_FILE).read_text().splitlines()]


def _dtypes(tree) -> list[str]:
    return [str(x.dtype) for x in jax.tree.leaves(tree)]


def _rel(a, b) -> float:
    """``|a - b| / |b|`` over all leaves (global 2-norms)."""
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    num = sum(float(np.sum((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2)) for x, y in zip(la, lb))
    return float(np.sqrt(num / sum(float(np.sum(np.asarray(y, np.float64) ** 2)) for y in lb)))


def _delta(new, old):
    return jax.tree.map(lambda a, b: np.asarray(a) - np.asarray(b), new, old)


@pytest.mark.slow
def test_bf16_and_fp32_training_both_reduce_the_loss(runs):
    for dtype, (out, result) in runs.items():
        losses = [h["loss"] for h in result.history]
        assert result.finished and len(losses) == 3, dtype
        assert losses[0] > losses[-1] + 0.15, (dtype, losses)  # 36 single-path SGD steps learn the patterns
        assert result.history[-1]["accuracy"] > 1.5 / 4, dtype
        assert all(0.0 <= r["heldout_acc_mean"] <= r["heldout_acc_max"] <= 1.0 for r in _records(out))
        summary = json.loads((out / "supernet.json").read_text())
        assert summary["train_config"]["dtype"] == dtype  # what a search of this supernet evaluates in
    # (the two runs' trajectories are not compared: SGD amplifies any rounding difference chaotically;
    # the single-step test below bounds the per-step difference)


@pytest.mark.slow
def test_one_bf16_step_is_within_tolerance_of_the_fp32_step(model, space):
    """One step from the same state, batch and key (so the same path) in both dtypes.

    Tolerances: bfloat16 keeps 8 significant bits (a rounding error <= 2^-9 = 0.2%), so the forward
    pass, hence the loss, agrees to 1e-2 relative (measured ~1e-4). The parameter update is far
    more sensitive on this tiny net (4 channels, BatchNorm over 8 images a device): merely rounding
    the float32 weights to bfloat16 changes the float32 update by ~10% (measured), so the bf16
    update must stay within 3x that sensitivity of the fp32 update (measured ~2x), and point the
    same way (cosine > 0.95).
    """
    c32, c16 = _config("float32"), _config("bfloat16")
    mesh = sharding.make_mesh()
    init = jax.device_get(train.create_train_state(model, c32, jax.random.key(0), (8, 8, 3), 36, space.random_arch))
    rounded = init.replace(params=jax.tree.map(lambda p: np.asarray(jnp.asarray(p, jnp.bfloat16), np.float32),
                                               init.params))
    ds = data.synthetic_dataset(seed=3, n=256, image_size=8, num_classes=4)
    batch = sharding.shard_batch(next(data.batch_iterator(ds, 16, 3))[1], mesh)
    key = sharding.replicate(jax.random.key(1), mesh)

    def step(config, state):  # a fresh replica each time: the step donates its state
        new, metrics = train.make_train_step(model, config, space.random_arch, mesh, fast_compile=True)(
            sharding.replicate(state, mesh), batch, key)
        return jax.device_get((new, metrics))

    (s32, m32), (s16, m16), (s32r, _) = step(c32, init), step(c16, init), step(c32, rounded)
    assert float(m16["loss"]) == pytest.approx(float(m32["loss"]), rel=1e-2)
    assert float(m16["grad_norm"]) == pytest.approx(float(m32["grad_norm"]), rel=5e-2)
    assert abs(float(m16["accuracy"]) - float(m32["accuracy"])) <= 1 / 16 + 1e-6  # at most one near-tie flips
    d32, d16 = _delta(s32.params, init.params), _delta(s16.params, init.params)
    sensitivity = _rel(_delta(s32r.params, rounded.params), d32)
    err = _rel(d16, d32)
    assert 0 < err < 3 * sensitivity and err < 0.5, (err, sensitivity)
    v16, v32 = (np.concatenate([np.ravel(x) for x in jax.tree.leaves(d)]) for d in (d16, d32))
    assert float(v16 @ v32 / np.linalg.norm(v16) / np.linalg.norm(v32)) > 0.95
    # BatchNorm statistics are computed in float32 from bf16 activations: same update to a few %
    assert _rel(_delta(s16.batch_stats, init.batch_stats), _delta(s32.batch_stats, init.batch_stats)) < 0.1


@pytest.mark.slow
def test_bf16_state_stays_float32_and_the_step_compiles_once(runs, model, space):
    (_, r16), (_, r32) = runs["bfloat16"], runs["float32"]
    state = jax.device_get(r16.state)
    assert _dtypes(state) == _dtypes(jax.device_get(r32.state))  # params, opt state, BN stats, step: as fp32
    floats = [x for x in jax.tree.leaves((state.params, state.opt_state, state.batch_stats))
              if jnp.issubdtype(x.dtype, jnp.floating)]
    assert floats and {str(x.dtype) for x in floats} == {"float32"}
    mesh = sharding.make_mesh()
    key = sharding.replicate(jax.random.key(7), mesh)
    batches = data.batch_iterator(data.synthetic_dataset(seed=3, n=256, image_size=8, num_classes=4), 16, 0)
    compiles: list[str] = []

    def listener(event, duration, **kw):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        state = sharding.replicate(state, mesh)
        for i, dtype in enumerate(["bfloat16"] * 4 + ["float32"]):
            if i == 1:
                compiles.clear()  # the first iteration may compile the small eager ops used here
            step = train.make_train_step(model, _config(dtype), space.random_arch, mesh, fast_compile=True)
            state, metrics = step(state, sharding.shard_batch(next(batches)[1], mesh), key)
            assert np.isfinite(float(metrics["loss"]))
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    # the runs' compiled programs, reused: a dtype change in the state would have compiled another;
    # the float32 step takes the bf16-trained state as it is (a checkpoint resumes in either dtype)
    assert compiles == []
    assert _dtypes(jax.device_get(state)) == _dtypes(jax.device_get(r32.state))


@pytest.mark.slow
def test_bf16_computes_in_bf16_and_fp32_adds_no_cast(model, space):
    """The lowered step: every convolution is bf16 with ``dtype="bfloat16"``; no bf16 anywhere with float32."""
    state = train.create_train_state(model, _config("float32"), jax.random.key(0), (8, 8, 3), 36, space.random_arch)
    batch = {"image": jax.ShapeDtypeStruct((16, 8, 8, 3), jnp.float32), "label": jax.ShapeDtypeStruct((16,), jnp.int32)}
    # the training runs' own (memoised, data-parallel) steps, given the runs' argument types (shardings included):
    # lowered from the traces the runs made, not traced again
    mesh = sharding.make_mesh()
    rep, dat = sharding.replicated(mesh), sharding.data_sharded(mesh)

    def like(tree, where):
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(jnp.shape(x), x.dtype, sharding=where), tree)

    args = like(state, rep), like(batch, dat), like(jax.random.key(0), rep)
    texts = {d: train.make_train_step(model, _config(d), space.random_arch, mesh, fast_compile=True)
             .lower(*args).as_text() for d in train.DTYPES}
    assert "bf16" not in texts["float32"]
    convs = [ln for ln in texts["bfloat16"].splitlines() if "stablehlo.convolution" in ln]
    assert convs and all("bf16" in ln and "f32" not in ln.split("->")[-1] for ln in convs)


@pytest.mark.slow
def test_search_and_eval_use_the_training_dtype(runs, model, space):
    from l2nas_jax.envs.supernet import load_supernet_env

    out16, r16 = runs["bfloat16"]
    env = load_supernet_env(out16, batch_size=16, max_images=32)
    assert env.dtype == "bfloat16" and load_supernet_env(runs["float32"][0], batch_size=16, max_images=32).dtype == "float32"
    env32 = load_supernet_env(out16, batch_size=16, max_images=32, dtype="float32")
    archs = [space.random_arch(jax.random.key(i)) for i in range(2)]
    for arch in archs:  # 32 images: a near-tie flipping under bf16 rounding moves the accuracy by 3.125 points
        assert abs(float(env.evaluate(jax.random.key(0), arch)) - float(env32.evaluate(jax.random.key(0), arch))) <= 6.25
    # the per-epoch held-out evaluation (compiled by the runs) in each dtype agrees the same way
    ds = data.synthetic_dataset(seed=3, n=256, image_size=8, num_classes=4)
    x, y = ds.normalize(ds.heldout_images), ds.heldout_labels
    acc = {d: float(train.evaluate_accuracy(model, train.state_variables(r16.state), archs[0], x, y,
                                            fast_compile=True, dtype=d)) for d in train.DTYPES}
    assert abs(acc["bfloat16"] - acc["float32"]) <= 3 / len(y) + 1e-6
    with pytest.raises(ValueError, match="dtype 'half' is not supported; valid: float32, bfloat16"):
        load_supernet_env(out16, dtype="half")


@pytest.mark.slow
def test_a_bf16_checkpoint_resumes_in_float32(runs, tmp_path):
    """The documented choice: a resume may change the dtype (the checkpointed state is float32 either way)."""
    out = tmp_path / "switch"
    first = cli.run(cli.build_parser().parse_args(ARGS + ["--out", str(out), "--dtype", "bfloat16", "--max-steps", "14"]))
    assert not first.finished
    resumed = cli.run(cli.build_parser().parse_args(ARGS + ["--out", str(out), "--resume"]))
    assert resumed.start_step == 12 and resumed.finished
    assert json.loads((out / "supernet.json").read_text())["train_config"]["dtype"] == "float32"
    assert _dtypes(jax.device_get(resumed.state)) == _dtypes(jax.device_get(runs["float32"][1].state))
    # epoch 1 is the bf16 run's (the same program, batches and paths); float32 training continues from it
    losses = [r["loss"] for r in _records(out)]
    assert losses[0] == runs["bfloat16"][1].history[0]["loss"] and losses[-1] < losses[0] - 0.1, losses


def test_bad_dtype_is_a_one_line_error(tmp_path, capsys):
    assert cli.main(ARGS + ["--out", str(tmp_path / "a"), "--dtype", "float16"]) == 2
    assert ev.main(["--space", "nb201", "--genotype", "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                    "--dry-run", "--out", str(tmp_path / "b"), "--dtype", "float16"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [BAD_DTYPE, BAD_DTYPE]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    for bad in ("float16", "bf16", jnp.bfloat16, None):
        with pytest.raises(ValueError, match="TrainConfig.dtype .* is not supported; valid: float32, bfloat16"):
            train.TrainConfig(dtype=bad)
    with pytest.raises(ValueError, match="dtype 'fp8' is not supported"):
        train.make_eval_fn(object(), dtype="fp8")


def test_dtype_reaches_the_train_configs_and_a_resume_may_change_it(tmp_path):
    from l2nas_jax.supernet import evaluate_job

    job = ev.make_job(ev.build_parser().parse_args(["--space", "darts", "--genotype", "DARTS_V2", "--out", "x",
                                                    "--dtype", "bfloat16"]))
    protocol, _ = evaluate_job.resolve_protocol(job)
    assert evaluate_job.train_config(job, protocol).dtype == "bfloat16"
    assert _config("bfloat16").dtype == "bfloat16" and _config("float32") == train.TrainConfig.from_dict(
        {k: v for k, v in _config("float32").to_dict().items() if k != "dtype"})  # older records: float32
    c16, c32 = _config("bfloat16"), _config("float32")
    train._check_resume({"config": c16.to_dict(), "steps_per_epoch": 12}, c32, 12)  # no error
    run_info = {"space": "darts", "arch": "a", "net": {}, "train_config": c16.to_dict(), "dataset": {}}
    (tmp_path / evaluate_job.RUN_FILE).write_text(json.dumps(run_info))
    evaluate_job.check_run_file(tmp_path, {**run_info, "train_config": c32.to_dict()}, resume=True)
    old = {k: v for k, v in c16.to_dict().items() if k != "dtype"}  # a run.json written before --dtype existed
    (tmp_path / evaluate_job.RUN_FILE).write_text(json.dumps({**run_info, "train_config": old}))
    evaluate_job.check_run_file(tmp_path, {**run_info, "train_config": c32.to_dict()}, resume=True)
    with pytest.raises(ValueError, match="cannot resume.*train_config"):
        evaluate_job.check_run_file(tmp_path, {**run_info, "train_config": {**c32.to_dict(), "lr": 1.0}}, resume=True)


@pytest.mark.slow
def test_darts_fixed_network_bf16_step():
    """A fixed DARTS_V2 network (C=4, 3 cells, 8 px, no aux head / drop-path): one step in each dtype.

    Drop-path is off: DARTS' ``drop_path`` draws its mask at the activations' dtype, so the two
    dtypes would drop different examples (the same distribution, not the same draw).
    """
    arch, _, _ = resolve_genotype("darts", "DARTS_V2")
    model, _ = build_fixed_network("darts", arch, num_classes=4,
                                   options=NetOptions(channels=4, layers=3, auxiliary=False, drop_path=0.0))
    ds = data.synthetic_dataset(seed=0, n=96, image_size=8, num_classes=4)
    mesh = sharding.make_mesh()
    batch = sharding.shard_batch(next(data.batch_iterator(ds, 16, 0))[1], mesh)
    key = sharding.replicate(jax.random.key(1), mesh)
    out = {}
    for dtype in train.DTYPES:
        config = train.TrainConfig(epochs=1, batch_size=16, lr=0.05, cutout=0, dtype=dtype)
        init = jax.device_get(train.create_train_state(model, config, jax.random.key(0), (8, 8, 3), 4))
        step = train.make_train_step(model, config, None, mesh, fast_compile=True)
        out[dtype] = init, *jax.device_get(step(sharding.replicate(init, mesh), batch, key))
    (i32, s32, m32), (i16, s16, m16) = out["float32"], out["bfloat16"]
    assert float(m16["loss"]) == pytest.approx(float(m32["loss"]), rel=1e-2)
    assert float(m16["grad_norm"]) == pytest.approx(float(m32["grad_norm"]), rel=5e-2)
    assert _dtypes(s16) == _dtypes(s32) == _dtypes(i16)
    assert _rel(_delta(s16.params, i16.params), _delta(s32.params, i32.params)) < 0.5
