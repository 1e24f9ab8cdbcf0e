"""Training a found OFA subnet from scratch: OFA's ImageNet run-config recipe at the subnet's resolution.

The subnet is trained alone on the given dataset at its resolution r: images are augmented at
their own size (32 px for CIFAR), then resized bilinearly to r on the device. Recipe: OFA's
``ImagenetRunConfig`` defaults (``mit-han-lab/once-for-all``,
``ofa/imagenet_classification/run_manager/run_config.py``): 150 epochs, batch 256, SGD Nesterov
0.9, lr 0.05 cosine to 0, weight decay 4e-5, label smoothing 0.1, dropout 0.1 before the
classifier, random crop + flip, no cutout. (OFA itself fine-tunes subnets extracted from the
trained supernet; training the architecture alone is what a fair comparison needs.)
"""

from __future__ import annotations

from typing import Any, Mapping

from l2nas_jax.spaces.base import Evaluation, FixedNetPlan, NetOptions, TrainProtocol, require_no_drop_path
from l2nas_jax.spaces.ofa import codec, cost

MIN_RESOLUTION = 32  # five stride-2 stages

PROTOCOL = TrainProtocol(
    source="OFA ImagenetRunConfig defaults (Cai et al., ICLR 2020), subnet trained from scratch",
    epochs=150, batch_size=256, lr=0.05, lr_min=0.0, momentum=0.9, nesterov=True, weight_decay=4e-5,
    grad_clip=0.0, cutout=0, aux_weight=0.0, label_smoothing=0.1, drop_path=0.0, drop_path_schedule="constant",
    dropout=0.1,
)

ABOUT = ("a subnet trained from scratch at its resolution r (images augmented at their size, then resized "
         "bilinearly to r on the device); OFA ImagenetRunConfig defaults (Cai et al., ICLR 2020): 150 epochs, "
         "batch 256, SGD Nesterov 0.9, lr 0.05 cosine to 0, weight decay 4e-5, label smoothing 0.1, dropout 0.1 "
         "before the classifier, random crop + flip, no cutout.")


def parse(text: str) -> tuple[codec.SubnetConfig, str]:
    """``(canonical SubnetConfig, subnet string)`` of a subnet string or OFA's JSON ``{"ks", "e", "d", "r"}``.

    Any resolution is accepted (the search space's arch ids cover only :data:`~.codec.RESOLUTIONS`).
    """
    cfg = codec.as_config(text.strip()).canonical()
    return cfg, codec.format_subnet(cfg)


def plan(arch: Any, options: NetOptions, num_classes: int) -> FixedNetPlan:
    """The MobileNetV3 subnet at ``options.resolution`` (default: the subnet's own r)."""
    require_no_drop_path("ofa", options)
    if options.channels is not None or options.layers is not None:
        raise ValueError("--channels/--layers do not apply to OFA (use --width or --base-widths)")
    r = int(options.resolution or codec.as_config(arch).r)
    if r < MIN_RESOLUTION:
        raise ValueError(f"--resolution must be >= {MIN_RESOLUTION} for OFA (5 stride-2 stages), got {r}")
    kwargs = {"num_classes": num_classes, "width": options.width, "base_widths": options.base_widths,
              "dropout_rate": options.dropout}
    config = {"network": "OFAMobileNetV3", "width": options.width, "num_classes": num_classes,
              "base_widths": None if options.base_widths is None else list(options.base_widths),
              "resolution": r, "dropout": options.dropout}
    return FixedNetPlan(kwargs=kwargs, config=config, resolution=r)


def counts(arch: Any, net: Mapping[str, Any], image_size: int) -> dict[str, Any]:
    """Params / MACs from OFA's counting convention, at the network's resolution, rounded to integers."""
    bw = net["base_widths"]
    widths = cost.stage_widths(net["width"], bw)
    p, m = cost.network_cost(cost.config_layer_list(codec.as_config(arch), net["width"], bw), net["resolution"],
                             widths=widths, num_classes=net["num_classes"])
    return {"params": int(round(p * 1e6)), "macs": int(round(m * 1e6)),
            "counter": "spaces.ofa.cost.network_cost (OFA convention)"}


def evaluation() -> Evaluation:
    """The OFA :class:`~l2nas_jax.spaces.base.Evaluation` record."""
    return Evaluation(protocol=PROTOCOL, parse=parse, plan=plan, counts=counts, about=ABOUT)
