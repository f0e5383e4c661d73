"""What every minimal-norm attack (DeepFool, Carlini-Wagner, FAB) promises."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from mlvgm.attacks import FAB, CarliniWagnerL2, DeepFool
from mlvgm.attacks._minimal import MinimalNormAttack
from mlvgm.errors import InputError

Batch = tuple[torch.Tensor, torch.Tensor]

# Cheap settings that still fool nearly every image of the digit CNN.
CHEAP: dict[str, Callable[..., MinimalNormAttack]] = {
    "deepfool": lambda eps=None: DeepFool(eps, n_iter=20),
    "cw": lambda eps=None: CarliniWagnerL2(
        eps, steps=50, binary_search_steps=3, c_init=0.1, lr=0.1
    ),
    "fab": lambda eps=None: FAB(eps, n_iter=10),
}
NAMES = sorted(CHEAP)


@pytest.fixture(scope="module")
def unbounded(model: nn.Module, batch: Batch) -> dict[str, object]:
    """Each attack's unbounded result on 100 images, computed once, on one thread.

    A module-scoped fixture is set up before the function-scoped one-thread
    fixture of the conftest, hence the explicit thread count.
    """
    x, y = batch[0][:100], batch[1][:100]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {name: CHEAP[name]()(model, x, y) for name in NAMES}
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("name", NAMES)
def test_outputs_are_images_and_l2_is_their_distance(
    name: str, unbounded: dict, batch: Batch
) -> None:
    x = batch[0][:100]
    result = unbounded[name]

    assert result.x_adv.shape == x.shape
    assert result.x_adv.dtype == x.dtype
    assert result.success.dtype == torch.bool
    assert result.x_adv.min() >= 0.0
    assert result.x_adv.max() <= 1.0
    torch.testing.assert_close(result.l2, (result.x_adv - x).flatten(1).norm(dim=1))


@pytest.mark.parametrize("name", NAMES)
def test_fools_nearly_every_image_unbounded(name: str, unbounded: dict) -> None:
    assert unbounded[name].success.float().mean() >= 0.9


@pytest.mark.parametrize("name", NAMES)
def test_success_is_judged_on_the_returned_images(
    name: str, unbounded: dict, model: nn.Module, batch: Batch
) -> None:
    y = batch[1][:100]
    result = unbounded[name]
    with torch.no_grad():
        fooled = model(result.x_adv).argmax(dim=1) != y
    assert torch.equal(result.success, fooled)


@pytest.mark.parametrize("name", NAMES)
def test_misclassified_images_are_returned_unchanged(
    name: str, unbounded: dict, model: nn.Module, batch: Batch
) -> None:
    x, y = batch[0][:100], batch[1][:100]
    with torch.no_grad():
        wrong = model(x).argmax(dim=1) != y
    result = unbounded[name]

    assert wrong.any()
    assert torch.equal(result.x_adv[wrong], x[wrong])
    assert torch.all(result.success[wrong])


@pytest.mark.parametrize("name", NAMES)
def test_bound_counts_only_adversarials_within_it(
    name: str, unbounded: dict, model: nn.Module, batch: Batch
) -> None:
    x, y = batch[0][:100], batch[1][:100]
    free = unbounded[name]
    eps = float(free.l2[free.success].median())
    bounded = CHEAP[name](eps)(model, x, y)

    assert torch.all(bounded.l2 <= eps + 1e-5)
    assert bounded.x_adv.min() >= 0.0
    assert bounded.x_adv.max() <= 1.0
    # The unbounded search's successes within eps are the bounded one's, and few more.
    within = free.success & (free.l2 <= eps + 1e-6)
    assert torch.all(bounded.success | ~within)
    assert bounded.success.sum() <= within.sum() + 5


@pytest.mark.parametrize("name", NAMES)
def test_randomised_model_is_attacked_through_its_noise(
    name: str, noisy_model: nn.Module, batch: Batch
) -> None:
    x, y = batch[0][:50], batch[1][:50]
    torch.manual_seed(0)
    result = CHEAP[name]()(noisy_model, x, y)

    assert result.x_adv.min() >= 0.0
    assert result.x_adv.max() <= 1.0
    # A minimal adversarial lies on the boundary, where a fresh draw of the noise
    # flips back about half the time; half as far again, the found directions fool
    # nearly every image, and random directions of that norm far fewer.
    delta = 1.5 * (result.x_adv - x)
    noise = torch.randn_like(x)
    noise *= (
        delta.flatten(1).norm(dim=1)[:, None, None, None]
        / noise.flatten(1).norm(dim=1)[:, None, None, None]
    )
    with torch.no_grad():
        found = noisy_model((x + delta).clamp(0, 1)).argmax(dim=1) != y
        random = noisy_model((x + noise).clamp(0, 1)).argmax(dim=1) != y
    assert found.float().mean() >= 0.85
    assert random.float().mean() <= 0.4
    assert result.l2[found].median() < 1.5


@pytest.mark.parametrize("name", NAMES)
def test_runs_under_no_grad_on_a_plain_function(name: str, model: nn.Module, batch: Batch) -> None:
    x, y = batch[0][:10], batch[1][:10]

    def function(images: torch.Tensor) -> torch.Tensor:
        return model(images)

    with torch.no_grad():
        result = CHEAP[name]()(function, x, y)
    assert result.success.float().mean() >= 0.8


@pytest.mark.parametrize("name", NAMES)
def test_model_is_left_as_it_was(name: str, model: nn.Module, batch: Batch) -> None:
    x, y = batch[0][:10], batch[1][:10]
    before = [p.detach().clone() for p in model.parameters()]
    CHEAP[name]()(model, x, y)

    assert not model.training
    for param, value in zip(model.parameters(), before, strict=True):
        assert param.requires_grad
        assert param.grad is None
        assert torch.equal(param, value)


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_raise_input_error(name: str, model: nn.Module, batch: Batch) -> None:
    x, y = batch[0][:4], batch[1][:4]
    attack = CHEAP[name]()
    for images, labels in [(x * 2.0, y), (x, y[:3]), (x, y + 10), (x[0], y)]:
        with pytest.raises(InputError):
            attack(model, images, labels)
    with pytest.raises(InputError, match="logits"):
        attack(lambda images: images.flatten(1)[:2], x, y)


@pytest.mark.parametrize("name", NAMES)
def test_batch_of_misclassified_images_needs_no_attack(
    name: str, model: nn.Module, batch: Batch
) -> None:
    x = batch[0][:10]
    with torch.no_grad():
        wrong = (model(x).argmax(dim=1) + 1) % 10
    result = CHEAP[name]()(model, x, wrong)

    assert torch.all(result.success)
    assert torch.equal(result.x_adv, x)
