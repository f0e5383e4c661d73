"""The bundled MNIST 5k: shapes, range, padding, split sizes, stratification, seeding."""

from __future__ import annotations

import time

import torch
from torch.utils.data import DataLoader

from mlvgm.data import DataConfig, ImageSplits, load_splits


def _all_indices(s: ImageSplits) -> list[torch.Tensor]:
    parts = [s.train.indices, s.val.indices, s.test.indices]
    assert all(p is not None for p in parts)
    return [p for p in parts if p is not None]


def test_default_split_has_4000_500_500_images_of_shape_1x32x32() -> None:
    s = load_splits(DataConfig())
    assert (len(s.train), len(s.val), len(s.test)) == (4000, 500, 500)
    assert s.image_shape == (1, 32, 32)
    assert (s.n_classes, s.class_names, s.name) == (10, [str(d) for d in range(10)], "mnist-5k")
    for part in (s.train, s.val, s.test):
        assert part.images.dtype == torch.float32 and part.labels.dtype == torch.int64
        assert float(part.images.min()) == 0.0 and float(part.images.max()) == 1.0


def test_digits_are_padded_with_a_2_pixel_black_border() -> None:
    x = load_splits(DataConfig()).train.images
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert float(x[:, :, border].abs().max()) == 0.0
    assert float(x[:, :, 2:30, 2:30].mean()) > 0.05  # the digits are inside


def test_every_part_is_stratified_by_digit() -> None:
    s = load_splits(DataConfig())
    for part, per_class in ((s.train, 400), (s.val, 50), (s.test, 50)):
        assert torch.bincount(part.labels, minlength=10).tolist() == [per_class] * 10


def test_parts_are_disjoint_and_cover_the_file() -> None:
    everything = torch.cat(_all_indices(load_splits(DataConfig())))
    assert torch.equal(torch.sort(everything).values, torch.arange(5000))


def test_same_seed_same_split_other_seed_other_split() -> None:
    a, b = load_splits(DataConfig(seed=3)), load_splits(DataConfig(seed=3))
    c = load_splits(DataConfig(seed=4))
    assert torch.equal(a.test.images, b.test.images)
    assert torch.equal(a.test.labels, b.test.labels)
    assert not torch.equal(_all_indices(a)[2], _all_indices(c)[2])


def test_other_sizes_and_three_channels() -> None:
    s = load_splits(DataConfig(image_size=28, channels=3, split=[100, 20, 30]))
    assert s.image_shape == (3, 28, 28)
    assert (len(s.train), len(s.val), len(s.test)) == (100, 20, 30)
    assert torch.equal(s.train.images[:, 0], s.train.images[:, 2])
    small = load_splits(DataConfig(image_size=16, split=[0.1, 0.02, 0.02]))
    assert small.image_shape == (1, 16, 16)
    assert (len(small.train), len(small.val), len(small.test)) == (500, 100, 100)
    assert float(small.train.images.min()) >= 0.0 and float(small.train.images.max()) <= 1.0


def test_works_with_a_data_loader() -> None:
    s = load_splits(DataConfig(split=[64, 0, 0]))
    x, y = next(iter(DataLoader(s.train, batch_size=16, shuffle=True)))
    assert x.shape == (16, 1, 32, 32) and y.shape == (16,) and y.dtype == torch.int64


def test_loading_is_fast() -> None:
    load_splits(DataConfig())  # parse the file once (cached for the process)
    start = time.perf_counter()
    load_splits(DataConfig())
    assert time.perf_counter() - start < 1.0
