"""How much does each latent matter? Adversarial walkers against an InfoNCE critic.

Paper B's latent analysis, in the prior's standard-normal coordinates ``z`` (see
:meth:`mlvgm.models.MLVGM.generate`). For each variable ``i`` (one latent, or a
group of latents) a walker ``T_i`` (:mod:`mlvgm.views.walkers`) moves variable
``i`` alone, ``z' = z + T_i(z)``, and a critic ``f`` (a small CNN with a projection
head) embeds the anchor ``x = g(z)`` and the positive ``x' = g(z')``. The two play

    min_f max_{T_i}  L_InfoNCE(f(x), f(x'))

with NT-Xent (SimCLR, Chen et al., ICML 2020) as ``L_InfoNCE``, alternating one
critic step and one walker step per batch. The generator ``g`` is frozen.

After training, a Monte Carlo run over fixed anchors (the same for every
variable) reports per variable the perturbation size ``delta = ||z'_i - z_i||``
and the final InfoNCE value, from which

    I(x; x') >= log K - L_InfoNCE         (van den Oord et al., 2018, arXiv 1807.03748)

in nats, with ``K = 2B - 1`` candidates (one positive, ``2B - 2`` negatives) per
anchor of a Monte Carlo batch of ``B`` pairs (``mc_batch_size``, which may exceed
the training batch: the bound holds for any critic and any K). The estimate is
a *lower* bound, and it can never exceed ``log K`` however much information the
views share: a variable whose estimate sits near ``log K`` is one whose
perturbation leaves the anchor easy to find, not one measured to carry exactly
``log K`` nats. The lowest estimate marks
the most critical variable, the one whose bounded perturbation destroys the most
of the image's identity.

Known limits: the critic that gives the bound is the one trained against a moving
walker, so the bound may be looser than a critic refit to the final walker would
give; and because the walker is rewarded only for destroying information, its
perturbation tends towards the per-coordinate bound (see
:mod:`mlvgm.views.walkers`), so ``delta`` compares variables mostly through how
far below that ceiling they stay.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import yaml
from torch import Tensor, nn
from tqdm import tqdm

from mlvgm.checkpoint import (
    atomic_write,
    atomic_write_text,
    file_sha256,
    load_mlvgm,
    load_model,
    load_state,
    save_model,
    save_state,
    shipped_weights,
)
from mlvgm.config import to_dict
from mlvgm.errors import CheckpointError, ConfigError
from mlvgm.evaluation.figures import save_rows_figure
from mlvgm.models.base import MLVGM
from mlvgm.ssl.losses import nt_xent
from mlvgm.training._loop import changed_keys, config_fingerprint, run_info, write_run_info
from mlvgm.views.generate import truncated_normal
from mlvgm.views.variables import get_variable, resolve_grouping, set_variable, variable_dims
from mlvgm.views.walkers import Walker, WalkerSet

logger = logging.getLogger(__name__)

#: version tag of the ``latents.json`` layout
SCHEMA = "mlvgm.latents/1"
STATE_DIR = "state"
#: random perturbations per variable shown in ``latents_grid.png``
GRID_RANDOM = 4

#: ``on_step(variable, step)``, called after every finished training step
StepHook = Callable[[int, int], None]


@dataclass
class AnalyzeLatentsConfig:
    """Options of ``mlvgm analyze-latents``.

    Attributes:
        mlvgm: MLVGM checkpoint; empty for the shipped hierarchical VAE.
        grouping: latent indices of every variable, e.g. ``[[0], [1, 2]]``; None for
            one variable per latent.
        truncation: anchors draw every noise coordinate from N(0, 1) truncated to
            ``[-truncation, truncation]``; None for no truncation.
        steps: training steps (one critic and one walker update each) per variable.
        batch_size: B, pairs per batch; NT-Xent compares each view with ``2B - 1``
            candidates.
        walker_lr: Adam learning rate of the walkers.
        critic_lr: Adam learning rate of the critics.
        temperature: NT-Xent temperature tau.
        walker_hidden: hidden width of every walker.
        walker_bound: largest move of one noise coordinate, in standard-normal units.
        critic_width: channels of the critic's first convolution (doubled twice).
        critic_proj_dim: dimension of the critic's embeddings.
        mc_anchors: anchors of the final Monte Carlo run, in full batches of
            ``mc_batch_size``.
        mc_batch_size: B of the Monte Carlo run; its ``K = 2B - 1`` candidates per
            anchor set the ceiling ``log K`` of the MI estimate, so it may exceed
            ``batch_size`` (the bound holds for any K with any critic).
        checkpoint_every: steps between saved states within a variable.
        init_walkers: a ``walkers.safetensors`` to start the walkers from instead of
            near zero; empty for a fresh start.
        seed: seeds every draw and initialisation, by (seed, variable, step).
        device: ``cpu``, ``cuda``, or ``auto`` (CUDA when available).
        out: output folder.
    """

    mlvgm: str = ""
    grouping: list[list[int]] | None = None
    truncation: float | None = 2.0
    steps: int = 500
    batch_size: int = 32
    walker_lr: float = 3e-3
    critic_lr: float = 1e-3
    temperature: float = 0.1
    walker_hidden: int = 256
    walker_bound: float = 1.0
    critic_width: int = 32
    critic_proj_dim: int = 64
    mc_anchors: int = 2048
    mc_batch_size: int = 256
    checkpoint_every: int = 50
    init_walkers: str = ""
    seed: int = 0
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    out: str = "runs/latents"

    def __post_init__(self) -> None:
        for name in ("steps", "walker_hidden", "critic_width", "critic_proj_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.checkpoint_every < 1:
            raise ConfigError(f"checkpoint_every must be positive, got {self.checkpoint_every}")
        if self.batch_size < 2:
            raise ConfigError(
                f"batch_size must be at least 2 (NT-Xent needs negatives), got {self.batch_size}"
            )
        if self.mc_batch_size < 2:
            raise ConfigError(f"mc_batch_size must be at least 2, got {self.mc_batch_size}")
        if self.mc_anchors < self.mc_batch_size:
            raise ConfigError(
                f"mc_anchors ({self.mc_anchors}) must be at least mc_batch_size "
                f"({self.mc_batch_size})"
            )
        for name in ("walker_lr", "critic_lr", "temperature", "walker_bound"):
            value = getattr(self, name)
            if not 0.0 < value < math.inf:
                raise ConfigError(f"{name} must be a positive finite number, got {value}")
        if self.truncation is not None and not self.truncation > 0:
            raise ConfigError(f"truncation must be positive or null, got {self.truncation}")
        if self.grouping is not None and not self.grouping:
            raise ConfigError("grouping must list at least one variable, or be null")


class Critic(nn.Module):
    """f: three strided convolutions, then a two-layer projection head.

    Args:
        in_channels: image channels.
        width: channels of the first convolution; the next two have 2x and 4x.
        proj_dim: dimension of the embedding.
    """

    def __init__(self, in_channels: int, width: int = 32, proj_dim: int = 64) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.AdaptiveAvgPool2d(4),
        )
        self.head = nn.Sequential(
            nn.Linear(4 * w * 16, 4 * w), nn.SiLU(), nn.Linear(4 * w, proj_dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: (B, C, H, W) in [0, 1]. Returns: (B, proj_dim) embeddings."""
        h = self.features(2 * x - 1).flatten(1)  # (B, 4w * 4 * 4)
        return typing.cast(Tensor, self.head(h))


@dataclass
class _Problem:
    """What every step of one run needs: the frozen generator and the options."""

    model: MLVGM
    grouping: list[list[int]]
    dims: list[int]
    config: AnalyzeLatentsConfig
    device: torch.device
    identity: dict[str, Any]
    fingerprint: str
    state_dir: Path
    init: WalkerSet | None = None
    timings: list[dict[str, float]] = field(default_factory=list)


def analyze_latents(
    config: AnalyzeLatentsConfig, progress: bool = True, on_step: StepHook | None = None
) -> dict[str, Any]:
    """Train a walker and a critic per variable, measure them, and write the results.

    Writes to ``config.out``:

    - ``latents.json``: ``schema``, ``mi_units`` ("nats"), ``candidates_per_anchor``
      (K), ``log_k`` (the MI ceiling), ``train_log_k``, ``grouping``,
      ``latent_shapes``, ``variables`` (one record per variable: ``variable``,
      ``latents``, ``dim``, ``delta_mean``, ``delta_std``,
      ``delta_per_coordinate_mean`` / ``_std`` (divided by sqrt(dim)),
      ``delta_ceiling`` (bound * sqrt(dim)), ``infonce``, ``infonce_std`` (over Monte
      Carlo batches), ``mi_lower_bound`` (log K - infonce), ``mi_std``, ``mi_sem``,
      ``n_anchors``, ``train`` (final losses and a 20-point curve)), ``ordering``
      (variable indices by MI, lowest first), ``timings`` (per variable, the
      training and Monte Carlo seconds of the call that finished it; in all, this
      call's seconds), ``identity`` (what the resume check compares) and ``run``
      (config, versions, commit).
    - ``latents.png`` (bar charts), ``latents_grid.png`` (images),
      ``walkers.safetensors`` (the :class:`~mlvgm.views.walkers.WalkerSet`) and
      ``config.json``.

    The per-variable state lives in ``config.out/state``; rerunning resumes from it,
    every draw being seeded by (seed, variable, step), so a resumed run gives the
    records of an uninterrupted one.

    Args:
        config: the options.
        progress: show a progress bar.
        on_step: optional ``on_step(variable, step)`` after every training step.

    Returns:
        The report written to ``latents.json``.

    Raises:
        CheckpointError: if a checkpoint is missing, corrupt or does not fit, or the
            output folder holds a run with another config.
        ConfigError: if the grouping does not fit the model.
    """
    started = time.perf_counter()
    problem = _prepare(config)
    n_vars = len(problem.grouping)
    bar = tqdm(total=n_vars * config.steps, desc="analyze-latents", disable=not progress)
    records, walkers = [], []
    for v in range(n_vars):
        record, walker = _variable(problem, v, bar, on_step)
        records.append(record)
        walkers.append(walker)
    bar.close()
    return _write_outputs(problem, records, walkers, time.perf_counter() - started)


# -- preparation: every check happens before anything is written ------------------------


def _prepare(config: AnalyzeLatentsConfig) -> _Problem:
    device = _device(config.device)
    mlvgm_path = Path(config.mlvgm) if config.mlvgm else shipped_weights("hvae")
    model = load_mlvgm(mlvgm_path).to(device).eval()
    model.requires_grad_(False)
    grouping = resolve_grouping(config.grouping, model.n_latents)
    dims = variable_dims(model, grouping)
    init = _load_init_walkers(config, model, grouping) if config.init_walkers else None

    identity = {**to_dict(config), "mlvgm_file_sha256": file_sha256(mlvgm_path)}
    if config.init_walkers:
        identity["init_walkers_file_sha256"] = file_sha256(Path(config.init_walkers))
    out = Path(config.out)
    problem = _Problem(
        model=model,
        grouping=grouping,
        dims=dims,
        config=config,
        device=device,
        identity=identity,
        fingerprint=config_fingerprint(identity),
        state_dir=out / STATE_DIR,
        init=init,
    )
    _refuse_other_runs(problem, out)
    write_run_info(out, to_dict(config))
    return problem


def _device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device is 'cuda' but no CUDA device is available; use device=cpu")
    return torch.device(name)


def _load_init_walkers(
    config: AnalyzeLatentsConfig, model: MLVGM, grouping: list[list[int]]
) -> WalkerSet:
    walkers = load_model(config.init_walkers, expect="walkers")
    assert isinstance(walkers, WalkerSet)  # the registry maps "walkers" to WalkerSet
    walkers.check_compatible(model)
    wc = walkers.config
    if wc.grouping != grouping or wc.hidden != config.walker_hidden:
        raise CheckpointError(
            f"{config.init_walkers} holds walkers for grouping {wc.grouping} with hidden "
            f"width {wc.hidden}, but this run uses grouping {grouping} with walker_hidden "
            f"{config.walker_hidden}; set grouping and walker_hidden to match"
        )
    if wc.bound != config.walker_bound:
        raise CheckpointError(
            f"{config.init_walkers} holds walkers with bound {wc.bound}, but this run uses "
            f"walker_bound {config.walker_bound}; set walker_bound to match"
        )
    return walkers


def _refuse_other_runs(problem: _Problem, out: Path) -> None:
    """Refuse an output folder whose state or results come from another config."""
    found: list[dict[str, Any]] = []
    if problem.state_dir.is_dir():
        for path in sorted(problem.state_dir.glob("*.pt")):
            found.append(json.loads(load_state(path).get("identity", "{}")))
    report = out / "latents.json"
    if report.is_file():
        try:
            found.append(json.loads(report.read_text()).get("identity", {}))
        except (json.JSONDecodeError, AttributeError):
            raise CheckpointError(
                f"{report} is not a readable latents report; move it away or choose "
                "another output folder"
            ) from None
    for identity in found:
        if config_fingerprint(identity) != problem.fingerprint:
            changed = changed_keys(identity, problem.identity)
            raise CheckpointError(
                f"{out} holds a latent analysis with a different config (changed: {changed}); "
                "choose another output folder or delete it to start over"
            )


# -- one variable: resume, train, measure ----------------------------------------------


def _variable(
    problem: _Problem, v: int, bar: tqdm, on_step: StepHook | None
) -> tuple[dict[str, Any], Walker]:
    """The finished record and walker of variable ``v``, trained now unless saved."""
    cfg = problem.config
    done_path = problem.state_dir / f"variable_{v}.pt"
    walker, critic = _initial_modules(problem, v)
    if done_path.is_file():
        state = load_state(done_path)
        walker.load_state_dict(state["walker"])
        problem.timings.append(json.loads(state["timings"]))
        bar.update(cfg.steps)
        return json.loads(state["record"]), walker.eval()

    t0 = time.perf_counter()
    curve = _train(problem, v, walker, critic, bar, on_step)
    t1 = time.perf_counter()
    record = _monte_carlo(problem, v, walker, critic)
    record["train"] = _summarise_curve(curve, cfg.steps)
    timings = {"train_seconds": t1 - t0, "mc_seconds": time.perf_counter() - t1}
    problem.timings.append(timings)

    # The finished record is saved before the in-progress state is dropped, so a
    # kill between the two only repeats the check.
    save_state(
        done_path,
        {
            "identity": json.dumps(problem.identity),
            "record": json.dumps(record),
            "timings": json.dumps(timings),
            "walker": walker.state_dict(),
        },
    )
    (problem.state_dir / "current.pt").unlink(missing_ok=True)
    return record, walker.eval()


def _stream_seed(seed: int, *tags: object) -> int:
    """A 63-bit seed for the random stream named by ``(seed, *tags)``."""
    key = "/".join(str(t) for t in (seed, *tags)).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> 1


def _anchor_noise(problem: _Problem, n: int, generator: torch.Generator) -> list[Tensor]:
    """Anchor noise: standard normal per coordinate, truncated to ``[-t, t]`` when set."""
    t, device = problem.config.truncation, problem.device
    return [
        torch.randn((n, *shape), generator=generator, device=device)
        if t is None
        else truncated_normal((n, *shape), t, generator, device)
        for shape in problem.model.latent_shapes()
    ]


def _initial_modules(problem: _Problem, v: int) -> tuple[Walker, Critic]:
    """Variable ``v``'s walker and critic as they start, seeded by (seed, v)."""
    cfg = problem.config
    # A private random stream, so that the caller's global one is left alone.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_stream_seed(cfg.seed, v, "init"))
        critic = Critic(problem.model.in_channels, cfg.critic_width, cfg.critic_proj_dim)
        walker = Walker(problem.dims[v], cfg.walker_hidden, cfg.walker_bound)
    if problem.init is not None:
        walker.load_state_dict(problem.init.walker(v).state_dict())
    return walker.to(problem.device), critic.to(problem.device)


def _train(
    problem: _Problem,
    v: int,
    walker: Walker,
    critic: Critic,
    bar: tqdm,
    on_step: StepHook | None,
) -> list[list[float]]:
    """Alternate critic and walker steps for variable ``v``, resuming a saved state.

    Returns:
        Per step ``[step, critic InfoNCE, walker InfoNCE, mean delta]``.
    """
    cfg, model, members = problem.config, problem.model, problem.grouping[v]
    opt_f = torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr)
    opt_t = torch.optim.Adam(walker.parameters(), lr=cfg.walker_lr)
    curve: list[list[float]] = []
    start = _resume(problem, v, walker, critic, opt_t, opt_f, curve)
    bar.update(start)

    for step in range(start, cfg.steps):
        gen = torch.Generator(problem.device).manual_seed(_stream_seed(cfg.seed, v, step))
        z = _anchor_noise(problem, cfg.batch_size, gen)
        with torch.no_grad():
            x = model.generate(z)  # (B, C, H, W)
        z_v = get_variable(z, members)  # (B, D_v)
        delta = walker(z_v)  # (B, D_v)
        x_pos = model.generate(set_variable(z, members, z_v + delta))  # graph into T_i

        # Critic step: identify each anchor's positive among the 2B - 1 candidates.
        loss_f = nt_xent(critic(x), critic(x_pos.detach()), cfg.temperature)
        opt_f.zero_grad(set_to_none=True)
        loss_f.backward()
        opt_f.step()

        # Walker step: make the positive hard to identify for the updated critic;
        # gradients flow through the frozen generator into T_i only.
        critic.requires_grad_(False)
        with torch.no_grad():
            h_x = critic(x)
        loss_t = nt_xent(h_x, critic(x_pos), cfg.temperature)
        opt_t.zero_grad(set_to_none=True)
        (-loss_t).backward()
        opt_t.step()
        critic.requires_grad_(True)

        size = float(delta.detach().norm(dim=1).mean())
        curve.append([step, float(loss_f.detach()), float(loss_t.detach()), size])
        if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
            _save_current(problem, v, step + 1, walker, critic, opt_t, opt_f, curve)
        bar.update(1)
        bar.set_postfix(var=v, critic=f"{curve[-1][1]:.3f}", walker=f"{curve[-1][2]:.3f}")
        if on_step is not None:
            on_step(v, step)
    critic.eval()
    return curve


def _save_current(
    problem: _Problem,
    v: int,
    step: int,
    walker: Walker,
    critic: Critic,
    opt_t: torch.optim.Optimizer,
    opt_f: torch.optim.Optimizer,
    curve: list[list[float]],
) -> None:
    save_state(
        problem.state_dir / "current.pt",
        {
            "identity": json.dumps(problem.identity),
            "variable": v,
            "step": step,
            "walker": walker.state_dict(),
            "critic": critic.state_dict(),
            "opt_walker": opt_t.state_dict(),
            "opt_critic": opt_f.state_dict(),
            "curve": json.dumps(curve),
        },
    )


def _resume(
    problem: _Problem,
    v: int,
    walker: Walker,
    critic: Critic,
    opt_t: torch.optim.Optimizer,
    opt_f: torch.optim.Optimizer,
    curve: list[list[float]],
) -> int:
    """Load the in-progress state of variable ``v`` if there is one; returns its step."""
    path = problem.state_dir / "current.pt"
    if not path.is_file():
        return 0
    state = load_state(path)
    if state.get("variable") != v:
        return 0
    try:
        walker.load_state_dict(state["walker"])
        critic.load_state_dict(state["critic"])
        opt_t.load_state_dict(state["opt_walker"])
        opt_f.load_state_dict(state["opt_critic"])
    except (KeyError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"cannot resume from {path}: {first}") from None
    curve.extend(json.loads(state["curve"]))
    logger.info("resuming variable %d from step %d", v, state["step"])
    return int(state["step"])


@torch.no_grad()
def _monte_carlo(problem: _Problem, v: int, walker: Walker, critic: Critic) -> dict[str, Any]:
    """Delta and InfoNCE of variable ``v`` over the fixed Monte Carlo anchors."""
    cfg, model, members = problem.config, problem.model, problem.grouping[v]
    walker.eval()
    critic.eval()
    n_batches = cfg.mc_anchors // cfg.mc_batch_size
    sizes, losses = [], []
    for b in range(n_batches):
        # The same anchors for every variable, so that variables are compared paired.
        gen = torch.Generator(problem.device).manual_seed(_stream_seed(cfg.seed, "mc", b))
        z = _anchor_noise(problem, cfg.mc_batch_size, gen)
        z_v = get_variable(z, members)  # (B, D_v)
        delta = walker(z_v)  # (B, D_v)
        x, x_pos = model.generate(z), model.generate(set_variable(z, members, z_v + delta))
        losses.append(float(nt_xent(critic(x), critic(x_pos), cfg.temperature)))
        sizes.append(delta.norm(dim=1).cpu())  # (B,)

    size = torch.cat(sizes).double()  # (n_batches * B,)
    loss = torch.tensor(losses, dtype=torch.float64)  # (n_batches,)
    loss_std = float(loss.std()) if n_batches > 1 else 0.0
    log_k = math.log(2 * cfg.mc_batch_size - 1)
    dim = problem.dims[v]
    return {
        "variable": v,
        "latents": problem.grouping[v],
        "dim": dim,
        "delta_mean": float(size.mean()),
        "delta_std": float(size.std()),
        "delta_per_coordinate_mean": float(size.mean()) / math.sqrt(dim),
        "delta_per_coordinate_std": float(size.std()) / math.sqrt(dim),
        "delta_ceiling": cfg.walker_bound * math.sqrt(dim),
        "infonce": float(loss.mean()),
        "infonce_std": loss_std,
        "mi_lower_bound": log_k - float(loss.mean()),
        "mi_std": loss_std,
        "mi_sem": loss_std / math.sqrt(n_batches),
        "n_anchors": n_batches * cfg.mc_batch_size,
    }


def _summarise_curve(curve: Sequence[Sequence[float]], steps: int) -> dict[str, Any]:
    """Final training losses (mean over the last tenth) and a 20-point curve."""
    tail = max(1, steps // 10)
    block = max(1, steps // 20)

    def mean(rows: Sequence[Sequence[float]], k: int) -> float:
        return sum(r[k] for r in rows) / len(rows)

    points = []
    for s in range(0, len(curve), block):
        rows = curve[s : s + block]
        points.append({"step": int(rows[-1][0]) + 1, **{n: mean(rows, k) for k, n in _CURVE_KEYS}})
    last = curve[-tail:]
    return {
        "critic_infonce_final": mean(last, 1),
        "walker_infonce_final": mean(last, 2),
        "delta_final": mean(last, 3),
        "curve": points,
    }


_CURVE_KEYS = ((1, "critic_infonce"), (2, "walker_infonce"), (3, "delta_mean"))


# -- outputs ---------------------------------------------------------------------------


def _write_outputs(
    problem: _Problem, records: list[dict[str, Any]], walkers: list[Walker], seconds: float
) -> dict[str, Any]:
    cfg = problem.config
    out = Path(cfg.out)
    walker_set = WalkerSet.for_model(
        problem.model, problem.grouping, cfg.walker_hidden, cfg.walker_bound
    )
    for v, walker in enumerate(walkers):
        walker_set.walker(v).load_state_dict(walker.state_dict())
    ordering = sorted(range(len(records)), key=lambda v: records[v]["mi_lower_bound"])
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "mi_units": "nats",
        "candidates_per_anchor": 2 * cfg.mc_batch_size - 1,
        "log_k": math.log(2 * cfg.mc_batch_size - 1),
        "train_log_k": math.log(2 * cfg.batch_size - 1),
        "grouping": problem.grouping,
        "latent_shapes": [list(s) for s in problem.model.latent_shapes()],
        "variables": records,
        "ordering": ordering,
        "ordering_note": "variables by MI lower bound, lowest (most critical) first",
        "timings": {"variables": problem.timings, "total_seconds": seconds},
        "identity": problem.identity,
        "run": run_info(to_dict(cfg)),
    }
    report["suggested_views"] = _suggest_views(report)
    save_model(out / "walkers.safetensors", walker_set.cpu())
    _write_view_configs(out, report, cfg.mlvgm, cfg.truncation)
    _save_bars(out / "latents.png", report)
    _save_grid(out / "latents_grid.png", problem, walker_set.to(problem.device), records)
    atomic_write_text(out / "latents.json", json.dumps(report, indent=2) + "\n")
    return report


#: a variable whose MI lower bound is at least this share of log K is under-used
UNDER_USED_SHARE = 0.5
#: the std (standard-normal units) of the suggested random perturbation of under-used ones
SUGGESTED_STD = 1.0


def _suggest_views(report: dict[str, Any]) -> dict[str, Any]:
    """Which variables positive views should move: the under-used ones, by MI."""
    threshold = UNDER_USED_SHARE * report["log_k"]
    chosen = [r["variable"] for r in report["variables"] if r["mi_lower_bound"] >= threshold]
    return {
        "variables": chosen,
        "rule": (
            f"perturb the variables whose MI lower bound is at least {UNDER_USED_SHARE:g} "
            f"log K ({threshold:.2f} nats): perturbing them leaves the image's identity; "
            f"random views move them by a truncated normal of std {SUGGESTED_STD:g}, "
            "learned views by their walkers"
        ),
    }


def _write_view_configs(
    out: Path, report: dict[str, Any], mlvgm: str, truncation: float | None
) -> None:
    """``views.yaml`` and ``walker_views.yaml``: ``mlvgm train-ssl`` configs of the suggestion.

    Both perturb the suggested variables, at random (``views.yaml``) or by the trained
    walkers (``walker_views.yaml``); pass one as ``--config`` to ``mlvgm train-ssl`` or
    ``mlvgm views``.
    """
    chosen = report["suggested_views"]["variables"]
    grouping = report["grouping"]
    random_views = {
        "kind": "gaussian",
        "grouping": grouping,
        "variables": chosen,
        "std": SUGGESTED_STD,
    }
    walkers = str((out / "walkers.safetensors").resolve())
    learned = {"kind": "walkers", "variables": chosen, "walkers": walkers}
    head = "# written by mlvgm analyze-latents: " + report["suggested_views"]["rule"] + "\n"
    # the anchors the analysis measured on; no truncation maps to a truncation far out
    anchor = {"truncation": truncation if truncation is not None else 10.0}
    for name, perturbation in (("views.yaml", random_views), ("walker_views.yaml", learned)):
        source = {"kind": "generated", "anchor": anchor, "perturbation": perturbation}
        body = {"mlvgm": mlvgm, "source": source}
        text = head + yaml.safe_dump(body, sort_keys=False, default_flow_style=None)
        atomic_write_text(out / name, text)


def _save_bars(path: Path, report: dict[str, Any]) -> None:
    """Bar charts of the MI lower bound and of delta per variable, std as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = report["variables"]
    names = [_variable_name(r) for r in records]
    xs = list(range(len(records)))
    fig, (ax_mi, ax_d) = plt.subplots(1, 2, figsize=(2.0 + 1.2 * len(records), 3.6))
    ax_mi.bar(
        xs,
        [r["mi_lower_bound"] for r in records],
        yerr=[r["mi_std"] for r in records],
        capsize=3,
        color="tab:blue",
    )
    ax_mi.axhline(
        report["log_k"], color="gray", linestyle="--", linewidth=1, label="log K (ceiling)"
    )
    ax_mi.legend(fontsize=7, loc="best")
    ax_mi.set_ylabel("I(x; x') lower bound (nats)")
    ax_d.bar(
        xs,
        [r["delta_mean"] for r in records],
        yerr=[r["delta_std"] for r in records],
        capsize=3,
        color="tab:orange",
    )
    ax_d.scatter(
        xs,
        [r["delta_ceiling"] for r in records],
        marker="_",
        s=300,
        color="gray",
        label="bound * sqrt(dim)",
    )
    ax_d.set_ylabel("delta = ||z'_i - z_i||")
    ax_d.legend(fontsize=7, loc="best")
    for ax in (ax_mi, ax_d):
        ax.set_xticks(xs, names, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("lowest MI = most critical variable", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


@torch.no_grad()
def _save_grid(
    path: Path, problem: _Problem, walkers: WalkerSet, records: list[dict[str, Any]]
) -> None:
    """Per variable: an anchor, its walker positive, random moves of the measured size."""
    cfg, model = problem.config, problem.model
    gen = torch.Generator(problem.device).manual_seed(_stream_seed(cfg.seed, "mc", 0))
    z = [n[:1] for n in _anchor_noise(problem, cfg.mc_batch_size, gen)]  # first MC anchor
    rows = {}
    for v, record in enumerate(records):
        members = problem.grouping[v]
        z_v = get_variable(z, members)  # (1, D_v)
        rand = torch.Generator(problem.device).manual_seed(_stream_seed(cfg.seed, "grid", v))
        u = torch.randn((GRID_RANDOM, z_v.shape[1]), generator=rand, device=problem.device)
        moved = z_v + record["delta_mean"] * u / u.norm(dim=1, keepdim=True)  # (R, D_v)
        z_rand = set_variable([n.expand(GRID_RANDOM, *n.shape[1:]) for n in z], members, moved)
        images = [model.generate(z), model.generate(walkers(z, [v])), model.generate(z_rand)]
        rows[_variable_name(record)] = torch.cat(images)
    title = "anchor | walker positive | random moves of the walker's mean delta"
    save_rows_figure(path, rows, title=title)


def _variable_name(record: dict[str, Any]) -> str:
    return "latent " + "+".join(str(i) for i in record["latents"])
