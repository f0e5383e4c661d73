"""The MLVGM protocol: the one interface every generative model in mlvgm implements.

A Multiple Latent Variable Generative Model shapes an image through a stack of
latent variables ``z_0 .. z_{L-1}``, index 0 the coarsest. Purification
(Serez et al., WACV 2025, arXiv 2412.03453) mixes, per latent ``i``,

    z_i = (1 - alpha_i) * z_i^enc + alpha_i * z_i^prior

and decodes the result. :meth:`MLVGM.purify` implements that mix from
:meth:`encode`, :meth:`sample_prior` and :meth:`decode`; a hierarchical model
whose posterior and prior of level ``i`` depend on the levels above overrides it
to take the mix inside its top-down pass.

Positive views (paper B) work in the prior's standard-normal coordinates: a
model maps noise ``eps_i ~ N(0, I)``, one tensor per latent, to an image with
:meth:`MLVGM.generate`. For a model whose prior is N(0, I) that is
:meth:`decode`; a hierarchical model reparameterises ``z_i = mu_i(z_<i) +
sigma_i(z_<i) * eps_i`` on the way down, so that perturbing ``eps_i`` touches
latent ``i`` alone.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import torch
from torch import nn

from mlvgm._checks import check_images
from mlvgm.errors import InputError


class MLVGM(nn.Module, abc.ABC):
    """Base class of the Multiple Latent Variable Generative Models.

    Images at the boundary are (B, C, H, W) in [0, 1]; any normalisation is internal.
    """

    #: number of image channels the model reads and writes
    in_channels: int
    #: side of the square images the model reads and writes
    image_size: int

    @property
    @abc.abstractmethod
    def n_latents(self) -> int:
        """L, the number of latent variables (groups), index 0 the coarsest."""

    @abc.abstractmethod
    def latent_shapes(self) -> list[tuple[int, ...]]:
        """The per-image shape of every latent, coarse to fine (without the batch axis)."""

    @abc.abstractmethod
    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Posterior codes of images.

        Args:
            x: (B, C, H, W) in [0, 1].

        Returns:
            ``[z_0 .. z_{L-1}]``, each (B, ...) in the latent's own shape.
        """

    @abc.abstractmethod
    def decode(self, latents: Sequence[torch.Tensor]) -> torch.Tensor:
        """Images from a full stack of latents.

        Args:
            latents: ``[z_0 .. z_{L-1}]``.

        Returns:
            (B, C, H, W) in [0, 1].
        """

    @abc.abstractmethod
    def sample_prior(
        self,
        n: int,
        temperature: float = 1.0,
        given: Sequence[torch.Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> list[torch.Tensor]:
        """Draw latents from the prior.

        Args:
            n: batch size (ignored when ``given`` is set: its batch size wins).
            temperature: scale of the prior's noise (1 is the trained prior).
            given: optional ``[z_0 .. z_{k-1}]`` to keep; the remaining latents are
                drawn conditioned on them where the model's prior is hierarchical.
            generator: optional random generator for reproducible draws.

        Returns:
            ``[z_0 .. z_{L-1}]``.
        """

    def sample_noise(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> list[torch.Tensor]:
        """Standard-normal noise ``[eps_0 .. eps_{L-1}]`` in the shapes of :meth:`latent_shapes`.

        Args:
            n: batch size.
            generator: optional random generator for reproducible draws.
            device: where to draw (default: the model's device).
        """
        if device is None:
            device = next(self.parameters()).device
        return [
            torch.randn((n, *shape), generator=generator, device=device)
            for shape in self.latent_shapes()
        ]

    def generate(self, noise: Sequence[torch.Tensor]) -> torch.Tensor:
        """Images from the prior's standard-normal coordinates, one tensor per latent.

        The default decodes ``noise`` directly, which is right for a model whose prior
        is N(0, I); hierarchical models override it.

        Args:
            noise: ``[eps_0 .. eps_{L-1}]`` with the shapes of :meth:`latent_shapes`.

        Returns:
            (B, C, H, W) in [0, 1]; differentiable with respect to ``noise``.
        """
        self.check_noise(noise)
        return self.decode(noise)

    def check_noise(self, noise: Sequence[torch.Tensor]) -> None:
        """Check a full latent (or noise) stack against :meth:`latent_shapes`.

        Raises:
            InputError: on the wrong number of tensors, shapes or batch sizes.
        """
        shapes = self.latent_shapes()
        if len(noise) != len(shapes):
            raise InputError(f"expected {len(shapes)} latents, got {len(noise)}")
        for i, z in enumerate(noise):
            if not isinstance(z, torch.Tensor) or tuple(z.shape[1:]) != tuple(shapes[i]):
                got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
                raise InputError(
                    f"latent {i} must have shape (B, {', '.join(map(str, shapes[i]))}), got {got}"
                )
            if z.shape[0] != noise[0].shape[0]:
                raise InputError(
                    f"all latents must have the same batch size; latent 0 has "
                    f"{noise[0].shape[0]}, latent {i} has {z.shape[0]}"
                )

    def purify(
        self,
        x: torch.Tensor,
        alphas: Sequence[float] | torch.Tensor,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """Encode, mix each latent with a prior draw, decode.

        Args:
            x: (B, C, H, W) in [0, 1].
            alphas: L values in [0, 1]; 0 keeps the encoding, 1 takes the prior draw.
            temperature: temperature of the prior draws.

        Returns:
            (B, C, H, W) in [0, 1]; differentiable with respect to ``x``.
        """
        alpha = self._alpha_list(alphas)
        z_enc = self.encode(x)
        z_prior = self.sample_prior(x.shape[0], temperature)
        mixed = [(1 - a) * ze + a * zp for a, ze, zp in zip(alpha, z_enc, z_prior, strict=True)]
        return self.decode(mixed)

    def check_input(self, x: torch.Tensor) -> None:
        """Check images against the model's channels and size.

        Raises:
            InputError: on the wrong shape, range or values.
        """
        check_images(x, channels=self.in_channels)
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            raise InputError(
                f"x must be {self.image_size}x{self.image_size} images, "
                f"got {x.shape[-2]}x{x.shape[-1]}"
            )

    def _alpha_list(self, alphas: Sequence[float] | torch.Tensor) -> list[float | torch.Tensor]:
        values: list[float | torch.Tensor] = (
            list(alphas.unbind(0)) if isinstance(alphas, torch.Tensor) else list(alphas)
        )
        if len(values) != self.n_latents:
            raise InputError(
                f"alphas must have {self.n_latents} values (one per latent), got {len(values)}"
            )
        return values
