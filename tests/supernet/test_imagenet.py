"""ImageNet for OFA evaluation (l2nas_jax.supernet.imagenet): the torchvision resize / centre-crop rules on
images whose result is worked out by hand, ImageFolder trees written here with Pillow, tfds' ``imagenet2012``
through ``tensorflow_datasets.testing.mock_data``, the CLI spec parser, and every error message.

Expectations are computed in the tests from the rules (OFA's ``build_valid_transform``: shorter side to
``ceil(res / 0.875)``, long side ``int(size * long / short)``, crop offsets ``int(round((side - crop) / 2))``
with Python's half-to-even round, ``(x / 255 - mean) / std``), never read back from the implementation.
"""

from __future__ import annotations

import dataclasses
import io
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from l2nas_jax.supernet import imagenet
from l2nas_jax.supernet.imagenet import ImageNetSource

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def normalised(rgb) -> np.ndarray:
    """The normalised value of a uint8 RGB colour, in float64 (the reference)."""
    return (np.asarray(rgb, np.float64) / 255 - MEAN) / STD


# ------------------------------------------------------------------------------------------ preprocessing


def test_constants_are_ofas():
    assert imagenet.IMAGENET_MEAN == (0.485, 0.456, 0.406)
    assert imagenet.IMAGENET_STD == (0.229, 0.224, 0.225)
    assert imagenet.CROP_RATIO == 0.875


@pytest.mark.parametrize("res,size", [(224, 256), (192, 220), (160, 183), (128, 147), (8, 10), (7, 8)])
def test_resize_size_is_ceil_of_res_over_0875(res, size):
    # 224 / 0.875 = 256 exactly; 192 / 0.875 = 219.43; 160 / 0.875 = 182.86; 128 / 0.875 = 146.29; 8 / 0.875 = 9.14
    assert imagenet.resize_size(res) == size


@pytest.mark.parametrize("w,h,size,want", [
    (300, 200, 10, (15, 10)),  # landscape: 10 * 300 / 200 = 15
    (333, 200, 10, (16, 10)),  # 16.65 truncated, not rounded
    (200, 301, 10, (10, 15)),  # portrait: 15.05 -> 15
    (200, 399, 10, (10, 19)),  # 19.95 -> 19
    (200, 200, 10, (10, 10)),  # square
    (5, 7, 10, (10, 14)),  # upscaling follows the same rule
])
def test_resized_shape_keeps_aspect_and_truncates_the_long_side(w, h, size, want):
    assert imagenet.resized_shape(w, h, size) == want


def test_resize_shorter_resizes_a_pil_image_and_leaves_one_of_the_right_size_alone():
    img = Image.new("RGB", (300, 200), (1, 2, 3))
    assert imagenet.resize_shorter(img, 10).size == (15, 10)
    assert imagenet.resize_shorter(Image.new("RGB", (200, 399)), 10).size == (10, 19)
    same = Image.new("RGB", (17, 10))
    assert imagenet.resize_shorter(same, 10) is same  # torchvision: shorter side already `size` -> unchanged


def coordinate_image(w: int, h: int) -> Image.Image:
    """Pixel (x, y) = (10 x, 10 y, 77): every pixel says where it came from."""
    y, x = np.mgrid[0:h, 0:w]
    return Image.fromarray(np.stack([10 * x, 10 * y, np.full_like(x, 77)], -1).astype(np.uint8))


@pytest.mark.parametrize("w,h,left,top", [
    (13, 10, 2, 1),  # (13 - 8) / 2 = 2.5 -> 2 (half to even), (10 - 8) / 2 = 1
    (15, 11, 4, 2),  # 3.5 -> 4, 1.5 -> 2
    (12, 8, 2, 0),
    (8, 17, 0, 4),  # 4.5 -> 4
])
def test_center_crop_offsets_round_half_to_even(w, h, left, top):
    out = np.asarray(imagenet.center_crop(coordinate_image(w, h), 8))
    assert out.shape == (8, 8, 3)
    assert imagenet.crop_offsets(w, h, 8) == (left, top)
    assert out[0, 0].tolist() == [10 * left, 10 * top, 77]  # the marker pixel (left, top) lands at the origin
    np.testing.assert_array_equal(out, np.asarray(coordinate_image(w, h))[top:top + 8, left:left + 8])


def test_center_crop_refuses_a_crop_larger_than_the_image():
    with pytest.raises(ValueError, match=r"crop size 9 exceeds the 13x8 image"):
        imagenet.center_crop(coordinate_image(13, 8), 9)


def test_preprocess_of_a_constant_image_is_the_normalised_constant():
    colour = (124, 116, 104)
    for size in ((37, 23), (23, 37), (8, 8), (300, 200)):
        x = imagenet.preprocess(Image.new("RGB", size, colour), 8)
        assert x.shape == (8, 8, 3) and x.dtype == np.float32
        np.testing.assert_allclose(x, np.broadcast_to(normalised(colour), (8, 8, 3)), rtol=0, atol=1e-6)


def test_preprocess_of_a_300x200_two_colour_image_puts_the_edges_where_computed_by_hand():
    """300x200 at resolution 8: resized to 15x10 (scale 1/20), cropped at left=round(3.5)=4, top=round(1)=1.

    Red for x < 150, blue for x >= 150: the edge is at resized column 7.5, so resized columns <= 6 are pure
    red, 7 mixed, >= 8 pure blue (PIL's bilinear reaches 20 source px either side of a column centre);
    crop columns 0..2 red, 3 mixed, 4..7 blue. Green 255 for y >= 90: resized row 4 (centre y = 90) mixed,
    rows <= 3 green 0, rows >= 5 green 255; crop rows 0..2 green 0, 3 mixed, 4..7 green 255.
    """
    a = np.zeros((200, 300, 3), np.uint8)
    a[:, :150, 0] = 255
    a[:, 150:, 2] = 255
    a[90:, :, 1] = 255
    x = imagenet.preprocess(Image.fromarray(a), 8)
    pixels = np.rint((x * STD + MEAN) * 255).astype(int)  # back to 0..255
    assert (pixels[:, :3, 0] == 255).all() and (pixels[:, :3, 2] == 0).all()
    assert (pixels[:, 4:, 0] == 0).all() and (pixels[:, 4:, 2] == 255).all()
    assert (pixels[:, 3, 0] > 100).all() and (pixels[:, 3, 0] < 155).all()  # the half-and-half column
    assert (pixels[:3, :, 1] == 0).all() and (pixels[4:, :, 1] == 255).all()
    assert (pixels[3, :, 1] > 100).all() and (pixels[3, :, 1] < 155).all()
    np.testing.assert_allclose(x[0, 0], normalised((255, 0, 0)), atol=1e-6)
    np.testing.assert_allclose(x[7, 7], normalised((0, 255, 255)), atol=1e-6)
    # the uint8 HWC array gives the same result as the PIL image
    np.testing.assert_array_equal(imagenet.preprocess(a, 8), x)


@pytest.mark.parametrize("mode,fill,rgb", [
    ("L", 200, (200, 200, 200)),
    ("RGBA", (0, 255, 0, 0), (0, 255, 0)),  # alpha dropped, as convert('RGB') does
    ("CMYK", (255, 0, 0, 0), (0, 255, 255)),  # full cyan
    ("P", None, None),
])
def test_preprocess_converts_any_mode_to_rgb(mode, fill, rgb):
    if mode == "P":  # palette entry 1 = (9, 99, 199)
        img = Image.new("P", (30, 20), 1)
        img.putpalette([0, 0, 0, 9, 99, 199] + [0] * (3 * 254))
        rgb = (9, 99, 199)
    else:
        img = Image.new(mode, (30, 20), fill)
    np.testing.assert_allclose(imagenet.preprocess(img, 8), np.broadcast_to(normalised(rgb), (8, 8, 3)), atol=1e-6)


def test_preprocess_accepts_uint8_arrays_of_1_3_4_channels_and_refuses_others():
    grey = np.full((20, 30), 50, np.uint8)
    want = np.broadcast_to(normalised((50, 50, 50)), (8, 8, 3))
    for a in (grey, grey[..., None], np.stack([grey] * 3, -1), np.concatenate([np.stack([grey] * 3, -1),
                                                                             np.zeros((20, 30, 1), np.uint8)], -1)):
        np.testing.assert_allclose(imagenet.preprocess(a, 8), want, atol=1e-6)
    with pytest.raises(ValueError, match="image arrays must be uint8, got dtype float32"):
        imagenet.preprocess(np.zeros((20, 30, 3), np.float32), 8)
    with pytest.raises(ValueError, match=r"must be \[H, W\] or \[H, W, 1\|3\|4\] \(HWC\), got shape \[20, 30, 2\]"):
        imagenet.preprocess(np.zeros((20, 30, 2), np.uint8), 8)
    with pytest.raises(ValueError, match=r"got shape \[3, 20, 30, 3\]"):
        imagenet.preprocess(np.zeros((3, 20, 30, 3), np.uint8), 8)


@pytest.mark.parametrize("bad", [0, -224, 224.0, True, "224", None])
def test_resolution_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match=r"resolution must be a positive int \(OFA uses 128..224 px\), got"):
        imagenet.preprocess(Image.new("RGB", (10, 10)), bad)
    with pytest.raises(ValueError, match="resolution must be a positive int"):
        imagenet.resize_size(bad)
    assert imagenet.preprocess(Image.new("RGB", (10, 10)), np.int64(4)).shape == (4, 4, 3)


# ------------------------------------------------------------------------------------------ ImageFolder


def save(path: Path, img: Image.Image, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)


#: (relative path, image, its RGB colour), in the order torchvision's ImageFolder lists them.
def _tree_images() -> list[tuple[str, Image.Image, tuple[int, int, int]]]:
    return [
        ("a_dog/img10.PNG", Image.new("L", (25, 50), 200), (200, 200, 200)),  # "img10" < "img2" as strings
        ("a_dog/img2.png", Image.new("RGB", (40, 30), (10, 20, 30)), (10, 20, 30)),
        ("b_cat/x.jpeg", Image.new("RGB", (30, 40), (250, 0, 0)), (250, 0, 0)),
        ("b_cat/y.bmp", Image.new("RGB", (64, 48), (0, 0, 255)), (0, 0, 255)),
        ("b_cat/sub/z.webp", Image.new("RGB", (20, 20), (60, 60, 60)), (60, 60, 60)),  # nested: after b_cat's own
        ("c_fish/rgba.png", Image.new("RGBA", (33, 21), (0, 255, 0, 0)), (0, 255, 0)),
    ]


@pytest.fixture
def tree(tmp_path) -> Path:
    """Three classes (written out of order), six images of five formats and four modes, and files to skip."""
    root = tmp_path / "val"
    for rel, img, _ in reversed(_tree_images()):
        save(root / rel, img, **({"quality": 100} if rel.endswith("jpeg") else
                                 {"lossless": True} if rel.endswith("webp") else {}))
    (root / "b_cat" / "notes.txt").write_text("not an image")
    save(root / ".hidden" / "h.png", Image.new("RGB", (8, 8)))  # hidden directories are not classes
    return root


def test_read_imagefolder_labels_follow_sorted_class_names(tree):
    x, y, classes = imagenet.read_imagefolder(tree, 8, progress=False)
    assert classes == ["a_dog", "b_cat", "c_fish"]
    assert y.dtype == np.int32 and y.tolist() == [0, 0, 1, 1, 1, 2]
    assert x.shape == (6, 8, 8, 3) and x.dtype == np.float32
    for row, (rel, _, rgb) in zip(x, _tree_images()):
        atol = 0.05 if rel.endswith("jpeg") else 1e-6  # JPEG may move a constant colour by a level or two
        np.testing.assert_allclose(row, np.broadcast_to(normalised(rgb), (8, 8, 3)), atol=atol, err_msg=rel)


def test_read_imagefolder_limit_is_a_fixed_seeded_subset_in_tree_order(tree):
    full_x, full_y, _ = imagenet.read_imagefolder(tree, 8, progress=False)
    for seed in (0, 1):
        want = np.sort(np.random.default_rng(seed).choice(6, size=3, replace=False))
        x, y, _ = imagenet.read_imagefolder(tree, 8, limit=3, seed=seed, progress=False)
        again = imagenet.read_imagefolder(tree, 8, limit=3, seed=seed, progress=False)
        np.testing.assert_array_equal(x, full_x[want])
        np.testing.assert_array_equal(y, full_y[want])
        np.testing.assert_array_equal(again[0], x)
    subsets = {tuple(imagenet.subset_indices(6, 3, s)) for s in (0, 1)}
    assert len(subsets) == 2  # seeds 0 and 1 pick different images ([3, 4, 5] and [1, 2, 4])
    x, y, _ = imagenet.read_imagefolder(tree, 8, limit=100, progress=False)  # a limit past the tree: all of it
    np.testing.assert_array_equal(x, full_x)


def test_subset_indices_refuses_a_bad_limit():
    assert imagenet.subset_indices(5, None, 0).tolist() == [0, 1, 2, 3, 4]
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="limit must be a positive int"):
            imagenet.subset_indices(5, bad, 0)


def test_read_imagefolder_progress_bar_goes_to_stderr_unless_disabled(tree, capsys):
    imagenet.read_imagefolder(tree, 4, progress=False)
    assert capsys.readouterr().err == ""
    imagenet.read_imagefolder(tree, 4, progress=True)
    err = capsys.readouterr().err
    assert "6/6" in err and "img" in err


def test_read_imagefolder_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match=r"ImageFolder root .*nowhere does not exist"):
        imagenet.read_imagefolder(tmp_path / "nowhere", 8)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match=r"ImageFolder root .*file.txt is not a directory"):
        imagenet.read_imagefolder(tmp_path / "file.txt", 8)
    flat = tmp_path / "flat"
    save(flat / "a.png", Image.new("RGB", (8, 8)))  # images, but no class directories
    with pytest.raises(ValueError, match=r"flat has no class subdirectories \(expected root/<class>/<image>\)"):
        imagenet.read_imagefolder(flat, 8)
    empty = tmp_path / "empty"
    (empty / "cls_a").mkdir(parents=True)
    (empty / "cls_b").mkdir()
    (empty / "cls_b" / "readme.md").write_text("x")
    with pytest.raises(ValueError, match=r"empty: its 2 class directories hold no images"):
        imagenet.read_imagefolder(empty, 8)
    broken = tmp_path / "broken"
    save(broken / "cls" / "good.png", Image.new("RGB", (8, 8)))
    (broken / "cls" / "bad.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    with pytest.raises(ValueError, match=r"cannot read image .*cls/bad\.jpg"):
        imagenet.read_imagefolder(broken, 8, progress=False)
    with pytest.raises(ValueError, match="resolution must be a positive int"):
        imagenet.read_imagefolder(broken, 0)


def test_read_imagefolder_points_from_an_imagenet_root_to_its_split(tmp_path, tree):
    # `tree` is tmp_path / "val"; beside it a train split: tmp_path is the ImageNet root, not a class folder
    save(tmp_path / "train" / "a_dog" / "t.png", Image.new("RGB", (8, 8)))
    with pytest.raises(ValueError, match=r"holds the split directories train, val, not classes: pass the split "
                                         r"itself, e.g. .*val"):
        imagenet.read_imagefolder(tmp_path, 8)


# ------------------------------------------------------------------------------------------ specs


def test_parse_data_spec_detects_imagefolder_and_tfds_dirs(tmp_path, tree):
    assert imagenet.parse_data_spec(f"imagenet:{tree}") == ImageNetSource("imagefolder", tree)
    tfds_dir = tmp_path / "tfds"
    (tfds_dir / "imagenet2012" / "5.1.0").mkdir(parents=True)
    assert imagenet.parse_data_spec(f"imagenet:{tfds_dir}") == ImageNetSource("tfds", tfds_dir)
    # the explicit forms are taken as said (the readers check the directories)
    assert imagenet.parse_data_spec("imagefolder:/data/val") == ImageNetSource("imagefolder", Path("/data/val"))
    assert imagenet.parse_data_spec("tfds:/data/tfds") == ImageNetSource("tfds", Path("/data/tfds"))
    assert imagenet.parse_data_spec("tfds:~/tensorflow_datasets").path == Path.home() / "tensorflow_datasets"
    with pytest.raises(dataclasses.FrozenInstanceError):
        imagenet.parse_data_spec("tfds:/x").kind = "imagefolder"  # type: ignore[misc]


FORMS = r"imagenet:PATH \(a class-folder tree or a tfds data dir\), imagefolder:PATH, tfds:PATH"


def test_parse_data_spec_errors_list_the_accepted_forms(tmp_path, tree):
    with pytest.raises(ValueError, match=rf"unknown prefix 'imgnet'; accepted: {FORMS}"):
        imagenet.parse_data_spec(f"imgnet:{tree}")
    with pytest.raises(ValueError, match=rf"'/data/val' is not one of: {FORMS}"):
        imagenet.parse_data_spec("/data/val")
    for spec in ("imagenet:", "tfds:", "imagefolder:  "):
        with pytest.raises(ValueError, match=rf"lacks a path; accepted: {FORMS}"):
            imagenet.parse_data_spec(spec)
    with pytest.raises(ValueError, match=rf"nowhere is not a directory; accepted: {FORMS}"):
        imagenet.parse_data_spec(f"imagenet:{tmp_path / 'nowhere'}")
    # the ImageNet root holding val/: neither kind, with a hint at the split
    with pytest.raises(ValueError, match=r"holds neither imagenet2012/ \(a tfds data dir\) nor class subdirectories "
                                         r"with images \(an ImageFolder tree\) \(did you mean imagenet:.*val\?\)"):
        imagenet.parse_data_spec(f"imagenet:{tmp_path}")


def test_load_imagenet_dispatches_to_the_imagefolder_reader(tree):
    want = imagenet.read_imagefolder(tree, 8, limit=4, seed=3, progress=False)
    for source in (f"imagenet:{tree}", ImageNetSource("imagefolder", tree)):
        got = imagenet.load_imagenet(source, 8, limit=4, seed=3, progress=False)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        assert got[2] == want[2]
    with pytest.raises(ValueError, match="unknown ImageNet source kind 'zip'"):
        imagenet.load_imagenet(ImageNetSource("zip", tree), 8)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ tfds (mock data)


def _tfds_with_tensorflow():
    tfds = pytest.importorskip("tensorflow_datasets", reason="tensorflow-datasets is not installed (extra: tfds)")
    pytest.importorskip("tensorflow", reason="tfds' as_dataset reads through tf.data: TensorFlow is not installed")
    return tfds


def _write_metadata(tfds, data_dir: Path) -> None:
    """The dataset_info.json + features.json `tfds build` writes for imagenet2012 (no records): the builder is
    then prepared, and mock_data(policy=USE_FILES) runs the real load path on generated examples."""
    builder = tfds.builder("imagenet2012", data_dir=str(data_dir))
    builder.info.set_splits(tfds.core.SplitDict(
        [tfds.core.SplitInfo(name=s, shard_lengths=[n], num_bytes=0)
         for s, n in {"train": 1281167, "validation": 50000}.items()]))
    builder.data_path.mkdir(parents=True)
    builder.info.write_to_directory(builder.data_path)


@pytest.mark.slow  # importing TensorFlow takes most of its ~6 s
def test_read_tfds_imagenet_on_mock_data(tmp_path, monkeypatch):
    tfds = _tfds_with_tensorflow()
    _write_metadata(tfds, tmp_path)
    decoded = []
    real_decode = imagenet._decode
    monkeypatch.setattr(imagenet, "_decode", lambda image: decoded.append(type(image)) or real_decode(image))
    with tfds.testing.mock_data(num_examples=7, policy=tfds.testing.MockPolicy.USE_FILES, data_dir=str(tmp_path)):
        x, y, names = imagenet.read_tfds_imagenet(tmp_path, 16, progress=False)
        again = imagenet.read_tfds_imagenet(tmp_path, 16, progress=False)
        sub_x, sub_y, _ = imagenet.read_tfds_imagenet(tmp_path, 16, limit=3, seed=4, progress=False)
        via_spec = imagenet.load_imagenet(f"imagenet:{tmp_path}", 16, limit=3, seed=4, progress=False)
        # the stored JPEG bytes of the first example, decoded here by hand
        raw = next(iter(tfds.as_numpy(tfds.load("imagenet2012", split="validation", data_dir=str(tmp_path),
                                                as_supervised=True,
                                                decoders={"image": tfds.decode.SkipDecoding()}))))
    assert x.shape == (7, 16, 16, 3) and x.dtype == np.float32
    assert y.shape == (7,) and y.dtype == np.int32 and 0 <= y.min() and y.max() < 1000
    assert len(names) == 1000 and names[:2] == ["n01440764", "n01443537"] and names == sorted(names)
    lo, hi = (0 - MEAN) / STD, (1 - MEAN) / STD  # the normalised range of each channel
    assert (x >= lo - 1e-5).all() and (x <= hi + 1e-5).all() and x.std() > 0.1  # generated noise, not a constant
    np.testing.assert_array_equal(again[0], x)  # deterministic
    np.testing.assert_array_equal(again[1], y)
    want = np.sort(np.random.default_rng(4).choice(7, size=3, replace=False))
    np.testing.assert_array_equal(sub_x, x[want])
    np.testing.assert_array_equal(sub_y, y[want])
    np.testing.assert_array_equal(via_spec[0], sub_x)
    assert set(decoded) == {bytes}  # Pillow decodes the stored JPEG bytes (TensorFlow's decoder never runs)
    assert isinstance(raw[0], bytes) and raw[1] == y[0]
    np.testing.assert_array_equal(imagenet.preprocess(Image.open(io.BytesIO(raw[0])), 16), x[0])


def test_read_tfds_imagenet_unprepared_says_imagenet_needs_a_manual_download(tmp_path):
    _tfds_with_tensorflow()
    with pytest.raises(RuntimeError, match=r"imagenet2012 \(validation\) is not prepared in .* ImageNet cannot be "
                                           r"downloaded by tfds: download ILSVRC2012_img_val.tar .*manual_dir"):
        imagenet.read_tfds_imagenet(tmp_path, 16, progress=False)


def test_read_tfds_imagenet_without_tfds_or_tensorflow_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # `import tensorflow_datasets` fails
    with pytest.raises(RuntimeError, match=r"needs tensorflow-datasets, which is not installed: "
                                           r"pip install 'l2nas-jax\[tfds\]'"):
        imagenet.read_tfds_imagenet(tmp_path, 16)

    def builder(*args, **kwargs):  # what tfds raises when TensorFlow is missing: the import error reworded
        raise ModuleNotFoundError("Failed to construct dataset \"imagenet2012\": No module named 'tensorflow'")

    monkeypatch.setitem(sys.modules, "tensorflow_datasets", types.SimpleNamespace(builder=builder))
    with pytest.raises(RuntimeError, match=r"^reading imagenet2012 from prepared tfds files needs TensorFlow .*"
                                           r"pip install 'l2nas-jax\[tfds\]' \(or tensorflow-cpu\)$"):
        imagenet.read_tfds_imagenet(tmp_path, 16)
    with pytest.raises(ValueError, match="limit must be a positive int"):  # input checked before any import
        imagenet.read_tfds_imagenet(tmp_path, 16, limit=0)
