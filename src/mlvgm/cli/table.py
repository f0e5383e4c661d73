"""``mlvgm table FILE.json ...``: one Markdown and CSV table from several results.

Two kinds of results tabulate: robustness reports (``report.json`` of ``mlvgm
evaluate`` and ``mlvgm quickstart``; methods by rows, clean and robust accuracy
per bound by columns) and linear probes (``probe.json`` of ``mlvgm linear-eval``;
one row per self-supervised run: its views, pairs seen and probe accuracy).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path
from typing import Any

from mlvgm.checkpoint import atomic_write_text
from mlvgm.errors import ConfigError
from mlvgm.evaluation.report import bound_key


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``table`` sub-command."""
    p = sub.add_parser(
        "table",
        help="Markdown and CSV table of several report.json or probe.json files",
        description=(
            "Robustness reports: methods by rows, clean and robust accuracy at each bound "
            "by columns. Linear probes: one row per self-supervised run, its views, pairs "
            "seen and probe accuracy. All files of one table must be of one kind."
        ),
    )
    p.add_argument(
        "reports", nargs="+", metavar="FILE.json", help="report.json or probe.json files"
    )
    p.add_argument("--out", metavar="STEM", help="write STEM.md and STEM.csv (default: print)")
    p.set_defaults(run=_run)


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"report not found: {path}")
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not (
            {"bounds", "defenses"} <= data.keys() or {"test_accuracy", "ssl_run"} <= data.keys()
        ):
            raise KeyError
    except (json.JSONDecodeError, KeyError, UnicodeDecodeError):
        raise ConfigError(
            f"{path} is neither an mlvgm report.json nor a probe.json of mlvgm linear-eval"
        ) from None
    return dict(data)


def _is_probe(data: dict[str, Any]) -> bool:
    return "ssl_run" in data


def build_probe_rows(probes: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of linear probes: one row per self-supervised run."""
    header = ["run", "method", "views", "perturbation", "augment", "pairs seen", "probe test"]
    header += ["probe val", "encoder"]
    rows = []
    for p in probes:
        run = p.get("ssl_run") or {}
        source = run.get("source", {})
        kind = source.get("kind", p.get("source") or "?")
        views = kind if kind == "real" else f"generated ({source.get('mode', '?')})"
        pert = source.get("perturbation", {})
        perturbation = "-" if kind == "real" else _describe_perturbation(pert)
        batch = int(source.get("batch_size", 0))
        per_epoch = int(source.get("batches_per_epoch", 0)) or (
            p["n_images"]["train"] // max(1, batch * int(run.get("world_size", 1)))
        )
        seen = int(run.get("epochs", 0)) * per_epoch * batch * int(run.get("world_size", 1))
        name = run.get("name") or Path(str(run.get("out", "?"))).name
        widths = run.get("model", {}).get("widths", [])
        val = p.get("val_accuracy")
        rows.append(
            [
                name,
                str(p.get("method", "?")),
                views,
                perturbation,
                str(source.get("augment", "?")),
                str(seen),
                f"{100 * p['test_accuracy']:.1f}" if p["test_accuracy"] is not None else "",
                f"{100 * val:.1f}" if val is not None else "",
                "ResNet " + "/".join(map(str, widths)),
            ]
        )
    return header, rows


def _describe_perturbation(pert: dict[str, Any]) -> str:
    kind = pert.get("kind", "?")
    which = pert.get("variables")
    where = "all groups" if which is None else "groups " + ",".join(map(str, which))
    if kind == "none":
        return "none"
    if kind == "walkers":
        return f"walkers, {where}"
    if kind == "coin":
        lo, hi = pert.get("std_range", ["?", "?"])
        return f"coin p={pert.get('p')}, std {lo}-{hi}, {where}"
    std = pert.get("std")
    std_text = "/".join(f"{v:g}" for v in std) if isinstance(std, list) else f"{std:g}"
    return f"gaussian std {std_text}, {where}"


def build_rows(reports: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per defence of every report, bounds unioned."""
    bounds = sorted({float(b) for r in reports for b in r["bounds"]})
    header = ["method", "clean"] + [f"L2<={b:g}" for b in bounds] + ["attacks", "EoT", "images"]
    rows = []
    for r in reports:
        for name, d in r["defenses"].items():
            cells = [name, f"{100 * d['clean_accuracy']:.1f}"]
            for b in bounds:
                v = d["robust_accuracy"].get(bound_key(b))
                cells.append("" if v is None else f"{100 * v:.1f}")
            cells += ["+".join(r["attacks"]), str(d.get("eot", r["eot"])), str(r["n_images"])]
            rows.append(cells)
    return header, rows


def to_markdown(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    """The same table as CSV."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _run(args: argparse.Namespace) -> None:
    results = [_read(Path(p)) for p in args.reports]
    probes = [_is_probe(r) for r in results]
    if any(probes) and not all(probes):
        raise ConfigError(
            "give either robustness reports (report.json) or linear probes (probe.json), "
            "not both in one table"
        )
    header, rows = build_probe_rows(results) if all(probes) else build_rows(results)
    md = to_markdown(header, rows)
    if args.out:
        atomic_write_text(f"{args.out}.md", md)
        atomic_write_text(f"{args.out}.csv", to_csv(header, rows))
        print(f"wrote {args.out}.md and {args.out}.csv")
    else:
        print(md, end="")
