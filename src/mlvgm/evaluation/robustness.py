"""Robust accuracy at a grid of L2 bounds, under one or more attacks.

An image counts as robust at bound ``eps`` when it is classified correctly and no
attack limited to ``eps`` fools the (EoT-averaged) model. Bounds are attacked in
increasing order and an image fooled at a smaller bound is not attacked again:
its adversarial example lies within every larger bound too. Each attack judges
its success on a fresh forward pass, so a randomised defence gets a new draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm import tqdm

from mlvgm.attacks import Attack


@dataclass
class RobustnessResult:
    """Per-image outcome of :func:`evaluate_robustness`.

    Attributes:
        bounds: the L2 bounds, increasing.
        clean_correct: (N,) bool, correct on the clean image.
        broken_at: (N,) float, the smallest bound at which an attack succeeded
            (``0`` for images misclassified clean, ``inf`` if none succeeded).
        l2: (N,) float, L2 norm of the adversarial found (``inf`` if none).
        x_adv: (N, C, H, W), the adversarial found at the smallest bound; for an
            image never fooled, the attack's last point at the largest bound (the
            clean image for images misclassified clean).
    """

    bounds: list[float]
    clean_correct: torch.Tensor
    broken_at: torch.Tensor
    l2: torch.Tensor
    x_adv: torch.Tensor
    attacks: list[str] = field(default_factory=list)

    @property
    def clean_accuracy(self) -> float:
        """Fraction of images classified correctly without attack."""
        return float(self.clean_correct.float().mean())

    def robust_accuracy(self) -> dict[float, float]:
        """Bound -> fraction of images still correct under every attack within it."""
        return {b: float((self.broken_at > b).float().mean()) for b in self.bounds}


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
    """(N,) predicted classes of ``model`` on (N, C, H, W) images, in batches."""
    return torch.cat([model(c).argmax(1) for c in x.split(batch_size)])


def evaluate_robustness(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    bounds: Sequence[float],
    make_attacks: Callable[[float], Sequence[tuple[str, Attack]]],
    batch_size: int = 100,
    progress: bool = True,
    desc: str = "attack",
) -> RobustnessResult:
    """Attack ``model`` at every bound and record, per image, where it first broke.

    Args:
        model: images (B, C, H, W) in [0, 1] -> logits; wrap a randomised defence in
            :class:`~mlvgm.defenses.EoT` so that both prediction and attack average.
        x: (N, C, H, W) clean images in [0, 1].
        y: (N,) labels.
        bounds: L2 bounds.
        make_attacks: ``make_attacks(eps)`` gives the named attacks to run at ``eps``.
        batch_size: images per attack batch.
        progress: show a progress bar.
        desc: progress-bar label.

    Returns:
        The per-image :class:`RobustnessResult`.
    """
    bounds = sorted(float(b) for b in bounds)
    model.eval()
    clean_correct = predict(model, x, batch_size) == y
    broken_at = torch.where(clean_correct, torch.inf, 0.0)
    l2 = torch.full((x.shape[0],), torch.inf)
    x_adv = x.clone()
    names: list[str] = []

    bar = tqdm(total=len(bounds), desc=desc, disable=not progress, leave=False)
    for eps in bounds:
        attacks = make_attacks(eps)
        names = [n for n, _ in attacks]
        alive = torch.isinf(broken_at).nonzero().flatten()
        for idx in alive.split(batch_size):
            for _, attack in attacks:
                # only images no attack has fooled yet at this bound
                idx = idx[torch.isinf(broken_at[idx])]
                if idx.numel() == 0:
                    break
                res = attack(model, x[idx], y[idx])
                hit = idx[res.success]
                x_adv[idx[~res.success]] = res.x_adv[~res.success].detach()
                broken_at[hit] = eps
                l2[hit] = res.l2[res.success].detach()
                x_adv[hit] = res.x_adv[res.success].detach()
        bar.update(1)
        bar.set_postfix(eps=eps, robust=f"{float((broken_at > eps).float().mean()):.2f}")
    bar.close()
    return RobustnessResult(bounds, clean_correct, broken_at, l2, x_adv, attacks=names)
