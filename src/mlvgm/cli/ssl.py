"""``mlvgm train-ssl`` and ``mlvgm linear-eval``."""

from __future__ import annotations

import argparse

from mlvgm import distributed
from mlvgm.cli._options import add_config_options, resolve_config
from mlvgm.evaluation.linear_probe import LinearEvalConfig, run_linear_eval
from mlvgm.training.ssl import TrainSSLConfig, train_ssl


def register(sub: argparse._SubParsersAction) -> None:
    """Add the self-supervised sub-commands."""
    p = sub.add_parser(
        "train-ssl",
        help="train a SimCLR / SimSiam / BYOL encoder on real or generated views",
        description=(
            "Train a self-supervised encoder on view pairs from real data or from an MLVGM "
            "(continuous sampling or an offline set); rerun the same command to resume. "
            "Under torchrun each process makes its own views and source.batch_size is the "
            "batch of one process."
        ),
    )
    add_config_options(p, "runs/ssl", TrainSSLConfig)
    p.add_argument("--epochs", type=int, help="number of epochs")
    p.add_argument("--method", help="simclr, simsiam or byol (sets model.method)")
    p.set_defaults(run=_run_train_ssl)

    p = sub.add_parser(
        "linear-eval",
        help="linear probe of a train-ssl encoder on real labelled data",
        description=(
            "Freeze the encoder of a train-ssl checkpoint, fit a linear classifier on its "
            "features of the train split, report train / val / test accuracy in probe.json."
        ),
    )
    add_config_options(p, "runs/linear-eval", LinearEvalConfig)
    p.add_argument("--checkpoint", metavar="PATH", help="the ssl.safetensors of train-ssl")
    p.set_defaults(run=_run_linear_eval)


def _run_train_ssl(args: argparse.Namespace) -> None:
    method = {"method": args.method} if args.method else None
    cfg = resolve_config(TrainSSLConfig, args, epochs=args.epochs, model=method)
    rank, _ = distributed.init()
    try:
        train_ssl(cfg)
    finally:
        distributed.shutdown()
    if rank == 0:
        print(f"wrote {cfg.out}/ssl.safetensors, metrics.jsonl and loss.png")


def _run_linear_eval(args: argparse.Namespace) -> None:
    cfg = resolve_config(LinearEvalConfig, args, checkpoint=args.checkpoint)
    record = run_linear_eval(cfg)
    shown = ", ".join(
        f"{split} {100 * record[f'{split}_accuracy']:.1f}"
        for split in ("train", "val", "test")
        if record[f"{split}_accuracy"] is not None
    )
    print(f"linear probe of {record['method']} ({record['source']}): {shown}")
    print(f"wrote {cfg.out}/probe.json")
