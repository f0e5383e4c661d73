"""How much of the class each latent group carries: per-group KL and re-sampling accuracy.

Re-sampling group ``i`` alone (``alpha_i = 1``, every other alpha 0) and
classifying the decoded image tells whether the class survives a fresh draw of
that group: purification needs it to survive for the fine groups and to break
for the coarse ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mlvgm.defenses import Purifier
from mlvgm.evaluation.robustness import predict
from mlvgm.models.base import MLVGM


@dataclass
class GroupReport:
    """Per-group figures of an MLVGM with a classifier.

    Attributes:
        reconstruction_accuracy: accuracy on reconstructions (every alpha 0).
        resample_accuracy: accuracy when only group ``i`` is re-sampled, per group.
        prefix_accuracy: accuracy when groups ``i..L-1`` are all re-sampled, per ``i``.
        temperature: temperature of the prior draws.
    """

    reconstruction_accuracy: float
    resample_accuracy: list[float]
    prefix_accuracy: list[float]
    temperature: float


@torch.no_grad()
def group_report(
    mlvgm: MLVGM,
    classifier: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    temperature: float = 1.0,
    batch_size: int = 250,
) -> GroupReport:
    """Classifier accuracy under re-sampling of each group, one draw per image.

    Args:
        mlvgm: the generative model.
        classifier: images -> logits.
        x: (N, C, H, W) images in [0, 1].
        y: (N,) labels.
        temperature: temperature of the prior draws.
        batch_size: images per batch.
    """
    n = mlvgm.n_latents

    def acc(alphas: list[float]) -> float:
        defense = Purifier(mlvgm, classifier, alphas, temperature)
        return float((predict(defense, x, batch_size) == y).float().mean())

    single = [acc([1.0 if j == i else 0.0 for j in range(n)]) for i in range(n)]
    prefix = [acc([1.0 if j >= i else 0.0 for j in range(n)]) for i in range(n)]
    return GroupReport(acc([0.0] * n), single, prefix, temperature)
