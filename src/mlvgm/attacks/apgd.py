"""Auto-PGD under an L2 bound, batched over images.

Implements APGD from Croce & Hein (2020), "Reliable evaluation of adversarial
robustness with an ensemble of diverse parameter-free attacks" (ICML),
Algorithm 1, in the paper's notation: iterates ``x^(k)``, step size
``eta^(k)`` (initially ``2 eps``), momentum ``alpha = 0.75``, checkpoints
``w_j = ceil(p_j N_iter)`` with ``p_0 = 0``, ``p_1 = 0.22`` and
``p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``, and at each checkpoint
the step size halved, and the iterate moved back to the best point
``x_max``, when

1. fewer than ``rho (w_j - w_{j-1})`` steps since ``w_{j-1}`` raised the loss, or
2. the step size was not halved at ``w_{j-1}`` and ``f_max`` has not grown since.

Every image keeps its own step size, counters and best point; the loop is
tensor operations over the batch with one forward and one backward pass per
iteration and no host synchronisation between checkpoints.

Choices the paper leaves open, and their effect:

- The L2 gradient step is ``eta grad / ||grad||_2`` and ``P_S`` is the
  Euclidean projection onto the ball intersected with [0, 1]^n, by three
  Newton steps that are exact on all but the largest bounds and always stay
  feasible (:func:`~mlvgm.attacks._projection.project_l2_box`), rather than
  "shrink into the ball, then clip", which wastes budget on clipped pixels.
- The random start is uniform in the ball (then clipped to the box).
- After a step-size halving the momentum is reset, since the iterate jumped.
- An image whose prediction flipped is retired at the next checkpoint (and
  skipped by later restarts): APGD maximises the loss and does not minimise
  the norm, so the returned adversarial is the smallest-norm one found up to
  that checkpoint, not the minimal adversarial perturbation.
- Images misclassified before the attack are returned as they are (``l2 = 0``).
- For a randomised model the clean check, and the loss, gradient and
  adversarial check of each iteration, come from one draw of the model each;
  the returned ``success`` comes from a fresh draw and may disagree (average
  over more draws inside the model, with EoT, to make them agree).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields, replace

import torch

from mlvgm._checks import check_positive
from mlvgm.attacks._losses import LOSSES, MIN_CLASSES, Loss
from mlvgm.attacks._options import check_count, check_seed
from mlvgm.attacks._projection import clip_l2_box, project_l2_box
from mlvgm.attacks.base import Attack, AttackResult, Model, check_logits
from mlvgm.errors import ConfigError

logger = logging.getLogger(__name__)

# Momentum of the paper's update x^(k+1) = P_S(x^(k) + alpha (z - x^(k)) + (1 - alpha) ...).
ALPHA = 0.75


def checkpoints(n_iter: int) -> list[int]:
    """The iterations at which APGD may halve its step size.

    Args:
        n_iter: the number of iterations, ``N_iter``.

    Returns:
        The distinct ``w_j = ceil(p_j N_iter)`` in (0, N_iter], increasing; ``w_0 = 0``
        is left out.
    """
    p = [0.0, 0.22]
    while True:
        step = max(p[-1] - p[-2] - 0.03, 0.06)
        if p[-1] + step > 1.0 + 1e-9:
            break
        p.append(p[-1] + step)
    # Rounding first keeps 0.41000000000000003 * 100 from becoming 42.
    w = {math.ceil(round(p_j * n_iter, 6)) for p_j in p[1:]}
    return sorted(w_j for w_j in w if 0 < w_j <= n_iter)


@dataclass
class _State:
    """Per-image state of the images still being attacked, A of them.

    Flat images are (A, N); per-image scalars (A,); step sizes (A, 1).
    """

    index: torch.Tensor  # (A,) position in the batch
    x_0: torch.Tensor  # (A, N) clean images
    y: torch.Tensor  # (A,) labels
    x_k: torch.Tensor  # (A, N) current iterate x^(k)
    x_prev: torch.Tensor  # (A, N) previous iterate x^(k-1)
    grad: torch.Tensor  # (A, N) gradient of the loss at x^(k)
    f_k: torch.Tensor  # (A,) loss at x^(k)
    x_max: torch.Tensor  # (A, N) highest-loss point so far
    grad_max: torch.Tensor  # (A, N) gradient at x_max
    f_max: torch.Tensor  # (A,) loss at x_max
    f_max_last: torch.Tensor  # (A,) f_max at the last checkpoint
    eta: torch.Tensor  # (A, 1) step size
    n_up: torch.Tensor  # (A,) steps that raised the loss since the last checkpoint
    halved: torch.Tensor  # (A,) bool, step size halved at the last checkpoint
    x_found: torch.Tensor  # (A, N) smallest-norm adversarial point found
    l2_found: torch.Tensor  # (A,) its norm, inf while none was found

    def select(self, keep: torch.Tensor) -> _State:
        """The state of the images where ``keep`` (A,) is True."""
        return replace(self, **{f.name: getattr(self, f.name)[keep] for f in fields(self)})


@dataclass
class _Best:
    """What the attack returns so far for the whole batch, B images."""

    x: torch.Tensor  # (B, N) adversarial or highest-loss point
    fooled: torch.Tensor  # (B,) bool, an adversarial point was found
    f: torch.Tensor  # (B,) loss at x while not fooled

    def update(self, state: _State) -> None:
        """Take over the state's adversarial points, or its better highest-loss points."""
        fooled = state.l2_found.isfinite()  # (A,)
        higher = ~fooled & (state.f_max > self.f[state.index])  # (A,)
        take = fooled | higher
        index = state.index[take]
        self.x[index] = torch.where(fooled[:, None], state.x_found, state.x_max)[take]
        self.f[index] = state.f_max[take]
        self.fooled[index] = fooled[take]


class APGD(Attack):
    """APGD with an L2 bound: untargeted, white-box, step-size free.

    Runs :func:`checkpoints`-scheduled APGD (see the module docstring) on every
    image at once. Per image it returns an adversarial point whenever one was
    found during the iterations (the smallest-norm one among them), else the
    highest-loss point; later restarts attack only the images not yet fooled.
    Images the model misclassifies already (on one clean forward pass, as
    AutoAttack does) are returned unchanged, with ``l2 = 0``, and not attacked.

    Args:
        eps: the L2 bound on ``x_adv - x``.
        n_iter: iterations per restart, ``N_iter`` (one forward and one backward
            pass each, plus one for the start).
        loss: ``"ce"`` (cross-entropy) or ``"dlr"`` (Difference of Logits Ratio,
            needs at least four classes).
        rho: condition 1's threshold on the fraction of steps that raised the loss.
        n_restarts: random restarts.
        seed: seeds the random starts (a private generator, the global one is left
            alone); ``None`` draws them from the global generator.

    Raises:
        ConfigError: if ``eps`` is not positive and finite, ``n_iter`` or
            ``n_restarts`` is not an integer >= 1, ``rho`` is outside [0, 1], the
            loss is unknown, or ``seed`` is not an integer or ``None``.

    Example:
        >>> attack = APGD(eps=0.5, n_iter=64)
        >>> result = attack(model, x, y)  # doctest: +SKIP
        >>> robust_accuracy = 1 - result.success.float().mean()  # doctest: +SKIP
    """

    def __init__(
        self,
        eps: float,
        n_iter: int = 100,
        loss: str = "ce",
        rho: float = 0.75,
        n_restarts: int = 1,
        seed: int | None = 0,
    ) -> None:
        check_positive(eps, "eps")
        check_count(n_iter, "n_iter")
        check_count(n_restarts, "n_restarts")
        if loss not in LOSSES:
            raise ConfigError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
        if isinstance(rho, bool) or not isinstance(rho, int | float) or not 0.0 <= rho <= 1.0:
            raise ConfigError(f"rho must be a number in [0, 1], got {rho!r}")
        check_seed(seed)
        self.eps = float(eps)
        self.n_iter = n_iter
        self.loss = loss
        self.rho = float(rho)
        self.n_restarts = n_restarts
        self.seed = seed
        self._loss_fn: Loss = LOSSES[loss]
        self._checkpoints = frozenset(checkpoints(n_iter))

    def __repr__(self) -> str:
        return (
            f"APGD(eps={self.eps}, n_iter={self.n_iter}, loss={self.loss!r}, rho={self.rho}, "
            f"n_restarts={self.n_restarts}, seed={self.seed})"
        )

    def _run(self, model: Model, x: torch.Tensor, y: torch.Tensor) -> AttackResult:
        """Run the restarts and judge the result; see :meth:`Attack.__call__`."""
        # Images misclassified as they are need no attack: x_adv = x, l2 = 0.
        logits = model(x)
        self._check_logits(logits, y)
        x_0 = x.flatten(1)  # (B, N)
        best = _Best(
            x=x_0.clone(),
            fooled=logits.argmax(dim=1) != y,
            f=torch.full_like(y, -math.inf, dtype=x.dtype),
        )
        generator = None
        if self.seed is not None:
            generator = torch.Generator(device=x.device).manual_seed(self.seed)

        for restart in range(self.n_restarts):
            index = (~best.fooled).nonzero().squeeze(1)  # (A,)
            if index.numel() == 0:
                break
            logger.debug("%r: restart %d on %d images", self, restart, index.numel())
            self._attack_once(model, x_0, y, index, x.shape[1:], generator, best)

        # Guard against rounding in the projection before promising the bound.
        x_adv = clip_l2_box(best.x, x_0, self.eps).view_as(x)
        return self._result(model, x, x_adv, y)

    def _attack_once(
        self,
        model: Model,
        x_0: torch.Tensor,
        y: torch.Tensor,
        index: torch.Tensor,
        image_shape: torch.Size,
        generator: torch.Generator | None,
        best: _Best,
    ) -> None:
        """One restart of APGD on the images at ``index``, merged into ``best``.

        Args:
            model: the attacked model.
            x_0: (B, N) flat clean images.
            y: (B,) labels.
            index: (A,) the images to attack.
            image_shape: (C, H, W).
            generator: draws the random start.
            best: the batch's results so far, updated in place.
        """
        x_0, y = x_0[index], y[index]
        x_k = self._random_start(x_0, generator)
        f_k, grad, logits = self._loss_and_grad(model, x_k, y, image_shape)
        state = _State(
            index=index,
            x_0=x_0,
            y=y,
            x_k=x_k,
            x_prev=x_k,
            grad=grad,
            f_k=f_k,
            x_max=x_k,
            grad_max=grad,
            f_max=f_k,
            f_max_last=f_k,
            eta=torch.full_like(x_0[:, :1], 2.0 * self.eps),
            n_up=torch.zeros_like(y),
            halved=torch.zeros_like(y, dtype=torch.bool),
            x_found=x_k,
            l2_found=torch.full_like(f_k, math.inf),
        )
        self._record_adversarial(state, x_k, logits)

        last_w = 0
        for k in range(1, self.n_iter + 1):
            x_new = self._step(state, first=k == 1)
            f_new, grad, logits = self._loss_and_grad(
                model, x_new, state.y, image_shape, need_grad=k < self.n_iter
            )
            state.n_up += f_new > state.f_k

            # x_max keeps the highest loss, for the restarts at checkpoints and the output.
            higher = f_new > state.f_max  # (A,)
            state.x_max = torch.where(higher[:, None], x_new, state.x_max)
            state.grad_max = torch.where(higher[:, None], grad, state.grad_max)
            state.f_max = torch.where(higher, f_new, state.f_max)
            self._record_adversarial(state, x_new, logits)
            state.x_prev, state.x_k, state.grad, state.f_k = state.x_k, x_new, grad, f_new

            if k in self._checkpoints and k < self.n_iter:
                self._checkpoint(state, k - last_w)
                last_w = k
                state = self._retire_fooled(state, best)
                if state.index.numel() == 0:
                    return
        best.update(state)

    def _random_start(self, x_0: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """A point drawn uniformly from the ball around each image, clipped to [0, 1].

        Args:
            x_0: (A, N) clean images.
            generator: the random generator, or ``None`` for the global one.

        Returns:
            (A, N) starting points ``x^(0)``.
        """
        a, n = x_0.shape
        direction = torch.randn(a, n, generator=generator, device=x_0.device, dtype=x_0.dtype)
        direction /= direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
        u = torch.rand(a, 1, generator=generator, device=x_0.device, dtype=x_0.dtype)
        radius = self.eps * u ** (1.0 / n)  # (A, 1), uniform in the ball's volume
        return x_0.addcmul(direction, radius).clamp_(0.0, 1.0)

    def _loss_and_grad(
        self,
        model: Model,
        x_flat: torch.Tensor,
        y: torch.Tensor,
        image_shape: torch.Size,
        need_grad: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The per-image loss and its gradient with respect to the images.

        Args:
            model: the attacked model.
            x_flat: (A, N) flat images.
            y: (A,) labels.
            image_shape: (C, H, W).
            need_grad: when False (the last iteration), skip the backward pass.

        Returns:
            ``(loss, grad, logits)``: (A,) losses, (A, N) gradients (zeros when
            ``need_grad`` is False) and (A, K) logits, all detached.
        """
        x_in = x_flat.view(-1, *image_shape).detach().requires_grad_(need_grad)
        with torch.enable_grad():
            logits = model(x_in)
            loss = self._loss_fn(logits, y)  # (A,)
            if not need_grad:
                return loss.detach(), torch.zeros_like(x_flat), logits.detach()
            (grad,) = torch.autograd.grad(loss.sum(), x_in)
        return loss.detach(), grad.view_as(x_flat), logits.detach()

    def _check_logits(self, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Check the model's output on the clean images.

        Raises:
            InputError: if ``logits`` is not (A, K) with K above every label.
            ConfigError: if the loss needs more than K classes.
        """
        check_logits(logits, y)
        n_classes = logits.shape[1]
        if n_classes < MIN_CLASSES[self.loss]:
            raise ConfigError(
                f"loss {self.loss!r} needs at least {MIN_CLASSES[self.loss]} classes, the "
                f"model has {n_classes}; use loss='ce'"
            )

    def _step(self, state: _State, first: bool) -> torch.Tensor:
        """The next iterate ``x^(k+1)`` from ``x^(k)``, its gradient and momentum.

        Args:
            state: the attack's state at iteration k.
            first: k = 0, where the paper takes a plain projected step.

        Returns:
            (A, N) the next iterate, in the feasible set.
        """
        x_k = state.x_k
        grad_norm = state.grad.norm(dim=1, keepdim=True).clamp_min_(1e-12)  # (A, 1)
        z = project_l2_box(x_k.addcmul(state.grad, state.eta / grad_norm), state.x_0, self.eps)
        if first:
            return z
        # x^(k) + alpha (z - x^(k)) + (1 - alpha) (x^(k) - x^(k-1))
        v = torch.lerp(x_k, z, ALPHA).add_(x_k - state.x_prev, alpha=1.0 - ALPHA)
        return project_l2_box(v, state.x_0, self.eps)

    def _checkpoint(self, state: _State, window: int) -> None:
        """Halve the step size where condition 1 or 2 holds and restart from ``x_max``.

        Args:
            state: the attack's state at checkpoint ``w_j``, updated in place.
            window: ``w_j - w_{j-1}``.
        """
        too_few_up = state.n_up < self.rho * window  # condition 1
        stalled = ~state.halved & (state.f_max <= state.f_max_last)  # condition 2
        halve = too_few_up | stalled  # (A,)
        col = halve[:, None]  # (A, 1)

        state.eta = torch.where(col, state.eta / 2, state.eta)
        state.x_k = torch.where(col, state.x_max, state.x_k)
        state.x_prev = torch.where(col, state.x_max, state.x_prev)  # no momentum after a jump
        state.grad = torch.where(col, state.grad_max, state.grad)
        state.f_k = torch.where(halve, state.f_max, state.f_k)
        state.halved = halve
        state.f_max_last = state.f_max
        state.n_up = torch.zeros_like(state.n_up)

    @staticmethod
    def _record_adversarial(state: _State, x_new: torch.Tensor, logits: torch.Tensor) -> None:
        """Keep ``x_new`` where it fools the model with a smaller norm than before.

        Args:
            state: the attack's state, updated in place.
            x_new: (A, N) the iterate the logits belong to.
            logits: (A, K) the model's logits on ``x_new``.
        """
        l2 = (x_new - state.x_0).norm(dim=1)  # (A,)
        smaller = (logits.argmax(dim=1) != state.y) & (l2 < state.l2_found)  # (A,)
        state.x_found = torch.where(smaller[:, None], x_new, state.x_found)
        state.l2_found = torch.where(smaller, l2, state.l2_found)

    @staticmethod
    def _retire_fooled(state: _State, best: _Best) -> _State:
        """Hand the fooled images to ``best`` and keep attacking the others.

        Costs one host synchronisation, hence only at checkpoints.
        """
        fooled = state.l2_found.isfinite()  # (A,)
        n_fooled = int(fooled.sum())
        if n_fooled == 0:
            return state
        best.update(state.select(fooled))
        return state.select(~fooled)
