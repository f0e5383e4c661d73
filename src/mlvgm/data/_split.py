"""A fixed, seeded, stratified train / validation / test split.

Each class is shuffled with the seed, and its k-th member (of n_c) is placed at
position (k + 1/2) / n_c on a common [0, 1] line; the images, sorted by that
position (ties broken at random), are cut into consecutive train, validation and
test parts. Every class is thereby spread evenly along the line, so each part,
and each prefix of a part, holds every class in proportion to its frequency,
within about one image per class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from mlvgm.errors import DataError, InputError


def stratified_split(
    labels: torch.Tensor | np.ndarray | Sequence[int],
    sizes: Sequence[int],
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split the indices ``0 .. N-1`` into disjoint train, validation and test sets.

    The result depends only on ``labels`` (in their order), ``sizes`` and ``seed``;
    callers that read files sort the paths first, so the split does not depend on
    the file system's listing order.

    Args:
        labels: (N,) integer class labels.
        sizes: the three counts ``(n_train, n_val, n_test)``; their sum may be less
            than N, in which case the remaining images belong to no part.
        seed: a non-negative seed.

    Returns:
        ``(train_idx, val_idx, test_idx)``: int64 tensors of shapes (n_train,),
        (n_val,) and (n_test,), pairwise disjoint. Each part keeps the order of
        the line, so classes are interleaved and every prefix of a part (e.g. the
        first 100 test images) is itself stratified.

    Raises:
        InputError: if ``labels`` is not a 1-D integer array, or ``sizes`` is not
            three non-negative integers, or ``seed`` is negative.
        DataError: if the sizes add up to more than N.
    """
    y = _as_label_array(labels)
    counts = _check_sizes(sizes)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if sum(counts) > len(y):
        raise DataError(
            f"the split {counts} needs {sum(counts)} images but the dataset holds {len(y)}"
        )

    # Place each class's shuffled members evenly on [0, 1]; the random tie-break
    # interleaves classes that share positions (e.g. classes of equal size).
    rng = np.random.default_rng(seed)
    position = np.empty(len(y), dtype=np.float64)
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        position[members] = (np.arange(len(members)) + 0.5) / len(members)
    tie_break = rng.random(len(y))
    order = np.lexsort((tie_break, position))  # (N,) primary key: position

    bounds = np.cumsum([0, *counts])
    parts = (order[bounds[i] : bounds[i + 1]] for i in range(3))
    train, val, test = (torch.from_numpy(p.astype(np.int64)) for p in parts)
    return train, val, test


def resolve_split_sizes(split: Sequence[int | float], n: int) -> tuple[int, int, int]:
    """Turn ``DataConfig.split`` into three image counts for a dataset of ``n`` images.

    Integers are counts as given; if any value is a float, all are fractions of
    ``n``, rounded down.

    Raises:
        DataError: if the counts need more than ``n`` images or leave the train set empty.
    """
    if any(isinstance(v, float) for v in split):
        # The small epsilon keeps e.g. 0.29 * 100 = 28.999... from rounding down to 28.
        counts = tuple(math.floor(float(v) * n + 1e-9) for v in split)
    else:
        counts = tuple(int(v) for v in split)
    n_train, n_val, n_test = counts
    if n_train + n_val + n_test > n:
        raise DataError(
            f"data.split {list(split)} needs {n_train + n_val + n_test} images but the "
            f"dataset holds {n}; lower the counts or give fractions such as [0.8, 0.1, 0.1]"
        )
    if n_train == 0:
        raise DataError(
            f"data.split {list(split)} leaves no training images out of {n}; raise the train part"
        )
    return n_train, n_val, n_test


def _as_label_array(labels: torch.Tensor | np.ndarray | Sequence[int]) -> np.ndarray:
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if y.ndim != 1:
        raise InputError(f"labels must have shape (N,), got {tuple(y.shape)}")
    if len(y) > 0 and not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"labels must be integers, got dtype {y.dtype}")
    return y


def _check_sizes(sizes: Sequence[int]) -> tuple[int, int, int]:
    if len(sizes) != 3:
        raise InputError(f"sizes must be three counts (train, val, test), got {list(sizes)}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 0:
            raise InputError(f"sizes must be non-negative integers, got {list(sizes)}")
    return int(sizes[0]), int(sizes[1]), int(sizes[2])
