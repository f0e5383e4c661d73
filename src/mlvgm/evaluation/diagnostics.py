"""Checks against obfuscated gradients, run beside every evaluation.

Athalye et al. (ICML 2018) and Croce et al. list the symptoms of an evaluation
that gradient masking fools; three are checked here on a subset of images:

- **large bound**: an attack with a bound far beyond the grid must succeed on
  (almost) every image; if it does not, its gradients are not reaching the input.
- **EoT versus single sample**: an attack that averages the defence's randomness
  must be at least as strong as one that follows a single random draw.
- **transfer versus white box**: adversarials crafted on the undefended
  classifier must not fool the defence more often than white-box ones do.

Each failed check adds a warning to the report (explained in docs/warnings.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mlvgm.attacks import Attack
from mlvgm.evaluation.robustness import predict

#: tolerated shortfall, in fraction of images, before a check warns
TOLERANCE = 0.05
#: success rate an attack at the large bound must reach
LARGE_BOUND_SUCCESS = 0.95


def _fooled(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return predict(model, x_adv, x_adv.shape[0]) != y


def masking_diagnostics(
    defended: nn.Module,
    single_sample: nn.Module,
    undefended: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    make_attack: Callable[[float], Attack],
    eps: float,
    large_eps: float,
    stochastic: bool,
) -> dict[str, Any]:
    """Run the three checks on clean-correct images of ``x``.

    Args:
        defended: the defence as evaluated (EoT-wrapped).
        single_sample: the same defence without EoT (one draw per pass).
        undefended: the bare classifier, source of the transfer attack.
        x: (N, C, H, W) images in [0, 1].
        y: (N,) labels.
        make_attack: builds the attack used for the checks at a bound.
        eps: the bound of the EoT and transfer checks (a mid-grid bound).
        large_eps: the bound of the large-bound check.
        stochastic: whether the defence is randomised (else the EoT check is skipped).

    Returns:
        The measured rates and a list of warnings.
    """
    keep = predict(defended, x, x.shape[0]) == y
    x, y = x[keep], y[keep]
    out: dict[str, Any] = {"n_images": int(keep.sum()), "eps": eps, "large_eps": large_eps}
    warnings: list[str] = []
    if x.shape[0] == 0:
        out["warnings"] = ["no image was classified correctly; diagnostics skipped"]
        return out

    def rate(fooled: torch.Tensor) -> float:
        return float(fooled.float().mean())

    large = rate(make_attack(large_eps)(defended, x, y).success)
    out["large_bound_success"] = large
    if large < LARGE_BOUND_SUCCESS:
        warnings.append(
            f"attack success at L2 {large_eps:g} is only {100 * large:.0f} %: "
            "gradients may be masked or the attack too weak (see docs/warnings.md)"
        )

    white = rate(make_attack(eps)(defended, x, y).success)
    out["white_box_success"] = white
    if stochastic:
        single = rate(_fooled(defended, make_attack(eps)(single_sample, x, y).x_adv, y))
        out["single_sample_success"] = single
        if single > white + TOLERANCE:
            warnings.append(
                f"a single-sample attack ({100 * single:.0f} %) beats the EoT attack "
                f"({100 * white:.0f} %) at L2 {eps:g}: EoT is not averaging the randomness well"
            )
    transfer = rate(_fooled(defended, make_attack(eps)(undefended, x, y).x_adv, y))
    out["transfer_success"] = transfer
    if transfer > white + TOLERANCE:
        warnings.append(
            f"transfer from the undefended classifier ({100 * transfer:.0f} %) beats the "
            f"white-box attack ({100 * white:.0f} %) at L2 {eps:g}: white-box gradients are "
            "likely masked"
        )
    out["warnings"] = warnings
    return out
