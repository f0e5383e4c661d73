"""``mlvgm evaluate --config FILE.yaml``: one defence, the attack suite, a trustworthy report.

Per-image results are written batch by batch as they are computed, so a killed
run resumes where it stopped; under ``torchrun --nproc_per_node=N`` the batches
are shared out over the processes and rank 0 gathers them into one report,
identical in content to a single-process run.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mlvgm import distributed
from mlvgm.attacks import PRESETS, make_preset_attacks
from mlvgm.checkpoint import atomic_write_text, load_classifier, load_mlvgm
from mlvgm.cli._options import add_config_options, resolve_config
from mlvgm.config import to_dict
from mlvgm.data import DataConfig, load_splits
from mlvgm.defenses import DefenseConfig, EoT
from mlvgm.errors import ConfigError
from mlvgm.evaluation.diagnostics import masking_diagnostics
from mlvgm.evaluation.figures import save_curves_figure, save_rows_figure
from mlvgm.evaluation.report import defense_entry, pick_examples, write_report
from mlvgm.evaluation.robustness import RobustnessResult, evaluate_robustness
from mlvgm.evaluation.store import BatchStore
from mlvgm.models.base import MLVGM
from mlvgm.training._loop import config_fingerprint, run_info


@dataclass
class EvaluateConfig:
    """Options of ``mlvgm evaluate``.

    Attributes:
        data: the dataset.
        classifier: classifier checkpoint; empty for the shipped one.
        mlvgm: MLVGM checkpoint (for ``reconstruction`` and ``mlvgm`` defences); empty
            for the shipped one.
        defense: the defence.
        name: its name in the report (default: the defence kind, with the schedule).
        split: ``test`` or ``val``.
        n_images: images attacked (the first of the split; every prefix is stratified).
        eot: EoT copies for prediction and attack.
        preset: attack strengths, ``fast`` or ``thorough``.
        attacks: attacks of the preset to run; empty for all that can run here.
        bounds: L2 bounds.
        diagnostics: run the gradient-masking checks.
        diagnostic_images: images the checks use.
        large_bound: the bound of the large-bound check.
        batch_size: images per batch (the unit of resumption and sharding).
        seed: seed of the attacks and the defence's draws.
        out: results folder.
    """

    data: DataConfig = field(default_factory=DataConfig)
    classifier: str = ""
    mlvgm: str = ""
    defense: DefenseConfig = field(default_factory=DefenseConfig)
    name: str = ""
    split: str = "test"
    n_images: int = 100
    eot: int = 4
    preset: str = "fast"
    attacks: list[str] = field(default_factory=lambda: ["apgd-ce"])
    bounds: list[float] = field(default_factory=lambda: [0.5, 1.0, 1.5, 2.0])
    diagnostics: bool = True
    diagnostic_images: int = 50
    large_bound: float = 8.0
    batch_size: int = 50
    seed: int = 0
    out: str = "runs/evaluate"

    def __post_init__(self) -> None:
        if self.split not in ("test", "val"):
            raise ConfigError(f"split must be 'test' or 'val', got {self.split!r}")
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; known: {', '.join(PRESETS)}")
        for b in [*self.bounds, self.large_bound]:
            if isinstance(b, bool) or not isinstance(b, int | float) or not b > 0:
                raise ConfigError(f"bounds must be positive numbers, got {b!r}")
        if not self.bounds:
            raise ConfigError("bounds must list at least one L2 bound")
        for key in ("n_images", "eot", "batch_size", "diagnostic_images"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be at least 1, got {getattr(self, key)}")

    def defense_name(self) -> str:
        """The report name of the defence."""
        if self.name:
            return self.name
        if self.defense.kind == "mlvgm":
            return f"mlvgm-{self.defense.schedule.kind}"
        return self.defense.kind


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    p = sub.add_parser(
        "evaluate",
        help="attack one defence with the L2 suite; resumable, shardable with torchrun",
        description=(
            "Evaluate one defence (undefended, noise, blur, reconstruction or MLVGM) under "
            "adaptive L2 attacks with EoT; writes report.json, robustness.png, examples.png."
        ),
    )
    add_config_options(p, "runs/evaluate", EvaluateConfig)
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> None:
    run_evaluate(resolve_config(EvaluateConfig, args))


def _load(cfg: EvaluateConfig) -> tuple[nn.Module, MLVGM | None]:
    generator = load_mlvgm(cfg.mlvgm) if cfg.defense.needs_mlvgm else None
    return load_classifier(cfg.classifier), generator


def _check_folder(out: Path, fingerprint: str) -> None:
    """Refuse a results folder made by another config; claim a new one."""
    marker = out / "evaluate.json"
    if marker.exists():
        stored = json.loads(marker.read_text()).get("fingerprint")
        if stored != fingerprint:
            raise ConfigError(
                f"results folder {out} was made with a different config; "
                "use another --out, or delete the folder to start over"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(marker, json.dumps({"fingerprint": fingerprint}) + "\n")


def run_evaluate(cfg: EvaluateConfig, progress: bool = True) -> dict[str, Any] | None:
    """Run the evaluation; returns the report on the reporting process, else None."""
    rank, world = distributed.init()
    started = time.time()
    out = Path(cfg.out)
    classifier, generator = _load(cfg)
    splits = load_splits(cfg.data)
    part = splits.test if cfg.split == "test" else splits.val
    if cfg.n_images > len(part):
        raise ConfigError(f"n_images is {cfg.n_images} but the {cfg.split} split has {len(part)}")
    x, y = part.images[: cfg.n_images], part.labels[: cfg.n_images]
    names = cfg.attacks or None
    make_preset_attacks(cfg.preset, cfg.bounds[0], splits.n_classes, names)  # checks names

    defense = cfg.defense.build(classifier, generator)
    model = EoT(defense, cfg.eot)
    fingerprint = config_fingerprint(to_dict(cfg))
    if rank == 0:
        _check_folder(out, fingerprint)
    distributed.barrier()

    store = BatchStore(out)
    n_batches = (cfg.n_images + cfg.batch_size - 1) // cfg.batch_size
    evaluate_robustness(
        model,
        x,
        y,
        cfg.bounds,
        lambda eps: make_preset_attacks(cfg.preset, eps, splits.n_classes, names),
        batch_size=cfg.batch_size,
        progress=progress and distributed.is_main(),
        desc=f"evaluate {cfg.defense_name()}",
        seed=cfg.seed,
        batches=range(rank, n_batches, world),
        load=store.load,
        store=store.save,
    )
    distributed.barrier()
    if not distributed.is_main():
        distributed.shutdown()
        return None

    loaded = [store.load(k) for k in range(n_batches)]
    result = RobustnessResult.concat([r for r in loaded if r is not None])
    diagnostics = _diagnostics(cfg, out, model, defense, classifier, x, y, splits.n_classes)
    report = _report(cfg, splits.name, result, model.k, diagnostics, started)
    write_report(out, report)
    _write_figures(out, cfg, result, x, y, defense)
    distributed.shutdown()
    if progress:
        entry = report["defenses"][cfg.defense_name()]
        robust = ", ".join(f"L2<={k}: {100 * v:.1f}" for k, v in entry["robust_accuracy"].items())
        print(f"{cfg.defense_name()}: clean {100 * entry['clean_accuracy']:.1f}, {robust}")
        for w in report["warnings"]:
            print(f"warning: {w}")
        print(f"wrote {out}/report.json, robustness.png, success.png, examples.png")
    return report


def _diagnostics(
    cfg: EvaluateConfig,
    out: Path,
    model: EoT,
    defense: nn.Module,
    classifier: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
) -> dict[str, Any] | None:
    """The gradient-masking checks, cached in ``diagnostics.json`` for resumption."""
    if not cfg.diagnostics:
        return None
    path = out / "diagnostics.json"
    if path.exists():
        return dict(json.loads(path.read_text()))

    def apgd(eps: float) -> Any:
        return make_preset_attacks(cfg.preset, eps, n_classes, ["apgd-ce"])[0][1]

    torch.manual_seed(cfg.seed)
    n = min(cfg.diagnostic_images, x.shape[0])
    mid = sorted(cfg.bounds)[len(cfg.bounds) // 2]
    found = masking_diagnostics(
        model,
        defense,
        classifier,
        x[:n],
        y[:n],
        apgd,
        mid,
        cfg.large_bound,
        stochastic=model.k > 1,
    )
    atomic_write_text(path, json.dumps(found, indent=2) + "\n")
    return found


def _report(
    cfg: EvaluateConfig,
    dataset: str,
    result: RobustnessResult,
    eot: int,
    diagnostics: dict[str, Any] | None,
    started: float,
) -> dict[str, Any]:
    options = {a: PRESETS[cfg.preset][a] for a in result.attacks}
    warnings = list(diagnostics["warnings"]) if diagnostics else []
    if cfg.eot < 8 and eot > 1:
        warnings.append(
            f"EoT over {cfg.eot} copies is few for a randomised defence (the reference used 32)"
        )
    if diagnostics is None:
        warnings.append("gradient-masking diagnostics were switched off")
    entry = defense_entry(result, eot=eot, defense=to_dict(cfg.defense))
    return {
        "dataset": f"{dataset} {cfg.split}",
        "n_images": cfg.n_images,
        "eot": cfg.eot,
        "attacks": result.attacks,
        "attack_settings": {"preset": cfg.preset, **options},
        "bounds": [float(b) for b in sorted(cfg.bounds)],
        "threat_model": "untargeted, L2, white-box, adaptive (gradients through the defence, EoT)",
        "defenses": {cfg.defense_name(): entry},
        "diagnostics": diagnostics,
        "warnings": warnings,
        "seconds": round(time.time() - started, 1),
        "run": run_info(to_dict(cfg)),
    }


@torch.no_grad()
def _write_figures(
    out: Path,
    cfg: EvaluateConfig,
    result: RobustnessResult,
    x: torch.Tensor,
    y: torch.Tensor,
    defense: nn.Module,
) -> None:
    bounds = sorted(cfg.bounds)
    curves = {name: [rates[b] for b in bounds] for name, rates in result.success_rates().items()}
    save_curves_figure(
        out / "success.png",
        curves,
        bounds,
        "L2 bound",
        "attack success rate",
        f"{cfg.defense_name()}: success of each attack (clean-correct images)",
    )
    idx = pick_examples(result, 8)
    torch.manual_seed(cfg.seed)
    purify = getattr(defense, "purify", None)
    rows = {"original": x[idx], "adversarial": result.x_adv[idx]}
    if purify is not None:
        rows["purified"] = purify(result.x_adv[idx])
    save_rows_figure(
        out / "examples.png",
        rows,
        title=f"{cfg.defense_name()}, labels "
        f"{y[idx].tolist()}, L2 of adversarial "
        f"{[round(float(v), 2) for v in result.l2[idx]]}",
    )
