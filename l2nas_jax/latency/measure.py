"""Measure inference latency of fixed derived networks on the current JAX backend (CPU, GPU, TPU).

How one network is timed (:func:`time_compiled`): the forward pass is lowered and compiled first
(compile time recorded apart, never in the latency), run ``warmup`` times, then timed in
``repeats`` repeats of ``number`` calls each, every call ended with ``block_until_ready``;
``number`` grows until a repeat lasts ``min_repeat_ms`` (so a 50-microsecond network is not
timed at the clock's resolution).  The latency is the median over repeats of the per-call time;
the spread is the 10th-90th percentile range.

What is measured (:func:`measure_archs`): the fixed derived network of each architecture, as
``train/evaluate.py`` builds it (:func:`l2nas_jax.supernet.fixed_net.build_fixed_network`), in
inference mode, with random weights (latency does not depend on their values; no initialisation
program is compiled), on a batch of random images at the network's input size.  Architectures
are a stratified sample (:func:`stratified_sample`: evenly spaced MACs quantiles of a large random
pool), so cheap and expensive networks are both covered, and measured in random order (so a load
drifting over the run does not bias cheap against expensive).  The output file is rewritten
atomically after every architecture, so an interrupted measurement resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from l2nas_jax.core import io, validate

#: Format tag of a measurement file (``l2nas latency --out``).
FORMAT = "l2nas-latency/1"
#: Settings that must agree for a file to be resumed (or for two files to be compared).
RESUME_KEYS = ("space", "batch", "net", "num_classes", "seed", "num_archs", "warmup", "repeats", "backend",
               "device_kind")


@dataclasses.dataclass(frozen=True)
class Timing:
    """Latency of one compiled call: median and spread over repeats (milliseconds), compile time apart."""

    median_ms: float
    q10_ms: float
    q90_ms: float
    repeats: int
    number: int  # calls per timed repeat
    compile_s: float

    @property
    def spread(self) -> float:
        """Relative 10-90 % spread ``(q90 - q10) / median``."""
        return (self.q90_ms - self.q10_ms) / self.median_ms

    def record(self) -> dict[str, float | int]:
        return dataclasses.asdict(self)


def time_compiled(call: Callable[[], Any], *, warmup: int = 3, repeats: int = 15, min_repeat_ms: float = 2.0,
                  compile_s: float = 0.0, clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Time ``call()`` (an already compiled program; it must return JAX arrays) as the module docstring says."""
    import jax

    validate.nonnegative_int("warmup", warmup)
    validate.positive_int("repeats", repeats)
    for _ in range(warmup):
        jax.block_until_ready(call())
    t0 = clock()
    jax.block_until_ready(call())
    one = max(clock() - t0, 1e-7)
    number = max(1, int(math.ceil(min_repeat_ms / 1e3 / one)))
    times = []
    for _ in range(repeats):
        t0 = clock()
        for _ in range(number):
            jax.block_until_ready(call())
        times.append((clock() - t0) / number * 1e3)
    q10, q50, q90 = np.percentile(np.asarray(times), [10, 50, 90])
    return Timing(median_ms=float(q50), q10_ms=float(q10), q90_ms=float(q90), repeats=int(repeats), number=number,
                  compile_s=float(compile_s))


def time_function(fn: Callable[..., Any], *args: Any, warmup: int = 3, repeats: int = 15,
                  min_repeat_ms: float = 2.0) -> Timing:
    """Compile ``jax.jit(fn)`` for ``args`` (timed apart), then :func:`time_compiled` it."""
    import jax

    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    return time_compiled(lambda: compiled(*args), warmup=warmup, repeats=repeats, min_repeat_ms=min_repeat_ms,
                         compile_s=compile_s)


def random_variables(model: Any, image_size: int, seed: int = 0) -> Any:
    """Variables of ``model`` filled with random values on the host: shapes from an abstract init, nothing compiled.

    Weights are N(0, 0.05^2); batch-norm means 0 and variances 1 (so no NaN reaches the timed program).
    """
    import jax

    from l2nas_jax.supernet.fixed_net import init_variables_shape

    shapes = init_variables_shape(model, image_size)
    rng = np.random.default_rng(seed)

    def fill(path: Any, leaf: Any) -> np.ndarray:
        name = jax.tree_util.keystr(path)
        if not np.issubdtype(leaf.dtype, np.floating):
            return np.zeros(leaf.shape, leaf.dtype)
        if name.endswith("['var']"):
            return np.ones(leaf.shape, leaf.dtype)
        if name.endswith("['mean']"):
            return np.zeros(leaf.shape, leaf.dtype)
        return (0.05 * rng.standard_normal(leaf.shape)).astype(leaf.dtype)

    return jax.tree_util.tree_map_with_path(fill, shapes)


@dataclasses.dataclass(frozen=True)
class NetSpec:
    """The size of the networks to measure (None: the space's standard evaluation network)."""

    channels: int | None = None
    layers: int | None = None
    resolution: int | None = None  # OFA: every subnet at this resolution instead of its own
    base_widths: tuple[int, ...] | None = None  # OFA: stage widths (tiny networks)

    def options(self) -> Any:
        from l2nas_jax.spaces.base import NetOptions

        return NetOptions(channels=self.channels, layers=self.layers, resolution=self.resolution,
                          base_widths=self.base_widths, auxiliary=False)

    def record(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["base_widths"] = None if self.base_widths is None else list(self.base_widths)
        return out


def build_network(space: Any, arch_string: str, net: NetSpec, num_classes: int) -> tuple[Any, int, dict[str, Any]]:
    """``(model, input size, net config)`` of the fixed network of ``arch_string`` (inference mode)."""
    from l2nas_jax.supernet.fixed_net import build_fixed_network, evaluation_of

    arch, _ = evaluation_of(space).parse(arch_string)
    model, config = build_fixed_network(space, arch, num_classes=num_classes, options=net.options())
    size = int(config.get("resolution") or space.image_size)
    return model, size, config


def check_network(space: Any, net: NetSpec) -> None:
    """ValueError (naming the flag) if ``space`` cannot build networks of size ``net``: nothing is compiled."""
    import jax

    arch = space.to_string(np.asarray(space.random_arch(jax.random.key(0))))
    model, size, _ = build_network(space, arch, net, space.num_classes)
    from l2nas_jax.supernet.fixed_net import init_variables_shape

    init_variables_shape(model, size)


def measure_arch(space: Any, arch_string: str, *, batch: int, net: NetSpec = NetSpec(), num_classes: int | None = None,
                 warmup: int = 3, repeats: int = 15, seed: int = 0) -> dict[str, Any]:
    """One architecture's record: latency (``Timing`` fields), compile time, exact params/MACs of the measured net."""
    import jax

    from l2nas_jax.supernet.fixed_net import model_counts

    classes = int(num_classes or space.num_classes)
    model, size, _ = build_network(space, arch_string, net, classes)
    variables = jax.device_put(random_variables(model, size, seed))
    x = jax.device_put(np.random.default_rng(seed + 1).standard_normal((batch, size, size, 3)).astype(np.float32))
    timing = time_function(lambda v, inp: model.apply(v, inp, train=False), variables, x, warmup=warmup,
                           repeats=repeats)
    counts = model_counts(model, size)
    return {"arch": arch_string, **timing.record(), "spread": timing.spread, "macs_M": counts["macs"] / 1e6,
            "params_M": counts["params"] / 1e6, "image_size": size}


def stratified_sample(space: Any, n: int, seed: int = 0, pool: int | None = None) -> list[str]:
    """``n`` distinct architectures at evenly spaced quantiles of analytic MACs over a random pool.

    The pool holds ``max(50 n, 2000)`` uniform draws (duplicates removed); sorted by MACs, the
    architecture nearest each quantile ``(i + 0.5) / n`` is taken, so the cheapest and the most
    expensive tenths of the space are both represented.
    """
    import jax

    validate.positive_int("archs", n)
    size = int(pool or max(50 * n, 2000))

    @jax.jit
    def draw(key: Any) -> tuple[Any, Any, Any]:
        archs = jax.vmap(space.random_arch)(jax.random.split(key, size))
        return archs, jax.vmap(space.arch_id)(archs), jax.vmap(space.cost)(archs)[1]

    archs, ids, macs = (np.asarray(a) for a in draw(jax.random.key(seed)))
    _, first = np.unique(ids, return_index=True)
    first = first[np.argsort(macs[first], kind="stable")]
    if len(first) < n:
        raise ValueError(f"asked for {n} architectures but a pool of {size} draws holds only {len(first)} distinct "
                         f"{space.name} architectures")
    picks: list[int] = []
    for q in (np.arange(n) + 0.5) / n:  # nearest unused index to each quantile
        i = int(round(q * (len(first) - 1)))
        while i in picks:
            i = i + 1 if i + 1 < len(first) else min(set(range(len(first))) - set(picks))
        picks.append(i)
    return [space.to_string(archs[first[i]]) for i in sorted(picks)]


def settings(space: Any, *, batch: int, net: NetSpec, num_classes: int, seed: int, num_archs: int, warmup: int,
             repeats: int) -> dict[str, Any]:
    """What a measurement file was made with (compared on resume)."""
    import jax

    return {"space": space.name, "batch": int(batch), "net": net.record(), "num_classes": int(num_classes),
            "seed": int(seed), "num_archs": int(num_archs), "warmup": int(warmup), "repeats": int(repeats),
            "backend": jax.default_backend(), "device_kind": jax.devices()[0].device_kind}


def read_measurements(path: str | os.PathLike) -> dict[str, Any]:
    """A measurement file's contents, checked; ValueError naming the file for anything else."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such measurement file (make one with l2nas latency --out {path})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a latency measurement file ({type(e).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a latency measurement file (expected format {FORMAT!r})")
    for key in ("settings", "archs", "records"):
        if key not in data:
            raise ValueError(f"{path}: measurement file without {key!r}")
    for r in data["records"]:
        if not (isinstance(r, dict) and isinstance(r.get("median_ms"), (int, float)) and r["median_ms"] > 0):
            raise ValueError(f"{path}: a record without a positive median_ms: {str(r)[:80]}")
    return data


def measure_archs(space: Any, out: str | os.PathLike, *, num_archs: int, batch: int = 1, net: NetSpec = NetSpec(),
                  num_classes: int | None = None, seed: int = 0, warmup: int = 3, repeats: int = 15,
                  archs: Sequence[str] | None = None, overwrite: bool = False,
                  progress: Callable[[int, int], None] | None = None,
                  extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Measure ``num_archs`` stratified architectures of ``space`` into ``out``; resume a file made with the same settings.

    ``archs`` replaces the stratified sample (e.g. the architectures a search returned).
    ``progress(done, total)`` is called after every architecture.  Returns the file's contents.
    """
    from l2nas_jax.core.provenance import provenance

    validate.positive_int("batch", batch)
    validate.positive_int("archs", num_archs)
    classes = int(num_classes or space.num_classes)
    want = settings(space, batch=batch, net=net, num_classes=classes, seed=seed, num_archs=num_archs, warmup=warmup,
                    repeats=repeats)
    path = Path(out)
    data: dict[str, Any] | None = None
    if path.exists() and not overwrite:
        data = read_measurements(path)
        have = {k: data["settings"].get(k) for k in RESUME_KEYS}
        if have != {k: want[k] for k in RESUME_KEYS}:
            diff = ", ".join(f"{k}: {have[k]!r} there, {want[k]!r} now" for k in RESUME_KEYS if have[k] != want[k])
            raise ValueError(f"{path} holds measurements made with other settings ({diff}); pass --overwrite "
                             f"to replace it or another --out")
    if data is None:
        planned = list(archs) if archs is not None else stratified_sample(space, num_archs, seed)
        # measured in random order: a machine's load drifting over the run is not confounded with cost
        planned = [planned[i] for i in np.random.default_rng(seed).permutation(len(planned))]
        data = {"format": FORMAT, "settings": want, "archs": planned, "records": [], **provenance(),
                **(dict(extra) if extra else {})}
        io.write_json(path, data)
    total = len(data["archs"])
    if progress is not None:
        progress(len(data["records"]), total)
    for arch in data["archs"][len(data["records"]):]:
        data["records"].append(measure_arch(space, arch, batch=batch, net=net, num_classes=classes, warmup=warmup,
                                            repeats=repeats, seed=seed))
        io.write_json(path, data)
        if progress is not None:
            progress(len(data["records"]), total)
    return data


def summary(data: Mapping[str, Any]) -> dict[str, float]:
    """Range of the medians, typical spread and cost of a measurement file."""
    rec = data["records"]
    med = np.array([r["median_ms"] for r in rec])
    return {"archs": len(rec), "min_ms": float(med.min()), "max_ms": float(med.max()),
            "median_spread": float(np.median([r["spread"] for r in rec])),
            "compile_s_per_arch": float(np.mean([r["compile_s"] for r in rec])),
            "repeats": int(data["settings"]["repeats"])}


def net_spec(record: Mapping[str, Any]) -> NetSpec:
    """The :class:`NetSpec` of a settings record (:meth:`NetSpec.record`)."""
    bw = record.get("base_widths")
    return NetSpec(channels=record.get("channels"), layers=record.get("layers"), resolution=record.get("resolution"),
                   base_widths=None if bw is None else tuple(int(w) for w in bw))


def recheck(space: Any, archs: Sequence[str], measured_with: Mapping[str, Any],
            modelled: Sequence[float]) -> list[dict[str, Any]]:
    """Measure ``archs`` again as the model's measurements were made (``measured_with``: their settings).

    One record per architecture: the modelled and the measured latency (the check after a
    latency-constrained search).  ``device_matches`` is False when this machine is not the one
    the model was fitted on (the measurement is then of this machine).
    """
    import jax

    net = net_spec(measured_with["net"])
    here = jax.devices()[0].device_kind
    out = []
    for arch, pred in zip(archs, modelled):
        r = measure_arch(space, arch, batch=int(measured_with["batch"]), net=net,
                         num_classes=int(measured_with["num_classes"]), warmup=int(measured_with["warmup"]),
                         repeats=int(measured_with["repeats"]), seed=int(measured_with.get("seed", 0)))
        out.append({"arch": arch, "modelled_ms": float(pred), "measured_ms": r["median_ms"],
                    "q10_ms": r["q10_ms"], "q90_ms": r["q90_ms"], "repeats": r["repeats"],
                    "device_matches": here == measured_with.get("device_kind")})
    return out
