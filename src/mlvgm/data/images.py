"""Containers for labelled images: one split part, and the three parts of a dataset."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils.data import Dataset

from mlvgm._checks import check_images
from mlvgm.errors import InputError


@dataclass(eq=False, repr=False)
class LabelledImages(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Images with their class labels, usable directly with a ``DataLoader``.

    Attributes:
        images: (N, C, H, W) float32 in [0, 1].
        labels: (N,) int64 class indices.
        indices: (N,) int64 positions of the images in the source dataset (row of the
            MNIST file or of the ``.npz`` arrays, or rank of the file among the
            folder's sorted paths), or ``None`` when unknown.

    Raises:
        InputError: on construction, if the tensors have the wrong shape, dtype or range.
    """

    images: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor | None = field(default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.images, torch.Tensor) or self.images.ndim != 4:
            got = tuple(self.images.shape) if isinstance(self.images, torch.Tensor) else self.images
            raise InputError(f"images must be a tensor of shape (N, C, H, W), got {got!r}")
        if self.images.numel() > 0:  # an empty val or test part has no range to check
            check_images(self.images, "images")
        if self.images.dtype != torch.float32:
            raise InputError(f"images must be float32, got {self.images.dtype}")
        n = self.images.shape[0]
        for name, t in (("labels", self.labels), ("indices", self.indices)):
            if t is None:
                continue
            if not isinstance(t, torch.Tensor) or t.dtype != torch.int64 or t.shape != (n,):
                got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise InputError(f"{name} must be an int64 tensor of shape ({n},), got {got}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(image, label)``: a (C, H, W) float32 tensor and a () int64 tensor."""
        return self.images[i], self.labels[i]

    def __repr__(self) -> str:
        return f"LabelledImages(n={len(self)}, image_shape={tuple(self.images.shape[1:])})"


@dataclass(eq=False)
class ImageSplits:
    """A dataset cut into disjoint train, validation and test parts.

    Attributes:
        train: the training images.
        val: the validation images (may be empty).
        test: the test images (may be empty).
        n_classes: the number of classes K; labels lie in ``0 .. K-1``.
        class_names: K names, ``class_names[k]`` naming label k.
        name: a short name of the dataset, e.g. ``"mnist-5k"`` or the folder's name.
    """

    train: LabelledImages
    val: LabelledImages
    test: LabelledImages
    n_classes: int
    class_names: list[str]
    name: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The shape (C, H, W) shared by every image."""
        c, h, w = self.train.images.shape[1:]
        return int(c), int(h), int(w)
