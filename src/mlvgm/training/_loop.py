"""The epoch loop shared by every trainer: progress, JSON-lines metrics, checkpoints, resume."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn
from tqdm import tqdm

import mlvgm
from mlvgm.checkpoint import atomic_write_text, load_state, save_state
from mlvgm.errors import CheckpointError, ConfigError

logger = logging.getLogger(__name__)

STATE_FILE = "state.pt"
METRICS_FILE = "metrics.jsonl"

#: what one training step consumes: an index batch, a pair of views, ...
BatchT = TypeVar("BatchT")


def config_fingerprint(resolved: dict[str, Any]) -> str:
    """A hash of a resolved config, output folder left out, to refuse resuming another run."""
    kept = {k: v for k, v in resolved.items() if k != "out"}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Full batches per epoch.

    Raises:
        ConfigError: if the train split is smaller than one batch.
    """
    if n_images < batch_size:
        raise ConfigError(
            f"batch_size {batch_size} is larger than the train split ({n_images} images); "
            "lower batch_size or enlarge data.split"
        )
    return n_images // batch_size


def changed_keys(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Dotted names of the keys whose values differ, for a refusal message."""

    def walk(a: dict[str, Any], b: dict[str, Any], prefix: str) -> list[str]:
        keys = []
        for k in sorted(set(a) | set(b)):
            va, vb = a.get(k), b.get(k)
            if isinstance(va, dict) and isinstance(vb, dict):
                keys += walk(va, vb, f"{prefix}{k}.")
            elif va != vb and f"{prefix}{k}" != "out":
                keys.append(f"{prefix}{k}")
        return keys

    return ", ".join(walk(old, new, "")) or "unknown"


def git_commit() -> str | None:
    """The commit of the source tree the package runs from, when it is a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def run_info(resolved: dict[str, Any]) -> dict[str, Any]:
    """What makes a run traceable: its resolved config, package version, commit and time."""
    return {
        "config": resolved,
        "mlvgm_version": mlvgm.__version__,
        "torch_version": torch.__version__,
        "git_commit": git_commit(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_run_info(out_dir: Path, resolved: dict[str, Any]) -> None:
    """Write ``config.json`` (see :func:`run_info`) to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "config.json", json.dumps(run_info(resolved), indent=2) + "\n")


def shuffled_batches(n: int, batch_size: int, seed: int, epoch: int) -> Iterator[torch.Tensor]:
    """Index batches of a fresh permutation seeded by ``(seed, epoch)``; drops the last partial.

    Seeding by epoch makes a resumed run see the same batches as an uninterrupted one.
    """
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    perm = torch.randperm(n, generator=g)
    for start in range(0, n - batch_size + 1, batch_size):
        yield perm[start : start + batch_size]


def run_epochs(
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    epochs: int,
    step: Callable[[int, BatchT], dict[str, float]],
    batches: Callable[[int], Iterator[BatchT]],
    steps_per_epoch: int,
    end_of_epoch: Callable[[int], dict[str, float]],
    out_dir: Path,
    desc: str,
    resolved: dict[str, Any],
    seed: int = 0,
    progress: bool = True,
    write: bool = True,
) -> list[dict[str, Any]]:
    """Train for ``epochs`` epochs, resuming from ``out_dir/state.pt`` when present.

    Args:
        model: the model being trained (its state is checkpointed).
        optimizer: its optimizer.
        scheduler: a per-step learning-rate scheduler.
        epochs: total number of epochs.
        step: ``step(global_step, batch) -> metrics`` does one update.
        batches: ``batches(epoch)`` yields the batches of an epoch (index tensors,
            pairs of views: whatever ``step`` takes).
        steps_per_epoch: number of batches per epoch (for the progress bar).
        end_of_epoch: ``end_of_epoch(epoch) -> metrics`` (e.g. validation).
        out_dir: where ``state.pt`` and ``metrics.jsonl`` live.
        desc: progress-bar label.
        resolved: the run's resolved config (saved to ``config.json``); resuming a
            folder whose state was made with another config is refused.
        seed: the global torch seed of epoch ``e`` is derived from ``(seed, e)``, so a
            resumed run draws the same noise as an uninterrupted one.
        progress: show a progress bar.
        write: write ``config.json``, ``state.pt`` and ``metrics.jsonl``; False for the
            other processes of a distributed run, which resume from the state the
            writing process keeps in the same folder but never write it.

    Returns:
        The per-epoch metric records, resumed ones included.

    Raises:
        CheckpointError: if ``out_dir`` holds the state of a run with another config.
    """
    if write:
        out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / STATE_FILE
    metrics_path = out_dir / METRICS_FILE
    history: list[dict[str, Any]] = []
    start_epoch = 0
    fingerprint = config_fingerprint(resolved)
    if state_path.exists():
        state = load_state(state_path)
        if state.get("fingerprint") != fingerprint:
            changed = changed_keys(json.loads(state.get("config", "{}")), resolved)
            raise CheckpointError(
                f"{out_dir} holds a run with a different config (changed: {changed}); "
                "choose another output folder or delete it to start over"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch = int(state["epoch"])
        history = [json.loads(line) for line in state["history"]]
        logger.info("resuming %s from epoch %d", desc, start_epoch)
        if progress:
            tqdm.write(f"resuming {desc} from epoch {start_epoch} of {epochs}")

    if write:
        write_run_info(out_dir, resolved)
    for epoch in range(start_epoch, epochs):
        torch.manual_seed(seed * 100_003 + epoch)
        model.train()
        totals: dict[str, float] = {}
        count = 0
        bar = tqdm(
            batches(epoch),
            total=steps_per_epoch,
            desc=f"{desc} {epoch + 1}/{epochs}",
            disable=not progress,
            leave=False,
        )
        for i, batch in enumerate(bar):
            metrics = step(epoch * steps_per_epoch + i, batch)
            scheduler.step()
            for k, v in metrics.items():
                totals[k] = totals.get(k, 0.0) + v
            count += 1
            if i % 10 == 0:
                bar.set_postfix({k: f"{v / count:.3g}" for k, v in totals.items()})
        model.eval()
        record: dict[str, Any] = {"epoch": epoch + 1}
        record.update({f"train_{k}": v / max(count, 1) for k, v in totals.items()})
        record.update(end_of_epoch(epoch))
        history.append(record)

        # The state and the metrics file are written after every epoch, atomically,
        # before the epoch is announced.
        if write:
            save_state(
                state_path,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch + 1,
                    "fingerprint": fingerprint,
                    "config": json.dumps(resolved),
                    "history": [json.dumps(h) for h in history],
                },
            )
            atomic_write_text(metrics_path, "".join(json.dumps(h) + "\n" for h in history))
        if progress:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch")
            tqdm.write(f"{desc} epoch {epoch + 1}/{epochs}: {shown}")
    model.eval()
    return history
