"""First execution vs later executions of one compiled CPU program, with XLA's YNNPACK fusions on and off.

Why: a random-path supernet step ran several times slower when each step took a new path than
when one path was repeated (``docs/design.md``, supernet speed).  The cost is per *first execution*
of a piece of the program: XLA:CPU hands convolutions and matmuls to YNNPACK ("__ynn_fusion"),
whose runtime is set up when the fusion first runs.  A supernet branch first runs when a path
first takes it, so early random-path steps pay that set-up; a fixed network pays it once, in its
first step.  This script shows the effect on a plain program (a chain of 1x1 convolutions and
its gradient), in this process (XLA defaults) and in a child process with YNN fusions switched
off (``--xla_cpu_experimental_ynn_fusion_type=``), and writes both to ``benchmarks/results/``.

    python benchmarks/xla_cpu_first_run.py [--layers 60] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

NO_YNN = "--xla_cpu_experimental_ynn_fusion_type="


def measure(layers: int, repeats: int, seed: int) -> dict:
    """Compile time, first-call time and later-call times of ``grad`` of a chain of 1x1 convs + tanh."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def chain(x, ws):
        for w in ws:
            x = jnp.tanh(lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
        return x.sum()

    kx, kw = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (8, 16, 16, 32))
    ws = list(0.1 * jax.random.normal(kw, (layers, 1, 1, 32, 32)))
    t = time.perf_counter()
    compiled = jax.jit(jax.grad(chain, argnums=1)).lower(x, ws).compile()
    compile_s = time.perf_counter() - t
    calls = []
    for _ in range(1 + repeats):
        t = time.perf_counter()
        jax.block_until_ready(compiled(x, ws))
        calls.append(time.perf_counter() - t)
    text = compiled.as_text()
    return {"xla_flags": os.environ.get("XLA_FLAGS", ""), "ynn_fusions": text.count("__ynn_fusion"),
            "compile_s": round(compile_s, 3), "first_call_ms": round(1e3 * calls[0], 2),
            "later_call_ms_median": round(1e3 * statistics.median(calls[1:]), 2),
            "first_over_later": round(calls[0] / statistics.median(calls[1:]), 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, default=60, help="1x1 convolutions in the chain (default 60)")
    p.add_argument("--repeats", type=int, default=5, help="calls timed after the first (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(Path(__file__).parent / "results"), help="results folder")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.layers < 1 or args.repeats < 1:
        p.error("--layers and --repeats must be at least 1")
    if args.child:
        print(json.dumps(measure(args.layers, args.repeats, args.seed)))
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from l2nas_jax.core import io
    from l2nas_jax.core.provenance import provenance

    rows = {"xla_default": measure(args.layers, args.repeats, args.seed)}
    env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {NO_YNN}".strip()}
    child = subprocess.run([sys.executable, __file__, "--child", "--layers", str(args.layers), "--repeats",
                            str(args.repeats), "--seed", str(args.seed)], env=env, capture_output=True, text=True,
                           check=True)
    rows["ynn_off"] = json.loads(child.stdout.strip().splitlines()[-1])
    res = {"seed": args.seed, "config": {"layers": args.layers, "repeats": args.repeats}, "rows": rows,
           "provenance": provenance()}
    lines = ["# First vs later executions of one compiled CPU program (XLA:CPU YNNPACK fusions on / off)", "",
             f"grad of a chain of {args.layers} 1x1 convolutions + tanh (batch 8, 16x16, 32 channels); "
             f"first call, then the median of {args.repeats} calls; seed {args.seed}; "
             f"device {res['provenance']['device']}.", "",
             "| XLA | YNN fusions | compile s | first call ms | later calls ms (median) | first / later |",
             "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} (`{r['xla_flags'] or 'XLA_FLAGS unset'}`) | {r['ynn_fusions']} | {r['compile_s']} | "
                     f"{r['first_call_ms']} | {r['later_call_ms_median']} | {r['first_over_later']} |")
    lines += ["", "Command: `python benchmarks/xla_cpu_first_run.py " + " ".join(argv or sys.argv[1:]) + "`", ""]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    io.write_json(out / "xla_cpu_first_run.json", res)
    io.write_text(out / "xla_cpu_first_run.md", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
