"""Speed of the NB201 L2NAS search on this machine.

Measures (one process, so the figures are comparable as ratios), for the default
config and for the paper's literal config (``LITERAL_PAPER_CONFIG``: up to 10
updates of 3x128 networks per query, so the run is dominated by the updates):
  * a 1000-query single-seed run: compile time and run time (after compile);
  * 16 seeds vmapped (seed axis sharded over the CPU cores): run time, per-seed cost;
  * queries/s, and the minibatch updates' effective GFLOP/s (FLOPs of one update from
    XLA's cost analysis x number of updates) against this machine's own GFLOP/s on a
    jitted loop of 64x128 @ 128x128 matmuls, single and 16-way batched.

Usage: python benchmarks/nb201_speed.py [--queries 1000] [--seeds 16] [--repeats 3]
Writes benchmarks/results/nb201_speed.json (``--record``).  Threefry is lowered unrolled on CPU, as
the CLI and the API do (:mod:`l2nas_jax.core.threefry`); ``L2NAS_ROLLED_THREEFRY=1`` measures JAX's
default rolled loop instead (the file records which).
"""

from __future__ import annotations

from l2nas_jax.core.cpu import use_all_cpu_cores

use_all_cpu_cores()

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import functools  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from l2nas_jax.agent.learner import agent_init, make_update  # noqa: E402
from l2nas_jax.agent.search import LITERAL_PAPER_CONFIG, L2NASConfig, make_l2nas  # noqa: E402
from l2nas_jax.api import build_env  # noqa: E402
from l2nas_jax.core.provenance import provenance  # noqa: E402
from l2nas_jax.core.threefry import unroll_on_cpu  # noqa: E402
from l2nas_jax.report import records  # noqa: E402
from l2nas_jax.runner import seed_keys, shard_seeds  # noqa: E402
from l2nas_jax.searcher import run_searcher  # noqa: E402


def timed(fn, *args, repeats: int) -> float:
    """Median wall time of ``fn(*args)`` (already compiled), blocking on the result."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def matmul_gflops(batch: int, steps: int = 2000, repeats: int = 3) -> float:
    """GFLOP/s of a jitted scan of (batch x) 64x128 @ 128x128 matmuls (the critic's shapes)."""
    x = shard_seeds(jnp.ones((batch, 64, 128)))
    w = shard_seeds(jnp.full((batch, 128, 128), 0.01))

    @jax.jit
    def loop(x, w):
        return jax.lax.scan(lambda x, _: (jnp.tanh(jnp.einsum("bij,bjk->bik", x, w)), None), x, None, length=steps)[0]

    jax.block_until_ready(loop(x, w))
    return 2 * batch * 64 * 128 * 128 * steps / timed(loop, x, w, repeats=repeats) / 1e9


def update_flops(cfg: L2NASConfig, alpha_shape: tuple[int, int]) -> float:
    """FLOPs of one minibatch update (critic + actor step), from XLA's cost analysis."""
    agent = agent_init(jax.random.key(0), alpha_shape, actor_hidden=cfg.actor_hidden,
                       critic_hidden=cfg.critic_hidden, actor_lr=cfg.actor_lr, critic_lr=cfg.critic_lr)
    upd = jax.jit(make_update(tau=cfg.tau))
    args = (agent, jnp.zeros((cfg.batch_size, *alpha_shape)), jnp.zeros((cfg.batch_size,)),
            jnp.zeros((alpha_shape[0] * alpha_shape[1],)))
    cost = upd.lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"])


def make_run(env, cfg: L2NASConfig, queries: int) -> Callable:
    """The jitted search of ``queries`` queries, vmapped over a leading seed axis of keys."""
    searcher = make_l2nas(env, cfg, queries)
    return jax.jit(jax.vmap(functools.partial(run_searcher, searcher, queries=queries)))


def time_seeds(run: Callable, seed: int, n: int, repeats: int) -> tuple[float, float, Any]:
    """Compile time and median run time (s) of ``n`` vmapped seeds of ``run``, and the runs' steps."""
    keys = shard_seeds(seed_keys(seed, n))
    t = time.perf_counter()
    compiled = run.lower(keys).compile()
    compile_s = time.perf_counter() - t
    run_s = timed(compiled, keys, repeats=repeats)
    _, steps = compiled(keys)
    return compile_s, run_s, steps


def seeds_record(n: int, queries: int, compile_s: float, run_s: float) -> dict[str, Any]:
    """The recorded figures of one :func:`time_seeds` timing."""
    return {"seeds": n, "compile_s": round(compile_s, 3), "run_s": round(run_s, 3), "per_seed_s": round(run_s / n, 3),
            "queries_per_s": round(n * queries / run_s, 1)}


def bench_config(name: str, env, cfg: L2NASConfig, a: argparse.Namespace, mm1: float, mmb: float) -> dict:
    """Single-seed and sweep timings of one config, with the updates' GFLOP/s ratios to the matmul reference."""
    run = make_run(env, cfg, a.queries)
    flops_per_update = update_flops(cfg, env.alpha_shape)
    res: dict = {"config": dataclasses.asdict(cfg), "flops_per_update": flops_per_update}
    for label, n in (("single", 1), ("sweep", a.seeds)):
        compile_s, run_s, steps = time_seeds(run, a.seed, n, a.repeats)
        updates = int(np.asarray(steps.metrics["updates"]).sum())
        gflops = updates * flops_per_update / run_s / 1e9
        res[label] = {**seeds_record(n, a.queries, compile_s, run_s), "updates": updates,
                      "update_gflops": round(gflops, 2)}
        print(f"{name:>8} {label:>6}: {n:>2} seed(s) x {a.queries} "
              f"queries  compile {compile_s:6.2f} s  run {run_s:6.2f} s  ({run_s / n:.2f} s/seed, "
              f"{n * a.queries / run_s:,.0f} queries/s, {updates:,} updates, {gflops:.1f} GFLOP/s in updates)")
    res["ratios"] = {
        "single_update_gflops_vs_matmul_1": round(res["single"]["update_gflops"] / mm1, 3),
        "sweep_update_gflops_vs_matmul_batched": round(res["sweep"]["update_gflops"] / mmb, 3),
        "sweep_update_gflops_vs_matmul_1": round(res["sweep"]["update_gflops"] / mm1, 3),
        "sweep_per_seed_vs_single": round(res["sweep"]["per_seed_s"] / res["single"]["run_s"], 3),
    }
    for k, v in res["ratios"].items():
        print(f"    {k}: {v}")
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--seeds", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", default="cifar10")
    records.add_output_args(p, "nb201_speed")
    a = p.parse_args()

    threefry = "unrolled" if unroll_on_cpu() else "rolled"
    env = build_env("nb201", a.dataset)
    out: dict = {"benchmark": "nb201_speed", "seed": a.seed, "queries": a.queries, "dataset": a.dataset,
                 **provenance()}
    mm1, mmb = matmul_gflops(1), matmul_gflops(a.seeds)
    out["matmul_gflops"] = {"batch_1": round(mm1, 2), f"batch_{a.seeds}": round(mmb, 2)}
    print(f"matmul reference: {mm1:.1f} GFLOP/s (1 x 64x128@128x128), {mmb:.1f} GFLOP/s ({a.seeds}-way batched, "
          f"sharded over {jax.local_device_count()} device(s))")
    for name, cfg in (("default", L2NASConfig()), ("literal", L2NASConfig(**LITERAL_PAPER_CONFIG))):
        out[name] = bench_config(name, env, cfg, a, mm1, mmb)
    config = {"queries": a.queries, "seeds": a.seeds, "repeats": a.repeats, "dataset": a.dataset,
              "threefry": threefry}
    records.save(records.Record(stem="nb201_speed", command=records.command_line("benchmarks/nb201_speed.py", None),
                                seed=a.seed, config=config, data={k: v for k, v in out.items() if k != "seed"}),
                 a, Path(__file__).parent / "results")


if __name__ == "__main__":
    main()
