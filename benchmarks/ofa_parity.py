"""Parity of the Flax OFA MobileNetV3 with the reference once-for-all PyTorch implementation, and CPU speed.

The reference is ``OFAMobileNetV3`` of the ``ofa`` package (mit-han-lab/once-for-all) with random
weights: besides the conv / SE / classifier weights of its own initialisation, every tensor a
published checkpoint holds but a fresh network has at a trivial value is drawn at random (BN
running mean and variance, BN scale and shift, the learned 7to5 / 5to3 kernel-transform
matrices). Its ``state_dict`` is converted with :func:`l2nas_jax.spaces.ofa.convert.convert_state_dict`.
Measured, all in one process:

1. supernet parity: the Flax supernet (arch traced, eval mode) against the reference with the
   same subnet active (``set_active_subnet``, eval mode), per subnet (smallest k3e3 d2, largest
   k7e6 d4, a mixed one, one drawn at random with ``--seed``) and resolution, on a batch of random
   images: max / mean absolute logit difference, max relative difference
   (max |diff| / max |reference logit|) and top-1 (argmax) agreement; width 1.0, plus width 1.2
   for one subnet and resolution;
2. extracted subnet: :func:`~l2nas_jax.spaces.ofa.nets.extract_subnet` weights run by
   :func:`~l2nas_jax.spaces.ofa.nets.make_network` against the reference's
   ``get_active_subnet(preserve_weight=True)``;
3. cost: MACs and params of :func:`~l2nas_jax.spaces.ofa.cost.ofa_cost` against the reference's
   ``count_net_flops`` / ``count_parameters`` on its extracted subnet, and the Flax fixed
   network's parameter count (:func:`~l2nas_jax.spaces.ofa.nets.count_params`);
4. CPU speed of subnet evaluation: the jitted Flax fixed subnet (compile timed apart) against
   the eager PyTorch reference subnet under ``torch.no_grad()`` on as many threads as cores (and,
   for reference, on one), same batch, timed calls interleaved (Flax, PyTorch, PyTorch 1 thread,
   Flax, ...) after warm-up: median and best images/s and their ratio. Parity and counting run
   PyTorch on one thread (steadier on a shared machine; the numbers do not depend on it).

This checks numerical equivalence of the two implementations with random weights, not the
accuracy of the published OFA weights (that needs the user's checkpoint and ImageNet).

    python benchmarks/ofa_parity.py --record          # full run (~3.5-6 min on 2 cores)
    python benchmarks/ofa_parity.py --quick           # smoke version (~1 min)

Writes ``ofa_parity.md`` / ``.json`` into ``--out`` (default ``runs/benchmarks/ofa_parity``);
``--record`` also updates ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import statistics
import sys
import time
import types
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np


def _register_torchvision_stand_in() -> None:
    """Let ``ofa.utils`` import without torchvision (it only subclasses two transforms for its data loaders).

    A torchvision that imports is used as it is; none is installable next to the CPU torch build here.
    """
    try:
        import torchvision  # noqa: F401

        return
    except Exception:  # noqa: BLE001 -- absent, or built for another torch
        pass
    root = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    transforms.RandomResizedCrop = type("RandomResizedCrop", (), {"__init__": lambda self, *a, **k: None})
    transforms.RandomCrop = type("RandomCrop", (), {})
    transforms.functional = functional
    root.transforms = transforms
    sys.modules.update({m.__name__: m for m in (root, transforms, functional)})


try:
    import torch
    from torch import nn

    _register_torchvision_stand_in()
    from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3
    from ofa.utils import count_net_flops, count_parameters
except ImportError as err:  # pragma: no cover -- the benchmark needs the reference
    raise SystemExit(f"ofa_parity.py needs PyTorch and the once-for-all package (pip install torch ofa): {err}")

from l2nas_jax.report import records  # noqa: E402
from l2nas_jax.spaces.ofa import codec, convert, cost, nets  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SUBNET_NAMES: tuple[str, ...] = ("smallest", "largest", "mixed", "random")
#: A fixed mixed subnet: every kernel and expand ratio, all three depths (resolution 176).
MIXED = ("r176 d=2,3,4,2,3 | k3e3 k7e6 - - | k5e4 k5e4 k5e4 - | k3e6 k5e6 k7e6 k3e4 | k7e3 k7e3 - - | "
         "k3e3 k3e4 k3e6 -")


@dataclasses.dataclass(frozen=True)
class Settings:
    """What one run measures (:data:`FULL` or :data:`QUICK`)."""

    subnets: tuple[str, ...]
    resolutions: tuple[int, ...]
    batch: int  # parity batch
    wide: tuple[str, int]  # (subnet, resolution) compared at width 1.2
    extracted: str  # subnet compared as an extracted stand-alone network, at its own resolution
    speed_subnets: tuple[str, ...]
    speed_resolutions: tuple[int, ...]
    speed_batch: int
    warmup: int
    repeats: int


FULL = Settings(subnets=SUBNET_NAMES, resolutions=(128, 160, 192, 224), batch=8, wide=("mixed", 160),
                extracted="mixed", speed_subnets=("smallest", "mixed"), speed_resolutions=(224, 160), speed_batch=32,
                warmup=1, repeats=5)
QUICK = Settings(subnets=("smallest", "mixed", "random"), resolutions=(128,), batch=8, wide=("mixed", 128),
                 extracted="mixed", speed_subnets=("smallest",), speed_resolutions=(128,), speed_batch=32, warmup=1,
                 repeats=3)


# ------------------------------------------------------------------------------------------ subnets and images


def subnets(seed: int) -> dict[str, codec.SubnetConfig]:
    """The compared subnets: smallest (k3e3 d2), largest (k7e6 d4), :data:`MIXED`, one drawn with ``seed``."""
    n = codec.NUM_LAYERS
    return {
        "smallest": codec.SubnetConfig((3,) * n, (3,) * n, (2,) * codec.NUM_UNITS, 128),
        "largest": codec.SubnetConfig((7,) * n, (6,) * n, (4,) * codec.NUM_UNITS, 224),
        "mixed": codec.parse_subnet(MIXED),
        "random": codec.arch_to_config(np.asarray(codec.random_arch(jax.random.key(seed)))),
    }


def images(n: int, size: int, seed: int) -> np.ndarray:
    """``float32[n, size, size, 3]`` standard-normal images (NHWC, as the Flax networks take them)."""
    return np.random.default_rng(seed).standard_normal((n, size, size, 3), dtype=np.float32)


def to_torch(x_nhwc: np.ndarray) -> torch.Tensor:
    """The same images as an NCHW tensor for the reference."""
    return torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))


# ------------------------------------------------------------------------------------------ reference


def reference_supernet(width: float, seed: int) -> OFAMobileNetV3:
    """The reference supernet (kernels 3/5/7, expands 3/4/6, depths 2/3/4) in eval mode, all tensors random.

    Conv and SE weights keep the reference's own random initialisation; every BatchNorm gets random
    running statistics (mean ~ N(0, 0.1^2), variance ~ U(0.5, 1.5)) and affine parameters (scale
    1 + N(0, 0.1^2), shift N(0, 0.1^2)); every kernel-transform matrix becomes identity + N(0, 0.2^2),
    far from its identity initialisation. The classifier is redrawn (weight N(0, 1), bias N(0, 0.1^2))
    so that the logits are O(1), as a trained network's are, instead of ~0.05 with the default init.
    """
    torch.manual_seed(seed)
    net = OFAMobileNetV3(n_classes=1000, dropout_rate=0.0, width_mult=width, ks_list=[3, 5, 7],
                         expand_ratio_list=[3, 4, 6], depth_list=[2, 3, 4])
    gen = torch.Generator().manual_seed(seed + 1)

    def normal(t: torch.Tensor, mean: float | torch.Tensor, std: float) -> None:
        t.copy_(mean + std * torch.randn(t.shape, generator=gen))

    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                normal(module.running_mean, 0.0, 0.1)
                module.running_var.copy_(0.5 + torch.rand(module.running_var.shape, generator=gen))
                normal(module.weight, 1.0, 0.1)
                normal(module.bias, 0.0, 0.1)
        for name, p in net.named_parameters():
            if name.endswith("_matrix"):
                normal(p, torch.eye(p.shape[0]), 0.2)
        normal(net.classifier.linear.weight, 0.0, 1.0)
        normal(net.classifier.linear.bias, 0.0, 0.1)
    return net.eval()


def untouched_tensors(net: nn.Module) -> list[str]:
    """Float tensors of ``net``'s state_dict still at a constant value or the identity (should be none)."""
    out = []
    for name, t in net.state_dict().items():
        if not t.is_floating_point():
            continue
        flat = t.flatten()
        if bool(torch.all(flat == flat[0])) or (t.ndim == 2 and t.shape[0] == t.shape[1]
                                                and bool(torch.equal(t, torch.eye(t.shape[0])))):
            out.append(name)
    return out


def activate(net: OFAMobileNetV3, cfg: codec.SubnetConfig) -> None:
    """Make ``cfg`` the reference supernet's active subnet."""
    net.set_active_subnet(ks=list(cfg.ks), e=list(cfg.e), d=list(cfg.d))


def reference_subnet(net: OFAMobileNetV3, cfg: codec.SubnetConfig) -> nn.Module:
    """The reference's stand-alone subnet of ``cfg`` with the supernet's weights, eval mode."""
    activate(net, cfg)
    return net.get_active_subnet(preserve_weight=True).eval()


def torch_logits(net: nn.Module, x_nhwc: np.ndarray) -> np.ndarray:
    """Logits of a reference network (no autograd)."""
    with torch.no_grad():
        return net(to_torch(x_nhwc)).numpy()


# ------------------------------------------------------------------------------------------ comparisons


def compare(got: np.ndarray, want: np.ndarray) -> dict[str, float]:
    """Absolute / relative logit differences and top-1 agreement of ``got`` against the reference ``want``."""
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    scale = float(np.max(np.abs(want)))
    return {"max_abs": float(diff.max()), "mean_abs": float(diff.mean()), "max_rel": float(diff.max()) / scale,
            "ref_max_abs_logit": scale, "top1_agree": float(np.mean(np.argmax(got, -1) == np.argmax(want, -1)))}


def supernet_arch(cfg: codec.SubnetConfig) -> np.ndarray:
    """``int32[26]`` for the Flax supernet (its resolution entry is unused: the image size is the input's)."""
    return np.concatenate([codec.config_layers(cfg), [0]]).astype(np.int32)


@dataclasses.dataclass
class Pair:
    """The randomised reference supernet and its conversion (``net_kwargs``, Flax supernet, variables)."""

    ref: OFAMobileNetV3
    net_kwargs: dict[str, Any]
    model: nets.OFASupernet
    variables: dict[str, Any]
    convert_s: float


def make_pair(width: float, seed: int) -> Pair:
    """:func:`reference_supernet` and its Flax conversion."""
    ref = reference_supernet(width, seed)
    t = time.perf_counter()
    kw, variables = convert.convert_state_dict(ref.state_dict())
    convert_s = time.perf_counter() - t
    return Pair(ref, kw, nets.make_supernet(**kw), jax.device_put(variables), round(convert_s, 2))


def supernet_parity(pair: Pair, cfgs: dict[str, codec.SubnetConfig], resolutions: Sequence[int], batch: int,
                    seed: int) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Rows of :func:`compare` for every subnet x resolution, and the compile seconds per resolution.

    One supernet program is compiled per resolution (the arch is a traced input) and serves every subnet.
    """
    model, variables, rows, compile_s = pair.model, pair.variables, [], {}
    for r in resolutions:
        x = images(batch, r, seed + r)
        t = time.perf_counter()
        fn = jax.jit(lambda v, x, a: model.apply(v, x, a, train=False)).lower(
            variables, jax.ShapeDtypeStruct(x.shape, jnp.float32), jax.ShapeDtypeStruct((codec.ARCH_LEN,), jnp.int32)
        ).compile()
        compile_s[r] = round(time.perf_counter() - t, 2)
        for name, cfg in cfgs.items():
            activate(pair.ref, cfg)
            got = np.asarray(fn(variables, jnp.asarray(x), jnp.asarray(supernet_arch(cfg))))
            rows.append({"subnet": name, "width": pair.net_kwargs["width"], "resolution": r,
                         **compare(got, torch_logits(pair.ref, x))})
            print(_row_line(rows[-1]), file=sys.stderr, flush=True)
    return rows, compile_s


def extracted_parity(pair: Pair, cfg: codec.SubnetConfig, name: str, batch: int, seed: int) -> dict[str, Any]:
    """The Flax fixed network with :func:`nets.extract_subnet` weights against ``get_active_subnet``."""
    extracted_net, sub_vars = nets.extract_subnet(pair.model, pair.variables, cfg)
    net = nets.make_network(cfg, **pair.net_kwargs)
    x = images(batch, cfg.r, seed + 1)
    got = np.asarray(jax.jit(lambda v, x: net.apply(v, x, train=False))(sub_vars, jnp.asarray(x)))
    ref_sub = reference_subnet(pair.ref, cfg)
    return {"subnet": name, "width": pair.net_kwargs["width"], "resolution": cfg.r,
            "same_module_as_extract_subnet": net == extracted_net,
            "flax_params": nets.count_params(sub_vars["params"]), "reference_params": count_parameters(ref_sub),
            **compare(got, torch_logits(ref_sub, x))}


def costs(pair: Pair, cfgs: dict[str, codec.SubnetConfig], resolutions: Sequence[int]) -> list[dict[str, Any]]:
    """MACs / params per subnet x resolution: :func:`cost.ofa_cost`, the reference's counters, Flax's count."""
    width, rows = pair.net_kwargs["width"], []
    for name, cfg in cfgs.items():
        ref_sub = reference_subnet(pair.ref, cfg)
        net = nets.make_network(cfg, **pair.net_kwargs)
        shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False))
        flax_params = nets.count_params(shapes["params"])
        ref_params = count_parameters(ref_sub)
        for r in resolutions:
            params_m, macs_m = (float(v) for v in cost.ofa_cost(cfg, width=width, resolution=r))
            ref_macs = count_net_flops(ref_sub, (1, 3, r, r))
            rows.append({"subnet": name, "width": width, "resolution": r,
                         "macs_ours": round(macs_m * 1e6), "macs_reference": int(ref_macs),
                         "macs_rel_diff": abs(macs_m * 1e6 - ref_macs) / ref_macs,
                         "params_ours": round(params_m * 1e6), "params_reference": int(ref_params),
                         "params_flax_network": flax_params})
    return rows


# ------------------------------------------------------------------------------------------ speed


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run PyTorch's intra-op work on ``n`` threads inside the block."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def interleaved_times(calls: dict[str, Callable[[], Any]], warmup: int,
                      repeats: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Seconds per call of each callable (calls alternated, so that load changes hit all alike) and
    each callable's last result."""
    last = {k: call() for _ in range(warmup) for k, call in calls.items()}
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(repeats):
        for k, call in calls.items():
            t = time.perf_counter()
            last[k] = call()
            times[k].append(time.perf_counter() - t)
    return times, last


def speed(pair: Pair, cfg: codec.SubnetConfig, name: str, resolution: int, s: Settings, seed: int) -> dict[str, Any]:
    """Images/s of the jitted Flax fixed subnet and the eager PyTorch reference subnet, same batch.

    PyTorch runs on as many threads as there are cores (``torch``) and, for reference, on one thread
    (``torch_1thread``): on a shared machine its OpenMP threads slow down badly when another process
    takes a core, while one thread does not.
    """
    net, sub_vars = nets.extract_subnet(pair.model, pair.variables, cfg)
    sub_vars = jax.device_put(sub_vars)
    ref_sub = reference_subnet(pair.ref, cfg)
    x = images(s.speed_batch, resolution, seed + 2)
    x_jax, x_torch = jnp.asarray(x), to_torch(x)
    t = time.perf_counter()
    fn = jax.jit(lambda v, x: net.apply(v, x, train=False)).lower(sub_vars, x_jax).compile()
    compile_s = time.perf_counter() - t

    def run_torch(threads: int) -> np.ndarray:
        with torch_threads(threads), torch.no_grad():
            return ref_sub(x_torch).numpy()

    calls = {"flax": lambda: fn(sub_vars, x_jax).block_until_ready(), "torch": lambda: run_torch(cpu_cores()),
             "torch_1thread": lambda: run_torch(1)}
    times, last = interleaved_times(calls, s.warmup, s.repeats)
    out: dict[str, Any] = {"subnet": name, "resolution": resolution, "batch": s.speed_batch,
                           "macs_per_image_M": round(float(cost.ofa_cost(cfg, resolution=resolution)[1]), 1),
                           "flax_compile_s": round(compile_s, 2),
                           "max_rel_diff_check": compare(np.asarray(last["flax"]), last["torch"])["max_rel"]}
    for k, ts in times.items():
        out[f"{k}_ms"] = [round(1e3 * t, 1) for t in ts]
        out[f"{k}_images_per_s"] = round(s.speed_batch / statistics.median(ts), 1)
        out[f"{k}_images_per_s_best"] = round(s.speed_batch / min(ts), 1)
    out["flax_over_torch"] = round(out["flax_images_per_s"] / out["torch_images_per_s"], 3)
    out["flax_over_torch_best"] = round(out["flax_images_per_s_best"] / out["torch_images_per_s_best"], 3)
    print(f"speed {name} r{resolution}: {out}", file=sys.stderr, flush=True)
    return out


# ------------------------------------------------------------------------------------------ report


def _row_line(r: dict[str, Any]) -> str:
    return (f"{r['subnet']:>8} w{r['width']:g} r{r['resolution']}: max|d| {r['max_abs']:.2e} "
            f"mean|d| {r['mean_abs']:.2e} rel {r['max_rel']:.2e} top1 {r['top1_agree']:.2f}")


def threading_info() -> dict[str, Any]:
    """CPU cores available, PyTorch's thread counts, and how XLA's CPU backend is threaded."""
    return {"cpu_cores": cpu_cores(), "torch_threads_speed": cpu_cores(), "torch_threads_parity_and_counts": 1,
            "torch_interop_threads": torch.get_num_interop_threads(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "jax_devices": len(jax.devices()),
            "xla_threads": "XLA's CPU backend runs each op on its intra-op thread pool over all available cores "
                           "(not configurable per process without XLA_FLAGS; none set unless shown)"}


def reference_versions() -> dict[str, str]:
    """Versions of the reference's packages (the provenance block lists this package's stack)."""
    out = {}
    for name in ("torch", "ofa"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _parity_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| subnet | width | resolution | max abs diff | mean abs diff | max rel diff | max abs ref logit "
             "| top-1 agreement |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['subnet']} | {r['width']:g} | {r['resolution']} | {r['max_abs']:.2e} | "
                     f"{r['mean_abs']:.2e} | {r['max_rel']:.2e} | {r['ref_max_abs_logit']:.2f} | "
                     f"{100 * r['top1_agree']:.0f} % |")
    return lines


def _span(values: Sequence[float]) -> str:
    """``"a-b"`` (or ``"a"``) of the smallest and largest value, two decimals."""
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}-{hi:.2f}"


def _spread(rows: Sequence[dict[str, Any]], key: str) -> float:
    """Largest slowest / fastest ratio of the timed calls of ``key`` over the speed rows."""
    return max(max(r[f"{key}_ms"]) / min(r[f"{key}_ms"]) for r in rows)


def to_markdown(res: dict[str, Any], cfgs: dict[str, codec.SubnetConfig]) -> str:
    """The results as Markdown tables with a paragraph on what they show."""
    th, sup = res["threading"], res["supernet_parity"]
    worst = max(r["max_rel"] for r in sup)
    agree = min(r["top1_agree"] for r in sup)
    ex = res["extracted_parity"]
    cost_rows = res["costs"]
    mac_worst = max(r["macs_rel_diff"] for r in cost_rows)
    params_equal = all(r["params_ours"] == r["params_reference"] == r["params_flax_network"] for r in cost_rows)
    ratios = [r["flax_over_torch"] for r in res["speed"]]
    best_ratios = [r["flax_over_torch_best"] for r in res["speed"]]
    one_thread = [r["flax_images_per_s"] / r["torch_1thread_images_per_s"] for r in res["speed"]]
    dev = res["device"]
    lines = [
        "# OFA MobileNetV3: parity with the once-for-all PyTorch reference, and CPU speed", "",
        f"Generated {res['generated']} by `{res['command']}` on {dev['device_kind']} ({dev['backend']}, "
        f"{dev['processor']}, {th['cpu_cores']} cores); seed {res['seed']}; "
        f"torch {res['reference_versions']['torch']}, ofa {res['reference_versions']['ofa']}. "
        f"Wall time {res['wall_s']:.0f} s.", "",
        "**What is verified.** The reference `OFAMobileNetV3` (kernels 3/5/7, expands 3/4/6, depths 2/3/4) is "
        "built with random weights: its own random conv and SE initialisation, plus random BatchNorm "
        "running statistics and affine parameters and random 7to5 / 5to3 kernel-transform matrices (identity + "
        f"noise) and a redrawn classifier (logits O(1)); no tensor is left at a trivial value "
        f"({len(res['untouched_tensors'])} float tensors constant or identity, of "
        f"{sum(res['state_dict_tensors'].values())} state_dict entries at widths 1.0 and 1.2). Its `state_dict` "
        "is converted "
        "with `convert_state_dict` and both are run in eval mode on the same random images. This is numerical "
        "parity of the two implementations (elastic kernel / width / depth, SE, h-swish, BN, head), not a check "
        "of the published OFA weights' ImageNet accuracy, which needs the user's checkpoint and ImageNet.", "",
        f"**Headline.** Worst max relative logit difference (max |diff| / max |reference logit|) "
        f"{worst:.1e} over {len(sup)} supernet comparisons; top-1 agreement {100 * agree:.0f} % at worst. "
        f"Extracted subnet: max relative difference {ex['max_rel']:.1e}. MACs agree with the reference's "
        f"`count_net_flops` to a relative {mac_worst:.1e} at worst (`ofa_cost` sums in float32); params "
        f"{'equal' if params_equal else 'DIFFER'} (ofa_cost = reference `count_parameters` = Flax network). "
        f"CPU images/s, Flax jitted / PyTorch eager on {th['cpu_cores']} threads: {_span(ratios)}x (medians), "
        f"{_span(best_ratios)}x (best calls); against PyTorch on 1 thread {_span(one_thread)}x (medians).", "",
        f"## 1. Supernet logits (batch {res['config']['batch']}, arch traced, one compiled supernet per resolution)",
        "", *_parity_table(sup), "",
        "## 2. Extracted subnet (`extract_subnet` + `make_network` vs `get_active_subnet(preserve_weight=True)`)", "",
        *_parity_table([ex]), "",
        f"`make_network` builds the module `extract_subnet` returns: {ex['same_module_as_extract_subnet']}; "
        f"parameters: Flax {ex['flax_params']:,}, reference {ex['reference_params']:,}.", "",
        "## 3. MACs and parameters", "",
        "`ofa_cost` (analytic) vs the reference's `count_net_flops` / `count_parameters` on its extracted subnet, "
        "and the parameter count of the Flax fixed network.", "",
        "| subnet | width | resolution | MACs (ours) | MACs (reference) | rel. diff | params (ours) "
        "| params (reference) | params (Flax net) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in cost_rows:
        lines.append(f"| {r['subnet']} | {r['width']:g} | {r['resolution']} | {r['macs_ours'] / 1e6:.2f} M | "
                     f"{r['macs_reference'] / 1e6:.2f} M | {r['macs_rel_diff']:.1e} | {r['params_ours']:,} | "
                     f"{r['params_reference']:,} | {r['params_flax_network']:,} |")
    lines += [
        "", "## 4. CPU speed of subnet evaluation", "",
        f"Batch {res['config']['speed_batch']}; {res['config']['warmup']} warm-up call(s), then "
        f"{res['config']['repeats']} timed calls of each, interleaved (Flax, PyTorch, PyTorch 1 thread, Flax, ...); "
        "images/s of the median call (of the best call in brackets). Flax: the fixed subnet "
        "(`extract_subnet`) jitted with XLA's default optimisation, compile time excluded and listed apart; XLA runs "
        f"each op on its intra-op thread pool over all cores (XLA_FLAGS: `{th['xla_flags'] or 'unset'}`, "
        f"{th['jax_devices']} JAX device). PyTorch: the reference subnet (`get_active_subnet`), eager, under "
        f"`torch.no_grad()`, on {th['torch_threads_speed']} threads (= cores; {th['torch_interop_threads']} "
        "inter-op) and, for reference, on 1 thread. Load average before / after the run: "
        f"{res['load_before']} / {res['load_after']}. On a shared machine multi-threaded PyTorch can slow down "
        "several-fold while another process holds a core (its threads wait for each other); the slowest / fastest "
        f"timed call per row was at most {_spread(res['speed'], 'torch'):.1f}x for PyTorch on "
        f"{th['torch_threads_speed']} threads, {_spread(res['speed'], 'torch_1thread'):.1f}x on 1 thread and "
        f"{_spread(res['speed'], 'flax'):.1f}x for Flax in this run.", "",
        f"| subnet | resolution | MACs / image | Flax compile s | Flax images/s | PyTorch images/s "
        f"({th['torch_threads_speed']} threads) | PyTorch images/s (1 thread) | Flax / PyTorch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["speed"]:
        lines.append(f"| {r['subnet']} | {r['resolution']} | {r['macs_per_image_M']:.0f} M | {r['flax_compile_s']:.1f} "
                     f"| {r['flax_images_per_s']:.1f} ({r['flax_images_per_s_best']:.1f}) | "
                     f"{r['torch_images_per_s']:.1f} ({r['torch_images_per_s_best']:.1f}) | "
                     f"{r['torch_1thread_images_per_s']:.1f} ({r['torch_1thread_images_per_s_best']:.1f}) | "
                     f"{r['flax_over_torch']:.2f}x ({r['flax_over_torch_best']:.2f}x) |")
    lines += ["", "## Subnets", ""]
    lines += [f"- {name}: `{cfg}`" for name, cfg in cfgs.items()]
    lines += ["", "The subnets' own resolution (`r...`) is used only for the extracted-subnet check; the other "
              "tables set the resolution explicitly. Supernet compile s per resolution (width 1.0): "
              + ", ".join(f"{r}: {s}" for r, s in res["supernet_compile_s"]["w1.0"].items())
              + ". Wall s per phase: " + ", ".join(f"{k} {v:.0f}" for k, v in res["phase_s"].items()) + ".", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small smoke version (fewer subnets, resolutions, timings)")
    p.add_argument("--seed", type=int, default=0, help="reference weights, images and the random subnet")
    p.add_argument("--speed-subnets", default=None,
                   help="comma-separated subnets to time (smallest, largest, mixed, random); default: "
                        f"{','.join(FULL.speed_subnets)} ({','.join(QUICK.speed_subnets)} with --quick)")
    records.add_output_args(p, "ofa_parity")
    args = p.parse_args(argv)
    if args.speed_subnets is not None:
        names = tuple(n.strip() for n in args.speed_subnets.split(",") if n.strip())
        unknown = [n for n in names if n not in SUBNET_NAMES]
        if unknown or not names:
            p.error(f"--speed-subnets: unknown {unknown or 'empty'}; valid: {', '.join(SUBNET_NAMES)}")
        args.speed_subnets = names
    return args


class Phases:
    """Wall seconds of each phase of the run (recorded, so a slow run says where its time went)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        out = fn()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - t, 1)
        print(f"[{name}] {self.seconds[name]:.1f} s", file=sys.stderr, flush=True)
        return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    s = QUICK if args.quick else FULL
    if args.speed_subnets is not None:
        s = dataclasses.replace(s, speed_subnets=args.speed_subnets)
    command = records.command_line("benchmarks/ofa_parity.py", argv)
    torch.set_num_threads(1)  # parity and counting; the speed phase sets its own (see :func:`speed`)
    load_before = [round(x, 2) for x in os.getloadavg()]
    t0, ph = time.perf_counter(), Phases()
    all_cfgs = subnets(args.seed)
    cfgs = {k: all_cfgs[k] for k in s.subnets}
    wide_name, wide_res = s.wide
    wide_cfgs = {wide_name: all_cfgs[wide_name]}

    pair = ph.run("build and convert w1.0", lambda: make_pair(1.0, args.seed))
    sup, compile_s = ph.run("supernet parity w1.0", lambda: supernet_parity(pair, cfgs, s.resolutions, s.batch,
                                                                            args.seed))
    ex = ph.run("extracted parity", lambda: extracted_parity(pair, all_cfgs[s.extracted], s.extracted, s.batch,
                                                             args.seed))
    cost_rows = ph.run("costs", lambda: costs(pair, cfgs, s.resolutions))
    speed_rows = ph.run("speed", lambda: [speed(pair, all_cfgs[n], n, r, s, args.seed)
                                          for r in s.speed_resolutions for n in s.speed_subnets])
    wide = ph.run("build and convert w1.2", lambda: make_pair(1.2, args.seed))
    wide_sup, wide_compile_s = ph.run("supernet parity w1.2", lambda: supernet_parity(
        wide, wide_cfgs, (wide_res,), s.batch, args.seed))
    cost_rows += ph.run("costs", lambda: costs(wide, wide_cfgs, (wide_res,)))

    used = {k: all_cfgs[k] for k in dict.fromkeys([*s.subnets, wide_name, s.extracted, *s.speed_subnets])}
    data = {
        "quick": args.quick, "load_before": load_before, "load_after": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.perf_counter() - t0, 1), "phase_s": ph.seconds, "threading": threading_info(),
        "reference_versions": reference_versions(),
        "subnets": {k: {"string": str(c), "config": c.to_dict()} for k, c in used.items()},
        "untouched_tensors": untouched_tensors(pair.ref) + untouched_tensors(wide.ref),
        "state_dict_tensors": {"w1.0": len(pair.ref.state_dict()), "w1.2": len(wide.ref.state_dict())},
        "convert_s": {"w1.0": pair.convert_s, "w1.2": wide.convert_s},
        "supernet_compile_s": {"w1.0": compile_s, "w1.2": wide_compile_s},
        "supernet_parity": sup + wide_sup, "extracted_parity": ex, "costs": cost_rows, "speed": speed_rows,
    }
    record = records.Record(stem="ofa_parity", command=command, seed=args.seed, config=dataclasses.asdict(s),
                            data=data)
    payload = record.payload()
    markdown = to_markdown({**payload, "device": payload["provenance"]["device"]}, used)
    records.save(dataclasses.replace(record, markdown=markdown), args, RESULTS)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
