"""The MLVGM purifier: pre-process, encode, re-sample the fine latents, decode, classify.

Serez et al., WACV 2025 (arXiv 2412.03453). The whole pipeline is one
differentiable ``nn.Module`` mapping images to logits, so attacks see it all.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mlvgm._checks import check_unit_interval
from mlvgm.defenses.preprocess import FixedNormNoise, GaussianBlur
from mlvgm.errors import ConfigError
from mlvgm.models.base import MLVGM


class Purifier(nn.Module):
    """``classifier(decode(mix(encode(pre(x)), prior)))`` as one module.

    Args:
        mlvgm: the generative model, or ``None`` for a pre-processing-only defence.
        classifier: maps (B, C, H, W) in [0, 1] to (B, n_classes) logits.
        alphas: L values in [0, 1], coarse to fine (ignored without ``mlvgm``).
        temperature: temperature of the prior draws.
        blur_sigma: Gaussian blur before encoding, or ``None``.
        noise_l2: L2 norm of Gaussian noise added before encoding, or ``None``.

    Raises:
        ConfigError: if the alphas do not fit the model or leave [0, 1].
    """

    def __init__(
        self,
        mlvgm: MLVGM | None,
        classifier: nn.Module,
        alphas: Sequence[float] = (),
        temperature: float = 1.0,
        blur_sigma: float | None = None,
        noise_l2: float | None = None,
    ) -> None:
        super().__init__()
        self.mlvgm = mlvgm
        self.classifier = classifier
        self.alphas = [float(a) for a in alphas]
        if mlvgm is not None:
            check_unit_interval(self.alphas, "alphas", length=mlvgm.n_latents)
        if not temperature > 0:
            raise ConfigError(f"temperature must be positive, got {temperature}")
        self.temperature = float(temperature)
        steps: list[nn.Module] = []
        if blur_sigma is not None:
            steps.append(GaussianBlur(blur_sigma))
        if noise_l2 is not None:
            steps.append(FixedNormNoise(noise_l2))
        self.pre = nn.Sequential(*steps)
        self.noise_l2 = noise_l2
        self.blur_sigma = blur_sigma

    @property
    def stochastic(self) -> bool:
        """Whether two passes over the same image can differ (then EoT is needed)."""
        return self.noise_l2 is not None or (self.mlvgm is not None and any(self.alphas))

    def purify(self, x: torch.Tensor) -> torch.Tensor:
        """The purified images: (B, C, H, W) in [0, 1] -> (B, C, H, W) in [0, 1]."""
        x = self.pre(x)
        if self.mlvgm is None:
            return x
        return self.mlvgm.purify(x, self.alphas, self.temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, C, H, W) in [0, 1]. Returns: (B, n_classes) logits."""
        return self.classifier(self.purify(x))


class EoT(nn.Module):
    """Expectation over Transformation: average the logits of K stochastic passes.

    The K copies run as one batch of K * B images (in chunks of at most
    ``max_batch``), so prediction and attack gradients both see the average.
    A deterministic model (``stochastic`` False) runs once.

    Args:
        model: maps (B, C, H, W) to (B, n_classes) logits, possibly at random.
        k: number of copies.
        max_batch: largest batch handed to ``model`` at once.
    """

    def __init__(self, model: nn.Module, k: int, max_batch: int = 1024) -> None:
        super().__init__()
        if k < 1:
            raise ConfigError(f"eot must be at least 1, got {k}")
        self.model = model
        self.k = k if bool(getattr(model, "stochastic", True)) else 1
        self.max_batch = max_batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, C, H, W). Returns: (B, n_classes) mean logits over the K copies."""
        b = x.shape[0]
        if self.k == 1:
            return self.model(x)
        copies = x.repeat(self.k, 1, 1, 1)  # (K*B, C, H, W), copy-major
        chunk = max(b, (self.max_batch // b) * b)
        logits = torch.cat([self.model(c) for c in copies.split(chunk)])  # (K*B, n)
        return logits.view(self.k, b, -1).mean(0)  # (B, n)
