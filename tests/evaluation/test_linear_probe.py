"""The linear probe: frozen features, a fitted linear classifier, clear refusals."""

from __future__ import annotations

import pytest
import torch

from mlvgm.checkpoint import save_model
from mlvgm.data import ImageSplits, LabelledImages
from mlvgm.errors import CheckpointError, ConfigError
from mlvgm.evaluation.linear_probe import (
    check_encoder_fits,
    extract_features,
    fit_linear,
    linear_probe,
    load_ssl_model,
)
from mlvgm.models.classifier import ResNetEncoder
from mlvgm.ssl import SSLModelConfig, build_ssl_model


def _part(n: int, seed: int, channels: int = 1, size: int = 16) -> LabelledImages:
    """Four classes of images whose brightness is 0.2, 0.4, 0.6 or 0.8, plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    level = 0.2 + 0.2 * labels.float()
    noise = 0.08 * torch.randn(n, channels, size, size, generator=g)
    images = (level.view(n, 1, 1, 1) + noise).clamp(0, 1)
    return LabelledImages(images, labels)


def _splits(**kw) -> ImageSplits:
    return ImageSplits(
        _part(80, 0, **kw), _part(40, 1, **kw), _part(40, 2, **kw), 4, list("abcd"), "toy"
    )


def test_probe_on_a_random_encoder_separates_a_separable_toy_far_above_chance() -> None:
    torch.manual_seed(0)
    encoder = ResNetEncoder(1, [8, 16])
    result = linear_probe(encoder, _splits())
    assert result.test_accuracy is not None and result.test_accuracy > 0.9  # chance is 0.25
    assert result.train_accuracy > 0.9 and result.val_accuracy is not None
    assert result.weight_decay in (1e-4, 1e-3, 1e-2)
    assert (result.n_train, result.n_val, result.n_test, result.feature_dim) == (80, 40, 40, 16)


def test_probe_leaves_the_encoder_unchanged_and_in_its_mode() -> None:
    encoder = ResNetEncoder(1, [4, 8]).train()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    linear_probe(encoder, _splits(), weight_decays=[1e-3], max_iter=5)
    assert encoder.training
    for k, v in encoder.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_probe_on_constant_features_is_at_chance() -> None:
    class Constant(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.ones(x.shape[0], 3)

    result = linear_probe(Constant(), _splits(), weight_decays=[1e-3])
    assert result.test_accuracy == pytest.approx(0.25)


def test_fit_is_deterministic() -> None:
    g = torch.Generator().manual_seed(0)
    f, y = torch.randn(50, 5, generator=g), torch.randint(0, 3, (50,), generator=g)
    a, b = fit_linear(f, y, 3, 1e-3, 20), fit_linear(f, y, 3, 1e-3, 20)
    assert torch.equal(a.weight, b.weight)


def test_features_have_one_row_per_image() -> None:
    assert extract_features(ResNetEncoder(1, [4, 8]), torch.rand(7, 1, 16, 16), 3).shape == (7, 8)


def test_empty_validation_split_warns_and_uses_the_first_weight_decay() -> None:
    s = _splits()
    s.val = LabelledImages(torch.zeros(0, 1, 16, 16), torch.zeros(0, dtype=torch.int64))
    with pytest.warns(UserWarning, match="validation split is empty"):
        result = linear_probe(ResNetEncoder(1, [4, 8]), s, weight_decays=[1e-2, 1e-3], max_iter=5)
    assert result.weight_decay == 1e-2 and result.val_accuracy is None


def test_encoder_of_other_channels_and_size_is_refused_naming_the_fix() -> None:
    model = build_ssl_model(SSLModelConfig(widths=[4], proj_dim=4, image_size=32))
    with pytest.raises(
        ConfigError,
        match=r"encoder expects 1-channel 32x32 images, the data has 3 channels and 16x16 "
        r"images; set data.channels=1 and data.image_size=32",
    ):
        check_encoder_fits(model, _splits(channels=3), "e.safetensors")


def test_non_ssl_checkpoint_is_refused(tmp_path, tiny_classifier) -> None:
    save_model(tmp_path / "c.safetensors", tiny_classifier)
    with pytest.raises(CheckpointError, match="holds a 'resnet' model, not a self-supervised"):
        load_ssl_model(tmp_path / "c.safetensors")


def test_negative_weight_decay_is_refused() -> None:
    with pytest.raises(ConfigError, match="non-negative"):
        linear_probe(ResNetEncoder(1, [4]), _splits(), weight_decays=[-1.0])
