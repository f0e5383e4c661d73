"""FAB-L2: against torchattacks, its restarts and its settings."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlvgm.attacks import FAB
from mlvgm.errors import ConfigError

Batch = tuple[torch.Tensor, torch.Tensor]


def test_matches_torchattacks(model: nn.Module, batch: Batch) -> None:
    torchattacks = pytest.importorskip("torchattacks")
    x, y = batch[0][:100], batch[1][:100]
    ours = FAB(n_iter=20)(model, x, y)
    # A bound no image needs, so that torchattacks returns every adversarial it finds.
    reference = torchattacks.FAB(
        model, norm="L2", eps=100.0, steps=20, n_restarts=1, multi_targeted=False
    )
    x_ref = reference(x, y)
    with torch.no_grad():
        theirs = model(x_ref).argmax(dim=1) != y
    l2_ref = (x_ref - x).flatten(1).norm(dim=1)

    assert abs(ours.success.float().mean() - theirs.float().mean()) <= 0.05
    both = ours.success & theirs & (l2_ref > 0)
    ratio = ours.l2[both] / l2_ref[both]
    assert 0.98 <= ratio.median() <= 1.02
    assert ours.l2[ours.success].median() <= 1.25 * l2_ref[theirs].median()


def test_restarts_only_shrink_the_perturbation(model: nn.Module, batch: Batch) -> None:
    x, y = batch[0][:100], batch[1][:100]
    once = FAB(n_iter=5)(model, x, y)
    thrice = FAB(n_iter=5, n_restarts=3)(model, x, y)

    assert torch.all(thrice.success | ~once.success)
    assert torch.all(thrice.l2[once.success] <= once.l2[once.success] + 1e-6)


def test_more_iterations_shrink_the_perturbation(model: nn.Module, batch: Batch) -> None:
    x, y = batch[0][:100], batch[1][:100]
    short = FAB(n_iter=2)(model, x, y)
    longer = FAB(n_iter=20)(model, x, y)

    both = short.success & longer.success
    assert torch.all(longer.l2[both] <= short.l2[both] + 1e-6)
    assert longer.l2[both].median() < short.l2[both].median()


def test_same_seed_gives_same_result_and_spares_global_rng(model: nn.Module, batch: Batch) -> None:
    x, y = batch[0][:30], batch[1][:30]
    state = torch.get_rng_state()
    first = FAB(n_iter=3, n_restarts=2, seed=1)(model, x, y)
    assert torch.equal(torch.get_rng_state(), state)
    second = FAB(n_iter=3, n_restarts=2, seed=1)(model, x, y)

    assert torch.equal(first.x_adv, second.x_adv)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"eps": 0.0},
        {"n_iter": 0},
        {"n_restarts": 0},
        {"alpha_max": 1.0},
        {"alpha_max": -0.1},
        {"eta": 0.9},
        {"beta": 0.0},
        {"beta": 1.5},
        {"seed": 1.0},
    ],
)
def test_bad_settings_raise_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        FAB(**kwargs)  # type: ignore[arg-type]
