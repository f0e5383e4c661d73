"""Self-supervised training (SimCLR, SimSiam, BYOL) on real or generated positive views.

One run trains one :mod:`mlvgm.ssl.models` model on the view pairs of one
:mod:`mlvgm.views.sources` source, with SGD (momentum 0.9) or AdamW and a cosine
learning-rate decay per step, and writes to its folder:

- ``ssl.safetensors``: the model, its metadata naming the method, the source and
  the run's resolved config (read back by ``mlvgm linear-eval``);
- ``metrics.jsonl``: per epoch, the mean loss, the epoch's seconds and its view
  pairs per second (the first epoch of an ``offline`` source includes making the set);
- ``loss.png``: the loss curve; ``config.json``: the run's traceability record;
- ``state.pt``: the resumable state; ``views.safetensors``: the ``offline`` set.

Rerunning the same command resumes; a folder holding another config is refused.

Under ``torchrun --nproc_per_node=N`` the model is wrapped in
``DistributedDataParallel``; every process makes its own views from its own
random streams, and ``source.batch_size`` is the batch of one process, so a step
averages the gradients of ``N * batch_size`` pairs. The learning rate is not
rescaled with N, and SimCLR's negatives are those of a process's own batch (they
are not gathered across processes). Only rank 0 writes files; to resume, the
other processes read rank 0's ``state.pt``, so across several nodes the run folder
must be on a file system they share. Resuming with another number of processes is
refused (``world_size`` is part of the run's config: it changes the views).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mlvgm import distributed
from mlvgm.checkpoint import atomic_write, file_sha256, load_mlvgm, save_model, shipped_weights
from mlvgm.config import to_dict
from mlvgm.data import DataConfig, load_splits
from mlvgm.errors import CheckpointError, ConfigError
from mlvgm.ssl.models import SSLModel, SSLModelConfig, build_ssl_model
from mlvgm.training._loop import STATE_FILE, run_epochs
from mlvgm.views.sources import SourceConfig, ViewPair, ViewSource, make_source

#: the optimisers accepted by :class:`TrainSSLConfig`
OPTIMIZERS: tuple[str, ...] = ("sgd", "adamw")
MODEL_FILE = "ssl.safetensors"
VIEWS_FILE = "views.safetensors"


@dataclass
class TrainSSLConfig:
    """Options of ``mlvgm train-ssl``.

    Attributes:
        data: the real dataset: the views of a ``real`` source, and the epoch length
            of a generated one whose ``batches_per_epoch`` is 0.
        mlvgm: the generator's checkpoint for ``generated`` sources; empty for the
            shipped hierarchical VAE.
        model: the method and architecture (channels and size follow the views).
        source: where the view pairs come from, batch size and epoch length included.
        epochs: number of epochs.
        lr: peak learning rate, decayed to 0 by a cosine over all steps.
        optimizer: ``sgd`` (momentum 0.9) or ``adamw``.
        weight_decay: weight decay of every trainable parameter.
        seed: seed of initialisation (the views have ``source.seed``).
        name: the run's label in ``mlvgm table`` (default: the output folder's name).
        out: output folder.

    Raises:
        ConfigError: on construction, naming the first option out of range.
    """

    data: DataConfig = field(default_factory=DataConfig)
    mlvgm: str = ""
    model: SSLModelConfig = field(default_factory=SSLModelConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    epochs: int = 20
    lr: float = 0.05
    optimizer: str = "sgd"
    weight_decay: float = 5e-4
    seed: int = 0
    name: str = ""
    out: str = "runs/ssl"

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs!r}")
        if not 0 < self.lr < 10:
            raise ConfigError(f"lr must lie in (0, 10), got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if not 0 <= self.weight_decay < 1:
            raise ConfigError(f"weight_decay must lie in [0, 1), got {self.weight_decay}")


def training_device() -> torch.device:
    """This process's CUDA device (``LOCAL_RANK`` under torchrun) when there is one, else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def train_ssl(cfg: TrainSSLConfig, progress: bool = True) -> SSLModel:
    """Train a self-supervised model on ``cfg.source``'s views; resumes from ``cfg.out``.

    Returns:
        The trained model in eval mode (on every process).

    Raises:
        ConfigError: if a batch does not fit the train split, or the loss stops
            being finite (the state of the last finished epoch stays in ``cfg.out``).
        CheckpointError: if ``cfg.mlvgm`` is unreadable, or ``cfg.out`` holds a run
            of another config.
        DataError: if the data cannot be loaded.
    """
    joined = dist.is_available() and dist.is_initialized()
    rank, world = distributed.init()
    try:
        return _train(cfg, rank, world, progress and rank == 0)
    finally:
        if not joined:
            distributed.shutdown()


def _train(cfg: TrainSSLConfig, rank: int, world: int, progress: bool) -> SSLModel:
    out = Path(cfg.out)
    device = training_device()
    splits = load_splits(cfg.data)
    generated = cfg.source.kind == "generated"
    generator = load_mlvgm(cfg.mlvgm).to(device) if generated else None
    if generator is not None:
        channels, size = generator.in_channels, generator.image_size
    else:
        channels, size = cfg.data.channels, cfg.data.image_size
    walkers = cfg.source.perturbation.walkers if cfg.source.perturbation.kind == "walkers" else ""
    if walkers and not Path(walkers).is_file():
        raise CheckpointError(f"walkers file not found: {walkers}")
    # channels and size follow the views; the record says what is trained
    resolved_cfg = to_dict(
        dataclasses.replace(
            cfg, model=dataclasses.replace(cfg.model, in_channels=channels, image_size=size)
        )
    )
    resolved = {
        **resolved_cfg,
        "mlvgm_sha256": file_sha256(cfg.mlvgm or shipped_weights("hvae")) if generated else "",
        **({"walkers_sha256": file_sha256(walkers)} if generated and walkers else {}),
        "world_size": world,
    }

    source: ViewSource = make_source(
        cfg.source,
        train_images=splits.train.images,
        mlvgm=generator,
        offline_path=out / VIEWS_FILE,
        offline_key=_views_key(resolved),
        rank=rank,
        world_size=world,
        device=device,
        progress=progress,
    )
    torch.manual_seed(cfg.seed)
    model_cfg = dataclasses.replace(cfg.model, in_channels=channels, image_size=size)
    model = build_ssl_model(model_cfg).to(device)
    net: nn.Module = model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=ids)

    steps = source.batches_per_epoch
    total = steps * cfg.epochs
    optimizer = _optimizer(cfg, model)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / total, 1.0)))
    )
    clock = {"start": time.perf_counter()}

    def batches(epoch: int) -> Iterator[ViewPair]:
        clock["start"] = time.perf_counter()
        yield from source.batches(epoch)

    def step(global_step: int, views: ViewPair) -> dict[str, float]:
        loss = net(*views)
        value = _mean_over_ranks(loss.detach(), world)
        if not math.isfinite(value):
            epoch = global_step // steps
            kept = f"epoch {epoch} kept in {out / STATE_FILE}" if epoch else "no epoch finished"
            raise ConfigError(
                f"the {model_cfg.method} loss became {value} at epoch {epoch + 1}, step "
                f"{global_step % steps + 1}; training stopped ({kept}); lower lr "
                f"(now {cfg.lr}) or check the views"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        model.after_step()
        return {"loss": value}

    def end_of_epoch(epoch: int) -> dict[str, float]:
        seconds = time.perf_counter() - clock["start"]
        pairs = steps * cfg.source.batch_size * world
        return {"seconds": seconds, "pairs_per_second": pairs / max(seconds, 1e-9)}

    # Rank 0 alone writes to the run folder; the others resume from its state.
    distributed.barrier()
    history = run_epochs(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        epochs=cfg.epochs,
        step=step,
        batches=batches,
        steps_per_epoch=steps,
        end_of_epoch=end_of_epoch,
        out_dir=out,
        desc=f"train-ssl {model_cfg.method}",
        resolved=resolved,
        seed=cfg.seed,
        progress=progress,
        write=rank == 0,
    )
    if rank == 0:
        save_model(
            out / MODEL_FILE,
            model,
            data=splits.name,
            source=cfg.source.kind,
            mode=cfg.source.mode if generated else "",
            run=json.dumps(resolved),
        )
        save_loss_curve(out / "loss.png", [h["train_loss"] for h in history], model_cfg.method)
    distributed.barrier()
    return model.eval()


def _optimizer(cfg: TrainSSLConfig, model: SSLModel) -> torch.optim.Optimizer:
    # BYOL's target is not optimised: only parameters with gradients are handed over.
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)


def _mean_over_ranks(value: torch.Tensor, world: int) -> float:
    """The mean of a scalar over every process, so that all stop together on a bad loss."""
    if world > 1:
        value = value.clone()
        dist.all_reduce(value)
        value /= world
    return float(value)


def _views_key(resolved: dict[str, Any]) -> str:
    """What an offline view set depends on: the generator, the view options, the ranks."""
    source = {k: v for k, v in resolved["source"].items() if k != "augment"}
    kept = {
        "source": source,
        "mlvgm_sha256": resolved["mlvgm_sha256"],
        "world": resolved["world_size"],
    }
    kept["data"] = resolved["data"]  # the epoch length may follow the train split
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def save_loss_curve(path: str | Path, losses: list[float], method: str) -> None:
    """Plot the mean training loss of each epoch to a PNG."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    epochs = list(range(1, len(losses) + 1))
    ax.plot(epochs, losses, marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{method} loss")
    ax.grid(alpha=0.3)
    ax.set_title(f"{method}: mean training loss per epoch", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)
