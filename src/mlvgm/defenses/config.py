"""A defence named in a config file, and how to build it.

The same :class:`DefenseConfig` serves ``mlvgm evaluate`` and the alpha search's
output, so a learned schedule is just another config.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from mlvgm.defenses.purifier import Purifier
from mlvgm.defenses.schedules import AlphaSchedule
from mlvgm.errors import ConfigError
from mlvgm.models.base import MLVGM

#: defence kinds; the first three need no generative model
KINDS = ("undefended", "noise", "blur", "reconstruction", "mlvgm")


@dataclass
class DefenseConfig:
    """One defence in front of the classifier.

    Attributes:
        kind: ``undefended`` (the classifier alone), ``noise`` (fixed-norm Gaussian
            noise only), ``blur`` (Gaussian blur only), ``reconstruction`` (the MLVGM
            with every alpha 0) or ``mlvgm`` (re-sampling with ``schedule``).
        schedule: the alpha schedule of ``mlvgm``.
        temperature: temperature of the prior draws.
        noise_l2: L2 norm of the noise added before encoding (0 for none; required
            for ``noise``).
        blur_sigma: Gaussian blur before encoding (0 for none; required for ``blur``).
    """

    kind: str = "mlvgm"
    schedule: AlphaSchedule = field(default_factory=AlphaSchedule)
    temperature: float = 1.0
    noise_l2: float = 0.0
    blur_sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown defense {self.kind!r}; known: {', '.join(KINDS)}")
        if self.noise_l2 < 0 or self.blur_sigma < 0:
            raise ConfigError("noise_l2 and blur_sigma must not be negative (0 switches off)")
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be positive, got {self.temperature}")
        if self.kind == "noise" and self.noise_l2 == 0:
            raise ConfigError("a noise defense needs noise_l2 > 0")
        if self.kind == "blur" and self.blur_sigma == 0:
            raise ConfigError("a blur defense needs blur_sigma > 0")

    @property
    def needs_mlvgm(self) -> bool:
        """Whether building this defence needs a generative model."""
        return self.kind in ("reconstruction", "mlvgm")

    def alphas(self, n_latents: int) -> list[float]:
        """The L alphas this defence uses (all 0 for ``reconstruction``)."""
        if self.kind == "reconstruction":
            return [0.0] * n_latents
        return self.schedule.resolve(n_latents)

    def build(self, classifier: nn.Module, mlvgm: MLVGM | None) -> Purifier:
        """The defended classifier.

        Raises:
            ConfigError: if the defence needs an MLVGM and none is given, or the
                alphas do not fit it.
        """
        noise = self.noise_l2 or None
        blur = self.blur_sigma or None
        if self.kind == "undefended":
            return Purifier(None, classifier)
        if not self.needs_mlvgm:
            return Purifier(None, classifier, noise_l2=noise, blur_sigma=blur)
        if mlvgm is None:
            raise ConfigError(f"the {self.kind!r} defense needs an MLVGM checkpoint (mlvgm: PATH)")
        alphas = self.alphas(mlvgm.n_latents)
        return Purifier(mlvgm, classifier, alphas, self.temperature, blur, noise)
