"""Self-supervised models: a ResNet encoder with the heads of SimCLR, SimSiam or BYOL.

- SimCLR (Chen et al., ICML 2020): encoder ``f``, projector ``g``; NT-Xent on
  ``z = g(f(x))`` of the two views.
- SimSiam (Chen & He, CVPR 2021): encoder and projector ``z = g(f(x))``, predictor
  ``p = h(z)``; symmetric negative cosine between each ``p`` and the other view's
  ``z`` under stop-gradient.
- BYOL (Grill et al., NeurIPS 2020): online encoder, projector and predictor; a
  target encoder and projector ``xi`` that follow the online ``theta`` by an
  exponential moving average ``xi <- m xi + (1 - m) theta`` after each step.

The three share one interface: ``model(x1, x2)`` (or :meth:`SSLModel.loss`) gives
the loss of a batch of view pairs, :meth:`SSLModel.after_step` runs after each
optimiser step, and ``model.encoder`` is the backbone whose (B, D) features a
linear probe reads. The encoder is :class:`mlvgm.models.classifier.ResNetEncoder`,
scaled down from the ResNet-50 of the papers.

Known simplifications: BYOL's momentum is constant (the paper raises it from
0.996 to 1 over training); the heads have one hidden layer whose width is the
encoder's D (the papers use 2048 to 4096 units).
"""

from __future__ import annotations

import abc
import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from mlvgm._checks import check_positive
from mlvgm.errors import ConfigError, InputError
from mlvgm.ssl.losses import byol_loss, ema_update, nt_xent, simsiam_loss

if TYPE_CHECKING:
    from mlvgm.models.classifier import ResNetEncoder

#: the method names accepted by :class:`SSLModelConfig`
METHODS: tuple[str, ...] = ("simclr", "simsiam", "byol")


@dataclass
class SSLModelConfig:
    """Architecture and loss options of a self-supervised model.

    Attributes:
        method: ``simclr``, ``simsiam`` or ``byol``.
        widths: channels of the encoder's stages; D, the feature size, is the last.
        proj_dim: output size of the projector.
        pred_dim: hidden size of the predictor (SimSiam and BYOL).
        temperature: NT-Xent temperature tau (SimCLR).
        ema: BYOL's target momentum m in [0, 1).
        in_channels: image channels C.
        image_size: image side H = W the encoder was trained on.

    Raises:
        ConfigError: on construction, naming the first option out of range.
    """

    method: str = "simclr"
    widths: list[int] = field(default_factory=lambda: [32, 64, 128])
    proj_dim: int = 128
    pred_dim: int = 64
    temperature: float = 0.1
    ema: float = 0.996
    in_channels: int = 1
    image_size: int = 32

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(
                f"unknown self-supervised method {self.method!r}; known: {', '.join(METHODS)}"
            )
        if not self.widths or any(isinstance(w, bool) or w < 1 for w in self.widths):
            raise ConfigError(f"model.widths must be positive channel counts, got {self.widths}")
        for name in ("proj_dim", "pred_dim", "in_channels", "image_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"model.{name} must be a positive integer, got {value!r}")
        check_positive(self.temperature, "model.temperature")
        if isinstance(self.ema, bool) or not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"model.ema must lie in [0, 1), got {self.ema!r}")


def mlp(d_in: int, d_hidden: int, d_out: int, out_norm: bool = False) -> nn.Sequential:
    """Linear, batch norm, ReLU, linear (and a final batch norm with ``out_norm``)."""
    layers: list[nn.Module] = [
        nn.Linear(d_in, d_hidden, bias=False),
        nn.BatchNorm1d(d_hidden),
        nn.ReLU(),
        nn.Linear(d_hidden, d_out, bias=not out_norm),
    ]
    if out_norm:
        layers.append(nn.BatchNorm1d(d_out, affine=False))
    return nn.Sequential(*layers)


def _encoder(cfg: SSLModelConfig) -> ResNetEncoder:
    # Imported here, not at the top: mlvgm.models imports this module to register
    # the self-supervised architectures.
    from mlvgm.models.classifier import ResNetEncoder

    return ResNetEncoder(cfg.in_channels, list(cfg.widths))


class SSLModel(nn.Module, abc.ABC):
    """The shared interface of :class:`SimCLR`, :class:`SimSiam` and :class:`BYOL`.

    ``forward(x1, x2)`` is the loss itself, so that a ``DistributedDataParallel``
    wrapper sees the whole optimised computation.

    Args:
        config: the architecture; its ``method`` must be the class's.

    Raises:
        ConfigError: if ``config.method`` names another method.
    """

    #: the ``method`` this class implements
    method: str = ""

    def __init__(self, config: SSLModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or SSLModelConfig(method=self.method)
        if self.config.method != self.method:
            raise ConfigError(
                f"{type(self).__name__} needs method={self.method!r}, "
                f"got {self.config.method!r}; build it with build_ssl_model"
            )
        self.in_channels = self.config.in_channels
        self.image_size = self.config.image_size
        self.encoder = _encoder(self.config)

    @property
    def feature_dim(self) -> int:
        """D, the size of the encoder's features."""
        return int(self.encoder.out_dim)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        """The loss of a batch of view pairs; see :meth:`loss`."""
        self._check_views(x1, x2)
        return self._loss(x1, x2)

    def loss(self, x1: Tensor, x2: Tensor) -> Tensor:
        """The self-supervised loss of two views of each image.

        Args:
            x1: (B, C, H, W) first views in [0, 1], B >= 2.
            x2: (B, C, H, W) second views, row i a view of the same image as ``x1[i]``.

        Returns:
            () the loss, differentiable with respect to the trainable parameters.

        Raises:
            InputError: if the views differ in shape, have the wrong channel count, or
                B < 2.
        """
        return self(x1, x2)

    def after_step(self) -> None:
        """Update what follows the optimised weights (BYOL's target); a no-op here."""

    @abc.abstractmethod
    def _loss(self, x1: Tensor, x2: Tensor) -> Tensor:
        """The method's loss on two checked batches of views."""

    def _check_views(self, x1: Tensor, x2: Tensor) -> None:
        for name, x in (("x1", x1), ("x2", x2)):
            if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
                shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise InputError(
                    f"{name} must have shape (B, {self.in_channels}, H, W), got {shape}"
                )
        if x1.shape != x2.shape:
            raise InputError(
                f"x1 and x2 must have the same shape, got {tuple(x1.shape)} and {tuple(x2.shape)}"
            )
        if x1.shape[0] < 2:
            raise InputError(f"a batch of views needs at least 2 images, got {x1.shape[0]}")


class SimCLR(SSLModel):
    """SimCLR: NT-Xent between the projections of two views.

    Args:
        config: the architecture, ``method="simclr"``.
    """

    method = "simclr"

    def __init__(self, config: SSLModelConfig | None = None) -> None:
        super().__init__(config)
        d = self.feature_dim
        self.projector = mlp(d, d, self.config.proj_dim)

    def _loss(self, x1: Tensor, x2: Tensor) -> Tensor:
        z1 = self.projector(self.encoder(x1))  # (B, proj_dim)
        z2 = self.projector(self.encoder(x2))  # (B, proj_dim)
        return nt_xent(z1, z2, self.config.temperature)


class SimSiam(SSLModel):
    """SimSiam: a predictor regresses the other view's projection, stop-gradient on it.

    Args:
        config: the architecture, ``method="simsiam"``.
    """

    method = "simsiam"

    def __init__(self, config: SSLModelConfig | None = None) -> None:
        super().__init__(config)
        d, c = self.feature_dim, self.config
        # SimSiam ends its projector with batch norm; its predictor has a bottleneck.
        self.projector = mlp(d, d, c.proj_dim, out_norm=True)
        self.predictor = mlp(c.proj_dim, c.pred_dim, c.proj_dim)

    def _loss(self, x1: Tensor, x2: Tensor) -> Tensor:
        z1 = self.projector(self.encoder(x1))  # (B, proj_dim)
        z2 = self.projector(self.encoder(x2))
        return simsiam_loss(self.predictor(z1), z1, self.predictor(z2), z2)


class BYOL(SSLModel):
    """BYOL: the online network predicts a slowly moving target's projection.

    Args:
        config: the architecture, ``method="byol"``; ``config.ema`` is the momentum.
    """

    method = "byol"

    def __init__(self, config: SSLModelConfig | None = None) -> None:
        super().__init__(config)
        d, c = self.feature_dim, self.config
        self.projector = mlp(d, d, c.proj_dim)
        self.predictor = mlp(c.proj_dim, c.pred_dim, c.proj_dim)
        # The target starts as a copy of the online encoder and projector and is
        # never optimised: only after_step moves it.
        self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
        self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)

    def _loss(self, x1: Tensor, x2: Tensor) -> Tensor:
        p1 = self.predictor(self.projector(self.encoder(x1)))  # (B, proj_dim)
        p2 = self.predictor(self.projector(self.encoder(x2)))
        with torch.no_grad():
            t1 = self.target_projector(self.target_encoder(x1))  # (B, proj_dim)
            t2 = self.target_projector(self.target_encoder(x2))
        return byol_loss(p1, t2, p2, t1)

    @torch.no_grad()
    def after_step(self) -> None:
        """Move the target towards the online network by ``config.ema``."""
        ema_update(self.target_encoder, self.encoder, self.config.ema)
        ema_update(self.target_projector, self.projector, self.config.ema)


#: the class of each method
SSL_MODELS: dict[str, type[SSLModel]] = {"simclr": SimCLR, "simsiam": SimSiam, "byol": BYOL}


def build_ssl_model(config: SSLModelConfig) -> SSLModel:
    """The model of ``config.method``, freshly initialised."""
    return SSL_MODELS[config.method](config)
