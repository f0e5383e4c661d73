"""Bring image tensors to the configured channel count and size."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# ITU-R 601-2 luma weights, the ones Pillow uses for its "L" mode, so that arrays
# and image files convert to grey alike.
_LUMA = (0.299, 0.587, 0.114)


def to_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Convert grey images to RGB by repetition, or RGB images to grey by luma.

    Args:
        x: (N, C, H, W) with C in {1, 3}.
        channels: the wanted channel count, 1 or 3.

    Returns:
        (N, channels, H, W), the input itself when C already equals ``channels``.
    """
    if x.shape[1] == channels:
        return x
    if channels == 3:
        return x.repeat(1, 3, 1, 1)  # (N, 3, H, W)
    weights = torch.tensor(_LUMA, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True).clamp(0.0, 1.0)  # (N, 1, H, W)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize images to ``size`` x ``size``, bilinear with antialiasing.

    The aspect ratio is not kept: non-square images are stretched.

    Args:
        x: (N, C, H, W) float in [0, 1].
        size: the output side length.

    Returns:
        (N, C, size, size) in [0, 1], the input itself when it already has that size.
    """
    if x.shape[-2:] == (size, size):
        return x
    out = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.clamp(0.0, 1.0)
