"""Accuracy-vs-cost Pareto fronts, and the multi-objective search mode (``l2nas search --pareto``).

**Scalarization.** Each seed searches its own trade-off: the observed value of an
architecture is ``accuracy - lam * log2(MACs_M)``, with ``lam`` (accuracy points
given up per doubling of MACs) drawn once per seed, log-uniformly in
``lambda_range`` (default 0.05 to 10; on NB201/CIFAR-10 the true front's slopes
span about 0.1 to 5 points per doubling).  A weighted sum only targets points on
the convex hull of the front; the reported front is nonetheless that of *every*
architecture the seeds queried (each judged by the reported accuracy and its
analytic MACs), which also contains the non-convex points visited on the way.
The searchers are unchanged: :func:`pareto_searcher` wraps any method, so the
runner's chunking, progress and checkpoints all work.

On an enumerable space (NB201) :func:`pareto_summary` also gives the true front
(all cells) and how much of it the search found (points reached, hypervolume).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from l2nas_jax.core.pareto import hypervolume, pareto_front
from l2nas_jax.envs.constrained import enumerable, enumerate_space
from l2nas_jax.envs.scalarized import ScalarizedEnv, arch_costs
from l2nas_jax.searcher import Searcher, StepOutput

#: Default log-uniform range of the per-seed trade-off (accuracy points per doubling of MACs).
LAMBDA_RANGE = (0.05, 10.0)
#: A true-front point counts as reached when a found point is this close in accuracy (and no costlier).
REACH_TOL = 1e-3


@struct.dataclass
class ParetoState:
    inner: Any
    lam: jax.Array  # float32: this seed's trade-off


def check_lambda_range(lambda_range: tuple[float, float]) -> tuple[float, float]:
    lo, hi = (float(v) for v in lambda_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f"lambda_range must be two finite numbers with 0 < lo <= hi, got {lambda_range!r}")
    return lo, hi


def pareto_searcher(
    make: Callable[[Any, Any, int], Searcher],
    env: Any,
    config: Any,
    queries: int,
    lambda_range: tuple[float, float] = LAMBDA_RANGE,
) -> Searcher:
    """Method ``make`` on ``env`` scalarized per seed (see the module docstring); metrics gain ``lambda``."""
    if not hasattr(env, "cost"):
        raise ValueError(f"--pareto needs a cost model, and space {env.name!r} has none (env.cost)")
    lo, hi = check_lambda_range(lambda_range)
    base = ScalarizedEnv(inner=env, lam=jnp.float32(0.0), name=env.name, alpha_shape=tuple(env.alpha_shape),
                         arch_shape=tuple(env.arch_shape), num_archs=int(env.num_archs))
    proto = make(base, config, queries)

    def init(key: chex.PRNGKey) -> ParetoState:
        k_lam, k_inner = jax.random.split(key)
        lam = jnp.exp(jax.random.uniform(k_lam, (), minval=math.log(lo), maxval=math.log(hi)))
        return ParetoState(inner=proto.init(k_inner), lam=lam.astype(jnp.float32))

    def step(st: ParetoState, t: chex.Array) -> tuple[ParetoState, StepOutput]:
        # The method is rebuilt (at trace time) around this seed's traced trade-off.
        inner, out = make(base.replace(lam=st.lam), config, queries).step(st.inner, t)
        return st.replace(inner=inner), out.replace(metrics={**out.metrics, "lambda": st.lam})

    return Searcher(init=init, step=step)


# -- summaries ------------------------------------------------------------------------------------------


def _front_points(env: Any, archs: np.ndarray, acc: np.ndarray, params: np.ndarray, macs: np.ndarray,
                  queries: np.ndarray | None = None) -> list[dict[str, Any]]:
    f = pareto_front(acc, macs)
    pts = []
    for i in f:
        p = {"arch": env.arch_to_string(archs[i]), "accuracy": round(float(acc[i]), 4),
             "macs_M": round(float(macs[i]), 6), "params_M": round(float(params[i]), 6)}
        if queries is not None:
            p["query"] = int(queries[i]) + 1
        pts.append(p)
    return pts


def _reached(found_acc: np.ndarray, found_cost: np.ndarray, true_acc: np.ndarray, true_cost: np.ndarray) -> np.ndarray:
    """``bool[len(true)]``: some found point is as accurate (within tol) and no costlier."""
    return np.array([np.any((found_acc >= a - REACH_TOL) & (found_cost <= c * (1 + 1e-6)))
                     for a, c in zip(true_acc, true_cost)])


def pareto_summary(env: Any, result: Any, lambdas: np.ndarray | None = None) -> dict[str, Any]:
    """The front of every queried architecture (pooled and per seed), with the true front where enumerable.

    Accuracy is the *reported* metric of each queried architecture, cost its analytic
    MACs (and params).  Hypervolumes are in (accuracy, log2 MACs) with the reference
    point (lowest accuracy on the true front - 1 point, largest MACs in the space);
    without enumeration, the found front's lowest accuracy - 1 and the largest queried MACs.
    """
    t = result.trajectory
    archs, acc = np.asarray(t.archs), np.asarray(t.report, np.float64)
    params, macs = arch_costs(env, archs)
    S, T = acc.shape
    cost = getattr(env, "cost_label", "MACs (M)")  # "latency (ms, modelled)" with --pareto latency; values stay in macs_M
    out: dict[str, Any] = {
        "space": result.space, "dataset": result.dataset, "method": result.method, "queries": T, "num_seeds": S,
        "seed": result.seed, "cost": cost,
        "objectives": f"maximize {result.report_metric} accuracy (%), minimize {cost}",
        "scalarization": "accuracy - lambda * log2(MACs_M), lambda log-uniform per seed" if lambdas is not None
        else "none (front of an ordinary search's queries)",
    }
    pooled = _front_points(env, archs.reshape(S * T, *archs.shape[2:]), acc.ravel(), params.ravel(), macs.ravel())
    out["front"] = pooled
    true = None
    if enumerable(env):
        en = enumerate_space(env)
        tf = pareto_front(en.report, en.macs)
        ref = (float(en.report[tf].min()) - 1.0, float(np.log2(en.macs.max())) + 1e-6)
        true = {"acc": en.report[tf].astype(np.float64), "macs": en.macs[tf].astype(np.float64)}
        out["true_front"] = _front_points(env, en.archs, en.report, en.params, en.macs)
    else:
        pf = pareto_front(acc.ravel(), macs.ravel())
        ref = (float(acc.ravel()[pf].min()) - 1.0, float(np.log2(macs.max())) + 1e-6)
    out["hypervolume_reference"] = {"accuracy": ref[0], "log2_macs": ref[1]}
    pooled_hv = hypervolume(acc.ravel(), np.log2(macs.ravel()), *ref)
    out["hypervolume"] = pooled_hv
    runs = []
    for s in range(S):
        run = {"run": s, "front": _front_points(env, archs[s], acc[s], params[s], macs[s], np.arange(T)),
               "hypervolume": hypervolume(acc[s], np.log2(macs[s]), *ref)}
        if lambdas is not None:
            run["lambda"] = float(lambdas[s])
        if true is not None:
            run["true_front_reached"] = int(_reached(acc[s], macs[s], true["acc"], true["macs"]).sum())
        runs.append(run)
    if true is not None:
        true_hv = hypervolume(true["acc"], np.log2(true["macs"]), *ref)
        reached = _reached(acc.ravel(), macs.ravel(), true["acc"], true["macs"])
        out["true_hypervolume"] = true_hv
        out["hypervolume_ratio"] = pooled_hv / true_hv
        out["true_front_size"] = int(len(true["acc"]))
        out["true_front_reached"] = int(reached.sum())
        out["run_hypervolume_ratio_mean"] = float(np.mean([r["hypervolume"] for r in runs]) / true_hv)
        out["run_true_front_reached_mean"] = float(np.mean([r["true_front_reached"] for r in runs]))
    out["runs"] = runs
    return out
