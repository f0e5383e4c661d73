"""Sources of positive-view pairs for self-supervised training.

A source yields, epoch by epoch, batches of two augmented views ``(x1, x2)``,
each (B, C, H, W) in [0, 1] on the training device. Three kinds (paper B,
"Continuous Sampling"):

- :class:`RealViews`: two independent augmentations of one real train image.
- :class:`ContinuousViews`: every batch is a fresh (anchor, positive) draw of a
  :class:`~mlvgm.views.generate.ViewGenerator`; an epoch is just a number of batches.
- :class:`OfflineViews`: a fixed dataset of generated pairs, made once, reshuffled
  and freshly augmented every epoch; the baseline Continuous Sampling replaces.

Every random draw comes from a stream seeded by ``(seed, purpose, rank, epoch,
batch)`` (:func:`stream_seed`), so a resumed run regenerates the batches an
uninterrupted run would have seen and no two processes share a stream.

Under ``torchrun`` each process (rank) yields ``batches_per_epoch`` batches of
``batch_size`` pairs, so one epoch covers ``world_size * batches_per_epoch *
batch_size`` pairs: real data are cut into disjoint shards, one per rank, and the
offline dataset holds that many pairs, each rank reading its own part.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor
from tqdm import tqdm

from mlvgm import distributed
from mlvgm.checkpoint import atomic_write
from mlvgm.errors import ConfigError
from mlvgm.models.base import MLVGM
from mlvgm.views.augment import PRESETS, ViewAugmentation, make_augmentation
from mlvgm.views.generate import PRECISIONS, AnchorConfig, PerturbationConfig, ViewGenerator

logger = logging.getLogger(__name__)

#: the source kinds accepted by :class:`SourceConfig`
SOURCE_KINDS: tuple[str, ...] = ("real", "generated")
#: how generated views are produced
GENERATED_MODES: tuple[str, ...] = ("continuous", "offline")

# Purposes of the random streams, so that e.g. a batch's generation and its
# augmentation never draw from the same seed.
_GENERATE, _AUGMENT, _SHUFFLE, _OFFLINE = range(4)

ViewPair = tuple[Tensor, Tensor]


@dataclass
class SourceConfig:
    """Where the view pairs of self-supervised training come from.

    Attributes:
        kind: ``real`` (augmented train images) or ``generated`` (an MLVGM's views).
        mode: for ``generated``: ``continuous`` (a fresh batch every step) or
            ``offline`` (one fixed set of pairs, generated once).
        augment: image-space augmentation preset applied to both views, one of
            :data:`mlvgm.views.augment.PRESETS`.
        anchor: the anchors' noise distribution (``generated``).
        perturbation: how a positive's latents move from its anchor's (``generated``).
        batch_size: pairs per batch and per process, at least 2.
        batches_per_epoch: batches per epoch and per process; 0 for as many as one
            pass over the real train split gives (for every kind, so that real and
            generated runs of the same settings see as many pairs).
        seed: seed of the views (generation, shuffling, augmentation).
        precision: the generator's arithmetic, ``float32`` or ``bfloat16`` (a bfloat16 copy;
            see :class:`mlvgm.views.generate.ViewGenerator`).

    Raises:
        ConfigError: on construction, naming the first option out of range.
    """

    kind: str = "generated"
    mode: str = "continuous"
    augment: str = "simclr"
    anchor: AnchorConfig = field(default_factory=AnchorConfig)
    perturbation: PerturbationConfig = field(default_factory=PerturbationConfig)
    batch_size: int = 256
    batches_per_epoch: int = 0
    seed: int = 0
    precision: str = "float32"

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ConfigError(
                f"unknown view source {self.kind!r}; choose source.kind from "
                f"{', '.join(SOURCE_KINDS)}"
            )
        if self.mode not in GENERATED_MODES:
            raise ConfigError(
                f"unknown generation mode {self.mode!r}; choose source.mode from "
                f"{', '.join(GENERATED_MODES)}"
            )
        if self.augment not in PRESETS:
            raise ConfigError(
                f"unknown augmentation preset {self.augment!r}; choose source.augment from "
                f"{', '.join(PRESETS)}"
            )
        _check_int(self.batch_size, "source.batch_size", low=2)
        _check_int(self.batches_per_epoch, "source.batches_per_epoch", low=0)
        _check_int(self.seed, "source.seed", low=0)
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"unknown precision {self.precision!r}; choose source.precision from "
                f"{', '.join(PRECISIONS)}"
            )


class ViewSource(Protocol):
    """What a trainer reads: batches of view pairs, epoch by epoch."""

    #: batches each call of :meth:`batches` yields
    batches_per_epoch: int

    def batches(self, epoch: int) -> Iterator[ViewPair]:
        """The batches of ``epoch``: pairs of (B, C, H, W) views in [0, 1]."""
        ...


class PairGenerator(Protocol):
    """Anything that draws (anchor, positive) image pairs, like a ``ViewGenerator``."""

    def pairs(self, n: int, generator: torch.Generator | None = None) -> ViewPair:
        """``n`` anchors and their positives, two (n, C, H, W) tensors in [0, 1]."""
        ...


def stream_seed(*keys: int) -> int:
    """A seed for the random stream named by ``keys``, e.g. ``(seed, purpose, rank, epoch)``.

    The keys are mixed by NumPy's ``SeedSequence``, so neighbouring keys give
    unrelated streams. Returns a non-negative 63-bit integer.
    """
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(1, np.uint64)
    return int(state[0]) >> 1


class _AugmentedSource:
    """Shared part of the sources: the augmentation, seeded per batch, on the device."""

    def __init__(
        self, augment: ViewAugmentation, seed: int, rank: int, device: torch.device
    ) -> None:
        self.augment = augment.to(device)
        self.seed = seed
        self.rank = rank
        self.device = torch.device(device)

    def _augmented(self, a: Tensor, b: Tensor, epoch: int, index: int) -> ViewPair:
        """Augment ``a`` and ``b`` independently, from the stream of this batch.

        kornia draws from torch's global generators; they are forked so that the
        caller's random state is left as it was.
        """
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, device_type=self.device.type):
            torch.manual_seed(stream_seed(self.seed, _AUGMENT, self.rank, epoch, index))
            return self.augment(a), self.augment(b)


class RealViews(_AugmentedSource):
    """Two independently augmented views of each real image.

    Each epoch draws one permutation of the images seeded by ``(seed, epoch)``,
    cuts it into ``world_size`` disjoint shards and reads the shard of ``rank``;
    the augmentation is seeded by ``(seed, rank, epoch, batch)``.

    Args:
        images: (N, C, H, W) train images in [0, 1]; copied to ``device`` once.
        batch_size: images per batch.
        augment: the augmentation applied to each view.
        seed: seed of shuffling and augmentation.
        batches_per_epoch: batches per epoch, 0 for one full pass over the shard.
        rank: this process's rank.
        world_size: the number of processes.
        device: where the views are made.

    Raises:
        ConfigError: if the shard holds fewer than ``batch_size`` images, or fewer
            than ``batches_per_epoch`` batches.
    """

    def __init__(
        self,
        images: Tensor,
        batch_size: int,
        augment: ViewAugmentation,
        *,
        seed: int = 0,
        batches_per_epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(augment, seed, rank, torch.device(device))
        n = int(images.shape[0])
        self.shard_size = n // world_size
        full = self.shard_size // batch_size
        if full == 0:
            over = f" shared by {world_size} processes" if world_size > 1 else ""
            raise ConfigError(
                f"source.batch_size {batch_size} is larger than the train split "
                f"({n} images{over}); lower source.batch_size or enlarge data.split"
            )
        if batches_per_epoch > full:
            raise ConfigError(
                f"source.batches_per_epoch {batches_per_epoch} needs more images than one "
                f"pass over the train split gives ({full} batches of {batch_size}); "
                "lower it, or set 0 for one pass"
            )
        self.images = images.to(self.device)
        self.batch_size = batch_size
        self.batches_per_epoch = batches_per_epoch or full
        self.world_size = world_size

    def batches(self, epoch: int) -> Iterator[ViewPair]:
        """The batches of ``epoch``: ``(x1, x2)``, both (B, C, H, W) in [0, 1]."""
        g = torch.Generator().manual_seed(stream_seed(self.seed, _SHUFFLE, epoch))
        perm = torch.randperm(int(self.images.shape[0]), generator=g)
        start = self.rank * self.shard_size
        shard = perm[start : start + self.shard_size].to(self.device)
        for b in range(self.batches_per_epoch):
            x = self.images[shard[b * self.batch_size : (b + 1) * self.batch_size]]
            yield self._augmented(x, x, epoch, b)


class ContinuousViews(_AugmentedSource):
    """Continuous Sampling: every batch is generated fresh, then augmented.

    The generator of batch ``b`` of ``epoch`` is seeded by ``(seed, rank, epoch, b)``.

    Args:
        generator: draws the (anchor, positive) pairs on ``device``.
        batch_size: pairs per batch.
        batches_per_epoch: batches per epoch.
        augment: the augmentation applied to anchors and positives.
        seed: seed of generation and augmentation.
        rank: this process's rank.
        device: where the generator runs and the views are made.
    """

    def __init__(
        self,
        generator: PairGenerator,
        batch_size: int,
        batches_per_epoch: int,
        augment: ViewAugmentation,
        *,
        seed: int = 0,
        rank: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(augment, seed, rank, torch.device(device))
        _check_int(batches_per_epoch, "batches_per_epoch", low=1)
        self.generator = generator
        self.batch_size = batch_size
        self.batches_per_epoch = batches_per_epoch

    def raw_batch(self, epoch: int, index: int) -> ViewPair:
        """Batch ``index`` of ``epoch`` before augmentation: (anchors, positives)."""
        g = torch.Generator(device=self.device)
        g.manual_seed(stream_seed(self.seed, _GENERATE, self.rank, epoch, index))
        return self.generator.pairs(self.batch_size, g)

    def batches(self, epoch: int) -> Iterator[ViewPair]:
        """The batches of ``epoch``: augmented (anchors, positives), (B, C, H, W) each."""
        for b in range(self.batches_per_epoch):
            anchors, positives = self.raw_batch(epoch, b)
            yield self._augmented(anchors, positives, epoch, b)


class OfflineViews(_AugmentedSource):
    """A fixed set of generated pairs, made once and kept in a file, augmented afresh.

    The set holds ``world_size * batches_per_epoch * batch_size`` pairs, generated
    in batches seeded by ``(seed, batch)`` on the first call of :meth:`batches` by
    rank 0, and written to ``path`` (safetensors, 8-bit images, atomically: a kill
    during generation leaves no file). A later run whose ``key`` matches the
    file's reads it instead; another key regenerates it. Each rank reads its own
    part, reshuffled every epoch by ``(seed, rank, epoch)``.

    Args:
        generator: draws the (anchor, positive) pairs on ``device``.
        batch_size: pairs per batch.
        batches_per_epoch: batches per epoch and per rank.
        augment: the augmentation applied to anchors and positives.
        path: the file of the set.
        key: what the set's content depends on (generator weights, view options,
            number of processes); stored in the file to recognise it.
        seed: seed of generation, shuffling and augmentation.
        rank: this process's rank.
        world_size: the number of processes.
        device: where the generator runs and the views are made.
        progress: show a progress bar while generating.
    """

    def __init__(
        self,
        generator: PairGenerator,
        batch_size: int,
        batches_per_epoch: int,
        augment: ViewAugmentation,
        *,
        path: str | Path,
        key: str = "",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str = "cpu",
        progress: bool = False,
    ) -> None:
        super().__init__(augment, seed, rank, torch.device(device))
        _check_int(batches_per_epoch, "batches_per_epoch", low=1)
        self.generator = generator
        self.batch_size = batch_size
        self.batches_per_epoch = batches_per_epoch
        self.path = Path(path)
        self.key = key
        self.world_size = world_size
        self.progress = progress
        self._pairs: ViewPair | None = None

    @property
    def n_pairs(self) -> int:
        """The pairs in the whole set, over every rank."""
        return self.world_size * self.batches_per_epoch * self.batch_size

    def pairs(self) -> ViewPair:
        """This rank's part of the set: (anchors, positives), (n, C, H, W) uint8 each."""
        if self._pairs is None:
            if distributed.is_main() and not self._stored_key_matches():
                self._generate()
            distributed.barrier()
            stored = load_file(str(self.path))
            per_rank = self.batches_per_epoch * self.batch_size
            part = slice(self.rank * per_rank, (self.rank + 1) * per_rank)
            self._pairs = (
                stored["anchors"][part].to(self.device),
                stored["positives"][part].to(self.device),
            )
        return self._pairs

    def batches(self, epoch: int) -> Iterator[ViewPair]:
        """The batches of ``epoch``: augmented (anchors, positives), (B, C, H, W) each."""
        anchors, positives = self.pairs()
        g = torch.Generator().manual_seed(stream_seed(self.seed, _SHUFFLE, self.rank, epoch))
        perm = torch.randperm(int(anchors.shape[0]), generator=g).to(self.device)
        for b in range(self.batches_per_epoch):
            idx = perm[b * self.batch_size : (b + 1) * self.batch_size]
            yield self._augmented(_to_float(anchors[idx]), _to_float(positives[idx]), epoch, b)

    def _stored_key_matches(self) -> bool:
        if not self.path.is_file():
            return False
        try:
            with safe_open(str(self.path), framework="pt") as f:
                meta = f.metadata() or {}
        except (SafetensorError, OSError):
            return False
        return meta.get("key") == self.key and meta.get("n_pairs") == str(self.n_pairs)

    def _generate(self) -> None:
        """Draw the whole set batch by batch and write it in one atomic move."""
        logger.info("generating %d offline view pairs into %s", self.n_pairs, self.path)
        n_batches = self.n_pairs // self.batch_size
        anchors, positives = [], []
        for b in tqdm(
            range(n_batches), desc="offline views", disable=not self.progress, leave=False
        ):
            g = torch.Generator(device=self.device)
            g.manual_seed(stream_seed(self.seed, _OFFLINE, b))
            a, p = self.generator.pairs(self.batch_size, g)
            anchors.append(_to_uint8(a))
            positives.append(_to_uint8(p))
        tensors = {"anchors": torch.cat(anchors), "positives": torch.cat(positives)}
        meta = {"key": self.key, "n_pairs": str(self.n_pairs)}
        atomic_write(self.path, lambda p: save_file(tensors, str(p), metadata=meta))


def _to_uint8(x: Tensor) -> Tensor:
    """(B, C, H, W) in [0, 1] to 8-bit integers on the CPU, as an image file stores them."""
    return (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu().contiguous()


def _to_float(x: Tensor) -> Tensor:
    return x.to(torch.float32) / 255


def make_source(
    config: SourceConfig,
    *,
    train_images: Tensor,
    mlvgm: MLVGM | None = None,
    offline_path: str | Path | None = None,
    offline_key: str = "",
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> RealViews | ContinuousViews | OfflineViews:
    """The source ``config`` describes.

    Args:
        config: the source's options.
        train_images: (N, C, H, W) real train images: the views of ``real``, and the
            epoch length of ``generated`` when ``config.batches_per_epoch`` is 0.
        mlvgm: the generator of ``generated`` views, already on ``device``.
        offline_path: the file of the ``offline`` set.
        offline_key: what the offline set depends on (see :class:`OfflineViews`).
        rank: this process's rank.
        world_size: the number of processes.
        device: where views are made.
        progress: show a progress bar while generating an offline set.

    Raises:
        ConfigError: if the train split is smaller than one batch per process (for
            ``real``, or for ``generated`` with ``batches_per_epoch`` 0), or a
            generated source lacks its model or file.
    """
    n = int(train_images.shape[0])
    if config.kind == "real":
        c, size = int(train_images.shape[1]), int(train_images.shape[-1])
        augment = make_augmentation(config.augment, size, c)
        return RealViews(
            train_images,
            config.batch_size,
            augment,
            seed=config.seed,
            batches_per_epoch=config.batches_per_epoch,
            rank=rank,
            world_size=world_size,
            device=device,
        )

    if mlvgm is None:
        raise ConfigError("a generated view source needs an MLVGM (set mlvgm)")
    batches = config.batches_per_epoch or n // (world_size * config.batch_size)
    if batches == 0:
        raise ConfigError(
            f"source.batches_per_epoch is 0 (one pass over the train split), but the train "
            f"split ({n} images) is smaller than one batch of {config.batch_size} per "
            "process; set source.batches_per_epoch"
        )
    generator = ViewGenerator(mlvgm, config.anchor, config.perturbation, config.precision)
    augment = make_augmentation(config.augment, mlvgm.image_size, mlvgm.in_channels)
    if config.mode == "continuous":
        return ContinuousViews(
            generator,
            config.batch_size,
            batches,
            augment,
            seed=config.seed,
            rank=rank,
            device=device,
        )
    if offline_path is None:
        raise ConfigError("an offline view source needs a file to keep its views in")
    return OfflineViews(
        generator,
        config.batch_size,
        batches,
        augment,
        path=offline_path,
        key=offline_key,
        seed=config.seed,
        rank=rank,
        world_size=world_size,
        device=device,
        progress=progress,
    )


def _check_int(value: object, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer of at least {low}, got {value!r}")
