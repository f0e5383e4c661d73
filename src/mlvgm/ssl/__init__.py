"""Self-supervised learning: contrastive and non-contrastive losses (SimCLR, SimSiam, BYOL)."""

from mlvgm.ssl.losses import InfoNCE, NTXent, byol_loss, ema_update, nt_xent, simsiam_loss

__all__ = ["InfoNCE", "NTXent", "byol_loss", "ema_update", "nt_xent", "simsiam_loss"]
