"""Per-batch evaluation results on disk, so that an interrupted run resumes.

Batch ``k`` lives in ``DIR/batches/batch_{k:05d}.safetensors``, written
atomically once the batch is complete; a file that exists is a finished batch.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from mlvgm.checkpoint import atomic_write
from mlvgm.errors import CheckpointError
from mlvgm.evaluation.robustness import RobustnessResult


class BatchStore:
    """Saves and loads :class:`RobustnessResult` batches under ``root/batches``."""

    def __init__(self, root: str | Path) -> None:
        self.dir = Path(root) / "batches"
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, k: int) -> Path:
        """The file of batch ``k``."""
        return self.dir / f"batch_{k:05d}.safetensors"

    def save(self, k: int, r: RobustnessResult) -> None:
        """Write batch ``k`` atomically."""
        tensors = {
            "clean_correct": r.clean_correct.contiguous(),
            "broken_at": r.broken_at.contiguous(),
            "l2": r.l2.contiguous(),
            "x_adv": r.x_adv.detach().contiguous().cpu(),
        }
        for name in r.attacks:
            tensors[f"per_attack/{name}"] = r.per_attack[name].contiguous()
            tensors[f"per_attack_l2/{name}"] = r.per_attack_l2[name].contiguous()
        meta = {"bounds": json.dumps(r.bounds), "attacks": json.dumps(r.attacks)}
        atomic_write(self.path(k), lambda p: save_file(tensors, str(p), metadata=meta))

    def load(self, k: int) -> RobustnessResult | None:
        """Batch ``k`` if it was finished, else None.

        Raises:
            CheckpointError: if the file is unreadable.
        """
        p = self.path(k)
        if not p.exists():
            return None
        try:
            from safetensors import safe_open

            with safe_open(str(p), framework="pt") as f:
                meta = f.metadata() or {}
            t = load_file(str(p))
            attacks = json.loads(meta["attacks"])
            return RobustnessResult(
                bounds=json.loads(meta["bounds"]),
                clean_correct=t["clean_correct"],
                broken_at=t["broken_at"],
                l2=t["l2"],
                x_adv=t["x_adv"],
                attacks=attacks,
                per_attack={a: t[f"per_attack/{a}"] for a in attacks},
                per_attack_l2={a: t[f"per_attack_l2/{a}"] for a in attacks},
            )
        except (SafetensorError, KeyError, json.JSONDecodeError, OSError) as exc:
            raise CheckpointError(
                f"stored batch {p} is unreadable ({exc}); delete it to recompute that batch"
            ) from None
