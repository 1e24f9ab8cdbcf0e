"""Plots of search results (best-so-far and regret curves, mean and band over seeds)."""

from __future__ import annotations

import os
import threading
from typing import Mapping

import numpy as np

from l2nas_jax.core import io
from l2nas_jax.results import SearchResult


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(
    results: Mapping[str, SearchResult],
    *,
    regret: bool = False,
    ax=None,
    band: str = "std",
):
    """Best-so-far reported metric (or regret = optimum - best, log scale) vs queries.

    Lines are the mean over seeds; the band is +-1 std (``band="std"``) or the
    25-75 % quantiles (``band="iqr"``), never above the table optimum (nor the
    highest curve value).  Returns the matplotlib Axes.
    """
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(7, 4.5))
    any_r = next(iter(results.values()))
    for label, r in results.items():
        y = r.curves.astype(float)
        if regret:
            y = np.maximum(r.optimum - y, 1e-3)
        x = np.arange(1, y.shape[1] + 1)
        if band == "iqr":
            lo, hi = np.percentile(y, [25, 75], axis=0)
        else:
            lo, hi = y.mean(0) - y.std(0), y.mean(0) + y.std(0)
        if regret:  # a log axis cannot show a band below zero
            lo = np.maximum(lo, 1e-3)
        elif np.isfinite(r.optimum):
            # No seed's best-so-far reported value exceeds the table optimum, so neither does the band
            # (mean + std would, once some seeds reach it); should a curve exceed it, its own maximum bounds it.
            hi = np.minimum(hi, max(float(r.optimum), float(y.max())))
        line = ax.plot(x, y.mean(0), label=f"{label} (n={y.shape[0]})")[0]
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xscale("log")
    ax.set_xlabel("queries")
    metric = f"{any_r.report_metric} accuracy (%)"
    if regret:
        ax.set_yscale("log")
        ax.set_ylabel(f"regret: optimum - best {metric}")
    else:
        ax.set_ylabel(f"best-so-far {metric}")
        which = "constrained optimum" if getattr(any_r, "constraint", None) else "table optimum"
        if np.isfinite(any_r.optimum):  # unknown (NaN) for a supernet: no line, default limits
            ax.axhline(any_r.optimum, color="k", linestyle=":", linewidth=1, label=f"{which} {any_r.optimum:.2f}")
            lo = min(np.percentile(r.curves[:, min(9, r.queries - 1)], 10) for r in results.values())
            ax.set_ylim(max(lo - 0.5, 0), any_r.optimum + 0.3)
    ax.set_title(f"{any_r.space} / {any_r.dataset}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right" if not regret else "upper right", fontsize=8)
    return ax


def preload() -> threading.Thread:
    """Import what :func:`save_curves_png` needs in a background thread, so that a command's plot does not wait
    for matplotlib's import (~0.3 s) after the search: started before a search, the import runs while the
    compiled search (which releases the GIL) does.  Importing it again later simply waits for this one."""

    def _import() -> None:
        try:
            import matplotlib.backends.backend_agg  # noqa: F401
            import matplotlib.figure  # noqa: F401
        except Exception:  # noqa: BLE001 -- the real import, later, reports any problem
            pass

    thread = threading.Thread(target=_import, name="l2nas-preload-matplotlib", daemon=True)
    thread.start()
    return thread


#: Fixed figure margins of :func:`save_curves_png` (fractions of the 7 x 4.5 in figure): what ``tight_layout``
#: finds for its labels, without its text-extent measuring pass (~0.2 s a figure).
CURVE_MARGINS = {"left": 0.135, "right": 0.98, "bottom": 0.135, "top": 0.92}


def save_curves_png(results: Mapping[str, SearchResult], path: str | os.PathLike, *, regret: bool = False) -> None:
    """Plot and write a PNG atomically (a bare Figure: no pyplot, whose import and backend cost the CLI time)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    fig.subplots_adjust(**CURVE_MARGINS)
    ax = fig.subplots()
    plot_curves(results, regret=regret, ax=ax)
    io.write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))


def plot_pareto(
    acc: np.ndarray,
    macs: np.ndarray,
    *,
    true_front: tuple[np.ndarray, np.ndarray] | None = None,
    per_seed: bool = False,
    title: str = "",
    ax=None,
    cost_label: str = "MACs (M)",
):
    """Accuracy vs MACs (or ``cost_label``): every queried point (faint), the found front as a step line, the
    true front dashed.

    ``acc``/``macs`` are ``[seeds, queries]`` (or flat); the front is pooled over
    seeds, plus one thin front per seed with ``per_seed``.  ``true_front`` is
    ``(macs, acc)`` of the exact front where the space is enumerable.  Returns the Axes.
    """
    from l2nas_jax.core.pareto import pareto_front

    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    acc2, macs2 = np.atleast_2d(np.asarray(acc, float)), np.atleast_2d(np.asarray(macs, float))
    a, m = acc2.ravel(), macs2.ravel()
    ax.scatter(m, a, s=6, color="#4c72b0", alpha=0.12, linewidths=0, label=f"queried ({a.size})")
    if per_seed and acc2.shape[0] > 1:
        for s in range(acc2.shape[0]):
            f = pareto_front(acc2[s], macs2[s])
            ax.step(macs2[s][f], acc2[s][f], where="post", color="#4c72b0", alpha=0.35, linewidth=0.8)
    f = pareto_front(a, m)
    ax.step(m[f], a[f], where="post", color="#c44e52", linewidth=2, marker="o", markersize=3,
            label=f"found front ({f.size} points)")
    if true_front is not None:
        tm, ta = (np.asarray(v, float) for v in true_front)
        ax.step(tm, ta, where="post", color="k", linestyle="--", linewidth=1, label=f"true front ({tm.size} points)")
    ax.set_xscale("log")
    ax.set_xlabel(cost_label)
    ax.set_ylabel("accuracy (%)")
    top = a[f].max() if true_front is None else max(a[f].max(), np.max(true_front[1]))
    ax.set_ylim(max(np.percentile(a, 5) - 2, 0), top + 0.5)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return ax


def save_pareto_png(path: str | os.PathLike, acc: np.ndarray, macs: np.ndarray, **kwargs) -> None:
    """:func:`plot_pareto` written as a PNG atomically."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plot_pareto(acc, macs, ax=ax, **kwargs)
    fig.tight_layout()
    io.write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


def draw_nb201_cell(arch: str, ax=None):
    """Draw an NB201 cell (4 nodes, 6 edges) with each edge's op; ``none`` edges are omitted.

    Returns the matplotlib Axes.  ``arch`` is the official arch string.
    """
    from l2nas_jax.spaces.nb201.codec import EDGES, OPS, parse_arch

    plt = _pyplot()
    ops = parse_arch(arch)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    pos = {0: (0.0, 0.0), 1: (1.0, 1.0), 2: (2.0, 1.0), 3: (3.0, 0.0)}
    label_at = {(0, 2): 0.3, (1, 3): 0.7}  # the two diagonals cross in the middle
    short = dict(zip(OPS, ("none", "skip", "conv 1x1", "conv 3x3", "avg pool")))
    colors = dict(zip(OPS, ("#bbbbbb", "#4c72b0", "#dd8452", "#c44e52", "#55a868")))
    for (dst, src), op in zip(EDGES, ops):
        name = OPS[int(op)]
        if name == "none":
            continue
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color=colors[name], lw=2, shrinkA=14, shrinkB=14))
        f = label_at.get((src, dst), 0.5)
        ax.text(x0 + f * (x1 - x0), y0 + f * (y1 - y0), short[name], color=colors[name], ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"))
    for n, (x, y) in pos.items():
        ax.add_patch(plt.Circle((x, y), 0.17, color="white", ec="black", zorder=3))
        ax.text(x, y, str(n), ha="center", va="center", zorder=4)
    ax.set_xlim(-0.4, 3.4)
    ax.set_ylim(-0.4, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(arch, fontsize=7)
    return ax
