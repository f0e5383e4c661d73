"""Training the hierarchical VAE: ELBO with KL warm-up and NVAE's KL balancing.

Loss per image (nats): ``-log p(x | z) + beta * sum_i c_i KL_i`` with ``beta`` ramping
from 0 to 1 over the warm-up and, during the warm-up only, balancing coefficients
``c_i`` proportional to each group's average KL per dimension (Vahdat and Kautz,
NVAE, 2020), so that no group is switched off early: a group whose KL is large
is pushed down, a collapsing one is spared. After the warm-up ``c_i = 1`` and the
objective is the plain ELBO.

Optionally (``prior_dropout > 0``) a training image keeps its posterior codes
only down to a random level and takes prior draws below it, without their KL:
the decoder must then draw the image's identity from the coarse groups alone,
which is what purification relies on when it re-samples the fine ones.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mlvgm.checkpoint import save_model
from mlvgm.config import to_dict
from mlvgm.data import DataConfig, load_splits
from mlvgm.errors import ConfigError
from mlvgm.models.hvae import HierarchicalVAE, HVAEConfig
from mlvgm.training._loop import (
    run_epochs,
    shuffled_batches,
    steps_per_epoch,
)


@dataclass
class TrainMLVGMConfig:
    """Options of ``mlvgm train-mlvgm``.

    Attributes:
        data: the dataset.
        model: the architecture.
        epochs: passes over the train split.
        batch_size: images per step.
        lr: peak Adam learning rate (cosine decay to 1 % of it).
        kl_warmup: fraction of the steps over which beta ramps from 0 to 1.
        kl_balance: balance the KL across groups during the warm-up.
        prior_dropout: probability that an image's fine groups are taken from the prior
            (ignored for a single-group model, which has no fine groups).
        denoise_l2: if positive, the encoder sees the image plus Gaussian noise of L2
            norm uniform in [0, denoise_l2] (clamped to [0, 1]) and the decoder must
            reconstruct the clean image (a denoising VAE), so that noise added before
            encoding at purification time is removed rather than encoded.
        seed: seed of initialisation, batching and sampling.
        out: output folder (checkpoints, metrics, samples).
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: HVAEConfig = field(default_factory=HVAEConfig)
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    kl_warmup: float = 0.3
    kl_balance: bool = True
    prior_dropout: float = 0.5
    denoise_l2: float = 5.0
    seed: int = 0
    out: str = "runs/mlvgm"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be at least 1")
        if not 0 < self.lr < 1:
            raise ConfigError(f"lr must lie in (0, 1), got {self.lr}")
        if not 0 <= self.kl_warmup <= 1 or not 0 <= self.prior_dropout < 1:
            raise ConfigError("kl_warmup must lie in [0, 1] and prior_dropout in [0, 1)")
        if self.denoise_l2 < 0:
            raise ConfigError(f"denoise_l2 must not be negative, got {self.denoise_l2}")


def kl_balance_coefficients(kl: torch.Tensor, dims: torch.Tensor) -> torch.Tensor:
    """NVAE's balancing coefficients ``c_i``, mean 1 over groups.

    Args:
        kl: (B, L) KL of each group.
        dims: (L,) number of dimensions of each group.

    Returns:
        (L,) detached coefficients proportional to each group's mean KL per dimension
        (floored so that a collapsed group keeps a small weight).
    """
    per_dim = kl.detach().mean(0) / dims + 0.01  # (L,)
    return per_dim / per_dim.mean()


def elbo_terms(
    model: HierarchicalVAE,
    x: torch.Tensor,
    keep: torch.Tensor | None = None,
    x_in: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconstruction NLL (B,) of ``x`` and per-group KL (B, L) in nats, Bernoulli likelihood.

    ``x_in`` is what the encoder sees (a corrupted ``x`` for denoising), ``x`` by default.
    """
    out = model(x if x_in is None else x_in, keep)
    nll = nn.functional.binary_cross_entropy_with_logits(out.logits, x, reduction="none")
    return nll.flatten(1).sum(1), out.kl


def random_keep_mask(
    batch: int, n_latents: int, p: float, g: torch.Generator | None = None
) -> torch.Tensor:
    """(B, L) bool: with probability ``p`` an image keeps only groups ``< k``, k in 1..L-1."""
    cut = torch.randint(1, max(n_latents, 2), (batch,), generator=g)
    cut = torch.where(torch.rand(batch, generator=g) < p, cut, torch.full_like(cut, n_latents))
    return torch.arange(n_latents).unsqueeze(0) < cut.unsqueeze(1)  # (B, L)


@torch.no_grad()
def evaluate_elbo(model: HierarchicalVAE, images: torch.Tensor, batch: int = 250) -> dict[str, Any]:
    """Mean NLL, KL per group and negative ELBO (nats per image) on ``images``."""
    model.eval()
    nll_sum, kl_sum, n = 0.0, torch.zeros(model.n_latents), 0
    for start in range(0, images.shape[0], batch):
        x = images[start : start + batch]
        nll, kl = elbo_terms(model, x)
        nll_sum += float(nll.sum())
        kl_sum += kl.sum(0)
        n += x.shape[0]
    kl_mean = (kl_sum / max(n, 1)).tolist()
    return {
        "nll": nll_sum / max(n, 1),
        "kl": kl_mean,
        "neg_elbo": nll_sum / max(n, 1) + sum(kl_mean),
    }


def train_mlvgm(cfg: TrainMLVGMConfig, progress: bool = True) -> HierarchicalVAE:
    """Train a hierarchical VAE on ``cfg.data``'s train split; resumes from ``cfg.out``.

    Writes ``hvae.safetensors``, ``metrics.jsonl``, ``state.pt``, ``config.json`` and
    ``samples.png`` to ``cfg.out``.

    Returns:
        The trained model in eval mode.
    """
    from mlvgm.evaluation.figures import save_image_grid

    out = Path(cfg.out)
    splits = load_splits(cfg.data)
    model_cfg = dataclasses.replace(
        cfg.model, in_channels=cfg.data.channels, image_size=cfg.data.image_size
    )
    torch.manual_seed(cfg.seed)
    model = HierarchicalVAE(model_cfg)
    train_x = splits.train.images
    val_x = splits.val.images if len(splits.val) else train_x[:500]
    steps = steps_per_epoch(len(train_x), cfg.batch_size)
    total = steps * cfg.epochs
    warmup = max(1, int(cfg.kl_warmup * total))
    dims = torch.tensor([math.prod(s) for s in model.latent_shapes()], dtype=torch.float32)
    optimizer = torch.optim.Adamax(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(s / total, 1.0)))
    )

    def step(global_step: int, idx: torch.Tensor) -> dict[str, float]:
        x = train_x[idx]
        keep = None
        if cfg.prior_dropout > 0 and model.n_latents > 1:  # a single group has no fine part
            keep = random_keep_mask(len(idx), model.n_latents, cfg.prior_dropout)
        x_in = None
        if cfg.denoise_l2 > 0:
            norm = cfg.denoise_l2 * torch.rand(x.shape[0], 1, 1, 1)  # (B, 1, 1, 1)
            noise = torch.randn_like(x)
            noise = noise * norm / noise.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            x_in = (x + noise).clamp(0, 1)
        nll, kl = elbo_terms(model, x, keep, x_in)
        beta = min(1.0, (global_step + 1) / warmup)
        coeff = kl_balance_coefficients(kl, dims) if cfg.kl_balance and beta < 1 else 1.0
        loss = (nll + beta * (kl * coeff).sum(1)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 200.0)
        optimizer.step()
        return {"loss": loss.item(), "nll": nll.mean().item(), "kl": kl.sum(1).mean().item()}

    def end_of_epoch(epoch: int) -> dict[str, float]:
        ev = evaluate_elbo(model, val_x)
        record = {"val_nll": ev["nll"], "val_neg_elbo": ev["neg_elbo"]}
        record.update({f"val_kl_{i}": v for i, v in enumerate(ev["kl"])})
        return record

    run_epochs(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        epochs=cfg.epochs,
        step=step,
        batches=lambda e: shuffled_batches(len(train_x), cfg.batch_size, cfg.seed, e),
        steps_per_epoch=steps,
        end_of_epoch=end_of_epoch,
        out_dir=out,
        desc="train-mlvgm",
        resolved=to_dict(cfg),
        seed=cfg.seed,
        progress=progress,
    )
    save_model(out / "hvae.safetensors", model, data=splits.name)
    g = torch.Generator().manual_seed(cfg.seed)
    with torch.no_grad():
        samples = model.sample(64, temperature=0.8, generator=g)
    save_image_grid(out / "samples.png", samples, nrow=8)
    return model
