"""Training a found DARTS cell from scratch: the DARTS CIFAR evaluation protocol and network.

Protocol: DARTS ``cnn/train.py`` (Liu et al., ICLR 2019): ``NetworkCIFAR`` with C=36 and 20
cells, auxiliary head (loss weight 0.4), 600 epochs, batch 96, SGD momentum 0.9, lr 0.025
cosine to 0, weight decay 3e-4, grad-norm clip 5, cutout 16, drop-path 0.2 increased linearly
over training (epoch e uses 0.2 * e / epochs, as DARTS sets ``model.drop_path_prob`` per epoch).
Parameter counts exclude the auxiliary head, as DARTS reports them.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from l2nas_jax.spaces.base import Evaluation, FixedNetPlan, NetOptions, TrainProtocol
from l2nas_jax.spaces.darts import codec, cost

CHANNELS = 36  # C of the CIFAR evaluation network
LAYERS = 20  # cells of the CIFAR evaluation network

PROTOCOL = TrainProtocol(
    source="DARTS cnn/train.py (Liu et al., ICLR 2019)",
    epochs=600, batch_size=96, lr=0.025, lr_min=0.0, momentum=0.9, nesterov=False, weight_decay=3e-4,
    grad_clip=5.0, cutout=16, aux_weight=0.4, label_smoothing=0.0, drop_path=0.2, drop_path_schedule="linear",
    dropout=0.0,
)

ABOUT = ("DARTS cnn/train.py (Liu et al., ICLR 2019): NetworkCIFAR C=36, 20 cells, auxiliary head (weight 0.4), "
         "600 epochs, batch 96, SGD momentum 0.9, lr 0.025 cosine to 0, weight decay 3e-4, grad-norm clip 5, "
         "cutout 16, drop-path 0.2 increased linearly over training (epoch e uses 0.2 * e / epochs).")


def parse(text: str) -> tuple[np.ndarray, str]:
    """``(int32[2, 8, 2] arch, canonical genotype string)`` of a genotype string or a named genotype."""
    text = text.strip()
    arch = codec.parse_genotype(codec.GENOTYPES.get(text, text))
    return arch, codec.format_genotype(arch)


def plan(arch: Any, options: NetOptions, num_classes: int) -> FixedNetPlan:
    """The CIFAR evaluation network; a linear drop-path schedule is left to the training wrapper."""
    C, layers = options.channels or CHANNELS, options.layers or LAYERS
    linear = options.drop_path_schedule == "linear" and options.drop_path > 0
    kwargs = {"channels": C, "layers": layers, "num_classes": num_classes, "auxiliary": options.auxiliary,
              "drop_path": 0.0 if linear else options.drop_path}
    config = {"network": "NetworkCIFAR", "C": C, "layers": layers, "num_classes": num_classes,
              "auxiliary": options.auxiliary, "drop_path": options.drop_path,
              "drop_path_schedule": options.drop_path_schedule if options.drop_path > 0 else "off"}
    return FixedNetPlan(kwargs=kwargs, config=config, drop_path_ramp=options.drop_path if linear else 0.0)


def counts(arch: Any, net: Mapping[str, Any], image_size: int) -> dict[str, Any]:
    """Exact params / MACs of the network from the analytic counter (auxiliary head excluded)."""
    p, m = cost.darts_cost_counts(arch, C=net["C"], layers=net["layers"], num_classes=net["num_classes"],
                                  image_size=image_size)
    return {"params": int(p), "macs": int(m), "counter": "spaces.darts.cost.darts_cost_counts (aux head excluded)"}


def check_image_size(net: Mapping[str, Any], image_size: int) -> None:
    """The auxiliary head pools an 8x8 map (its cell at 1/4 of a ~32 px input) to 2x2; smaller inputs break it."""
    if not net.get("auxiliary"):
        return
    hw = image_size // 4
    if hw < 5 or (hw - 5) // 3 + 1 != 2:
        raise ValueError(f"the DARTS CIFAR auxiliary head needs ~32 px inputs (8x8 maps at its cell); "
                         f"got {image_size} px: pass --no-auxiliary or --image-size 32")


def evaluation() -> Evaluation:
    """The DARTS :class:`~l2nas_jax.spaces.base.Evaluation` record."""
    return Evaluation(protocol=PROTOCOL, parse=parse, plan=plan, counts=counts, check_image_size=check_image_size,
                      named_archs=dict(codec.GENOTYPES), about=ABOUT)
