"""Saving and loading models and training state without unpickling arbitrary objects.

Model weights live in ``safetensors`` files whose metadata names the architecture
and holds its config as JSON; :func:`load_model` rebuilds the model from the
registry in :mod:`mlvgm.models`. Resumable training state (optimizer, schedule,
counters) goes through ``torch.save`` and comes back with
``torch.load(weights_only=True)``. Every write is atomic: a temporary file in the
same folder, then ``os.replace``, so a kill never leaves a half-written file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

import mlvgm
from mlvgm.config import from_mapping
from mlvgm.errors import CheckpointError, ConfigError
from mlvgm.models import ARCHITECTURES, MLVGM, architecture_of


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then move it into place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks; ties a resumable run to its inputs.

    Raises:
        CheckpointError: if the file is missing.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    digest = hashlib.sha256()
    with p.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write(path, lambda p: p.write_text(text))


def save_model(path: str | Path, model: nn.Module, **extra: str) -> None:
    """Save a registered model's weights and architecture to a safetensors file.

    Args:
        path: destination ``.safetensors`` file.
        model: a model whose class is in :data:`mlvgm.models.ARCHITECTURES`.
        **extra: further string metadata (e.g. the data it was trained on).
    """
    arch = architecture_of(model)
    config = dataclasses.asdict(model.config)  # type: ignore[call-overload]
    meta = {
        "mlvgm.architecture": arch,
        "mlvgm.config": json.dumps(config),
        "mlvgm.version": mlvgm.__version__,
        **{f"mlvgm.{k}": v for k, v in extra.items()},
    }
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write(path, lambda p: save_file(tensors, str(p), metadata=meta))


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a model file.

    Raises:
        CheckpointError: if the file is missing or not a safetensors file.
    """
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        with safe_open(str(p), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{p} is not a readable safetensors checkpoint ({exc})") from None


def load_model(path: str | Path, expect: str | None = None) -> nn.Module:
    """Rebuild a model saved by :func:`save_model`, in eval mode and channels-last layout.

    Args:
        path: the ``.safetensors`` file.
        expect: the architecture the caller needs (``"hvae"``, ``"resnet"``), or None.

    Raises:
        CheckpointError: if the file is missing, corrupt, made for another
            architecture, or its weights do not fit the stored config.
    """
    p = Path(path)
    meta = read_metadata(p)
    arch = meta.get("mlvgm.architecture")
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"{p} was not written by mlvgm (no known architecture in metadata)")
    if expect is not None and arch != expect:
        raise CheckpointError(f"{p} holds a {arch!r} model, but a {expect!r} model is needed here")
    cls, config_cls = ARCHITECTURES[arch]
    try:
        config = from_mapping(config_cls, json.loads(meta["mlvgm.config"]))
    except (KeyError, json.JSONDecodeError, ConfigError) as exc:
        raise CheckpointError(f"{p} has an unreadable model config ({exc})") from None
    model = cls(config)
    try:
        state = load_file(str(p))
        model.load_state_dict(state, strict=True)
    except (SafetensorError, RuntimeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{p} does not match its {arch!r} architecture: {first}") from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(
            f"{p} holds non-finite weights (NaN or inf) in {len(bad)} tensors, e.g. {bad[0]}; "
            "the run that wrote it diverged or the file is damaged"
        )
    # Channels-last convolutions run about 1.3 times faster on CPUs (oneDNN) and no
    # slower on GPUs; saving makes the tensors contiguous again.
    return model.to(memory_format=torch.channels_last).eval()


def shipped_weights(name: str) -> Path:
    """Path of a checkpoint shipped inside the package (``classifier``, ``hvae``)."""
    return Path(str(resources.files("mlvgm") / "weights" / f"{name}.safetensors"))


def load_classifier(path: str | Path = "") -> nn.Module:
    """A ResNet classifier checkpoint, or the shipped MNIST one when ``path`` is empty.

    Raises:
        CheckpointError: as :func:`load_model`.
    """
    return load_model(path or shipped_weights("classifier"), expect="resnet")


def load_mlvgm(path: str | Path = "") -> MLVGM:
    """A hierarchical VAE checkpoint, or the shipped MNIST one when ``path`` is empty.

    Raises:
        CheckpointError: as :func:`load_model`.
    """
    model = load_model(path or shipped_weights("hvae"), expect="hvae")
    assert isinstance(model, MLVGM)  # the registry maps "hvae" to an MLVGM
    return model


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    """Save resumable training state (tensors, numbers, strings, nested dicts) atomically."""
    atomic_write(path, lambda p: torch.save(state, p))


def load_state(path: str | Path) -> dict[str, Any]:
    """Load state written by :func:`save_state` with ``weights_only=True``.

    Raises:
        CheckpointError: if the file is corrupt or holds anything but plain data.
    """
    try:
        return dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:  # torch raises several unrelated types for corrupt files
        raise CheckpointError(f"cannot resume from {path}: {str(exc).splitlines()[0]}") from None
