"""``mlvgm train-mlvgm`` and ``mlvgm train-classifier``."""

from __future__ import annotations

import argparse

from mlvgm.cli._options import add_config_options, resolve_config
from mlvgm.training.classifier import TrainClassifierConfig, train_classifier
from mlvgm.training.hvae import TrainMLVGMConfig, train_mlvgm


def register(sub: argparse._SubParsersAction) -> None:
    """Add the training sub-commands."""
    p = sub.add_parser(
        "train-mlvgm",
        help="train a hierarchical VAE (progress, checkpoints, resume, sample grid)",
        description="Train an NVAE-style hierarchical VAE; rerun the same command to resume.",
    )
    add_config_options(p, "runs/mlvgm", TrainMLVGMConfig)
    p.add_argument("--epochs", type=int, help="passes over the train split")
    p.set_defaults(run=_run_mlvgm)

    p = sub.add_parser(
        "train-classifier",
        help="train the ResNet classifier to defend",
        description=(
            "Train a small ResNet classifier, plainly or with TRADES (L2), from scratch or "
            "from a checkpoint; rerun the same command to resume. TRADES runs write to the "
            "same default folder, so give them their own --out."
        ),
    )
    add_config_options(p, "runs/classifier", TrainClassifierConfig)
    p.add_argument("--epochs", type=int, help="passes over the train split")
    p.add_argument(
        "--trades",
        action="store_true",
        default=None,
        help="TRADES adversarial training (sets trades=true; tune with --set trades_beta=..., "
        "trades_eps, trades_steps, trades_step_size)",
    )
    p.add_argument(
        "--init",
        metavar="PATH",
        help="fine-tune this resnet checkpoint instead of starting from random weights",
    )
    p.set_defaults(run=_run_classifier)


def _run_mlvgm(args: argparse.Namespace) -> None:
    cfg = resolve_config(TrainMLVGMConfig, args, epochs=args.epochs)
    train_mlvgm(cfg)
    print(f"wrote {cfg.out}/hvae.safetensors and {cfg.out}/samples.png")


def _run_classifier(args: argparse.Namespace) -> None:
    cfg = resolve_config(
        TrainClassifierConfig, args, epochs=args.epochs, trades=args.trades, init=args.init
    )
    train_classifier(cfg)
    print(f"wrote {cfg.out}/classifier.safetensors")
