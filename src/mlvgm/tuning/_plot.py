"""The alpha search's figure: score per evaluation and best so far, BO against random."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from mlvgm.checkpoint import atomic_write
from mlvgm.tuning.search import SearchResult, best_so_far

_COLOURS = {"bo": "tab:blue", "random": "tab:orange"}
_LABELS = {"bo": "Bayesian optimisation", "random": "random search"}


def save_search_figure(
    path: str | Path,
    result: SearchResult,
    ylabel: str = "accuracy",
    reference: tuple[str, float] | None = None,
) -> None:
    """Dots for each evaluation, a step line for the best so far, one colour per method.

    BO's starting schedules are drawn as open circles and named in the legend's
    title, so the gain of the search over them is visible; ``reference`` (a label
    and a score, e.g. the attacked defence's) is drawn as a dashed line.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    if reference is not None:
        ax.axhline(reference[1], color="grey", linestyle="--", linewidth=1, label=reference[0])
    for method in ("bo", "random"):
        evaluations = getattr(result, method)
        if not evaluations:
            continue
        steps = [e.step + 1 for e in evaluations]
        scores = [e.accuracy for e in evaluations]
        colour = _COLOURS[method]
        ax.scatter(steps, scores, s=10, color=colour, alpha=0.45)
        ax.step(steps, best_so_far(scores), where="post", color=colour, label=_LABELS[method])
    starts = [e for e in result.bo if e.name]
    ax.scatter(
        [e.step + 1 for e in starts],
        [e.accuracy for e in starts],
        s=40,
        facecolors="none",
        edgecolors="black",
        label="starting schedules",
    )
    ax.set_xlabel("evaluation (of each method)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=", ".join(e.name for e in starts), title_fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)
