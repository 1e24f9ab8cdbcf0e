"""Hardware-specific space reduction: drop choices that cost latency on this device and buy no accuracy.

Each (decision, choice) of a space gets two scores, both relative to the decision's other choices:

* its **latency cost** on this device: the fitted latency model's look-up-table entry
  (:mod:`l2nas_jax.latency.model`);
* its **accuracy contribution**: the coefficient of a ridge regression of accuracy on the one-hot
  encoding, fitted on whatever accuracies are at hand (a benchmark table, possibly of another
  dataset; a predictor's outputs; the queries of an earlier search).

A choice is dropped when another choice of the same decision is at least as fast and at least as
accurate, and strictly better in one (Pareto-dominated), starting with the most dominated; every
decision keeps at least :data:`MIN_KEEP` choices.  The result is a boolean ``keep`` mask of the
space's ``alpha_shape``; :func:`l2nas_jax.envs.latency.with_latency` searches inside it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

#: Choices every decision keeps, however dominated the others are.
MIN_KEEP = 2
#: Latency differences below this fraction of the decision's latency range count as ties.
LATENCY_TIE = 0.1
#: Ridge penalty of the accuracy regression (in records, as in the latency model).
RIDGE = 1.0


def choice_accuracy(encodings: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``float[D, C]``: accuracy contribution of each choice (ridge coefficients on the one-hot, centred per decision).

    ``encodings`` are one-hot rows (``float[n, D*C]``), ``values`` their accuracies.  NaN values are ignored.
    """
    ok = np.isfinite(values)
    x, y = np.asarray(encodings, np.float64)[ok], np.asarray(values, np.float64)[ok]
    if len(y) < 2:
        raise ValueError(f"space reduction needs accuracies of at least 2 architectures, got {len(y)}")
    xc, yc = x - x.mean(0), y - y.mean()
    coef = np.linalg.solve(xc.T @ xc + RIDGE * np.eye(x.shape[1]) * max(float(np.mean(xc ** 2)), 1e-12),
                           xc.T @ yc).reshape(shape)
    return coef - coef.mean(1, keepdims=True)


def choice_latency(lut: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``float[D, C]``: each choice's latency (ms) relative to its decision's mean (the model's table; a MACs
    term after the table's ``D * C`` entries is not a choice and is left out)."""
    t = np.asarray(lut, np.float64)[: shape[0] * shape[1]].reshape(shape)
    return t - t.mean(1, keepdims=True)


def reduce_choices(latency: np.ndarray, accuracy: np.ndarray, *, min_keep: int = MIN_KEEP) -> np.ndarray:
    """``bool[D, C]`` keep mask: Pareto-dominated choices (slower and no more accurate) dropped, most dominated first."""
    lat, acc = np.asarray(latency, np.float64), np.asarray(accuracy, np.float64)
    if lat.shape != acc.shape or lat.ndim != 2:
        raise ValueError(f"latency and accuracy scores must both be [decisions, choices], got {lat.shape}, {acc.shape}")
    keep = np.ones(lat.shape, bool)
    for d in range(lat.shape[0]):
        tie = LATENCY_TIE * max(float(np.ptp(lat[d])), 1e-12)
        margin = np.zeros(lat.shape[1])  # how far each choice is behind its best dominator (latency + accuracy)
        for c in range(lat.shape[1]):
            for o in range(lat.shape[1]):
                faster = lat[d, o] <= lat[d, c] + tie
                better = acc[d, o] >= acc[d, c]
                strictly = lat[d, o] < lat[d, c] - tie or acc[d, o] > acc[d, c]
                if o != c and faster and better and strictly:
                    margin[c] = max(margin[c], (lat[d, c] - lat[d, o]) / max(np.ptp(lat[d]), 1e-12)
                                    + (acc[d, o] - acc[d, c]) / max(np.ptp(acc[d]), 1e-12))
        for c in np.argsort(-margin, kind="stable"):
            if margin[c] > 0 and keep[d].sum() > min_keep:
                keep[d, c] = False
    return keep


def dropped(keep: np.ndarray, names: Sequence[Sequence[str]] | None = None) -> list[str]:
    """Human-readable list of the dropped choices (``names[d][c]`` when the space names them)."""
    out = []
    for d, c in zip(*np.nonzero(~np.asarray(keep))):
        out.append(names[d][c] if names is not None else f"decision {d}: choice {c}")
    return out


def table_accuracy(space: Any, dataset: str, table: Any = None) -> np.ndarray:
    """Accuracy contributions from a benchmark table's *search* metric (all architectures of an enumerable space)."""
    import jax

    if space.table_values is None or space.enumerate_archs is None:
        raise ValueError(f"the {space.name} space has no enumerable benchmark table to score choices with")
    values = space.table_values(dataset, table)
    archs = space.enumerate_archs()
    enc = np.asarray(jax.jit(jax.vmap(lambda a: space.encode(a).reshape(-1)))(archs))
    return choice_accuracy(enc, np.asarray(values.search), tuple(space.alpha_shape))
