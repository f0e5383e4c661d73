"""Learned latent perturbations ``z' = z + T_i(z)``, one walker per variable.

Latent analysis (paper B, "How much does each latent matter?") learns, for each
variable ``i`` (one latent or a group of latents), a map ``T_i`` that moves only
that variable's standard-normal coordinates so as to make the decoded positive
``x' = g(z')`` as hard as possible to match to its anchor ``x = g(z)``.

``T_i`` is a two-layer MLP on the variable's flattened coordinates whose last layer
starts near zero, so ``z' = z + T_i(z)`` starts at ``z``. Its output is bounded per
coordinate, ``delta = bound * tanh(raw)``, in standard-normal units: every coordinate
moves by less than ``bound``, so an anchor drawn with truncation ``t`` keeps every
coordinate within ``t + bound`` of the prior's mean and the walker cannot leave
the region the generator was trained on. The consequence for "perturbation size":
``||z'_i - z_i||`` is at most ``bound * sqrt(dim)``; a walker rewarded only for
destroying information pushes towards that ceiling, so a measured size close to it
says the bound was binding, not that the variable needs that much movement.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mlvgm.errors import CheckpointError, ConfigError, InputError

if typing.TYPE_CHECKING:
    from mlvgm.models.base import MLVGM

#: scale of the walkers' last-layer weights at initialisation
INIT_SCALE = 1e-3


class Walker(nn.Module):
    """``T(z) = bound * tanh(W_2 silu(W_1 z + b_1) + b_2)`` on one variable's coordinates.

    Args:
        dim: D, the variable's number of coordinates.
        hidden: width of the hidden layer.
        bound: largest move of one coordinate, in standard-normal units.

    Raises:
        ConfigError: if ``dim`` or ``hidden`` is not a positive integer or ``bound`` is
            not a positive finite number.
    """

    def __init__(self, dim: int, hidden: int = 256, bound: float = 1.0) -> None:
        super().__init__()
        _check_positive_int(dim, "dim")
        _check_positive_int(hidden, "hidden")
        _check_bound(bound)
        self.dim, self.hidden, self.bound = dim, hidden, float(bound)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, dim))
        last = typing.cast(nn.Linear, self.net[2])
        nn.init.normal_(last.weight, std=INIT_SCALE)
        nn.init.zeros_(last.bias)

    def forward(self, z: Tensor) -> Tensor:
        """The perturbation of flattened coordinates.

        Args:
            z: (B, D) the variable's noise coordinates.

        Returns:
            (B, D) delta with every entry in (-bound, bound); ``z + delta`` is the move.

        Raises:
            InputError: if ``z`` is not (B, D).
        """
        if z.ndim != 2 or z.shape[1] != self.dim:
            raise InputError(f"walker input must have shape (B, {self.dim}), got {tuple(z.shape)}")
        return self.bound * torch.tanh(self.net(z))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, hidden={self.hidden}, bound={self.bound}"


@dataclass
class WalkerSetConfig:
    """What a :class:`WalkerSet` was built for; saved in its checkpoint.

    Attributes:
        grouping: latent indices of every variable.
        dims: number of coordinates of every variable.
        hidden: hidden width of every walker.
        bound: per-coordinate bound of every walker, in standard-normal units.
        latent_shapes: per-image shape of every latent of the model the walkers serve.
    """

    grouping: list[list[int]]
    dims: list[int]
    hidden: int
    bound: float
    latent_shapes: list[list[int]]

    def __post_init__(self) -> None:
        if not self.grouping:
            raise ConfigError("a walker set needs at least one variable")
        if len(self.dims) != len(self.grouping):
            raise ConfigError(
                f"dims must have one entry per variable ({len(self.grouping)}), "
                f"got {len(self.dims)}"
            )
        n_latents = len(self.latent_shapes)
        flat = [i for members in self.grouping for i in members]
        if len(set(flat)) != len(flat):
            raise ConfigError(f"a latent appears in two variables of grouping {self.grouping}")
        for v, members in enumerate(self.grouping):
            if not members or any(not 0 <= i < n_latents for i in members):
                raise ConfigError(
                    f"variable {v} of the walker set must list latents in 0-{n_latents - 1}, "
                    f"got {members}"
                )
            size = sum(_numel(self.latent_shapes[i]) for i in members)
            if self.dims[v] != size:
                raise ConfigError(
                    f"variable {v} has {size} coordinates but dims says {self.dims[v]}"
                )
        _check_positive_int(self.hidden, "hidden")
        _check_bound(self.bound)


class WalkerSet(nn.Module):
    """One :class:`Walker` per variable of a grouping, applied to full noise stacks.

    Args:
        config: the grouping, sizes and the model's latent shapes.
    """

    def __init__(self, config: WalkerSetConfig) -> None:
        super().__init__()
        self.config = config
        self.walkers = nn.ModuleList(Walker(d, config.hidden, config.bound) for d in config.dims)

    @classmethod
    def for_model(
        cls, model: MLVGM, grouping: Sequence[Sequence[int]], hidden: int = 256, bound: float = 1.0
    ) -> WalkerSet:
        """Walkers sized for ``model`` and a checked grouping (see ``resolve_grouping``).

        Raises:
            ConfigError: if the grouping does not fit the model's latents.
        """
        shapes = [list(s) for s in model.latent_shapes()]
        groups = [list(m) for m in grouping]
        dims = [sum(_numel(shapes[i]) for i in m) for m in groups]
        return cls(WalkerSetConfig(groups, dims, hidden, bound, shapes))

    @property
    def n_variables(self) -> int:
        """Number of variables (walkers)."""
        return len(self.walkers)

    def walker(self, v: int) -> Walker:
        """The walker of variable ``v``."""
        return typing.cast(Walker, self.walkers[v])

    def forward(
        self, noise: Sequence[Tensor], variables: Sequence[int] | None = None
    ) -> list[Tensor]:
        """Move the chosen variables by their walkers; every other latent is returned as is.

        Args:
            noise: ``[eps_0 .. eps_{L-1}]``, each (B, *latent_shape).
            variables: indices of the variables to move; None moves all of them.

        Returns:
            The perturbed noise stack ``[eps'_0 .. eps'_{L-1}]``.

        Raises:
            InputError: if ``noise`` does not fit the latent shapes or a variable index
                is out of range.
        """
        # Imported here: the model registry imports this module, and the variable
        # helpers import the models package.
        from mlvgm.views.variables import get_variable, set_variable

        self._check_noise(noise)
        chosen = range(self.n_variables) if variables is None else variables
        out = list(noise)
        for v in chosen:
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < self.n_variables:
                raise InputError(
                    f"variable {v!r} is outside the walker set's {self.n_variables} variables"
                )
            members = self.config.grouping[v]
            z_v = get_variable(noise, members)  # (B, D_v)
            out = set_variable(out, members, z_v + self.walker(v)(z_v))
        return out

    def check_compatible(self, model: MLVGM) -> None:
        """Check that the walkers were trained for a model with ``model``'s latent shapes.

        Raises:
            CheckpointError: if the latent shapes differ.
        """
        mine = [tuple(s) for s in self.config.latent_shapes]
        theirs = [tuple(s) for s in model.latent_shapes()]
        if mine != theirs:
            raise CheckpointError(
                f"the walkers were trained for a model with latent shapes {mine}, but this "
                f"model has {theirs}; train walkers for it with mlvgm analyze-latents"
            )

    def _check_noise(self, noise: Sequence[Tensor]) -> None:
        shapes = [tuple(s) for s in self.config.latent_shapes]
        if len(noise) != len(shapes) or any(
            tuple(z.shape[1:]) != s for z, s in zip(noise, shapes, strict=True)
        ):
            got = [tuple(z.shape[1:]) for z in noise]
            raise InputError(f"noise must have per-image shapes {shapes}, got {got}")


def _numel(shape: Sequence[int]) -> int:
    return math.prod(int(s) for s in shape)


def _check_positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _check_bound(bound: object) -> None:
    if (
        isinstance(bound, bool)
        or not isinstance(bound, int | float)
        or not 0.0 < float(bound) < float("inf")
    ):
        raise ConfigError(
            f"bound must be a positive finite number (standard-normal units), got {bound!r}"
        )
