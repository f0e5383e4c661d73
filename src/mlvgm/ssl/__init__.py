"""Self-supervised learning: losses and models of SimCLR, SimSiam and BYOL."""

from mlvgm.ssl.losses import InfoNCE, NTXent, byol_loss, ema_update, nt_xent, simsiam_loss
from mlvgm.ssl.models import (
    BYOL,
    METHODS,
    SSL_MODELS,
    SimCLR,
    SimSiam,
    SSLModel,
    SSLModelConfig,
    build_ssl_model,
)

__all__ = [
    "BYOL",
    "METHODS",
    "SSL_MODELS",
    "InfoNCE",
    "NTXent",
    "SSLModel",
    "SSLModelConfig",
    "SimCLR",
    "SimSiam",
    "build_ssl_model",
    "byol_loss",
    "ema_update",
    "nt_xent",
    "simsiam_loss",
]
