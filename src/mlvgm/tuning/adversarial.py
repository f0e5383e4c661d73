"""The alpha search's fixed set of adversarial images, and its cache on disk.

The images are made once, cheaply (single-step L2-FGSM, :class:`~mlvgm.attacks.fgsm.FGSM`),
against the reconstruction-only defence (every alpha 0, deterministic), and every
candidate schedule is then scored on the same images. The set is a transfer
attack on the candidates, not an adaptive one: see :mod:`mlvgm.tuning`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from mlvgm._checks import check_images
from mlvgm.attacks.fgsm import FGSM
from mlvgm.checkpoint import atomic_write, read_metadata
from mlvgm.errors import CheckpointError, ConfigError, InputError


@dataclass(frozen=True)
class AdversarialSet:
    """Adversarial images with their true labels.

    Attributes:
        x_adv: (N, C, H, W) adversarial images in [0, 1].
        y: (N,) int64 true labels.
        fooled: fraction of ``x_adv`` the attacked defence misclassifies.
    """

    x_adv: torch.Tensor
    y: torch.Tensor
    fooled: float


def adversarial_set(
    defense: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, batch_size: int = 250
) -> torch.Tensor:
    """Single-step L2-FGSM images against ``defense``, in batches.

    Args:
        defense: images (B, C, H, W) in [0, 1] -> logits; for the alpha search the
            reconstruction-only defence, ``DefenseConfig(kind="reconstruction").build(...)``.
        x: (N, C, H, W) clean images in [0, 1].
        y: (N,) labels.
        eps: the L2 length of each image's perturbation.
        batch_size: images per forward and backward pass.

    Returns:
        (N, C, H, W) adversarial images in [0, 1], each within ``eps`` of its original.

    Raises:
        InputError: if ``x`` is not an image batch in [0, 1] or ``y`` does not match it.
        ConfigError: if ``eps`` or ``batch_size`` is not positive.
    """
    check_images(x)
    if not isinstance(y, torch.Tensor) or y.shape != (x.shape[0],):
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise InputError(f"y must have shape ({x.shape[0]},) to match x, got {got}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    attack = FGSM(eps)
    batches = zip(x.split(batch_size), y.split(batch_size), strict=True)
    return torch.cat([attack(defense, xb, yb).x_adv for xb, yb in batches])


def save_adversarial_set(path: str | Path, data: AdversarialSet, fingerprint: str) -> None:
    """Write ``data`` to a safetensors file, atomically, tagged with ``fingerprint``."""
    tensors = {"x_adv": data.x_adv.contiguous().cpu(), "y": data.y.contiguous().cpu()}
    meta = {"mlvgm.fingerprint": fingerprint, "mlvgm.fooled": repr(data.fooled)}
    atomic_write(path, lambda p: save_file(tensors, str(p), metadata=meta))


def load_adversarial_set(path: str | Path, fingerprint: str) -> AdversarialSet | None:
    """The set cached at ``path`` if it was made by the run ``fingerprint`` names.

    Returns:
        The set, or ``None`` when there is no file or it belongs to another config.

    Raises:
        CheckpointError: if the file exists but cannot be read.
    """
    p = Path(path)
    if not p.is_file():
        return None
    meta = read_metadata(p)
    if meta.get("mlvgm.fingerprint") != fingerprint:
        return None
    try:
        tensors = load_file(str(p))
        data = AdversarialSet(tensors["x_adv"], tensors["y"], float(meta["mlvgm.fooled"]))
        check_images(data.x_adv, "x_adv")
    except (SafetensorError, OSError, KeyError, ValueError, InputError) as exc:
        raise CheckpointError(f"{p} is not a readable adversarial set ({exc}); delete it") from None
    return data
