"""The alpha search's record on disk: ``config.json`` and ``evaluations.jsonl``.

Every evaluation is appended to ``evaluations.jsonl`` as one JSON line the
moment it is scored (flushed and synced to disk), so a killed search loses at
most the evaluation in progress, and a rerun reloads the lines instead of
scoring them again. ``config.json`` holds the fingerprint of the settings the
scores depend on; a folder holding evaluations made under other settings is
refused (one without evaluations, say from a run that failed before its first,
is taken over).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlvgm.checkpoint import atomic_write_text
from mlvgm.errors import CheckpointError

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
EVALUATIONS_FILE = "evaluations.jsonl"


@dataclass(frozen=True)
class Evaluation:
    """One scored alpha vector.

    Attributes:
        method: ``"bo"`` (Bayesian optimisation) or ``"random"`` (random search).
        step: 0-based index among the method's evaluations.
        alphas: L values in [0, 1], coarse to fine.
        accuracy: the objective's value, in [0, 1].
        name: the starting schedule's name for BO's first evaluations, else ``""``.
        seconds: wall time of the evaluation.
    """

    method: str
    step: int
    alphas: list[float]
    accuracy: float
    name: str = ""
    seconds: float = field(default=0.0, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The plain-dict form written to ``evaluations.jsonl``."""
        return asdict(self)


class EvaluationLog:
    """The evaluations of one search folder, loaded on opening and appended as they come.

    Args:
        out: the search's output folder (created if missing).
        fingerprint: identifies the settings the scores depend on.
        settings: those settings, saved beside the fingerprint so that a refusal
            can name what changed.
        info: further run information written to ``config.json`` (version, commit).

    Raises:
        CheckpointError: if ``out`` holds evaluations made under other settings, or
            evaluations without a ``config.json``, or an unreadable record.
    """

    def __init__(
        self,
        out: Path,
        fingerprint: str,
        settings: dict[str, Any],
        info: dict[str, Any] | None = None,
    ) -> None:
        self.out = out
        self.path = out / EVALUATIONS_FILE
        self._check_folder(fingerprint, settings)
        out.mkdir(parents=True, exist_ok=True)
        self.evaluations = self._load()
        record = {"fingerprint": fingerprint, "settings": settings, **(info or {})}
        atomic_write_text(out / CONFIG_FILE, json.dumps(record, indent=2) + "\n")

    def append(self, evaluation: Evaluation) -> None:
        """Add ``evaluation`` to the file, on disk before this returns."""
        with self.path.open("a") as f:
            f.write(json.dumps(evaluation.to_json()) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.evaluations.append(evaluation)

    def _check_folder(self, fingerprint: str, settings: dict[str, Any]) -> None:
        config = self.out / CONFIG_FILE
        if not config.is_file():
            if self.path.exists():
                raise CheckpointError(
                    f"{self.out} holds {EVALUATIONS_FILE} but no {CONFIG_FILE}; "
                    "choose another output folder or delete it to start over"
                )
            return
        try:
            stored = json.loads(config.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{config} is unreadable ({exc}); delete the folder") from None
        has_evaluations = self.path.exists() and self.path.stat().st_size > 0
        if stored.get("fingerprint") != fingerprint and has_evaluations:
            before = stored.get("settings", {})
            changed = sorted(k for k in {*before, *settings} if before.get(k) != settings.get(k))
            raise CheckpointError(
                f"{self.out} holds an alpha search with other settings "
                f"(changed: {', '.join(changed) or 'unknown'}); "
                "choose another output folder or delete it to start over"
            )

    def _load(self) -> list[Evaluation]:
        """The stored evaluations; a half-written last line (from a kill) is dropped."""
        if not self.path.exists():
            return []
        lines = self.path.read_text().splitlines()
        evaluations = []
        for number, line in enumerate(lines, start=1):
            try:
                evaluations.append(Evaluation(**json.loads(line)))
            except (json.JSONDecodeError, TypeError) as exc:
                if number < len(lines):
                    raise CheckpointError(
                        f"{self.path} line {number} is not an evaluation record ({exc})"
                    ) from None
                logger.warning("dropping the half-written last line of %s", self.path)
                text = "".join(json.dumps(e.to_json()) + "\n" for e in evaluations)
                atomic_write_text(self.path, text)
        return evaluations
