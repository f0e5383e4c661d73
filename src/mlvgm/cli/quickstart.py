"""``mlvgm quickstart``: attack the undefended, reconstruction-only and MLVGM-purified classifier.

With no arguments it uses the embedded MNIST split and the small checkpoints
shipped in ``mlvgm/weights`` (reproduced by ``mlvgm train-classifier`` and
``mlvgm train-mlvgm`` with their default options; ``--retrain`` runs both first).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from mlvgm.attacks import make_attack
from mlvgm.checkpoint import load_classifier, load_mlvgm
from mlvgm.cli._options import add_config_options, resolve_config
from mlvgm.config import to_dict
from mlvgm.data import DataConfig, load_splits
from mlvgm.defenses import SCHEDULES, AlphaSchedule, EoT, Purifier
from mlvgm.errors import ConfigError
from mlvgm.evaluation.figures import save_rows_figure
from mlvgm.evaluation.report import defense_entry, format_table, pick_examples, write_report
from mlvgm.evaluation.robustness import RobustnessResult, evaluate_robustness, predict
from mlvgm.models.base import MLVGM
from mlvgm.training._loop import run_info


@dataclass
class QuickstartConfig:
    """Options of ``mlvgm quickstart``.

    Attributes:
        data: the dataset (its test split is attacked).
        classifier: classifier checkpoint; empty for the shipped one.
        mlvgm: MLVGM checkpoint; empty for the shipped one.
        n_images: test images attacked (the first of the test split).
        eot: EoT copies for prediction and attack.
        iterations: APGD-CE iterations per bound.
        restarts: APGD-CE restarts.
        bounds: L2 bounds.
        schedules: re-sampling schedules evaluated (``linear``, ``cosine``, ``constant``).
        explicit: further alpha lists (one value per latent, coarse to fine) evaluated
            as ``mlvgm-explicit-1``, ``mlvgm-explicit-2``, ... (attenuation applies).
        attenuation: every alpha is scaled into [0, attenuation].
        temperature: temperature of the prior draws.
        noise_l2: L2 norm of the Gaussian noise added before encoding (0 for none),
            applied to reconstruction and MLVGM defences alike.
        blur_sigma: Gaussian blur before encoding (0 for none), likewise.
        batch_size: images per attack batch.
        seed: seed of the attacks and of the defences' draws.
        retrain: train the classifier and the MLVGM from scratch first.
        out: output folder.
    """

    data: DataConfig = field(default_factory=DataConfig)
    classifier: str = ""
    mlvgm: str = ""
    n_images: int = 100
    eot: int = 4
    iterations: int = 50
    restarts: int = 1
    bounds: list[float] = field(default_factory=lambda: [0.5, 1.0, 1.5, 2.0])
    schedules: list[str] = field(default_factory=lambda: ["linear", "cosine"])
    explicit: list[list[float]] = field(default_factory=list)
    attenuation: float = 1.0
    temperature: float = 1.0
    noise_l2: float = 0.0
    blur_sigma: float = 0.0
    batch_size: int = 100
    seed: int = 0
    retrain: bool = False
    out: str = "runs/quickstart"

    def __post_init__(self) -> None:
        if self.n_images < 1 or self.eot < 1 or self.iterations < 1 or self.batch_size < 1:
            raise ConfigError("n_images, eot, iterations and batch_size must be at least 1")
        if self.noise_l2 < 0 or self.blur_sigma < 0:
            raise ConfigError("noise_l2 and blur_sigma must not be negative (0 switches off)")
        if not self.bounds or any(not 0 < b < float("inf") for b in self.bounds):
            raise ConfigError(f"bounds must be positive finite numbers, got {self.bounds}")
        if self.restarts < 1:
            raise ConfigError(f"restarts must be at least 1, got {self.restarts}")
        for s in self.schedules:
            if s not in SCHEDULES:
                raise ConfigError(f"unknown schedule {s!r}; known: {', '.join(SCHEDULES)}")
        for alphas in self.explicit:
            AlphaSchedule("explicit", self.attenuation, alphas=alphas)  # checks the values


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``quickstart`` sub-command."""
    p = sub.add_parser(
        "quickstart",
        help="attack undefended, reconstruction and MLVGM-purified classifiers on MNIST",
        description=(
            "Attack (APGD-CE, L2, EoT) the undefended classifier, reconstruction only and "
            "MLVGM purification on the embedded test digits; writes report.json, "
            "robustness.png and examples.png."
        ),
    )
    add_config_options(p, "runs/quickstart", QuickstartConfig)
    p.add_argument("--retrain", action="store_true", default=None, help="train both models first")
    p.add_argument("--n-images", type=int, help="test images to attack")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> None:
    cfg = resolve_config(QuickstartConfig, args, retrain=args.retrain, n_images=args.n_images)
    run_quickstart(cfg)


def _load_models(cfg: QuickstartConfig, out: Path) -> tuple[nn.Module, MLVGM]:
    if cfg.retrain:
        from mlvgm.training.classifier import TrainClassifierConfig, train_classifier
        from mlvgm.training.hvae import TrainMLVGMConfig, train_mlvgm

        clf = train_classifier(TrainClassifierConfig(data=cfg.data, out=str(out / "classifier")))
        vae = train_mlvgm(TrainMLVGMConfig(data=cfg.data, out=str(out / "mlvgm")))
        return clf, vae
    return load_classifier(cfg.classifier), load_mlvgm(cfg.mlvgm)


def build_defenses(
    cfg: QuickstartConfig, classifier: nn.Module, vae: MLVGM
) -> dict[str, tuple[nn.Module, list[float]]]:
    """Name -> (defended model, alphas) for every defence the quickstart compares."""
    pre = {"noise_l2": cfg.noise_l2 or None, "blur_sigma": cfg.blur_sigma or None}
    zeros = [0.0] * vae.n_latents
    defenses: dict[str, tuple[nn.Module, list[float]]] = {
        "undefended": (Purifier(None, classifier), []),
        "reconstruction": (Purifier(vae, classifier, zeros, cfg.temperature, **pre), zeros),
    }
    schedules = {f"mlvgm-{k}": AlphaSchedule(k, cfg.attenuation) for k in cfg.schedules}
    for i, alphas in enumerate(cfg.explicit, start=1):
        schedules[f"mlvgm-explicit-{i}"] = AlphaSchedule("explicit", cfg.attenuation, alphas=alphas)
    for name, schedule in schedules.items():
        alphas = schedule.resolve(vae.n_latents)
        defenses[name] = (Purifier(vae, classifier, alphas, cfg.temperature, **pre), alphas)
    return defenses


def run_quickstart(cfg: QuickstartConfig, progress: bool = True) -> dict[str, Any]:
    """Run the quickstart job; returns the report it writes to ``cfg.out``."""
    out = Path(cfg.out)
    started = time.time()
    classifier, vae = _load_models(cfg, out)
    splits = load_splits(cfg.data)
    if cfg.n_images > len(splits.test):
        raise ConfigError(f"n_images is {cfg.n_images} but the test split has {len(splits.test)}")
    x, y = splits.test.images[: cfg.n_images], splits.test.labels[: cfg.n_images]
    attack_options = {"n_iter": cfg.iterations, "n_restarts": cfg.restarts, "seed": cfg.seed}

    def attacks(eps: float) -> list[tuple[str, Any]]:
        return [("apgd-ce", make_attack("apgd-ce", eps, **attack_options))]

    entries: dict[str, dict[str, Any]] = {}
    results: dict[str, RobustnessResult] = {}
    models: dict[str, nn.Module] = {}
    defenses = build_defenses(cfg, classifier, vae)
    for name, (defense, alphas) in tqdm(defenses.items(), desc="defenses", disable=not progress):
        torch.manual_seed(cfg.seed)
        model = EoT(defense, cfg.eot)
        t0 = time.time()
        res = evaluate_robustness(
            model, x, y, cfg.bounds, attacks, cfg.batch_size, progress, desc=name
        )
        extra: dict[str, Any] = {"eot": model.k, "seconds": round(time.time() - t0, 1)}
        if isinstance(defense, Purifier):
            extra["preprocess"] = {"noise_l2": defense.noise_l2, "blur_sigma": defense.blur_sigma}
            if defense.mlvgm is not None:
                extra.update(alphas=alphas, temperature=defense.temperature)
        entries[name] = defense_entry(res, **extra)
        results[name] = res
        models[name] = model

    report: dict[str, Any] = {
        "dataset": f"{splits.name} test",
        "n_images": cfg.n_images,
        "eot": cfg.eot,
        "attacks": ["apgd-ce"],
        "attack_settings": {"apgd-ce": {**attack_options, "rho": 0.75, "loss": "ce"}},
        "bounds": [float(b) for b in cfg.bounds],
        "threat_model": "untargeted, L2, white-box, adaptive (gradients through the defence, EoT)",
        "defenses": entries,
        "seconds": round(time.time() - started, 1),
        "run": run_info(to_dict(cfg)),
    }
    write_report(out, report)
    _write_examples(out, cfg, defenses, results, x, y)
    print(format_table(report))
    print(
        f"wrote {out}/report.json, {out}/robustness.png, {out}/examples.png "
        f"in {report['seconds']:.0f} s"
    )
    return report


@torch.no_grad()
def _write_examples(
    out: Path,
    cfg: QuickstartConfig,
    defenses: dict[str, tuple[nn.Module, list[float]]],
    results: dict[str, RobustnessResult],
    x: torch.Tensor,
    y: torch.Tensor,
) -> None:
    """Original, adversarial (against each MLVGM defence) and purified rows, 8 images."""
    torch.manual_seed(cfg.seed)
    name = max(
        (n for n in results if n.startswith("mlvgm")),
        key=lambda n: results[n].robust_accuracy()[max(cfg.bounds)],
        default="reconstruction",
    )
    purifier, _ = defenses[name]
    assert isinstance(purifier, Purifier)
    idx = pick_examples(results[name], 8)
    x_adv = results[name].x_adv[idx]
    rows = {
        "original": x[idx],
        f"adversarial\n(vs {name})": x_adv,
        f"purified\n({name})": purifier.purify(x_adv),
        "undefended adv.": results["undefended"].x_adv[idx],
        "purified (undef. adv.)": purifier.purify(results["undefended"].x_adv[idx]),
    }
    preds = predict(EoT(purifier, cfg.eot), x_adv)
    title = (
        f"labels {y[idx].tolist()}  |  {name} (EoT {cfg.eot}, one fresh draw) on its "
        f"adversarial: {preds.tolist()}"
    )
    save_rows_figure(out / "examples.png", rows, title=title)
