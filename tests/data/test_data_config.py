"""DataConfig: defaults, each rejected option, and building it from a YAML-like mapping."""

from __future__ import annotations

from typing import Any

import pytest

from mlvgm.config import from_mapping
from mlvgm.data import DataConfig
from mlvgm.errors import ConfigError


def test_defaults_are_valid() -> None:
    cfg = DataConfig()
    assert (cfg.source, cfg.image_size, cfg.channels, cfg.split) == (
        "mnist",
        32,
        1,
        [4000, 500, 500],
    )
    assert not cfg.split_is_fractional()


def test_default_split_is_not_shared_between_instances() -> None:
    a, b = DataConfig(), DataConfig()
    a.split[0] = 1
    assert b.split == [4000, 500, 500]


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"source": "cifar"}, "data.source"),
        ({"source": "folder"}, "data.path is required"),
        ({"source": "npz", "path": ""}, "data.path is required"),
        ({"image_size": 0}, "data.image_size"),
        ({"image_size": 32.0}, "data.image_size"),
        ({"channels": 2}, "data.channels"),
        ({"channels": True}, "data.channels"),
        ({"split": [4000, 500]}, "three sizes"),
        ({"split": [4000, -1, 500]}, "negative"),
        ({"split": [0.8, 0.2, 0.1]}, "sum to at most 1"),
        ({"split": [40.0, 5, 5]}, "fractions must lie in [0, 1]"),
        ({"split": [0, 500, 500]}, "train set"),
        ({"split": ["a", 1, 1]}, "numbers"),
        ({"split": [float("nan"), 0.1, 0.1]}, "numbers"),
        ({"seed": -1}, "data.seed"),
    ],
)
def test_bad_option_raises_config_error_naming_it(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        DataConfig(**options)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_validate_catches_edits_after_construction() -> None:
    cfg = DataConfig()
    cfg.channels = 4
    with pytest.raises(ConfigError, match=r"data.channels"):
        cfg.validate()


def test_fractions_from_a_mapping_stay_fractions_and_counts_stay_counts() -> None:
    frac = from_mapping(DataConfig, {"source": "npz", "path": "d.npz", "split": [0.8, 0.1, 0]})
    assert frac.split == [0.8, 0.1, 0.0]
    assert frac.split_is_fractional()
    counts = from_mapping(DataConfig, {"split": [100, 10, 10]})
    assert counts.split == [100, 10, 10]
    assert all(isinstance(v, int) for v in counts.split)
