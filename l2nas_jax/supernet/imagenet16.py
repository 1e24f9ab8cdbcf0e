"""NAS-Bench-201's ImageNet16-120 on disk: the pickled batch files of downsampled ImageNet (16x16).

The format is that of Chrabaszcz, Loshchilov & Hutter 2017, "A Downsampled Variant of ImageNet as an
Alternative to the CIFAR datasets", as NB201 distributes it for 16x16 images: a directory holding
``train_data_batch_1`` .. ``train_data_batch_10`` and ``val_data``, each a pickled dict with

* ``data``: uint8 ``[N, 768]`` (3 x 16 x 16), one image per row, channel-planar (256 red values of the row-major
  16x16 image, then 256 green, then 256 blue);
* ``labels``: N ints, 1-based ImageNet classes 1..1000.

ImageNet16-120 keeps only the images of classes 1..120 and numbers them 0..119 (NB201:
151,700 train images, 6,000 in ``val_data``). This module only reads the files (NumPy, no JAX);
:func:`l2nas_jax.supernet.data.load_imagenet16` turns them into a :class:`~l2nas_jax.supernet.data.Dataset`.

The files are pickles, which can run code when loaded: they are read with an unpickler that only
accepts the NumPy array / dtype reconstructors and plain Python containers, so a file of any other
content is refused instead of executed.
"""

from __future__ import annotations

import codecs
import os
import pickle
from pathlib import Path
from typing import Any

import chex
import numpy as np

NAME = "imagenet16-120"
IMAGE_SIZE = 16
NUM_CLASSES = 120
#: Classes of the full downsampled ImageNet (labels in the files are 1..TOTAL_CLASSES).
TOTAL_CLASSES = 1000
#: NB201's per-channel mean / std of ImageNet16 (0-1 scale): [122.68, 116.66, 104.01] / 255 and
#: [63.22, 61.26, 65.09] / 255 (AutoDL-Projects ``get_dataset_with_transform.get_datasets``).
STATS: tuple[tuple[float, ...], tuple[float, ...]] = (
    tuple(v / 255 for v in (122.68, 116.66, 104.01)),
    tuple(v / 255 for v in (63.22, 61.26, 65.09)),
)
#: NB201 trains on ImageNet16 with RandomCrop(16, padding=2) (CIFAR: padding 4).
CROP_PADDING = 2
TRAIN_FILES: tuple[str, ...] = tuple(f"train_data_batch_{i}" for i in range(1, 11))
VAL_FILE = "val_data"
_ROW = 3 * IMAGE_SIZE * IMAGE_SIZE

#: The globals a batch file may name: NumPy's array / dtype / scalar reconstructors (looked up from live
#: objects, so pickles of NumPy 1 ``numpy.core`` and NumPy 2 ``numpy._core`` both load, whichever protocol
#: wrote them) and ``_codecs.encode`` (Python 3's protocol-2 encoding of bytes).
_RECONSTRUCT, _FROMBUFFER = np.zeros(1).__reduce_ex__(2)[0], np.zeros(1).__reduce_ex__(5)[0]
_SCALAR = np.float64(0).__reduce__()[0]
_ALLOWED = {
    **{(f"numpy.{core}.{mod}", name): fn for core in ("core", "_core")
       for mod, name, fn in (("multiarray", "_reconstruct", _RECONSTRUCT), ("multiarray", "scalar", _SCALAR),
                             ("numeric", "_frombuffer", _FROMBUFFER))},
    ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): codecs.encode,
}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds only NumPy arrays and plain containers (refuses any other global)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def _unpickle(path: Path) -> Any:
    """The object pickled in ``path`` (Python 2 pickles included: ``latin1`` byte strings)."""
    with open(path, "rb") as f:
        return _ArrayUnpickler(f, encoding="latin1").load()


def read_batch_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (uint8 NHWC ``[N, 16, 16, 3]`` images, int64 ``[N]`` 1-based labels).

    Raises:
      ValueError: (one line, naming the file) when it is not a pickle of the format above.
    """
    path = Path(path)
    try:
        entry = _unpickle(path)
    except Exception as e:  # UnpicklingError, EOFError, ValueError, ... from a damaged or foreign file
        raise ValueError(f"{path} is not a pickled ImageNet16 batch ({type(e).__name__}: {e})") from None
    if not isinstance(entry, dict) or not {"data", "labels"} <= entry.keys():
        got = sorted(map(str, entry.keys())) if isinstance(entry, dict) else type(entry).__name__
        raise ValueError(f"{path} is not an ImageNet16 batch: expected a dict with 'data' and 'labels', got {got}")
    images, labels = np.asarray(entry["data"]), np.asarray(entry["labels"])
    if images.ndim != 2 or images.shape[1] != _ROW:
        raise ValueError(f"{path}: 'data' has shape {list(images.shape)}, expected [N, {_ROW}] "
                         f"(one 3x{IMAGE_SIZE}x{IMAGE_SIZE} image per row)")
    if images.dtype != np.uint8:
        raise ValueError(f"{path}: 'data' has dtype {images.dtype}, expected uint8")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{path}: 'labels' has shape {list(labels.shape)} and dtype {labels.dtype}, "
                         f"expected {len(images)} integer labels (one per row of 'data')")
    if len(labels) and (labels.min() < 1 or labels.max() > TOTAL_CLASSES):
        raise ValueError(f"{path}: labels range over {labels.min()}..{labels.max()}, expected 1-based "
                         f"classes 1..{TOTAL_CLASSES}")
    images = images.reshape(-1, 3, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 3, 1)  # planar -> NHWC
    return np.ascontiguousarray(images), labels.astype(np.int64)


def keep_classes(images: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The images of 1-based classes ``1..num_classes``, relabelled ``0..num_classes-1`` (int32)."""
    chex.assert_equal_shape_prefix((images, labels), 1)
    keep = (labels >= 1) & (labels <= num_classes)
    return images[keep], (labels[keep] - 1).astype(np.int32)


def check_files(data_dir: str | os.PathLike | None) -> Path:
    """The directory holding all eleven batch files; one-line errors: ValueError without a directory,
    RuntimeError naming the missing directory or files."""
    if data_dir is None:
        raise ValueError(f"{NAME} is read from local files: pass --data-dir DIR, the directory holding "
                         f"NB201's ImageNet16 ({TRAIN_FILES[0]} .. {TRAIN_FILES[-1]} and {VAL_FILE})")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise RuntimeError(f"{NAME}: data directory {root} does not exist (expected NB201's ImageNet16 files: "
                           f"{TRAIN_FILES[0]} .. {TRAIN_FILES[-1]} and {VAL_FILE})")
    missing = [n for n in (*TRAIN_FILES, VAL_FILE) if not (root / n).is_file()]
    if missing:
        raise RuntimeError(f"{NAME}: {root} lacks {len(missing)} of the ImageNet16 batch files: {', '.join(missing)}")
    return root


def read_split(
    data_dir: str | os.PathLike, files: tuple[str, ...], num_classes: int = NUM_CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """The images + 0-based labels of classes ``1..num_classes`` in ``files``, in file order.

    Each file is filtered as it is read, so only the kept images (12% for 120 classes) are ever
    held at once beside one file's worth of rows.
    """
    if not 1 <= num_classes <= TOTAL_CLASSES:
        raise ValueError(f"num_classes must be in 1..{TOTAL_CLASSES}, got {num_classes}")
    parts = [keep_classes(*read_batch_file(Path(data_dir) / name), num_classes) for name in files]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if not len(labels):
        raise ValueError(f"{NAME}: {', '.join(files)} in {data_dir} hold no image of classes 1..{num_classes}")
    chex.assert_shape(images, (len(labels), IMAGE_SIZE, IMAGE_SIZE, 3))
    return images, labels
