"""Training the classifier that the purifiers defend."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import kornia.augmentation as K
import torch
from torch import nn

from mlvgm.checkpoint import save_model
from mlvgm.config import to_dict
from mlvgm.data import DataConfig, load_splits
from mlvgm.errors import ConfigError
from mlvgm.models.classifier import ClassifierConfig, ResNetClassifier
from mlvgm.training._loop import (
    config_fingerprint,
    run_epochs,
    shuffled_batches,
    write_run_info,
)


@dataclass
class TrainClassifierConfig:
    """Options of ``mlvgm train-classifier``.

    Attributes:
        data: the dataset.
        model: the architecture (channels, size and classes follow the data).
        epochs: passes over the train split.
        batch_size: images per step.
        lr: peak SGD learning rate (Nesterov momentum 0.9, cosine decay).
        weight_decay: L2 weight decay.
        augment: random affine jitter (rotation 10 degrees, shift 2 px, scale 0.9-1.1).
        seed: seed of initialisation, batching and augmentation.
        out: output folder.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    epochs: int = 15
    batch_size: int = 64
    lr: float = 0.05
    weight_decay: float = 5e-4
    augment: bool = True
    seed: int = 0
    out: str = "runs/classifier"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be at least 1")
        if not 0 < self.lr < 10:
            raise ConfigError(f"lr must lie in (0, 10), got {self.lr}")


@torch.no_grad()
def accuracy(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 500
) -> float:
    """Top-1 accuracy of ``model`` on (N, C, H, W) ``images`` with (N,) ``labels``."""
    model.eval()
    correct = 0
    for start in range(0, images.shape[0], batch):
        logits = model(images[start : start + batch])
        correct += int((logits.argmax(1) == labels[start : start + batch]).sum())
    return correct / max(images.shape[0], 1)


def train_classifier(cfg: TrainClassifierConfig, progress: bool = True) -> ResNetClassifier:
    """Train a :class:`ResNetClassifier` on ``cfg.data``; resumes from ``cfg.out``.

    Writes ``classifier.safetensors``, ``metrics.jsonl``, ``state.pt`` and
    ``config.json`` to ``cfg.out``.

    Returns:
        The trained model in eval mode.
    """
    out = Path(cfg.out)
    splits = load_splits(cfg.data)
    model_cfg = dataclasses.replace(
        cfg.model,
        in_channels=cfg.data.channels,
        image_size=cfg.data.image_size,
        n_classes=splits.n_classes,
    )
    torch.manual_seed(cfg.seed)
    model = ResNetClassifier(model_cfg)
    train = splits.train
    val = splits.val if len(splits.val) else splits.train
    steps_per_epoch = len(train) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / total, 1.0)))
    )
    jitter = K.RandomAffine(degrees=10.0, translate=(0.0625, 0.0625), scale=(0.9, 1.1), p=1.0)

    def step(global_step: int, idx: torch.Tensor) -> dict[str, float]:
        x, y = train.images[idx], train.labels[idx]
        if cfg.augment:
            x = jitter(x).clamp(0, 1)
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item()}

    def end_of_epoch(epoch: int) -> dict[str, float]:
        return {"val_accuracy": accuracy(model, val.images, val.labels)}

    write_run_info(out, to_dict(cfg))
    run_epochs(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        epochs=cfg.epochs,
        step=step,
        batches=lambda e: shuffled_batches(len(train), cfg.batch_size, cfg.seed, e),
        steps_per_epoch=steps_per_epoch,
        end_of_epoch=end_of_epoch,
        out_dir=out,
        desc="train-classifier",
        fingerprint=config_fingerprint(to_dict(cfg)),
        seed=cfg.seed,
        progress=progress,
    )
    save_model(out / "classifier.safetensors", model, data=splits.name)
    return model
