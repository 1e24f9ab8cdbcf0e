"""Generic image-classifier training: single-path supernets and fixed networks share one compiled step.

* A **supernet** is called ``model.apply(variables, x, arch, train=...)``; ``arch_fn(key) -> arch``
  samples the path of each step *inside* the jitted step, so the architecture is a traced value and
  one compilation serves every path (weight sharing as in single-path one-shot NAS, Guo et al. 2020;
  DARTS-setting hyper-parameters from Liu et al. 2019: SGD momentum 0.9, lr 0.025 cosine to 0.001,
  weight decay 3e-4, grad clip 5, cutout 16, aux weight 0.4).
* A **fixed network** (``arch_fn=None``) is called ``model.apply(variables, x, train=...)``.

The step is ``step(state, batch, key) -> (state, metrics)``: ``key`` is the run's base key and the
randomness of step ``t`` is ``fold_in(key, t)`` (arch, augmentation, dropout), so a run is a pure
function of (seed, data order) and resuming from a checkpoint reproduces it bit for bit.
:func:`fit` is the host loop: progress bar, per-epoch JSONL metrics, periodic orbax checkpoints.

Mixed precision (``TrainConfig.dtype="bfloat16"``): parameters, optimizer state and BatchNorm
running statistics stay float32; each step computes with a bfloat16 copy of the parameters and
images (:func:`apply_model` with ``dtype``), and logits return to float32 before the loss.
bfloat16 has float32's exponent range, so gradients neither underflow nor overflow where float32's
would not: no loss scaling (that is what float16 would need). ``"float32"`` (the default, and
the right choice on CPU, where bfloat16 is emulated and slower) adds no cast at all.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.extend import core as jex_core
import numpy as np
import optax
from tqdm.auto import tqdm

from l2nas_jax.core import threefry
from l2nas_jax.core.threefry import unroll_on_cpu
from l2nas_jax.supernet import data as data_lib
from l2nas_jax.supernet import prefetch as prefetch_lib
from l2nas_jax.core import compile_cache
from l2nas_jax.supernet import sharding as shard_lib
from l2nas_jax.supernet.state import TrainState

ArchFn = Callable[[jax.Array], jax.Array]
METRICS_FILE = "metrics.jsonl"
#: XLA options that cut CPU compile time about 10x (supernets with every candidate op are large
#: programs) at the price of slower generated code: always used for the one-off parameter init,
#: and for the train/eval steps with ``fast_compile=True`` (tests, CPU demos).
FAST_COMPILE_OPTIONS: dict[str, Any] = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
#: Compute dtypes (``TrainConfig.dtype``, ``--dtype``); parameters and optimizer state are float32 in both.
DTYPES = ("float32", "bfloat16")


def check_dtype(dtype: Any, what: str = "dtype") -> str:
    """``dtype`` if it names a supported compute dtype; a ValueError naming ``what`` otherwise."""
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(f"{what} {dtype!r} is not supported; valid: {', '.join(DTYPES)}")
    return dtype


def compiler_options(fast_compile: bool) -> dict[str, Any] | None:
    """The jit ``compiler_options`` for ``fast_compile`` (only applied on the CPU backend)."""
    return dict(FAST_COMPILE_OPTIONS) if fast_compile and jax.default_backend() == "cpu" else None


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation and augmentation settings (defaults: the DARTS CIFAR recipe)."""

    lr: float = 0.025  # peak SGD learning rate (cosine-annealed per step to lr_min)
    lr_min: float = 0.001  # final learning rate
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 3e-4  # L2 added to the gradient (PyTorch SGD style), all parameters
    epochs: int = 50
    batch_size: int = 64  # global batch, split over devices
    grad_clip: float = 5.0  # global-norm clip; 0 = off
    cutout: int = 16  # cutout square size; 0 = off
    crop_flip: bool = True  # random crop (zero padding crop_padding) + horizontal flip
    crop_padding: int = 4
    aux_weight: float = 0.4  # weight of auxiliary logits for nets that return (logits, aux)
    label_smoothing: float = 0.0
    seed: int = 0
    checkpoint_every: int = 1  # epochs between checkpoints (0 = only the final one)
    keep_checkpoints: int = 3  # orbax keeps the last k
    log_every: int = 20  # steps between progress-bar loss updates (each one syncs the host)
    dtype: str = "float32"  # compute dtype (DTYPES); params, optimizer state, BN statistics stay float32

    def __post_init__(self) -> None:
        check_dtype(self.dtype, "TrainConfig.dtype")
        for f in dataclasses.fields(self):  # NaN passes every comparison below; inf is no learning rate either
            v = getattr(self, f.name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isfinite(v):
                raise ValueError(f"TrainConfig.{f.name} must be a finite number, got {v!r}")
        for name in ("lr", "batch_size", "epochs"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig.{name} must be positive, got {getattr(self, name)!r}")
        for name in ("lr_min", "weight_decay", "grad_clip", "cutout", "aux_weight", "momentum",
                     "crop_padding", "checkpoint_every", "label_smoothing"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.lr_min > self.lr:
            raise ValueError(f"TrainConfig.lr_min ({self.lr_min}) exceeds lr ({self.lr})")
        if self.keep_checkpoints < 1 or self.log_every < 1:
            raise ValueError("TrainConfig.keep_checkpoints and log_every must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys are a ValueError."""
        names = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(d) - names)
        if bad:
            raise ValueError(f"unknown TrainConfig field(s) {bad}; valid: {sorted(names)}")
        return cls(**d)


def make_lr_schedule(config: TrainConfig, total_steps: int) -> optax.Schedule:
    """Cosine decay from ``lr`` to ``lr_min`` over ``total_steps`` steps."""
    return optax.cosine_decay_schedule(config.lr, max(int(total_steps), 1), alpha=config.lr_min / config.lr)


def lr_at(config: TrainConfig, total_steps: int, step: int) -> float:
    """The learning rate of ``step`` on the host (same value as :func:`make_lr_schedule`)."""
    t = min(max(step, 0), max(int(total_steps), 1)) / max(int(total_steps), 1)
    return float(config.lr_min + (config.lr - config.lr_min) * 0.5 * (1 + np.cos(np.pi * t)))


def make_optimizer(config: TrainConfig, total_steps: int) -> optax.GradientTransformation:
    """Clip -> add weight decay -> SGD momentum with the cosine schedule (PyTorch SGD semantics).

    Memoised: the optimizer is a static part of the TrainState's tree structure, so equal configs
    must give the *same* object for a compiled step to be reused across runs. The compute dtype
    is no part of the key: a state trained in one dtype feeds the other dtype's step as it is.
    """
    return _make_optimizer(dataclasses.replace(config, dtype="float32"), total_steps)


@functools.lru_cache(maxsize=64)
def _make_optimizer(config: TrainConfig, total_steps: int) -> optax.GradientTransformation:
    parts = []
    if config.grad_clip > 0:
        parts.append(optax.clip_by_global_norm(config.grad_clip))
    if config.weight_decay > 0:
        parts.append(optax.add_decayed_weights(config.weight_decay))
    parts.append(optax.sgd(make_lr_schedule(config, total_steps), momentum=config.momentum or None,
                           nesterov=config.nesterov))
    return optax.chain(*parts)


def apply_model(model: nn.Module, variables: Mapping[str, Any], x: jax.Array, arch: jax.Array | None,
                *, dtype: str = "float32", **kw: Any) -> Any:
    """Call a supernet (``arch`` given) or a fixed network (``arch is None``) per the nets contract.

    ``dtype="bfloat16"`` computes in bfloat16 (:func:`apply_mixed`); float32 adds no cast at all.
    """
    if dtype != "float32":
        return apply_mixed(model, variables, x, arch, check_dtype(dtype), **kw)
    if arch is None:
        return model.apply(variables, x, **kw)
    return model.apply(variables, x, arch, **kw)


def cast_floating(tree: Any, dtype: Any) -> Any:
    """``tree`` with its floating-point arrays cast to ``dtype`` (integers, keys and non-arrays untouched)."""
    def cast(a: Any) -> Any:
        return a.astype(dtype) if hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating) else a

    return jax.tree.map(cast, tree)


def _outputs_in(dtype: Any) -> Callable:
    """A flax method interceptor casting every module's floating outputs to ``dtype``.

    Why: a layer that mixes in a float32 constant (e.g. an average pool's divisor) would promote
    its output to float32, and single-path ``lax.switch`` branches must agree on dtypes; casting
    module outputs is the output policy of Haiku's / jmp's mixed precision.
    """
    def interceptor(next_fun: Callable, args: Any, kwargs: Any, context: Any) -> Any:
        out = next_fun(*args, **kwargs)
        return cast_floating(out, dtype) if context.method_name == "__call__" else out

    return interceptor


def apply_mixed(model: nn.Module, variables: Mapping[str, Any], x: jax.Array, arch: jax.Array | None,
                dtype: str, **kw: Any) -> Any:
    """:func:`apply_model` computing in ``dtype``: float32 in, float32 out, ``dtype`` in between.

    The params and ``x`` are cast to ``dtype`` (gradients flow back through the cast to the float32
    params); other collections (BatchNorm running statistics) are passed as they are: flax
    BatchNorm computes batch statistics in float32 and keeps its averages float32. The outputs,
    mutated collections included, are cast back to float32, so the TrainState never changes dtype.
    """
    cdt = jnp.dtype(dtype)
    compute = {**variables, "params": cast_floating(variables["params"], cdt)}
    with nn.intercept_methods(_outputs_in(cdt)):
        out = apply_model(model, compute, cast_floating(x, cdt), arch, **kw)
    return cast_floating(out, jnp.float32)


@dataclasses.dataclass(frozen=True)
class ModelApply:
    """``state.apply_fn``: ``model.apply`` that compares equal for equal models.

    A bound method compares by identity, and ``apply_fn`` is static in the TrainState's tree
    structure, so an equal model built twice (e.g. by a resumed run) would otherwise recompile.
    """

    model: nn.Module

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.model.apply(*args, **kwargs)


def _variables(params: Any, batch_stats: Any) -> dict[str, Any]:
    return {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}


def create_train_state(
    model: nn.Module,
    config: TrainConfig,
    key: jax.Array,
    image_shape: tuple[int, int, int],
    total_steps: int,
    arch_fn: ArchFn | None = None,
) -> TrainState:
    """Initialise parameters (on a sampled arch for supernets) and the optimizer."""
    k_params, k_drop, k_arch = jax.random.split(key, 3)
    arch = None if arch_fn is None else arch_fn(k_arch)
    x = jnp.zeros((1, *image_shape), jnp.float32)
    variables = _init(model, k_params, k_drop, x, arch)
    state = TrainState.create(apply_fn=ModelApply(model), params=variables["params"],
                              tx=make_optimizer(config, total_steps),
                              batch_stats=variables.get("batch_stats", {}))
    # a strongly typed step counter: a restored checkpoint then has the same avals (no recompile)
    return state.replace(step=jnp.zeros((), jnp.int32))


#: Models whose initialisation draws random numbers this many times or more are initialised op by op
#: instead of in one jitted program: XLA compiles each draw's random hash and sampler separately
#: (about 0.1-0.15 s a draw on this CPU), so a jitted init's compile grows with the draws (DARTS
#: evaluation net, 20 cells: 319 draws).  A supernet whose edges are initialised vmapped over the edges
#: draws far fewer times than it has arrays (DARTS search supernet, 8 cells, 3257 arrays: 144 draws,
#: 29 s jitted against minutes eagerly; NB201's full supernet: 44 draws).  Both give the same bits.
EAGER_INIT_MIN_DRAWS = 200
_DRAW_PRIMITIVES = ("random_bits", "threefry2x32")


def _init(model: nn.Module, k_params: jax.Array, k_drop: jax.Array, x: jax.Array, arch: jax.Array | None) -> Any:
    fixed, rngs = arch is None, {"params": k_params, "dropout": k_drop}
    with threefry.rolled():  # an init is mostly draws: they compile several times faster rolled (same bits)
        init = _jitted_init(model, fixed)
        if _init_eagerly(init.trace(rngs, x, arch)):  # traced once: the jitted call below reuses this trace
            return _init_fn(model, fixed)(rngs, x, arch)
        return init(rngs, x, arch)


def _init_fn(model: nn.Module, fixed: bool) -> Callable:
    """``(rngs, x, arch) -> variables`` of a fixed network (arch ignored) or a supernet."""
    if fixed:
        return lambda r, x, a: model.init(r, x, train=False)
    return lambda r, x, a: model.init(r, x, a, train=False)


def count_draws(jaxpr: jex_core.Jaxpr) -> int:
    """Random draws (``random_bits`` / ``threefry2x32`` equations) in ``jaxpr``, nested jaxprs included."""
    n = 0
    for eqn in jaxpr.eqns:
        n += eqn.primitive.name in _DRAW_PRIMITIVES
        for value in eqn.params.values():
            for sub in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(sub, jex_core.ClosedJaxpr):
                    n += count_draws(sub.jaxpr)
                elif isinstance(sub, jex_core.Jaxpr):
                    n += count_draws(sub)
    return n


def _init_eagerly(traced: Any) -> bool:
    """Whether a traced init (``jax.jit(...).trace(...)``) draws :data:`EAGER_INIT_MIN_DRAWS` times or more."""
    return count_draws(traced.jaxpr.jaxpr) >= EAGER_INIT_MIN_DRAWS


@functools.lru_cache(maxsize=32)
def _jitted_init(model: nn.Module, fixed: bool) -> Callable:
    return jax.jit(_init_fn(model, fixed), compiler_options=compiler_options(True))  # runs once: compile fast


def cross_entropy(logits: jax.Array, labels: jax.Array, num_classes: int, smoothing: float = 0.0) -> jax.Array:
    """Mean softmax cross-entropy with optional label smoothing."""
    targets = jax.nn.one_hot(labels, num_classes)
    if smoothing > 0:
        targets = optax.smooth_labels(targets, smoothing)
    return optax.softmax_cross_entropy(logits, targets).mean()


def split_outputs(out: Any) -> tuple[jax.Array, jax.Array | None]:
    """Nets return logits, or (logits, aux_logits) in training (DARTS auxiliary head)."""
    if isinstance(out, (tuple, list)):
        return out[0], (out[1] if len(out) > 1 else None)
    return out, None


def _global_norm(tree: Any) -> jax.Array:
    tree_lib = getattr(optax, "tree", None)
    return tree_lib.norm(tree) if tree_lib is not None and hasattr(tree_lib, "norm") else optax.global_norm(tree)


def step_keys(key: jax.Array, step: jax.Array | int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The (arch, augmentation, dropout) keys of train step ``step`` of a run with base ``key``.

    Public so a host can tell which path a supernet step trained (e.g. to time the matching fixed net).
    """
    k_arch, k_aug, k_drop = jax.random.split(jax.random.fold_in(key, step), 3)
    return k_arch, k_aug, k_drop


def make_train_step_fn(model: nn.Module, config: TrainConfig, arch_fn: ArchFn | None = None) -> Callable:
    """The pure, un-jitted step ``(state, batch, key) -> (state, metrics)`` (see module docstring).

    Computes in ``config.dtype``; the state (params, optimizer state, BN statistics) and the
    metrics are float32 whatever it is (mixed precision: see the module docstring).
    """

    def step(state: TrainState, batch: Mapping[str, jax.Array], key: jax.Array):
        images, labels = batch["image"], batch["label"]
        chex.assert_rank(images, 4)
        chex.assert_shape(labels, (images.shape[0],))
        k_arch, k_aug, k_drop = step_keys(key, state.step)
        arch = None if arch_fn is None else arch_fn(k_arch)
        x = data_lib.augment(k_aug, images, crop_flip=config.crop_flip, crop_padding=config.crop_padding,
                             cutout_size=config.cutout)

        def loss_fn(params):
            out, updates = apply_model(model, _variables(params, state.batch_stats), x, arch, train=True,
                                       mutable=["batch_stats"], rngs={"dropout": k_drop}, dtype=config.dtype)
            logits, aux = split_outputs(out)
            n = logits.shape[-1]
            loss = cross_entropy(logits, labels, n, config.label_smoothing)
            if aux is not None and config.aux_weight > 0:
                loss = loss + config.aux_weight * cross_entropy(aux, labels, n, config.label_smoothing)
            return loss, (logits, updates)

        (loss, (logits, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        new_state = state.apply_gradients(grads=grads, batch_stats=updates.get("batch_stats", state.batch_stats))
        metrics = {
            "loss": loss,
            "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels),
            "grad_norm": _global_norm(grads),
        }
        return new_state, metrics

    return step


def make_train_step(
    model: nn.Module,
    config: TrainConfig,
    arch_fn: ArchFn | None = None,
    mesh: jax.sharding.Mesh | None = None,
    *,
    donate: bool = True,
    fast_compile: bool = False,
) -> Callable:
    """ONE jitted step ``(state, batch, key) -> (state, metrics)``, data-parallel over ``mesh``.

    ``mesh=None`` uses all devices (:func:`sharding.make_mesh`). The architecture is sampled from
    the key inside the step, so calling it for many architectures never recompiles. Memoised on
    (model, config, arch_fn, mesh, ...), so repeated runs (e.g. a resume) reuse the compiled step.
    ``fast_compile`` trades run speed for ~10x faster CPU compilation (:data:`FAST_COMPILE_OPTIONS`).
    """
    mesh = shard_lib.make_mesh() if mesh is None else mesh
    return _cached_step(model, config, arch_fn, mesh, donate, fast_compile)


@functools.lru_cache(maxsize=32)
def _cached_step(model: nn.Module, config: TrainConfig, arch_fn: ArchFn | None, mesh: jax.sharding.Mesh,
                 donate: bool, fast_compile: bool) -> Callable:
    return shard_lib.jit_data_parallel(make_train_step_fn(model, config, arch_fn), mesh, donate_state=donate,
                                       compiler_options=compiler_options(fast_compile))


# ----------------------------------------------------------------------------------------- evaluation


def make_eval_fn(model: nn.Module, batch_size: int = 256, *, fast_compile: bool = False,
                 dtype: str = "float32") -> Callable:
    """Jitted ``(variables, arch, images, labels) -> accuracy`` (float32 scalar), eval-mode BN.

    Images are normalised float32; they are processed in ``batch_size`` chunks (``lax.map``), the
    last chunk padded and masked, so any number of images works. ``arch=None`` for fixed networks.
    ``dtype``: the compute dtype (:data:`DTYPES`; the variables stay as given).
    """
    check_dtype(dtype)

    @functools.partial(jax.jit, compiler_options=compiler_options(fast_compile))
    def evaluate(variables, arch, images, labels):
        n = images.shape[0]
        chex.assert_shape(labels, (n,))
        bs = min(batch_size, n)
        nb = -(-n // bs)
        pad = nb * bs - n
        xs = jnp.pad(images, ((0, pad), (0, 0), (0, 0), (0, 0))).reshape(nb, bs, *images.shape[1:])
        ys = jnp.pad(labels, (0, pad), constant_values=-1).reshape(nb, bs)

        def one(xy):
            logits, _ = split_outputs(apply_model(model, variables, xy[0], arch, train=False, dtype=dtype))
            return jnp.sum(jnp.argmax(logits, -1) == xy[1])

        return jnp.sum(jax.lax.map(one, (xs, ys))) / n

    return evaluate


_cached_eval_fn = functools.lru_cache(maxsize=32)(make_eval_fn)


def evaluate_accuracy(model: nn.Module, variables: Mapping[str, Any], arch: jax.Array | None,
                      images: jax.Array, labels: jax.Array, *, batch_size: int = 256,
                      fast_compile: bool = False, dtype: str = "float32") -> jax.Array:
    """Top-1 accuracy in [0, 1] of ``arch`` (None: fixed network) on normalised images, computed in ``dtype``;
    compiled once per (model, batch size, dtype)."""
    return _cached_eval_fn(model, batch_size, fast_compile=fast_compile, dtype=dtype)(variables, arch, images, labels)


def state_variables(state: TrainState) -> dict[str, Any]:
    """``{"params", "batch_stats"}`` of a TrainState, ready for ``model.apply``."""
    return _variables(state.params, state.batch_stats)


# ----------------------------------------------------------------------------------------- the host loop


@dataclasses.dataclass
class FitResult:
    """What :func:`fit` returns: the final state, per-epoch records, and whether it finished."""

    state: TrainState
    history: list[dict[str, Any]]
    finished: bool
    start_step: int  # 0, or the step a resumed run continued from


def fit(
    model: nn.Module,
    dataset: data_lib.Dataset,
    config: TrainConfig,
    *,
    arch_fn: ArchFn | None = None,
    out_dir: str | os.PathLike | None = None,
    mesh: jax.sharding.Mesh | None = None,
    resume: bool = True,
    stop_after_steps: int | None = None,
    progress: bool = True,
    eval_fn: Callable[[TrainState], Mapping[str, float]] | None = None,
    metadata: Mapping[str, Any] | None = None,
    fast_compile: bool = False,
) -> FitResult:
    """Train for ``config.epochs`` epochs; log, checkpoint and (with ``resume``) continue from ``out_dir``.

    Args:
      arch_fn: samples the single path of each step (supernets); None for a fixed network.
      out_dir: where ``metrics.jsonl`` (one JSON record per epoch) and ``checkpoints/`` go; None
        keeps everything in memory.
      resume: restore the latest checkpoint in ``out_dir`` (if any) and continue from it. The
        batches, keys and learning rates of a resumed run equal those of an uninterrupted one.
      stop_after_steps: stop (without a final checkpoint) once the global step reaches this value;
        used to simulate a killed run and for time-boxed demos.
      eval_fn: called at the end of each epoch with the state; its numbers join the epoch record.
      metadata: extra JSON stored with each checkpoint (e.g. space, net config).
      fast_compile: compile the step with :data:`FAST_COMPILE_OPTIONS` (CPU tests and demos).
    """
    unroll_on_cpu()  # the same random bits, compiled faster (no-op after the first call)
    compile_cache.ensure_enabled()  # train/supernet.py, train/evaluate.py, notebooks: a rerun compiles nothing
    from l2nas_jax.supernet import ckpt as ckpt_lib  # orbax is heavy; only the loop needs it

    mesh = shard_lib.make_mesh() if mesh is None else mesh
    shard_lib.check_batch_size(config.batch_size, mesh)
    spe = data_lib.steps_per_epoch(len(dataset.train_labels), config.batch_size)
    total = spe * config.epochs
    k_init, k_run = jax.random.split(jax.random.key(config.seed))
    state = create_train_state(model, config, k_init, dataset.train_images.shape[1:], total, arch_fn)
    state = shard_lib.replicate(state, mesh)
    key = shard_lib.replicate(k_run, mesh)
    chief = jax.process_index() == 0
    out = None if out_dir is None else Path(out_dir)
    manager = None if out is None else ckpt_lib.Checkpointer(out / "checkpoints", config.keep_checkpoints)
    start = 0
    batches = None
    try:
        if manager is not None and resume and manager.latest_step() is not None:
            state, key, meta = manager.restore(state, key)
            _check_resume(meta, config, spe)
            start = int(jax.device_get(state.step))
            if chief:
                _truncate_metrics(out / METRICS_FILE, start)
        step_fn = make_train_step(model, config, arch_fn, mesh, fast_compile=fast_compile)
        history: list[dict[str, Any]] = []
        # host batches placed on the devices one step ahead (double-buffered; see supernet/prefetch.py); on an
        # accelerator a host thread also assembles them ahead (on the CPU backend the host's cores run the steps)
        batches = prefetch_lib.prefetch_to_device(
            data_lib.batch_iterator(dataset, config.batch_size, config.seed, start_step=start,
                                    process_index=jax.process_index(), process_count=jax.process_count()), mesh,
            host_thread=jax.default_backend() != "cpu")
        step = start
        end = total if stop_after_steps is None else min(total, stop_after_steps)
        while step < end:
            epoch, offset = divmod(step, spe)
            stop = min((epoch + 1) * spe, end)
            bar = tqdm(total=spe, initial=offset, desc=f"epoch {epoch + 1}/{config.epochs}", unit="step",
                       disable=not (progress and chief), leave=False)
            epoch_metrics, t0 = [], time.perf_counter()
            while step < stop:
                _, batch = next(batches)
                state, m = step_fn(state, batch, key)
                epoch_metrics.append(m)
                step += 1
                bar.update(1)
                if step % config.log_every == 0:
                    bar.set_postfix(loss=f"{float(m['loss']):.3f}", acc=f"{float(m['accuracy']):.3f}")
            jax.block_until_ready(state)
            dt = time.perf_counter() - t0
            bar.close()
            if step < (epoch + 1) * spe:  # stopped mid-epoch (stop_after_steps): no record, no checkpoint
                break
            stacked = jax.device_get(epoch_metrics)
            record = {
                "epoch": epoch + 1, "step": step,
                **{k: float(np.mean([m[k] for m in stacked])) for k in stacked[0]},
                "lr": lr_at(config, total, step - 1),
                "images_per_s": (stop - (epoch * spe + offset)) * config.batch_size / dt,
                "epoch_time_s": dt,
                "partial_epoch": offset > 0,
            }
            if eval_fn is not None:
                record.update({k: float(v) for k, v in eval_fn(state).items()})
            history.append(record)
            if chief and progress:
                tqdm.write(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                    for k, v in record.items()))
            if out is not None and chief:
                _append_jsonl(out / METRICS_FILE, record)
            last = epoch + 1 == config.epochs
            if manager is not None and (last or (config.checkpoint_every and (epoch + 1) % config.checkpoint_every == 0)):
                manager.save(step, state, key, {"epoch": epoch + 1, "step": step, "steps_per_epoch": spe,
                                                "config": config.to_dict(), **dict(metadata or {})})
        if manager is not None:
            manager.wait()
        return FitResult(state=state, history=history, finished=step >= total, start_step=start)
    finally:
        if batches is not None:
            batches.close()
        if manager is not None:
            manager.close()


def _check_resume(meta: Mapping[str, Any], config: TrainConfig, spe: int) -> None:
    """Refuse to resume a run whose data order or schedule would differ.

    A different ``dtype`` may resume (e.g. a bfloat16 run continued on a CPU in float32): the
    state is float32 either way; the resumed part then follows the new dtype's arithmetic.
    """
    old = meta.get("config", {})
    for name in ("seed", "batch_size", "epochs", "lr", "lr_min"):
        if name in old and old[name] != getattr(config, name):
            raise ValueError(f"cannot resume: checkpoint has {name}={old[name]!r}, this run {getattr(config, name)!r}")
    if meta.get("steps_per_epoch", spe) != spe:
        raise ValueError(f"cannot resume: checkpoint has {meta['steps_per_epoch']} steps/epoch, this run {spe}")


def _append_jsonl(path: Path, record: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, allow_nan=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop records logged after the checkpoint we resume from (a kill between log and checkpoint)."""
    from l2nas_jax.core import io

    if not path.exists():
        return
    keep = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln).get("step", 0) <= step]
    io.write_text(path, "".join(ln + "\n" for ln in keep))
