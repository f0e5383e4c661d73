"""APGD under an L2 bound, on a small CNN trained on 8x8 digits."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from mlvgm.attacks import APGD, AttackResult
from mlvgm.attacks.apgd import checkpoints
from mlvgm.errors import ConfigError, InputError

Batch = tuple[torch.Tensor, torch.Tensor]


def _success_rate(result: AttackResult) -> float:
    return result.success.float().mean().item()


def test_checkpoints_follow_the_paper() -> None:
    # p = 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(10) == [3, 5, 6, 7, 8, 9, 10]
    assert checkpoints(1) == [1]


@pytest.mark.parametrize("eps", [0.3, 1.0, 3.0])
def test_perturbation_stays_within_bound(model: nn.Module, batch: Batch, eps: float) -> None:
    x, y = batch
    result = APGD(eps, n_iter=20)(model, x, y)

    assert result.x_adv.shape == x.shape
    assert result.x_adv.dtype == x.dtype
    assert result.success.shape == y.shape
    assert result.success.dtype == torch.bool
    assert result.x_adv.min() >= 0.0
    assert result.x_adv.max() <= 1.0
    l2 = (result.x_adv - x).flatten(1).norm(dim=1)
    assert torch.all(l2 <= eps + 1e-5)
    torch.testing.assert_close(result.l2, l2)


def test_success_is_judged_on_the_returned_images(model: nn.Module, batch: Batch) -> None:
    x, y = batch
    result = APGD(0.5, n_iter=20)(model, x, y)

    with torch.no_grad():
        fooled = model(result.x_adv).argmax(dim=1) != y
    assert torch.equal(result.success, fooled)


def test_misclassified_images_are_returned_unchanged(model: nn.Module, batch: Batch) -> None:
    x, y = batch
    with torch.no_grad():
        wrong = model(x).argmax(dim=1) != y
    result = APGD(0.5, n_iter=10)(model, x, y)

    assert wrong.any()
    assert torch.equal(result.x_adv[wrong], x[wrong])
    assert torch.all(result.l2[wrong] == 0.0)
    assert torch.all(result.success[wrong])


def test_success_grows_with_eps_and_reaches_all(model: nn.Module, batch: Batch) -> None:
    x, y = batch
    rates = [_success_rate(APGD(eps, n_iter=30)(model, x, y)) for eps in (0.25, 0.5, 1.0, 3.0)]

    assert all(later >= earlier - 0.02 for earlier, later in itertools.pairwise(rates))
    assert rates[0] < 0.6
    assert rates[-1] == 1.0


@pytest.mark.parametrize("eps", [0.5, 1.0])
def test_matches_torchattacks_success_rate(model: nn.Module, batch: Batch, eps: float) -> None:
    torchattacks = pytest.importorskip("torchattacks")
    x, y = batch
    ours = _success_rate(APGD(eps, n_iter=50)(model, x, y))

    reference = torchattacks.APGD(model, norm="L2", eps=eps, steps=50, loss="ce", seed=0)
    x_ref = reference(x, y)
    with torch.no_grad():
        theirs = (model(x_ref).argmax(dim=1) != y).float().mean().item()
    assert abs(ours - theirs) <= 0.05, f"ours {ours:.3f}, torchattacks {theirs:.3f}"


def test_dlr_loss_attacks_a_ten_class_model(model: nn.Module, batch: Batch) -> None:
    x, y = batch
    ce = _success_rate(APGD(1.0, n_iter=30, loss="ce")(model, x, y))
    dlr = _success_rate(APGD(1.0, n_iter=30, loss="dlr")(model, x, y))

    assert dlr >= ce - 0.1
    assert dlr > 0.8


def test_dlr_needs_four_classes(binary_model: nn.Module, batch: Batch) -> None:
    x, y = batch
    with pytest.raises(ConfigError, match="at least 4 classes"):
        APGD(1.0, n_iter=5, loss="dlr")(binary_model, x, (y >= 5).long())


def test_randomised_model_runs_and_gradients_flow(noisy_model: nn.Module, batch: Batch) -> None:
    x, y = batch[0][:100], batch[1][:100]
    defence = noisy_model
    torch.manual_seed(0)
    result = APGD(2.0, n_iter=30)(defence, x, y)

    assert torch.all(result.l2 <= 2.0 + 1e-5)
    assert result.x_adv.min() >= 0.0
    assert result.x_adv.max() <= 1.0
    # Only followed gradients fool nearly every image at this bound; a random
    # perturbation of the same norm fools far fewer.
    assert _success_rate(result) >= 0.9
    noise = torch.randn_like(x)
    x_random = (x + 2.0 * noise / noise.flatten(1).norm(dim=1)[:, None, None, None]).clamp(0, 1)
    with torch.no_grad():
        random_rate = (defence(x_random).argmax(dim=1) != y).float().mean().item()
    assert random_rate < 0.6


def test_model_mode_and_parameters_are_restored(model: nn.Module, batch: Batch) -> None:
    x, y = batch[0][:20], batch[1][:20]
    before = [p.detach().clone() for p in model.parameters()]
    layers = list(model.children())
    model.train()
    layers[0].eval()
    try:
        APGD(0.5, n_iter=5)(model, x, y)
        assert model.training
        assert not layers[0].training
        assert all(layer.training for layer in layers[1:])
    finally:
        model.eval()
    for param, value in zip(model.parameters(), before, strict=True):
        assert param.requires_grad
        assert param.grad is None
        assert torch.equal(param, value)


def test_same_seed_gives_same_result_and_spares_global_rng(model: nn.Module, batch: Batch) -> None:
    x, y = batch[0][:50], batch[1][:50]
    state = torch.get_rng_state()
    first = APGD(0.5, n_iter=10, seed=3)(model, x, y)
    assert torch.equal(torch.get_rng_state(), state)
    second = APGD(0.5, n_iter=10, seed=3)(model, x, y)
    other = APGD(0.5, n_iter=10, seed=4)(model, x, y)

    assert torch.equal(first.x_adv, second.x_adv)
    assert not torch.equal(first.x_adv, other.x_adv)


def test_restarts_only_add_successes(model: nn.Module, batch: Batch) -> None:
    x, y = batch
    once = APGD(0.5, n_iter=20, n_restarts=1)(model, x, y)
    thrice = APGD(0.5, n_iter=20, n_restarts=3)(model, x, y)

    assert torch.all(thrice.success | ~once.success)
    assert torch.all(thrice.l2 <= 0.5 + 1e-5)


def test_unfooled_images_return_a_point_with_loss_above_the_clean_one(
    model: nn.Module, batch: Batch
) -> None:
    x, y = batch
    result = APGD(0.25, n_iter=30)(model, x, y)
    kept = ~result.success
    with torch.no_grad():
        clean = nn.functional.cross_entropy(model(x[kept]), y[kept], reduction="none")
        adv = nn.functional.cross_entropy(model(result.x_adv[kept]), y[kept], reduction="none")

    assert kept.any()
    assert torch.all(adv >= clean)


def test_runs_with_one_iteration_under_no_grad_on_a_plain_function(
    model: nn.Module, batch: Batch
) -> None:
    x, y = batch[0][:10], batch[1][:10]

    def function(images: torch.Tensor) -> torch.Tensor:
        return model(images)

    with torch.no_grad():
        result = APGD(0.5, n_iter=1)(function, x, y)
    assert result.x_adv.shape == x.shape
    assert torch.all(result.l2 <= 0.5 + 1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"eps": 0.0},
        {"eps": -1.0},
        {"eps": float("inf")},
        {"eps": "1"},
        {"eps": 1.0, "n_iter": 0},
        {"eps": 1.0, "n_iter": 2.5},
        {"eps": 1.0, "loss": "hinge"},
        {"eps": 1.0, "rho": 1.5},
        {"eps": 1.0, "n_restarts": 0},
        {"eps": 1.0, "seed": "0"},
    ],
)
def test_bad_settings_raise_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        APGD(**kwargs)  # type: ignore[arg-type]


def test_bad_inputs_raise_input_error(model: nn.Module, batch: Batch) -> None:
    x, y = batch[0][:4], batch[1][:4]
    attack = APGD(0.5, n_iter=2)
    bad = [
        (x[0], y),  # no batch dimension
        (x * 2.0, y),  # outside [0, 1]
        (x.clone().fill_(float("nan")), y),
        (x[:0], y[:0]),  # empty batch
        (x, y[:3]),  # one label short
        (x, y.float()),
        (x, y - 10),  # negative labels
        (x, y + 10),  # labels beyond the model's classes
        (x, y.tolist()),
    ]
    for images, labels in bad:
        with pytest.raises(InputError):
            attack(model, images, labels)  # type: ignore[arg-type]


def test_model_with_wrong_output_raises_input_error(batch: Batch) -> None:
    x, y = batch[0][:4], batch[1][:4]
    with pytest.raises(InputError, match="logits"):
        APGD(0.5, n_iter=2)(lambda images: images.flatten(1)[:2], x, y)
