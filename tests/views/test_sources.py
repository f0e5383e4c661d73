"""View sources: real, continuous and offline pairs, reproducible per (seed, rank, epoch, batch)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from mlvgm.errors import ConfigError
from mlvgm.views.augment import make_augmentation
from mlvgm.views.generate import PerturbationConfig, ViewGenerator
from mlvgm.views.sources import (
    ContinuousViews,
    OfflineViews,
    RealViews,
    SourceConfig,
    make_source,
    stream_seed,
)


class CountingPairs:
    """A stand-in generator: random pairs from the given generator, counting its calls."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls = 0
        self.fail_at = fail_at

    def pairs(self, n: int, generator: torch.Generator | None = None):
        if self.calls == self.fail_at:
            raise KeyboardInterrupt
        self.calls += 1
        a = torch.rand(n, 1, 8, 8, generator=generator)
        return a, (a + 0.1 * torch.rand(n, 1, 8, 8, generator=generator)).clamp(0, 1)


def _offline(path, generator, key: str = "k", **kw) -> OfflineViews:
    return OfflineViews(
        generator, 4, 3, make_augmentation("none", 8, 1), path=path, key=key, seed=1, **kw
    )


def test_stream_seeds_differ_for_neighbouring_keys() -> None:
    seeds = {stream_seed(0, 0, r, e, b) for r in range(2) for e in range(3) for b in range(3)}
    assert len(seeds) == 18 and all(0 <= s < 2**63 for s in seeds)
    assert stream_seed(0, 1, 2) == stream_seed(0, 1, 2)


def test_continuous_batches_repeat_for_the_same_rank_epoch_and_batch(tiny_hvae) -> None:
    gen = ViewGenerator(tiny_hvae, perturbation=PerturbationConfig(kind="gaussian"))
    aug = make_augmentation("none", 32, 1)
    rank0 = ContinuousViews(gen, 4, 2, aug, seed=3, rank=0)
    again = ContinuousViews(gen, 4, 2, aug, seed=3, rank=0)
    rank1 = ContinuousViews(gen, 4, 2, aug, seed=3, rank=1)
    a, p = rank0.raw_batch(epoch=1, index=1)
    assert a.shape == p.shape == (4, 1, 32, 32) and not torch.equal(a, p)
    assert torch.equal(again.raw_batch(1, 1)[0], a) and torch.equal(again.raw_batch(1, 1)[1], p)
    for other in (rank1.raw_batch(1, 1), rank0.raw_batch(2, 1), rank0.raw_batch(1, 0)):
        assert not torch.allclose(other[0], a)


def test_continuous_augmentation_repeats_and_leaves_the_global_rng_alone() -> None:
    source = ContinuousViews(CountingPairs(), 4, 2, make_augmentation("simclr", 8, 1), seed=0)
    torch.manual_seed(7)
    first = list(source.batches(0))
    after = torch.rand(1)
    torch.manual_seed(7)
    second = list(source.batches(0))
    assert torch.equal(torch.rand(1), after)
    assert len(first) == 2
    for (a1, p1), (a2, p2) in zip(first, second, strict=True):
        assert torch.equal(a1, a2) and torch.equal(p1, p2)


def test_real_views_are_two_augmentations_of_the_same_images() -> None:
    images = torch.rand(20, 1, 8, 8)
    source = RealViews(images, 4, make_augmentation("no_crop", 8, 1), seed=0)
    assert source.batches_per_epoch == 5
    x1, x2 = next(iter(source.batches(0)))
    assert x1.shape == x2.shape == (4, 1, 8, 8) and not torch.equal(x1, x2)
    plain = RealViews(images, 4, make_augmentation("none", 8, 1), seed=0)
    seen = torch.cat([a for a, b in plain.batches(0) if torch.equal(a, b)])
    assert seen.shape[0] == 20
    assert torch.equal(seen.sort(0).values, images.sort(0).values)  # a permutation of the split
    assert not torch.equal(next(iter(plain.batches(1)))[0], next(iter(plain.batches(0)))[0])


def test_real_views_give_each_rank_a_disjoint_shard() -> None:
    images = torch.arange(16.0).view(16, 1, 1, 1).expand(16, 1, 4, 4) / 16
    aug = make_augmentation("none", 4, 1)
    shards = [
        torch.cat([a for a, _ in RealViews(images, 2, aug, rank=r, world_size=2).batches(0)])
        for r in range(2)
    ]
    values = [set(s[:, 0, 0, 0].tolist()) for s in shards]
    assert len(values[0]) == len(values[1]) == 8 and not values[0] & values[1]


def test_batch_larger_than_the_real_train_split_is_refused() -> None:
    with pytest.raises(ConfigError, match="batch_size 32 is larger than the train split"):
        RealViews(torch.rand(20, 1, 8, 8), 32, make_augmentation("none", 8, 1))


def test_offline_pairs_are_generated_once_and_identical_across_epochs(tmp_path) -> None:
    gen = CountingPairs()
    source = _offline(tmp_path / "views.safetensors", gen)
    epoch0 = list(source.batches(0))
    epoch1 = list(source.batches(1))
    assert gen.calls == 3 and len(epoch0) == len(epoch1) == 3
    rows = [torch.cat([a for a, _ in e]).flatten(1) for e in (epoch0, epoch1)]
    assert not torch.equal(rows[0], rows[1])  # reshuffled ...
    assert torch.equal(rows[0].sort(0).values, rows[1].sort(0).values)  # ... same pairs
    stored = load_file(str(tmp_path / "views.safetensors"))
    assert stored["anchors"].dtype == torch.uint8 and stored["anchors"].shape == (12, 1, 8, 8)


def test_offline_set_is_reused_by_a_resumed_run_and_remade_for_another_key(tmp_path) -> None:
    path = tmp_path / "views.safetensors"
    list(_offline(path, CountingPairs()).batches(0))
    first = load_file(str(path))["anchors"]
    reused = CountingPairs()
    list(_offline(path, reused).batches(1))
    assert reused.calls == 0
    remade = CountingPairs()
    list(_offline(path, remade, key="other").batches(0))
    assert remade.calls == 3 and torch.equal(load_file(str(path))["anchors"], first)


def test_offline_generation_killed_midway_leaves_no_file(tmp_path) -> None:
    with pytest.raises(KeyboardInterrupt):
        list(_offline(tmp_path / "views.safetensors", CountingPairs(fail_at=2)).batches(0))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"kind": "imagenet"}, "unknown view source 'imagenet'"),
        ({"mode": "online"}, "unknown generation mode 'online'"),
        ({"augment": "strong"}, "unknown augmentation preset 'strong'"),
        ({"precision": "half"}, "unknown precision 'half'"),
        ({"batch_size": 1}, "source.batch_size must be an integer of at least 2"),
    ],
)
def test_bad_source_options_are_config_errors(option, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SourceConfig(**option)


def test_make_source_builds_each_kind(tmp_path, tiny_hvae) -> None:
    train = torch.rand(64, 1, 32, 32)
    real = make_source(SourceConfig(kind="real", batch_size=16), train_images=train)
    assert isinstance(real, RealViews) and real.batches_per_epoch == 4
    cont = make_source(SourceConfig(batch_size=16), train_images=train, mlvgm=tiny_hvae)
    assert isinstance(cont, ContinuousViews) and cont.batches_per_epoch == 4
    x1, x2 = next(iter(cont.batches(0)))
    assert x1.shape == x2.shape == (16, 1, 32, 32) and x1.min() >= 0 and x1.max() <= 1
    off = make_source(
        SourceConfig(mode="offline", batch_size=16, batches_per_epoch=2),
        train_images=train,
        mlvgm=tiny_hvae,
        offline_path=tmp_path / "v.safetensors",
    )
    assert isinstance(off, OfflineViews) and off.n_pairs == 32


def test_generated_epoch_sized_by_a_too_small_split_is_refused(tiny_hvae) -> None:
    with pytest.raises(ConfigError, match=r"set source\.batches_per_epoch"):
        make_source(
            SourceConfig(batch_size=16), train_images=torch.rand(8, 1, 32, 32), mlvgm=tiny_hvae
        )
