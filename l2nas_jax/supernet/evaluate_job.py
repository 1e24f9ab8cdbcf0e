"""Train a found architecture from scratch under its space's standard protocol: the ``train/evaluate.py`` job.

The last step of a search. :class:`EvaluateJob` names the architecture (any form
:func:`~l2nas_jax.supernet.genotype.resolve_genotype` accepts), the data and any protocol
values to override; :func:`train_and_evaluate` builds the FIXED network through the space's
:attr:`~l2nas_jax.spaces.base.Space.evaluation` record and trains it with the supernet
machinery (:func:`l2nas_jax.supernet.train.fit`: one jitted, data-parallel step, orbax
checkpoints and exact resume, per-epoch ``metrics.jsonl``, progress bars). Usable from a
notebook::

    job = EvaluateJob(space="darts", genotype="DARTS_V2", out="runs/v2", dry_run=True)
    summary = train_and_evaluate(job).summary

The schedule is cosine per step (DARTS/NB201 anneal per epoch: the curves differ by < 1 step's
worth). On CIFAR the whole training split trains the weights (``heldout=0``, the standard
protocol) and the test split is reported; ``heldout=N`` keeps N training images apart.

Writes to ``out``: metrics.jsonl, checkpoints/, run.json (what a resume must match), arch.txt
(the canonical architecture string) and evaluate.json (space, arch, where it came from,
params/MACs from the analytic counter AND from the instantiated network, the protocol and train
config, seed, final accuracies, provenance). An ``out`` that holds an earlier run (a dry run
too) is refused unless ``resume`` continues it or ``overwrite`` replaces it (:mod:`.outdir`).
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

import jax

from l2nas_jax.core import io
from l2nas_jax.core.provenance import provenance
from l2nas_jax.core.threefry import unroll_on_cpu
from l2nas_jax.spaces import space_names
from l2nas_jax.spaces.base import NetOptions, TrainProtocol
from l2nas_jax.supernet import data, outdir, train
from l2nas_jax.supernet.fixed_net import as_space, build_fixed_network, costs, evaluation_of
from l2nas_jax.supernet.genotype import resolve_genotype

RUN_FILE = "run.json"
ARCH_FILE = "arch.txt"
RESULT_FILE = "evaluate.json"
#: TrainProtocol fields that act inside the network rather than in the optimiser.
NET_FIELDS = ("drop_path", "drop_path_schedule", "dropout")
_SYNTHETIC_HELDOUT = 0.25  # default held-out fraction of the generated dataset


def evaluation_spaces() -> tuple[str, ...]:
    """Registered spaces whose found architectures can be trained from scratch (those with networks)."""
    return tuple(n for n in space_names() if _has_evaluation(n))


def _has_evaluation(name: str) -> bool:
    try:
        return as_space(name).evaluation is not None
    except ValueError:  # a space built only from a user's file (``table``) has no networks
        return False


def protocols_help() -> str:
    """One paragraph per space: its standard protocol, for ``train/evaluate.py --help``."""
    return "\n".join(textwrap.fill(f"* {n} -- {evaluation_of(n).about}", width=100, subsequent_indent="  ")
                     for n in evaluation_spaces())


@dataclasses.dataclass(frozen=True)
class EvaluateJob:
    """One from-scratch training run (fields = ``train/evaluate.py`` flags; errors name the flag).

    Protocol fields left at None take the space's standard value (``Space.evaluation.protocol``).
    """

    space: str  # a space with an evaluation record (see evaluation_spaces())
    genotype: str  # architecture string, named architecture, file, results.json or evaluate.json
    out: str  # output directory
    dataset: str = "cifar10"  # cifar10 | cifar100 (tfds, prepared offline) | synthetic
    data_dir: str | None = None  # tensorflow-datasets data dir
    heldout: int | float | None = None  # training images kept apart: count or fraction (None: 0, synthetic 0.25)
    synthetic_size: int = 512  # examples in the generated dataset
    image_size: int = 32  # image size of the generated dataset
    # protocol overrides (None: the space's standard value)
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    lr_min: float | None = None
    momentum: float | None = None
    nesterov: bool | None = None
    weight_decay: float | None = None
    grad_clip: float | None = None
    cutout: int | None = None
    aux_weight: float | None = None
    label_smoothing: float | None = None
    drop_path: float | None = None
    drop_path_schedule: str | None = None
    dropout: float | None = None
    # network size (None: the space's standard network)
    channels: int | None = None
    layers: int | None = None
    auxiliary: bool = True  # DARTS auxiliary head
    width: float = 1.0  # OFA width multiplier
    base_widths: tuple[int, ...] | None = None  # OFA stage widths (tiny CPU nets)
    resolution: int | None = None  # OFA input resolution (default: the subnet's r)
    # run
    seed: int = 0
    max_steps: int | None = None  # stop after this global step without finishing
    resume: bool = False  # continue from the last checkpoint in out
    checkpoint_every: int = 1  # epochs between checkpoints (0 = final only)
    keep_checkpoints: int = 3
    eval_every: int = 1  # epochs between test/held-out evaluations (0 = end only)
    eval_batch_size: int = 256
    dry_run: bool = False  # resolve, count, write arch.txt + evaluate.json; no data, no training
    overwrite: bool = False  # replace an earlier run's files in out (refused otherwise, unless resume)
    progress: bool = True  # progress bars
    fast_compile: bool = False  # CPU: compile ~10x faster, run slower
    dtype: str = "float32"  # compute dtype: float32 | bfloat16 (GPU/TPU; params and optimizer state stay float32)
    command: str | None = None  # the command line, recorded in evaluate.json

    def __post_init__(self) -> None:
        if self.space not in space_names() or as_space(self.space).evaluation is None:
            raise ValueError(f"--space {self.space!r} cannot be trained from scratch; valid: "
                             f"{', '.join(evaluation_spaces())}")
        if self.dataset not in data.DATASETS:
            raise ValueError(f"--dataset {self.dataset!r} is unknown; valid: {', '.join(data.DATASETS)}")
        for name in ("synthetic_size", "image_size", "keep_checkpoints", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{_flag(name)} must be positive, got {getattr(self, name)}")
        for name in ("checkpoint_every", "eval_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{_flag(name)} must be >= 0, got {getattr(self, name)}")
        for name in ("channels", "layers", "epochs", "batch_size", "max_steps"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"--{_flag(name)} must be positive, got {v}")
        if self.heldout is not None and self.heldout < 0:
            raise ValueError(f"--heldout must be >= 0, got {self.heldout}")
        train.check_dtype(self.dtype, "--dtype")


def _flag(name: str) -> str:
    return name.replace("_", "-")


class EvaluateResult(NamedTuple):
    """What :func:`train_and_evaluate` returns (unpacks as ``summary, fit, model``)."""

    summary: dict[str, Any]  # as written to evaluate.json
    fit: train.FitResult | None  # None for a dry run
    model: Any  # the EvalNetwork


def resolve_protocol(job: EvaluateJob) -> tuple[TrainProtocol, dict[str, Any]]:
    """``(protocol, overrides)``: the space's standard protocol with the job's non-None values applied."""
    standard = evaluation_of(job.space).protocol
    overrides = {k: getattr(job, k) for k in standard.values() if getattr(job, k) is not None}
    return dataclasses.replace(standard, **overrides), overrides


def net_options(job: EvaluateJob, protocol: TrainProtocol) -> NetOptions:
    """The network options of a job: its size fields plus the protocol's network-side regularisers."""
    return NetOptions(channels=job.channels, layers=job.layers, auxiliary=job.auxiliary, width=job.width,
                      base_widths=job.base_widths, resolution=job.resolution, drop_path=protocol.drop_path,
                      drop_path_schedule=protocol.drop_path_schedule, dropout=protocol.dropout)


def train_config(job: EvaluateJob, protocol: TrainProtocol) -> train.TrainConfig:
    """The optimiser / augmentation settings of a job (protocol values + the job's run settings)."""
    p = protocol
    return train.TrainConfig(
        lr=p.lr, lr_min=p.lr_min, momentum=p.momentum, nesterov=bool(p.nesterov), weight_decay=p.weight_decay,
        epochs=p.epochs, batch_size=p.batch_size, grad_clip=p.grad_clip, cutout=p.cutout, aux_weight=p.aux_weight,
        label_smoothing=p.label_smoothing, seed=job.seed, checkpoint_every=job.checkpoint_every,
        keep_checkpoints=job.keep_checkpoints, dtype=job.dtype, crop_padding=data.CROP_PADDINGS[job.dataset],
    )


def load_data(job: EvaluateJob) -> data.Dataset:
    """The job's dataset: the generated one (10 classes), CIFAR (tfds) or ImageNet16-120, all training images by default."""
    if job.dataset == "synthetic":
        heldout = _SYNTHETIC_HELDOUT if job.heldout is None else job.heldout
        return data.synthetic_dataset(seed=job.seed, n=job.synthetic_size, image_size=job.image_size,
                                      num_classes=10, heldout=heldout)
    return data.load_dataset(job.dataset, data_dir=job.data_dir, heldout=0 if job.heldout is None else job.heldout,
                             seed=job.seed)


def check_run_file(out: Path, run_info: Mapping[str, Any], resume: bool) -> None:
    """A resume must continue the same architecture, network, protocol and data (ValueError otherwise).

    The compute dtype may change (the checkpointed state is float32 either way; as in ``train.fit``).
    """
    path = out / RUN_FILE
    if resume and path.exists():
        old, new = _without_dtype(json.loads(path.read_text())), _without_dtype(json.loads(json.dumps(run_info)))
        for key in ("space", "arch", "net", "train_config", "dataset"):
            if old.get(key) != new.get(key):
                raise ValueError(f"cannot resume: {path} has a different {key} "
                                 f"({json.dumps(old.get(key))[:200]} vs {json.dumps(run_info.get(key))[:200]})")


def _without_dtype(run_info: Mapping[str, Any]) -> dict[str, Any]:
    """``run_info`` without ``train_config.dtype`` (which a resume may change; absent from older run.json files)."""
    config = run_info.get("train_config")
    if not isinstance(config, Mapping):
        return dict(run_info)
    return {**run_info, "train_config": {k: v for k, v in config.items() if k != "dtype"}}


def _protocol_record(protocol: TrainProtocol, overrides: Mapping[str, Any]) -> dict[str, Any]:
    return {"source": protocol.source, **protocol.values(), "overrides": dict(overrides)}


def _dry_run(job: EvaluateJob, arch: Any, arch_string: str, source: Mapping[str, Any], protocol: TrainProtocol,
             overrides: Mapping[str, Any], options: NetOptions, replaced: list[Path]) -> EvaluateResult:
    """Resolve and count only: no data, no training."""
    num_classes = 100 if job.dataset == "cifar100" else 10
    image_size = job.image_size if job.dataset == "synthetic" else data.IMAGE_SIZES[job.dataset]
    model, net_cfg = build_fixed_network(job.space, arch, num_classes=num_classes, options=options)
    summary = {"space": job.space, "arch": arch_string, "arch_source": dict(source), "net": net_cfg,
               "image_size": image_size, "cost": costs(job.space, arch, model, net_cfg, image_size),
               "protocol": _protocol_record(protocol, overrides),
               "reference": evaluation_of(job.space).reference(arch, job.dataset, net_cfg),
               "dry_run": True, "command": job.command, "provenance": provenance()}
    outdir.replace_earlier_run(replaced)
    if jax.process_index() == 0:
        out = Path(job.out)
        io.write_text(out / ARCH_FILE, arch_string + "\n")
        io.write_json(out / RESULT_FILE, summary)
    return EvaluateResult(summary, None, model)


def cost_summary(cost: Mapping[str, Any]) -> str:
    """``params 1,234 (analytic 1,234), MACs 12.34M`` of :func:`~l2nas_jax.supernet.fixed_net.costs`;
    where the space's analytic counter does not cover the network (a reduced size), ``analytic n/a``
    with the counter's reason, never ``analytic None``."""
    analytic = cost["analytic"].get("params")
    if analytic is None:
        why = cost["analytic"].get("note")
        counted = "analytic n/a" + (f": {why}" if why else "")
    else:
        counted = f"analytic {analytic:,}"
    return f"params {cost['model']['params']:,} ({counted}), MACs {cost['model']['macs'] / 1e6:.2f}M"


def train_and_evaluate(job: EvaluateJob, *, log: Callable[[str], None] | None = None) -> EvaluateResult:
    """Run ``job``: write arch.txt, run.json, metrics.jsonl, checkpoints/ and evaluate.json under ``job.out``.

    ``log`` receives two human-readable lines on process 0 (what is trained, how it ended).
    """
    unroll_on_cpu()
    log = log or (lambda _: None)
    evaluation = evaluation_of(job.space)
    arch, arch_string, source = resolve_genotype(job.space, job.genotype)
    protocol, overrides = resolve_protocol(job)
    options = net_options(job, protocol)
    # an earlier run in out: refused unless --resume (training) or --overwrite (removed below, once valid)
    replaced = outdir.check_out_dir(job.out, resume=job.resume, overwrite=job.overwrite, can_resume=not job.dry_run)
    if job.dry_run:
        result = _dry_run(job, arch, arch_string, source, protocol, overrides, options, replaced)
        if jax.process_index() == 0:  # say what was done: a dry run is otherwise silent
            log(f"dry run: {job.space}: {arch_string}\n  {cost_summary(result.summary['cost'])}; wrote "
                f"{Path(job.out) / ARCH_FILE}, {Path(job.out) / RESULT_FILE} (no data loaded, nothing trained)")
        return result

    out = Path(job.out)
    chief = jax.process_index() == 0
    dataset = load_data(job)
    evaluation.check_image_size(evaluation.plan(arch, options, dataset.num_classes).config, dataset.image_size)
    data.check_cutout(protocol.cutout, dataset.image_size)
    config = train_config(job, protocol)
    spe = data.steps_per_epoch(len(dataset.train_labels), config.batch_size)
    model, net_cfg = build_fixed_network(job.space, arch, num_classes=dataset.num_classes, options=options,
                                         steps_per_epoch=spe, epochs=config.epochs)
    cost = costs(job.space, arch, model, net_cfg, dataset.image_size)
    run_info = {"space": job.space, "arch": arch_string, "net": net_cfg, "train_config": config.to_dict(),
                "dataset": dataset.summary()}
    check_run_file(out, run_info, job.resume)
    outdir.replace_earlier_run(replaced)
    if chief:
        io.write_json(out / RUN_FILE, run_info)
        io.write_text(out / ARCH_FILE, arch_string + "\n")
        log(f"{job.space}: {arch_string}\n  {cost_summary(cost)}; "
            f"{config.epochs} epochs x {spe} steps, batch {config.batch_size}")

    splits = {}
    if len(dataset.heldout_labels):
        splits["heldout"] = (dataset.normalize(dataset.heldout_images), dataset.heldout_labels)
    if dataset.test_labels is not None:
        splits["test"] = (dataset.normalize(dataset.test_images), dataset.test_labels)

    def accuracies(state: train.TrainState) -> dict[str, float]:
        variables = train.state_variables(state)
        return {f"{name}_acc_pct": 100.0 * float(train.evaluate_accuracy(
                    model, variables, None, x, y, batch_size=job.eval_batch_size, fast_compile=job.fast_compile,
                    dtype=job.dtype))
                for name, (x, y) in splits.items()}

    def eval_fn(state: train.TrainState) -> dict[str, float]:
        epoch = int(jax.device_get(state.step)) // spe
        if job.eval_every and epoch % job.eval_every == 0 and jax.process_count() == 1:
            return accuracies(state)
        return {}

    meta = {"space": job.space, "arch": arch_string, "net": net_cfg, "dataset": dataset.summary()}
    result = train.fit(model, dataset, config, arch_fn=None, out_dir=out, resume=job.resume,
                       stop_after_steps=job.max_steps, progress=job.progress, eval_fn=eval_fn,
                       metadata=meta, fast_compile=job.fast_compile)
    final = accuracies(result.state) if jax.process_count() == 1 else {}
    last = result.history[-1] if result.history else None
    summary = {
        "space": job.space,
        "arch": arch_string,
        "arch_source": dict(source),
        "dataset": dataset.summary(),
        "net": net_cfg,
        "cost": cost,
        "protocol": _protocol_record(protocol, overrides),
        "train_config": config.to_dict(),
        "steps_per_epoch": spe,
        "seed": job.seed,
        "finished": result.finished,
        "resumed_from_step": result.start_step,
        "step": int(jax.device_get(result.state.step)),
        "final": {**final, **({"train_loss": last["loss"], "train_acc_pct": 100.0 * last["accuracy"],
                               "images_per_s_last_epoch": last["images_per_s"], "epoch": last["epoch"]}
                              if last else {})},
        "reference": evaluation.reference(arch, dataset.name, net_cfg),
        "command": job.command,
        "provenance": provenance(),
    }
    if chief:
        io.write_json(out / RESULT_FILE, summary)
        accs = ", ".join(f"{k} {v:.2f}" for k, v in final.items())
        log(f"{'finished' if result.finished else 'stopped'} at step {summary['step']}: {accs or 'no eval'}; "
            f"wrote {out / RESULT_FILE}")
    return EvaluateResult(summary, result, model)
