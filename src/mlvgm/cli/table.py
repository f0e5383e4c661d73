"""``mlvgm table REPORT.json ...``: one Markdown and CSV table from several reports."""

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
        help="Markdown and CSV table of several report.json files",
        description="Methods by rows; clean and robust accuracy at each bound by columns.",
    )
    p.add_argument("reports", nargs="+", metavar="REPORT.json", help="reports to tabulate")
    p.add_argument("--out", metavar="STEM", help="write STEM.md and STEM.csv (default: print)")
    p.set_defaults(run=_run)


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"report not found: {path}")
    try:
        data = json.loads(path.read_text())
        _ = data["bounds"], data["defenses"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ConfigError(f"{path} is not an mlvgm report.json") from None
    return dict(data)


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
    header, rows = build_rows([_read(Path(p)) for p in args.reports])
    md = to_markdown(header, rows)
    if args.out:
        atomic_write_text(f"{args.out}.md", md)
        atomic_write_text(f"{args.out}.csv", to_csv(header, rows))
        print(f"wrote {args.out}.md and {args.out}.csv")
    else:
        print(md, end="")
