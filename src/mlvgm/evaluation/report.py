"""The robustness report: ``report.json``, ``robustness.png`` and a printed table.

Schema (accuracies are fractions, bounds are L2 norms)::

    {"dataset": str, "n_images": int, "eot": int,
     "attacks": [str, ...], "attack_settings": {name: {...}}, "bounds": [float, ...],
     "defenses": {NAME: {"clean_accuracy": float,
                         "robust_accuracy": {"<bound>": float, ...},
                         "median_l2": float | null, "eot": int, ...}},
     "run": {"config": ..., "mlvgm_version": ..., "git_commit": ...}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from mlvgm.checkpoint import atomic_write_text
from mlvgm.evaluation.figures import save_curves_figure
from mlvgm.evaluation.robustness import RobustnessResult


def bound_key(b: float) -> str:
    """The JSON key of a bound: ``1.5 -> "1.5"``, ``2 -> "2.0"``."""
    return repr(float(b))


def median_l2(norms: torch.Tensor, correct: torch.Tensor) -> float | None:
    """Median over the clean-correct images of the adversarial norm found.

    Images never fooled count as infinite, so the median is ``None`` when fewer
    than half were fooled within the largest bound.
    """
    kept = norms[correct]
    if not kept.numel():
        return None
    m = float(kept.sort().values[(kept.numel() - 1) // 2])
    return m if math.isfinite(m) else None


def defense_entry(result: RobustnessResult, **extra: Any) -> dict[str, Any]:
    """The report entry of one defence: accuracies, per-attack curves, median norms."""
    correct = result.clean_correct
    return {
        "clean_accuracy": result.clean_accuracy,
        "robust_accuracy": {bound_key(b): a for b, a in result.robust_accuracy().items()},
        "median_l2": median_l2(result.l2, correct),
        "success_rate": {
            name: {bound_key(b): r for b, r in rates.items()}
            for name, rates in result.success_rates().items()
        },
        "median_l2_per_attack": {
            name: median_l2(norms, correct) for name, norms in result.per_attack_l2.items()
        },
        **extra,
    }


def write_report(out_dir: Path, report: Mapping[str, Any]) -> None:
    """Write ``report.json`` and ``robustness.png`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "report.json", json.dumps(report, indent=2) + "\n")
    bounds = [0.0, *report["bounds"]]
    curves = {
        name: [d["clean_accuracy"]] + [d["robust_accuracy"][bound_key(b)] for b in report["bounds"]]
        for name, d in report["defenses"].items()
    }
    title = (
        f"{report['dataset']}, {report['n_images']} images, "
        f"{'+'.join(report['attacks'])}, EoT {report['eot']}"
    )
    save_curves_figure(
        out_dir / "robustness.png", curves, bounds, "L2 bound", "robust accuracy", title
    )


def format_table(report: Mapping[str, Any]) -> str:
    """A plain-text table: defences by rows, clean and robust accuracy by columns."""
    bounds = report["bounds"]
    head = ["defense", "clean"] + [f"L2<={b:g}" for b in bounds]
    rows = [head]
    for name, d in report["defenses"].items():
        robust = [f"{100 * d['robust_accuracy'][bound_key(b)]:.1f}" for b in bounds]
        rows.append([name, f"{100 * d['clean_accuracy']:.1f}", *robust])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def pick_examples(result: RobustnessResult, n: int) -> torch.Tensor:
    """Indices of up to ``n`` images: clean-correct and fooled first, then correct, then any."""
    correct = result.clean_correct
    found = torch.isfinite(result.l2)
    rank = torch.where(correct & found, 0, torch.where(correct, 1, 2))  # (N,)
    return torch.sort(rank, stable=True).indices[:n]
