"""Shared CLI plumbing: ``--config FILE.yaml`` and ``--set key=value`` into a config dataclass."""

from __future__ import annotations

import argparse
from typing import Any, TypeVar

from mlvgm.config import from_mapping, load_yaml, merge, parse_overrides

T = TypeVar("T")


def add_config_options(parser: argparse.ArgumentParser, default_out: str) -> None:
    """Add ``--config``, ``--set`` and ``--out`` to a sub-command."""
    parser.add_argument("--config", metavar="FILE.yaml", help="YAML file of options")
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override one option, dotted keys for sections (e.g. data.seed=1); repeatable",
    )
    parser.add_argument("--out", metavar="DIR", help=f"output folder (default {default_out})")


def resolve_config(cls: type[T], args: argparse.Namespace, **flags: Any) -> T:
    """Defaults, then ``--config``, then ``--set``, then explicit flags that are not None."""
    data: dict[str, Any] = load_yaml(args.config) if args.config else {}
    data = merge(data, parse_overrides(args.overrides))
    extra = {k: v for k, v in flags.items() if v is not None}
    if getattr(args, "out", None):
        extra["out"] = args.out
    return from_mapping(cls, merge(data, extra))
