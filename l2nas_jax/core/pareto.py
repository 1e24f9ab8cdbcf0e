"""Pareto fronts and hypervolumes of (accuracy, cost) points: pure NumPy maths, no JAX."""

from __future__ import annotations

import numpy as np


def pareto_front(acc: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated points (maximize ``acc``, minimize ``cost``), by increasing cost.

    A point is dominated if another is at least as good in both and better in one.
    Exact duplicates (same acc and cost) do not dominate each other; the front keeps
    the first of them (lowest index), so every front point is distinct.
    """
    acc, cost = np.asarray(acc, np.float64).ravel(), np.asarray(cost, np.float64).ravel()
    if acc.shape != cost.shape:
        raise ValueError(f"acc and cost must have the same length, got {acc.shape} and {cost.shape}")
    if not (np.isfinite(acc).all() and np.isfinite(cost).all()):
        raise ValueError("pareto_front needs finite accuracies and costs")
    order = np.lexsort((np.arange(acc.size), -acc, cost))  # cost asc, then acc desc, then index asc
    a = acc[order]
    best_before = np.concatenate([[-np.inf], np.maximum.accumulate(a)[:-1]]) if a.size else a
    return order[a > best_before].astype(np.int64)


def hypervolume(acc: np.ndarray, cost: np.ndarray, ref_acc: float, ref_cost: float) -> float:
    """Area dominated by the points and bounded by ``(ref_acc, ref_cost)`` (acc above, cost below it)."""
    acc, cost = np.asarray(acc, np.float64).ravel(), np.asarray(cost, np.float64).ravel()
    inside = (acc > ref_acc) & (cost < ref_cost)
    acc, cost = acc[inside], cost[inside]
    if acc.size == 0:
        return 0.0
    f = pareto_front(acc, cost)
    a, c = acc[f], cost[f]
    widths = np.diff(np.append(c, ref_cost))
    return float(np.sum(widths * (a - ref_acc)))
