"""Shared CLI plumbing: ``--config FILE.yaml`` and ``--set key=value`` into a config dataclass."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

from mlvgm.config import from_mapping, load_yaml, merge, parse_overrides
from mlvgm.errors import ConfigError

T = TypeVar("T")


def config_keys(cls: type, prefix: str = "") -> list[str]:
    """Dotted option names of a config dataclass, nested sections expanded."""
    keys = []
    for f in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(hint):
            keys += config_keys(typing.cast(type, hint), f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


def add_config_options(
    parser: argparse.ArgumentParser, default_out: str, cls: type | None = None
) -> None:
    """Add ``--config``, ``--set`` and ``--out`` to a sub-command.

    With ``cls``, the help ends with every key ``--set`` and the YAML file accept.
    """
    if cls is not None:
        parser.epilog = "config keys (YAML or --set KEY=VALUE): " + ", ".join(config_keys(cls))
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
    cfg = from_mapping(cls, merge(data, extra))
    out = getattr(cfg, "out", None)
    if isinstance(out, str) and out and Path(out).exists() and not Path(out).is_dir():
        raise ConfigError(f"output folder {out} is an existing file; choose a folder with --out")
    return cfg
