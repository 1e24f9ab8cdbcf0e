"""The supernet input pipeline: device prefetching, NB201's ImageNet16-120 files, tfds' real loading code
(on mock data), and known-image checks of normalisation and augmentation.

The prefetch checks run here on 1 and 2 devices (tests/conftest.py starts JAX with two CPU devices)
and, in a subprocess that starts JAX with four, on 4. ImageNet16 batch files are written by the tests
in the official format (small). The tfds test needs tensorflow-datasets and TensorFlow and is skipped
without them.
"""

from __future__ import annotations

import itertools
import os
import pickle
import subprocess
import sys
import threading
import types
from pathlib import Path

import jax
import numpy as np
import pytest

from l2nas_jax.supernet import data, imagenet16, prefetch, sharding

ROOT = Path(__file__).resolve().parents[2]
THREAD = "l2nas-host-batches"


# ------------------------------------------------------------------------------------------ prefetch


def _host_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD]


def check_prefetch_matches_plain(n_devices: int, host_thread: bool, size: int = 2) -> None:
    """Prefetched pairs == the plain iterator's (steps, values, order), as global arrays on the data sharding."""
    ds = data.synthetic_dataset(seed=1, n=80, image_size=4, num_classes=3, heldout=16)  # 64 train: 8 batches of 8
    mesh = sharding.make_mesh(jax.devices()[:n_devices])
    want = list(itertools.islice(data.batch_iterator(ds, 8, seed=2, start_step=5), 10))  # crosses an epoch
    it = prefetch.prefetch_to_device(data.batch_iterator(ds, 8, seed=2, start_step=5), mesh, size,
                                     host_thread=host_thread)
    got = list(itertools.islice(it, 10))
    it.close()
    assert [s for s, _ in got] == [s for s, _ in want] == list(range(5, 15))
    for (_, g), (_, w) in zip(got, want):
        assert g.keys() == w.keys()
        for k in w:
            x = g[k]
            assert isinstance(x, jax.Array) and x.sharding == sharding.data_sharded(mesh), (k, x.sharding)
            assert x.dtype == w[k].dtype and np.array_equal(np.asarray(x), w[k]), k
            shards = sorted(x.addressable_shards, key=lambda s: s.index[0].start or 0)
            assert len({s.device for s in shards}) == n_devices
            for i, s in enumerate(shards):  # device i holds rows [i*b/n, (i+1)*b/n)
                rows = 8 // n_devices
                assert np.array_equal(np.asarray(s.data), w[k][i * rows:(i + 1) * rows])
    assert not _host_threads()


@pytest.mark.parametrize("n_devices,host_thread,size", [(1, False, 2), (1, True, 2), (2, False, 2), (2, True, 3),
                                                         (2, False, 1)])
def test_prefetch_yields_the_plain_batches_in_order_on_the_data_sharding(n_devices, host_thread, size):
    check_prefetch_matches_plain(n_devices, host_thread, size)


def test_prefetch_on_4_devices_in_a_subprocess():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    code = ("import sys, jax; sys.path.insert(0, sys.argv[1]); import test_data_pipeline as t; "
            "assert jax.device_count() == 4, jax.devices(); "
            "[t.check_prefetch_matches_plain(4, h) for h in (False, True)]; print('prefetch ok on', jax.device_count())")
    proc = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "prefetch ok on 4" in proc.stdout


def test_prefetch_keeps_size_batches_placed_ahead():
    pulled = []

    def source():
        for step in itertools.count():
            pulled.append(step)
            yield step, {"x": np.full((2, 1), step, np.float32)}

    mesh = sharding.make_mesh()
    for size in (1, 2, 3):
        pulled.clear()
        it = prefetch.prefetch_to_device(source(), mesh, size)
        assert not pulled  # nothing happens before the first next()
        step, batch = next(it)
        assert step == 0 and float(batch["x"][0, 0]) == 0
        assert pulled == list(range(size))  # the consumer's batch + size-1 ahead
        assert next(it)[0] == 1 and pulled == list(range(size + 1))
        it.close()


def test_prefetch_drains_a_finite_source_and_refuses_bad_sizes():
    mesh = sharding.make_mesh()
    batches = [(s, {"x": np.full((2,), s)}) for s in range(3)]
    for host_thread in (False, True):
        got = list(prefetch.prefetch_to_device(iter(batches), mesh, 5, host_thread=host_thread))
        assert [s for s, _ in got] == [0, 1, 2] and [int(b["x"][0]) for _, b in got] == [0, 1, 2]
    for bad in (0, -1):
        with pytest.raises(ValueError, match=f"prefetch size must be >= 1, got {bad}"):
            prefetch.prefetch_to_device(iter(batches), mesh, bad)  # refused at the call, not at the first next()
        with pytest.raises(ValueError, match="prefetch size"):
            prefetch.background_iterator(iter(batches), bad)
    with pytest.raises(ValueError, match="not divisible by the 2 devices"):  # shard_batch's check still applies
        next(prefetch.prefetch_to_device(iter([(0, {"x": np.zeros(3)})]), mesh))
    assert not _host_threads()


def test_background_iterator_raises_the_producers_error_after_its_items():
    def source():
        yield 1
        yield 2
        raise KeyError("bad batch 3")

    it = prefetch.background_iterator(source(), 2)
    assert next(it) == 1 and next(it) == 2
    with pytest.raises(KeyError, match="bad batch 3"):
        next(it)
    assert not _host_threads()
    # the same through the device pipeline
    mesh = sharding.make_mesh()

    def batches():
        yield 0, {"x": np.zeros(2)}
        raise RuntimeError("disk gone")

    pipe = prefetch.prefetch_to_device(batches(), mesh, 2, host_thread=True)
    with pytest.raises(RuntimeError, match="disk gone"):
        list(pipe)
    assert not _host_threads()


def test_closing_the_pipeline_stops_the_thread_and_closes_the_source():
    closed = threading.Event()

    def endless():
        try:
            for step in itertools.count():
                yield step, {"x": np.full((2,), step, np.float32)}
        finally:
            closed.set()

    pipe = prefetch.prefetch_to_device(endless(), sharding.make_mesh(), 2, host_thread=True)
    assert [s for s, _ in itertools.islice(pipe, 5)] == [0, 1, 2, 3, 4]
    assert len(_host_threads()) == 1  # blocked on its full queue, waiting for the consumer
    pipe.close()
    assert not _host_threads() and closed.is_set()
    # a pipeline dropped without close() is closed by garbage collection, which ends its thread too
    pipe = prefetch.prefetch_to_device(endless(), sharding.make_mesh(), 2, host_thread=True)
    next(pipe)
    del pipe
    assert not _host_threads()
    # never started: no thread at all
    prefetch.prefetch_to_device(endless(), sharding.make_mesh(), 2, host_thread=True).close()
    assert not _host_threads()


# ------------------------------------------------------------------------------------------ ImageNet16-120


def _batch(rng: np.random.Generator, labels: list[int]) -> dict:
    return {"data": rng.integers(0, 256, (len(labels), 768), dtype=np.uint8), "labels": labels}  # 3 x 16 x 16


def _dump(path: Path, obj: object, protocol: int = pickle.DEFAULT_PROTOCOL) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def _known_row() -> np.ndarray:
    """One image in the files' planar layout: red = 0..255 in row-major order, green = 255 - red, blue = 7."""
    red = np.arange(256, dtype=np.uint8)
    return np.concatenate([red, 255 - red, np.full(256, 7, np.uint8)])


@pytest.fixture(scope="module")
def imagenet16_dir(tmp_path_factory):
    """Eleven small batch files in the official format: 30 rows each, labels 1..200 (some dropped), val row 0 known."""
    root = tmp_path_factory.mktemp("imagenet16")
    rng = np.random.default_rng(0)
    for i, name in enumerate(imagenet16.TRAIN_FILES):
        labels = [int(v) for v in rng.integers(1, 201, 30)]
        labels[:3] = [1, 120, 121 + i]  # both ends of the kept range, one dropped
        batch = {**_batch(rng, labels), "mean": rng.random(768)}  # train batches also carry a mean image
        _dump(root / name, batch, protocol=2 if i % 2 else pickle.DEFAULT_PROTOCOL)  # py2-style and current pickles
    val = _batch(rng, [8, 121, 1000, 120] + [int(v) for v in rng.integers(1, 201, 26)])
    val["data"][0] = _known_row()
    _dump(root / imagenet16.VAL_FILE, val)
    return root


def _all_labels(root: Path, names: tuple[str, ...]) -> np.ndarray:
    return np.concatenate([pickle.loads((root / n).read_bytes())["labels"] for n in names])


def test_imagenet16_120_loads_the_official_format(imagenet16_dir):
    ds = data.load_dataset("imagenet16-120", data_dir=str(imagenet16_dir), heldout=20, seed=3)
    train_labels = _all_labels(imagenet16_dir, imagenet16.TRAIN_FILES)
    val_labels = _all_labels(imagenet16_dir, (imagenet16.VAL_FILE,))
    kept = int((train_labels <= 120).sum())
    assert ds.summary() == {"name": "imagenet16-120", "num_classes": 120, "image_size": 16, "train": kept - 20,
                            "heldout": 20, "test": int((val_labels <= 120).sum())}
    for x, y in ((ds.train_images, ds.train_labels), (ds.heldout_images, ds.heldout_labels),
                 (ds.test_images, ds.test_labels)):
        assert x.dtype == np.uint8 and x.shape[1:] == (16, 16, 3) and y.dtype == np.int32 and len(x) == len(y)
        assert y.min() >= 0 and y.max() <= 119
    all_y = np.concatenate([ds.train_labels, ds.heldout_labels])
    assert sorted(all_y.tolist()) == sorted((train_labels[train_labels <= 120] - 1).tolist())
    assert {0, 119} <= set(all_y.tolist())  # labels 1 and 120 kept, as 0 and 119
    np.testing.assert_array_equal(ds.test_labels[:2], [7, 119])  # val labels 8, 121 (dropped), 1000 (dropped), 120
    # the known image: channel-planar rows become NHWC, pixel (y, x) of red is y * 16 + x
    img = ds.test_images[0]
    assert img[0, 0].tolist() == [0, 255, 7] and img[2, 3].tolist() == [35, 220, 7] and img[15, 15].tolist() == [255, 0, 7]
    # NB201's ImageNet16 statistics: (v - mean*255) / (std*255) per channel
    x = ds.normalize(ds.test_images[:1])[0]
    assert x.dtype == np.float32
    np.testing.assert_allclose(x[15, 15], [(255 - 122.68) / 63.22, (0 - 116.66) / 61.26, (7 - 104.01) / 65.09],
                               rtol=1e-5)
    np.testing.assert_allclose(x[0, 0, 0], -122.68 / 63.22, rtol=1e-5)
    # same seed, same split; the held-out part is disjoint from the weight-training part
    again = data.load_imagenet16(imagenet16_dir, heldout=20, seed=3)
    assert np.array_equal(again.heldout_images, ds.heldout_images)
    rows = lambda a: {r.tobytes() for r in a}  # noqa: E731
    assert not rows(ds.train_images) & rows(ds.heldout_images)
    assert "imagenet16-120" in data.DATASETS and data.IMAGE_SIZES["imagenet16-120"] == 16


def test_imagenet16_reads_numpy1_pickles(tmp_path):
    """Files pickled under NumPy 1 name ``numpy.core.multiarray`` (NumPy 2: ``numpy._core``)."""
    row = _known_row()
    blob = pickle.dumps({"data": row[None], "labels": [5]}, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray" in blob
    (tmp_path / "b").write_bytes(blob)
    images, labels = imagenet16.read_batch_file(tmp_path / "b")
    assert images.shape == (1, 16, 16, 3) and labels.tolist() == [5] and images[0, 0, 1].tolist() == [1, 254, 7]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("content,match", [
    (b"not a pickle at all", r"is not a pickled ImageNet16 batch \(UnpicklingError"),
    (pickle.dumps(_Evil()), r"refusing to load global (posix|nt|os)\.system"),
    (pickle.dumps([1, 2, 3]), r"expected a dict with 'data' and 'labels', got list"),
    (pickle.dumps({"data": np.zeros((2, 768), np.uint8)}), r"expected a dict with 'data' and 'labels', got \['data'\]"),
    # a 32 px file (Imagenet32 / CIFAR rows of 3 x 32 x 32) is not ImageNet16
    (pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [1, 2]}), r"'data' has shape \[2, 3072\], expected \[N, 768\]"),
    (pickle.dumps({"data": np.zeros((2, 768)), "labels": [1, 2]}), r"'data' has dtype float64, expected uint8"),
    (pickle.dumps({"data": np.zeros((2, 768), np.uint8), "labels": [1]}), r"'labels' has shape \[1\].*expected 2 integer"),
    (pickle.dumps({"data": np.zeros((2, 768), np.uint8), "labels": [0, 1]}), r"labels range over 0\.\.1, expected 1-based"),
    (pickle.dumps({"data": np.zeros((1, 768), np.uint8), "labels": [1001]}), r"expected 1-based classes 1\.\.1000"),
])
def test_imagenet16_refuses_a_bad_file_in_one_line(tmp_path, content, match):
    path = tmp_path / "val_data"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as e:
        imagenet16.read_batch_file(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_imagenet16_directory_errors_name_what_is_missing(tmp_path, imagenet16_dir):
    with pytest.raises(ValueError, match=r"^imagenet16-120 is read from local files: pass --data-dir DIR"):
        data.load_dataset("imagenet16-120")
    with pytest.raises(RuntimeError, match=r"data directory .*nowhere does not exist"):
        data.load_imagenet16(tmp_path / "nowhere")
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in imagenet16.TRAIN_FILES:
        if name != "train_data_batch_3":
            (partial / name).write_bytes((imagenet16_dir / name).read_bytes())
    with pytest.raises(RuntimeError, match=r"lacks 2 of the ImageNet16 batch files: train_data_batch_3, val_data$"):
        data.load_imagenet16(partial)
    # a file of the right format holding no image of the kept classes
    (partial / "train_data_batch_3").write_bytes((imagenet16_dir / "train_data_batch_3").read_bytes())
    _dump(partial / "val_data", _batch(np.random.default_rng(0), [121, 500]))
    with pytest.raises(ValueError, match=r"val_data in .* hold no image of classes 1\.\.120"):
        data.load_imagenet16(partial)
    # a damaged file is named in the error of the whole loader
    (partial / "train_data_batch_7").write_bytes(b"\x80\x04truncated")
    with pytest.raises(ValueError, match=r"train_data_batch_7 is not a pickled ImageNet16 batch"):
        data.load_imagenet16(partial)


# ------------------------------------------------------------------------------------------ tfds (mock data)


def _tfds_with_tensorflow():
    tfds = pytest.importorskip("tensorflow_datasets", reason="tensorflow-datasets is not installed (extra: tfds)")
    pytest.importorskip("tensorflow", reason="tfds' as_dataset reads through tf.data: TensorFlow is not installed")
    return tfds


def _write_metadata(tfds, name: str, data_dir: Path, sizes: dict[str, int]) -> None:
    """The dataset_info.json + features.json that `tfds build` writes (split sizes included), without the records.

    With them ``tfds.testing.mock_data(policy=USE_FILES)`` runs the real builder: ``is_prepared()`` is
    true and ``as_dataset(batch_size=-1)`` batches by the recorded split sizes (without them tfds
    batches by sys.maxsize and aborts the process).
    """
    builder = tfds.builder(name, data_dir=str(data_dir))
    builder.info.set_splits(tfds.core.SplitDict(
        [tfds.core.SplitInfo(name=s, shard_lengths=[n], num_bytes=0) for s, n in sizes.items()]))
    builder.data_path.mkdir(parents=True)
    builder.info.write_to_directory(builder.data_path)


@pytest.mark.slow  # importing TensorFlow takes most of its ~10 s
@pytest.mark.parametrize("name,classes", [("cifar10", 10), ("cifar100", 100)])
def test_load_tfds_on_mock_data_runs_the_real_tfds_path(tmp_path, name, classes):
    tfds = _tfds_with_tensorflow()
    _write_metadata(tfds, name, tmp_path, {"train": 50000, "test": 10000})
    with tfds.testing.mock_data(num_examples=40, policy=tfds.testing.MockPolicy.USE_FILES, data_dir=str(tmp_path)):
        ds = data.load_tfds(name, str(tmp_path), heldout=12, seed=1)
        again = data.load_tfds(name, str(tmp_path), heldout=12, seed=1)
    assert ds.summary() == {"name": name, "num_classes": classes, "image_size": 32, "train": 28, "heldout": 12,
                            "test": 40}
    for x, y in ((ds.train_images, ds.train_labels), (ds.heldout_images, ds.heldout_labels),
                 (ds.test_images, ds.test_labels)):
        assert x.dtype == np.uint8 and x.shape[1:] == (32, 32, 3) and y.dtype == np.int32
        assert 0 <= y.min() and y.max() < classes
    assert np.array_equal(again.heldout_images, ds.heldout_images)  # the mock data and the split are deterministic
    assert ds.train_images.std() > 10  # generated pixels, not a constant
    mean, std = data.CIFAR_STATS[name]
    assert (ds.mean, ds.std) == (mean, std)
    x = ds.normalize(ds.train_images[:2])
    want = (ds.train_images[:2].astype(np.float64) / 255 - np.asarray(mean)) / np.asarray(std)
    np.testing.assert_allclose(x, want, rtol=1e-5, atol=1e-5)


def test_load_tfds_without_metadata_is_not_prepared(tmp_path):
    """Under plain mock_data (no dataset_info.json) the builder is not prepared: the offline error, not a crash."""
    tfds = _tfds_with_tensorflow()
    with tfds.testing.mock_data(num_examples=4):
        with pytest.raises(RuntimeError, match=r"cifar10 is not available offline in .*tfds build cifar10"):
            data.load_tfds("cifar10", str(tmp_path))


@pytest.mark.parametrize("error", [
    ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow"),
    # what tfds raises from tfds.builder: the import error reworded, without its name
    ModuleNotFoundError("Failed to construct dataset \"cifar10\", builder_kwargs \"{}\": No module named 'tensorflow'"),
])
def test_load_tfds_without_tensorflow_says_so(monkeypatch, error):
    """tensorflow-datasets alone cannot read prepared data (as_dataset is tf.data): the error says what to install."""
    def as_dataset(**_):
        raise error

    fake = types.ModuleType("tensorflow_datasets")
    fake.builder = lambda name, data_dir=None: types.SimpleNamespace(is_prepared=lambda: True, as_dataset=as_dataset)
    fake.as_numpy = lambda x: x
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    with pytest.raises(RuntimeError, match=r"^loading cifar10 from prepared tfds files needs TensorFlow .*"
                                           r"pip install tensorflow-cpu$"):
        data.load_tfds("cifar10", "/data")


# ------------------------------------------------------------------------------------------ known images


def test_normalize_a_known_image():
    image = np.array([[[[0, 255, 51], [255, 0, 102]]]], np.uint8)  # [1, 1, 2, 3]
    x = data.normalize(image, (0.5, 0.25, 0.0), (0.5, 0.25, 2.0))
    assert x.dtype == np.float32 and x.shape == (1, 1, 2, 3)
    np.testing.assert_allclose(x[0, 0], [[-1.0, 3.0, 0.1], [1.0, -1.0, 0.2]], rtol=1e-6)
    c10 = data.Dataset("c", 10, image, np.zeros(1, np.int32), image[:0], np.zeros(0, np.int32), *data.CIFAR_STATS["cifar10"])
    np.testing.assert_allclose(c10.normalize(image)[0, 0, 0], [(0 - 0.4914) / 0.2470, (1 - 0.4822) / 0.2435,
                                                               (0.2 - 0.4465) / 0.2616], rtol=1e-5)


def test_random_crop_flip_outputs_a_shifted_or_flipped_window_of_the_padded_image():
    b, h, w, p = 16, 6, 5, 2
    x = np.arange(b * h * w * 3, dtype=np.float32).reshape(b, h, w, 3) + 1  # distinct, non-zero values
    out = np.asarray(jax.jit(lambda k: data.random_crop_flip(k, x, padding=p))(jax.random.key(4)))
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    seen = set()
    for i in range(b):
        matches = [(dy, dx, flip) for dy in range(2 * p + 1) for dx in range(2 * p + 1) for flip in (False, True)
                   if np.array_equal(out[i], (lambda win: win[:, ::-1] if flip else win)(padded[i, dy:dy + h, dx:dx + w]))]
        assert len(matches) == 1, (i, matches)  # exactly one window: the values are distinct
        seen.add(matches[0])
    assert len({m[:2] for m in seen}) > 3 and {m[2] for m in seen} == {False, True}  # offsets and flips vary


@pytest.mark.parametrize("size", [3, 4])
def test_cutout_zeroes_exactly_one_clipped_square(size):
    b, h, w = 64, 7, 6
    x = np.arange(b * h * w * 3, dtype=np.float32).reshape(b, h, w, 3) + 1
    out = np.asarray(jax.jit(lambda k: data.cutout(k, x, size))(jax.random.key(1)))
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    squares = {(cy, cx): ((rows >= cy - size // 2) & (rows < cy - size // 2 + size)
                          & (cols >= cx - size // 2) & (cols < cx - size // 2 + size))
               for cy in range(h) for cx in range(w)}  # the centre is uniform over the image
    clipped = 0
    for i in range(b):
        zero = out[i] == 0
        assert (zero == zero[..., :1]).all()  # all channels of a pixel together
        mask = zero[..., 0]
        assert any(np.array_equal(mask, sq) for sq in squares.values()), mask.astype(int)
        assert np.array_equal(out[i][~mask], x[i][~mask])  # nothing else changed
        clipped += int(mask.sum() < size * size)
    assert 0 < clipped < b  # some squares cut by the border, some whole
