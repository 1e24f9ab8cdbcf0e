"""Training a found NB201 cell from scratch: the NAS-Bench-201 200-epoch protocol and network.

Protocol: NAS-Bench-201 ``configs/nas-benchmark/hyper-opts/200E.config`` (Dong & Yang, ICLR
2020): ``TinyNetwork`` C=16, N=5, 200 epochs, batch 256, SGD Nesterov 0.9, lr 0.1 cosine to 0,
weight decay 5e-4, random crop + flip, no cutout. The benchmark table's 200-epoch test accuracy
of the cell is the reference a from-scratch run is compared with.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from l2nas_jax.spaces.base import Evaluation, FixedNetPlan, NetOptions, TrainProtocol, require_no_drop_path
from l2nas_jax.spaces.nb201 import codec, cost
from l2nas_jax.spaces.nb201.table import EMBEDDED_SOURCE, load_table

CHANNELS = cost.CHANNELS[0]  # C of the benchmark's TinyNetwork
CELLS_PER_STAGE = cost.CELLS_PER_STAGE  # N

PROTOCOL = TrainProtocol(
    source="NAS-Bench-201 hyper-opts/200E.config (Dong & Yang, ICLR 2020)",
    epochs=200, batch_size=256, lr=0.1, lr_min=0.0, momentum=0.9, nesterov=True, weight_decay=5e-4,
    grad_clip=0.0, cutout=0, aux_weight=0.0, label_smoothing=0.0, drop_path=0.0, drop_path_schedule="constant",
    dropout=0.0,
)

ABOUT = ("NAS-Bench-201 hyper-opts/200E.config (Dong & Yang, ICLR 2020): TinyNetwork C=16, N=5, 200 epochs, "
         "batch 256, SGD Nesterov 0.9, lr 0.1 cosine to 0, weight decay 5e-4, random crop + flip, no cutout; "
         "evaluate.json adds the benchmark table's 200-epoch test accuracy of the cell for comparison.")


def parse(text: str) -> tuple[np.ndarray, str]:
    """``(int32[6] op ids, canonical arch string)`` of an NB201 arch string ``|op~0|+|...|``."""
    arch = codec.parse_arch(text.strip())
    return arch, codec.format_arch(arch)


def plan(arch: Any, options: NetOptions, num_classes: int) -> FixedNetPlan:
    """The benchmark's cell network (sizes overridable for tiny runs)."""
    require_no_drop_path("nb201", options)
    C, N = options.channels or CHANNELS, options.layers or CELLS_PER_STAGE
    return FixedNetPlan(kwargs={"channels": C, "layers": N, "num_classes": num_classes},
                        config={"network": "TinyNetwork", "C": C, "N": N, "num_classes": num_classes})


def counts(arch: Any, net: Mapping[str, Any], image_size: int) -> dict[str, Any]:
    """Exact params / conv+linear MACs of the benchmark network (other sizes: a note, no numbers).

    :func:`~l2nas_jax.spaces.nb201.cost.nb201_cost` returns float32 millions (about +-10 FLOPs of
    rounding at 1.8e8); this is the same closed form in exact integers, from its per-part counts,
    checked against it. AutoDL FLOPs = conv/linear MACs + one add per classifier output (its bias).
    """
    key = {(10, 32): "cifar10", (100, 32): "cifar100", (120, 16): "imagenet16-120"}.get(
        (net["num_classes"], image_size))
    if (net["C"], net["N"]) != (CHANNELS, CELLS_PER_STAGE) or key is None:
        return {"params": None, "macs": None,
                "note": "nb201_cost covers the benchmark's TinyNetwork(C=16, N=5) on its datasets only"}
    ops = np.asarray(arch)
    n3, n1 = int(np.sum(ops == cost._CONV3)), int(np.sum(ops == cost._CONV1))
    (p0, f0), (p3, f3), (p1, f1) = cost._fixed_cost(key), cost._edge_cost(3, key), cost._edge_cost(1, key)
    params, flops = p0 + p3 * n3 + p1 * n1, f0 + f3 * n3 + f1 * n1
    check_p, check_f = cost.nb201_cost(ops, key)
    if abs(float(check_p) * 1e6 - params) >= 1 or abs(float(check_f) * 1e6 - flops) >= 64:
        raise RuntimeError(f"exact NB201 counts ({params}, {flops}) disagree with nb201_cost ({check_p}M, {check_f}M)")
    return {"params": params, "macs": flops - net["num_classes"], "flops_autodl": flops,
            "counter": f"spaces.nb201.cost.nb201_cost({key!r})"}


def reference(arch: Any, dataset: str, net: Mapping[str, Any]) -> dict[str, Any] | None:
    """The embedded table's 200-epoch mean test accuracy of the cell (benchmark network and CIFAR only)."""
    if dataset not in ("cifar10", "cifar100") or (net["C"], net["N"]) != (CHANNELS, CELLS_PER_STAGE):
        return None
    acc = float(load_table(None).by_code(dataset, "test")[int(codec.ops_to_code(arch))])
    return {"nb201_table_test_acc_pct": acc, "source": EMBEDDED_SOURCE}


def evaluation() -> Evaluation:
    """The NB201 :class:`~l2nas_jax.spaces.base.Evaluation` record."""
    return Evaluation(protocol=PROTOCOL, parse=parse, plan=plan, counts=counts, reference=reference, about=ABOUT)
