"""``mlvgm views``: grids of generated positive views, each anchor followed by its views."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mlvgm.checkpoint import atomic_write_text, load_mlvgm
from mlvgm.cli._options import add_config_options, resolve_config
from mlvgm.config import to_dict
from mlvgm.errors import ConfigError
from mlvgm.evaluation.figures import save_image_grid
from mlvgm.training._loop import run_info
from mlvgm.views.augment import make_augmentation
from mlvgm.views.generate import ViewGenerator
from mlvgm.views.sources import SourceConfig


@dataclass
class ViewsConfig:
    """Options of ``mlvgm views``.

    Attributes:
        mlvgm: generator checkpoint; empty for the shipped hierarchical VAE.
        source: the generated views, as ``mlvgm train-ssl`` takes them (``anchor``,
            ``perturbation``, ``augment``, ``precision``; ``kind`` must be
            ``generated``), so one file previews and trains the same views.
        n_anchors: rows of the grid.
        n_views: views per anchor (columns after the anchor).
        seed: seed of every draw.
        out: output folder.
    """

    mlvgm: str = ""
    source: SourceConfig = field(default_factory=SourceConfig)
    n_anchors: int = 8
    n_views: int = 7
    seed: int = 0
    out: str = "runs/views"

    def __post_init__(self) -> None:
        if self.source.kind != "generated":
            raise ConfigError(
                f"mlvgm views draws generated views; source.kind must be 'generated', "
                f"not {self.source.kind!r}"
            )
        for name in ("n_anchors", "n_views"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``views`` sub-command."""
    p = sub.add_parser(
        "views",
        help="PNG grids of generated positive views (anchor, then its views)",
        description=(
            "Draw anchors from a truncated normal, perturb chosen latent variables "
            "(random or learned walkers), augment, and write views.png (one row per "
            "anchor: the anchor, then its views) and latent_views.png (the same before "
            "image-space augmentation)."
        ),
    )
    add_config_options(p, "runs/views", ViewsConfig)
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> None:
    cfg = resolve_config(ViewsConfig, args)
    run_views(cfg)
    print(f"wrote {cfg.out}/views.png, latent_views.png and views.json")


def run_views(cfg: ViewsConfig) -> dict[str, Any]:
    """Generate the grids; returns what ``views.json`` records."""
    model = load_mlvgm(cfg.mlvgm)
    src = cfg.source
    generator = ViewGenerator(model, src.anchor, src.perturbation, src.precision)
    augment = make_augmentation(src.augment, model.image_size, model.in_channels)
    g = torch.Generator(device=generator.device).manual_seed(cfg.seed)
    anchors, views = generator.views(cfg.n_anchors, cfg.n_views, g)
    n, v = views.shape[:2]
    raw = torch.cat([anchors[:, None], views], dim=1).flatten(0, 1)  # (n * (V + 1), C, H, W)
    torch.manual_seed(cfg.seed)  # kornia draws from the global generator
    with torch.no_grad():
        augmented = torch.cat([anchors[:, None], augment(views.flatten(0, 1)).view_as(views)], 1)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    save_image_grid(out / "latent_views.png", raw, nrow=v + 1)
    save_image_grid(out / "views.png", augmented.flatten(0, 1), nrow=v + 1)
    record = {
        "grouping": generator.grouping,
        "perturbed_variables": generator.variables,
        "n_anchors": n,
        "n_views": v,
        "run": run_info(to_dict(cfg)),
    }
    atomic_write_text(out / "views.json", json.dumps(record, indent=2) + "\n")
    return record
