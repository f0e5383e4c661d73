"""Robust accuracy at a grid of L2 bounds, under one or more attacks.

An image counts as robust at bound ``eps`` when it is classified correctly and no
attack limited to ``eps`` fools the (EoT-averaged) model. Each attack walks the
bounds in increasing order and does not attack again an image it already fooled
at a smaller bound: that adversarial lies within every larger bound too. Each
attack judges its success on a fresh forward pass, so a randomised defence gets
a new draw. Images are processed batch by batch, each batch seeded by its index,
so a batch's result does not depend on which process or run computed it: that
is what makes interrupted runs resumable and sharded runs identical to one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm import tqdm

from mlvgm.attacks import Attack

AttackFactory = Callable[[float], Sequence[tuple[str, Attack]]]


@dataclass
class RobustnessResult:
    """Per-image outcome of :func:`evaluate_robustness` (or of one batch of it).

    Attributes:
        bounds: the L2 bounds, increasing.
        clean_correct: (N,) bool, correct on the clean image.
        broken_at: (N,) float, the smallest bound at which any attack succeeded
            (``0`` for images misclassified clean, ``inf`` if none succeeded).
        l2: (N,) float, L2 norm of the adversarial kept (``inf`` if none).
        x_adv: (N, C, H, W), the adversarial found at the smallest bound; for an
            image never fooled, the attack's last point at the largest bound (the
            clean image for images misclassified clean).
        attacks: the attack names, in the order they ran.
        per_attack: attack name -> (N,) smallest bound at which that attack alone
            succeeded (same conventions as ``broken_at``).
        per_attack_l2: attack name -> (N,) norm of that attack's adversarial.
    """

    bounds: list[float]
    clean_correct: torch.Tensor
    broken_at: torch.Tensor
    l2: torch.Tensor
    x_adv: torch.Tensor
    attacks: list[str] = field(default_factory=list)
    per_attack: dict[str, torch.Tensor] = field(default_factory=dict)
    per_attack_l2: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def clean_accuracy(self) -> float:
        """Fraction of images classified correctly without attack."""
        return float(self.clean_correct.double().mean())

    def robust_accuracy(self) -> dict[float, float]:
        """Bound -> fraction of images still correct under every attack within it."""
        return {b: float((self.broken_at > b).double().mean()) for b in self.bounds}

    def success_rates(self) -> dict[str, dict[float, float]]:
        """Attack -> bound -> fraction of clean-correct images that attack fooled."""
        n = max(int(self.clean_correct.sum()), 1)
        out = {}
        for name, broken in self.per_attack.items():
            fooled = self.clean_correct.unsqueeze(0) & (
                broken.unsqueeze(0) <= torch.tensor(self.bounds).unsqueeze(1)
            )  # (n_bounds, N)
            out[name] = {b: float(f.sum()) / n for b, f in zip(self.bounds, fooled, strict=True)}
        return out

    @staticmethod
    def concat(parts: Sequence[RobustnessResult]) -> RobustnessResult:
        """Join batch results in order."""
        first = parts[0]
        return RobustnessResult(
            bounds=first.bounds,
            clean_correct=torch.cat([p.clean_correct for p in parts]),
            broken_at=torch.cat([p.broken_at for p in parts]),
            l2=torch.cat([p.l2 for p in parts]),
            x_adv=torch.cat([p.x_adv for p in parts]),
            attacks=first.attacks,
            per_attack={a: torch.cat([p.per_attack[a] for p in parts]) for a in first.per_attack},
            per_attack_l2={
                a: torch.cat([p.per_attack_l2[a] for p in parts]) for a in first.per_attack_l2
            },
        )


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
    """(N,) predicted classes of ``model`` on (N, C, H, W) images, in batches."""
    return torch.cat([model(c).argmax(1) for c in x.split(batch_size)])


def attack_batch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    bounds: Sequence[float],
    make_attacks: AttackFactory,
) -> RobustnessResult:
    """Run every attack at every bound on one batch; see the module docstring.

    Args:
        model: images (B, C, H, W) in [0, 1] -> logits (an EoT wrapper for a
            randomised defence).
        x: (B, C, H, W) clean images in [0, 1].
        y: (B,) labels.
        bounds: L2 bounds.
        make_attacks: ``make_attacks(eps)`` gives the named attacks to run at ``eps``.
    """
    bounds = sorted(float(b) for b in bounds)
    model.eval()
    clean_correct = predict(model, x, x.shape[0]) == y
    never = torch.where(clean_correct, torch.inf, 0.0)
    per_attack: dict[str, torch.Tensor] = {}
    per_l2: dict[str, torch.Tensor] = {}
    l2 = torch.full((x.shape[0],), torch.inf)
    broken_at = never.clone()
    x_adv = x.clone()
    names: list[str] = []
    for eps in bounds:
        for name, attack in make_attacks(eps):
            if name not in per_attack:
                names.append(name)
                per_attack[name] = never.clone()
                per_l2[name] = torch.full((x.shape[0],), torch.inf)
            idx = torch.isinf(per_attack[name]).nonzero().flatten()
            if idx.numel() == 0:
                continue
            res = attack(model, x[idx], y[idx])
            hit = idx[res.success]
            per_attack[name][hit] = eps
            per_l2[name][hit] = res.l2[res.success].detach()
            # the combined result keeps the first bound that broke an image, and at
            # that bound the smallest adversarial any attack found
            better = (eps < broken_at[hit]) | (
                (eps == broken_at[hit]) & (res.l2[res.success].detach() < l2[hit])
            )
            take = hit[better]
            broken_at[take] = eps
            l2[take] = res.l2[res.success][better].detach()
            x_adv[take] = res.x_adv[res.success][better].detach()
            last = torch.isinf(broken_at[idx])
            x_adv[idx[last]] = res.x_adv[last].detach()
    return RobustnessResult(bounds, clean_correct, broken_at, l2, x_adv, names, per_attack, per_l2)


def evaluate_robustness(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    bounds: Sequence[float],
    make_attacks: AttackFactory,
    batch_size: int = 100,
    progress: bool = True,
    desc: str = "attack",
    seed: int = 0,
    batches: Sequence[int] | None = None,
    load: Callable[[int], RobustnessResult | None] | None = None,
    store: Callable[[int, RobustnessResult], None] | None = None,
) -> RobustnessResult:
    """Attack ``model`` batch by batch and record, per image, where it first broke.

    Args:
        model: images (B, C, H, W) in [0, 1] -> logits; wrap a randomised defence in
            :class:`~mlvgm.defenses.EoT` so that both prediction and attack average.
        x: (N, C, H, W) clean images in [0, 1].
        y: (N,) labels.
        bounds: L2 bounds.
        make_attacks: ``make_attacks(eps)`` gives the named attacks to run at ``eps``.
        batch_size: images per batch.
        progress: show a progress bar.
        desc: progress-bar label.
        seed: batch ``k`` runs after ``torch.manual_seed(seed + k)``.
        batches: the batch indices to compute (all by default; a shard under DDP).
        load: ``load(k)`` returns batch ``k``'s stored result, or None to compute it.
        store: ``store(k, result)`` saves batch ``k``'s result as soon as it is done.

    Returns:
        The per-image :class:`RobustnessResult` of the batches computed or loaded.
    """
    n_batches = (x.shape[0] + batch_size - 1) // batch_size
    todo = list(range(n_batches)) if batches is None else list(batches)
    parts = []
    for k in tqdm(todo, desc=desc, disable=not progress, leave=False):
        done = load(k) if load is not None else None
        if done is None:
            torch.manual_seed(seed + k)
            sl = slice(k * batch_size, (k + 1) * batch_size)
            done = attack_batch(model, x[sl], y[sl], bounds, make_attacks)
            if store is not None:
                store(k, done)
        parts.append(done)
    return RobustnessResult.concat(parts)
