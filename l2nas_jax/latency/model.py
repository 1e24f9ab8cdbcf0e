"""A latency model fitted on measurements: a pure, jittable ``arch -> milliseconds`` function.

The model is OFA's look-up table, generalised to any space: every (decision, choice) pair of the
space's one-hot encoding (``Space.encode``) has a latency, and an architecture's latency is a
constant plus the sum over its choices plus a term proportional to its analytic MACs (fitted by
weighted ridge least squares on the measurements; a choice's latency is shared across decisions
unless the data say otherwise, and how strongly the table is pulled toward "MACs only" is chosen
by cross-validation).
Where the sum is biased (interactions: a resolution that scales every layer, a cell whose
skip-only paths fuse away), a small correction learns the log-ratio of measured to summed
latency: one hidden layer of :data:`HIDDEN` tanh units on the same encoding.  The correction is
kept only when it lowers the median relative error on a validation split of the fitting data by
10 % or more (:data:`KEEP`), so a model is never more complex than it needs to be.

``fit`` needs nothing but the measurement records; :func:`holdout_report` fits on part of them and
scores the rest -- Kendall tau and median relative error of the model, and Kendall tau of MACs
with the same measured latencies, the baseline the model must beat.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from l2nas_jax.core import io

#: Format tag of a saved model file.
FORMAT = "l2nas-latency-model/1"
#: Predictions are clipped below at this fraction of the fastest measured latency: a look-up table fitted on
#: a few dozen networks can sum to less (even below 0) for combinations it never saw.
FLOOR = 0.5
#: Hidden units of the correction MLP.
HIDDEN = 16
#: Ridge penalty of the MACs coefficient, in records (a token one: it keeps the solve well posed).
RIDGE = 1e-3
#: Ridge penalties tried for the per-decision deviations from the shared part and for the shared part itself,
#: in records (as if each had been measured to be 0 that many times); the pair with the lowest 5-fold
#: cross-validated error is used, so a space where the choices explain little leans on MACs instead.
PER_DECISION_GRID = (1.0, 10.0, 100.0, 1e4)
SHARED_GRID = (1e-3, 10.0, 1e4)
FOLDS = 5
#: Fraction of the fitting records used to decide whether to keep the correction.
VALIDATION = 0.25
#: The correction is kept when it cuts the validation error to below this fraction of the table's alone.
KEEP = 0.9
#: ... and by at least half a percent (absolute), so a table that is already exact stays uncorrected.
MIN_GAIN = 0.005


@dataclasses.dataclass(frozen=True)
class LatencyModel:
    """Look-up table + correction (NumPy arrays; :func:`predict` is pure and jittable)."""

    space: str
    lut: np.ndarray  # float32[A + 1]: ms of each (decision, choice) of the one-hot encoding, then per scaled MACs
    scale: np.ndarray  # float32[A + 1]: features are multiplied by this first (1 for the one-hot, 1 / mean MACs)
    bias: float  # ms: what every network costs (stem, head, dispatch)
    w1: np.ndarray  # float32[A + 1, HIDDEN]  correction, log-ratio: tanh(x w1 + b1) w2 + b2
    b1: np.ndarray  # float32[HIDDEN]
    w2: np.ndarray  # float32[HIDDEN]
    b2: float
    corrected: bool  # False: the correction is off (zero)
    floor: float = 0.0  # ms: predictions never go below this (FLOOR of the fastest measured network)
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # what was measured, where; held-out scores

    @property
    def features(self) -> int:
        return int(self.lut.shape[0])


def _corr(params: Sequence[Any], x: Any, xp: Any) -> Any:
    w1, b1, w2, b2 = params
    return xp.tanh(x @ w1 + b1) @ w2 + b2


def predict_features(model: Any, x: Any) -> Any:
    """Latency (ms) of features ``x`` (``float[..., A + 1]``: :func:`arch_features`); jittable (``jnp`` for JAX
    input, NumPy for NumPy).

    ``model``: a :class:`LatencyModel`, or anything with its array fields (the search's environment
    holds them as JAX arrays).
    """
    import jax
    import jax.numpy as jnp

    xp = jnp if isinstance(x, jax.Array) else np
    x = x * xp.asarray(model.scale)
    floor = xp.maximum(model.floor, 1e-6)
    base = xp.maximum(x @ xp.asarray(model.lut) + model.bias, floor)
    if not model.corrected:
        return base
    corr = xp.exp(_corr((xp.asarray(model.w1), xp.asarray(model.b1), xp.asarray(model.w2), model.b2), x, xp))
    return xp.maximum(base * corr, floor)


def arch_features(encode: Any, cost: Any, arch: Any) -> Any:
    """``float32[A + 1]``: the flattened one-hot encoding and the analytic MACs (M) of ``arch`` (jittable).

    ``encode`` / ``cost`` are a space's (or an environment's) functions of the same names.
    """
    import jax.numpy as jnp

    return jnp.concatenate([encode(arch).reshape(-1), jnp.reshape(cost(arch)[1], (1,))]).astype(jnp.float32)


def predict(model: LatencyModel, space: Any, arch: Any) -> Any:
    """Latency (ms) of one architecture of ``space`` (int array, as the searchers use it); pure and jittable."""
    return predict_features(model, arch_features(space.encode, space.cost, arch))


def encode_strings(space: Any, archs: Sequence[str]) -> np.ndarray:
    """``float32[n, A + 1]`` features (:func:`arch_features`) of architecture strings."""
    import jax
    import jax.numpy as jnp

    arr = jnp.asarray(np.stack([np.asarray(space.from_string(a)) for a in archs]))
    return np.asarray(jax.vmap(lambda a: arch_features(space.encode, space.cost, a))(arr), np.float32)


def _fit_lut(x: np.ndarray, y: np.ndarray, shape: tuple[int, int], per_decision: float,
             shared: float) -> tuple[np.ndarray, float]:
    """Weighted ridge least squares ``y ~ bias + x @ lut`` on scaled features (one-hot, then MACs).

    ``lut[d, c] = g[c] + h[d, c]``: ``g`` (what choice ``c`` costs anywhere: an op, a kernel size)
    is penalised by ``shared``, the per-decision deviation ``h`` by ``per_decision`` (both in records),
    the MACs coefficient and the bias hardly or not at all.  Residuals are weighted by ``1 / y^2``
    (relative errors: timing noise is proportional to the latency, and a 1 ms network matters as
    much as a 10 ms one).  Returns the table (``g + h``, then the MACs coefficient) and the bias.
    """
    d, c = shape
    a, n = d * c, len(y)
    z = np.concatenate([x, x[:, :a].reshape(n, d, c).sum(1), np.ones((n, 1))], axis=1)
    w = 1.0 / np.maximum(y, 1e-9) ** 2
    w = w / w.mean()
    zw, yw = z * np.sqrt(w)[:, None], y * np.sqrt(w)
    feats = z[:, :-1] - z[:, :-1].mean(0)
    scale = max(float(np.sum(feats ** 2)) / feats.shape[1] / n, 1e-12)  # a feature's variance per record
    pen = np.concatenate([np.full(a, per_decision), [RIDGE], np.full(c, shared), [0.0]]) * scale
    beta = np.linalg.solve(zw.T @ zw + np.diag(pen), zw.T @ yw)
    lut = np.concatenate([beta[:a] + np.tile(beta[a + 1: a + 1 + c], d), beta[a: a + 1]])
    return lut.astype(np.float32), float(beta[-1])


def _cv_penalties(x: np.ndarray, y: np.ndarray, shape: tuple[int, int], seed: int) -> tuple[float, float]:
    """The (per-decision, shared) penalties with the lowest :data:`FOLDS`-fold median relative error."""
    folds = np.random.default_rng(seed).permutation(np.arange(len(y)) % FOLDS)
    best: tuple[float, float, float] | None = None
    for per in PER_DECISION_GRID:
        for shared in SHARED_GRID:
            errs = []
            for k in range(FOLDS):
                tr, va = folds != k, folds == k
                if tr.sum() < 2 or not va.any():
                    continue
                lut, bias = _fit_lut(x[tr], y[tr], shape, per, shared)
                errs.append(np.abs(np.maximum(x[va] @ lut + bias, 1e-9) - y[va]) / y[va])
            err = float(np.median(np.concatenate(errs))) if errs else 0.0
            if best is None or err < best[0]:
                best = (err, per, shared)
    return best[1], best[2]


def _fit_correction(x: np.ndarray, target: np.ndarray, seed: int, steps: int = 1500) -> tuple[np.ndarray, ...]:
    """Fit the log-ratio correction MLP by full-batch Adam with weight decay (a few hundred records: fast)."""
    import jax
    import jax.numpy as jnp

    k1, _ = jax.random.split(jax.random.key(seed))
    params = (0.1 * jax.random.normal(k1, (x.shape[1], HIDDEN)), jnp.zeros(HIDDEN), jnp.zeros(HIDDEN),
              jnp.asarray(0.0))
    w1, b1, w2, b2 = (np.asarray(a, np.float32) for a in _correction_program()(
        params, jnp.asarray(x), jnp.asarray(target), steps=steps))
    return w1, b1, w2, float(b2)


@functools.cache
def _correction_program() -> Any:
    """The jitted Adam loop of :func:`_fit_correction`, the records as arguments: one program per data shape
    (a cross-validated fit compiles once for all its folds, and the persistent cache keeps it across runs)."""
    import jax
    import jax.numpy as jnp
    import optax

    opt = optax.adamw(1e-2, weight_decay=1e-3)

    @functools.partial(jax.jit, static_argnames="steps")
    def run(p: Any, x: Any, target: Any, *, steps: int) -> Any:
        def loss(p: Any) -> Any:
            return jnp.mean((_corr(p, x, jnp) - target) ** 2)

        def step(carry: Any, _: Any) -> Any:
            p, s = carry
            g = jax.grad(loss)(p)
            upd, s = opt.update(g, s, p)
            return (optax.apply_updates(p, upd), s), None

        (p, _), _ = jax.lax.scan(step, (p, opt.init(p)), None, length=steps)
        return p

    return run


def _build(space: Any, x: np.ndarray, y: np.ndarray, *, correction: bool, seed: int,
           penalties: tuple[float, float] | None = None) -> LatencyModel:
    """Fit on raw features ``x`` (MACs scaled by their mean here); penalties by cross-validation unless given."""
    scale = np.ones(x.shape[1], np.float32)
    scale[-1] = 1.0 / max(float(np.mean(x[:, -1])), 1e-9)
    xs = x * scale
    shape = tuple(space.alpha_shape)
    per, shared = penalties if penalties is not None else _cv_penalties(xs, y, shape, seed)
    lut, bias = _fit_lut(xs, y, shape, per, shared)
    zero = LatencyModel(space=space.name, lut=lut, scale=scale, bias=bias,
                        w1=np.zeros((x.shape[1], HIDDEN), np.float32), b1=np.zeros(HIDDEN, np.float32),
                        w2=np.zeros(HIDDEN, np.float32), b2=0.0, corrected=False,
                        meta={"penalties": {"per_decision": per, "shared": shared}})
    if not correction:
        return zero
    target = np.log(y / predict_features(zero, x)).astype(np.float32)
    w1, b1, w2, b2 = _fit_correction(xs, target, seed)
    return dataclasses.replace(zero, w1=w1, b1=b1, w2=w2, b2=b2, corrected=True)


def relative_error(pred: np.ndarray, meas: np.ndarray) -> float:
    """Median of ``|pred - meas| / meas``."""
    return float(np.median(np.abs(np.asarray(pred) - meas) / meas))


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b between two rankings (NaN when either is constant)."""
    from scipy.stats import kendalltau

    return float(kendalltau(np.asarray(a), np.asarray(b)).statistic)


def fit(space: Any, records: Sequence[Mapping[str, Any]], *, seed: int = 0, correction: bool | None = None,
        meta: Mapping[str, Any] | None = None) -> LatencyModel:
    """The latency model of ``space`` fitted on measurement ``records`` (``{"arch", "median_ms", ...}``).

    ``correction=None`` keeps the correction only if it lowers the median relative error on a
    validation split (:data:`VALIDATION` of the records) by a tenth; True/False force it on or off.
    """
    if len(records) < 4:
        raise ValueError(f"a latency model needs at least 4 measured architectures, got {len(records)}")
    x = encode_strings(space, [r["arch"] for r in records])
    y = np.array([r["median_ms"] for r in records], np.float64)
    if correction is None:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(y))
        n_val = max(1, int(round(VALIDATION * len(y))))
        val, tr = order[:n_val], order[n_val:]
        errs = [relative_error(predict_features(_build(space, x[tr], y[tr], correction=c, seed=seed), x[val]),
                               y[val]) for c in (False, True)]
        correction = errs[1] < KEEP * errs[0] and errs[0] - errs[1] > MIN_GAIN
    model = _build(space, x, y, correction=bool(correction), seed=seed)
    return dataclasses.replace(model, floor=float(FLOOR * y.min()), meta={**model.meta, **dict(meta or {})})


def _split_scores(space: Any, train: Sequence[Mapping[str, Any]], test: Sequence[Mapping[str, Any]],
                  seed: int) -> dict[str, Any]:
    """Fit on ``train``, score on ``test``: model, look-up table alone, MACs and params."""
    model = fit(space, train, seed=seed)
    meas = np.array([r["median_ms"] for r in test])
    x = encode_strings(space, [r["arch"] for r in test])
    pred = predict_features(model, x)
    lut_only = predict_features(dataclasses.replace(model, corrected=False), x)
    return {"kendall_tau": kendall_tau(pred, meas), "median_rel_error": relative_error(pred, meas),
            "lut_kendall_tau": kendall_tau(lut_only, meas), "lut_median_rel_error": relative_error(lut_only, meas),
            "correction_kept": bool(model.corrected),
            "macs_kendall_tau": kendall_tau([r["macs_M"] for r in test], meas),
            "params_kendall_tau": kendall_tau([r["params_M"] for r in test], meas),
            "measured": meas.tolist(), "predicted": np.asarray(pred).tolist(),
            "macs_M": [r["macs_M"] for r in test]}


def holdout_report(space: Any, records: Sequence[Mapping[str, Any]], *, fraction: float = 0.3,
                   seed: int = 0, splits: int = 1) -> dict[str, Any]:
    """Fit on ``1 - fraction`` of the records, score the rest: the model's Kendall tau / median relative
    error, and MACs' (and params') Kendall tau with the same measured latencies.

    With ``splits > 1`` the scores are means over that many random splits (``<score>_sd``: their
    standard deviation; a single split of a few dozen noisy measurements is itself noisy); the
    measured/predicted lists (for plots) are the first split's.
    """
    n = len(records)
    n_test = max(3, int(round(fraction * n)))
    if n - n_test < 4:
        raise ValueError(f"a held-out report needs at least 7 measured architectures (4 to fit, 3 to test), got {n}")
    rng = np.random.default_rng(seed)
    runs = []
    for k in range(max(int(splits), 1)):
        order = rng.permutation(n)
        runs.append(_split_scores(space, [records[i] for i in order[n_test:]], [records[i] for i in order[:n_test]],
                                  seed + k))
    out = {"fitted_on": n - n_test, "held_out": n_test, "seed": int(seed), "splits": len(runs), **runs[0]}
    for key in ("kendall_tau", "median_rel_error", "lut_kendall_tau", "lut_median_rel_error", "macs_kendall_tau",
                "params_kendall_tau"):
        values = np.array([r[key] for r in runs], np.float64)
        out[key] = float(np.nanmean(values))
        out[f"{key}_sd"] = float(np.nanstd(values))
    out["correction_kept"] = float(np.mean([r["correction_kept"] for r in runs]))
    return out


def save_model(model: LatencyModel, path: str | os.PathLike) -> None:
    """Write ``model`` atomically as ``.npz`` (arrays + JSON metadata)."""
    meta = json.dumps({"format": FORMAT, "space": model.space, "bias": model.bias, "b2": model.b2,
                       "corrected": model.corrected, "floor": model.floor, "meta": model.meta}, allow_nan=False, default=float)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, lut=model.lut, scale=model.scale, w1=model.w1, b1=model.b1, w2=model.w2, meta=np.asarray(meta))

    io.write_with(path, write)


def load_model(path: str | os.PathLike, space: Any | None = None) -> LatencyModel:
    """A model saved by :func:`save_model`; ValueError naming the file if it is not one (or is for another space)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("lut", "scale", "w1", "b1", "w2", "meta")}
        info = json.loads(str(arrays.pop("meta")))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such latency model file (make one with l2nas latency ... --model {path})") from None
    except Exception as e:  # noqa: BLE001 -- any unreadable file is one error line
        raise ValueError(f"{path}: not a latency model file ({type(e).__name__})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise ValueError(f"{path}: not a latency model file (expected format {FORMAT!r})")
    model = LatencyModel(space=info["space"], lut=arrays["lut"].astype(np.float32),
                         scale=arrays["scale"].astype(np.float32), bias=float(info["bias"]),
                         w1=arrays["w1"].astype(np.float32), b1=arrays["b1"].astype(np.float32),
                         w2=arrays["w2"].astype(np.float32), b2=float(info["b2"]), corrected=bool(info["corrected"]),
                         floor=float(info.get("floor", 0.0)), meta=info.get("meta", {}))
    if space is not None:
        a = int(np.prod(space.alpha_shape)) + 1
        if model.space != space.name or model.features != a:
            raise ValueError(f"{path} is a latency model of the {model.space} space ({model.features} features), "
                             f"not of {space.name} ({a}): measure this space with l2nas latency --space {space.name}")
    if not (np.all(np.isfinite(model.lut)) and np.isfinite(model.bias) and np.all(np.isfinite(model.w1))):
        raise ValueError(f"{path}: the latency model holds non-finite values")
    return model
