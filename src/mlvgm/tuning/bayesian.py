"""One step of Bayesian optimisation over alpha vectors in [0, 1]^L, with BoTorch.

A Gaussian process (``SingleTaskGP``: Matern-5/2 kernel with one length scale per
latent, outcomes standardised by the ``Standardize`` transform) is fitted by
maximising its marginal likelihood (``fit_gpytorch_mll``) to the vectors scored
so far, and the next vector maximises the log of Expected Improvement over the
best score (``LogExpectedImprovement``, Ament et al., NeurIPS 2023, which keeps
EI's optimum but has usable gradients where EI underflows), found by
``optimize_acqf`` from random restarts inside the box. The inputs already lie
in the unit cube, so no input transform is needed.
"""

from __future__ import annotations

import logging
import math
import warnings

import torch

# linear_operator (under gpytorch) calls the deprecated torch.jit.script at import;
# the warning says nothing about mlvgm and would land on every CLI run's stderr.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
    from botorch.acquisition import LogExpectedImprovement
    from botorch.exceptions import InputDataWarning, ModelFittingError
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood

from mlvgm.defenses import AlphaSchedule
from mlvgm.errors import InputError

logger = logging.getLogger(__name__)


def initial_schedules(n_latents: int) -> dict[str, list[float]]:
    """The search's five starting points, from :class:`~mlvgm.defenses.AlphaSchedule`.

    Returns:
        ``cosine``, ``linear``, ``constant-0.5``, ``1-linear`` and ``1-cosine`` ->
        L alphas each, coarse to fine, in that order.
    """
    cosine = AlphaSchedule("cosine").resolve(n_latents)
    linear = AlphaSchedule("linear").resolve(n_latents)
    return {
        "cosine": cosine,
        "linear": linear,
        "constant-0.5": AlphaSchedule("constant", value=0.5).resolve(n_latents),
        "1-linear": [1.0 - a for a in linear],
        "1-cosine": [1.0 - a for a in cosine],
    }


def propose_alphas(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    seed: int = 0,
    num_restarts: int = 10,
    raw_samples: int = 512,
) -> torch.Tensor:
    """The next alpha vector to score: the maximiser of log Expected Improvement.

    Args:
        train_x: (n, L) vectors scored so far, in [0, 1]; n >= 1.
        train_y: (n,) their scores (higher is better).
        seed: seeds the acquisition optimiser's random starts; the global torch
            random state is left as it was.
        num_restarts: starts of the gradient-based acquisition optimiser.
        raw_samples: random points from which those starts are chosen.

    Returns:
        (L,) float64 vector in [0, 1]^L.

    Raises:
        InputError: if the shapes do not match, a value leaves [0, 1] or a score
            is not finite.
    """
    x = train_x.detach().to(torch.float64)
    y = train_y.detach().to(torch.float64)
    if x.ndim != 2 or x.shape[0] < 1 or y.shape != (x.shape[0],):
        raise InputError(
            f"need (n, L) inputs and (n,) scores, got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    if bool((x < 0).any() or (x > 1).any()) or not bool(torch.isfinite(y).all()):
        raise InputError("inputs must lie in [0, 1] and scores must be finite")
    n_latents = x.shape[1]

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gp = _fit_gp(x, y)
        acquisition = LogExpectedImprovement(gp, best_f=y.max())
        bounds = torch.stack([torch.zeros(n_latents), torch.ones(n_latents)]).to(x)  # (2, L)
        candidate, value = optimize_acqf(
            acquisition, bounds, q=1, num_restarts=num_restarts, raw_samples=raw_samples
        )
    logger.debug("proposed %s, log EI %s", candidate.tolist(), value)
    return candidate.view(n_latents).clamp(0.0, 1.0)  # (L,)


def _fit_gp(x: torch.Tensor, y: torch.Tensor) -> SingleTaskGP:
    """A GP fitted to (n, L) inputs and (n,) scores; its prior hyper-parameters if fitting fails."""
    flat = math.isclose(float(y.max()), float(y.min()))
    with warnings.catch_warnings():
        if flat:  # botorch warns that equal scores cannot be standardised; nothing to fit
            warnings.simplefilter("ignore", InputDataWarning)
        gp = SingleTaskGP(x, y.unsqueeze(-1), outcome_transform=Standardize(m=1))
    if flat:
        return gp.eval()
    mll = ExactMarginalLogLikelihood(gp.likelihood, gp)
    try:
        fit_gpytorch_mll(mll)
    except ModelFittingError as exc:
        warnings.warn(
            f"the GP fit failed ({exc}); keeping its prior hyper-parameters", stacklevel=3
        )
    return gp.eval()
