"""Latent variables for view generation: groupings of a model's latents, flattened.

Latent analysis and perturbation treat each *variable* as one unit. By default a
variable is one latent of the model (one group of the hierarchical VAE); a user
grouping such as ``[[0], [1, 2], [3, 4]]`` merges latents into one variable.
All of it works on the prior's standard-normal coordinates (see
:meth:`mlvgm.models.MLVGM.generate`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from mlvgm.errors import ConfigError
from mlvgm.models.base import MLVGM


def resolve_grouping(grouping: Sequence[Sequence[int]] | None, n_latents: int) -> list[list[int]]:
    """Check a grouping of latents into variables; ``None`` is one variable per latent.

    Args:
        grouping: lists of latent indices, one list per variable, or None.
        n_latents: the model's number of latents.

    Returns:
        The grouping as lists of ints.

    Raises:
        ConfigError: if an index is outside ``0 .. n_latents - 1``, a latent appears in
            two variables, or a variable is empty.
    """
    if grouping is None:
        return [[i] for i in range(n_latents)]
    resolved: list[list[int]] = []
    seen: set[int] = set()
    for v, members in enumerate(grouping):
        if isinstance(members, int | str) or not members:
            raise ConfigError(
                f"grouping entry {v} must be a non-empty list of latent indices, got {members!r}"
            )
        for i in members:
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n_latents:
                raise ConfigError(
                    f"group index {i!r} is outside the model's {n_latents} latents "
                    f"(0-{n_latents - 1})"
                )
            if i in seen:
                raise ConfigError(f"latent {i} appears in more than one variable of the grouping")
            seen.add(i)
        resolved.append([int(i) for i in members])
    return resolved


def variable_dims(model: MLVGM, grouping: Sequence[Sequence[int]]) -> list[int]:
    """Number of scalar coordinates of each variable."""
    shapes = model.latent_shapes()
    return [sum(math.prod(shapes[i]) for i in members) for members in grouping]


def get_variable(noise: Sequence[torch.Tensor], members: Sequence[int]) -> torch.Tensor:
    """The coordinates of one variable, flattened: (B, D)."""
    return torch.cat([noise[i].flatten(1) for i in members], dim=1)


def set_variable(
    noise: Sequence[torch.Tensor], members: Sequence[int], flat: torch.Tensor
) -> list[torch.Tensor]:
    """A copy of ``noise`` with one variable replaced by ``flat`` (B, D); others untouched."""
    out = list(noise)
    start = 0
    for i in members:
        size = noise[i][0].numel()
        out[i] = flat[:, start : start + size].reshape(noise[i].shape)
        start += size
    return out
