"""Full-resolution ImageNet (ILSVRC 2012) images for evaluating once-for-all MobileNetV3 subnets.

OFA's published accuracies (Cai et al. 2020, "Once-for-All: Train One Network and Specialize it for
Efficient Deployment"; mit-han-lab/once-for-all, ``ofa/imagenet_classification/data_providers/imagenet.py``,
``build_valid_transform``) are measured on images preprocessed with torchvision on PIL images as

1. ``Resize(ceil(resolution / 0.875))``: the SHORTER side scaled to that size, the aspect ratio kept
   (the long side truncated to an int), PIL bilinear;
2. ``CenterCrop(resolution)``: the offsets rounded with Python's ``round`` (halves to even);
3. ``ToTensor`` (``/ 255``) and ``Normalize`` with ImageNet's mean / std.

This module rebuilds that chain with Pillow and NumPy (torchvision is not a dependency; the rules are
written from torchvision's documented behaviour), returning NHWC ``float32``, and reads the images from

* a torchvision-style ImageFolder tree (:func:`read_imagefolder`; ``root/<synset>/<image>``, the
  layout of OFA's own ``val/`` directory), or
* tensorflow-datasets' ``imagenet2012`` (:func:`read_tfds_imagenet`; optional dependency). Its stored
  JPEG bytes are decoded with Pillow (as OFA's loader does), not with TensorFlow, whose JPEG decoder
  gives slightly different pixels.

Both readers can take a fixed, seeded subset (``limit`` images), e.g. for BN re-calibration, which
must see the same images on every run. :func:`parse_data_spec` turns a CLI string such as
``imagenet:/data/imagenet/val`` into an :class:`ImageNetSource`, and :func:`load_imagenet` reads one.

Labels are the indices of the sorted class (synset) names, as torchvision's ImageFolder and tfds'
``imagenet2012`` (whose label names are the sorted synsets) both number them, so an ImageFolder tree
must hold the directories of all 1000 classes for the labels to match a 1000-way classifier. NumPy
and Pillow only: no JAX.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

import numpy as np
from PIL import Image
from tqdm import tqdm

#: ImageNet's per-channel mean / std (0-1 scale), torchvision's / OFA's ``Normalize`` values.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: Evaluation crop / resize ratio: resize the shorter side to ``ceil(resolution / CROP_RATIO)`` first.
CROP_RATIO = 0.875
#: Image files an ImageFolder tree may hold (compared case-insensitively), as torchvision's ImageFolder.
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".pgm", ".tif", ".tiff")
TFDS_NAME = "imagenet2012"
#: Directory names of an ImageNet root that holds the splits (not classes).
_SPLIT_DIRS = ("train", "val", "validation", "test")
_SPEC_FORMS = "imagenet:PATH (a class-folder tree or a tfds data dir), imagefolder:PATH, tfds:PATH"


@dataclasses.dataclass(frozen=True)
class ImageNetSource:
    """Where ImageNet is read from: an ImageFolder tree or a tfds data dir holding ``imagenet2012``."""

    kind: Literal["imagefolder", "tfds"]
    path: Path


# ---------------------------------------------------------------------------------------------- preprocessing


def check_resolution(resolution: Any) -> int:
    """``resolution`` as an int, refusing anything but a positive int (OFA evaluates at 128..224 px)."""
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 1:
        raise ValueError(f"resolution must be a positive int (OFA uses 128..224 px), got {resolution!r}")
    return int(resolution)


def resize_size(resolution: int) -> int:
    """The shorter side an image is resized to before the ``resolution`` px centre crop: ceil(res / 0.875)."""
    return int(math.ceil(check_resolution(resolution) / CROP_RATIO))


def resized_shape(width: int, height: int, size: int) -> tuple[int, int]:
    """``(width, height)`` after scaling the shorter side to ``size``: torchvision's rule, the long side
    ``int(size * long / short)`` (truncated), a square image's sides both ``size``."""
    if width < 1 or height < 1:
        raise ValueError(f"cannot resize an empty {width}x{height} image")
    size = check_size(size, "resize size")
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def check_size(size: Any, what: str) -> int:
    """``size`` as an int, refusing anything but a positive int (``what`` names it in the error)."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{what} must be a positive int, got {size!r}")
    return int(size)


def resize_shorter(img: Image.Image, size: int) -> Image.Image:
    """``img`` with its shorter side scaled to ``size`` px, aspect kept, PIL bilinear (torchvision ``Resize(size)``)."""
    shape = resized_shape(*img.size, size)
    return img if shape == img.size else img.resize(shape, Image.BILINEAR)


def crop_offsets(width: int, height: int, size: int) -> tuple[int, int]:
    """``(left, top)`` of the centred ``size`` px square in a ``width x height`` image: torchvision's
    ``int(round((side - size) / 2))``, Python's round (exact halves go to the even integer)."""
    size = check_size(size, "crop size")
    if size > width or size > height:
        raise ValueError(f"crop size {size} exceeds the {width}x{height} image (resize it first)")
    return int(round((width - size) / 2.0)), int(round((height - size) / 2.0))


def center_crop(img: Image.Image, size: int) -> Image.Image:
    """The centred ``size x size`` square of ``img`` (torchvision ``CenterCrop(size)``, image at least that big)."""
    left, top = crop_offsets(*img.size, size)
    return img.crop((left, top, left + size, top + size))


def to_pil_rgb(image: Image.Image | np.ndarray) -> Image.Image:
    """A PIL image or a uint8 ``[H, W]`` / ``[H, W, 1|3|4]`` array as an RGB PIL image (greyscale, RGBA,
    CMYK, palette ... converted as OFA's loader does, ``convert('RGB')``)."""
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"image arrays must be uint8, got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (3, 4))):
        raise ValueError(f"image arrays must be [H, W] or [H, W, 1|3|4] (HWC), got shape {list(array.shape)}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"empty image of shape {list(array.shape)}")
    return Image.fromarray(np.ascontiguousarray(array)).convert("RGB")


def normalize(rgb: Any) -> Any:
    """uint8 RGB pixels -> float32 ``(x / 255 - mean) / std`` with ImageNet's mean / std (ToTensor + Normalize).

    A NumPy array stays on the host; a JAX array is normalised on its device (uint8 crops kept there).
    """
    x = rgb.astype(np.float32) / np.float32(255.0)
    return (x - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)


def preprocess(image: Image.Image | np.ndarray, resolution: int) -> np.ndarray:
    """OFA's evaluation preprocessing of one image -> float32 ``[resolution, resolution, 3]`` (HWC).

    RGB conversion, shorter side to ``ceil(resolution / 0.875)`` (bilinear), centre crop, ``/ 255``,
    ImageNet normalisation; ``image`` is a PIL image or a uint8 HWC array.
    """
    return normalize(crop(image, resolution))


def crop(image: Image.Image | np.ndarray, resolution: int) -> np.ndarray:
    """OFA's resize and centre crop without the normalisation -> uint8 ``[resolution, resolution, 3]``.

    A quarter of :func:`preprocess`'s memory: arrays that stay on a device for many evaluations
    (search splits at every resolution) are kept like this and normalised on the device.
    """
    resolution = check_resolution(resolution)
    img = center_crop(resize_shorter(to_pil_rgb(image), resize_size(resolution)), resolution)
    return np.asarray(img, np.uint8)


# ---------------------------------------------------------------------------------------------- subsets


def check_limit(limit: Any) -> int | None:
    """``limit`` as an int or None, refusing anything but a positive int."""
    if limit is None:
        return None
    return check_size(limit, "limit")


def subset_indices(n: int, limit: int | None, seed: int) -> np.ndarray:
    """Sorted indices of ``limit`` of ``n`` items drawn without replacement by ``default_rng(seed)``; all
    ``n`` when ``limit`` is None or at least ``n`` (a fixed subset for a fixed seed)."""
    limit = check_limit(limit)
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def _progress(iterable: Iterable, total: int, desc: str, enabled: bool) -> Iterable:
    """``iterable`` behind a tqdm bar on stderr (a pass-through when not ``enabled``)."""
    return tqdm(iterable, total=total, desc=desc, unit="img", file=sys.stderr, disable=not enabled)


# ---------------------------------------------------------------------------------------------- ImageFolder


def is_image_file(name: str) -> bool:
    """Whether a file name has one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _has_direct_images(directory: Path) -> bool:
    """Whether ``directory`` itself (not its subdirectories) holds an image file; stops at the first."""
    try:
        with os.scandir(directory) as entries:
            return any(e.is_file() and is_image_file(e.name) for e in entries)
    except OSError:
        return False


def find_classes(root: Path) -> list[str]:
    """The sorted class directory names under ``root`` (hidden ``.name`` directories skipped)."""
    with os.scandir(root) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def class_files(class_dir: Path) -> list[Path]:
    """The image files under ``class_dir`` (its subdirectories too), ordered as torchvision's ImageFolder:
    by directory, then by file name."""
    files = []
    for dirpath, _, names in sorted(os.walk(class_dir, followlinks=True)):
        files.extend(Path(dirpath) / n for n in sorted(names) if is_image_file(n))
    return files


def list_imagefolder(root: str | os.PathLike) -> tuple[list[Path], np.ndarray, list[str]]:
    """``(files, int32 labels, class_names)`` of an ImageFolder tree, files in the tree's sorted order."""
    root = Path(root).expanduser()
    if not root.exists():
        raise ValueError(f"ImageFolder root {root} does not exist")
    if not root.is_dir():
        raise ValueError(f"ImageFolder root {root} is not a directory")
    classes = find_classes(root)
    if not classes:
        raise ValueError(f"ImageFolder root {root} has no class subdirectories (expected root/<class>/<image>)")
    splits = [c for c in classes if c in _SPLIT_DIRS and not _has_direct_images(root / c)]
    if splits and len(splits) == len(classes):
        raise ValueError(f"{root} holds the split directories {', '.join(splits)}, not classes: pass the split "
                         f"itself, e.g. {root / splits[-1]}")
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        found = class_files(root / name)
        files.extend(found)
        labels.extend([label] * len(found))
    if not files:
        raise ValueError(f"ImageFolder root {root}: its {len(classes)} class directories hold no images "
                         f"(extensions {' '.join(IMAGE_EXTENSIONS)})")
    return files, np.asarray(labels, np.int32), classes


def open_image(path: str | os.PathLike) -> Image.Image:
    """The image in ``path`` as RGB (ValueError naming the file when Pillow cannot read it)."""
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except Exception as e:  # UnidentifiedImageError, OSError (truncated), DecompressionBombError, ...
        raise ValueError(f"cannot read image {path}: {type(e).__name__}: {e}") from None


def read_imagefolder(
    root: str | os.PathLike,
    resolution: int,
    *,
    limit: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """An ImageFolder tree, preprocessed for evaluation -> (float32 ``[N, res, res, 3]``, int32 ``[N]``, class names).

    ``root`` is the parent of the class directories (``root/<class>/<image>``, e.g. ImageNet's ``val/``);
    classes are its sorted subdirectory names (labels 0..C-1), files are sorted within a class.
    ``limit`` keeps a fixed subset of that many images (see :func:`subset_indices`), in tree order.

    Raises:
      ValueError: ``root`` missing or not a directory, no class directories, no images, an unreadable
        image (named), a bad ``resolution`` or ``limit``.
    """
    resolution = check_resolution(resolution)
    crops, labels, classes = read_imagefolder_crops(root, (resolution,), limit=limit, seed=seed, progress=progress)
    return normalize(crops[resolution]), labels, classes


def _fill(images: Iterable[Image.Image], n: int, resolutions: tuple[int, ...]) -> dict[int, np.ndarray]:
    """uint8 :func:`crop` s of ``n`` images at every resolution (each image decoded once)."""
    out = {r: np.empty((n, r, r, 3), np.uint8) for r in resolutions}
    row = 0
    for img in images:
        for r in resolutions:
            out[r][row] = crop(img, r)
        row += 1
    if row != n:
        raise RuntimeError(f"expected {n} images, read {row}")
    return out


def _check_resolutions(resolutions: Iterable[int]) -> tuple[int, ...]:
    res = tuple(check_resolution(r) for r in resolutions)
    if not res:
        raise ValueError("no resolution given")
    return res


def read_imagefolder_crops(
    root: str | os.PathLike,
    resolutions: Iterable[int],
    *,
    limit: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> tuple[dict[int, np.ndarray], np.ndarray, list[str]]:
    """An ImageFolder tree as uint8 :func:`crop` s at each resolution -> (``{res: [N, res, res, 3]}``, labels,
    class names); each image is decoded once. Subset, order and errors as :func:`read_imagefolder`."""
    resolutions, limit = _check_resolutions(resolutions), check_limit(limit)
    files, labels, classes = list_imagefolder(root)
    keep = subset_indices(len(files), limit, seed)
    images = (open_image(files[i]) for i in _progress(keep, len(keep), f"ImageNet {Path(root).name}", progress))
    return _fill(images, len(keep), resolutions), labels[keep], classes


# ---------------------------------------------------------------------------------------------- tfds


def _import_tfds() -> Any:
    """tensorflow_datasets, or a RuntimeError saying how to install it."""
    try:
        import tensorflow_datasets as tfds  # optional dependency, imported lazily
    except ImportError:
        raise RuntimeError("reading imagenet2012 from tfds needs tensorflow-datasets, which is not installed: "
                           "pip install 'l2nas-jax[tfds]' (or read an ImageFolder tree: imagefolder:PATH)") from None
    return tfds


def missing_tensorflow(error: Exception) -> bool:
    """Whether ``error`` is tfds failing to import TensorFlow (tfds re-raises it reworded, losing ``name``)."""
    return isinstance(error, ImportError) and (
        error.name == "tensorflow" or "No module named 'tensorflow'" in str(error))


def _not_prepared_message(data_dir: str, split: str) -> str:
    """Why ``imagenet2012`` is not in ``data_dir``, and how to prepare it (tfds cannot download ImageNet)."""
    return (f"{TFDS_NAME} ({split}) is not prepared in {data_dir}. ImageNet cannot be downloaded by tfds: "
            f"download ILSVRC2012_img_val.tar (and ILSVRC2012_img_train.tar) from https://image-net.org into a "
            f"directory MANUAL and prepare it with manual_dir=MANUAL (`tfds build {TFDS_NAME} --data_dir "
            f"{data_dir} --manual_dir MANUAL`), or read an ImageFolder tree instead (imagefolder:PATH)")


def _tfds_error(error: Exception, data_dir: str, split: str) -> RuntimeError:
    """The one-line RuntimeError for tfds failing to load: TensorFlow missing, or the data not there."""
    if missing_tensorflow(error):
        return RuntimeError(f"reading {TFDS_NAME} from prepared tfds files needs TensorFlow (tfds reads them "
                            "with tf.data), which is not installed: pip install 'l2nas-jax[tfds]' (or tensorflow-cpu)")
    return RuntimeError(f"{TFDS_NAME} ({split}) could not be loaded from {data_dir} ({type(error).__name__}: "
                        f"{error}). If it is not prepared there: {_not_prepared_message(data_dir, split)}")


def _pick(items: Iterable, indices: np.ndarray) -> Iterator:
    """The items at the sorted ``indices`` of ``items``, stopping after the last one (the rest is never read)."""
    targets = iter(indices.tolist())
    want = next(targets, None)
    if want is None:
        return
    for i, item in enumerate(items):
        if i == want:
            yield item
            want = next(targets, None)
            if want is None:
                return


def _decode(image: Any) -> Image.Image:
    """One tfds image (encoded bytes under SkipDecoding, or a decoded uint8 array) as an RGB PIL image."""
    if isinstance(image, (bytes, np.bytes_)):
        try:
            with Image.open(io.BytesIO(image)) as img:
                return img.convert("RGB")
        except Exception as e:
            raise ValueError(f"cannot decode an {TFDS_NAME} image: {type(e).__name__}: {e}") from None
    return to_pil_rgb(np.asarray(image))


def read_tfds_imagenet(
    data_dir: str | os.PathLike,
    resolution: int,
    *,
    split: str = "validation",
    limit: int | None = None,
    seed: int = 0,
    manual_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """tfds' ``imagenet2012`` ``split``, preprocessed for evaluation -> (float32 ``[N, res, res, 3]``,
    int32 ``[N]``, the 1000 synset names); see :func:`read_tfds_crops`."""
    resolution = check_resolution(resolution)
    crops, labels, names = read_tfds_crops(data_dir, (resolution,), split=split, limit=limit, seed=seed,
                                           manual_dir=manual_dir, progress=progress)
    return normalize(crops[resolution]), labels, names


def read_tfds_crops(
    data_dir: str | os.PathLike,
    resolutions: Iterable[int],
    *,
    split: str = "validation",
    limit: int | None = None,
    seed: int = 0,
    manual_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> tuple[dict[int, np.ndarray], np.ndarray, list[str]]:
    """tfds' ``imagenet2012`` ``split`` as uint8 :func:`crop` s at each resolution -> (``{res: [N, res, res, 3]}``,
    int32 ``[N]``, the 1000 synset names).

    The stored JPEG bytes are decoded with Pillow (as OFA's loader decodes the original files), then
    :func:`preprocess`\\ ed. ``limit`` keeps a fixed subset (:func:`subset_indices` over the split's
    stored order). Nothing is downloaded: ImageNet can only be prepared from a manual download, done
    here when ``manual_dir`` (holding ``ILSVRC2012_img_*.tar``) is given and the data is not prepared yet.

    Raises:
      ValueError: a bad ``resolution`` / ``limit``, an undecodable image.
      RuntimeError: tensorflow-datasets or TensorFlow not installed, or the data not prepared in
        ``data_dir`` (the message says how to prepare it).
    """
    resolutions, limit = _check_resolutions(resolutions), check_limit(limit)
    tfds = _import_tfds()
    where = str(Path(data_dir).expanduser())
    try:
        prepared = manual_dir is not None or tfds.builder(TFDS_NAME, data_dir=where).is_prepared()
    except Exception as e:
        raise _tfds_error(e, where, split) from None
    if not prepared:
        raise RuntimeError(_not_prepared_message(where, split))
    try:
        kwargs = None if manual_dir is None else {
            "download_config": tfds.download.DownloadConfig(manual_dir=str(Path(manual_dir).expanduser()))}
        ds, info = tfds.load(TFDS_NAME, split=split, data_dir=where, download=manual_dir is not None,
                             download_and_prepare_kwargs=kwargs, as_supervised=True, with_info=True,
                             decoders={"image": tfds.decode.SkipDecoding()})
        n = int(ds.cardinality())
        if n < 0:  # unknown cardinality: count the records (labels and bytes only, nothing decoded)
            n = sum(1 for _ in ds)
    except Exception as e:  # tfds raises many types (AssertionError, DatasetNotFoundError, ...)
        raise _tfds_error(e, where, split) from None
    keep = subset_indices(n, limit, seed)
    labels: list[int] = []

    def images() -> Iterator[Image.Image]:
        for image, label in _progress(_pick(tfds.as_numpy(ds), keep), len(keep), f"{TFDS_NAME} {split}", progress):
            labels.append(int(label))
            yield _decode(image)

    try:
        crops = _fill(images(), len(keep), resolutions)
    except RuntimeError:
        raise RuntimeError(f"{TFDS_NAME} ({split}) in {where} yielded {len(labels)} of its {n} recorded "
                           f"examples") from None
    return crops, np.asarray(labels, np.int32), list(info.features["label"].names)


# ---------------------------------------------------------------------------------------------- specs


def _looks_like_tfds_dir(path: Path) -> bool:
    """Whether ``path`` is a tfds data dir holding ``imagenet2012/``."""
    return (path / TFDS_NAME).is_dir()


def _looks_like_imagefolder(path: Path) -> bool:
    """Whether some (non-hidden) subdirectory of ``path`` directly holds an image file."""
    try:
        return any(_has_direct_images(path / c) for c in find_classes(path))
    except OSError:
        return False


def parse_data_spec(text: str) -> ImageNetSource:
    """A CLI data spec -> :class:`ImageNetSource`: ``imagefolder:PATH``, ``tfds:PATH``, or ``imagenet:PATH``
    (a tfds data dir when PATH holds ``imagenet2012/``, an ImageFolder tree when its subdirectories hold images)."""
    if not isinstance(text, str) or ":" not in text:
        raise ValueError(f"ImageNet data spec {text!r} is not one of: {_SPEC_FORMS}")
    prefix, _, raw = text.partition(":")
    if prefix not in ("imagenet", "imagefolder", "tfds"):
        raise ValueError(f"ImageNet data spec {text!r} has the unknown prefix {prefix!r}; accepted: {_SPEC_FORMS}")
    if not raw.strip():
        raise ValueError(f"ImageNet data spec {text!r} lacks a path; accepted: {_SPEC_FORMS}")
    path = Path(raw).expanduser()
    if prefix != "imagenet":
        return ImageNetSource(prefix, path)  # type: ignore[arg-type]
    if not path.is_dir():
        raise ValueError(f"ImageNet data spec {text!r}: {path} is not a directory; accepted: {_SPEC_FORMS}")
    if _looks_like_tfds_dir(path):
        return ImageNetSource("tfds", path)
    if _looks_like_imagefolder(path):
        return ImageNetSource("imagefolder", path)
    hint = [s for s in _SPLIT_DIRS if _looks_like_imagefolder(path / s)]
    more = f" (did you mean imagenet:{path / hint[-1]}?)" if hint else ""
    raise ValueError(f"ImageNet data spec {text!r}: {path} holds neither {TFDS_NAME}/ (a tfds data dir) nor class "
                     f"subdirectories with images (an ImageFolder tree){more}")


def split_sources(text: str) -> tuple[ImageNetSource, ImageNetSource]:
    """``(train, validation)`` sources of a spec naming a whole dataset: ``imagenet:ROOT`` (or ``imagefolder:ROOT``)
    with ``ROOT/train`` and ``ROOT/val`` ImageFolder trees, or ``imagenet:DIR`` / ``tfds:DIR`` a tfds data dir
    (its ``train`` and ``validation`` splits)."""
    if not isinstance(text, str) or ":" not in text:
        raise ValueError(f"ImageNet data spec {text!r} is not imagenet:ROOT (ROOT/train and ROOT/val class-folder "
                         f"trees, or a tfds data dir holding {TFDS_NAME}/)")
    prefix, _, raw = text.partition(":")
    root = Path(raw).expanduser()
    if prefix in ("imagenet", "imagefolder") and (root / "train").is_dir() and (root / "val").is_dir():
        return ImageNetSource("imagefolder", root / "train"), ImageNetSource("imagefolder", root / "val")
    source = parse_data_spec(text)
    if source.kind == "tfds":
        return source, source
    raise ValueError(f"ImageNet data spec {text!r}: searching needs the training AND validation images: "
                     f"imagenet:ROOT with ROOT/train and ROOT/val class-folder trees, or a tfds data dir holding "
                     f"{TFDS_NAME}/ (got one class-folder tree, {source.path})")


def load_imagenet(
    source: ImageNetSource | str,
    resolution: int,
    *,
    limit: int | None = None,
    seed: int = 0,
    progress: bool = True,
    split: str = "validation",
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read ``source`` (an :class:`ImageNetSource` or a spec string) with the matching reader; ``split``
    names the tfds split (an ImageFolder ``source`` is already one split's directory)."""
    resolution = check_resolution(resolution)
    crops, labels, names = load_imagenet_crops(source, (resolution,), limit=limit, seed=seed, progress=progress,
                                               split=split)
    return normalize(crops[resolution]), labels, names


def load_imagenet_crops(
    source: ImageNetSource | str,
    resolutions: Iterable[int],
    *,
    limit: int | None = None,
    seed: int = 0,
    progress: bool = True,
    split: str = "validation",
) -> tuple[dict[int, np.ndarray], np.ndarray, list[str]]:
    """:func:`load_imagenet` as uint8 crops at several resolutions (``{res: [N, res, res, 3]}``), each image
    decoded once; normalise with :func:`normalize`."""
    if isinstance(source, str):
        source = parse_data_spec(source)
    if source.kind == "imagefolder":
        return read_imagefolder_crops(source.path, resolutions, limit=limit, seed=seed, progress=progress)
    if source.kind == "tfds":
        return read_tfds_crops(source.path, resolutions, split=split, limit=limit, seed=seed, progress=progress)
    raise ValueError(f"unknown ImageNet source kind {source.kind!r}; accepted: imagefolder, tfds")
