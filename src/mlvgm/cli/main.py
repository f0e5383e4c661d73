"""Entry point of the ``mlvgm`` command."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence

from mlvgm import __version__
from mlvgm.cli import analyze, evaluate, inspect_cmd, quickstart, ssl, table, train, tune
from mlvgm.cli import views as views_cmd
from mlvgm.errors import MlvgmError


def build_parser() -> argparse.ArgumentParser:
    """The parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="mlvgm",
        description=(
            "Multiple Latent Variable Generative Models: adversarial purification, "
            "its evaluation, latent analysis and generated views for self-supervised learning."
        ),
    )
    parser.add_argument("--version", action="version", version=f"mlvgm {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    quickstart.register(sub)
    train.register(sub)
    inspect_cmd.register(sub)
    tune.register(sub)
    evaluate.register(sub)
    table.register(sub)
    ssl.register(sub)
    views_cmd.register(sub)
    analyze.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 success, 1 user error, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    warnings.formatwarning = lambda msg, cat, *a, **k: f"mlvgm: warning: {msg}\n"
    if args.command is None:
        parser.print_help()
        return 1
    try:
        args.run(args)
    except MlvgmError as exc:
        print(f"mlvgm: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mlvgm: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
