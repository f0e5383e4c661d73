"""The TRADES training objective under an L2 bound.

Implements Zhang et al. (2019), "Theoretically Principled Trade-off between
Robustness and Accuracy" (ICML), Algorithm 1, in the paper's notation:

``min_f  E[ CE(f(X), Y) + beta * max_{X' in B(X, eps)} KL(f(X) || f(X')) ]``

where ``f(X)`` is the softmax output, the first term drives natural accuracy
and the second (the surrogate of the boundary error) makes the prediction
smooth around each image. The inner maximisation starts at
``x' = x + 0.001 * N(0, I)`` and takes projected ascent steps on
``KL(f(x) || f(x'))`` with ``f(x)`` held fixed.

Choices the paper leaves open, and their effect:

- The paper's steps are L-infinity (sign of the gradient); under an L2 bound
  the step is the normalised gradient ``step_size * g / ||g||_2`` per image,
  and the projection is the Euclidean one onto the ball intersected with
  [0, 1]^n (:func:`~mlvgm.attacks._projection.project_l2_box`).
- :func:`trades_loss` runs the inner maximisation in eval mode (batch
  normalisation with its running statistics, which the perturbed images then
  do not update), and restores the caller's mode for the outer loss, so the
  images of a batch do not interact while the adversary is searched.
- The inner loop takes gradients with respect to ``x'`` only
  (``torch.autograd.grad``), so no parameter gradient is accumulated there.
- The inner loop's fixed target is ``f(x)`` in eval mode; the outer loss
  back-propagates through ``f(x)`` and ``f(x')`` in the caller's mode, with
  ``x'`` itself held fixed.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from mlvgm._checks import check_positive
from mlvgm.attacks._projection import project_l2_box
from mlvgm.errors import ConfigError

# Scale of the Gaussian start x' = x + START_STD * N(0, I) (the paper's 0.001).
START_STD = 0.001


def check_trades_options(eps: float, steps: int, step_size: float, beta: float) -> None:
    """Check the TRADES hyper-parameters.

    Raises:
        ConfigError: if ``eps`` or ``step_size`` is not a positive finite number,
            ``steps`` is not an integer of at least 1, or ``beta`` is negative or
            not finite.
    """
    check_positive(eps, "trades_eps")
    check_positive(step_size, "trades_step_size")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"trades_steps must be an integer of at least 1, got {steps!r}")
    if isinstance(beta, bool) or not isinstance(beta, int | float):
        raise ConfigError(f"trades_beta must be a number, got {beta!r}")
    if not (math.isfinite(beta) and beta >= 0.0):
        raise ConfigError(f"trades_beta must be a finite number of at least 0, got {beta}")


def trades_adversary(
    model: nn.Module,
    x: torch.Tensor,
    eps: float,
    steps: int,
    step_size: float,
    log_p_x: torch.Tensor | None = None,
) -> torch.Tensor:
    """The inner maximisation: ``x'`` maximising ``KL(f(x) || f(x'))`` near ``x``.

    Args:
        model: the classifier, returning (B, K) logits; used in its current mode.
        x: (B, C, H, W) images in [0, 1].
        eps: radius of the L2 ball around each image.
        steps: projected ascent steps.
        step_size: L2 length of each step.
        log_p_x: (B, K) log-softmax of ``model(x)`` to hold fixed, or None to compute it.

    Returns:
        (B, C, H, W) ``x'``, detached, with ``||x' - x||_2 <= eps`` per image and
        entries in [0, 1].

    Raises:
        ConfigError: if ``eps``, ``steps`` or ``step_size`` is out of range.
    """
    check_trades_options(eps, steps, step_size, beta=0.0)
    if log_p_x is None:
        with torch.no_grad():
            log_p_x = F.log_softmax(model(x), dim=1)
    log_p_x = log_p_x.detach()
    b = x.shape[0]
    x_0 = x.detach().flatten(1)  # (B, N)

    x_adv = project_l2_box(x_0 + START_STD * torch.randn_like(x_0), x_0, eps)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        log_q = F.log_softmax(model(x_adv.view_as(x)), dim=1)  # (B, K)
        # KL(f(x) || f(x')); the sum makes each image's gradient independent of B.
        kl = F.kl_div(log_q, log_p_x, reduction="sum", log_target=True)
        (g,) = torch.autograd.grad(kl, x_adv)  # (B, N)
        g_norm = g.norm(dim=1, keepdim=True).clamp_min_(1e-12)  # (B, 1)
        x_adv = project_l2_box(x_adv.detach().addcmul_(g, step_size / g_norm), x_0, eps)
    return x_adv.view(b, *x.shape[1:])


def trades_loss(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int,
    step_size: float,
    beta: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The TRADES objective ``CE(f(x), y) + beta * KL(f(x) || f(x'))`` of one batch.

    Args:
        model: the classifier, returning (B, K) logits; the adversary is searched
            in eval mode, the loss computed in the caller's mode.
        x: (B, C, H, W) images in [0, 1].
        y: (B,) integer labels.
        eps: radius of the L2 ball of the inner maximisation.
        steps: its projected ascent steps.
        step_size: the L2 length of each of its steps.
        beta: weight of the robustness term (the paper's ``beta = 1 / lambda``).

    Returns:
        The scalar loss, to back-propagate, and its parts as floats: ``ce`` (the
        natural term), ``kl`` (the robustness term, mean over the batch) and
        ``l2`` (the mean ``||x' - x||_2``).

    Raises:
        ConfigError: if a hyper-parameter is out of range.
    """
    check_trades_options(eps, steps, step_size, beta)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        target = F.log_softmax(model(x), dim=1)  # (B, K)
    x_adv = trades_adversary(model, x, eps, steps, step_size, log_p_x=target)
    model.train(was_training)

    logits = model(x)  # (B, K)
    log_p_x = F.log_softmax(logits, dim=1)
    ce = F.cross_entropy(logits, y)
    log_q = F.log_softmax(model(x_adv), dim=1)
    kl = F.kl_div(log_q, log_p_x, reduction="batchmean", log_target=True)
    loss = ce + beta * kl
    l2 = (x_adv - x).flatten(1).norm(dim=1).mean()
    return loss, {"ce": ce.item(), "kl": kl.item(), "l2": l2.item()}
