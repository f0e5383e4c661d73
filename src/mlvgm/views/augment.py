"""Image-space augmentations Tx for positive views, on the input's device.

Presets (SimCLR, Chen et al., ICML 2020, appendix A, with the crop scale of the
paper-B design):

- ``simclr``: random resized crop (scale 0.2-1), horizontal flip, colour jitter
  (brightness 0.4, contrast 0.4, saturation 0.4, hue 0.1) with p 0.8, grayscale p 0.2.
- ``no_color``: random resized crop and flip.
- ``no_crop``: flip, colour jitter and grayscale.
- ``none``: the identity.

Saturation, hue and grayscale have no meaning for 1-channel images: for them the
jitter changes brightness and contrast only and grayscale is left out, so the
``simclr`` preset on grayscale data is weaker than on colour data.
"""

from __future__ import annotations

import kornia.augmentation as K
from torch import Tensor, nn

from mlvgm.errors import ConfigError, InputError

#: the preset names accepted by :func:`make_augmentation`
PRESETS: tuple[str, ...] = ("simclr", "no_color", "no_crop", "none")


class ViewAugmentation(nn.Module):
    """A sequence of random image transforms whose output is clamped to [0, 1].

    Args:
        transforms: the kornia augmentation modules, applied in order.
        channels: the channel count C the input must have.
    """

    def __init__(self, transforms: list[nn.Module], channels: int) -> None:
        super().__init__()
        self.transforms = nn.Sequential(*transforms)
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        """Augment each image independently.

        Args:
            x: (B, C, H, W) images in [0, 1].

        Returns:
            (B, C, H', W') augmented images in [0, 1]; H' = W' = the preset's size when
            it crops, else H and W.

        Raises:
            InputError: if ``x`` is not 4-D or has the wrong channel count.
        """
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != self.channels:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise InputError(f"x must have shape (B, {self.channels}, H, W), got {shape}")
        if len(self.transforms) == 0:
            return x
        return self.transforms(x).clamp(0.0, 1.0)


def _colour(channels: int) -> list[nn.Module]:
    if channels == 3:
        return [K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), K.RandomGrayscale(p=0.2)]
    # Saturation and hue need three channels; jitter brightness and contrast only.
    return [K.ColorJitter(0.4, 0.4, 0.0, 0.0, p=0.8)]


def make_augmentation(preset: str, image_size: int, channels: int) -> ViewAugmentation:
    """Build the augmentation ``preset`` for square images of ``channels`` channels.

    Args:
        preset: one of :data:`PRESETS`.
        image_size: the output side of the random resized crop.
        channels: C of the images, 1 or 3.

    Returns:
        a module mapping (B, C, H, W) in [0, 1] to augmented images in [0, 1].

    Raises:
        ConfigError: on an unknown preset, a non-positive size, or C not in (1, 3).
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown augmentation preset {preset!r}; known: {', '.join(PRESETS)}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ConfigError(f"image_size must be a positive integer, got {image_size!r}")
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels!r}")

    crop: list[nn.Module] = [K.RandomResizedCrop((image_size, image_size), scale=(0.2, 1.0))]
    flip: list[nn.Module] = [K.RandomHorizontalFlip()]
    transforms: dict[str, list[nn.Module]] = {
        "simclr": crop + flip + _colour(channels),
        "no_color": crop + flip,
        "no_crop": flip + _colour(channels),
        "none": [],
    }
    return ViewAugmentation(transforms[preset], channels)
