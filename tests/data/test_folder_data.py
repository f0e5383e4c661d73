"""The folder loader: class sub-folders of mixed images, conversion, sorting, every error."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mlvgm.data import DataConfig, load_splits
from mlvgm.errors import DataError

# (size, mode) of the images written into each class folder; sizes and modes mix.
_MIXED = [((32, 32), "L"), ((20, 28), "RGB"), ((40, 40), "RGBA"), ((32, 32), "P")]


def _write(path: Path, size: tuple[int, int], mode: str, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color=value if mode in ("L", "P") else (value,) * len(mode)).save(path)


def _mixed_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog", "emu")) -> Path:
    # Per class: 2 of the 6 images are already 32x32 "L", 4 need converting.
    for k, name in enumerate(classes):
        for i in range(6):
            size, mode = _MIXED[i % len(_MIXED)]
            _write(root / name / f"{i:03d}.png", size, mode, value=40 * k + i)
    return root


def _cfg(root: Path, **options: object) -> DataConfig:
    return DataConfig(source="folder", path=str(root), **options)  # type: ignore[arg-type]


def test_mixed_images_are_converted_with_one_warning(tmp_path: Path) -> None:
    root = _mixed_folder(tmp_path / "animals")
    with pytest.warns(UserWarning) as record:
        s = load_splits(_cfg(root, split=[12, 3, 3]))
    ours = [w for w in record if "converted" in str(w.message)]
    assert len(ours) == 1
    assert "converted 12 of 18 images to 32x32 L" in str(ours[0].message)

    assert (s.name, s.n_classes, s.class_names) == ("animals", 3, ["cat", "dog", "emu"])
    assert (len(s.train), len(s.val), len(s.test)) == (12, 3, 3)
    assert s.image_shape == (1, 32, 32)
    assert s.train.images.dtype == torch.float32
    for part in (s.train, s.val, s.test):
        assert torch.bincount(part.labels, minlength=3).min() >= 1


def test_rgb_output_and_other_sizes(tmp_path: Path) -> None:
    root = _mixed_folder(tmp_path / "animals")
    with pytest.warns(UserWarning, match="to 16x16 RGB"):
        s = load_splits(_cfg(root, channels=3, image_size=16, split=[0.5, 0.25, 0.25]))
    assert s.image_shape == (3, 16, 16)
    assert (len(s.train), len(s.val), len(s.test)) == (9, 4, 4)


def test_pixel_values_survive_unconverted(tmp_path: Path) -> None:
    root = tmp_path / "grey"
    for k in range(2):
        for i in range(3):
            _write(root / f"c{k}" / f"{i}.png", (32, 32), "L", value=100 + 50 * k)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to convert, so nothing to warn about
        s = load_splits(_cfg(root, split=[6, 0, 0]))
    for image, label in zip(s.train.images, s.train.labels, strict=True):
        assert torch.allclose(image, torch.full_like(image, (100 + 50 * int(label)) / 255))


def test_split_ignores_creation_order_and_hidden_files(tmp_path: Path) -> None:
    names = [f"{i:02d}.png" for i in range(8)]
    for root, order in ((tmp_path / "a", names), (tmp_path / "b", names[::-1])):
        for k in range(2):
            for name in order:
                _write(root / f"c{k}" / name, (32, 32), "L", value=int(name[:2]) * 10 + k)
    (tmp_path / "b" / "c0" / ".DS_Store").write_bytes(b"\x00\x01junk")
    (tmp_path / "b" / ".hidden_class").mkdir()
    (tmp_path / "b" / "README.txt").write_text("files at the top level are ignored")

    a = load_splits(_cfg(tmp_path / "a", split=[10, 3, 3], seed=2))
    b = load_splits(_cfg(tmp_path / "b", split=[10, 3, 3], seed=2))
    assert b.class_names == ["c0", "c1"]
    for pa, pb in ((a.train, b.train), (a.val, b.val), (a.test, b.test)):
        assert torch.equal(pa.images, pb.images)
        assert torch.equal(pa.labels, pb.labels)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data folder not found: .*nowhere"):
        load_splits(_cfg(tmp_path / "nowhere"))


def test_path_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "images.zip"
    path.write_bytes(b"PK")
    with pytest.raises(DataError, match=r"must be a folder.*images.zip"):
        load_splits(_cfg(path))


def test_no_class_sub_folders(tmp_path: Path) -> None:
    _write(tmp_path / "flat" / "0.png", (8, 8), "L", 0)
    with pytest.raises(DataError, match="no class sub-folders"):
        load_splits(_cfg(tmp_path / "flat"))


@pytest.mark.parametrize("hidden_only", [False, True])
def test_empty_class_folder(tmp_path: Path, hidden_only: bool) -> None:
    root = _mixed_folder(tmp_path / "animals", classes=("cat", "dog"))
    (root / "yak").mkdir()
    if hidden_only:
        (root / "yak" / ".DS_Store").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"class folder .*yak holds no images"):
        load_splits(_cfg(root, split=[4, 1, 1]))


@pytest.mark.parametrize(
    "content", [b"this is not an image", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00"]
)
def test_undecodable_file_is_named(tmp_path: Path, content: bytes) -> None:
    root = _mixed_folder(tmp_path / "animals")
    (root / "dog" / "broken.png").write_bytes(content)
    with pytest.raises(DataError, match=r"cannot read image .*dog.broken\.png") as info:
        load_splits(_cfg(root, split=[4, 1, 1]))
    assert "\n" not in str(info.value)


def test_truncated_image_is_named(tmp_path: Path) -> None:
    root = _mixed_folder(tmp_path / "animals")
    good = root / "emu" / "000.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(good)
    data = good.read_bytes()
    (root / "emu" / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cannot read image .*emu.cut\.png"):
        load_splits(_cfg(root, split=[4, 1, 1]))


def test_fewer_images_than_the_split_needs(tmp_path: Path) -> None:
    root = _mixed_folder(tmp_path / "animals")
    with pytest.raises(DataError, match=r"animals.*needs 5000 images but the dataset holds 18"):
        load_splits(_cfg(root))
