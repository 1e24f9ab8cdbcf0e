"""Plots of latency measurements: modelled vs measured (held out) and measured vs MACs, side by side."""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np

from l2nas_jax.core import io
from l2nas_jax.report.plots import _pyplot


def plot_latency(held: Mapping[str, Any], records: Sequence[Mapping[str, Any]], *, title: str = "", axes: Any = None):
    """Left: modelled vs measured latency on held-out architectures (with the y = x line); right: every
    measured latency vs the network's MACs.  Each panel's Kendall tau is in its title.  Returns the axes."""
    plt = _pyplot()
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    meas, pred = np.asarray(held["measured"]), np.asarray(held["predicted"])
    ax = axes[0]
    ax.scatter(meas, pred, s=18, alpha=0.8)
    lo, hi = min(meas.min(), pred.min()), max(meas.max(), pred.max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("modelled latency (ms)")
    many = f" (mean of {held['splits']} splits; points: one)" if held.get("splits", 1) > 1 else ""
    ax.set_title(f"held-out: Kendall tau {held['kendall_tau']:.2f}, "
                 f"median error {100 * held['median_rel_error']:.0f}%{many}", fontsize=9)
    ax = axes[1]
    macs = np.array([r["macs_M"] for r in records])
    lat = np.array([r["median_ms"] for r in records])
    lo_err = lat - np.array([r["q10_ms"] for r in records])
    hi_err = np.array([r["q90_ms"] for r in records]) - lat
    ax.errorbar(macs, lat, yerr=[np.maximum(lo_err, 0), np.maximum(hi_err, 0)], fmt="o", ms=3, alpha=0.7, lw=0.8)
    ax.set_xlabel("MACs (M)")
    ax.set_ylabel("measured latency (ms, median, 10-90% bars)")
    ax.set_title(f"all {len(records)} measured (MACs Kendall tau on the held-out ones: "
                 f"{held['macs_kendall_tau']:.2f})", fontsize=9)
    if title:
        axes[0].figure.suptitle(title, fontsize=11)
    axes[0].figure.tight_layout()
    return axes


def save_latency_png(held: Mapping[str, Any], records: Sequence[Mapping[str, Any]], path: str | os.PathLike,
                     *, title: str = "") -> None:
    """:func:`plot_latency` written atomically to ``path``."""
    plt = _pyplot()
    axes = plot_latency(held, records, title=title)
    fig = axes[0].figure
    io.write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
