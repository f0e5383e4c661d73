"""An NVAE-style hierarchical VAE (Vahdat and Kautz, NeurIPS 2020, arXiv 2007.03898).

A bottom-up encoder computes features at every scale; a top-down decoder walks
the latent groups from coarse to fine. At group ``i`` the prior
``p(z_i | z_<i) = N(mu_p, sigma_p)`` is read from the decoder state ``h``, which
already holds ``z_<i``; the posterior ``q(z_i | x, z_<i)`` is parameterised
relative to it (NVAE's residual normal):

    mu_q = mu_p + delta_mu(h, f_i),   log sigma_q = log sigma_p + delta_log_sigma(h, f_i)

with ``f_i`` the encoder feature at the group's scale. Purification
(Serez et al., WACV 2025) mixes ``z_i = (1 - alpha_i) mu_q + alpha_i z_prior`` inside
this same pass, so the posterior and prior of every level see the mixed levels above.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from mlvgm.errors import ConfigError, InputError
from mlvgm.models._cells import Down, ResidualCell, Up
from mlvgm.models.base import MLVGM

# Bound on |log sigma| so that early training cannot blow the KL up.
_LOG_SIGMA_BOUND = 4.0


def _bounded(raw: torch.Tensor) -> torch.Tensor:
    return _LOG_SIGMA_BOUND * torch.tanh(raw / _LOG_SIGMA_BOUND)


@dataclass
class HVAEConfig:
    """Architecture of a :class:`HierarchicalVAE`.

    Attributes:
        in_channels: image channels.
        image_size: image side; a power of two times the coarsest group resolution.
        widths: channels at resolutions ``image_size / 2**k``, ``k = 0, 1, ...``.
        groups: ``[resolution, z_channels]`` per latent group, coarse to fine;
            resolutions must not decrease.
        encoder_cells: residual cells after each encoder downsampling.
        decoder_cells: residual cells after each latent group in the decoder.
    """

    in_channels: int = 1
    image_size: int = 32
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 64])
    groups: list[list[int]] = field(
        default_factory=lambda: [[4, 16], [4, 16], [8, 4], [8, 4], [8, 4]]
    )
    encoder_cells: int = 1
    decoder_cells: int = 1

    def __post_init__(self) -> None:
        resolutions = [self.image_size // 2**k for k in range(len(self.widths))]
        if self.image_size != resolutions[0] or any(r < 1 for r in resolutions):
            raise ConfigError(f"widths {self.widths} do not fit image_size {self.image_size}")
        if len(self.groups) < 1:
            raise ConfigError("groups must list at least one [resolution, z_channels] pair")
        previous = 0
        for g in self.groups:
            if len(g) != 2 or g[0] not in resolutions[1:] or g[1] < 1:
                raise ConfigError(
                    f"group {g} must be [resolution, z_channels] with resolution in "
                    f"{resolutions[1:]} and z_channels >= 1"
                )
            if g[0] < previous:
                raise ConfigError(f"group resolutions must not decrease, got {self.groups}")
            previous = g[0]
        if self.groups[0][0] != resolutions[-1]:
            raise ConfigError(
                f"the first group must sit at the coarsest resolution {resolutions[-1]}, "
                f"got {self.groups[0][0]}"
            )

    def width_at(self, resolution: int) -> int:
        """Channels of the feature maps at ``resolution``."""
        return self.widths[int(math.log2(self.image_size // resolution))]


@dataclass
class HVAEOutput:
    """What a training forward pass returns.

    Attributes:
        logits: (B, C, H, W) Bernoulli logits of the reconstruction.
        kl: (B, L) KL divergence of each group, summed over its dimensions.
    """

    logits: torch.Tensor
    kl: torch.Tensor


class _Group(nn.Module):
    """One latent group: its prior, its posterior and how it enters the decoder state."""

    def __init__(self, width: int, z_channels: int, cells: int) -> None:
        super().__init__()
        self.prior = nn.Conv2d(width, 2 * z_channels, 3, padding=1)
        self.posterior = nn.Conv2d(2 * width, 2 * z_channels, 3, padding=1)
        self.combine = nn.Conv2d(z_channels, width, 1)
        self.cells = nn.Sequential(*[ResidualCell(width) for _ in range(cells)])
        nn.init.zeros_(self.posterior.weight)
        if self.posterior.bias is not None:
            nn.init.zeros_(self.posterior.bias)

    def prior_params(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu_p, raw = self.prior(nn.functional.silu(h)).chunk(2, dim=1)
        return mu_p, _bounded(raw)

    def posterior_params(
        self, h: torch.Tensor, f: torch.Tensor, mu_p: torch.Tensor, log_sigma_p: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        d_mu, d_raw = self.posterior(nn.functional.silu(torch.cat([h, f], 1))).chunk(2, dim=1)
        return mu_p + d_mu, _bounded(log_sigma_p + d_raw)

    def absorb(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.cells(h + self.combine(z))


# pick(i, h, mu_p, log_sigma_p) -> z_i: how the top-down pass chooses each latent
_Pick = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class HierarchicalVAE(MLVGM):
    """NVAE-style hierarchical VAE with top-down conditional priors ``p(z_i | z_<i)``.

    Args:
        config: the architecture.
    """

    def __init__(self, config: HVAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or HVAEConfig()
        cfg = self.config
        self.in_channels = cfg.in_channels
        self.image_size = cfg.image_size
        n_scales = len(cfg.widths)

        self.stem = nn.Conv2d(cfg.in_channels, cfg.widths[0], 3, padding=1)
        self.down = nn.ModuleList(
            nn.Sequential(
                Down(cfg.widths[k - 1], cfg.widths[k]),
                *[ResidualCell(cfg.widths[k]) for _ in range(cfg.encoder_cells)],
            )
            for k in range(1, n_scales)
        )

        top = cfg.groups[0][0]
        self.h_top = nn.Parameter(torch.zeros(1, cfg.width_at(top), top, top))
        self.groups = nn.ModuleList(
            _Group(cfg.width_at(res), zc, cfg.decoder_cells) for res, zc in cfg.groups
        )
        # Up-samplers from each resolution to the next finer one, coarsest first.
        self.up = nn.ModuleList(
            Up(cfg.widths[k], cfg.widths[k - 1]) for k in range(n_scales - 1, 0, -1)
        )
        self.head = nn.Conv2d(cfg.widths[0], cfg.in_channels, 3, padding=1)

    def _group(self, i: int) -> _Group:
        return typing.cast(_Group, self.groups[i])

    @property
    def n_latents(self) -> int:
        """L, the number of latent groups."""
        return len(self.config.groups)

    def latent_shapes(self) -> list[tuple[int, ...]]:
        """(C, H, W) of every latent group, coarse to fine."""
        return [(zc, res, res) for res, zc in self.config.groups]

    # -- the two passes -----------------------------------------------------------------

    def features(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Bottom-up encoder features keyed by resolution.

        Args:
            x: (B, C, H, W) in [0, 1].
        """
        h = self.stem(2 * x - 1)
        feats = {}
        for block in self.down:
            h = block(h)
            feats[h.shape[-1]] = h
        return feats

    def _top_down(self, batch: int, pick: _Pick) -> torch.Tensor:
        """Walk the groups coarse to fine; returns (B, C, H, W) output logits."""
        h = self.h_top.expand(batch, -1, -1, -1)
        up = iter(self.up)
        for i in range(self.n_latents):
            group = self._group(i)
            while h.shape[-1] < self.config.groups[i][0]:
                h = next(up)(h)
            mu_p, log_sigma_p = group.prior_params(h)
            h = group.absorb(h, pick(i, h, mu_p, log_sigma_p))
        for block in up:
            h = block(h)
        return self.head(nn.functional.silu(h))

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> HVAEOutput:
        """The training pass: reparameterised posterior samples and per-group KL.

        Args:
            x: (B, C, H, W) in [0, 1].
            keep: optional (B, L) bool; where False, group ``i`` of that image is drawn
                from the prior instead of the posterior and its KL is not counted.

        Returns:
            :class:`HVAEOutput` with logits and the (B, L) KL.
        """
        feats = self.features(x)
        kls: list[torch.Tensor] = []

        def pick(i: int, h: torch.Tensor, mu_p: torch.Tensor, ls_p: torch.Tensor) -> torch.Tensor:
            mu_q, ls_q = self._group(i).posterior_params(h, feats[h.shape[-1]], mu_p, ls_p)
            z_q = mu_q + ls_q.exp() * torch.randn_like(mu_q)
            # KL(N(mu_q, s_q) || N(mu_p, s_p)), summed over the group's dimensions
            kl = ls_p - ls_q + (ls_q.exp() ** 2 + (mu_q - mu_p) ** 2) / (2 * (2 * ls_p).exp())
            kl = (kl - 0.5).flatten(1).sum(1)  # (B,)
            if keep is None:
                kls.append(kl)
                return z_q
            m = keep[:, i].to(z_q.dtype)
            kls.append(kl * m)
            z_p = mu_p + ls_p.exp() * torch.randn_like(mu_p)
            m4 = m.view(-1, 1, 1, 1)  # (B, 1, 1, 1)
            return m4 * z_q + (1 - m4) * z_p

        logits = self._top_down(x.shape[0], pick)
        return HVAEOutput(logits=logits, kl=torch.stack(kls, dim=1))

    # -- the MLVGM protocol -------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Posterior means, each level conditioned on the means above it.

        Args:
            x: (B, C, H, W) in [0, 1].

        Returns:
            ``[z_0 .. z_{L-1}]``, z_i of shape (B, C_i, H_i, W_i).
        """
        return self._collect(x, [0.0] * self.n_latents, 1.0)[1]

    def decode(self, latents: Sequence[torch.Tensor]) -> torch.Tensor:
        """Images from a full latent stack.

        Args:
            latents: ``[z_0 .. z_{L-1}]`` with the shapes of :meth:`latent_shapes`.

        Returns:
            (B, C, H, W) in [0, 1].
        """
        self._check_latents(latents, full=True)
        logits = self._top_down(latents[0].shape[0], lambda i, h, m, s: latents[i])
        return torch.sigmoid(logits)

    def sample_prior(
        self,
        n: int,
        temperature: float = 1.0,
        given: Sequence[torch.Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> list[torch.Tensor]:
        """Sequential draws from ``p(z_i | z_<i)``; see :meth:`MLVGM.sample_prior`."""
        given = list(given or [])
        if given:
            self._check_latents(given, full=False)
            n = given[0].shape[0]
        drawn: list[torch.Tensor] = []

        def pick(i: int, h: torch.Tensor, mu_p: torch.Tensor, ls_p: torch.Tensor) -> torch.Tensor:
            if i < len(given):
                z = given[i]
            else:
                noise = torch.randn(mu_p.shape, generator=generator, device=mu_p.device)
                z = mu_p + temperature * ls_p.exp() * noise
            drawn.append(z)
            return z

        self._top_down(n, pick)
        return drawn

    def generate(self, noise: Sequence[torch.Tensor]) -> torch.Tensor:
        """Images from standard-normal noise: ``z_i = mu_i(z_<i) + sigma_i(z_<i) * eps_i``.

        Args:
            noise: ``[eps_0 .. eps_{L-1}]`` with the shapes of :meth:`latent_shapes`.

        Returns:
            (B, C, H, W) in [0, 1]; differentiable with respect to ``noise``.
        """
        self.check_noise(noise)
        logits = self._top_down(
            noise[0].shape[0], lambda i, h, mu_p, ls_p: mu_p + ls_p.exp() * noise[i]
        )
        return torch.sigmoid(logits)

    def sample(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Unconditional images: (n, C, H, W) in [0, 1]."""
        return self.decode(self.sample_prior(n, temperature, generator=generator))

    def purify(
        self,
        x: torch.Tensor,
        alphas: Sequence[float] | torch.Tensor,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """``z_i = (1 - alpha_i) z_i^enc + alpha_i z_i^prior`` taken top-down, then decode.

        Args:
            x: (B, C, H, W) in [0, 1].
            alphas: L values in [0, 1], coarse to fine.
            temperature: temperature of the prior draws.

        Returns:
            (B, C, H, W) in [0, 1], differentiable with respect to ``x``.
        """
        return torch.sigmoid(self._collect(x, alphas, temperature)[0])

    def _collect(
        self, x: torch.Tensor, alphas: Sequence[float] | torch.Tensor, temperature: float
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        alpha = self._alpha_list(alphas)
        feats = self.features(x)
        chosen: list[torch.Tensor] = []

        def pick(i: int, h: torch.Tensor, mu_p: torch.Tensor, ls_p: torch.Tensor) -> torch.Tensor:
            z_enc, _ = self._group(i).posterior_params(h, feats[h.shape[-1]], mu_p, ls_p)
            a = alpha[i]
            if isinstance(a, float | int) and a == 0:
                z = z_enc
            else:
                z_prior = mu_p + temperature * ls_p.exp() * torch.randn_like(mu_p)
                z = (1 - a) * z_enc + a * z_prior
            chosen.append(z)
            return z

        return self._top_down(x.shape[0], pick), chosen

    def _check_latents(self, latents: Sequence[torch.Tensor], full: bool) -> None:
        shapes = self.latent_shapes()
        if full and len(latents) != len(shapes):
            raise InputError(f"expected {len(shapes)} latents, got {len(latents)}")
        if len(latents) > len(shapes):
            raise InputError(f"expected at most {len(shapes)} latents, got {len(latents)}")
        for i, z in enumerate(latents):
            if tuple(z.shape[1:]) != shapes[i]:
                raise InputError(
                    f"latent {i} must have shape (B, {', '.join(map(str, shapes[i]))}), "
                    f"got {tuple(z.shape)}"
                )


def hvae_config_dict(model: HierarchicalVAE) -> dict[str, object]:
    """The architecture of ``model`` as a plain dict (saved with checkpoints)."""
    return dataclasses.asdict(model.config)
