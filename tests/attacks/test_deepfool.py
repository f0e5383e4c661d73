"""DeepFool-L2: against torchattacks, its candidates and its settings."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlvgm.attacks import DeepFool
from mlvgm.errors import ConfigError

Batch = tuple[torch.Tensor, torch.Tensor]


def test_matches_torchattacks(model: nn.Module, batch: Batch) -> None:
    torchattacks = pytest.importorskip("torchattacks")
    # torchattacks' DeepFool loops over images; 40 keep it quick.
    x, y = batch[0][:40], batch[1][:40]
    ours = DeepFool(n_iter=50, overshoot=0.02)(model, x, y)

    x_ref = torchattacks.DeepFool(model, steps=50, overshoot=0.02)(x, y)
    with torch.no_grad():
        logits = model(x_ref)
    top2 = logits.topk(2, dim=1).values
    # torchattacks returns many points on the boundary itself (a tie of the top
    # two logits, no overshoot): count reaching it as success.
    reached = (logits.argmax(dim=1) != y) | (top2[:, 0] - top2[:, 1] < 1e-4)
    l2_ref = (x_ref - x).flatten(1).norm(dim=1)

    assert ours.success.float().mean() >= reached.float().mean() - 0.05
    both = ours.success & reached & (l2_ref > 0)
    ratio = ours.l2[both] / l2_ref[both]
    # The same steps, ours with the 2 % overshoot applied at the stop.
    assert ratio.median() <= 1.05
    assert ours.l2[ours.success].median() <= 1.25 * l2_ref[reached].median()


def test_more_candidates_never_hurt_much(model: nn.Module, batch: Batch) -> None:
    x, y = batch[0][:100], batch[1][:100]
    one = DeepFool(n_iter=50, n_candidates=1)(model, x, y)
    every = DeepFool(n_iter=50, n_candidates=None)(model, x, y)
    capped = DeepFool(n_iter=50, n_candidates=100)(model, x, y)

    assert torch.equal(every.x_adv, capped.x_adv)
    assert every.success.float().mean() >= one.success.float().mean()
    both = one.success & every.success
    assert every.l2[both].median() <= one.l2[both].median()


def test_one_iteration_takes_one_linear_step(model: nn.Module, batch: Batch) -> None:
    x, y = batch[0][:100], batch[1][:100]
    once = DeepFool(n_iter=1)(model, x, y)
    many = DeepFool(n_iter=50)(model, x, y)

    assert once.success.float().mean() < many.success.float().mean()
    assert torch.all(many.success | ~once.success)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"eps": 0.0},
        {"eps": float("inf")},
        {"n_iter": 0},
        {"n_iter": 1.5},
        {"overshoot": -0.1},
        {"overshoot": "0.02"},
        {"n_candidates": 0},
    ],
)
def test_bad_settings_raise_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        DeepFool(**kwargs)  # type: ignore[arg-type]
