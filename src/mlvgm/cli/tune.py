"""``mlvgm tune-alphas``: learn the purifier's alphas by Bayesian optimisation.

Makes a training-split set of adversarial images (single-step L2-FGSM against
the reconstruction-only defence), then searches [0, 1]^L for the alphas whose
purified classifier scores the highest EoT accuracy on them, with random search
as the baseline (see :mod:`mlvgm.tuning` for the method and its shortcomings).
Rerunning the same command resumes; a larger ``--steps`` extends the search.

Writes to ``out``: ``config.json`` (settings, fingerprint, version),
``adversarial.safetensors`` (the cached image set), ``evaluations.jsonl`` (one
line per evaluation), ``search.json``, ``search.png`` and ``best_alphas.yaml``,
the best vector as the ``classifier``, ``mlvgm``, ``defense`` and ``data`` keys
of an evaluation config.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from mlvgm.checkpoint import (
    atomic_write_text,
    file_sha256,
    load_classifier,
    load_mlvgm,
    shipped_weights,
)
from mlvgm.cli._options import add_config_options, resolve_config
from mlvgm.config import to_dict
from mlvgm.data import DataConfig, load_splits
from mlvgm.defenses import DefenseConfig
from mlvgm.errors import ConfigError
from mlvgm.evaluation.robustness import predict
from mlvgm.models.base import MLVGM
from mlvgm.training._loop import config_fingerprint, run_info
from mlvgm.tuning import (
    AdversarialSet,
    EoTAccuracy,
    EvaluationLog,
    SearchResult,
    adversarial_set,
    load_adversarial_set,
    save_adversarial_set,
    search_alphas,
)
from mlvgm.tuning._plot import save_search_figure

ADVERSARIAL_FILE = "adversarial.safetensors"

# Options that do not change any score: a folder may be resumed with other values.
_RESUMABLE = ("out", "n_steps", "random_search")


@dataclass
class TuneAlphasConfig:
    """Options of ``mlvgm tune-alphas``.

    Attributes:
        data: the dataset; the first ``n_images`` of its train split are attacked.
        classifier: classifier checkpoint; empty for the shipped one.
        mlvgm: MLVGM checkpoint; empty for the shipped one.
        n_images: training images in the adversarial set.
        eps: L2 length of the FGSM step.
        eot: EoT copies whose logits the objective averages.
        temperature: temperature of the prior draws.
        n_init: how many of the five starting schedules (cosine, linear, all-0.5,
            1-linear, 1-cosine, in that order) BO scores before its first proposal.
        n_steps: BO proposals after the starting schedules; random search scores
            ``n_init + n_steps`` vectors. Raise it to extend a finished search.
        random_search: also run the random-search baseline.
        seed: seed of the attack, of every evaluation's prior draws, of BO's
            acquisition optimiser and of random search.
        batch_size: images per forward pass (each with ``eot`` copies).
        out: output folder; rerunning with the same options resumes it (``n_steps``
            and ``random_search`` may change, every other option must not).
    """

    data: DataConfig = field(default_factory=DataConfig)
    classifier: str = ""
    mlvgm: str = ""
    n_images: int = 500
    eps: float = 1.5
    eot: int = 8
    temperature: float = 1.0
    n_init: int = 5
    n_steps: int = 95
    random_search: bool = True
    seed: int = 0
    batch_size: int = 250
    out: str = "runs/tune-alphas"

    def __post_init__(self) -> None:
        for name in ("n_images", "eot", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 1 <= self.n_init <= 5:
            raise ConfigError(
                f"n_init must lie in 1..5 (five starting schedules), got {self.n_init}"
            )
        if self.n_steps < 0 or self.seed < 0:
            raise ConfigError(
                f"n_steps and seed must not be negative, got {self.n_steps}, {self.seed}"
            )
        if not 0 < self.eps < float("inf"):
            raise ConfigError(f"eps must be a positive finite number, got {self.eps}")
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be positive, got {self.temperature}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``tune-alphas`` sub-command."""
    p = sub.add_parser(
        "tune-alphas",
        help="learn the purifier's alphas by Bayesian optimisation (random search baseline)",
        description=(
            "Search [0, 1]^L for the alphas with the highest EoT accuracy on training images "
            "attacked by L2-FGSM through the reconstruction-only defence; writes "
            "best_alphas.yaml, search.json and search.png. Rerun to resume."
        ),
    )
    add_config_options(p, "runs/tune-alphas", TuneAlphasConfig)
    p.add_argument("--steps", type=int, help="BO steps after the starting schedules (n_steps)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> None:
    tune_alphas(resolve_config(TuneAlphasConfig, args, n_steps=args.steps))


def tune_alphas(cfg: TuneAlphasConfig, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the alpha search; returns what it writes to ``search.json``.

    Raises:
        CheckpointError: if a checkpoint is missing or of the wrong architecture, or
            ``cfg.out`` holds a search with other settings.
        ConfigError: if ``n_images`` exceeds the train split or an option is out of range.
        DataError: if the dataset cannot be loaded.
    """
    started = time.time()
    out = Path(cfg.out)
    clf_path = Path(cfg.classifier or shipped_weights("classifier")).resolve()
    vae_path = Path(cfg.mlvgm or shipped_weights("hvae")).resolve()
    classifier = load_classifier(clf_path)
    vae = load_mlvgm(vae_path)

    settings = {k: v for k, v in to_dict(cfg).items() if k not in _RESUMABLE}
    settings.update(classifier_sha256=file_sha256(clf_path), mlvgm_sha256=file_sha256(vae_path))
    fingerprint = config_fingerprint(settings)
    log = EvaluationLog(out, fingerprint, settings, run_info(to_dict(cfg)))
    data = load_adversarial_set(out / ADVERSARIAL_FILE, fingerprint)
    if data is None:
        data = _make_adversarial_set(cfg, classifier, vae)
        save_adversarial_set(out / ADVERSARIAL_FILE, data, fingerprint)

    objective = EoTAccuracy(
        vae, classifier, data.x_adv, data.y, cfg.eot, cfg.temperature, cfg.seed, cfg.batch_size
    )
    result = search_alphas(
        objective,
        vae.n_latents,
        cfg.n_steps,
        log,
        random_search=cfg.random_search,
        seed=cfg.seed,
        progress=progress,
        n_init=cfg.n_init,
    )

    summary = {
        "objective": _describe_objective(cfg, data),
        **result.summary(),
        "seconds": round(time.time() - started, 1),
        "evaluations_this_run": objective.calls,
        "run": run_info(to_dict(cfg)),
    }
    atomic_write_text(out / "search.json", json.dumps(summary, indent=2) + "\n")
    save_search_figure(
        out / "search.png",
        result,
        ylabel="EoT accuracy (FGSM set)",
        reference=("reconstruction only", 1.0 - data.fooled),
    )
    _write_best_config(out / "best_alphas.yaml", cfg, result, clf_path, vae_path)
    _print_report(out, result, data.fooled, summary["seconds"])
    return summary


def _make_adversarial_set(
    cfg: TuneAlphasConfig, classifier: nn.Module, vae: MLVGM
) -> AdversarialSet:
    """FGSM images of the first ``n_images`` train images, against reconstruction only."""
    train = load_splits(cfg.data).train
    if cfg.n_images > len(train):
        raise ConfigError(f"n_images is {cfg.n_images} but the train split has {len(train)} images")
    x, y = train.images[: cfg.n_images], train.labels[: cfg.n_images]
    defense = DefenseConfig(kind="reconstruction", temperature=cfg.temperature).build(
        classifier, vae
    )
    torch.manual_seed(cfg.seed)
    x_adv = adversarial_set(defense, x, y, cfg.eps, cfg.batch_size)
    fooled = int((predict(defense, x_adv, cfg.batch_size) != y).sum()) / len(y)
    return AdversarialSet(x_adv, y, fooled)


def _describe_objective(cfg: TuneAlphasConfig, data: AdversarialSet) -> dict[str, Any]:
    """What the scores in ``search.json`` measure."""
    return {
        "what": "EoT accuracy on train-split images attacked by L2-FGSM vs reconstruction",
        "n_images": cfg.n_images,
        "eps": cfg.eps,
        "eot": cfg.eot,
        "temperature": cfg.temperature,
        "seed": cfg.seed,
        "reconstruction_accuracy": 1.0 - data.fooled,
    }


def _write_best_config(
    path: Path, cfg: TuneAlphasConfig, result: SearchResult, clf_path: Path, vae_path: Path
) -> None:
    """Write the best vector as the classifier, mlvgm, defense and data keys of a config."""
    best = result.best()
    defense = {
        "kind": "mlvgm",
        "schedule": {"kind": "explicit", "alphas": best.alphas},
        "temperature": cfg.temperature,
    }
    config = {
        "classifier": str(clf_path),
        "mlvgm": str(vae_path),
        "defense": defense,
        "data": to_dict(cfg.data),
    }
    header = (
        f"# written by mlvgm tune-alphas: {best.method} step {best.step} of "
        f"{len(result.bo) + len(result.random)} evaluations, EoT accuracy {best.accuracy:.4f}\n"
        f"# on {cfg.n_images} train images attacked by L2-FGSM (eps {cfg.eps}) through the\n"
        "# reconstruction-only defence; measure its robustness with mlvgm evaluate.\n"
    )
    atomic_write_text(path, header + yaml.safe_dump(config, sort_keys=False))


def _print_report(out: Path, result: SearchResult, fooled: float, seconds: float) -> None:
    print(f"reconstruction only (the attacked defence): accuracy {1 - fooled:.3f}")
    for e in result.bo:
        if e.name:
            print(f"  start {e.name:<13} accuracy {e.accuracy:.3f}")
    for method in ("bo", "random"):
        if getattr(result, method):
            best = result.best(method)
            alphas = ", ".join(f"{a:.3f}" for a in best.alphas)
            print(f"best {method:<6} accuracy {best.accuracy:.3f} at step {best.step}: [{alphas}]")
    print(f"wrote {out}/best_alphas.yaml, {out}/search.json, {out}/search.png in {seconds:.0f} s")
