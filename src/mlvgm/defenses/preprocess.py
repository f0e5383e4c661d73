"""Optional pre-processing before encoding: Gaussian blur and fixed-L2-norm noise.

Both are differentiable (the noise is additive, the clamp to [0, 1] has its usual
sub-gradient), so attacks differentiate through them.
"""

from __future__ import annotations

import math

import kornia.filters
import torch
from torch import nn

from mlvgm._checks import check_positive


class GaussianBlur(nn.Module):
    """Gaussian blur with standard deviation ``sigma`` pixels (kernel of side 2*ceil(3 sigma)+1)."""

    def __init__(self, sigma: float = 1.0) -> None:
        super().__init__()
        check_positive(sigma, "blur_sigma")
        self.sigma = float(sigma)
        self.kernel = 2 * math.ceil(3 * self.sigma) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, C, H, W). Returns: (B, C, H, W)."""
        return kornia.filters.gaussian_blur2d(
            x, (self.kernel, self.kernel), (self.sigma, self.sigma), border_type="reflect"
        )


class FixedNormNoise(nn.Module):
    """Add Gaussian noise rescaled to L2 norm ``norm`` per image, then clamp to [0, 1]."""

    def __init__(self, norm: float) -> None:
        super().__init__()
        check_positive(norm, "noise_l2")
        self.norm = float(norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, C, H, W) in [0, 1]. Returns: (B, C, H, W) in [0, 1]."""
        noise = torch.randn_like(x)
        scale = self.norm / noise.flatten(1).norm(dim=1).clamp_min(1e-12)  # (B,)
        return (x + noise * scale.view(-1, 1, 1, 1)).clamp(0, 1)
