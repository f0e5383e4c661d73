"""The data module's entry point: a :class:`DataConfig` in, three labelled splits out."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from mlvgm.data._convert import resize, to_channels
from mlvgm.data._folder import list_images, read_images
from mlvgm.data._mnist import CLASS_NAMES as MNIST_CLASS_NAMES
from mlvgm.data._mnist import load_mnist_5k
from mlvgm.data._npz import load_npz
from mlvgm.data._split import resolve_split_sizes, stratified_split
from mlvgm.data.config import DataConfig
from mlvgm.data.images import ImageSplits, LabelledImages
from mlvgm.errors import DataError

logger = logging.getLogger(__name__)


def load_splits(cfg: DataConfig) -> ImageSplits:
    """Load the configured dataset and cut it into a fixed, stratified split.

    The split is seeded by ``cfg.seed`` and depends only on the data (folder files
    are taken in sorted order), so every run with the same options sees the same
    train, validation and test images.

    Args:
        cfg: the data options; checked again here in case it was edited after creation.

    Returns:
        The splits, each holding (N, cfg.channels, cfg.image_size, cfg.image_size)
        float32 images in [0, 1] and (N,) int64 labels.

    Raises:
        ConfigError: if an option is out of range.
        DataError: with one line naming the path: for ``folder``, if it is missing
            or not a folder, has no class sub-folders, has an empty class folder or
            a file that is not a decodable image; for ``npz``, if the file is
            missing or corrupt, lacks ``x`` or ``y``, or holds arrays of the wrong
            shape, dtype or range (NaN, float outside [0, 1]) or a label count that
            differs from the image count; for any source, if the data hold fewer
            images than ``cfg.split`` needs.

    Warns:
        UserWarning: once, with ``source="folder"``, if some images had to be
            converted to the configured size or colour mode.
    """
    cfg.validate()
    if cfg.source == "mnist":
        images, labels = load_mnist_5k(cfg.image_size, cfg.channels)
        class_names, name = list(MNIST_CLASS_NAMES), "mnist-5k"
    elif cfg.source == "folder":
        images, labels, class_names, name = _load_folder(cfg)
    else:
        images, labels, class_names, name = _load_npz(cfg)

    sizes = resolve_split_sizes(cfg.split, len(labels))
    train, val, test = (
        LabelledImages(images[idx], labels[idx], idx)
        for idx in stratified_split(labels, sizes, cfg.seed)
    )
    logger.info(
        "loaded %s: %d train, %d val, %d test images of shape %s, %d classes",
        name,
        *sizes,
        tuple(images.shape[1:]),
        len(class_names),
    )
    return ImageSplits(
        train, val, test, n_classes=len(class_names), class_names=class_names, name=name
    )


def _load_folder(cfg: DataConfig) -> tuple[torch.Tensor, torch.Tensor, list[str], str]:
    root = Path(str(cfg.path)).expanduser()
    files, labels, class_names = list_images(root)
    try:
        # Check the size before decoding anything, so a too-small folder fails fast.
        resolve_split_sizes(cfg.split, len(files))
    except DataError as exc:
        raise DataError(f"data folder {root}: {exc}") from None
    images = read_images(files, cfg.image_size, cfg.channels)
    return images, torch.tensor(labels, dtype=torch.int64), class_names, root.name


def _load_npz(cfg: DataConfig) -> tuple[torch.Tensor, torch.Tensor, list[str], str]:
    path = Path(str(cfg.path)).expanduser()
    images, labels, class_names = load_npz(path)
    try:
        resolve_split_sizes(cfg.split, len(labels))
    except DataError as exc:
        raise DataError(f"npz file {path}: {exc}") from None
    images = resize(to_channels(images, cfg.channels), cfg.image_size)
    return images, labels, class_names, path.stem
