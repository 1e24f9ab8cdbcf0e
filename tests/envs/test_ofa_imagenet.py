"""A converted OFA supernet on ImageNet: the converted directory, and each subnet evaluated at its own
resolution after BN re-calibration (tiny widths, generated ImageFolder trees; no PyTorch needed).

Compile budget: the environment's five-resolution program once at XLA -O0, one direct reference
program; the rest is host-side.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from l2nas_jax.core import threefry
from l2nas_jax.envs.ofa_imagenet import load_ofa_imagenet_env
from l2nas_jax.spaces.ofa import codec, nets
from l2nas_jax.spaces.ofa.cost import ofa_cost
from l2nas_jax.supernet import bn_recal, imagenet, ofa_published

FAST = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
TINY = (8, 8, 8, 16, 16, 24, 24, 32, 32)
NET = {"width": 1.0, "num_classes": 10, "base_widths": list(TINY)}


def _write_tree(root: Path, per_class: dict[str, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    for split, n in per_class.items():
        for c in range(3):
            d = root / split / f"n0000000{c}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                h, w = (int(v) for v in rng.integers(180, 260, 2))
                Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(d / f"img{i}.png")


@pytest.fixture(scope="module")
def converted_dir(tmp_path_factory):
    model = nets.make_supernet(**{**NET, "base_widths": TINY})
    init = jax.jit(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), jnp.zeros(26, jnp.int32)))
    with threefry.rolled():  # as supernet/train.py initialises: the same bits, compiled several times faster
        variables = init.lower().compile(FAST)()
    out = ofa_published.write_converted(tmp_path_factory.mktemp("ofa") / "supernet", NET, variables)
    return out, model, variables


@pytest.fixture(scope="module")
def imagenet_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet")
    _write_tree(root, {"train": 4, "val": 2}, seed=0)
    return root


def test_converted_directory_round_trip_and_refusals(converted_dir, tmp_path):
    out, _, variables = converted_dir
    assert ofa_published.is_converted(out)
    model, loaded, meta = ofa_published.load_converted(out)
    assert meta["kind"] == ofa_published.KIND and meta["net"] == NET and "provenance" in meta
    assert model.base_widths == TINY and model.num_classes == 10
    assert jax.tree.structure(loaded) == jax.tree.structure(variables)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(variables)))
    with pytest.raises(ValueError, match="is not empty; pass --overwrite"):
        ofa_published.write_converted(out, NET, variables)
    with pytest.raises(ValueError, match="is not a converted OFA supernet"):
        ofa_published.load_converted(tmp_path)


def test_split_sources(imagenet_root, tmp_path):
    train, val = imagenet.split_sources(f"imagenet:{imagenet_root}")
    assert (train.kind, train.path.name, val.path.name) == ("imagefolder", "train", "val")
    with pytest.raises(ValueError, match="needs the training AND validation images"):
        imagenet.split_sources(f"imagenet:{imagenet_root / 'train'}")
    (tmp_path / "imagenet2012").mkdir()
    tf_train, tf_val = imagenet.split_sources(f"imagenet:{tmp_path}")
    assert tf_train == tf_val and tf_train.kind == "tfds"


def test_env_refuses_too_few_images(converted_dir, imagenet_root):
    with pytest.raises(ValueError, match=r"the training split has 12 images, fewer than the 8 re-calibration \+ 8"):
        load_ofa_imagenet_env(converted_dir[0], f"imagenet:{imagenet_root}", calib_images=8, search_images=8,
                              report_images=2, batch_size=2, progress=False)
    with pytest.raises(ValueError, match="fewer than one batch"):
        load_ofa_imagenet_env(converted_dir[0], f"imagenet:{imagenet_root}", calib_images=1, batch_size=2,
                              progress=False)


@pytest.mark.slow
def test_each_subnet_is_evaluated_at_its_resolution_after_recalibration(converted_dir, imagenet_root):
    """Labels = the predictions of subnet A (re-calibrated, at A's resolution, computed directly): the
    environment must score A at exactly 100 %, and must not confuse A with B (another resolution)."""
    out, model, _ = converted_dir
    env = load_ofa_imagenet_env(out, f"imagenet:{imagenet_root}", calib_images=6, search_images=6, report_images=6,
                                batch_size=3, progress=False)
    assert [x.shape[1] for x in env.search_images] == list(codec.RESOLUTIONS)
    assert env.search_images[0].dtype == jnp.uint8 and len(env.calib_images) == len(codec.RESOLUTIONS)
    assert (env.search_split, env.report_split, env.dataset) == ("imagenet-train-subset", "imagenet-val", "imagenet")
    a = codec.config_to_arch(codec.SubnetConfig((5,) * 20, (4,) * 20, (3,) * 5, 176))
    b = codec.config_to_arch(codec.SubnetConfig((3,) * 20, (6,) * 20, (2,) * 5, 224))
    ra = codec.RESOLUTIONS.index(176)

    def direct_predictions(variables, calib, x, arch):
        v = bn_recal.recalibrate(model, variables, ofa_published.normalize(calib), arch, batch_size=3)
        return jnp.argmax(model.apply(v, ofa_published.normalize(x), arch, train=False), -1)

    rb = codec.RESOLUTIONS.index(224)
    direct = jax.jit(direct_predictions)
    ops_a = (env.variables, env.calib_images[ra], env.search_images[ra], jnp.asarray(a))
    ops_b = (env.variables, env.calib_images[rb], env.search_images[rb], jnp.asarray(b))
    labels = direct.lower(*ops_a).compile(FAST)(*ops_a)
    pred_b = direct.lower(*ops_b).compile(FAST)(*ops_b)
    env = env.replace(search_labels=labels.astype(jnp.int32))
    archs = jnp.stack([a, b])
    evaluate = jax.jit(jax.vmap(lambda arch: env.evaluate(jax.random.key(0), arch))).lower(archs).compile(FAST)
    acc = np.asarray(evaluate(archs))
    assert acc[0] == pytest.approx(100.0, abs=1e-4)
    assert acc[1] == pytest.approx(100.0 * float(np.mean(np.asarray(pred_b) == np.asarray(labels))), abs=1e-4)
    assert np.array_equal(np.asarray(evaluate(archs)), acc)  # deterministic
    params, macs = jax.vmap(env.cost)(archs)
    want = ofa_cost(archs, width=1.0, num_classes=10, base_widths=TINY)
    np.testing.assert_allclose(np.asarray(macs), np.asarray(want[1]))
    np.testing.assert_allclose(np.asarray(params), np.asarray(want[0]))


@pytest.mark.slow
def test_train_evaluate_scores_one_subnet_of_a_converted_supernet(converted_dir, imagenet_root, tmp_path, capsys):
    """train/evaluate.py --supernet: re-calibrate on training images, classify every validation image (6, in
    batches of 4: the padded rows never count), top-1 and top-5 as computed here from the same subset."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("evaluate_script", Path(__file__).parents[2] / "train" / "evaluate.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out, model, variables = converted_dir
    subnet = "r128 d=2,3,2,4,2 | k3e4 k5e6 - - | k7e3 k3e3 k5e4 - | k3e6 k3e6 - - | k5e4 k7e6 k3e3 k3e4 | k5e3 k5e3 - -"
    rc = script.main(["--space", "ofa", "--supernet", str(out), "--subnet", subnet, "--data", f"imagenet:{imagenet_root}",
                      "--calib-images", "8", "--eval-batch-size", "4", "--out", str(tmp_path / "eval"), "--no-progress",
                      "--fast-compile"])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "eval" / "evaluate.json").read_text())
    assert summary["images"] == 6 and summary["calib_images"] == 8 and summary["resolution"] == 128

    cfg = codec.as_config(subnet)
    arch = jnp.asarray(np.concatenate([codec.config_layers(cfg), [0]]), jnp.int32)
    calib, _, _ = imagenet.load_imagenet_crops(imagenet.split_sources(f"imagenet:{imagenet_root}")[0], (128,),
                                               limit=8, seed=0, progress=False)
    val, labels, _ = imagenet.read_imagefolder_crops(imagenet_root / "val", (128,), progress=False)
    cx, vx = ofa_published.normalize(jnp.asarray(calib[128])), ofa_published.normalize(jnp.asarray(val[128]))
    v = bn_recal.recalibrate.lower(model, variables, cx, arch, batch_size=4).compile(FAST)(variables, cx, arch)
    apply = jax.jit(lambda v, x, a: model.apply(v, x, a, train=False))
    logits = np.asarray(apply.lower(v, vx, arch).compile(FAST)(v, vx, arch))
    top5 = np.argsort(-logits, axis=-1)[:, :5]
    assert summary["top1"] == pytest.approx(100.0 * np.mean(top5[:, 0] == labels), abs=1e-6)
    assert summary["top5"] == pytest.approx(100.0 * np.mean(np.any(top5 == labels[:, None], axis=1)), abs=1e-6)
    assert summary["top5"] >= summary["top1"]
    assert script.main(["--space", "ofa", "--supernet", str(out), "--subnet", subnet, "--data",
                        f"imagenet:{imagenet_root}", "--out", str(tmp_path / "eval"), "--no-progress",
                        "--fast-compile"]) == 2
    assert "holds an earlier run's evaluate.json; pass --overwrite to replace it" in capsys.readouterr().err


def test_search_cli_reaches_the_imagenet_environment(converted_dir, imagenet_root, capsys):
    """``l2nas search --supernet CONVERTED``: --data is required, and the ImageNet environment is what is built
    (here refused: 12 training images cannot hold OFA's 2000 re-calibration images)."""
    from l2nas_jax.cli import main

    out = str(converted_dir[0])
    assert main(["search", "--space", "ofa", "--supernet", out, "--queries", "10"]) == 2
    assert "pass its ImageNet with --data imagenet:ROOT" in capsys.readouterr().err
    assert main(["search", "--space", "ofa", "--supernet", out, "--data", f"imagenet:{imagenet_root}",
                 "--supernet-images", "100", "--queries", "10", "--no-progress"]) == 2
    assert "training split has 12 images, fewer than the 2000 re-calibration + 100 search images" in \
        capsys.readouterr().err
    assert main(["search", "--space", "ofa", "--supernet", out, "--dataset", "cifar10", "--data", "imagenet:x"]) == 2
    assert "converted OFA supernet (ImageNet), not a cifar10 one" in capsys.readouterr().err


def test_one_query_at_a_time_keeps_the_switch_a_branch_under_vmap():
    """vmap of a switch on the arch is a select running every branch; under one_query_at_a_time it stays a
    conditional inside a loop, with the same values (batched or not, operands batched or not)."""
    from l2nas_jax.envs.ofa_imagenet import one_query_at_a_time

    def fn(arch, ops):
        return jax.lax.switch(arch[0], [lambda o, k=k: jnp.sum(o * k) for k in (1.0, 2.0, 3.0)], ops)

    archs = jnp.asarray([[0], [2], [1]], jnp.int32)
    ops = jnp.arange(4.0)
    wrapped = one_query_at_a_time(fn)
    want = np.asarray([6.0, 18.0, 12.0])
    np.testing.assert_array_equal(jax.vmap(wrapped, (0, None))(archs, ops), want)
    np.testing.assert_array_equal(jax.vmap(wrapped, (0, 0))(archs, jnp.stack([ops] * 3)), want)
    assert float(wrapped(archs[1], ops)) == 18.0
    plain = jax.jit(jax.vmap(fn, (0, None))).lower(archs, ops).as_text()
    ours = jax.jit(jax.vmap(wrapped, (0, None))).lower(archs, ops).as_text()
    assert "stablehlo.case" in ours and "stablehlo.case" not in plain
