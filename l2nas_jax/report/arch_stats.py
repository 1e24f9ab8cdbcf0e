"""Which operations a search proposes: per-row op frequencies of the queried architectures.

An architecture is an ``int`` array whose entries are op ids, one per *row*
(NB201: 6 edges, ops in :data:`l2nas_jax.spaces.nb201.codec.OPS`).  :func:`op_frequencies`
counts, over every selected query of every seed, how often each row held each op;
:func:`plot_op_heatmaps` draws one heatmap per method on a shared colour scale, so a
method that concentrates on a few ops (or explores uniformly, like random search)
is visible at a glance.  Pure NumPy; matplotlib is imported only to plot.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from l2nas_jax.core import io

if TYPE_CHECKING:  # results imports JAX; op_frequencies itself needs only NumPy
    from l2nas_jax.results import SearchResult

#: Short NB201 op names for axis labels, in :data:`~l2nas_jax.spaces.nb201.codec.OPS` order.
NB201_OP_LABELS: tuple[str, ...] = ("none", "skip", "conv1x1", "conv3x3", "avgpool")


def nb201_labels() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Row labels ``"1<-0"``... (edge target<-source, arch-string order) and short op names for NB201."""
    from l2nas_jax.spaces.nb201.codec import EDGES

    return tuple(f"{dst}<-{src}" for dst, src in EDGES), NB201_OP_LABELS


def repeat_mask(archs: np.ndarray, *, arch_ndim: int = 1) -> np.ndarray:
    """``bool[..., T]``: True where the query's architecture equals an earlier one of the same run.

    Exact equality of the arch arrays; a trajectory's own ``is_repeat`` (by ``env.arch_id``)
    is the same for NB201 and should be preferred where available.
    """
    archs = _check_archs(archs, arch_ndim)
    lead, t = archs.shape[: archs.ndim - arch_ndim - 1], archs.shape[archs.ndim - arch_ndim - 1]
    flat = archs.reshape(-1, t, int(np.prod(archs.shape[archs.ndim - arch_ndim:], dtype=int)))
    out = np.zeros(flat.shape[:2], dtype=bool)
    for s, run in enumerate(flat):
        _, first = np.unique(run, axis=0, return_index=True)
        out[s] = True
        out[s, first] = False
    return out.reshape(*lead, t)


def op_frequencies(
    archs: np.ndarray,
    num_ops: int,
    *,
    arch_ndim: int = 1,
    budget: int | None = None,
    is_repeat: np.ndarray | None = None,
) -> np.ndarray:
    """``float64[rows, num_ops]``: fraction of the selected queries that chose each op on each row.

    Args:
      archs: ``int[..., T, *arch_shape]`` queried architectures (``[S, T, 6]`` or ``[T, 6]``
        for NB201); leading axes (seeds) are pooled.  ``arch_ndim = len(arch_shape)``;
        rows are the flattened ``arch_shape``.
      num_ops: number of op ids; every entry must lie in ``[0, num_ops)``.
      budget: count only the first ``budget`` queries of each run (``1 <= budget <= T``).
      is_repeat: ``bool[..., T]`` (e.g. ``trajectory.is_repeat``); queries marked True are
        dropped, so only first visits count.

    Each row sums to 1.  Raises ValueError on a bad shape, op id, budget, or when no query
    is selected.
    """
    archs = _check_archs(archs, arch_ndim)
    if not isinstance(num_ops, (int, np.integer)) or isinstance(num_ops, bool) or num_ops < 1:
        raise ValueError(f"num_ops must be a positive integer, got {num_ops!r}")
    t_axis = archs.ndim - arch_ndim - 1
    t = archs.shape[t_axis]
    if archs.size and (archs.min() < 0 or archs.max() >= num_ops):
        raise ValueError(f"op ids must lie in [0, {num_ops}), got values in [{archs.min()}, {archs.max()}]")
    keep = np.ones(archs.shape[: t_axis + 1], dtype=bool)
    if is_repeat is not None:
        is_repeat = np.asarray(is_repeat)
        if is_repeat.shape != keep.shape:
            raise ValueError(f"is_repeat must have shape {keep.shape} (the archs' leading axes), got {is_repeat.shape}")
        keep &= ~is_repeat.astype(bool)
    if budget is not None:
        if not isinstance(budget, (int, np.integer)) or isinstance(budget, bool) or not 1 <= budget <= t:
            raise ValueError(f"budget must be an integer in [1, {t}], got {budget!r}")
        keep &= np.arange(t) < budget
    rows = int(np.prod(archs.shape[t_axis + 1:], dtype=int))
    chosen = archs[keep].reshape(-1, rows)  # [N, rows]
    if chosen.shape[0] == 0:
        raise ValueError("no queries selected (empty archs, or every query filtered out by budget/is_repeat)")
    counts = np.zeros((rows, num_ops), dtype=np.float64)
    np.add.at(counts, (np.broadcast_to(np.arange(rows), chosen.shape), chosen), 1.0)
    return counts / chosen.shape[0]


def row_entropy(freqs: np.ndarray) -> np.ndarray:
    """``float64[rows]``: entropy (bits) of each row's op distribution; ``log2(num_ops)`` = uniform, 0 = one op."""
    freqs = np.asarray(freqs, dtype=np.float64)
    if freqs.ndim != 2 or not np.allclose(freqs.sum(1), 1.0) or (freqs < 0).any():
        raise ValueError(f"freqs must be [rows, num_ops] with non-negative rows summing to 1, got shape {freqs.shape}")
    logs = np.log2(np.where(freqs > 0, freqs, 1.0))
    return -(freqs * logs).sum(1)


def result_op_frequencies(
    result: SearchResult, num_ops: int, *, budget: int | None = None, unique: bool = False
) -> np.ndarray:
    """:func:`op_frequencies` of a :class:`SearchResult`'s queries (all seeds; ``unique`` drops repeats)."""
    traj = result.trajectory
    archs = np.asarray(traj.archs)
    return op_frequencies(archs, num_ops, arch_ndim=archs.ndim - 2, budget=budget,
                          is_repeat=np.asarray(traj.is_repeat) if unique else None)


def default_labels(results: Mapping[str, SearchResult]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Axis labels for the results' space: NB201 edges/ops, else row and op indices."""
    first = next(iter(results.values()))
    if first.space == "nb201":
        return nb201_labels()
    rows = int(np.prod(np.asarray(first.trajectory.archs).shape[2:], dtype=int))
    num_ops = 1 + max(int(np.asarray(r.trajectory.archs).max()) for r in results.values())
    return tuple(str(i) for i in range(rows)), tuple(str(j) for j in range(num_ops))


def plot_op_heatmaps(
    results: Mapping[str, SearchResult],
    space_labels: tuple[Sequence[str], Sequence[str]] | None = None,
    *,
    budget: int | None = None,
    unique: bool = False,
    axes=None,
):
    """One heatmap per method (rows x ops, shared colour scale, annotated); returns the Figure.

    ``space_labels = (row_labels, op_labels)`` (default: :func:`default_labels`); their
    lengths fix the number of rows and ops.  ``budget`` / ``unique`` restrict the queries
    as in :func:`op_frequencies`.  ``axes``: one Axes per method to draw into.
    """
    from l2nas_jax.report.plots import _pyplot

    if not results:
        raise ValueError("no results to plot")
    row_labels, op_labels = space_labels if space_labels is not None else default_labels(results)
    freqs = {}
    for name, r in results.items():
        f = result_op_frequencies(r, len(op_labels), budget=budget, unique=unique)
        if f.shape[0] != len(row_labels):
            raise ValueError(f"{len(row_labels)} row labels given but {name!r} has {f.shape[0]} rows")
        freqs[name] = f
    plt = _pyplot()
    n = len(freqs)
    if axes is None:
        fig, axes = plt.subplots(1, n, figsize=(0.6 * len(op_labels) * n + 1.4, 0.45 * len(row_labels) + 1.8),
                                 squeeze=False, constrained_layout=True)
        axes = axes[0]
    elif len(axes) != n:
        raise ValueError(f"need one Axes per method ({n}), got {len(axes)}")
    fig = axes[0].figure
    vmax = max(float(f.max()) for f in freqs.values())
    image = None
    for ax, (name, f) in zip(axes, freqs.items()):
        image = ax.imshow(f, cmap="viridis", vmin=0.0, vmax=vmax, aspect="auto")
        for (i, j), v in np.ndenumerate(f):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if v > 0.6 * vmax else "white")
        ax.set_title(name)
        ax.set_xticks(range(len(op_labels)), op_labels, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(row_labels)), row_labels, fontsize=8)
        ax.set_xlabel("op")
    axes[0].set_ylabel("edge" if tuple(row_labels) == nb201_labels()[0] else "row")
    first = next(iter(results.values()))
    what = f"first {budget} queries" if budget else "all queries"
    fig.suptitle(f"{first.space} / {first.dataset}: op frequency per edge, {what}"
                 + (", repeats dropped" if unique else "") + f", {first.num_seeds} seeds", fontsize=10)
    fig.colorbar(image, ax=list(axes), shrink=0.9, label="fraction of queries")
    return fig


def save_op_heatmaps_png(
    results: Mapping[str, SearchResult],
    path: str | os.PathLike,
    space_labels: tuple[Sequence[str], Sequence[str]] | None = None,
    *,
    budget: int | None = None,
    unique: bool = False,
) -> None:
    """Plot :func:`plot_op_heatmaps` and write it as a PNG atomically."""
    from l2nas_jax.report.plots import _pyplot

    fig = plot_op_heatmaps(results, space_labels, budget=budget, unique=unique)
    io.write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    _pyplot().close(fig)


def _check_archs(archs: np.ndarray, arch_ndim: int) -> np.ndarray:
    """Integer array with at least a query axis in front of ``arch_ndim`` arch axes."""
    archs = np.asarray(archs)
    if not isinstance(arch_ndim, (int, np.integer)) or isinstance(arch_ndim, bool) or arch_ndim < 1:
        raise ValueError(f"arch_ndim must be a positive integer, got {arch_ndim!r}")
    if archs.ndim < arch_ndim + 1:
        raise ValueError(f"archs must have shape [..., T, *arch_shape] with {arch_ndim} arch axes, got {archs.shape}")
    if not np.issubdtype(archs.dtype, np.integer):
        raise ValueError(f"archs must hold integer op ids, got dtype {archs.dtype}")
    return archs
