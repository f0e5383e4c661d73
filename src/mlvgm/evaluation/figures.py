"""Figures written beside the JSON results: image grids and robustness curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch
from torchvision.utils import make_grid, save_image

from mlvgm.checkpoint import atomic_write


def save_image_grid(path: str | Path, images: torch.Tensor, nrow: int = 8) -> None:
    """Save (N, C, H, W) images in [0, 1] as one PNG grid, ``nrow`` images per row."""
    grid = make_grid(images.detach().cpu().clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    atomic_write(path, lambda p: save_image(grid, str(p), format="png"))


def save_rows_figure(
    path: str | Path, rows: Mapping[str, torch.Tensor], title: str | None = None
) -> None:
    """One labelled row of images per entry, e.g. original / adversarial / purified.

    Args:
        path: destination PNG.
        rows: label -> (N, C, H, W) images in [0, 1]; all rows the same N.
        title: optional figure title.
    """
    labels = list(rows)
    n = max(r.shape[0] for r in rows.values())
    fig, axes = plt.subplots(
        len(labels), n, figsize=(1.1 * n + 1.2, 1.2 * len(labels)), squeeze=False
    )
    for r, label in enumerate(labels):
        images = rows[label].detach().cpu().clamp(0, 1)
        for c in range(n):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < images.shape[0]:
                img = images[c].permute(1, 2, 0).squeeze(-1).numpy()
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)


def save_curves_figure(
    path: str | Path,
    curves: Mapping[str, Sequence[float]],
    xs: Sequence[float],
    xlabel: str,
    ylabel: str,
    title: str | None = None,
) -> None:
    """Line plot, one line per entry of ``curves`` over the shared ``xs``."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, ys in curves.items():
        ax.plot(list(xs), list(ys), marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)
