"""Tests of the image-space augmentation presets."""

from __future__ import annotations

import pytest
import torch

from mlvgm.errors import ConfigError, InputError
from mlvgm.views import PRESETS, make_augmentation


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_keeps_shape_and_range(preset: str, channels: int) -> None:
    torch.manual_seed(0)
    x = torch.rand(4, channels, 32, 32)
    y = make_augmentation(preset, 32, channels)(x)
    assert y.shape == x.shape
    assert y.min() >= 0.0 and y.max() <= 1.0


@pytest.mark.parametrize("channels", [1, 3])
def test_simclr_preset_changes_images(channels: int) -> None:
    torch.manual_seed(0)
    x = torch.rand(4, channels, 32, 32)
    assert not torch.equal(make_augmentation("simclr", 32, channels)(x), x)


def test_none_is_identity() -> None:
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(make_augmentation("none", 32, 3)(x), x)


def test_unknown_preset_raises_listing_known() -> None:
    with pytest.raises(ConfigError, match="simclr"):
        make_augmentation("autoaugment", 32, 3)


@pytest.mark.parametrize(("size", "channels"), [(0, 3), (32, 2)])
def test_bad_size_or_channels_raise(size: int, channels: int) -> None:
    with pytest.raises(ConfigError):
        make_augmentation("simclr", size, channels)


def test_wrong_channel_count_raises() -> None:
    with pytest.raises(InputError):
        make_augmentation("simclr", 32, 3)(torch.rand(4, 1, 32, 32))
