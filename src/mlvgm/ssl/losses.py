"""Self-supervised losses on pairs of views.

- NT-Xent / InfoNCE, SimCLR (Chen et al., ICML 2020, eq. 1): for 2N embeddings
  ``z_1..z_2N`` with cosine similarity ``sim``, anchor ``k`` with positive ``j(k)``

      l_k = -log( exp(sim(z_k, z_j(k)) / tau) / sum_{m != k} exp(sim(z_k, z_m) / tau) )

  and the loss is the mean of ``l_k`` over the 2N anchors; the 2N - 2 other
  embeddings are the negatives.
- SimSiam (Chen & He, CVPR 2021, eq. 2-4): ``D(p, z) = -cos(p, stopgrad(z))`` and
  ``L = D(p_a, z_b) / 2 + D(p_b, z_a) / 2``.
- BYOL (Grill et al., NeurIPS 2020, eq. 2): ``||p_bar - t_bar||^2 = 2 - 2 cos(p, t)``
  on l2-normalised vectors, symmetrised over the two views, with the target
  projections ``t`` detached; the target network follows the online one by an
  exponential moving average ``xi <- m * xi + (1 - m) * theta``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlvgm._checks import check_positive
from mlvgm.errors import ConfigError, InputError


def _check_pair(a: Tensor, b: Tensor, names: tuple[str, str], min_batch: int = 1) -> None:
    """Check two (N, D) embedding batches of the same shape.

    Raises:
        InputError: if either is not a 2-D tensor, their shapes differ, or N < min_batch.
    """
    for t, name in zip((a, b), names, strict=True):
        if not isinstance(t, Tensor):
            raise InputError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 2:
            raise InputError(
                f"{name} must have shape (N, D), got {tuple(t.shape)}; "
                "flatten the features with z.flatten(1)"
            )
    if a.shape != b.shape:
        raise InputError(
            f"{names[0]} and {names[1]} must have the same shape, "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.shape[0] < min_batch:
        raise InputError(
            f"{names[0]} must hold at least {min_batch} embeddings, got {a.shape[0]}; "
            "use a larger batch"
        )


def nt_xent(z_a: Tensor, z_b: Tensor, temperature: float = 0.1) -> Tensor:
    """NT-Xent (normalised temperature-scaled cross entropy) of SimCLR.

    Row ``i`` of ``z_a`` and row ``i`` of ``z_b`` are two views of one sample; every
    other of the 2N embeddings is a negative.

    Args:
        z_a: (N, D) embeddings of the first views.
        z_b: (N, D) embeddings of the second views.
        temperature: tau > 0.

    Returns:
        () the mean loss over the 2N anchors.

    Raises:
        InputError: if the inputs are not 2-D, differ in shape, or N < 2.
        ConfigError: if ``temperature`` is not a positive finite number.
    """
    _check_pair(z_a, z_b, ("z_a", "z_b"), min_batch=2)
    check_positive(temperature, "temperature")
    n = z_a.shape[0]

    z = F.normalize(torch.cat([z_a, z_b], dim=0), dim=1)  # (2N, D)
    sim = z @ z.T / temperature  # (2N, 2N)
    # An anchor is never its own negative: remove the diagonal from the softmax.
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    # The positive of anchor k is k + N for the first views and k - N for the second.
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)  # (2N,)
    return F.cross_entropy(sim, positive)


class InfoNCE(nn.Module):
    """NT-Xent as a module; see :func:`nt_xent`.

    Args:
        temperature: tau > 0.

    Raises:
        ConfigError: if ``temperature`` is not a positive finite number.
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        check_positive(temperature, "temperature")
        self.temperature = float(temperature)

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        """Args: z_a, z_b: (N, D) embeddings of paired views. Returns: () the loss."""
        return nt_xent(z_a, z_b, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


#: SimCLR's name for the same loss.
NTXent = InfoNCE


def simsiam_loss(p_a: Tensor, z_a: Tensor, p_b: Tensor, z_b: Tensor) -> Tensor:
    """Symmetric negative cosine similarity of SimSiam, stop-gradient on ``z``.

    Args:
        p_a: (N, D) predictor output of view a.
        z_a: (N, D) projector output of view a (not differentiated).
        p_b: (N, D) predictor output of view b.
        z_b: (N, D) projector output of view b (not differentiated).

    Returns:
        () the loss, in [-1, 1]; -1 when each prediction points along the other view.

    Raises:
        InputError: if the inputs are not 2-D or their shapes differ.
    """
    _check_pair(p_a, z_b, ("p_a", "z_b"))
    _check_pair(p_b, z_a, ("p_b", "z_a"))
    _check_pair(p_a, p_b, ("p_a", "p_b"))
    d_ab = -F.cosine_similarity(p_a, z_b.detach(), dim=1).mean()
    d_ba = -F.cosine_similarity(p_b, z_a.detach(), dim=1).mean()
    return 0.5 * d_ab + 0.5 * d_ba


def byol_loss(p_a: Tensor, t_b: Tensor, p_b: Tensor, t_a: Tensor) -> Tensor:
    """Symmetric BYOL regression loss ``2 - 2 cos``, targets detached.

    Args:
        p_a: (N, D) online prediction of view a.
        t_b: (N, D) target projection of view b (not differentiated).
        p_b: (N, D) online prediction of view b.
        t_a: (N, D) target projection of view a (not differentiated).

    Returns:
        () the loss, in [0, 8]: the sum of the two directions' means, each in [0, 4].

    Raises:
        InputError: if the inputs are not 2-D or their shapes differ.
    """
    _check_pair(p_a, t_b, ("p_a", "t_b"))
    _check_pair(p_b, t_a, ("p_b", "t_a"))
    _check_pair(p_a, p_b, ("p_a", "p_b"))
    l_ab = 2 - 2 * F.cosine_similarity(p_a, t_b.detach(), dim=1)  # (N,)
    l_ba = 2 - 2 * F.cosine_similarity(p_b, t_a.detach(), dim=1)  # (N,)
    return (l_ab + l_ba).mean()


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float = 0.996) -> None:
    """Move the target network towards the online one: ``xi <- m xi + (1 - m) theta``.

    Parameters are updated in place; buffers (e.g. batch-norm statistics) are copied.

    Args:
        target: the target network, same architecture as ``online``.
        online: the online network.
        momentum: m in [0, 1]; 1 keeps the target unchanged.

    Raises:
        ConfigError: if ``momentum`` is outside [0, 1].
        InputError: if the two networks do not have the same parameters.
    """
    if isinstance(momentum, bool) or not 0.0 <= float(momentum) <= 1.0:
        raise ConfigError(f"momentum must lie in [0, 1], got {momentum!r}")
    t_params, o_params = list(target.parameters()), list(online.parameters())
    if len(t_params) != len(o_params) or any(
        t.shape != o.shape for t, o in zip(t_params, o_params, strict=True)
    ):
        raise InputError("target and online must have the same architecture")

    for xi, theta in zip(t_params, o_params, strict=True):
        xi.mul_(momentum).add_(theta.detach(), alpha=1.0 - momentum)
    for b_t, b_o in zip(target.buffers(), online.buffers(), strict=False):
        b_t.copy_(b_o)
