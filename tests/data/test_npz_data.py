"""The .npz loader: accepted layouts and dtypes, and every rejected file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mlvgm.data import DataConfig, load_splits
from mlvgm.errors import DataError

_RNG = np.random.default_rng(0)
_LABELS = np.repeat(np.arange(4), 10)  # 4 classes x 10


def _save(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def _cfg(path: Path, **options: object) -> DataConfig:
    return DataConfig(source="npz", path=str(path), split=[20, 10, 10], **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("shape", "channels_in"),
    [((40, 28, 28), 1), ((40, 28, 28, 1), 1), ((40, 20, 24, 3), 3), ((40, 3, 32, 32), 3)],
)
@pytest.mark.parametrize("channels", [1, 3])
def test_layouts_become_n_c_h_w(
    tmp_path: Path, shape: tuple[int, ...], channels_in: int, channels: int
) -> None:
    x = _RNG.integers(0, 256, shape, dtype=np.uint8)
    s = load_splits(_cfg(_save(tmp_path / "d.npz", x=x, y=_LABELS), channels=channels))
    assert s.image_shape == (channels, 32, 32)
    assert (len(s.train), len(s.val), len(s.test)) == (20, 10, 10)
    assert (s.n_classes, s.class_names, s.name) == (4, ["0", "1", "2", "3"], "d")
    for part in (s.train, s.val, s.test):
        assert torch.bincount(part.labels, minlength=4).min() >= 2
        assert float(part.images.min()) >= 0.0 and float(part.images.max()) <= 1.0


def test_uint8_and_float_values_are_kept_at_the_right_scale(tmp_path: Path) -> None:
    x8 = _RNG.integers(0, 256, (40, 32, 32), dtype=np.uint8)
    a = load_splits(_cfg(_save(tmp_path / "a.npz", x=x8, y=_LABELS)))
    b = load_splits(_cfg(_save(tmp_path / "b.npz", x=x8.astype(np.float64) / 255, y=_LABELS)))
    assert a.train.indices is not None
    expected = torch.from_numpy(x8[a.train.indices.numpy()].astype(np.float32) / 255)
    assert torch.allclose(a.train.images[:, 0], expected)
    assert torch.allclose(a.train.images, b.train.images)


def test_class_names_are_read_when_present(tmp_path: Path) -> None:
    x = np.zeros((40, 8, 8), dtype=np.uint8)
    names = np.array(["ant", "bee", "cow", "doe"])
    s = load_splits(_cfg(_save(tmp_path / "d.npz", x=x, y=_LABELS, class_names=names)))
    assert s.class_names == ["ant", "bee", "cow", "doe"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"npz file not found: .*absent.npz"):
        load_splits(_cfg(tmp_path / "absent.npz"))


@pytest.mark.parametrize("content", [b"definitely not a zip archive", b"PK\x03\x04broken"])
def test_corrupt_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"cannot read npz file .*bad.npz") as info:
        load_splits(_cfg(path))
    assert "\n" not in str(info.value)


def test_single_npy_array(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((40, 8, 8), dtype=np.uint8))
    with pytest.raises(DataError, match="single array"):
        load_splits(_cfg(path))


def test_pickled_object_arrays_are_refused(tmp_path: Path) -> None:
    path = _save(tmp_path / "d.npz", x=np.array([{"a": 1}] * 40, dtype=object), y=_LABELS)
    with pytest.raises(DataError, match="cannot read npz file"):
        load_splits(_cfg(path))


_X = np.zeros((40, 8, 8), dtype=np.uint8)


@pytest.mark.parametrize(
    ("arrays", "fragment"),
    [
        ({"x": _X}, "must hold arrays 'x' .* and 'y' .*found x"),
        ({"images": _X, "y": _LABELS}, "found images, y"),
        ({"x": np.zeros((40, 64), np.uint8), "y": _LABELS}, "x must have shape"),
        ({"x": np.zeros((40, 2, 8, 8), np.uint8), "y": _LABELS}, "with C 1 or 3, got"),
        ({"x": np.zeros((0, 8, 8), np.uint8), "y": _LABELS[:0]}, "holds no images"),
        ({"x": _X.astype(np.int16), "y": _LABELS}, "uint8 .* got dtype int16"),
        ({"x": _X.astype(np.float32) + 2.0, "y": _LABELS}, r"\[0, 1\], got values in \[2, 2\]"),
        ({"x": np.full((40, 8, 8), np.nan, np.float32), "y": _LABELS}, "NaN"),
        ({"x": _X, "y": _LABELS[:-1]}, "40 images but y holds 39 labels"),
        ({"x": _X, "y": _LABELS[:, None]}, r"y must have shape \(N,\)"),
        ({"x": _X, "y": _LABELS.astype(np.float32)}, "integer labels"),
        ({"x": _X, "y": _LABELS - 1}, "0 or more, got -1"),
        ({"x": _X, "y": _LABELS, "class_names": np.array(["a", "b"])}, "2 names but"),
        ({"x": _X, "y": _LABELS, "class_names": np.arange(4)}, "array of strings"),
    ],
)
def test_malformed_arrays(tmp_path: Path, arrays: dict[str, np.ndarray], fragment: str) -> None:
    path = _save(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=fragment) as info:
        load_splits(_cfg(path))
    assert "d.npz" in str(info.value)


def test_fewer_images_than_the_split_needs(tmp_path: Path) -> None:
    path = _save(tmp_path / "d.npz", x=_X, y=_LABELS)
    with pytest.raises(DataError, match=r"d.npz.*needs 5000 images but the dataset holds 40"):
        load_splits(DataConfig(source="npz", path=str(path)))
