"""Parity with the reference implementation: once-for-all's PyTorch OFA MobileNetV3 and accuracy predictor.

The ``ofa`` package (mit-han-lab/once-for-all, with PyTorch; CI installs both) builds the same
supernet with random weights; these tests randomise every tensor a published checkpoint holds
(BN statistics and affine parameters, the kernel-transform matrices), convert it with
:mod:`l2nas_jax.spaces.ofa.convert` and compare logits, per-subnet BN re-calibration, MACs/params
and the accuracy predictor with the reference's own code. Skipped when torch or ofa is missing.

``ofa.utils`` imports torchvision for its data loaders only; torchvision is not installable next
to the CPU torch build here, so a stand-in with the two names it subclasses is registered first.
"""

from __future__ import annotations

import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (CI installs it for these tests)")


def _stand_in_torchvision() -> None:
    try:
        import torchvision  # noqa: F401
        return
    except Exception:  # noqa: BLE001 -- absent, or a build that does not match torch
        pass
    tv, tr = types.ModuleType("torchvision"), types.ModuleType("torchvision.transforms")
    fn = types.ModuleType("torchvision.transforms.functional")
    tr.RandomResizedCrop = type("RandomResizedCrop", (), {"__init__": lambda self, *a, **k: None})
    tr.RandomCrop = type("RandomCrop", (), {})
    tr.functional, tv.transforms = fn, tr
    sys.modules.update({"torchvision": tv, "torchvision.transforms": tr, "torchvision.transforms.functional": fn})


_stand_in_torchvision()
pytest.importorskip("ofa", reason="the once-for-all package is not installed (CI installs it for these tests)")
from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3  # noqa: E402
from ofa.imagenet_classification.elastic_nn.utils import set_running_statistics  # noqa: E402
from ofa.nas.accuracy_predictor import AccuracyPredictor, MobileNetArchEncoder  # noqa: E402
from ofa.utils import count_net_flops, count_parameters  # noqa: E402

from l2nas_jax.envs import predictor as predictor_lib  # noqa: E402
from l2nas_jax.envs.space_env import SpaceEnv  # noqa: E402
from l2nas_jax.spaces import get_space  # noqa: E402
from l2nas_jax.spaces.ofa import codec, convert, cost, nets  # noqa: E402
from l2nas_jax.supernet import bn_recal  # noqa: E402

FAST = {"xla_backend_optimization_level": 0}  # compile time, not run time, is what tests pay for
MIXED = ("r176 d=2,3,4,2,3 | k3e3 k7e6 - - | k5e4 k5e4 k5e4 - | k3e6 k5e6 k7e6 k3e4 | k7e3 k7e3 - - | "
         "k3e3 k3e4 k3e6 -")
SUBNETS = {
    "largest": codec.SubnetConfig((7,) * 20, (6,) * 20, (4,) * 5, 224),
    "smallest": codec.SubnetConfig((3,) * 20, (3,) * 20, (2,) * 5, 128),
    "mixed": codec.parse_subnet(MIXED),
}


def reference_supernet(width: float = 1.0, seed: int = 0, **space) -> OFAMobileNetV3:
    """OFA's supernet with every checkpoint tensor random (BN stats, affine, kernel transforms, classifier)."""
    torch.manual_seed(seed)
    kw = dict(ks_list=[3, 5, 7], expand_ratio_list=[3, 4, 6], depth_list=[2, 3, 4])
    net = OFAMobileNetV3(n_classes=1000, dropout_rate=0.0, width_mult=width, **{**kw, **space})
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif name.endswith("running_mean") or name.endswith("bn.bias"):
                t.copy_(0.1 * torch.randn(t.shape, generator=g))
            elif name.endswith("bn.weight"):
                t.copy_(1.0 + 0.1 * torch.randn(t.shape, generator=g))
            elif name.endswith("_matrix"):  # learned transforms, far from their identity init
                t.copy_(torch.eye(t.shape[0]) + 0.2 * torch.randn(t.shape, generator=g))
            elif name.startswith("classifier"):
                t.copy_(0.05 * torch.randn(t.shape, generator=g))
    return net.eval()


def _set(net: OFAMobileNetV3, cfg: codec.SubnetConfig) -> None:
    net.set_active_subnet(ks=list(cfg.ks), e=list(cfg.e), d=list(cfg.d))


def _torch_logits(net, x_nhwc: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))).numpy()


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, size, size, 3)).astype(np.float32)


def _assert_logits_close(got: np.ndarray, want: np.ndarray) -> None:
    scale = float(np.max(np.abs(want)))
    assert scale > 0.1  # the logits are not all ~0 (a comparison of zeros proves nothing)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * scale)
    assert np.array_equal(np.argmax(got, -1), np.argmax(want, -1))


@pytest.fixture(scope="module")
def ref_net():
    return reference_supernet()


@pytest.fixture(scope="module")
def converted(ref_net):
    kw, variables = convert.convert_state_dict(ref_net.state_dict())
    return nets.make_supernet(**kw), variables


# ------------------------------------------------------------------------------------------ conversion


def test_conversion_reads_the_configuration_off_the_checkpoint(ref_net, converted):
    kw, variables = convert.convert_state_dict(ref_net.state_dict())
    assert kw == {"width": 1.0, "num_classes": 1000}
    sd = ref_net.state_dict()
    # layouts: conv [O, I, kh, kw] -> [kh, kw, I, O]; the transforms as they are; BN stats into batch_stats
    k = sd["blocks.5.conv.depth_conv.conv.conv.weight"].numpy()
    np.testing.assert_array_equal(variables["params"]["layer4"]["dw_conv"]["kernel"], k.transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(variables["params"]["layer4"]["dw_conv"]["transform_7to5"],
                                  sd["blocks.5.conv.depth_conv.conv.7to5_matrix"].numpy())
    np.testing.assert_array_equal(variables["batch_stats"]["head"]["final_expand_bn"]["var"],
                                  sd["final_expand_layer.bn.running_var"].numpy())
    # every Flax variable is filled, none left at its init
    model = nets.make_supernet(**kw)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), jnp.zeros(26, jnp.int32)))
    assert jax.tree.structure(shapes) == jax.tree.structure(jax.tree.map(jnp.asarray, variables))


def test_conversion_accepts_wrapped_and_data_parallel_checkpoints(ref_net, tmp_path):
    sd = ref_net.state_dict()
    path = tmp_path / "ofa.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}, path)
    kw, variables = convert.convert_state_dict(convert.read_torch_checkpoint(path))
    _, direct = convert.convert_state_dict(sd)
    assert kw["width"] == 1.0
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(variables), jax.tree.leaves(direct)))


def test_conversion_refuses_other_configurations(ref_net):
    with pytest.raises(ValueError, match=r"kernel: largest depthwise kernel 5.*depth: |depth: .*kernel: "):
        convert.convert_state_dict(reference_supernet(ks_list=[3, 5], depth_list=[2, 3]).state_dict())
    with pytest.raises(ValueError, match=r"expand: largest expand ratio 4\.00"):
        convert.convert_state_dict(reference_supernet(expand_ratio_list=[3, 4]).state_dict())
    with pytest.raises(ValueError, match=r"width: stage widths .* width multiplier 1\.2"):
        convert.convert_state_dict(ref_net.state_dict(), width=1.2)
    sd = {k: v for k, v in ref_net.state_dict().items() if "blocks.7.conv.depth_conv.se" not in k}
    with pytest.raises(ValueError, match=r"no tensor 'blocks\.7\.conv\.depth_conv\.se\.fc\.reduce\.weight'"):
        convert.convert_state_dict(sd)
    with pytest.raises(ValueError, match="not an OFA MobileNetV3 supernet state_dict"):
        convert.convert_state_dict({"fc.weight": np.zeros((2, 2))})


def test_read_torch_checkpoint_errors(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        convert.read_torch_checkpoint(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        convert.read_torch_checkpoint(bad)


# ------------------------------------------------------------------------------------------ logits


@pytest.mark.slow
@pytest.mark.parametrize("resolution", [128, 224])  # 160: the width-1.2 test below
def test_supernet_logits_match_reference(ref_net, converted, resolution):
    """One compiled Flax supernet per resolution serves every subnet (arch traced), each equal to OFA's."""
    model, variables = converted
    fn = jax.jit(lambda v, x, a: model.apply(v, x, a, train=False)).lower(
        variables, jax.ShapeDtypeStruct((2, resolution, resolution, 3), jnp.float32), jnp.zeros(26, jnp.int32)
    ).compile(FAST)
    x = _images(2, resolution, seed=resolution)
    for name, cfg in SUBNETS.items():
        _set(ref_net, cfg)
        arch = np.concatenate([codec.config_layers(cfg), [0]]).astype(np.int32)  # the resolution is x's size
        _assert_logits_close(np.asarray(fn(variables, jnp.asarray(x), arch)), _torch_logits(ref_net, x))


@pytest.mark.slow
def test_extracted_subnet_matches_reference_subnet(ref_net, converted):
    """OFA's get_active_subnet and :func:`nets.extract_subnet` give the same stand-alone network."""
    model, variables = converted
    cfg = SUBNETS["mixed"]
    _set(ref_net, cfg)
    ref_sub = ref_net.get_active_subnet(preserve_weight=True).eval()
    net, sub_vars = nets.extract_subnet(model, variables, cfg)
    x = _images(2, cfg.r, seed=7)
    got = jax.jit(lambda v, x: net.apply(v, x, train=False)).lower(sub_vars, x).compile(FAST)(sub_vars, x)
    _assert_logits_close(np.asarray(got), _torch_logits(ref_sub, x))
    assert nets.count_params(sub_vars["params"]) == count_parameters(ref_sub)


@pytest.mark.slow
def test_width_1_2_logits_match_reference():
    ref = reference_supernet(width=1.2, seed=3)
    kw, variables = convert.convert_state_dict(ref.state_dict())
    assert kw["width"] == 1.2
    model = nets.make_supernet(**kw)
    cfg = SUBNETS["mixed"]
    _set(ref, cfg)
    x = _images(2, 160, seed=1)
    arch = np.concatenate([codec.config_layers(cfg), [0]]).astype(np.int32)
    got = jax.jit(lambda v, x, a: model.apply(v, x, a, train=False)).lower(variables, x, arch).compile(FAST)(
        variables, x, arch)
    _assert_logits_close(np.asarray(got), _torch_logits(ref, x))


# ------------------------------------------------------------------------------------------ BN re-calibration


@pytest.mark.slow
def test_bn_recalibration_matches_ofa_set_running_statistics(converted):
    """Statistics of OFA's set_running_statistics on the same images, and the recalibrated subnet's logits."""
    ref = reference_supernet(seed=5)
    model, _ = converted
    _, variables = convert.convert_state_dict(ref.state_dict())
    cfg = SUBNETS["mixed"]
    _set(ref, cfg)
    images = _images(8, 128, seed=11)
    set_running_statistics(ref, [(torch.from_numpy(images[i:i + 4].transpose(0, 3, 1, 2)), None) for i in (0, 4)])
    _, want = convert.convert_state_dict(ref.state_dict())
    arch = jnp.asarray(np.concatenate([codec.config_layers(cfg), [0]]), jnp.int32)
    recal = bn_recal.recalibrate.lower(model, variables, jnp.asarray(images), arch, batch_size=4).compile(FAST)
    got = recal(variables, jnp.asarray(images), arch)
    changed = 0
    for path in (("stem", "first_bn"), ("layer1", "expand_bn"), ("layer2", "dw_bn"), ("layer19", "project_bn"),
                 ("head", "final_expand_bn")):
        for stat in ("mean", "var"):
            g = np.asarray(got["batch_stats"][path[0]][path[1]][stat])
            w = np.asarray(want["batch_stats"][path[0]][path[1]][stat])
            old = np.asarray(variables["batch_stats"][path[0]][path[1]][stat])
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
            changed += int(np.sum(g != old))
    # the skipped layer 19 and the channels past layer 0's expand width (e3: 48 of 96) keep theirs
    np.testing.assert_array_equal(got["batch_stats"]["layer19"]["project_bn"]["mean"],
                                  variables["batch_stats"]["layer19"]["project_bn"]["mean"])
    mid = cost.layer_specs()[0].mids[codec.EXPANDS.index(cfg.e[0])]
    assert mid < max(cost.layer_specs()[0].mids)
    np.testing.assert_array_equal(got["batch_stats"]["layer0"]["expand_bn"]["var"][mid:],
                                  variables["batch_stats"]["layer0"]["expand_bn"]["var"][mid:])
    assert not np.array_equal(got["batch_stats"]["layer0"]["expand_bn"]["var"][:mid],
                              variables["batch_stats"]["layer0"]["expand_bn"]["var"][:mid])
    assert changed > 0
    again = recal(variables, jnp.asarray(images), arch)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(got)))
    x = _images(2, 128, seed=12)
    logits = jax.jit(lambda v, x, a: model.apply(v, x, a, train=False)).lower(got, x, arch).compile(FAST)(got, x, arch)
    _assert_logits_close(np.asarray(logits), _torch_logits(ref, x))


# ------------------------------------------------------------------------------------------ costs


@pytest.mark.parametrize("name,resolution", [("largest", 224), ("smallest", 128), ("mixed", 176), ("mixed", 208)])
def test_macs_and_params_equal_reference_counter(ref_net, name, resolution):
    cfg = SUBNETS[name]
    _set(ref_net, cfg)
    sub = ref_net.get_active_subnet(preserve_weight=False)
    params, macs = cost.ofa_cost(cfg, resolution=resolution)
    assert float(params) * 1e6 == pytest.approx(count_parameters(sub), rel=1e-6)
    assert float(macs) * 1e6 == pytest.approx(count_net_flops(sub, (1, 3, resolution, resolution)), rel=1e-6)


# ------------------------------------------------------------------------------------------ accuracy predictor


@pytest.fixture(scope="module")
def reference_predictor():
    torch.manual_seed(0)
    enc = MobileNetArchEncoder(image_size_list=list(codec.PREDICTOR_IMAGE_SIZES), ks_list=[3, 5, 7],
                               expand_list=[3, 4, 6], depth_list=[2, 3, 4], n_stage=5)
    pred = AccuracyPredictor(enc, hidden_size=400, n_layers=3, device="cpu")
    with torch.no_grad():
        pred.base_acc.fill_(0.75)
    return enc, pred.eval()


def _ofa_dicts(archs: np.ndarray) -> list[dict]:
    return [{"ks": list(c.ks), "e": list(c.e), "d": list(c.d), "image_size": c.r}
            for c in map(codec.arch_to_config, archs)]


def test_predictor_encoding_equals_ofa_arch_encoder(reference_predictor):
    enc, _ = reference_predictor
    archs = np.asarray(jax.vmap(codec.random_arch)(jax.random.split(jax.random.key(1), 32)))
    want = np.stack([enc.arch2feature(d) for d in _ofa_dicts(archs)])
    assert want.shape[1] == codec.predictor_features_dim()
    np.testing.assert_array_equal(np.asarray(codec.predictor_features(archs)), want)


def test_converted_predictor_matches_reference_and_searches(reference_predictor, tmp_path):
    enc, ref = reference_predictor
    pred, meta = predictor_lib.from_ofa_predictor(ref.state_dict())
    path = tmp_path / "ofa_predictor.npz"
    predictor_lib.save_predictor(path, pred, meta)
    env = predictor_lib.predictor_env(path, SpaceEnv(space=get_space("ofa"), dataset="imagenet"))
    archs = np.asarray(jax.vmap(codec.random_arch)(jax.random.split(jax.random.key(2), 32)))
    with torch.no_grad():
        want = 100.0 * ref.predict_acc(_ofa_dicts(archs)).numpy()
    got = np.asarray(jax.jit(jax.vmap(lambda a: env.evaluate(jax.random.key(0), a)))(archs))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-3)
    assert np.std(want) > 0.01  # the archs are told apart
    assert np.isnan(float(env.optimum)) and float(env.max_reward) == 100.0  # nothing peeked at


def test_predictor_conversion_errors(reference_predictor):
    _, ref = reference_predictor
    sd = ref.state_dict()
    with pytest.raises(ValueError, match=r"input has 145 features; OFA's encoding with 5 image sizes"):
        predictor_lib.from_ofa_predictor(sd, image_sizes=codec.RESOLUTIONS)
    with pytest.raises(ValueError, match="not an OFA accuracy-predictor"):
        predictor_lib.from_ofa_predictor({"layers.0.0.weight": np.zeros((4, 145))})
    pred, meta = predictor_lib.from_ofa_predictor(sd)
    with pytest.raises(ValueError, match="fitted on space .ofa., not .darts."):
        predictor_lib.make_predictor_env(pred, SpaceEnv(space=get_space("darts"), dataset="cifar10"), meta)


# ------------------------------------------------------------------------------------------ l2nas convert-ofa


def test_cli_converts_a_supernet_checkpoint(ref_net, converted, tmp_path, capsys):
    from l2nas_jax.cli import main
    from l2nas_jax.supernet import ofa_published

    ckpt = tmp_path / "ofa_mbv3_d234_e346_k357_w1.0.pth"
    torch.save({"state_dict": ref_net.state_dict()}, ckpt)
    out = tmp_path / "supernet"
    assert main(["convert-ofa", str(ckpt), "--out", str(out)]) == 0, capsys.readouterr().err
    assert "width 1, 1000 classes" in capsys.readouterr().out
    model, variables, meta = ofa_published.load_converted(out)
    assert meta["source"]["sha256"] and meta["net"] == {"width": 1.0, "num_classes": 1000}
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(variables), jax.tree.leaves(converted[1])))
    assert main(["convert-ofa", str(ckpt), "--out", str(out)]) == 2
    assert "is not empty; pass --overwrite" in capsys.readouterr().err
    assert main(["convert-ofa", str(ckpt), "--out", str(tmp_path / "w12"), "--width", "1.2"]) == 2
    assert "width: stage widths" in capsys.readouterr().err
    assert not (tmp_path / "w12" / "supernet.json").exists()  # nothing half-written


@pytest.mark.slow
def test_cli_converts_the_predictor_and_searches_it(reference_predictor, tmp_path, capsys):
    import json

    from l2nas_jax.cli import main

    _, ref = reference_predictor
    ckpt = tmp_path / "acc_predictor.pth"
    torch.save(ref.state_dict(), ckpt)
    assert main(["convert-ofa", str(ckpt), "--out", str(tmp_path / "pred")]) == 0, capsys.readouterr().err
    pred, meta = predictor_lib.load_predictor(tmp_path / "pred.npz")
    assert pred.encoding == "ofa-mbv3" and pred.image_sizes == codec.PREDICTOR_IMAGE_SIZES
    assert main(["convert-ofa", str(ckpt), "--out", str(tmp_path / "pred"), "--width", "1.0"]) == 2
    assert "--width is for a supernet" in capsys.readouterr().err
    rc = main(["search", "--space", "ofa", "--predictor", str(tmp_path / "pred.npz"), "--max-macs", "300M",
               "--method", "rea", "--queries", "40", "--seeds", "2", "--out", str(tmp_path / "run"), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    data = json.loads((tmp_path / "run" / "results.json").read_text())
    assert data["search_metric"] == "predicted" and all(run["feasible"] for run in data["runs"])
    for run in data["runs"]:  # the reported best is the reference predictor's value for that subnet
        arch = codec.as_config(run["best_arch"])
        with torch.no_grad():
            want = 100.0 * float(ref.predict_acc(_ofa_dicts(codec.config_to_arch(arch)[None])))
        assert run["best_report"] == pytest.approx(want, abs=1e-3)
