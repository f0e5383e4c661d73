"""The TRADES objective: its inner maximisation, its loss and its options."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from mlvgm.errors import ConfigError
from mlvgm.training.classifier import TrainClassifierConfig
from mlvgm.training.trades import trades_adversary, trades_loss

torch.set_num_threads(1)


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 1, 32, 32, generator=g)
    x[:, :, :8] = 0.0  # pixels on the faces of the box, as in digits
    x[:, :, -8:] = 1.0
    return x, torch.randint(0, 10, (6,), generator=g)


def _kl(model, x, x_adv) -> torch.Tensor:
    with torch.no_grad():
        log_p, log_q = F.log_softmax(model(x), 1), F.log_softmax(model(x_adv), 1)
    return F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(1)


def test_adversary_stays_within_ball_and_box(tiny_classifier, batch):
    x, _ = batch
    torch.manual_seed(0)
    x_adv = trades_adversary(tiny_classifier, x, eps=0.5, steps=4, step_size=0.3)
    dist = (x_adv - x).flatten(1).norm(dim=1)
    assert x_adv.shape == x.shape and not x_adv.requires_grad
    assert (dist <= 0.5 + 1e-5).all() and (dist > 0.1).all()
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0


def test_adversary_raises_kl_above_a_random_point_at_the_same_distance(tiny_classifier, batch):
    x, _ = batch
    torch.manual_seed(0)
    x_adv = trades_adversary(tiny_classifier, x, eps=1.0, steps=5, step_size=0.3)
    noise = torch.randn_like(x)
    dist = (x_adv - x).flatten(1).norm(dim=1)[:, None, None, None]
    x_rand = (x + noise * dist / noise.flatten(1).norm(dim=1)[:, None, None, None]).clamp(0, 1)
    assert (_kl(tiny_classifier, x, x_adv) > _kl(tiny_classifier, x, x_rand)).all()


def test_inner_loop_accumulates_no_parameter_gradients(tiny_classifier, batch):
    x, _ = batch
    tiny_classifier.train()
    trades_adversary(tiny_classifier, x, eps=0.5, steps=2, step_size=0.3)
    assert all(p.grad is None for p in tiny_classifier.parameters())


def test_loss_is_ce_plus_beta_kl_and_back_propagates(tiny_classifier, batch):
    x, y = batch
    loss, metrics = trades_loss(tiny_classifier, x, y, eps=0.5, steps=2, step_size=0.3, beta=6.0)
    assert torch.isfinite(loss) and metrics["kl"] >= 0.0 and metrics["l2"] <= 0.5 + 1e-5
    assert loss.item() == pytest.approx(metrics["ce"] + 6.0 * metrics["kl"], rel=1e-5)
    loss.backward()
    grads = [p.grad for p in tiny_classifier.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_beta_zero_is_natural_cross_entropy(tiny_classifier, batch):
    x, y = batch
    loss, _ = trades_loss(tiny_classifier, x, y, eps=0.5, steps=1, step_size=0.3, beta=0.0)
    with torch.no_grad():
        expected = F.cross_entropy(tiny_classifier(x), y)
    torch.testing.assert_close(loss.detach(), expected)


@pytest.mark.parametrize("training", [True, False])
def test_model_mode_is_kept(tiny_classifier, batch, training):
    x, y = batch
    tiny_classifier.train(training)
    trades_loss(tiny_classifier, x, y, eps=0.5, steps=1, step_size=0.3, beta=1.0)
    assert tiny_classifier.training is training


@pytest.mark.parametrize(
    "option", ["trades_beta=-1", "trades_eps=0", "trades_steps=0", "trades_step_size=nan"]
)
def test_bad_trades_option_is_refused_by_name(option):
    key, value = option.split("=")
    number = int(value) if key == "trades_steps" else float(value)
    with pytest.raises(ConfigError, match=key):
        TrainClassifierConfig(**{key: number})
