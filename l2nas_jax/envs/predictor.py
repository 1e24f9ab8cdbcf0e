"""An accuracy predictor: an MLP on the architecture encoding, usable as a fast pure environment.

:func:`fit_predictor` trains the MLP (flattened ``env.encode(arch)`` one-hot ->
accuracy; targets standardized; Adam with cosine decay, minibatches drawn with
replacement; one jitted ``lax.scan``) on ``(architecture, accuracy)`` pairs from any
evaluator: a table, a supernet, real training runs.  :func:`save_predictor` /
:func:`load_predictor` store it as one ``.npz`` (the parameters and a JSON metadata
record: space, encoding shape, widths, normalisation, fit metrics, provenance)
and round-trip it exactly.  :class:`PredictorEnv` puts it behind the
:class:`~l2nas_jax.envs.base.Environment` protocol, so any searcher can search the
*predicted* accuracy; ``l2nas search --predictor FILE`` does that from the CLI.
"""

from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from flax.traverse_util import flatten_dict, unflatten_dict

from l2nas_jax.core import io
from l2nas_jax.envs.wrapper import InnerDelegate

FORMAT = "l2nas-jax accuracy predictor v1"
#: Input encodings a predictor may use (see :attr:`Predictor.encoding`).
ENCODINGS = ("onehot", "ofa-mbv3")
_META_KEY = "__metadata__"


class MLP(nn.Module):
    """ReLU MLP on a flattened encoding, one scalar output (the standardized accuracy)."""

    hidden: tuple[int, ...]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape((*x.shape[:-2], -1))
        for h in self.hidden:
            x = nn.relu(nn.Dense(h)(x))
        return nn.Dense(1)(x)[..., 0]


@struct.dataclass
class Predictor:
    """Fitted MLP: ``predictor(encoding) -> accuracy`` (de-standardized); a pytree, jit/vmap-safe."""

    params: Any
    y_mean: jax.Array  # float32: target mean used for standardization
    y_std: jax.Array  # float32: target std
    hidden: tuple[int, ...] = struct.field(pytree_node=False, default=())
    input_shape: tuple[int, int] = struct.field(pytree_node=False, default=(0, 0))
    #: ``"onehot"``: the environment's own ``encode`` (``float[rows, cols]``); ``"ofa-mbv3"``: OFA's
    #: accuracy-predictor encoding (``[1, D]``, :func:`l2nas_jax.spaces.ofa.codec.predictor_features`).
    encoding: str = struct.field(pytree_node=False, default="onehot")
    image_sizes: tuple[int, ...] = struct.field(pytree_node=False, default=())  # "ofa-mbv3" only

    def __call__(self, encoding: chex.Array) -> jax.Array:
        """Predicted accuracy of one encoding ``float[rows, cols]`` (or a batch ``[..., rows, cols]``)."""
        z = MLP(self.hidden).apply({"params": self.params}, jnp.asarray(encoding, jnp.float32))
        return z * self.y_std + self.y_mean

    def features(self, env: Any, arch: chex.Array) -> chex.Array:
        """The predictor's input for ``arch`` (in this predictor's :attr:`encoding`; ``env`` supplies the one-hot)."""
        if self.encoding == "ofa-mbv3":
            from l2nas_jax.spaces.ofa import codec as ofa_codec

            return ofa_codec.predictor_features(arch, self.image_sizes)[..., None, :]
        return env.encode(arch)

    def expected_shape(self, env: Any) -> tuple[int, int]:
        """The input shape this predictor's encoding has on ``env`` (for the shape check)."""
        if self.encoding == "ofa-mbv3":
            from l2nas_jax.spaces.ofa import codec as ofa_codec

            return (1, ofa_codec.predictor_features_dim(self.image_sizes))
        return tuple(env.alpha_shape)


def rank_correlations(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Spearman rho and Kendall tau-b between predictions and truth (NumPy; ties handled)."""
    pred, true = np.asarray(pred, np.float64).ravel(), np.asarray(true, np.float64).ravel()
    if pred.shape != true.shape or pred.size < 2:
        raise ValueError(f"need two equal-length arrays of >= 2 values, got {pred.shape} and {true.shape}")
    return {"spearman": _spearman(pred, true), "kendall_tau": _kendall_tau_b(pred, true),
            "rmse": float(np.sqrt(np.mean((pred - true) ** 2)))}


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(x.size)
    ranks[order] = np.arange(x.size, dtype=np.float64)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    return (sums / counts)[inv]


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = _average_ranks(a), _average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float(np.sum(ra * rb) / math.sqrt(np.sum(ra**2) * np.sum(rb**2)))


def _kendall_tau_b(a: np.ndarray, b: np.ndarray, block: int = 256) -> float:
    """Tau-b by blocks of pairwise sign products: O(n^2) work, O(block * n) memory."""
    n = a.size
    conc = ties_a = ties_b = 0.0
    for s in range(0, n, block):
        da = np.sign(a[s:s + block, None] - a[None, :])
        db = np.sign(b[s:s + block, None] - b[None, :])
        conc += float(np.sum(da * db))
        ties_a += float(np.sum(da == 0)) - min(block, n - s)  # minus the diagonal
        ties_b += float(np.sum(db == 0)) - min(block, n - s)
    pairs = n * (n - 1)  # ordered pairs; every unordered pair counted twice everywhere
    return float(conc / math.sqrt((pairs - ties_a) * (pairs - ties_b)))


def fit_predictor(
    encodings: chex.Array,
    accuracies: chex.Array,
    key: chex.PRNGKey,
    *,
    hidden: Sequence[int] = (400, 400, 400),
    steps: int = 2000,
    lr: float = 1e-3,
    batch_size: int = 128,
) -> tuple[Predictor, dict[str, float]]:
    """Fit the MLP to ``accuracies[N]`` from ``encodings[N, rows, cols]``; returns it and train metrics.

    Pure given ``key``: the same inputs give bit-identical parameters.
    """
    x = jnp.asarray(encodings, jnp.float32)
    y = jnp.asarray(accuracies, jnp.float32)
    if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ValueError(f"fit_predictor needs encodings [N, rows, cols] and accuracies [N] with N >= 2, "
                         f"got {x.shape} and {y.shape}")
    if not bool(jnp.isfinite(y).all()):
        raise ValueError("fit_predictor: accuracies contain NaN or inf")
    hidden = tuple(int(h) for h in hidden)
    if steps < 1 or batch_size < 1 or not lr > 0 or any(h < 1 for h in hidden):
        raise ValueError(f"fit_predictor: bad settings steps={steps}, batch_size={batch_size}, lr={lr}, "
                         f"hidden={hidden}")
    y_mean, y_std = jnp.mean(y), jnp.maximum(jnp.std(y), 1e-6)
    params, loss = _train(x, (y - y_mean) / y_std, key, hidden=hidden, steps=int(steps), lr=float(lr),
                          batch_size=int(batch_size))
    pred = Predictor(params=params, y_mean=y_mean, y_std=y_std, hidden=hidden, input_shape=tuple(x.shape[1:]))
    fit = np.asarray(jax.jit(pred.__call__)(x))
    metrics = {"train_loss": float(loss), **{f"train_{k}": v for k, v in rank_correlations(fit, np.asarray(y)).items()},
               "num_train": int(x.shape[0])}
    return pred, metrics


@functools.partial(jax.jit, static_argnames=("hidden", "steps", "lr", "batch_size"))
def _train(x, y, key, *, hidden, steps, lr, batch_size):
    model = MLP(hidden)
    k_init, k_data = jax.random.split(key)
    params = model.init(k_init, x[:1])["params"]
    tx = optax.adam(optax.cosine_decay_schedule(lr, steps))
    opt = tx.init(params)

    def loss_fn(p, xb, yb):
        return jnp.mean((model.apply({"params": p}, xb) - yb) ** 2)

    def step(carry, k):
        p, o = carry
        idx = jax.random.randint(k, (batch_size,), 0, x.shape[0])
        loss, g = jax.value_and_grad(loss_fn)(p, x[idx], y[idx])
        upd, o = tx.update(g, o, p)
        return (optax.apply_updates(p, upd), o), loss

    (params, _), losses = jax.lax.scan(step, (params, opt), jax.random.split(k_data, steps))
    return params, jnp.mean(losses[-max(1, steps // 20):])


# -- storage ----------------------------------------------------------------------------------------------


def save_predictor(path: str | os.PathLike, predictor: Predictor, metadata: dict[str, Any] | None = None) -> None:
    """Write parameters + JSON metadata to one ``.npz`` atomically (exact round trip with :func:`load_predictor`)."""
    arrays = {"params/" + "/".join(k): np.asarray(v) for k, v in flatten_dict(predictor.params).items()}
    arrays["y_mean"] = np.asarray(predictor.y_mean, np.float32)
    arrays["y_std"] = np.asarray(predictor.y_std, np.float32)
    meta = {**(metadata or {}), "format": FORMAT, "hidden": list(predictor.hidden),
            "input_shape": list(predictor.input_shape), "encoding": predictor.encoding,
            "image_sizes": list(predictor.image_sizes),
            "normalisation": {"y_mean": float(predictor.y_mean), "y_std": float(predictor.y_std)}}
    arrays[_META_KEY] = np.asarray(json.dumps(meta, default=io._json_default))
    with io.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_predictor(path: str | os.PathLike) -> tuple[Predictor, dict[str, Any]]:
    """Read a file written by :func:`save_predictor`: ``(predictor, metadata)``; ValueError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"predictor file {path} not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(str(data.pop(_META_KEY)))
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not a predictor file ({type(e).__name__}: {e})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a predictor file (format {meta.get('format')!r}, expected {FORMAT!r})")
    params = unflatten_dict({tuple(k.split("/")[1:]): jnp.asarray(v) for k, v in data.items()
                             if k.startswith("params/")})
    pred = Predictor(params=params, y_mean=jnp.asarray(data["y_mean"]), y_std=jnp.asarray(data["y_std"]),
                     hidden=tuple(meta["hidden"]), input_shape=tuple(meta["input_shape"]),
                     encoding=meta.get("encoding", "onehot"), image_sizes=tuple(meta.get("image_sizes", ())))
    if pred.encoding not in ENCODINGS:
        raise ValueError(f"{path}: unknown predictor encoding {pred.encoding!r}; known: {', '.join(ENCODINGS)}")
    return pred, meta


def from_ofa_predictor(state_dict: dict[str, Any], image_sizes: Sequence[int] | None = None
                       ) -> tuple[Predictor, dict[str, Any]]:
    """``(predictor, metadata)`` of a once-for-all ``AccuracyPredictor`` state_dict (top-1 in %, OFA's encoding).

    OFA's predictor outputs top-1 as a fraction; here it is scaled to % like every accuracy in the
    package (``y_std`` 100, ``y_mean`` 100 x ``base_acc``). Save it with :func:`save_predictor`.
    """
    from l2nas_jax.spaces.ofa import codec as ofa_codec
    from l2nas_jax.spaces.ofa import convert

    params, base_acc, sizes = convert.convert_predictor_state_dict(state_dict, image_sizes)
    hidden = tuple(int(params[f"Dense_{i}"]["kernel"].shape[1]) for i in range(len(params) - 1))
    pred = Predictor(params=jax.tree.map(jnp.asarray, params), y_mean=jnp.float32(100.0 * base_acc),
                     y_std=jnp.float32(100.0), hidden=hidden, input_shape=(1, ofa_codec.predictor_features_dim(sizes)),
                     encoding="ofa-mbv3", image_sizes=sizes)
    meta = {"space": "ofa", "dataset": "imagenet", "fit": {}, "converted_from": "once-for-all AccuracyPredictor",
            "metric": "predicted ImageNet top-1 (%)"}
    return pred, meta


# -- as an environment ------------------------------------------------------------------------------------


@struct.dataclass
class PredictorEnv(InnerDelegate):
    """The *predicted* accuracy of a fitted :class:`Predictor` as a pure environment.

    ``evaluate`` and ``report`` both return the prediction (noise-free; the key is
    unused): every number a search on it reports is a prediction, not a measured
    accuracy.  The codec (encoding, mutation, strings, cost) is the ``inner``
    environment's; its own evaluator is never called.
    """

    predictor: Predictor
    inner: Any
    predicted_optimum: jax.Array  # best prediction over the space when enumerable, else the best training target
    name: str = struct.field(pytree_node=False, default="")
    predictor_source: str = struct.field(pytree_node=False, default="")
    alpha_shape: tuple[int, int] = struct.field(pytree_node=False, default=(0, 0))
    arch_shape: tuple[int, ...] = struct.field(pytree_node=False, default=())
    num_archs: int = struct.field(pytree_node=False, default=0)
    search_split: str = struct.field(pytree_node=False, default="predicted")
    report_split: str = struct.field(pytree_node=False, default="predicted")

    @property
    def dataset(self) -> str:
        return getattr(self.inner, "dataset", "")

    @property
    def max_reward(self) -> jax.Array:
        """The best prediction as the reward scale; 100 (accuracy in %) when it is unknown (a converted predictor)."""
        return jnp.where(jnp.isnan(self.predicted_optimum), jnp.float32(100.0), self.predicted_optimum)

    @property
    def optimum(self) -> jax.Array:
        """Best predicted accuracy over the space (enumerable spaces), else the best training target."""
        return self.predicted_optimum

    def evaluate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        """Predicted accuracy of ``arch`` (a prediction, not a measurement)."""
        del key
        return self.predictor(self.predictor.features(self.inner, arch)).astype(jnp.float32)

    def report(self, arch: chex.Array) -> chex.Array:
        """Predicted accuracy of ``arch`` (the same prediction as ``evaluate``)."""
        return self.predictor(self.predictor.features(self.inner, arch)).astype(jnp.float32)


@jax.jit
def _predict_all(predictor: Predictor, env: Any) -> jax.Array:
    return predictor(jax.vmap(lambda a: predictor.features(env, a))(env.enumerate_archs()))


def make_predictor_env(predictor: Predictor, inner: Any, metadata: dict[str, Any] | None = None,
                       source: str = "") -> PredictorEnv:
    """Wrap ``predictor`` around the codec of ``inner``; checks the space and encoding shape match."""
    meta = metadata or {}
    if meta.get("space", inner.name) != inner.name:
        raise ValueError(f"predictor {source or ''} was fitted on space {meta['space']!r}, not {inner.name!r}".replace(
            "  ", " "))
    inner_ds = getattr(inner, "dataset", None)
    if meta.get("dataset") and inner_ds and meta["dataset"] != inner_ds:
        raise ValueError(f"predictor {source} was fitted on dataset {meta['dataset']!r}, not {inner_ds!r}")
    if predictor.encoding == "ofa-mbv3" and inner.name != "ofa":
        raise ValueError(f"predictor {source} uses OFA's encoding and searches only the ofa space, not {inner.name!r}")
    if tuple(predictor.input_shape) != predictor.expected_shape(inner):
        raise ValueError(f"predictor input shape {tuple(predictor.input_shape)} does not match the {inner.name} "
                         f"encoding {predictor.expected_shape(inner)}")
    space = getattr(inner, "space", None)
    enumerable = hasattr(inner, "enumerate_archs") and (space is None or space.enumerate_archs is not None)
    if enumerable:
        best = jnp.max(_predict_all(predictor, inner))
    else:
        fit = meta.get("fit", {})
        unknown = "converted_from" in meta and "y_max" not in fit  # no training targets: the optimum is unknown
        best = jnp.float32(np.nan if unknown else fit.get("y_max", float(predictor.y_mean + 3 * predictor.y_std)))
    return PredictorEnv(predictor=predictor, inner=inner, predicted_optimum=jnp.float32(best), name=inner.name,
                        predictor_source=source, alpha_shape=tuple(inner.alpha_shape),
                        arch_shape=tuple(inner.arch_shape), num_archs=int(inner.num_archs))


def predictor_env(path: str | os.PathLike, inner: Any) -> PredictorEnv:
    """:func:`load_predictor` ``path`` and wrap it around ``inner``'s codec."""
    pred, meta = load_predictor(path)
    return make_predictor_env(pred, inner, meta, source=str(path))


def sample_training_set(env: Any, n: int, key: chex.PRNGKey, *, distinct: bool = True) -> tuple[jax.Array, jax.Array]:
    """``n`` architectures (distinct ids when the space is enumerable) and their ``env.evaluate`` values."""
    k_arch, k_eval = jax.random.split(key)
    if distinct and hasattr(env, "enumerate_archs"):
        if n > env.num_archs:
            raise ValueError(f"cannot draw {n} distinct architectures from a space of {env.num_archs}")
        archs = env.enumerate_archs()[jax.random.permutation(k_arch, env.num_archs)[:n]]
    else:
        archs = jax.vmap(env.random_arch)(jax.random.split(k_arch, n))
    values = jax.vmap(env.evaluate)(jax.random.split(k_eval, n), archs)
    return archs, values
