"""Positive views: image-space augmentations (and, later, latent perturbations)."""

from mlvgm.views.augment import PRESETS, ViewAugmentation, make_augmentation

__all__ = ["PRESETS", "ViewAugmentation", "make_augmentation"]
