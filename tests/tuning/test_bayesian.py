"""One BO step with BoTorch: proposals in the unit cube, reproducible, heading for the optimum."""

from __future__ import annotations

import warnings

import pytest
import torch

from mlvgm.defenses import AlphaSchedule
from mlvgm.errors import InputError
from mlvgm.tuning import initial_schedules, propose_alphas


def _quadratic(x: torch.Tensor, centre: float = 0.3) -> torch.Tensor:
    """(n, L) -> (n,) scores with their maximum 0 at x = centre."""
    return -(x - centre).square().sum(dim=1)


def _points(n: int, n_latents: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(
        n, n_latents, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


def test_initial_schedules_are_the_five_named_ones_in_order() -> None:
    got = initial_schedules(4)
    cosine, linear = AlphaSchedule("cosine").resolve(4), AlphaSchedule("linear").resolve(4)

    assert list(got) == ["cosine", "linear", "constant-0.5", "1-linear", "1-cosine"]
    assert got["cosine"] == cosine and got["linear"] == linear
    assert got["constant-0.5"] == [0.5] * 4
    assert got["1-linear"] == pytest.approx([0.75, 0.5, 0.25, 0.0])
    assert got["1-cosine"] == pytest.approx([1 - a for a in cosine])
    assert all(len(v) == 4 and all(0 <= a <= 1 for a in v) for v in got.values())


@pytest.mark.parametrize("n_latents", [1, 3, 6])
def test_proposal_lies_in_the_unit_cube(n_latents: int) -> None:
    x = _points(8, n_latents)
    proposal = propose_alphas(x, _quadratic(x, centre=1.2))  # optimum outside the cube

    assert proposal.shape == (n_latents,)
    assert proposal.dtype == torch.float64
    assert proposal.min() >= 0.0 and proposal.max() <= 1.0


def test_proposal_is_reproducible_and_leaves_the_global_seed_alone() -> None:
    x = _points(8, 3)
    torch.manual_seed(123)
    want = torch.rand(1)
    torch.manual_seed(123)
    first = propose_alphas(x, _quadratic(x), seed=5)

    assert torch.rand(1) == want
    torch.testing.assert_close(propose_alphas(x, _quadratic(x), seed=5), first)


def test_a_few_steps_approach_the_optimum_of_a_smooth_function() -> None:
    x = _points(5, 2)
    y = _quadratic(x)
    for step in range(6):
        proposal = propose_alphas(x, y, seed=step, num_restarts=4, raw_samples=128)
        x = torch.cat([x, proposal[None]])
        y = torch.cat([y, _quadratic(proposal[None])])

    assert y[5:].max() > y[:5].max()
    assert y.max() > -0.01  # within 0.1 of the optimum (0.3, 0.3)


def test_equal_scores_still_give_a_proposal_without_warnings() -> None:
    x = _points(5, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proposal = propose_alphas(x, torch.full((5,), 0.25))

    assert proposal.min() >= 0.0 and proposal.max() <= 1.0


@pytest.mark.parametrize(
    ("x", "y"),
    [
        (torch.rand(4, 2), torch.rand(3)),  # one score short
        (torch.rand(4), torch.rand(4)),  # not (n, L)
        (torch.rand(4, 2) + 1.0, torch.rand(4)),  # outside the cube
        (torch.rand(4, 2), torch.tensor([0.1, float("nan"), 0.2, 0.3])),
    ],
)
def test_bad_history_raises_input_error(x: torch.Tensor, y: torch.Tensor) -> None:
    with pytest.raises(InputError):
        propose_alphas(x, y)
