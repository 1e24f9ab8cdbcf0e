"""A trained weight-sharing supernet as a search environment (DARTS, OFA or NB201 space).

Reward = top-1 accuracy (%) of the sampled path on a held-out split of the training set,
a jitted pure function of (supernet variables, arch, images); the reported metric is the
same path's accuracy on a *different* split (the test set when the dataset has one), so
the metric the search optimizes stays apart from the one it reports.

BatchNorm uses the statistics of each evaluation batch: a single-path supernet's running
averages mix every path trained, which mis-scales any one path (SPOS-style evaluation).
Paths are evaluated in the compute dtype the supernet was trained with (``train_config.dtype``
of its ``supernet.json``: float32, or bfloat16 mixed precision) unless told otherwise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from l2nas_jax.spaces import Space, get_space
from l2nas_jax.supernet import data as data_lib
from l2nas_jax.supernet import ofa_published
from l2nas_jax.supernet import train as train_lib


def path_accuracy(model: Any, variables: Any, arch: chex.Array, images: chex.Array, labels: chex.Array,
                  batch_size: int, dtype: str = "float32") -> chex.Array:
    """Accuracy in % of path ``arch`` on ``images`` (``[N, H, W, 3]`` normalised; N % batch_size == 0),
    computed in ``dtype`` (:data:`l2nas_jax.supernet.train.DTYPES`)."""
    n = images.shape[0]
    chex.assert_shape(labels, (n,))
    xs = images.reshape(n // batch_size, batch_size, *images.shape[1:])
    ys = labels.reshape(n // batch_size, batch_size)

    def one(xy):
        out, _ = train_lib.apply_model(model, variables, xy[0], arch, train=True, mutable=["batch_stats"],
                                       dtype=dtype)
        return jnp.sum(jnp.argmax(train_lib.split_outputs(out)[0], -1) == xy[1])

    return 100.0 * jnp.sum(jax.lax.map(one, (xs, ys))) / n


@struct.dataclass
class SupernetEnv:
    """Environment protocol over a supernet; build with :func:`make_supernet_env` or :func:`load_supernet_env`."""

    variables: Any
    search_images: jax.Array
    search_labels: jax.Array
    report_images: jax.Array
    report_labels: jax.Array
    space: Space = struct.field(pytree_node=False)
    model: Any = struct.field(pytree_node=False)
    batch_size: int = struct.field(pytree_node=False, default=256)
    cost_kwargs: tuple = struct.field(pytree_node=False, default=())
    dataset: str = struct.field(pytree_node=False, default="synthetic")
    search_split: str = struct.field(pytree_node=False, default="heldout")
    report_split: str = struct.field(pytree_node=False, default="test")
    name: str = struct.field(pytree_node=False, default="darts")
    alpha_shape: tuple[int, int] = struct.field(pytree_node=False, default=(28, 7))
    arch_shape: tuple[int, ...] = struct.field(pytree_node=False, default=(2, 8, 2))
    num_archs: int = struct.field(pytree_node=False, default=2**20)
    dtype: str = struct.field(pytree_node=False, default="float32")  # compute dtype of the path evaluations

    @property
    def max_reward(self) -> jax.Array:
        """Rewards are accuracies in %, so 100 rescales them to [0, 1]."""
        return jnp.float32(100.0)

    @property
    def optimum(self) -> jax.Array:
        """Unknown for a supernet (NaN): no regret or 'reached optimum' is reported."""
        return jnp.float32(jnp.nan)

    def discretize(self, alpha: chex.Array) -> chex.Array:
        return self.space.discretize(alpha.reshape(self.alpha_shape))

    def encode(self, arch: chex.Array) -> chex.Array:
        return self.space.encode(arch).reshape(self.alpha_shape)

    def arch_id(self, arch: chex.Array) -> chex.Array:
        return self.space.arch_id(arch)

    def evaluate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        """Held-out accuracy (%) of the path (deterministic: ``key`` is unused)."""
        del key
        return path_accuracy(self.model, self.variables, arch, self.search_images, self.search_labels,
                             self.batch_size, self.dtype)

    def report(self, arch: chex.Array) -> chex.Array:
        return path_accuracy(self.model, self.variables, arch, self.report_images, self.report_labels,
                             self.batch_size, self.dtype)

    def cost(self, arch: chex.Array) -> tuple[chex.Array, chex.Array]:
        """(params_M, MACs_M) of the derived stand-alone network (analytic)."""
        return self.space.cost(arch, **dict(self.cost_kwargs))

    def random_arch(self, key: chex.PRNGKey) -> chex.Array:
        return self.space.random_arch(key)

    def mutate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        return self.space.mutate(key, arch)

    def arch_to_string(self, arch) -> str:
        return self.space.to_string(np.asarray(arch))

    def string_to_arch(self, s: str) -> np.ndarray:
        return self.space.from_string(s)


def _trim(images: np.ndarray, labels: np.ndarray, limit: int | None, batch_size: int, what: str):
    n = len(labels) if limit is None else min(limit, len(labels))
    n -= n % batch_size
    if n <= 0:
        raise ValueError(f"the {what} split has {len(labels)} images, fewer than one evaluation batch ({batch_size})")
    return images[:n], labels[:n]


def make_supernet_env(
    space: str,
    model: Any,
    variables: Any,
    search: tuple[np.ndarray, np.ndarray],
    report: tuple[np.ndarray, np.ndarray],
    *,
    batch_size: int = 256,
    max_images: int | None = None,
    cost_kwargs: dict[str, Any] | None = None,
    dataset: str = "synthetic",
    search_split: str = "heldout",
    report_split: str = "test",
    dtype: str = "float32",
) -> SupernetEnv:
    """Wrap supernet ``variables`` with normalised (images, labels) for the search and report splits.

    Each split is cut to a multiple of ``batch_size`` (at most ``max_images``) so every query
    costs the same fixed-shape forward pass; ``dtype`` is the compute dtype of that pass.
    """
    train_lib.check_dtype(dtype)
    codec = get_space(space)
    batch_size = int(min(batch_size, len(search[1]), len(report[1])))
    s_x, s_y = _trim(*search, max_images, batch_size, search_split)
    r_x, r_y = _trim(*report, max_images, batch_size, report_split)
    return SupernetEnv(
        variables=variables, search_images=jnp.asarray(s_x, jnp.float32), search_labels=jnp.asarray(s_y, jnp.int32),
        report_images=jnp.asarray(r_x, jnp.float32), report_labels=jnp.asarray(r_y, jnp.int32), space=codec,
        model=model, batch_size=batch_size, cost_kwargs=tuple(sorted((cost_kwargs or {}).items())), dataset=dataset,
        search_split=search_split, report_split=report_split, name=space, alpha_shape=codec.alpha_shape,
        arch_shape=codec.arch_shape, num_archs=codec.num_archs, dtype=dtype,
    )


def read_supernet_meta(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``supernet.json`` of a ``train/supernet.py`` run directory (space, net, dataset, train config, seed)."""
    meta_path = Path(run_dir) / "supernet.json"
    if not meta_path.is_file():
        raise ValueError(f"{run_dir} is not a supernet run directory (no supernet.json; train one with train/supernet.py)")
    try:
        meta = json.loads(meta_path.read_text())
        _ = meta["space"], meta["net"], meta["dataset"]["name"]  # the fields every use needs
        if meta.get("kind") != ofa_published.KIND:  # a converted OFA supernet was not trained here
            _ = meta["train_config"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{meta_path} is malformed ({type(e).__name__}: {e})") from None
    return meta


def load_supernet_env(
    run_dir: str | os.PathLike,
    *,
    data_dir: str | None = None,
    max_images: int | None = 2048,
    batch_size: int = 256,
    cost_kwargs: dict[str, Any] | None = None,
    dataset: str | None = None,
    dtype: str | None = None,
) -> SupernetEnv:
    """The environment of a ``train/supernet.py`` run directory (its ``supernet.json`` + last checkpoint).

    Search split: the held-out training images the supernet never trained on.  Report split:
    the test set when the dataset has one (CIFAR via tfds), else the second half of the
    held-out images (the generated dataset), so the two metrics never share images.
    ``dataset`` (None or ``""``: the supernet's own) is refused, before any data is loaded, when
    the supernet was trained on another dataset. ``dtype`` (None: the supernet's training dtype,
    float32 for runs recorded before it existed) is the compute dtype of the path evaluations; an
    unknown one is refused before any data is loaded.
    """
    run_dir = Path(run_dir)
    meta = read_supernet_meta(run_dir)
    space, net, ds, config = meta["space"], meta["net"], meta["dataset"], meta["train_config"]
    if dataset and dataset != ds["name"]:
        raise ValueError(f"{run_dir} holds a supernet trained on {ds['name']}, not {dataset}: drop --dataset "
                         f"(the supernet's own is used) or pass --dataset {ds['name']}")
    dtype = train_lib.check_dtype(config.get("dtype", "float32") if dtype is None else dtype, "dtype")
    spec = get_space(space)
    if ds["name"] == "synthetic":
        dataset = data_lib.synthetic_dataset(seed=meta["seed"], n=ds["train"] + ds["heldout"],
                                             image_size=ds["image_size"], num_classes=ds["num_classes"])
    else:
        dataset = data_lib.load_tfds(ds["name"], data_dir, heldout=ds["heldout"], seed=meta["seed"])
    model = spec.supernet(**net)
    cfg = train_lib.TrainConfig.from_dict(config)
    like = train_lib.create_train_state(model, cfg, jax.random.key(cfg.seed), dataset.train_images.shape[1:], 1,
                                        arch_fn=spec.random_arch)
    from l2nas_jax.supernet.ckpt import Checkpointer  # orbax is heavy: loaded when a supernet is restored

    with Checkpointer(run_dir / "checkpoints", async_save=False) as ckpt:
        state, _, _ = ckpt.restore(like, jax.random.key(0))
    # host round trip: restored arrays are committed to one device; the runner shards seeds over all of them
    variables = jax.tree.map(lambda x: jnp.asarray(np.asarray(x)), train_lib.state_variables(state))
    ho_x, ho_y = dataset.normalize(dataset.heldout_images), dataset.heldout_labels
    if dataset.test_labels is not None:
        search, report, report_split = (ho_x, ho_y), (dataset.normalize(dataset.test_images), dataset.test_labels), "test"
    else:
        half = len(ho_y) // 2
        search, report, report_split = (ho_x[:half], ho_y[:half]), (ho_x[half:], ho_y[half:]), "heldout-2nd-half"
    return make_supernet_env(space, model, variables, search, report, batch_size=batch_size, max_images=max_images,
                             cost_kwargs=cost_kwargs, dataset=ds["name"], search_split="heldout", report_split=report_split,
                             dtype=dtype)
