"""Train a found architecture from scratch: DARTS evaluation network, NB201 cell network, OFA subnet.

The last step of a search: the architecture string written by ``l2nas search`` (or a named
genotype, or one typed by hand) is built as a FIXED network (``l2nas_jax.spaces.<space>.nets.make_network``)
and trained with the same machinery as the supernets (``l2nas_jax.supernet.train.fit``: one
jitted, data-parallel step over all devices, orbax checkpoints and exact resume, per-epoch
metrics.jsonl, progress bars), under the space's standard protocol unless flags override it.

Examples::

    # the DARTS-V2 cell, DARTS CIFAR-10 protocol (600 epochs; CIFAR prepared offline with tfds)
    python train/evaluate.py --space darts --genotype DARTS_V2 --dataset cifar10 --data-dir DIR --out runs/eval_v2
    # the best architecture of a search (results.json of `l2nas search`: best run's best_arch)
    python train/evaluate.py --space nb201 --genotype runs/search/results.json --dataset cifar10 --out runs/eval_nb201
    # an OFA subnet (string, JSON config or file) at its own resolution (CIFAR images resized to r)
    python train/evaluate.py --space ofa --genotype subnet.json --dataset cifar10 --out runs/eval_ofa
    # look only: resolve the genotype, count params/MACs, write evaluate.json, no training
    python train/evaluate.py --space darts --genotype DARTS_V2 --dry-run --out /tmp/v2
    # quick CPU demo on generated data, tiny net
    python train/evaluate.py --space darts --genotype DARTS_V2 --dataset synthetic --channels 4 --layers 3 \\
        --epochs 2 --batch-size 16 --fast-compile --out /tmp/darts_demo
    # continue a killed run from its last checkpoint (same seed => same final weights)
    python train/evaluate.py ... --out runs/eval_v2 --resume

``--genotype`` accepts: the architecture string of the space (DARTS ``Genotype(normal=[...], ...)``,
NB201 ``|op~0|+|...|``, OFA ``r224 d=... | k3e4 ...`` or OFA's JSON ``{"ks", "e", "d", "r"}``), a
named DARTS genotype (DARTS_V2, DARTS_V1, PC_DARTS_cifar, PDARTS, GDAS_V1), a file holding any of
these, an ``l2nas search`` results.json (the best architecture of the run with the best reported
metric), or an evaluate.json written by this script.

Protocols (every value can be overridden by its flag; ``--help`` lists them):

* darts -- DARTS ``cnn/train.py`` (Liu et al., ICLR 2019; SPACES.md section 2): ``NetworkCIFAR``
  C=36, 20 cells, auxiliary head (weight 0.4), 600 epochs, batch 96, SGD momentum 0.9, lr 0.025
  cosine to 0, weight decay 3e-4, grad-norm clip 5, cutout 16, drop-path 0.2 increased linearly
  over training (epoch e uses 0.2 * e / epochs, as DARTS sets ``model.drop_path_prob`` per epoch).
* nb201 -- NAS-Bench-201 ``configs/nas-benchmark/hyper-opts/200E.config`` (Dong & Yang, ICLR 2020):
  ``TinyNetwork`` C=16, N=5, 200 epochs, batch 256, SGD Nesterov 0.9, lr 0.1 cosine to 0, weight
  decay 5e-4, random crop + flip, no cutout; evaluate.json adds the benchmark table's 200-epoch
  test accuracy of the cell for comparison.
* ofa -- a subnet trained from scratch on the given dataset at its resolution r (CIFAR images are
  augmented at 32 px, then resized bilinearly to r on the device); recipe = OFA's
  ``ImagenetRunConfig`` defaults (``mit-han-lab/once-for-all``
  ``ofa/imagenet_classification/run_manager/run_config.py``): 150 epochs, batch 256, SGD Nesterov
  0.9, lr 0.05 cosine to 0, weight decay 4e-5, label smoothing 0.1, dropout 0.1 before the
  classifier, random crop + flip, no cutout. (OFA itself fine-tunes subnets extracted from the
  trained supernet; this trains the architecture alone, which is what a fair comparison needs.)

The schedule is cosine per step (DARTS/NB201 anneal per epoch: the curves differ by < 1 step's
worth). On CIFAR the whole training split trains the weights (``--heldout 0``, the standard
protocol) and the test split is reported; ``--heldout N`` keeps N training images apart.

Writes to --out: metrics.jsonl (one record per epoch: loss, accuracy, lr, images/s, test / held-out
accuracy every --eval-every epochs), checkpoints/ (orbax, last few kept), run.json (what a resume
must match), arch.txt (the canonical architecture string) and evaluate.json (space, arch,
where it came from, params/MACs from the analytic counter AND from the instantiated network, the
protocol and train config, seed, final accuracies, provenance).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

DESCRIPTION = __doc__
SPACES = ("darts", "nb201", "ofa")
DATASETS = ("cifar10", "cifar100", "synthetic")
RUN_FILE = "run.json"
ARCH_FILE = "arch.txt"
RESULT_FILE = "evaluate.json"

#: Standard training protocol of each space (sources in the module docstring). Keys are the
#: TrainConfig fields plus the network-side ``drop_path`` (DARTS) and ``dropout`` (OFA).
PROTOCOLS: dict[str, dict[str, Any]] = {
    "darts": {
        "source": "DARTS cnn/train.py (Liu et al., ICLR 2019)",
        "epochs": 600, "batch_size": 96, "lr": 0.025, "lr_min": 0.0, "momentum": 0.9, "nesterov": False,
        "weight_decay": 3e-4, "grad_clip": 5.0, "cutout": 16, "aux_weight": 0.4, "label_smoothing": 0.0,
        "drop_path": 0.2, "drop_path_schedule": "linear", "dropout": 0.0,
    },
    "nb201": {
        "source": "NAS-Bench-201 hyper-opts/200E.config (Dong & Yang, ICLR 2020)",
        "epochs": 200, "batch_size": 256, "lr": 0.1, "lr_min": 0.0, "momentum": 0.9, "nesterov": True,
        "weight_decay": 5e-4, "grad_clip": 0.0, "cutout": 0, "aux_weight": 0.0, "label_smoothing": 0.0,
        "drop_path": 0.0, "drop_path_schedule": "constant", "dropout": 0.0,
    },
    "ofa": {
        "source": "OFA ImagenetRunConfig defaults (Cai et al., ICLR 2020), subnet trained from scratch",
        "epochs": 150, "batch_size": 256, "lr": 0.05, "lr_min": 0.0, "momentum": 0.9, "nesterov": True,
        "weight_decay": 4e-5, "grad_clip": 0.0, "cutout": 0, "aux_weight": 0.0, "label_smoothing": 0.1,
        "drop_path": 0.0, "drop_path_schedule": "constant", "dropout": 0.1,
    },
}
_TRAIN_KEYS = ("epochs", "batch_size", "lr", "lr_min", "momentum", "nesterov", "weight_decay", "grad_clip",
               "cutout", "aux_weight", "label_smoothing")
_NET_KEYS = ("drop_path", "drop_path_schedule", "dropout")


# ----------------------------------------------------------------------------------------- the network


class EvalNetwork(nn.Module):
    """A fixed network + what its training protocol needs around it, without changing its parameters.

    * ``resolution``: inputs are resized (bilinear) to ``resolution`` x ``resolution`` first (an
      OFA subnet's r; augmentation happens before, at the dataset's size).
    * ``drop_path`` > 0: DARTS' linearly increased drop-path. The rate of epoch ``e`` (0-based) is
      ``drop_path * e / epochs``; the step counter lives in the ``batch_stats`` collection
      (``drop_path_step``), so it is checkpointed with the state and a resumed run uses the rates
      an uninterrupted one would. The wrapped net gets it as its ``drop_path_rate`` call argument.

    The wrapped net shares this module's scope (``nn.share_scope``): parameter paths are the net's
    own (``params/cell0/...``), so checkpoints and counts are those of the bare network.
    """

    net: nn.Module
    resolution: int | None = None
    drop_path: float = 0.0
    steps_per_epoch: int = 1
    epochs: int = 1

    def setup(self) -> None:
        nn.share_scope(self, self.net)
        if self.drop_path > 0:
            self.drop_path_step = self.variable("batch_stats", "drop_path_step", lambda: jnp.zeros((), jnp.int32))

    def __call__(self, x: jax.Array, train: bool = False) -> Any:
        r = self.resolution
        if r is not None and tuple(x.shape[1:3]) != (r, r):
            x = jax.image.resize(x, (x.shape[0], r, r, x.shape[3]), method="bilinear")
        if self.drop_path <= 0:
            return self.net(x, train=train)
        epoch = self.drop_path_step.value // self.steps_per_epoch
        rate = self.drop_path * epoch.astype(jnp.float32) / self.epochs
        if train and not self.is_initializing():
            self.drop_path_step.value = self.drop_path_step.value + 1
        return self.net(x, train=train, drop_path_rate=rate)


@dataclasses.dataclass(frozen=True)
class NetOptions:
    """Size and regularisation of the network to build (``None`` = the space's standard value)."""

    channels: int | None = None  # DARTS C / NB201 C
    layers: int | None = None  # DARTS total cells / NB201 cells per stage (N)
    auxiliary: bool = True  # DARTS auxiliary head
    width: float = 1.0  # OFA width multiplier (1.0 or 1.2 nets)
    base_widths: tuple[int, ...] | None = None  # OFA stage widths override (tiny CPU nets)
    resolution: int | None = None  # OFA: input resolution (default: the subnet's r)
    drop_path: float = 0.0
    drop_path_schedule: str = "constant"  # "linear" (DARTS) or "constant"
    dropout: float = 0.0  # OFA dropout before the classifier


def build_model(space: str, arch: Any, *, num_classes: int, options: NetOptions, steps_per_epoch: int = 1,
                epochs: int = 1) -> tuple[Any, dict[str, Any]]:
    """``(EvalNetwork, net config dict)`` of the fixed network of ``arch`` (parsed, see :func:`parse_arch`)."""
    if options.drop_path_schedule not in ("linear", "constant"):
        raise ValueError(f"--drop-path-schedule must be linear or constant, got {options.drop_path_schedule!r}")
    if not 0.0 <= options.drop_path < 1.0:
        raise ValueError(f"--drop-path must lie in [0, 1), got {options.drop_path}")
    if not 0.0 <= options.dropout < 1.0:
        raise ValueError(f"--dropout must lie in [0, 1), got {options.dropout}")
    wrapper = EvalNetwork
    if space == "darts":
        from l2nas_jax.spaces.darts import nets as nets

        C, layers = options.channels or 36, options.layers or 20
        linear = options.drop_path_schedule == "linear" and options.drop_path > 0
        net = nets.make_network(arch, C=C, layers=layers, num_classes=num_classes, auxiliary=options.auxiliary,
                                drop_path=0.0 if linear else options.drop_path)
        cfg = {"network": "NetworkCIFAR", "C": C, "layers": layers, "num_classes": num_classes,
               "auxiliary": options.auxiliary, "drop_path": options.drop_path,
               "drop_path_schedule": options.drop_path_schedule if options.drop_path > 0 else "off"}
        model = wrapper(net, None, options.drop_path if linear else 0.0, max(int(steps_per_epoch), 1),
                        max(int(epochs), 1))
        return model, cfg
    if options.drop_path > 0:
        raise ValueError(f"--drop-path is a DARTS option; the {space} network has no drop-path")
    if space == "nb201":
        from l2nas_jax.spaces.nb201 import nets as nets

        C, N = options.channels or 16, options.layers or 5
        net = nets.make_network(arch, C=C, N=N, num_classes=num_classes)
        return wrapper(net), {"network": "TinyNetwork", "C": C, "N": N, "num_classes": num_classes}
    if space == "ofa":
        from l2nas_jax.spaces.ofa import nets as nets

        if options.channels is not None or options.layers is not None:
            raise ValueError("--channels/--layers do not apply to OFA (use --width or --base-widths)")
        r = int(options.resolution or arch.r)
        if r < 32:
            raise ValueError(f"--resolution must be >= 32 for OFA (5 stride-2 stages), got {r}")
        net = nets.make_network(arch, width=options.width, num_classes=num_classes, base_widths=options.base_widths,
                                dropout_rate=options.dropout)
        cfg = {"network": "OFAMobileNetV3", "width": options.width, "num_classes": num_classes,
               "base_widths": None if options.base_widths is None else list(options.base_widths),
               "resolution": r, "dropout": options.dropout}
        return wrapper(net, r), cfg
    raise ValueError(f"unknown space {space!r}; valid: {', '.join(SPACES)}")


def init_variables_shape(model: Any, image_size: int) -> Any:
    """Abstract (shape-only) variables of ``model`` for one image of ``image_size`` px: no compile, no FLOPs."""
    x = jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.float32)
    rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
    return jax.eval_shape(lambda inp: model.init(rngs, inp, train=False), x)


def model_counts(model: Any, image_size: int) -> dict[str, int]:
    """Params and conv+linear MACs of the INSTANTIATED network (abstract evaluation, nothing compiled).

    ``params`` excludes the DARTS auxiliary head (DARTS' own count), ``params_total`` includes it.
    MACs are counted by intercepting every ``nn.Conv`` / ``nn.Dense`` call of an inference pass:
    ``k_h*k_w*C_in/groups*C_out*H_out*W_out`` and ``in*out`` (the aux head does not run at inference).
    """
    import numpy as np

    variables = init_variables_shape(model, image_size)
    sizes = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(variables["params"])[0]:
        sizes[jax.tree_util.keystr(path)] = int(np.prod(leaf.shape))
    total = sum(sizes.values())
    aux = sum(v for k, v in sizes.items() if "auxiliary_head" in k)
    macs = [0]

    def count(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        mdl = context.module
        if context.method_name == "__call__" and isinstance(mdl, nn.Conv):
            k = int(np.prod(mdl.kernel_size))
            c_in = int(args[0].shape[-1])
            macs[0] += k * c_in // mdl.feature_group_count * int(np.prod(out.shape[1:]))
        elif context.method_name == "__call__" and isinstance(mdl, nn.Dense):
            macs[0] += int(args[0].shape[-1]) * int(mdl.features)
        return out

    def forward(v, x):
        with nn.intercept_methods(count):
            return model.apply(v, x, train=False)

    jax.eval_shape(forward, variables, jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.float32))
    return {"params": total - aux, "params_total": total, "macs": macs[0]}


def analytic_counts(space: str, arch: Any, net_cfg: Mapping[str, Any], image_size: int) -> dict[str, Any]:
    """Params / MACs from the space's analytic counter (``envs/*_cost.py``), or a note why there is none."""
    if space == "darts":
        from l2nas_jax.spaces.darts.cost import darts_cost_counts

        p, m = darts_cost_counts(arch, C=net_cfg["C"], layers=net_cfg["layers"], num_classes=net_cfg["num_classes"],
                                 image_size=image_size)
        return {"params": int(p), "macs": int(m), "counter": "envs.darts_cost.darts_cost_counts (aux head excluded)"}
    if space == "nb201":
        import numpy as np

        from l2nas_jax.spaces.nb201 import cost as nb201_cost_lib

        key = {(10, 32): "cifar10", (100, 32): "cifar100", (120, 16): "imagenet16-120"}.get(
            (net_cfg["num_classes"], image_size))
        if (net_cfg["C"], net_cfg["N"]) != (16, 5) or key is None:
            return {"params": None, "macs": None,
                    "note": "nb201_cost covers the benchmark's TinyNetwork(C=16, N=5) on its datasets only"}
        # nb201_cost returns float32 millions (about +-10 FLOPs of rounding at 1.8e8); the same
        # closed form in exact integers, from its per-part counts:
        ops = np.asarray(arch)
        n3, n1 = int(np.sum(ops == nb201_cost_lib._CONV3)), int(np.sum(ops == nb201_cost_lib._CONV1))
        (p0, f0), (p3, f3), (p1, f1) = (nb201_cost_lib._fixed_cost(key), nb201_cost_lib._edge_cost(3, key),
                                        nb201_cost_lib._edge_cost(1, key))
        params, flops = p0 + p3 * n3 + p1 * n1, f0 + f3 * n3 + f1 * n1
        check_p, check_f = nb201_cost_lib.nb201_cost(ops, key)
        if abs(float(check_p) * 1e6 - params) >= 1 or abs(float(check_f) * 1e6 - flops) >= 64:
            raise RuntimeError(f"exact NB201 counts ({params}, {flops}) disagree with nb201_cost ({check_p}M, {check_f}M)")
        # AutoDL FLOPs = conv/linear MACs + one add per classifier output (its bias).
        return {"params": params, "macs": flops - net_cfg["num_classes"], "flops_autodl": flops,
                "counter": f"envs.nb201_cost.nb201_cost({key!r})"}
    if space == "ofa":
        from l2nas_jax.spaces.ofa import cost as ofa_cost

        bw = net_cfg["base_widths"]
        widths = ofa_cost.stage_widths(net_cfg["width"], bw)
        p, m = ofa_cost.network_cost(ofa_cost.config_layer_list(arch, net_cfg["width"], bw), net_cfg["resolution"],
                                     widths=widths, num_classes=net_cfg["num_classes"])
        return {"params": int(round(p * 1e6)), "macs": int(round(m * 1e6)),
                "counter": "envs.ofa_cost.network_cost (OFA convention)"}
    raise ValueError(f"unknown space {space!r}")


# ----------------------------------------------------------------------------------------- the genotype


def parse_arch(space: str, text: str) -> tuple[Any, str]:
    """``(arch object for make_network, canonical string)`` of an architecture string of ``space``.

    DARTS: ``int32[2, 8, 2]`` from a genotype string or a named genotype; NB201: ``int32[6]``;
    OFA: a ``SubnetConfig`` (subnet string or OFA JSON dict). ValueError names what is wrong.
    """
    text = text.strip()
    if not text:
        raise ValueError("--genotype is empty")
    if space == "darts":
        from l2nas_jax.spaces.darts import codec as codec

        arch = codec.parse_genotype(codec.GENOTYPES.get(text, text))
        return arch, codec.format_genotype(arch)
    if space == "nb201":
        from l2nas_jax.spaces.nb201 import codec as codec

        arch = codec.parse_arch(text)
        return arch, codec.format_arch(arch)
    if space == "ofa":
        from l2nas_jax.spaces.ofa import codec as codec

        cfg = codec.as_config(text).canonical()
        return cfg, codec.format_subnet(cfg)
    raise ValueError(f"unknown space {space!r}; valid: {', '.join(SPACES)}")


def _best_run(obj: Mapping[str, Any], space: str, where: str) -> tuple[str, dict[str, Any]]:
    """The best architecture of an ``l2nas search`` results.json (run with the highest best_report)."""
    found = obj.get("space")
    if found is not None and found != space:
        raise ValueError(f"{where} holds a {found!r} search, not {space!r}; pass --space {found}")
    runs = [r for r in obj.get("runs", []) if isinstance(r, Mapping) and r.get("best_arch")]
    if not runs:
        raise ValueError(f"{where} has no run with a best_arch (every run infeasible?)")

    def score(r: Mapping[str, Any]) -> float:
        v = r.get("best_report")
        return -math.inf if v is None else float(v)

    best = max(runs, key=score)  # first of equals: the lowest run index
    info = {"kind": "results.json", "path": where, "run": best.get("run"), "best_report": best.get("best_report"),
            "method": obj.get("method"), "search_dataset": obj.get("dataset"),
            "report_metric": obj.get("report_metric"), "num_runs": len(obj.get("runs", []))}
    return str(best["best_arch"]), info


def resolve_genotype(space: str, value: str) -> tuple[Any, str, dict[str, Any]]:
    """``(arch, canonical string, source info)`` from a ``--genotype`` value (see the module docstring)."""
    if value is None or not str(value).strip():
        raise ValueError("--genotype is empty")
    value = str(value)
    source: dict[str, Any] = {"kind": "string"}
    text = value
    path = Path(value.strip()).expanduser()
    looks_like_path = value.strip().endswith((".json", ".txt")) or os.sep in value.strip()
    is_file = False
    try:
        is_file = len(value) < 4096 and path.is_file()
    except OSError:
        pass
    if is_file:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"--genotype: cannot read {path}: {e}") from None
        source = {"kind": "file", "path": str(path)}
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                obj = json.loads(stripped)
            except json.JSONDecodeError as e:
                raise ValueError(f"--genotype: {path} is not valid JSON: {e}") from None
            if isinstance(obj, Mapping) and "runs" in obj:
                text, source = _best_run(obj, space, str(path))
            elif isinstance(obj, Mapping) and isinstance(obj.get("arch"), str):  # an evaluate.json
                if obj.get("space") not in (None, space):
                    raise ValueError(f"--genotype: {path} is a {obj['space']!r} architecture, not {space!r}")
                text, source = obj["arch"], {"kind": "evaluate.json", "path": str(path)}
            elif not (space == "ofa" and isinstance(obj, Mapping)):
                raise ValueError(f"--genotype: {path} is JSON but neither an l2nas search results.json "
                                 "(with 'runs'), an evaluate.json (with 'arch') nor an OFA config")
    elif looks_like_path:
        raise ValueError(f"--genotype: no such file {value.strip()!r}")
    elif space == "darts":
        from l2nas_jax.spaces.darts.codec import GENOTYPES

        if value.strip() in GENOTYPES:
            source = {"kind": "named", "name": value.strip()}
    try:
        arch, canonical = parse_arch(space, text)
    except ValueError as e:
        shown = text.strip() if len(text.strip()) <= 120 else text.strip()[:117] + "..."
        raise ValueError(f"--genotype is not a valid {space} architecture ({e}); got {shown!r}") from None
    return arch, canonical, source


# ----------------------------------------------------------------------------------------- CLI


def _heldout(value: str) -> int | float:
    """``--heldout``: an integer count or a fraction in [0, 1)."""
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or a fraction, got {value!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return v if 0 < v < 1 else int(v)


def _widths(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train/evaluate.py", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", required=True, choices=SPACES)
    p.add_argument("--genotype", required=True,
                   help="architecture string, named DARTS genotype, file, l2nas search results.json or evaluate.json")
    p.add_argument("--dataset", default="cifar10", choices=DATASETS)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--data-dir", default=None, help="tensorflow-datasets data dir holding the prepared dataset")
    p.add_argument("--heldout", type=_heldout, default=None,
                   help="training images kept apart (count or fraction); default 0 for CIFAR, 0.25 synthetic")
    p.add_argument("--synthetic-size", type=int, default=512, help="examples in the generated dataset")
    p.add_argument("--image-size", type=int, default=32, help="image size of the generated dataset")
    g = p.add_argument_group("protocol (default: the space's standard protocol, see above)")
    g.add_argument("--epochs", type=int, default=None)
    g.add_argument("--batch-size", type=int, default=None, help="global batch, split over devices")
    g.add_argument("--lr", type=float, default=None, help="peak learning rate (cosine-annealed per step)")
    g.add_argument("--lr-min", type=float, default=None)
    g.add_argument("--momentum", type=float, default=None)
    g.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--weight-decay", type=float, default=None)
    g.add_argument("--grad-clip", type=float, default=None, help="global-norm clip, 0 = off")
    g.add_argument("--cutout", type=int, default=None, help="cutout size, 0 = off")
    g.add_argument("--aux-weight", type=float, default=None, help="DARTS auxiliary loss weight")
    g.add_argument("--label-smoothing", type=float, default=None)
    g.add_argument("--drop-path", type=float, default=None, help="DARTS drop-path probability (final value)")
    g.add_argument("--drop-path-schedule", choices=("linear", "constant"), default=None,
                   help="linear: epoch e uses drop_path*e/epochs (DARTS); constant: always drop_path")
    g.add_argument("--dropout", type=float, default=None, help="OFA dropout before the classifier")
    n = p.add_argument_group("network size")
    n.add_argument("--channels", type=int, default=None, help="DARTS/NB201 initial channels C (36 / 16)")
    n.add_argument("--layers", type=int, default=None, help="DARTS total cells (20) / NB201 cells per stage N (5)")
    n.add_argument("--auxiliary", action=argparse.BooleanOptionalAction, default=True,
                   help="DARTS auxiliary head (default on; needs 32 px inputs)")
    n.add_argument("--width", type=float, default=1.0, help="OFA width multiplier (1.0 or 1.2)")
    n.add_argument("--base-widths", type=_widths, default=None, help="OFA: 9 stage widths (tiny CPU nets)")
    n.add_argument("--resolution", type=int, default=None, help="OFA input resolution (default: the subnet's r)")
    r = p.add_argument_group("run")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--max-steps", type=int, default=None,
                   help="stop after this global step without finishing (time-boxed run / kill simulation)")
    r.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    r.add_argument("--checkpoint-every", type=int, default=1, help="epochs between checkpoints (default 1)")
    r.add_argument("--keep-checkpoints", type=int, default=3)
    r.add_argument("--eval-every", type=int, default=1, help="epochs between test/held-out evaluations (0 = end only)")
    r.add_argument("--eval-batch-size", type=int, default=256)
    r.add_argument("--dry-run", action="store_true",
                   help="resolve the genotype, count params/MACs, write arch.txt + evaluate.json; no data, no training")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--fast-compile", action="store_true",
                   help="CPU: compile ~10x faster, run slower (tests and small demos)")
    r.add_argument("--distributed", action="store_true", help="multi-host: call jax.distributed.initialize()")
    r.add_argument("--coordinator", default=None, help="HOST:PORT of process 0 (with --distributed)")
    r.add_argument("--num-processes", type=int, default=None)
    r.add_argument("--process-id", type=int, default=None)
    return p


def protocol_values(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(values, overrides)``: the space's protocol with the flags given on the command line applied."""
    values = {k: v for k, v in PROTOCOLS[args.space].items() if k != "source"}
    overrides = {k: getattr(args, k) for k in values if getattr(args, k, None) is not None}
    values.update(overrides)
    return values, overrides


def _check_args(args: argparse.Namespace) -> None:
    for name in ("synthetic_size", "image_size", "keep_checkpoints", "eval_batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    for name in ("checkpoint_every", "eval_every"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    for name in ("channels", "layers", "epochs", "batch_size", "max_steps"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {v}")


def _load_data(args: argparse.Namespace):
    from l2nas_jax.supernet import data

    if args.dataset == "synthetic":
        heldout = 0.25 if args.heldout is None else args.heldout
        return data.synthetic_dataset(seed=args.seed, n=args.synthetic_size, image_size=args.image_size,
                                      num_classes=10, heldout=heldout)
    return data.load_tfds(args.dataset, args.data_dir, heldout=0 if args.heldout is None else args.heldout,
                          seed=args.seed)


def _nb201_reference(arch: Any, dataset: str, net_cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """The NB201 table's 200-epoch mean test accuracy of the cell (standard net and dataset only)."""
    if dataset not in ("cifar10", "cifar100") or (net_cfg["C"], net_cfg["N"]) != (16, 5):
        return None
    from l2nas_jax.spaces.nb201.codec import ops_to_code
    from l2nas_jax.spaces.nb201.table import EMBEDDED_SOURCE, load_table

    acc = float(load_table(None).by_code(dataset, "test")[int(ops_to_code(arch))])
    return {"nb201_table_test_acc_pct": acc, "source": EMBEDDED_SOURCE}


def _check_run_file(out: Path, run_info: Mapping[str, Any], resume: bool) -> None:
    """A resume must continue the same architecture, network and protocol."""
    path = out / RUN_FILE
    if resume and path.exists():
        old = json.loads(path.read_text())
        for key in ("space", "arch", "net", "train_config", "dataset"):
            if old.get(key) != json.loads(json.dumps(run_info.get(key))):
                raise ValueError(f"cannot resume: {path} has a different {key} "
                                 f"({json.dumps(old.get(key))[:200]} vs {json.dumps(run_info.get(key))[:200]})")


def train_and_evaluate(args: argparse.Namespace) -> tuple[dict[str, Any], Any, Any]:
    """Run as ``args`` say; return ``(summary written to evaluate.json, FitResult or None, model)``."""
    if args.distributed:
        from l2nas_jax.supernet.sharding import initialize_distributed

        initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    from l2nas_jax.core import io
    from l2nas_jax.core.provenance import provenance

    _check_args(args)
    arch, arch_string, source = resolve_genotype(args.space, args.genotype)
    values, overrides = protocol_values(args)
    options = NetOptions(channels=args.channels, layers=args.layers, auxiliary=args.auxiliary, width=args.width,
                         base_widths=args.base_widths, resolution=args.resolution, drop_path=values["drop_path"],
                         drop_path_schedule=values["drop_path_schedule"], dropout=values["dropout"])
    out = Path(args.out)
    chief = jax.process_index() == 0
    command = " ".join(["python", "train/evaluate.py", *sys.argv[1:]])

    if args.dry_run:
        num_classes = 100 if args.dataset == "cifar100" else 10
        image_size = args.image_size if args.dataset == "synthetic" else 32
        model, net_cfg = build_model(args.space, arch, num_classes=num_classes, options=options)
        summary = {"space": args.space, "arch": arch_string, "arch_source": source, "net": net_cfg,
                   "image_size": image_size, "cost": _costs(args.space, arch, model, net_cfg, image_size),
                   "protocol": {"source": PROTOCOLS[args.space]["source"], **values, "overrides": overrides},
                   "reference": _nb201_reference(arch, args.dataset, net_cfg) if args.space == "nb201" else None,
                   "dry_run": True, "command": command, "provenance": provenance()}
        if chief:
            io.write_text(out / ARCH_FILE, arch_string + "\n")
            io.write_json(out / RESULT_FILE, summary)
        return summary, None, model

    from l2nas_jax.supernet import data, train

    if not args.resume and (out / "checkpoints").exists() and any((out / "checkpoints").iterdir()):
        raise ValueError(f"{out} already holds checkpoints; pass --resume to continue that run or choose a new --out")
    dataset = _load_data(args)
    if args.space == "darts" and args.auxiliary:
        hw = dataset.image_size // 4
        if hw < 5 or (hw - 5) // 3 + 1 != 2:
            raise ValueError(f"the DARTS CIFAR auxiliary head needs ~32 px inputs (8x8 maps at its cell); "
                             f"got {dataset.image_size} px: pass --no-auxiliary or --image-size 32")
    if values["cutout"] >= dataset.image_size:
        raise ValueError(f"--cutout {values['cutout']} would blank (nearly) every {dataset.image_size} px image; "
                         f"pass a smaller --cutout (0 = off)")
    config = train.TrainConfig(
        lr=values["lr"], lr_min=values["lr_min"], momentum=values["momentum"], nesterov=bool(values["nesterov"]),
        weight_decay=values["weight_decay"], epochs=values["epochs"], batch_size=values["batch_size"],
        grad_clip=values["grad_clip"], cutout=values["cutout"], aux_weight=values["aux_weight"],
        label_smoothing=values["label_smoothing"], seed=args.seed, checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints,
    )
    spe = data.steps_per_epoch(len(dataset.train_labels), config.batch_size)
    model, net_cfg = build_model(args.space, arch, num_classes=dataset.num_classes, options=options,
                                 steps_per_epoch=spe, epochs=config.epochs)
    costs = _costs(args.space, arch, model, net_cfg, dataset.image_size)
    run_info = {"space": args.space, "arch": arch_string, "net": net_cfg, "train_config": config.to_dict(),
                "dataset": dataset.summary()}
    _check_run_file(out, run_info, args.resume)
    if chief:
        io.write_json(out / RUN_FILE, run_info)
        io.write_text(out / ARCH_FILE, arch_string + "\n")
        print(f"{args.space}: {arch_string}\n  params {costs['model']['params']:,} (analytic "
              f"{costs['analytic'].get('params')}), MACs {costs['model']['macs'] / 1e6:.2f}M; "
              f"{config.epochs} epochs x {spe} steps, batch {config.batch_size}", file=sys.stderr)

    splits = {}
    if len(dataset.heldout_labels):
        splits["heldout"] = (dataset.normalize(dataset.heldout_images), dataset.heldout_labels)
    if dataset.test_labels is not None:
        splits["test"] = (dataset.normalize(dataset.test_images), dataset.test_labels)

    def accuracies(state) -> dict[str, float]:
        variables = train.state_variables(state)
        return {f"{name}_acc_pct": 100.0 * float(train.evaluate_accuracy(
                    model, variables, None, x, y, batch_size=args.eval_batch_size, fast_compile=args.fast_compile))
                for name, (x, y) in splits.items()}

    def eval_fn(state) -> dict[str, float]:
        epoch = int(jax.device_get(state.step)) // spe
        if args.eval_every and epoch % args.eval_every == 0 and jax.process_count() == 1:
            return accuracies(state)
        return {}

    meta = {"space": args.space, "arch": arch_string, "net": net_cfg, "dataset": dataset.summary()}
    result = train.fit(model, dataset, config, arch_fn=None, out_dir=out, resume=args.resume,
                       stop_after_steps=args.max_steps, progress=not args.no_progress, eval_fn=eval_fn,
                       metadata=meta, fast_compile=args.fast_compile)
    final = accuracies(result.state) if jax.process_count() == 1 else {}
    last = result.history[-1] if result.history else None
    summary = {
        "space": args.space,
        "arch": arch_string,
        "arch_source": source,
        "dataset": dataset.summary(),
        "net": net_cfg,
        "cost": costs,
        "protocol": {"source": PROTOCOLS[args.space]["source"], **values, "overrides": overrides},
        "train_config": config.to_dict(),
        "steps_per_epoch": spe,
        "seed": args.seed,
        "finished": result.finished,
        "resumed_from_step": result.start_step,
        "step": int(jax.device_get(result.state.step)),
        "final": {**final, **({"train_loss": last["loss"], "train_acc_pct": 100.0 * last["accuracy"],
                               "images_per_s_last_epoch": last["images_per_s"], "epoch": last["epoch"]}
                              if last else {})},
        "reference": _nb201_reference(arch, dataset.name, net_cfg) if args.space == "nb201" else None,
        "command": command,
        "provenance": provenance(),
    }
    if chief:
        io.write_json(out / RESULT_FILE, summary)
        accs = ", ".join(f"{k} {v:.2f}" for k, v in final.items())
        print(f"{'finished' if result.finished else 'stopped'} at step {summary['step']}: {accs or 'no eval'}; "
              f"wrote {out / RESULT_FILE}", file=sys.stderr)
    return summary, result, model


def _costs(space: str, arch: Any, model: Any, net_cfg: Mapping[str, Any], image_size: int) -> dict[str, Any]:
    analytic = analytic_counts(space, arch, net_cfg, image_size)
    counted = model_counts(model, image_size)
    match = None
    if analytic.get("params") is not None:
        match = analytic["params"] == counted["params"] and analytic["macs"] == counted["macs"]
    return {"analytic": analytic, "model": counted, "match": match}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train as ``args`` say; return the summary written to evaluate.json."""
    return train_and_evaluate(args)[0]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
