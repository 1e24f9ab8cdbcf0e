"""Speed of the single-path supernet train step vs a plain fixed network of the same skeleton.

For each space (NB201 ``TinyNetwork`` C=16 N=5 at 32x32; DARTS search skeleton C=16, 8 cells at
32x32; batch 64 by default) one process measures three jitted, data-parallel train steps
(``l2nas_jax.supernet.train.make_train_step``, same TrainConfig, same synthetic batch):

* ``supernet``: the weight-sharing supernet, a new uniformly sampled path every step (the path
  is a traced input; ``lax.switch`` per edge / node picks the op);
* ``supernet_pinned``: the same supernet, always given the fixed architecture below (same
  compute as the fixed net, so the ratio isolates the single-path machinery's overhead);
* ``fixed``: the plain flax network of that architecture (``make_network``; NB201 with the
  supernet's non-affine cell BN; DARTS the evaluation network at the search skeleton, no
  auxiliary head, no drop-path) -- what training the found architecture costs.

Per variant: compile time (``lower(...).compile()``, alone) and steady-state images/s (median
and best of ``--repeats`` timings of ``--steps`` steps after ``--warmup`` steps), plus the
ratios supernet / fixed measured in the same run.  The batch is split over all devices, as in
``train/supernet.py``: on a CPU that is one device using every core (the CPU is not split into
one device per core here, unlike the table-search benchmarks). The fixed architecture is drawn with
``--seed`` and recorded. The machine's load average is recorded before and after: on a shared
machine the absolute numbers are noisy, the ratios less so.

Usage::

    python benchmarks/supernet_speed.py                      # full settings, all spaces
    python benchmarks/supernet_speed.py --space nb201 --batch-size 16 --channels 8 --layers 2 \\
        --image-size 16 --fast-compile --tag cpu              # CPU-friendly settings

Writes benchmarks/results/supernet_speed_<tag>.json and .md (tag default: the JAX backend).
"""

from __future__ import annotations

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Sequence  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh  # noqa: E402

from l2nas_jax.core.provenance import provenance  # noqa: E402
from l2nas_jax.report import records  # noqa: E402
from l2nas_jax.spaces import get_space  # noqa: E402
from l2nas_jax.supernet import sharding, train  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: The settings of the task: NB201 TinyNetwork(C=16, N=5) and the DARTS search skeleton (C=16, 8 cells)
#: at 32 px; the OFA MobileNetV3 supernet (width 1.0; its widths and depth are part of the net) at 224 px.
FULL = {"nb201": {"channels": 16, "layers": 5, "image_size": 32},
        "darts": {"channels": 16, "layers": 8, "image_size": 32},
        "ofa": {"channels": None, "layers": None, "image_size": 224}}


def fixed_network(space: str, arch: Any, channels: int | None, layers: int | None, num_classes: int) -> Any:
    """The plain network of ``arch`` with the supernet's skeleton (see the module docstring)."""
    if space == "nb201":
        from l2nas_jax.spaces.nb201 import nets as nb201

        return nb201.make_network(arch, C=channels, N=layers, num_classes=num_classes, affine=False)
    if space == "darts":
        from l2nas_jax.spaces.darts import nets as darts

        return darts.make_network(arch, C=channels, layers=layers, num_classes=num_classes, auxiliary=False,
                                  drop_path=0.0)
    if space == "ofa":  # the subnet as its own network (OFA's get_active_subnet), at the supernet's width
        from l2nas_jax.spaces.ofa import nets as ofa

        return ofa.make_network(arch, num_classes=num_classes)
    raise ValueError(f"unknown space {space!r}; valid: {', '.join(FULL)}")


def compile_step(model: Any, arch_fn: Callable | None, config: train.TrainConfig, image_size: int, *,
                 fast_compile: bool, seed: int, mesh: Mesh | None = None,
                 memory: bool = False) -> tuple[Callable, tuple[Any, Any, Any], dict[str, Any]]:
    """The compiled train step, its inputs (state, batch, run key) and what it cost to build.

    ``mesh``: the devices the batch is split over (default: all); ``memory`` adds the compiled step's
    own memory (``program_bytes``, from XLA's memory analysis).
    """
    mesh = sharding.make_mesh() if mesh is None else mesh
    b = config.batch_size
    k_init, k_data, k_run = jax.random.split(jax.random.key(seed), 3)
    t = time.perf_counter()
    state = train.create_train_state(model, config, k_init, (image_size, image_size, 3), 10_000, arch_fn)
    init_s = time.perf_counter() - t
    params = int(sum(np.prod(p.shape) for p in jax.tree.leaves(state.params)))
    state = sharding.replicate(state, mesh)
    key = sharding.replicate(k_run, mesh)
    batch = sharding.shard_batch({
        "image": np.asarray(jax.random.normal(k_data, (b, image_size, image_size, 3)), np.float32),
        "label": np.arange(b, dtype=np.int32) % 10,
    }, mesh)
    step = train.make_train_step(model, config, arch_fn, mesh, fast_compile=fast_compile)
    t = time.perf_counter()
    compiled = step.lower(state, batch, key).compile()
    compile_s = time.perf_counter() - t
    info = {"params": params, "init_s": round(init_s, 3), "compile_s": round(compile_s, 3),
            **(program_bytes(compiled) if memory else {})}
    return compiled, (state, batch, key), info


def measure(model: Any, arch_fn: Callable | None, config: train.TrainConfig, image_size: int, *, steps: int,
            warmup: int, repeats: int, fast_compile: bool, seed: int, mesh: Mesh | None = None,
            memory: bool = False) -> dict[str, Any]:
    """Compile time and steady-state images/s of one train step on a fixed synthetic batch."""
    compiled, (state, batch, key), info = compile_step(model, arch_fn, config, image_size, fast_compile=fast_compile,
                                                       seed=seed, mesh=mesh, memory=memory)
    for _ in range(warmup):
        state, m = compiled(state, batch, key)
    jax.block_until_ready(state)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            state, m = compiled(state, batch, key)
        jax.block_until_ready(state)
        times.append(time.perf_counter() - t)
    per_step = [x / steps for x in times]
    b = config.batch_size
    return {
        **info,
        "step_ms_median": round(1e3 * statistics.median(per_step), 3),
        "step_ms_best": round(1e3 * min(per_step), 3),
        "images_per_s_median": round(b / statistics.median(per_step), 2),
        "images_per_s_best": round(b / min(per_step), 2),
        "final_loss": float(m["loss"]),
    }


def step_paths(space: Any, key: jax.Array, steps: Sequence[int]) -> list[np.ndarray]:
    """The path each of ``steps`` trains when the supernet samples ``space.random_arch`` (as the step does)."""
    return [np.asarray(space.random_arch(train.step_keys(key, s)[0])) for s in steps]


def single_step_times(step: Any, state: Any, batch: Any, key: jax.Array, n: int) -> tuple[Any, list[float]]:
    """``n`` steps, each timed alone (dispatch to result ready): the final state and the seconds of each."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        state, _ = step(state, batch, key)
        jax.block_until_ready(state)
        times.append(time.perf_counter() - t)
    return state, times


def measure_matched(space_name: str, supernet: Any, size: dict[str, int], config: train.TrainConfig, *,
                    steps: int, warmup: int, fast_compile: bool, seed: int) -> dict[str, Any]:
    """Each random-path step timed alone next to the fixed network *of that step's path*.

    The single-path idea pays off if a sampled path costs what its own network costs; paths differ
    several-fold in cost (a cell of 3x3 convolutions vs one of skips), so the fair reference of a
    random-path step is the fixed net of the same path, not of one arbitrary architecture.
    Fixed nets: each distinct path compiled once, median of ``steps`` single-step timings.
    """
    space = get_space(space_name)
    image_size = size["image_size"]
    compiled, (state, batch, key), info = compile_step(supernet, space.random_arch, config, image_size,
                                                       fast_compile=fast_compile, seed=seed)
    for _ in range(warmup):
        state, _ = compiled(state, batch, key)
    jax.block_until_ready(state)
    first = int(state.step)
    state, super_s = single_step_times(compiled, state, batch, key, steps)
    paths = step_paths(space, key, range(first, first + steps))
    fixed_s: dict[str, float] = {}
    rows = []
    for path, sup in zip(paths, super_s):
        name = space.to_string(path)
        if name not in fixed_s:
            print(f"[{space_name}] matched fixed net {len(fixed_s) + 1}: {name}", file=sys.stderr, flush=True)
            model = fixed_network(space_name, path, size["channels"], size["layers"], 10)
            step, (fs, fb, fk), _ = compile_step(model, None, config, image_size, fast_compile=fast_compile,
                                                 seed=seed)
            fs, _ = step(fs, fb, fk)  # warm-up
            jax.block_until_ready(fs)
            fixed_s[name] = statistics.median(single_step_times(step, fs, fb, fk, max(1, steps // 2))[1])
        rows.append({"arch": name, "supernet_ms": round(1e3 * sup, 3), "fixed_ms": round(1e3 * fixed_s[name], 3)})
    b = config.batch_size
    total_super, total_fixed = sum(super_s), sum(fixed_s[r["arch"]] for r in rows)
    return {
        **info,
        "steps": rows,
        "images_per_s": round(b * steps / total_super, 2),
        "fixed_images_per_s": round(b * steps / total_fixed, 2),
        "images_per_s_ratio": round(total_fixed / total_super, 3),
        "step_ratio_median": round(statistics.median(r["supernet_ms"] / r["fixed_ms"] for r in rows), 3),
    }


def program_bytes(compiled: Any) -> dict[str, Any]:
    """Argument, output and temporary bytes of a compiled program (XLA's memory analysis; None if unknown)."""
    try:
        stats = compiled.memory_analysis()
        sizes = {k: int(getattr(stats, f"{k}_size_in_bytes")) for k in ("argument", "output", "temp")}
    except Exception:  # noqa: BLE001 -- not every backend / JAX version reports it
        return {"program_bytes": None}
    return {"program_bytes": sizes}


def bench_config(batch_size: int, image_size: int, seed: int, dtype: str = "float32") -> train.TrainConfig:
    """The DARTS recipe (SGD momentum, clip 5, crop+flip, cutout 16 scaled to the image size); compute ``dtype``."""
    extra = {} if dtype == "float32" else {"dtype": dtype}  # TrainConfig's default is float32
    return train.TrainConfig(epochs=1, batch_size=batch_size, seed=seed, cutout=max(1, 16 * image_size // 32), **extra)


def space_settings(space_name: str, args: argparse.Namespace) -> dict[str, int | None]:
    """(channels, layers, image_size, batch_size) of a space: the full ones, --C/--layers/..., --settings.

    OFA has no channels or layers knob (None; ``-`` in ``--settings``).
    """
    out: dict[str, int | None] = {**FULL[space_name], "batch_size": args.batch_size}
    knobs = (("channels", args.channels), ("layers", args.layers)) if space_name != "ofa" else ()
    out.update({k: v for k, v in (*knobs, ("image_size", args.image_size)) if v is not None})
    for item in args.settings:
        name, _, values = item.partition(":")
        if name == space_name:
            c, n, px, b = (None if v.strip() in ("-", "") else int(v) for v in values.split(","))
            out.update(channels=c, layers=n, image_size=px, batch_size=b)
    return out


def bench_space(space_name: str, args: argparse.Namespace) -> dict[str, Any]:
    """All three variants of one space, in one process."""
    space = get_space(space_name)
    size = space_settings(space_name, args)
    channels, layers, image_size, batch_size = size["channels"], size["layers"], size["image_size"], size["batch_size"]
    arch = np.asarray(space.random_arch(jax.random.key(args.seed)))
    arch_string = space.to_string(arch)
    config = bench_config(batch_size, image_size, args.seed)
    supernet = space.supernet(channels=channels, layers=layers, num_classes=10)
    fixed = fixed_network(space_name, arch, channels, layers, 10)
    pinned_arch = jnp.asarray(arch)

    def pinned(key: jax.Array) -> jax.Array:
        del key
        return pinned_arch

    kw = {"steps": args.steps, "warmup": args.warmup, "repeats": args.repeats, "fast_compile": args.fast_compile,
          "seed": args.seed}
    out: dict[str, Any] = {
        "net": {"channels": channels, "layers": layers, "image_size": image_size, "num_classes": 10},
        "batch_size": batch_size,
        "full_settings": (channels, layers, image_size, batch_size) == (*FULL[space_name].values(), 64),
        "train_config": config.to_dict(),
        "fixed_arch": arch_string,
    }
    for name, model, fn in (("fixed", fixed, None), ("supernet", supernet, space.random_arch),
                            ("supernet_pinned", supernet, pinned)):
        print(f"[{space_name}] {name} ...", file=sys.stderr, flush=True)
        out[name] = measure(model, fn, config, image_size, **kw)
        print(f"[{space_name}] {name}: {out[name]}", file=sys.stderr, flush=True)
    for name in ("supernet", "supernet_pinned"):
        out[f"ratio_{name}_over_fixed"] = {
            "step_time_median": round(out[name]["step_ms_median"] / out["fixed"]["step_ms_median"], 3),
            "step_time_best": round(out[name]["step_ms_best"] / out["fixed"]["step_ms_best"], 3),
            "compile_time": round(out[name]["compile_s"] / out["fixed"]["compile_s"], 3),
        }
    if args.matched_steps:
        print(f"[{space_name}] supernet vs the fixed net of each step's path ...", file=sys.stderr, flush=True)
        out["matched"] = measure_matched(space_name, supernet, size, config, steps=args.matched_steps,
                                         warmup=args.warmup, fast_compile=args.fast_compile, seed=args.seed)
    return out


def to_markdown(res: dict[str, Any]) -> str:
    """A short human-readable table of the results."""
    lines = [f"# Supernet vs fixed-network train-step speed ({res['tag']})", "",
             f"Device: {res['provenance']['device']['backend']} x{res['provenance']['device']['device_count']} "
             f"({res['provenance']['device']['processor']}); "
             f"{res['steps']} steps x {res['repeats']} repeats after {res['warmup']} warm-up; "
             f"fast_compile={res['fast_compile']}; seed {res['seed']}.",
             f"Load average before / after: {res['load_before']} / {res['load_after']} on {res['cpu_count']} CPUs.",
             "", res["note"], "",
             "| space | net (C, layers, px), batch | variant | params | init s | compile s | step ms (median / best) "
             "| images/s (median / best) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in res["spaces"].items():
        n = r["net"]
        for v in ("fixed", "supernet", "supernet_pinned"):
            m = r[v]
            size = ", ".join("-" if n[k] is None else str(n[k]) for k in ("channels", "layers", "image_size"))
            lines.append(f"| {name} | {size}, {r['batch_size']} | {v} | "
                         f"{m['params']:,} | {m['init_s']:.1f} | "
                         f"{m['compile_s']:.1f} | {m['step_ms_median']:.1f} / {m['step_ms_best']:.1f} | "
                         f"{m['images_per_s_median']:.1f} / {m['images_per_s_best']:.1f} |")
    lines += ["", "| space | ratio | step time (median) | step time (best) | compile time | init + compile time |",
              "|---|---|---|---|---|---|"]
    for name, r in res["spaces"].items():
        for v in ("supernet", "supernet_pinned"):
            q = r[f"ratio_{v}_over_fixed"]
            both = (r[v]["init_s"] + r[v]["compile_s"]) / (r["fixed"]["init_s"] + r["fixed"]["compile_s"])
            lines.append(f"| {name} | {v} / fixed | {q['step_time_median']:.2f} | {q['step_time_best']:.2f} | "
                         f"{q['compile_time']:.2f} | {both:.2f} |")
    matched = {name: r["matched"] for name, r in res["spaces"].items() if "matched" in r}
    if matched:
        lines += ["", "Path-matched: each random-path supernet step timed alone, against the fixed network of "
                  "the path that step trained (each distinct path's fixed net compiled once; median of its "
                  "single-step timings). Images/s over all timed steps:", "",
                  "| space | steps | supernet images/s | matched fixed images/s | supernet / fixed images/s "
                  "| median per-step time ratio |", "|---|---|---|---|---|---|"]
        for name, m in matched.items():
            lines.append(f"| {name} | {len(m['steps'])} | {m['images_per_s']:.1f} | {m['fixed_images_per_s']:.1f} | "
                         f"{m['images_per_s_ratio']:.2f} | {m['step_ratio_median']:.2f} |")
        for name, m in matched.items():
            lines += ["", f"{name} steps (supernet ms / fixed ms):", ""]
            lines += [f"- `{r['arch']}`: {r['supernet_ms']:.1f} / {r['fixed_ms']:.1f}" for r in m["steps"]]
    lines += ["", "Fixed architectures (drawn with the seed):", ""]
    lines += [f"- {name}: `{r['fixed_arch']}`" for name, r in res["spaces"].items()]
    lines += ["", f"Command: `{res['command']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="nb201,darts", help="comma-separated: nb201, darts, ofa")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--channels", type=int, default=None, help="default: 16 (the full settings)")
    p.add_argument("--layers", type=int, default=None, help="NB201 cells per stage (5) / DARTS cells (8)")
    p.add_argument("--image-size", type=int, default=None, help="default: 32 (NB201, DARTS), 224 (OFA)")
    p.add_argument("--settings", action="append", default=[], metavar="SPACE:C,LAYERS,PX,BATCH",
                   help="per-space override, e.g. darts:8,5,16,16 or ofa:-,-,64,16 (repeatable)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--matched-steps", type=int, default=8,
                   help="random-path steps timed against the fixed net of each step's path (0: skip)")
    p.add_argument("--fast-compile", action="store_true", help="CPU: cheaper compile, slower code (recorded)")
    p.add_argument("--tag", default=None, help="results file suffix (default: the JAX backend)")
    records.add_output_args(p, "supernet_speed")
    p.add_argument("--note", default="", help="free text recorded with the results (e.g. why settings were reduced)")
    args = p.parse_args(argv)
    spaces = [s.strip() for s in args.space.split(",") if s.strip()]
    for s in spaces:
        if s not in FULL:
            p.error(f"unknown space {s!r}; valid: {', '.join(FULL)}")
    tag = args.tag or jax.default_backend()
    load_before = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    res = {
        "benchmark": "supernet_speed", "tag": tag, "seed": args.seed,
        "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats, "fast_compile": args.fast_compile,
        "cpu_count": os.cpu_count(), "load_before": load_before,
        "note": args.note or "Full settings: NB201 C=16 N=5, DARTS C=16 8 cells (32 px), OFA width 1.0 (224 px), batch 64.",
        "spaces": {s: bench_space(s, args) for s in spaces},
    }
    res["load_after"] = [round(x, 2) for x in os.getloadavg()]
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    res["command"] = records.command_line("benchmarks/supernet_speed.py", argv)
    res["provenance"] = provenance()
    config = {k: res[k] for k in ("steps", "warmup", "repeats", "fast_compile")} | {
        "settings": args.settings, "matched_steps": args.matched_steps}
    records.save(records.Record(stem=f"supernet_speed_{tag}", command=res["command"], seed=args.seed, config=config,
                                data={k: v for k, v in res.items() if k not in ("command", "provenance", "seed")},
                                markdown=to_markdown(res)), args, RESULTS)
    print(to_markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
