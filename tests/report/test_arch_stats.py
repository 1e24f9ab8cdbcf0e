"""Op-frequency statistics of queried architectures and their per-method heatmaps."""

import numpy as np
import pytest

from l2nas_jax.report.arch_stats import (
    NB201_OP_LABELS,
    nb201_labels,
    op_frequencies,
    plot_op_heatmaps,
    repeat_mask,
    result_op_frequencies,
    row_entropy,
    save_op_heatmaps_png,
)
from l2nas_jax.results import SearchResult
from l2nas_jax.trajectory import Trajectory

HAND = np.array([
    [0, 1, 2, 3, 4, 0],
    [0, 1, 2, 3, 4, 1],
    [3, 3, 3, 3, 3, 3],
    [0, 1, 2, 3, 4, 0],  # repeat of query 0
])


def test_op_frequencies_exact_fractions():
    f = op_frequencies(HAND, 5)
    assert f.shape == (6, 5)
    expected = np.zeros((6, 5))
    for e, ops in enumerate(HAND.T):
        for o in ops:
            expected[e, o] += 0.25
    np.testing.assert_array_equal(f, expected)
    assert f[0, 0] == 0.75 and f[0, 3] == 0.25 and f[5, 0] == 0.5
    np.testing.assert_allclose(f.sum(1), 1.0)


def test_op_frequencies_budget_and_repeats():
    np.testing.assert_array_equal(op_frequencies(HAND, 5, budget=1), np.eye(5)[HAND[0]])
    rep = repeat_mask(HAND)
    np.testing.assert_array_equal(rep, [False, False, False, True])
    # dropping the repeat leaves queries 0..2, each weighted 1/3
    np.testing.assert_allclose(op_frequencies(HAND, 5, is_repeat=rep), np.eye(5)[HAND[:3]].mean(0))
    # budget and repeats combine: the repeat at query 3 is outside budget 3 anyway
    np.testing.assert_allclose(op_frequencies(HAND, 5, budget=3, is_repeat=rep), op_frequencies(HAND, 5, budget=3))


def test_op_frequencies_pools_seeds_and_generic_arch_shape():
    rng = np.random.default_rng(0)
    archs = rng.integers(0, 7, size=(3, 11, 2, 4))  # 3 seeds, 11 queries, arch_shape (2, 4): 8 rows
    f = op_frequencies(archs, 7, arch_ndim=2, budget=5)
    assert f.shape == (8, 7)
    np.testing.assert_allclose(f.sum(1), 1.0)
    pooled = archs[:, :5].reshape(15, 8)
    np.testing.assert_allclose(f, np.stack([np.bincount(pooled[:, r], minlength=7) / 15 for r in range(8)]))
    # a run with repeats: seeds have different numbers of first visits, and queries are pooled, not seeds
    runs = np.array([[[1, 1], [1, 1], [1, 1]], [[0, 0], [0, 1], [2, 2]]])  # seed 0: 1 first visit; seed 1: 3
    rep = repeat_mask(runs)
    np.testing.assert_array_equal(rep, [[False, True, True], [False, False, False]])
    np.testing.assert_allclose(op_frequencies(runs, 3, is_repeat=rep), [[0.5, 0.25, 0.25], [0.25, 0.5, 0.25]])


@pytest.mark.parametrize(
    "archs, kwargs, match",
    [
        (HAND, {"num_ops": 4}, r"op ids must lie in \[0, 4\)"),
        (-HAND, {"num_ops": 5}, "op ids"),
        (HAND.astype(float), {"num_ops": 5}, "integer op ids"),
        (HAND[0], {"num_ops": 5, "arch_ndim": 1}, "shape"),
        (HAND, {"num_ops": 0}, "num_ops"),
        (HAND, {"num_ops": 5, "budget": 0}, r"budget must be an integer in \[1, 4\]"),
        (HAND, {"num_ops": 5, "budget": 5}, "budget"),
        (HAND, {"num_ops": 5, "is_repeat": np.zeros(3, bool)}, r"is_repeat must have shape \(4,\)"),
        (HAND, {"num_ops": 5, "is_repeat": np.ones(4, bool)}, "no queries selected"),
        (HAND[:0], {"num_ops": 5}, "no queries selected"),
    ],
)
def test_op_frequencies_rejects_bad_input(archs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        op_frequencies(archs, **kwargs)


def test_row_entropy():
    np.testing.assert_allclose(row_entropy(np.full((6, 5), 0.2)), np.log2(5))
    np.testing.assert_allclose(row_entropy(np.eye(5)), 0.0)
    np.testing.assert_allclose(row_entropy([[0.5, 0.5, 0.0]]), [1.0])
    with pytest.raises(ValueError, match="summing to 1"):
        row_entropy(np.full((6, 5), 0.3))


def fake_result(method, archs, space="nb201"):
    """A SearchResult around hand-made queries (only archs / is_repeat matter here)."""
    archs = np.asarray(archs, np.int32)
    s, t = archs.shape[:2]
    zeros = np.zeros((s, t), np.float32)
    traj = Trajectory(archs=archs, observed=zeros, report=zeros, is_repeat=repeat_mask(archs),
                      incumbent_observed=zeros, incumbent_report=zeros, incumbent_index=np.zeros((s, t), np.int32))
    return SearchResult(method=method, space=space, dataset="cifar10", queries=t, seed=0, num_seeds=s,
                        optimum=94.37, search_metric="test", report_metric="test", trajectory=traj,
                        best_archs=[""] * s, config={})


@pytest.fixture(scope="module")
def three_results():
    rng = np.random.default_rng(1)
    return {
        "uniform": fake_result("uniform", rng.integers(0, 5, size=(2, 40, 6))),
        "focused": fake_result("focused", np.full((2, 40, 6), 3)),
        "repeats": fake_result("repeats", np.stack([HAND, HAND])),
    }


def test_result_op_frequencies_uses_trajectory(three_results):
    r = three_results["repeats"]
    np.testing.assert_allclose(result_op_frequencies(r, 5), op_frequencies(HAND, 5))
    np.testing.assert_allclose(result_op_frequencies(r, 5, unique=True), op_frequencies(HAND[:3], 5))
    np.testing.assert_allclose(result_op_frequencies(r, 5, budget=1), np.eye(5)[HAND[0]])


def test_heatmap_figure_one_axes_per_method(three_results):
    import matplotlib.pyplot as plt

    fig = plot_op_heatmaps(three_results)
    heat = [ax for ax in fig.axes if ax.get_images() and ax.get_title()]
    assert [ax.get_title() for ax in heat] == list(three_results)
    assert len(fig.axes) == len(three_results) + 1  # plus the shared colour bar
    rows, ops = nb201_labels()
    assert rows == ("1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2") and ops == NB201_OP_LABELS
    for ax in heat:
        assert [t.get_text() for t in ax.get_yticklabels()] == list(rows)
        assert [t.get_text() for t in ax.get_xticklabels()] == list(ops)
        assert ax.get_images()[0].get_clim() == (0.0, 1.0)  # shared scale: "focused" has a 1.0 cell
        assert len(ax.texts) == 30
    focused = heat[1]
    np.testing.assert_array_equal(focused.get_images()[0].get_array(), np.eye(5)[[3] * 6])
    assert focused.texts[3].get_text() == "1.00" and focused.texts[0].get_text() == "0.00"
    assert heat[0].get_ylabel() == "edge"
    plt.close(fig)


def test_heatmap_options_and_errors(three_results, tmp_path):
    import matplotlib.pyplot as plt

    fig = plot_op_heatmaps({"r": three_results["repeats"]}, (list("abcdef"), list("vwxyz")), budget=2, unique=True)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list("abcdef")
    assert ax.get_ylabel() == "row"
    np.testing.assert_allclose(ax.get_images()[0].get_array(), op_frequencies(HAND, 5, budget=2))
    assert "first 2 queries, repeats dropped" in fig.get_suptitle()
    plt.close(fig)
    with pytest.raises(ValueError, match="5 row labels given but 'uniform' has 6 rows"):
        plot_op_heatmaps(three_results, (list("abcde"), list("vwxyz")))
    with pytest.raises(ValueError, match="no results"):
        plot_op_heatmaps({})
    _, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match=r"one Axes per method \(3\)"):
        plot_op_heatmaps(three_results, axes=axes)
    plt.close("all")

    # another space: rows and ops are labelled by index, ops counted up to the largest id seen
    fig = plot_op_heatmaps({"a": fake_result("a", [[[0, 2], [1, 2]]], space="toy")})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    np.testing.assert_allclose(ax.get_images()[0].get_array(), [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    plt.close(fig)

    path = tmp_path / "out" / "heat.png"
    save_op_heatmaps_png(three_results, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["heat.png"]  # no temp file left behind


@pytest.mark.slow
def test_repeat_mask_agrees_with_trajectory(cifar10_env):
    from l2nas_jax.api import run_method

    r = run_method(cifar10_env, "random", queries=300, seeds=2, seed=3)
    archs = np.asarray(r.trajectory.archs)
    np.testing.assert_array_equal(repeat_mask(archs), np.asarray(r.trajectory.is_repeat))
    assert r.repeats.sum() > 0  # 600 draws from 15,625 cells: birthday collisions are near certain
    f = result_op_frequencies(r, 5, unique=True)
    np.testing.assert_allclose(f.sum(1), 1.0)
    assert np.abs(f - 0.2).max() < 0.1  # random search proposes ops uniformly
