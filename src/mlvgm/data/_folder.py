"""Images in a folder with one sub-folder per class, read with Pillow.

Layout: ``root/<class name>/<image file>``. Class names are the sub-folder names,
sorted; label k names the k-th. Entries whose name starts with a dot (``.DS_Store``,
``.ipynb_checkpoints``) are ignored, as are plain files directly in ``root`` and
folders nested inside a class folder.

Known shortcomings: every image is decoded and held in memory, which suits small
datasets only; non-square images are stretched, not cropped; 16-bit grey images
are clipped to 8 bits by Pillow rather than rescaled.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from mlvgm.errors import DataError


def list_images(root: Path) -> tuple[list[Path], list[int], list[str]]:
    """Find the image files and their labels, in sorted order.

    Returns:
        ``(files, labels, class_names)``: files sorted by class then by name, the
        label of each file, and the sorted class names.

    Raises:
        DataError: if ``root`` is missing or not a folder, has no class sub-folders,
            or has an empty class folder.
    """
    if not root.exists():
        raise DataError(f"data folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"data.path must be a folder with one sub-folder per class: {root}")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p))
    if not class_dirs:
        raise DataError(
            f"data folder {root} has no class sub-folders; put the images of each class "
            "in their own sub-folder, e.g. root/cat/001.png"
        )

    files: list[Path] = []
    labels: list[int] = []
    for label, class_dir in enumerate(class_dirs):
        members = sorted(p for p in class_dir.iterdir() if p.is_file() and not _hidden(p))
        if not members:
            raise DataError(f"class folder {class_dir} holds no images")
        files.extend(members)
        labels.extend([label] * len(members))
    return files, labels, [p.name for p in class_dirs]


def read_images(files: list[Path], image_size: int, channels: int) -> torch.Tensor:
    """Decode, convert and resize every file; warn once if any needed converting.

    Args:
        files: the image files.
        image_size: the output side length.
        channels: 1 (Pillow mode "L") or 3 ("RGB").

    Returns:
        (N, channels, image_size, image_size) float32 in [0, 1].

    Raises:
        DataError: naming the first file that is not a decodable image.
    """
    mode = "L" if channels == 1 else "RGB"
    size = (image_size, image_size)
    out = np.empty((len(files), image_size, image_size, channels), dtype=np.uint8)
    n_converted = 0
    for i, path in enumerate(files):
        try:
            with Image.open(path) as img:
                img.load()
                if img.mode == mode and img.size == size:
                    pixels = np.asarray(img, dtype=np.uint8)
                else:
                    n_converted += 1
                    converted = img.convert(mode).resize(size, Image.Resampling.BILINEAR)
                    pixels = np.asarray(converted, dtype=np.uint8)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"cannot read image {path}: {reason}") from None
        out[i] = pixels.reshape(image_size, image_size, channels)  # (H, W, C)

    if n_converted:
        warnings.warn(
            f"converted {n_converted} of {len(files)} images to {image_size}x{image_size} "
            f"{mode} because their size or colour mode differed",
            UserWarning,
            stacklevel=4,  # the caller of load_splits,
        )
    x = torch.from_numpy(out).permute(0, 3, 1, 2)  # (N, C, H, W)
    return x.float().div_(255.0).contiguous()


def _hidden(path: Path) -> bool:
    return path.name.startswith(".")
