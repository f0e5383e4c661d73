"""Robust accuracy bookkeeping with scripted attacks whose outcome is known."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlvgm.attacks import Attack, AttackResult
from mlvgm.evaluation.robustness import attack_batch, evaluate_robustness


class Constant(nn.Module):
    """Predicts class 0 for every image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], 3)
        logits[:, 0] = 1.0
        return logits


class Scripted(Attack):
    """Fools the images whose index is in ``fooled``, at a fixed norm."""

    def __init__(self, eps: float, fooled: set[int], norm: float) -> None:
        self.eps, self.fooled, self.norm = eps, fooled, norm

    def _run(self, model, x, y) -> AttackResult:
        ids = (x[:, 0, 0, 0] * 100).round().long()
        success = torch.tensor([int(i) in self.fooled for i in ids])
        return AttackResult(
            x_adv=x.clone(), success=success, l2=torch.full((x.shape[0],), self.norm)
        )


def _images(n: int) -> torch.Tensor:
    x = torch.zeros(n, 1, 4, 4)
    x[:, 0, 0, 0] = torch.arange(n) / 100  # the index, readable by the scripted attack
    return x


def _factory(eps: float):
    a = Scripted(eps, {0} if eps < 1 else {0, 1, 2}, norm=0.4 * eps)
    b = Scripted(eps, {3}, norm=0.2 * eps)
    return [("a", a), ("b", b)]


def test_combined_is_at_least_as_strong_as_each_attack_per_image():
    x, y = _images(6), torch.zeros(6, dtype=torch.long)
    r = attack_batch(Constant(), x, y, [0.5, 1.0], _factory)
    assert r.robust_accuracy() == pytest.approx({0.5: 4 / 6, 1.0: 2 / 6})
    for name in ("a", "b"):
        assert torch.all(r.broken_at <= r.per_attack[name])
    assert r.success_rates()["a"] == pytest.approx({0.5: 1 / 6, 1.0: 3 / 6})
    assert r.broken_at[1] == 1.0 and torch.isinf(r.broken_at[4])


def test_misclassified_images_count_as_broken_at_zero():
    x, y = _images(4), torch.tensor([0, 1, 0, 0])
    r = attack_batch(Constant(), x, y, [0.5], lambda eps: [])
    assert r.clean_accuracy == 0.75 and r.broken_at[1] == 0.0
    assert r.robust_accuracy() == {0.5: 0.75}


def test_batches_concatenate_to_the_unbatched_result():
    x, y = _images(6), torch.zeros(6, dtype=torch.long)
    whole = evaluate_robustness(Constant(), x, y, [0.5, 1.0], _factory, 6, progress=False)
    parts = evaluate_robustness(Constant(), x, y, [0.5, 1.0], _factory, 4, progress=False)
    assert torch.equal(whole.broken_at, parts.broken_at)
    assert torch.equal(whole.l2, parts.l2)
