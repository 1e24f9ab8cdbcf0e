"""Best-so-far plots: the seed band of a curve of reported values never rises above the table optimum."""

from types import SimpleNamespace

import numpy as np
import pytest

from l2nas_jax.report.plots import _pyplot, plot_curves

OPTIMUM = 94.37


def _result(curves, optimum=OPTIMUM):
    curves = np.asarray(curves, np.float32)
    return SimpleNamespace(curves=curves, optimum=optimum, queries=curves.shape[1], report_metric="test",
                           space="nb201", dataset="cifar10", constraint=None)


def _curves():
    """Half the seeds reach the optimum early, half stay well below: mean + std is above the optimum."""
    t = np.arange(1, 51)
    low = np.minimum(88.0 + 0.05 * t, 91.0)
    high = np.where(t >= 5, OPTIMUM, 92.0)
    return np.stack([high, high, high, low])


def _band(ax):
    (band,) = ax.collections
    return np.concatenate([p.vertices for p in band.get_paths()])


@pytest.mark.parametrize("band", ["std", "iqr"])
def test_band_stays_below_the_optimum(band):
    plt = _pyplot()
    curves = _curves()
    assert (curves.mean(0) + curves.std(0)).max() > OPTIMUM  # unclipped, the std band would cross the line
    fig, ax = plt.subplots()
    plot_curves({"l2nas": _result(curves)}, band=band, ax=ax)
    ys = _band(ax)[:, 1]
    assert ys.max() <= np.float32(OPTIMUM) + 1e-6, ys.max()
    assert ys.max() == pytest.approx(OPTIMUM, abs=1e-4)  # clipped at the line, not lower
    line, _optimum = ax.get_lines()
    assert np.allclose(line.get_ydata(), curves.mean(0))  # the mean itself is unchanged
    plt.close(fig)


def test_band_without_a_known_optimum_is_not_clipped():
    plt = _pyplot()
    curves = _curves()
    fig, ax = plt.subplots()
    plot_curves({"l2nas": _result(curves, optimum=float("nan"))}, ax=ax)
    assert _band(ax)[:, 1].max() == pytest.approx((curves.mean(0) + curves.std(0)).max(), abs=1e-4)
    plt.close(fig)


def test_regret_band_is_positive():
    plt = _pyplot()
    fig, ax = plt.subplots()
    plot_curves({"l2nas": _result(_curves())}, regret=True, ax=ax)
    assert _band(ax)[:, 1].min() >= 1e-3
    plt.close(fig)


def test_preload_imports_matplotlib_in_the_background_only():
    """The CLI's preload: importing the plots module loads no matplotlib; preload() does, off the main thread."""
    import subprocess
    import sys

    code = ("import sys, threading\n"
            "from l2nas_jax.report import plots\n"
            "assert 'matplotlib' not in sys.modules\n"
            "t = plots.preload()\n"
            "assert t is not threading.current_thread() and t.daemon\n"
            "t.join(60)\n"
            "assert 'matplotlib.figure' in sys.modules and 'matplotlib.backends.backend_agg' in sys.modules\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
