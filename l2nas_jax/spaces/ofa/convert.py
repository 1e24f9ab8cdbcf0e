"""Weights of a once-for-all (PyTorch) OFA MobileNetV3 supernet as this package's Flax supernet.

The published OFA supernets (``ofa_mbv3_d234_e346_k357_w1.0`` / ``w1.2`` of
``mit-han-lab/once-for-all``) are PyTorch ``state_dict`` s of ``OFAMobileNetV3``. Everything
their elastic layers need has a place in :class:`~l2nas_jax.spaces.ofa.nets.OFASupernet`:

* elastic kernel: the 7x7 depthwise weight plus the learned ``7to5_matrix`` (25x25) and
  ``5to3_matrix`` (9x9) kernel transforms, used exactly as OFA's ``DynamicSeparableConv2d``;
* elastic width: OFA sorts channels by importance during training, so a subnet's active
  channels are the first ``mid`` (a prefix), as in the Flax supernet's channel masks;
* elastic depth: a unit runs its first ``d`` layers;
* squeeze-excite, the stem (first conv + the fixed first block), head (final expand,
  feature mix, classifier), batch-norm parameters and running statistics.

Conversion is pure NumPy on ``{name: array}`` (:func:`convert_state_dict`); only
:func:`read_torch_checkpoint` imports PyTorch (an optional extra). Tensor layouts: conv
``[O, I/g, kh, kw]`` -> Flax ``[kh, kw, I/g, O]``; linear ``[O, I]`` -> ``[I, O]``.
A checkpoint of another configuration (width multiplier, kernel set, maximum expand ratio
or depth, number of classes) is refused with a message naming what differs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from l2nas_jax.spaces.ofa import codec as codec
from l2nas_jax.spaces.ofa import cost as cost

#: Width multipliers of the published OFA MobileNetV3 supernets.
PUBLISHED_WIDTHS: tuple[float, ...] = (1.0, 1.2)
_BN = {"weight": ("params", "scale"), "bias": ("params", "bias"),
       "running_mean": ("batch_stats", "mean"), "running_var": ("batch_stats", "var")}
_IGNORED = re.compile(r".*num_batches_tracked$")


def _conv(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0)))


def _linear(w: np.ndarray) -> np.ndarray:
    w = w[:, :, 0, 0] if w.ndim == 4 else w  # a 1x1 conv used as a linear layer (SE, feature mix)
    return np.ascontiguousarray(w.T)


def _bn_entries(prefix: str, module: tuple[str, ...]) -> list[tuple[str, str, tuple[str, ...], Any]]:
    return [(f"{prefix}.{k}", col, (*module, leaf), None) for k, (col, leaf) in _BN.items()]


def _layer_entries(block: int, layer: int, use_se: bool) -> list[tuple[str, str, tuple[str, ...], Any]]:
    p, m = f"blocks.{block}.conv", (f"layer{layer}",)
    out = [
        (f"{p}.inverted_bottleneck.conv.conv.weight", "params", (*m, "expand_conv", "kernel"), _conv),
        *_bn_entries(f"{p}.inverted_bottleneck.bn.bn", (*m, "expand_bn")),
        (f"{p}.depth_conv.conv.conv.weight", "params", (*m, "dw_conv", "kernel"), _conv),
        (f"{p}.depth_conv.conv.7to5_matrix", "params", (*m, "dw_conv", "transform_7to5"), None),
        (f"{p}.depth_conv.conv.5to3_matrix", "params", (*m, "dw_conv", "transform_5to3"), None),
        *_bn_entries(f"{p}.depth_conv.bn.bn", (*m, "dw_bn")),
        (f"{p}.point_linear.conv.conv.weight", "params", (*m, "project_conv", "kernel"), _conv),
        *_bn_entries(f"{p}.point_linear.bn.bn", (*m, "project_bn")),
    ]
    if use_se:
        for name in ("reduce", "expand"):
            out += [(f"{p}.depth_conv.se.fc.{name}.weight", "params", (*m, f"se_{name}", "kernel"), _linear),
                    (f"{p}.depth_conv.se.fc.{name}.bias", "params", (*m, f"se_{name}", "bias"), None)]
    return out


def name_map(width: float = 1.0) -> list[tuple[str, str, tuple[str, ...], Any]]:
    """``(torch name, collection, Flax path, layout fn)`` for every tensor of the OFA supernet."""
    out = [
        ("first_conv.conv.weight", "params", ("stem", "first_conv", "kernel"), _conv),
        *_bn_entries("first_conv.bn", ("stem", "first_bn")),
        ("blocks.0.conv.depth_conv.conv.weight", "params", ("stem", "block_dw_conv", "kernel"), _conv),
        *_bn_entries("blocks.0.conv.depth_conv.bn", ("stem", "block_dw_bn")),
        ("blocks.0.conv.point_linear.conv.weight", "params", ("stem", "block_pw_conv", "kernel"), _conv),
        *_bn_entries("blocks.0.conv.point_linear.bn", ("stem", "block_pw_bn")),
    ]
    for i, spec in enumerate(cost.layer_specs(width)):
        out += _layer_entries(i + 1, i, spec.use_se)
    out += [
        ("final_expand_layer.conv.weight", "params", ("head", "final_expand_conv", "kernel"), _conv),
        *_bn_entries("final_expand_layer.bn", ("head", "final_expand_bn")),
        ("feature_mix_layer.conv.weight", "params", ("head", "feature_mix", "kernel"), _linear),
        ("classifier.linear.weight", "params", ("head", "classifier", "kernel"), _linear),
        ("classifier.linear.bias", "params", ("head", "classifier", "bias"), None),
    ]
    return out


def clean_state_dict(obj: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The tensors of a checkpoint as float32 NumPy: unwraps ``{"state_dict": ...}``, drops ``module.``
    (DataParallel) prefixes and BN ``num_batches_tracked`` counters."""
    if "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    out = {}
    for k, v in obj.items():
        k = k[len("module."):] if k.startswith("module.") else k
        if _IGNORED.match(k):
            continue
        arr = v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)
        out[k] = arr.astype(np.float32, copy=False)  # a second clean (already clean input) copies nothing
    return out


def _block_count(sd: Mapping[str, np.ndarray]) -> int:
    ids = {int(m.group(1)) for k in sd if (m := re.match(r"blocks\.(\d+)\.", k))}
    return max(ids) + 1 if ids else 0


def describe_checkpoint(sd: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """What a supernet ``state_dict`` holds, read off its shapes: layers per unit, largest kernel,
    kernel transforms present, largest expand ratio of the first elastic layer, stage widths, classes."""
    missing = [k for k in ("first_conv.conv.weight", "final_expand_layer.conv.weight", "classifier.linear.weight")
               if k not in sd]
    if missing:
        raise ValueError(f"not an OFA MobileNetV3 supernet state_dict: no {', '.join(missing)} "
                         f"(it has {len(sd)} tensors, e.g. {', '.join(sorted(sd)[:3])})")
    n_blocks = _block_count(sd)
    dw = sd.get("blocks.1.conv.depth_conv.conv.conv.weight")
    expand = sd.get("blocks.1.conv.inverted_bottleneck.conv.conv.weight")
    c_in = sd["blocks.0.conv.point_linear.conv.weight"].shape[0] if "blocks.0.conv.point_linear.conv.weight" in sd else 0
    transforms = sorted(k.split(".")[-1].replace("_matrix", "") for k in sd
                        if k.startswith("blocks.1.conv.depth_conv.conv.") and k.endswith("_matrix"))
    widths = [int(sd["first_conv.conv.weight"].shape[0]), c_in]
    per_unit = max(1, (n_blocks - 1) // codec.NUM_UNITS)
    for unit in range(codec.NUM_UNITS):
        key = f"blocks.{1 + unit * per_unit}.conv.point_linear.conv.conv.weight"
        widths.append(int(sd[key].shape[0]) if key in sd else -1)
    widths += [int(sd["final_expand_layer.conv.weight"].shape[0]),
               int(sd.get("feature_mix_layer.conv.weight", np.zeros((0,))).shape[0])]
    return {
        "layers_per_unit": (n_blocks - 1) / codec.NUM_UNITS,
        "max_kernel": int(dw.shape[-1]) if dw is not None else None,
        "kernel_transforms": transforms,
        "max_expand": (expand.shape[0] / c_in) if (expand is not None and c_in) else None,
        "stage_widths": tuple(widths),
        "num_classes": int(sd["classifier.linear.weight"].shape[0]),
    }


def infer_width(sd: Mapping[str, np.ndarray]) -> float | None:
    """The width multiplier whose stage widths the checkpoint has (one of :data:`PUBLISHED_WIDTHS`), or None."""
    got = describe_checkpoint(sd)["stage_widths"]
    return next((w for w in PUBLISHED_WIDTHS if tuple(cost.stage_widths(w)) == got), None)


def check_config(sd: Mapping[str, np.ndarray], width: float) -> None:
    """Refuse a checkpoint of another space than depth 2/3/4, expand 3/4/6, kernel 3/5/7 at ``width``,
    naming every difference."""
    got = describe_checkpoint(sd)
    want_widths = tuple(cost.stage_widths(width))
    diffs = []
    if got["layers_per_unit"] != max(codec.DEPTHS):
        diffs.append(f"depth: {got['layers_per_unit']:g} layers per unit, this space has {max(codec.DEPTHS)} "
                     f"(depths {list(codec.DEPTHS)})")
    if got["max_kernel"] != max(codec.KERNELS) or got["kernel_transforms"] != ["5to3", "7to5"]:
        diffs.append(f"kernel: largest depthwise kernel {got['max_kernel']} with transforms "
                     f"{got['kernel_transforms'] or 'none'}, this space has kernels {list(codec.KERNELS)} "
                     f"(7x7 weight, 7to5 and 5to3 transforms)")
    if got["max_expand"] is not None and abs(got["max_expand"] - max(codec.EXPANDS)) > 0.5:
        diffs.append(f"expand: largest expand ratio {got['max_expand']:.2f}, this space has "
                     f"{list(codec.EXPANDS)}")
    if got["stage_widths"] != want_widths:
        known = "; ".join(f"w{w}: {cost.stage_widths(w)}" for w in PUBLISHED_WIDTHS)
        diffs.append(f"width: stage widths {got['stage_widths']}, width multiplier {width:g} has {want_widths} "
                     f"(published supernets: {known})")
    if diffs:
        raise ValueError("checkpoint is not an OFA MobileNetV3 supernet of this space: " + "; ".join(diffs))


def convert_state_dict(sd: Mapping[str, Any], width: float | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(net_kwargs, variables)``: the Flax supernet's constructor arguments (``width``, ``num_classes``)
    and ``{"params", "batch_stats"}`` holding exactly the checkpoint's tensors.

    ``width`` None reads it off the checkpoint (1.0 when no published width fits, so the error names
    the difference); a given one must match it. Every tensor is used
    once: a missing or unexpected tensor, or one of the wrong shape, is a ValueError naming it.
    """
    sd = clean_state_dict(sd)
    width = (infer_width(sd) or 1.0) if width is None else float(width)
    check_config(sd, width)
    num_classes = int(sd["classifier.linear.weight"].shape[0])
    expected = _expected_shapes(width, num_classes)
    variables: dict[str, Any] = {"params": {}, "batch_stats": {}}
    used = set()
    for name, col, path, fn in name_map(width):
        if name not in sd:
            raise ValueError(f"checkpoint has no tensor {name!r} (an OFA MobileNetV3 supernet has one)")
        arr = fn(sd[name]) if fn is not None else sd[name]
        want = expected[(col, *path)]
        if tuple(arr.shape) != want:
            raise ValueError(f"tensor {name!r} has shape {tuple(sd[name].shape)}; the Flax supernet "
                             f"{'/'.join(path)} needs {want} after layout conversion, got {tuple(arr.shape)}")
        node = variables[col]
        for p in path[:-1]:
            node = node.setdefault(p, {})
        node[path[-1]] = arr
        used.add(name)
    extra = sorted(set(sd) - used)
    if extra:
        raise ValueError(f"checkpoint has {len(extra)} tensor(s) the OFA MobileNetV3 supernet does not: "
                         f"{', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}")
    return {"width": width, "num_classes": num_classes}, variables


def _expected_shapes(width: float, num_classes: int) -> dict[tuple[str, ...], tuple[int, ...]]:
    """Shape of every Flax supernet variable, from an abstract init (no compile, no allocation)."""
    import jax
    import jax.numpy as jnp
    from flax.traverse_util import flatten_dict

    from l2nas_jax.spaces.ofa import nets

    model = nets.make_supernet(width, num_classes)
    arch = jnp.zeros((codec.ARCH_LEN,), jnp.int32)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), arch))
    return {k: tuple(v.shape) for k, v in flatten_dict(shapes).items()}


def read_torch_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Tensors of a PyTorch checkpoint file as NumPy (needs PyTorch: ``pip install 'l2nas-jax[ofa]'``).

    Loaded with ``weights_only=True``: a file holding anything but tensors and plain containers is
    refused instead of unpickled.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint file {path} not found")
    try:
        import torch
    except ImportError:
        raise ValueError("reading a PyTorch checkpoint needs PyTorch: pip install 'l2nas-jax[ofa]' "
                         "(or any torch build, CPU is enough)") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a corrupt or foreign file
        raise ValueError(f"{path} is not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state_dict")
    return clean_state_dict(obj)


def convert_predictor_state_dict(
    sd: Mapping[str, Any], image_sizes: Iterable[int] | None = None
) -> tuple[dict[str, Any], float, tuple[int, ...]]:
    """``(mlp_params, base_acc, image_sizes)`` of an OFA ``AccuracyPredictor`` state_dict.

    OFA's predictor (``ofa/nas/accuracy_predictor/acc_predictor.py``): ``layers.{i}.0`` Linear + ReLU
    for each hidden layer, a last bias-free ``Linear(hidden, 1)``, plus the constant ``base_acc``;
    the input is :func:`~l2nas_jax.spaces.ofa.codec.predictor_features`. The returned params are
    those of :class:`l2nas_jax.envs.predictor.MLP` (``Dense_i``), the last bias zero; ``image_sizes``
    None means OFA's 128..224 step 4 and must fit the input width.
    """
    sd = clean_state_dict(sd)
    hidden = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"layers\.(\d+)\.0\.weight", k)))
    if not hidden or "base_acc" not in sd:
        raise ValueError(f"not an OFA accuracy-predictor state_dict (no layers.N.0.weight / base_acc; it has "
                         f"{', '.join(sorted(sd)[:4])}{' ...' if len(sd) > 4 else ''})")
    last = f"layers.{hidden[-1] + 1}.weight"
    if hidden != list(range(len(hidden))) or last not in sd:
        raise ValueError(f"OFA accuracy predictor with unexpected layers: hidden {hidden}, no {last!r}")
    n_in = int(sd["layers.0.0.weight"].shape[1])
    per_layer = codec.NUM_LAYERS * (len(codec.KERNELS) + len(codec.EXPANDS))
    sizes = tuple(codec.PREDICTOR_IMAGE_SIZES if image_sizes is None else (int(r) for r in image_sizes))
    if n_in != len(sizes) + per_layer:
        raise ValueError(f"the predictor's input has {n_in} features; OFA's encoding with {len(sizes)} image sizes "
                         f"{list(sizes)} has {len(sizes) + per_layer} (pass the image sizes it was trained with)")
    params = {}
    for i in hidden:
        params[f"Dense_{i}"] = {"kernel": _linear(sd[f"layers.{i}.0.weight"]), "bias": sd[f"layers.{i}.0.bias"]}
    w = sd[last]
    params[f"Dense_{len(hidden)}"] = {"kernel": _linear(w), "bias": np.zeros((w.shape[0],), np.float32)}
    used = {f"layers.{i}.0.{n}" for i in hidden for n in ("weight", "bias")} | {last, "base_acc"}
    extra = sorted(set(sd) - used)
    if extra:
        raise ValueError(f"OFA accuracy predictor has unexpected tensor(s): {', '.join(extra[:5])}")
    return params, float(np.asarray(sd["base_acc"]).reshape(-1)[0]), sizes


__all__ = [
    "PUBLISHED_WIDTHS",
    "check_config",
    "clean_state_dict",
    "convert_predictor_state_dict",
    "convert_state_dict",
    "describe_checkpoint",
    "infer_width",
    "name_map",
    "read_torch_checkpoint",
]
