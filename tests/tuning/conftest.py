"""Shared fixtures of the alpha-search tests: one thread, tiny checkpoints on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from mlvgm.checkpoint import save_model


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """The tensors are tiny: one thread is as fast and does not fight over shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def checkpoints(tmp_path: Path, tiny_hvae, tiny_classifier) -> tuple[Path, Path]:
    """(hvae, classifier) checkpoint paths of the tiny models."""
    vae, clf = tmp_path / "hvae.safetensors", tmp_path / "clf.safetensors"
    save_model(vae, tiny_hvae)
    save_model(clf, tiny_classifier)
    return vae, clf
