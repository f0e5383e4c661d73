"""Per-image losses that untargeted attacks maximise.

``dlr`` is the Difference of Logits Ratio of Croce & Hein (2020), "Reliable
evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", Eq. (6): shift- and scale-invariant in the logits,
it needs at least four classes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each image's logits against its label.

    Args:
        logits: (B, K) logits.
        y: (B,) labels in [0, K).

    Returns:
        (B,) losses.
    """
    return F.cross_entropy(logits, y, reduction="none")


def dlr(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Difference of Logits Ratio, ``-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3)``.

    Args:
        logits: (B, K) logits, K >= 4.
        y: (B,) labels in [0, K).

    Returns:
        (B,) losses; positive exactly when the image is misclassified.
    """
    z_sorted = logits.sort(dim=1, descending=True).values  # (B, K)
    z_y = logits.gather(1, y[:, None]).squeeze(1)  # (B,)
    # The best other class is the runner-up when y is on top, else the top one.
    z_other = torch.where(z_y >= z_sorted[:, 0], z_sorted[:, 1], z_sorted[:, 0])
    return (z_other - z_y) / (z_sorted[:, 0] - z_sorted[:, 2] + 1e-12)


LOSSES: dict[str, Loss] = {"ce": cross_entropy, "dlr": dlr}
MIN_CLASSES: dict[str, int] = {"ce": 2, "dlr": 4}
