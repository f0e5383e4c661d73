"""Training the classifier that the purifiers defend."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import kornia.augmentation as K
import torch
from torch import nn

from mlvgm.checkpoint import file_sha256, load_model, save_model
from mlvgm.config import to_dict
from mlvgm.data import DataConfig, load_splits
from mlvgm.errors import CheckpointError, ConfigError
from mlvgm.models.classifier import ClassifierConfig, ResNetClassifier
from mlvgm.training._loop import (
    run_epochs,
    shuffled_batches,
    steps_per_epoch,
)
from mlvgm.training.trades import check_trades_options, trades_loss


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
        init: a ``resnet`` checkpoint to start from instead of a random
            initialisation ("" for none); its architecture must be the one this
            run builds (``model.widths``, and channels, size and classes of the
            data). The learning-rate schedule still starts at ``lr``.
        trades: train with the TRADES objective (Zhang et al., 2019; see
            :mod:`mlvgm.training.trades`) under an L2 bound instead of plain
            cross-entropy; the inner maximisation sees the augmented batch.
        trades_beta: weight of TRADES' robustness term, at least 0.
        trades_eps: L2 radius of TRADES' inner maximisation.
        trades_steps: its projected ascent steps.
        trades_step_size: the L2 length of each; the default, eps / 5 over 10
            steps, lets the iterate travel 2 eps in all.

    Raises:
        ConfigError: on construction, naming the first option out of range.
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
    init: str = ""
    trades: bool = False
    trades_beta: float = 6.0
    trades_eps: float = 1.5
    trades_steps: int = 10
    trades_step_size: float = 0.3

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be at least 1")
        if not 0 < self.lr < 10:
            raise ConfigError(f"lr must lie in (0, 10), got {self.lr}")
        check_trades_options(
            self.trades_eps, self.trades_steps, self.trades_step_size, self.trades_beta
        )


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
    ``config.json`` to ``cfg.out``. Starts from ``cfg.init`` when given; a resumed
    run continues from ``cfg.out`` instead, and is refused if the init file changed.

    Returns:
        The trained model in eval mode.

    Raises:
        CheckpointError: if ``cfg.init`` is unreadable or does not fit the run, or
            ``cfg.out`` holds a run of another config.
        DataError: if the data cannot be loaded.
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
    model = _initial_model(cfg.init, model_cfg)
    train = splits.train
    val = splits.val if len(splits.val) else splits.train
    steps = steps_per_epoch(len(train), cfg.batch_size)
    total = steps * cfg.epochs
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
        metrics: dict[str, float] = {}
        if cfg.trades:
            loss, metrics = trades_loss(
                model,
                x,
                y,
                eps=cfg.trades_eps,
                steps=cfg.trades_steps,
                step_size=cfg.trades_step_size,
                beta=cfg.trades_beta,
            )
        else:
            loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), **metrics}

    def end_of_epoch(epoch: int) -> dict[str, float]:
        return {"val_accuracy": accuracy(model, val.images, val.labels)}

    run_epochs(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        epochs=cfg.epochs,
        step=step,
        batches=lambda e: shuffled_batches(len(train), cfg.batch_size, cfg.seed, e),
        steps_per_epoch=steps,
        end_of_epoch=end_of_epoch,
        out_dir=out,
        desc="train-classifier",
        resolved={**to_dict(cfg), "init_sha256": _sha256(cfg.init)},
        seed=cfg.seed,
        progress=progress,
    )
    save_model(out / "classifier.safetensors", model, data=splits.name)
    return model


def _initial_model(init: str, model_cfg: ClassifierConfig) -> ResNetClassifier:
    """A fresh :class:`ResNetClassifier`, or the one saved at ``init`` when given.

    Raises:
        CheckpointError: if ``init`` is unreadable, not a ``resnet`` checkpoint, or
            of another architecture than ``model_cfg``.
    """
    if not init:
        return ResNetClassifier(model_cfg)
    model = load_model(init, expect="resnet")
    assert isinstance(model, ResNetClassifier)
    have, want = dataclasses.asdict(model.config), dataclasses.asdict(model_cfg)
    diff = [k for k in want if have[k] != want[k]]
    if diff:
        found = ", ".join(f"{k}={have[k]} where this run needs {want[k]}" for k in diff)
        fix = (
            f"set model.widths={have['widths']}"
            if diff == ["widths"]
            else "fine-tune it on data with its channels, image size and classes"
        )
        raise CheckpointError(f"init checkpoint {init} does not fit this run: {found}; {fix}")
    return model


def _sha256(path: str) -> str:
    """The SHA-256 of a file, or "" for no path; ties a resumable run to its init weights."""
    return file_sha256(path) if path else ""
