"""A small ResNet classifier (He et al., CVPR 2016) for the images the purifiers defend."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from mlvgm.errors import ConfigError


@dataclass
class ClassifierConfig:
    """Architecture of a :class:`ResNetClassifier`.

    Attributes:
        in_channels: image channels.
        image_size: image side.
        n_classes: number of classes.
        widths: channels of the stages; each stage halves the resolution.
    """

    in_channels: int = 1
    image_size: int = 32
    n_classes: int = 10
    widths: list[int] = field(default_factory=lambda: [32, 64, 128])

    def __post_init__(self) -> None:
        if self.n_classes < 2:
            raise ConfigError(f"n_classes must be at least 2, got {self.n_classes}")
        if not self.widths or any(w < 1 for w in self.widths):
            raise ConfigError(f"widths must be positive channel counts, got {self.widths}")


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class ResNetEncoder(nn.Module):
    """Stem, one residual block per stage, global average pooling: the features of a ResNet.

    The backbone of :class:`ResNetClassifier` and of the self-supervised models in
    :mod:`mlvgm.ssl.models`.

    Args:
        in_channels: image channels C.
        widths: channels of the stages; each stage halves the resolution.

    Raises:
        ConfigError: if ``widths`` is empty or holds a non-positive count.
    """

    def __init__(self, in_channels: int, widths: list[int]) -> None:
        super().__init__()
        if not widths or any(w < 1 for w in widths):
            raise ConfigError(f"widths must be positive channel counts, got {widths}")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        blocks = []
        c = widths[0]
        for w in widths:
            blocks.append(_BasicBlock(c, w, stride=2))
            c = w
        self.blocks = nn.Sequential(*blocks)
        #: D, the feature dimension
        self.out_dim = c

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, C, H, W) in [0, 1]. Returns: (B, D) pooled features."""
        h = self.blocks(self.stem(2 * x - 1))  # (B, D, H / 2^S, W / 2^S)
        return h.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, C, H, W) in [0, 1]. Returns: (B, D) pooled features."""
        return self.features(x)


class ResNetClassifier(ResNetEncoder):
    """A :class:`ResNetEncoder` with a linear head.

    Args:
        config: the architecture.
    """

    def __init__(self, config: ClassifierConfig | None = None) -> None:
        cfg = config or ClassifierConfig()
        super().__init__(cfg.in_channels, cfg.widths)
        self.config = cfg
        self.in_channels = cfg.in_channels
        self.image_size = cfg.image_size
        self.fc = nn.Linear(self.out_dim, cfg.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, C, H, W) in [0, 1]. Returns: (B, n_classes) logits."""
        return self.fc(self.features(x))
