"""SimCLR, SimSiam and BYOL models: one interface, registered, saved and reloaded."""

from __future__ import annotations

import pytest
import torch

from mlvgm.checkpoint import load_classifier, load_model, save_model
from mlvgm.errors import ConfigError, InputError
from mlvgm.models import ARCHITECTURES
from mlvgm.models.classifier import ResNetClassifier, ResNetEncoder
from mlvgm.ssl import BYOL, METHODS, SSL_MODELS, SSLModelConfig, build_ssl_model


def _config(method: str) -> SSLModelConfig:
    return SSLModelConfig(method=method, widths=[4, 8], proj_dim=16, pred_dim=8)


def _views(b: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(b, 1, 32, 32, generator=g), torch.rand(b, 1, 32, 32, generator=g)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_a_finite_loss_that_trains_the_encoder(method: str) -> None:
    torch.manual_seed(0)
    model = build_ssl_model(_config(method))
    assert type(model) is SSL_MODELS[method] and ARCHITECTURES[method][0] is type(model)
    loss = model.loss(*_views())
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("method", METHODS)
def test_encoder_gives_batch_by_feature_dim(method: str) -> None:
    model = build_ssl_model(_config(method)).eval()
    assert model.encoder(_views(3)[0]).shape == (3, model.feature_dim) == (3, 8)


@pytest.mark.parametrize("method", METHODS)
def test_saved_model_reloads_with_the_same_weights_and_config(tmp_path, method: str) -> None:
    torch.manual_seed(0)
    model = build_ssl_model(_config(method)).eval()
    save_model(tmp_path / "m.safetensors", model)
    loaded = load_model(tmp_path / "m.safetensors", expect=method)
    assert loaded.config == model.config
    x = _views(4)[0]
    torch.testing.assert_close(loaded.encoder(x), model.encoder(x))


def test_byol_after_step_moves_the_target_towards_the_online_network() -> None:
    torch.manual_seed(0)
    model = build_ssl_model(_config("byol"))
    assert isinstance(model, BYOL)
    assert not any(p.requires_grad for p in model.target_encoder.parameters())
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(1.0)
    before = [p.clone() for p in model.target_encoder.parameters()]
    model.after_step()
    for b, t, o in zip(
        before, model.target_encoder.parameters(), model.encoder.parameters(), strict=True
    ):
        torch.testing.assert_close(t, 0.996 * b + 0.004 * o)


@pytest.mark.parametrize("method", ["simclr", "simsiam"])
def test_after_step_changes_nothing_without_a_target(method: str) -> None:
    model = build_ssl_model(_config(method))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.after_step()
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_unknown_method_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"unknown self-supervised method 'moco'.*simclr"):
        SSLModelConfig(method="moco")


def test_class_refuses_a_config_of_another_method() -> None:
    with pytest.raises(ConfigError, match="needs method='byol'"):
        BYOL(_config("simclr"))


@pytest.mark.parametrize(
    ("x1", "x2", "message"),
    [
        (torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32), r"shape \(B, 1, H, W\)"),
        (torch.rand(4, 1, 32, 32), torch.rand(5, 1, 32, 32), "same shape"),
        (torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32), "at least 2"),
    ],
)
def test_bad_views_raise_input_errors(x1, x2, message: str) -> None:
    with pytest.raises(InputError, match=message):
        build_ssl_model(_config("simclr")).loss(x1, x2)


def test_classifier_is_its_encoder_plus_a_linear_head(tiny_classifier, images) -> None:
    assert isinstance(tiny_classifier, ResNetEncoder)
    expected = tiny_classifier.fc(tiny_classifier.features(images))
    torch.testing.assert_close(tiny_classifier(images), expected)


def test_shipped_classifier_weights_still_load() -> None:
    model = load_classifier()
    assert isinstance(model, ResNetClassifier)
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 10)
