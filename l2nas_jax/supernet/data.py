"""Image data for supernet training: CIFAR via tensorflow-datasets, NB201's ImageNet16-120 from its
pickled batch files, a learnable generated set, batching, augmentation.

Host side (NumPy): a :class:`Dataset` holds ``uint8`` NHWC images and ``int32`` labels, split into a
weight-training part and a held-out part (the held-out images score architectures during search,
so they must never train the weights). :func:`batch_iterator` yields normalised ``float32`` batches
in a per-epoch permutation that depends only on ``(seed, epoch)``, so a resumed run sees exactly
the batches an uninterrupted run would.

Device side (jittable, pure): :func:`augment` = random crop with zero padding + horizontal flip
(+ cutout), the standard CIFAR recipe of DARTS/NB201 (DARTS ``utils._data_transforms_cifar10``:
RandomCrop(32, padding=4), RandomHorizontalFlip, Cutout(16)). Differences from the PyTorch recipe:
padding and cutout act on normalised images (padding value 0 = the dataset mean, not black).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterator

import chex
import jax
import jax.numpy as jnp
import numpy as np

from l2nas_jax.supernet import imagenet16

#: Per-channel mean / std of the CIFAR training sets (0-1 scale), as used by DARTS and NB201.
CIFAR_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
_NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
DATASETS = ("cifar10", "cifar100", imagenet16.NAME, "synthetic")
#: Image size (px) of each real dataset (the generated one's is a parameter).
IMAGE_SIZES = {"cifar10": 32, "cifar100": 32, imagenet16.NAME: imagenet16.IMAGE_SIZE}
#: Random-crop padding of each dataset's training augmentation (NB201 pads ImageNet16 by 2, CIFAR by 4).
CROP_PADDINGS = {"cifar10": 4, "cifar100": 4, imagenet16.NAME: imagenet16.CROP_PADDING, "synthetic": 4}


@dataclasses.dataclass(frozen=True)
class Dataset:
    """uint8 NHWC images + int32 labels: weight-train split, held-out split, optional test split."""

    name: str
    num_classes: int
    train_images: np.ndarray  # uint8[N, H, W, 3]
    train_labels: np.ndarray  # int32[N]
    heldout_images: np.ndarray  # uint8[M, H, W, 3]
    heldout_labels: np.ndarray  # int32[M]
    mean: tuple[float, ...]  # per channel, 0-1 scale
    std: tuple[float, ...]
    test_images: np.ndarray | None = None
    test_labels: np.ndarray | None = None

    @property
    def image_size(self) -> int:
        return int(self.train_images.shape[1])

    def normalize(self, images: np.ndarray) -> np.ndarray:
        """uint8 images -> float32 ``(x/255 - mean) / std``."""
        return normalize(images, self.mean, self.std)

    def summary(self) -> dict[str, object]:
        """JSON-friendly description (sizes, not data) for results files."""
        return {
            "name": self.name, "num_classes": self.num_classes, "image_size": self.image_size,
            "train": int(len(self.train_labels)), "heldout": int(len(self.heldout_labels)),
            "test": 0 if self.test_labels is None else int(len(self.test_labels)),
        }


def normalize(images: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """uint8 images -> float32 normalised per channel."""
    x = np.asarray(images, np.float32) / 255.0
    return (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


def split_heldout(
    images: np.ndarray, labels: np.ndarray, heldout: int | float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Deterministically split off ``heldout`` examples (a count, or a fraction in [0, 1))."""
    n = len(labels)
    m = int(round(heldout * n)) if isinstance(heldout, float) else int(heldout)
    if not 0 <= m < n:
        raise ValueError(f"heldout={heldout!r} must leave some of the {n} training examples (got {m} held out)")
    perm = np.random.default_rng([seed, 0x5EED]).permutation(n)
    tr, ho = np.sort(perm[m:]), np.sort(perm[:m])
    return images[tr], labels[tr], images[ho], labels[ho]


def synthetic_dataset(
    seed: int = 0,
    n: int = 512,
    image_size: int = 8,
    num_classes: int = 10,
    *,
    heldout: int | float = 0.25,
    noise: float = 0.5,
) -> Dataset:
    """A small *learnable* generated dataset: each class is a smooth colour pattern, samples add noise.

    Patterns are low-frequency (a 2x2 random grid upsampled) plus a class colour, so a tiny conv
    net separates the classes within a few dozen SGD steps even under crop/flip augmentation.
    """
    if n < 2 or image_size < 2 or num_classes < 2:
        raise ValueError(f"synthetic_dataset needs n>=2, image_size>=2, num_classes>=2; got {n}, {image_size}, {num_classes}")
    rng = np.random.default_rng(seed)
    coarse = rng.normal(size=(num_classes, 2, 2, 3))
    reps = -(-image_size // 2)
    templates = np.repeat(np.repeat(coarse, reps, axis=1), reps, axis=2)[:, :image_size, :image_size]
    templates = templates + rng.normal(size=(num_classes, 1, 1, 3))  # class colour
    labels = rng.integers(0, num_classes, size=n).astype(np.int32)
    x = templates[labels] + noise * rng.normal(size=(n, image_size, image_size, 3))
    images = np.clip(128 + 40 * x, 0, 255).astype(np.uint8)
    tr_x, tr_y, ho_x, ho_y = split_heldout(images, labels, heldout, seed)
    mean = tuple(float(v) for v in tr_x.reshape(-1, 3).mean(0) / 255)
    std = tuple(float(v) for v in tr_x.reshape(-1, 3).std(0) / 255 + 1e-3)
    return Dataset("synthetic", num_classes, tr_x, tr_y, ho_x, ho_y, mean, std)


def load_tfds(
    name: str,
    data_dir: str | None = None,
    *,
    heldout: int | float = 5000,
    seed: int = 0,
) -> Dataset:
    """CIFAR-10/100 from tensorflow-datasets (prepared offline), with ``heldout`` train images held out.

    Raises:
      ValueError: for a dataset name other than cifar10 / cifar100.
      RuntimeError: when tensorflow-datasets (or the TensorFlow its ``as_dataset`` reads through) is
        not installed, or the data is not prepared in ``data_dir`` (nothing is downloaded here; say
        how to prepare it).
    """
    if name not in _NUM_CLASSES:
        raise ValueError(f"unknown dataset {name!r}; tfds datasets: {', '.join(_NUM_CLASSES)}")
    try:
        import tensorflow_datasets as tfds  # optional dependency, imported lazily
    except ImportError:
        raise RuntimeError(
            f"loading {name} needs tensorflow-datasets, which is not installed: "
            "pip install 'l2nas-jax[tfds]' (or use --dataset synthetic)"
        ) from None
    where = data_dir or "~/tensorflow_datasets"
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        prepared = builder.is_prepared() if hasattr(builder, "is_prepared") else True
        if not prepared:
            raise FileNotFoundError(f"{name} is not prepared in {where}")
        train, test = tfds.as_numpy(
            builder.as_dataset(split=["train", "test"], batch_size=-1, as_supervised=True)
        )
    except Exception as e:  # tfds raises many types (AssertionError, DatasetNotFoundError, ...)
        from l2nas_jax.supernet.imagenet import missing_tensorflow  # one test for both tfds readers

        if missing_tensorflow(e):
            raise RuntimeError(
                f"loading {name} from prepared tfds files needs TensorFlow (tfds reads them with tf.data), "
                "which is not installed: pip install tensorflow-cpu"
            ) from None
        raise RuntimeError(
            f"{name} is not available offline in {where} ({type(e).__name__}: {e}). Prepare it on a "
            f"machine with network access with `tfds build {name} --data_dir DIR` (or "
            f"`python -c \"import tensorflow_datasets as tfds; tfds.load('{name}', data_dir='DIR')\"`), "
            "copy DIR here and pass --data-dir DIR"
        ) from None
    x, y = np.asarray(train[0], np.uint8), np.asarray(train[1], np.int32)
    tr_x, tr_y, ho_x, ho_y = split_heldout(x, y, heldout, seed)
    mean, std = CIFAR_STATS[name]
    return Dataset(name, _NUM_CLASSES[name], tr_x, tr_y, ho_x, ho_y, mean, std,
                   np.asarray(test[0], np.uint8), np.asarray(test[1], np.int32))


def load_imagenet16(
    data_dir: str | os.PathLike | None,
    *,
    heldout: int | float = 5000,
    seed: int = 0,
    num_classes: int = imagenet16.NUM_CLASSES,
) -> Dataset:
    """NB201's ImageNet16-120 from ``data_dir`` (its pickled batch files), ``heldout`` train images held out.

    Train = ``train_data_batch_1..10``, test = ``val_data``, both restricted to classes 1..120
    (labels 0..119), normalised with NB201's ImageNet16 mean / std. See :mod:`imagenet16` for the format.

    Raises:
      ValueError: no ``data_dir``, or a file that is not an ImageNet16 batch (named, one line).
      RuntimeError: the directory or some of its eleven files are missing (named, one line).
    """
    root = imagenet16.check_files(data_dir)
    x, y = imagenet16.read_split(root, imagenet16.TRAIN_FILES, num_classes)
    test_x, test_y = imagenet16.read_split(root, (imagenet16.VAL_FILE,), num_classes)
    tr_x, tr_y, ho_x, ho_y = split_heldout(x, y, heldout, seed)
    mean, std = imagenet16.STATS
    name = imagenet16.NAME if num_classes == imagenet16.NUM_CLASSES else f"imagenet16-{num_classes}"
    return Dataset(name, num_classes, tr_x, tr_y, ho_x, ho_y, mean, std, test_x, test_y)


def load_dataset(
    name: str,
    *,
    data_dir: str | None = None,
    seed: int = 0,
    heldout: int | float | None = None,
    **synthetic_kw,
) -> Dataset:
    """``cifar10`` / ``cifar100`` (tfds), ``imagenet16-120`` (NB201's files in ``data_dir``) or
    ``synthetic`` (generated, ``synthetic_kw`` passed on); ``heldout`` None = the loader's default."""
    held = {} if heldout is None else {"heldout": heldout}
    if name == "synthetic":
        return synthetic_dataset(seed=seed, **held, **synthetic_kw)
    if name == imagenet16.NAME:
        return load_imagenet16(data_dir, seed=seed, **held)
    if name not in _NUM_CLASSES:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    return load_tfds(name, data_dir, seed=seed, **held)


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Full batches per epoch (the last partial batch is dropped, so shapes never change)."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if num_examples < batch_size:
        raise ValueError(f"batch_size {batch_size} exceeds the {num_examples} training examples")
    return num_examples // batch_size


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The example order of one epoch: a function of ``(seed, epoch)`` only."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_iterator(
    dataset: Dataset,
    batch_size: int,
    seed: int,
    *,
    start_step: int = 0,
    process_index: int = 0,
    process_count: int = 1,
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Yield ``(global_step, {"image": float32[b,H,W,3], "label": int32[b]})`` forever from ``start_step``.

    ``batch_size`` is the global batch; with several processes (multi-host) each yields its own
    contiguous slice ``b = batch_size // process_count`` of every global batch.
    """
    if batch_size % process_count:
        raise ValueError(f"batch_size {batch_size} is not divisible by the {process_count} processes")
    n = len(dataset.train_labels)
    spe = steps_per_epoch(n, batch_size)
    local = batch_size // process_count
    step = start_step
    epoch, perm = -1, None
    while True:
        e, i = divmod(step, spe)
        if e != epoch:
            epoch, perm = e, epoch_permutation(seed, e, n)
        idx = perm[i * batch_size + process_index * local: i * batch_size + (process_index + 1) * local]
        yield step, {"image": dataset.normalize(dataset.train_images[idx]),
                     "label": dataset.train_labels[idx].astype(np.int32)}
        step += 1


def random_crop_flip(key: jax.Array, images: jax.Array, padding: int = 4) -> jax.Array:
    """Per-image random crop from the zero-padded image and random horizontal flip."""
    chex.assert_rank(images, 4)
    b, h, w, _ = images.shape
    k_off, k_flip = jax.random.split(key)
    padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    offs = jax.random.randint(k_off, (b, 2), 0, 2 * padding + 1)
    crop = jax.vmap(lambda im, o: jax.lax.dynamic_slice(im, (o[0], o[1], 0), (h, w, im.shape[-1])))
    out = crop(padded, offs)
    flip = jax.random.bernoulli(k_flip, 0.5, (b, 1, 1, 1))
    return jnp.where(flip, out[:, :, ::-1, :], out)


def cutout(key: jax.Array, images: jax.Array, size: int) -> jax.Array:
    """Zero one ``size x size`` square per image, centred uniformly (clipped at the border; DeVries & Taylor 2017)."""
    chex.assert_rank(images, 4)
    b, h, w, _ = images.shape
    centre = jax.random.randint(key, (b, 2), 0, jnp.array([h, w]))
    rows, cols = jnp.arange(h)[None, :], jnp.arange(w)[None, :]
    lo = centre - size // 2
    in_r = (rows >= lo[:, :1]) & (rows < lo[:, :1] + size)  # [b, h]
    in_c = (cols >= lo[:, 1:]) & (cols < lo[:, 1:] + size)  # [b, w]
    mask = in_r[:, :, None] & in_c[:, None, :]
    return jnp.where(mask[..., None], 0.0, images)


#: Below this image size the default cutout is off: half of a tiny image carries too little of it.
MIN_CUTOUT_IMAGE_SIZE = 16


def default_cutout(image_size: int) -> int:
    """The default cutout square for ``image_size`` px images: half the image (DARTS' 16 on 32 px
    CIFAR), 0 = off below :data:`MIN_CUTOUT_IMAGE_SIZE` px (a fixed 16 px square would blank every
    8 px image of a CPU demo, leaving nothing to learn)."""
    if image_size < 1:
        raise ValueError(f"image size must be positive, got {image_size}")
    return 0 if image_size < MIN_CUTOUT_IMAGE_SIZE else image_size // 2


def check_cutout(cutout: int, image_size: int) -> None:
    """Refuse a cutout square that would blank (nearly) every ``image_size`` px image (one-line ValueError)."""
    if cutout >= image_size:
        raise ValueError(f"--cutout {cutout} would blank (nearly) every {image_size} px image; "
                         f"pass a smaller --cutout (0 = off)")


def augment(
    key: jax.Array, images: jax.Array, *, crop_flip: bool = True, crop_padding: int = 4, cutout_size: int = 0
) -> jax.Array:
    """The CIFAR training augmentation (crop+flip, then cutout when ``cutout_size > 0``); pure, jittable."""
    k_crop, k_cut = jax.random.split(key)
    out = random_crop_flip(k_crop, images, crop_padding) if crop_flip else images
    return cutout(k_cut, out, cutout_size) if cutout_size > 0 else out
