"""stratified_split: exact sizes, disjoint parts, class proportions, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlvgm.data import stratified_split
from mlvgm.data._split import resolve_split_sizes
from mlvgm.errors import DataError, InputError


def _unbalanced_labels() -> torch.Tensor:
    # 3 classes of sizes 50, 30 and 7, in a scrambled order.
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 7)
    return y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]


def test_parts_have_the_requested_sizes_and_are_disjoint() -> None:
    y = _unbalanced_labels()
    train, val, test = stratified_split(y, (60, 15, 10), seed=0)
    assert (len(train), len(val), len(test)) == (60, 15, 10)
    everything = torch.cat([train, val, test])
    assert len(torch.unique(everything)) == 85
    assert int(everything.min()) >= 0 and int(everything.max()) < len(y)
    for part in (train, val, test):
        assert part.dtype == torch.int64


def test_every_prefix_of_a_part_is_stratified() -> None:
    y = torch.arange(200) % 10
    _, _, test = stratified_split(y, (100, 50, 50), seed=3)
    assert torch.all(torch.bincount(y[test[:20]], minlength=10) == 2)


def test_each_part_holds_every_class_in_proportion() -> None:
    y = _unbalanced_labels()
    n = len(y)
    class_sizes = torch.bincount(y)
    for part, size in zip(stratified_split(y, (60, 15, 12), seed=3), (60, 15, 12), strict=True):
        expected = class_sizes.double() * size / n
        got = torch.bincount(y[part], minlength=3).double()
        assert torch.all((got - expected).abs() <= 1.5), (got, expected)


def test_balanced_classes_split_exactly_evenly() -> None:
    y = torch.arange(10).repeat_interleave(20)  # 10 classes x 20
    train, val, test = stratified_split(y, (100, 50, 50), seed=7)
    for part, per_class in ((train, 10), (val, 5), (test, 5)):
        assert torch.all(torch.bincount(y[part], minlength=10) == per_class)


def test_same_seed_gives_same_split_and_other_seed_another() -> None:
    y = _unbalanced_labels()
    a = stratified_split(y, (60, 15, 10), seed=5)
    b = stratified_split(y.numpy(), [60, 15, 10], seed=5)
    c = stratified_split(y.tolist(), (60, 15, 10), seed=6)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])


def test_empty_validation_and_test_parts_are_allowed() -> None:
    train, val, test = stratified_split(torch.tensor([0, 1, 0, 1]), (4, 0, 0), seed=0)
    assert sorted(train.tolist()) == [0, 1, 2, 3]
    assert len(val) == len(test) == 0


def test_too_large_sizes_raise_data_error() -> None:
    with pytest.raises(DataError, match="needs 12 images but the dataset holds 10"):
        stratified_split(torch.zeros(10, dtype=torch.int64), (10, 1, 1), seed=0)


@pytest.mark.parametrize(
    ("labels", "sizes", "seed", "fragment"),
    [
        (np.zeros((2, 3), dtype=np.int64), (1, 1, 1), 0, "shape (N,)"),
        (np.zeros(5), (1, 1, 1), 0, "integers"),
        (np.zeros(5, dtype=np.int64), (1, 1), 0, "three counts"),
        (np.zeros(5, dtype=np.int64), (1, -1, 1), 0, "non-negative"),
        (np.zeros(5, dtype=np.int64), (1.0, 1, 1), 0, "non-negative integers"),
        (np.zeros(5, dtype=np.int64), (1, 1, 1), -2, "seed"),
    ],
)
def test_bad_arguments_raise_input_error(
    labels: np.ndarray, sizes: tuple[int, ...], seed: int, fragment: str
) -> None:
    with pytest.raises(InputError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        stratified_split(labels, sizes, seed)  # type: ignore[arg-type]


def test_fractions_resolve_to_rounded_down_counts() -> None:
    assert resolve_split_sizes([0.8, 0.1, 0.1], 10) == (8, 1, 1)
    assert resolve_split_sizes([0.29, 0.3, 0.0], 100) == (29, 30, 0)
    assert resolve_split_sizes([0.5, 0.25, 0.25], 7) == (3, 1, 1)
    assert resolve_split_sizes([4000, 500, 500], 5000) == (4000, 500, 500)


def test_fractions_that_leave_no_training_images_raise() -> None:
    with pytest.raises(DataError, match="no training images"):
        resolve_split_sizes([0.1, 0.0, 0.0], 5)
