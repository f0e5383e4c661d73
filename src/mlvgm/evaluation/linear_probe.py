"""Linear evaluation of a self-supervised encoder: a linear classifier on frozen features.

The standard protocol of SimCLR, SimSiam and BYOL: the encoder is frozen, the
(B, D) features of the real labelled train split are standardised with the train
split's mean and deviation, and a multinomial logistic regression is fitted to
them (full batch, L-BFGS, weights starting at zero, so the fit is deterministic).
Its L2 weight decay is chosen among a few values by validation accuracy; the test
split is only scored. Without a validation split the first weight decay is used.

The papers fit the probe with SGD on augmented images; fitting on the features of
unaugmented images, as here, is the cheaper variant and reads a little lower.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlvgm.checkpoint import atomic_write_text, load_model, read_metadata
from mlvgm.config import to_dict
from mlvgm.data import DataConfig, ImageSplits, load_splits
from mlvgm.errors import CheckpointError, ConfigError
from mlvgm.ssl.models import METHODS, SSLModel
from mlvgm.training._loop import run_info

logger = logging.getLogger(__name__)

PROBE_FILE = "probe.json"


@dataclass
class ProbeResult:
    """Accuracies of a linear probe.

    Attributes:
        train_accuracy: on the train split it was fitted to.
        val_accuracy: on the validation split, None if it is empty.
        test_accuracy: on the test split, None if it is empty.
        weight_decay: the L2 weight decay chosen.
        feature_dim: D, the encoder's feature size.
        n_train: train images.
        n_val: validation images.
        n_test: test images.
    """

    train_accuracy: float
    val_accuracy: float | None
    test_accuracy: float | None
    weight_decay: float
    feature_dim: int
    n_train: int
    n_val: int
    n_test: int


@torch.no_grad()
def extract_features(encoder: nn.Module, images: Tensor, batch_size: int = 256) -> Tensor:
    """The encoder's features of every image, in eval mode, on the CPU.

    Args:
        encoder: maps (B, C, H, W) images in [0, 1] to (B, D) features.
        images: (N, C, H, W) in [0, 1].
        batch_size: images per forward pass.

    Returns:
        (N, D) float32 features.
    """
    was_training = encoder.training
    encoder.eval()
    device = next((p.device for p in encoder.parameters()), torch.device("cpu"))
    parts = [
        encoder(images[i : i + batch_size].to(device)).float().cpu()
        for i in range(0, images.shape[0], batch_size)
    ]
    encoder.train(was_training)
    return torch.cat(parts) if parts else torch.zeros(0, 0)


def fit_linear(
    features: Tensor, labels: Tensor, n_classes: int, weight_decay: float, max_iter: int = 200
) -> nn.Linear:
    """Multinomial logistic regression by full-batch L-BFGS, from zero weights.

    Minimises ``cross_entropy(W f + b, y) + weight_decay / 2 * ||W||^2``.

    Args:
        features: (N, D) standardised features.
        labels: (N,) class indices in ``0 .. n_classes - 1``.
        n_classes: K.
        weight_decay: the L2 coefficient, at least 0.
        max_iter: L-BFGS iterations.

    Returns:
        The fitted (D -> K) layer.
    """
    head = nn.Linear(features.shape[1], n_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    optimizer = torch.optim.LBFGS(
        head.parameters(), lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(head(features), labels)
        loss = loss + 0.5 * weight_decay * head.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return head.requires_grad_(False)


def _accuracy(head: nn.Linear, features: Tensor, labels: Tensor) -> float | None:
    if features.shape[0] == 0:
        return None
    return float((head(features).argmax(1) == labels).float().mean())


def linear_probe(
    encoder: nn.Module,
    splits: ImageSplits,
    *,
    weight_decays: Sequence[float] = (1e-4, 1e-3, 1e-2),
    max_iter: int = 200,
    batch_size: int = 256,
) -> ProbeResult:
    """Fit a linear classifier on the frozen ``encoder``'s features of ``splits``.

    Args:
        encoder: maps (B, C, H, W) images in [0, 1] to (B, D) features; left unchanged.
        splits: real labelled data; the train split is fitted, the validation split
            picks the weight decay, the test split is scored.
        weight_decays: the L2 coefficients to try.
        max_iter: L-BFGS iterations of each fit.
        batch_size: images per forward pass of the encoder.

    Returns:
        The accuracies of the probe with the chosen weight decay.

    Raises:
        ConfigError: if ``weight_decays`` is empty or holds a negative value.

    Warns:
        UserWarning: if the validation split is empty, so nothing chose the weight decay.
    """
    if not weight_decays or any(not 0 <= w < math.inf for w in weight_decays):
        raise ConfigError(
            f"weight_decays must be a non-empty list of finite non-negative numbers, "
            f"got {list(weight_decays)}"
        )
    feats = {
        name: extract_features(encoder, part.images, batch_size)
        for name, part in (("train", splits.train), ("val", splits.val), ("test", splits.test))
    }
    labels = {"train": splits.train.labels, "val": splits.val.labels, "test": splits.test.labels}

    # Standardise with the train split's statistics only.
    mean = feats["train"].mean(0)
    std = feats["train"].std(0).clamp_min(1e-6)
    feats = {k: (v - mean) / std if v.numel() else v for k, v in feats.items()}

    candidates = list(weight_decays) if len(splits.val) else [weight_decays[0]]
    if not len(splits.val) and len(weight_decays) > 1:
        warnings.warn(
            f"the validation split is empty; the probe uses weight decay {weight_decays[0]} "
            "unchosen",
            stacklevel=2,
        )
    best: tuple[float, float, nn.Linear] | None = None
    for wd in candidates:
        head = fit_linear(feats["train"], labels["train"], splits.n_classes, wd, max_iter)
        score = _accuracy(head, feats["val"], labels["val"]) or 0.0
        logger.info("probe weight decay %g: val accuracy %.4f", wd, score)
        if best is None or score > best[0]:
            best = (score, wd, head)
    assert best is not None
    _, wd, head = best
    train_accuracy = _accuracy(head, feats["train"], labels["train"])
    assert train_accuracy is not None  # the train split is never empty
    return ProbeResult(
        train_accuracy=train_accuracy,
        val_accuracy=_accuracy(head, feats["val"], labels["val"]),
        test_accuracy=_accuracy(head, feats["test"], labels["test"]),
        weight_decay=wd,
        feature_dim=int(feats["train"].shape[1]),
        n_train=len(splits.train),
        n_val=len(splits.val),
        n_test=len(splits.test),
    )


def load_ssl_model(path: str | Path) -> tuple[SSLModel, dict[str, str]]:
    """A model written by ``mlvgm train-ssl``, with its file's metadata.

    Raises:
        CheckpointError: if the file is missing or corrupt, or holds a model that is
            not self-supervised.
    """
    meta = read_metadata(path)
    arch = meta.get("mlvgm.architecture", "")
    if arch not in METHODS:
        what = f"a {arch!r} model" if arch else "no mlvgm model"
        raise CheckpointError(
            f"{path} holds {what}, not a self-supervised encoder ({', '.join(METHODS)}); "
            "give the ssl.safetensors written by mlvgm train-ssl"
        )
    model = load_model(path)
    assert isinstance(model, SSLModel)  # every METHODS entry is registered as one
    return model, meta


def check_encoder_fits(model: SSLModel, splits: ImageSplits, path: str | Path) -> None:
    """Check that the data has the channels and size the encoder was trained on.

    Raises:
        ConfigError: naming what differs and the ``data`` option that fixes it.
    """
    c, h, w = splits.image_shape
    want_c, want_s = model.in_channels, model.image_size
    problems, fixes = [], []
    if c != want_c:
        problems.append(f"{c} channels")
        fixes.append(f"data.channels={want_c}")
    if (h, w) != (want_s, want_s):
        problems.append(f"{h}x{w} images")
        fixes.append(f"data.image_size={want_s}")
    if problems:
        raise ConfigError(
            f"{path}: the encoder expects {want_c}-channel {want_s}x{want_s} images, the data "
            f"has {' and '.join(problems)}; set {' and '.join(fixes)}"
        )


@dataclass
class LinearEvalConfig:
    """Options of ``mlvgm linear-eval``.

    Attributes:
        data: the real labelled dataset: train fits, val picks the weight decay,
            test is reported.
        checkpoint: the ``ssl.safetensors`` of ``mlvgm train-ssl``.
        weight_decays: the probe's L2 coefficients to choose from.
        max_iter: L-BFGS iterations per fit.
        batch_size: images per forward pass of the encoder.
        out: results folder.

    Raises:
        ConfigError: on construction, naming the first option out of range.
    """

    data: DataConfig = field(default_factory=DataConfig)
    checkpoint: str = ""
    weight_decays: list[float] = field(default_factory=lambda: [1e-4, 1e-3, 1e-2])
    max_iter: int = 200
    batch_size: int = 256
    out: str = "runs/linear-eval"

    def __post_init__(self) -> None:
        if not self.weight_decays or any(not 0 <= w < math.inf for w in self.weight_decays):
            raise ConfigError(
                f"weight_decays must be a non-empty list of finite non-negative numbers, "
                f"got {self.weight_decays}"
            )
        for name in ("max_iter", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")


def run_linear_eval(cfg: LinearEvalConfig) -> dict[str, Any]:
    """Probe the encoder of ``cfg.checkpoint`` on ``cfg.data``; writes ``probe.json``.

    Returns:
        The record written: method, source, checkpoint, accuracies, image counts, the
        SSL run's config (from the checkpoint) and this run's traceability record.

    Raises:
        ConfigError: if no checkpoint is given or the data does not fit the encoder.
        CheckpointError: if the checkpoint is unreadable or not self-supervised.
        DataError: if the data cannot be loaded.
    """
    if not cfg.checkpoint:
        raise ConfigError("checkpoint is required: the ssl.safetensors written by mlvgm train-ssl")
    started = time.time()
    model, meta = load_ssl_model(cfg.checkpoint)
    splits = load_splits(cfg.data)
    check_encoder_fits(model, splits, cfg.checkpoint)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    result = linear_probe(
        model.encoder,
        splits,
        weight_decays=cfg.weight_decays,
        max_iter=cfg.max_iter,
        batch_size=cfg.batch_size,
    )
    ssl_run = json.loads(meta["mlvgm.run"]) if "mlvgm.run" in meta else None
    record = {
        "method": model.method,
        "source": meta.get("mlvgm.source"),
        "mode": meta.get("mlvgm.mode") or None,
        "checkpoint": str(cfg.checkpoint),
        "checkpoint_sha256": hashlib.sha256(Path(cfg.checkpoint).read_bytes()).hexdigest(),
        "data": splits.name,
        "n_images": {"train": result.n_train, "val": result.n_val, "test": result.n_test},
        **{k: v for k, v in asdict(result).items() if not k.startswith("n_")},
        "ssl_run": ssl_run,
        "seconds": round(time.time() - started, 2),
        "run": run_info(to_dict(cfg)),
    }
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / PROBE_FILE, json.dumps(record, indent=2) + "\n")
    return record
