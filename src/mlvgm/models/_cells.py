"""Building blocks shared by the convolutional models."""

from __future__ import annotations

import torch
from torch import nn


class ResidualCell(nn.Module):
    """``h + g * conv(silu(conv(silu(h))))`` with ``g`` starting at zero (ReZero).

    Starting every residual branch at zero makes deep top-down stacks train stably
    without normalisation layers, whose batch statistics would differ between the
    posterior and the prior pass.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.gain = nn.Parameter(torch.zeros(1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Args: h: (B, C, H, W). Returns: (B, C, H, W)."""
        return h + self.gain * self.body(h)


class Down(nn.Module):
    """Halve the resolution with a strided 3x3 convolution."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Args: h: (B, C_in, H, W). Returns: (B, C_out, H/2, W/2)."""
        return self.conv(nn.functional.silu(h))


class Up(nn.Module):
    """Double the resolution with a 4x4 transposed convolution."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Args: h: (B, C_in, H, W). Returns: (B, C_out, 2H, 2W)."""
        return self.conv(nn.functional.silu(h))
