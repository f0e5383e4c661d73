"""The alpha search's objective: EoT accuracy of the purified classifier on fixed images."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mlvgm._checks import check_images, check_unit_interval
from mlvgm.defenses import EoT, Purifier
from mlvgm.errors import ConfigError
from mlvgm.evaluation.robustness import predict
from mlvgm.models.base import MLVGM


class EoTAccuracy:
    """``alphas -> accuracy`` of ``EoT(Purifier(mlvgm, classifier, alphas), k)`` on fixed images.

    The global torch seed is set to ``seed`` before every evaluation, so the same
    alphas always score the same, and two schedules are compared on the same
    prior draws (common random numbers), which lowers the noise of their
    difference. The count of evaluations made is kept in :attr:`calls`.

    Args:
        mlvgm: the generative model, with L latents.
        classifier: maps (B, C, H, W) in [0, 1] to logits.
        x: (N, C, H, W) images in [0, 1] (for the search, the adversarial set).
        y: (N,) true labels.
        k: EoT copies whose logits are averaged.
        temperature: temperature of the prior draws.
        seed: the seed set before each evaluation.
        batch_size: images per forward pass (each pass holds ``k`` copies of them).

    Raises:
        ConfigError: if ``k``, ``batch_size`` or ``temperature`` is out of range.
        InputError: if ``x`` is not an image batch in [0, 1].
    """

    def __init__(
        self,
        mlvgm: MLVGM,
        classifier: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        k: int = 8,
        temperature: float = 1.0,
        seed: int = 0,
        batch_size: int = 250,
    ) -> None:
        check_images(x)
        if k < 1 or batch_size < 1:
            raise ConfigError(f"eot and batch_size must be at least 1, got {k} and {batch_size}")
        if not temperature > 0:
            raise ConfigError(f"temperature must be positive, got {temperature}")
        self.mlvgm = mlvgm
        self.classifier = classifier
        self.x, self.y = x, y
        self.k = k
        self.temperature = float(temperature)
        self.seed = seed
        self.batch_size = batch_size
        self.calls = 0

    @property
    def n_latents(self) -> int:
        """L, the length of an alpha vector."""
        return self.mlvgm.n_latents

    def __call__(self, alphas: Sequence[float]) -> float:
        """EoT accuracy of the purifier with ``alphas`` (L values in [0, 1], coarse to fine).

        Raises:
            ConfigError: if ``alphas`` does not hold L values in [0, 1].
        """
        alphas = [float(a) for a in alphas]
        check_unit_interval(alphas, "alphas", length=self.n_latents)
        model = EoT(Purifier(self.mlvgm, self.classifier, alphas, self.temperature), self.k)
        torch.manual_seed(self.seed)
        correct = predict(model.eval(), self.x, self.batch_size) == self.y
        self.calls += 1
        return int(correct.sum()) / correct.numel()  # exact fraction, not float32
