"""APGD's speed against a one-image-at-a-time loop and torchattacks (slow, timing-based)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import torch
from torch import nn

from mlvgm.attacks import APGD

pytestmark = pytest.mark.slow


def _best_time(run: Callable[[], object], repeats: int = 3) -> float:
    """The fastest of a few runs, in seconds, after one warm-up run."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def test_batched_is_three_times_faster_than_one_image_at_a_time(
    model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = batch[0][:64], batch[1][:64]
    attack = APGD(0.25, n_iter=20)

    batched = _best_time(lambda: attack(model, x, y))
    looped = _best_time(lambda: [attack(model, x[i : i + 1], y[i : i + 1]) for i in range(64)])
    assert looped >= 3.0 * batched, f"batched {batched:.3f} s, one at a time {looped:.3f} s"


def test_at_least_as_fast_as_torchattacks(
    model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    torchattacks = pytest.importorskip("torchattacks")
    x, y = batch
    # A small bound, where few images are fooled early and retired, for a like-for-like count.
    ours = APGD(0.25, n_iter=100)
    theirs = torchattacks.APGD(model, norm="L2", eps=0.25, steps=100, loss="ce", seed=0)

    ours_s = _best_time(lambda: ours(model, x, y))
    theirs_s = _best_time(lambda: theirs(x, y))
    assert ours_s <= theirs_s, f"ours {ours_s:.3f} s, torchattacks {theirs_s:.3f} s"
