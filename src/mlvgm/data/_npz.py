"""Images and labels stored as arrays in a NumPy ``.npz`` archive.

The archive holds ``x``: (N, H, W), (N, H, W, C) or (N, C, H, W) images with C in
{1, 3}, either uint8 in 0-255 or float in [0, 1]; ``y``: (N,) integer labels in
0 .. K-1; and optionally ``class_names``: (K,) strings. A 4-D ``x`` whose last
axis has length 1 or 3 is read as channels-last, otherwise as channels-first.
Without ``class_names``, K is ``max(y) + 1`` and the names are the label numbers.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from mlvgm.errors import DataError


def load_npz(path: Path) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Read and check the arrays of ``path``.

    Returns:
        ``(images, labels, class_names)``: (N, C, H, W) float32 in [0, 1] with C the
        file's channel count, (N,) int64, and the K class names.

    Raises:
        DataError: if the file is missing or not a readable ``.npz`` archive, lacks
            ``x`` or ``y``, or holds arrays of the wrong shape, dtype or range.
    """
    arrays = _read(path)
    if "x" not in arrays or "y" not in arrays:
        found = ", ".join(sorted(arrays)) or "nothing"
        raise DataError(f"{path} must hold arrays 'x' (images) and 'y' (labels), found {found}")
    x, y = arrays["x"], arrays["y"]
    images = _images(x, path)
    labels = _labels(y, len(images), path)
    names = _class_names(arrays.get("class_names"), labels, path)
    return images, labels, names


def _read(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(f"npz file not found: {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{path} holds a single array; save x and y with np.savez")
        with loaded as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot read npz file {path}: {reason}") from None


def _images(x: np.ndarray, path: Path) -> torch.Tensor:
    """Check ``x`` and return (N, C, H, W) float32 in [0, 1]."""
    if x.ndim == 3:
        x = x[:, None]  # (N, 1, H, W)
    elif x.ndim == 4 and x.shape[-1] in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    elif x.ndim != 4 or x.shape[1] not in (1, 3):
        raise DataError(
            f"{path}: x must have shape (N, H, W), (N, H, W, C) or (N, C, H, W) with C 1 or 3, "
            f"got {x.shape}"
        )
    if x.shape[0] == 0 or x.shape[2] == 0 or x.shape[3] == 0:
        raise DataError(f"{path}: x holds no images (shape {x.shape})")

    if x.dtype == np.uint8:
        return torch.from_numpy(x.astype(np.float32) / 255.0).contiguous()
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(
            f"{path}: x must be uint8 in 0-255 or float in [0, 1], got dtype {x.dtype}; "
            "convert it with x.astype(np.uint8)"
        )
    if not np.isfinite(x).all():
        raise DataError(f"{path}: x holds NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise DataError(
            f"{path}: float x must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
            "store 0-255 pixels as uint8 instead"
        )
    return torch.from_numpy(x.astype(np.float32)).contiguous()


def _labels(y: np.ndarray, n: int, path: Path) -> torch.Tensor:
    """Check ``y`` against the image count and return (N,) int64."""
    if y.ndim != 1:
        raise DataError(f"{path}: y must have shape (N,), got {y.shape}")
    if len(y) != n:
        raise DataError(f"{path}: x holds {n} images but y holds {len(y)} labels")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: y must hold integer labels, got dtype {y.dtype}")
    if y.min() < 0:
        raise DataError(f"{path}: labels must be 0 or more, got {int(y.min())}")
    return torch.from_numpy(y.astype(np.int64))


def _class_names(names: np.ndarray | None, labels: torch.Tensor, path: Path) -> list[str]:
    n_classes = int(labels.max()) + 1
    if names is None:
        return [str(k) for k in range(n_classes)]
    if names.ndim != 1 or not np.issubdtype(names.dtype, np.str_):
        raise DataError(f"{path}: class_names must be a 1-D array of strings, got {names.dtype}")
    if len(names) < n_classes:
        raise DataError(
            f"{path}: class_names holds {len(names)} names but labels reach {n_classes - 1}"
        )
    return [str(s) for s in names]
