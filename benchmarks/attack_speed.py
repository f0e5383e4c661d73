"""Speed of the batched APGD-CE against a one-image loop and torchattacks' APGD.

Same model (the shipped MNIST classifier), same images, same iterations, one
run each after a warm-up. Also prints the FLOP/s achieved (forward and backward
FLOPs counted with ``torch.utils.flop_counter``) against this machine's measured
float32 matmul peak.

    python benchmarks/attack_speed.py [--images 100] [--iterations 50] [--eps 1.0]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from mlvgm.attacks import APGD
from mlvgm.checkpoint import load_classifier
from mlvgm.data import DataConfig, load_splits


def timed(run: Callable[[], object]) -> float:
    """Seconds of one run, after one warm-up run."""
    run()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def matmul_peak(n: int = 2048, repeats: int = 10) -> float:
    """Measured float32 matmul FLOP/s on this machine."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def step_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one attack step on ``x``: the counted forward pass times 2.

    The backward pass to the input only (no weight gradients) costs about one
    forward pass, so a step is counted as twice the forward FLOPs.
    """
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return 2 * int(counter.get_total_flops())


def main() -> None:
    """Run the benchmark and print one line per contender."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--eps", type=float, default=1.0)
    args = parser.parse_args()

    model = load_classifier()
    test = load_splits(DataConfig()).test
    x, y = test.images[: args.images], test.labels[: args.images]
    n, iters = len(x), args.iterations
    attack = APGD(args.eps, n_iter=iters)

    batched = timed(lambda: attack(model, x, y))
    looped = timed(lambda: [attack(model, x[i : i + 1], y[i : i + 1]) for i in range(n)])
    rows = [("mlvgm APGD, batched", batched), ("mlvgm APGD, one image at a time", looped)]
    try:
        import torchattacks

        theirs = torchattacks.APGD(model, norm="L2", eps=args.eps, steps=iters, loss="ce", seed=0)
        rows.append(("torchattacks APGD, batched", timed(lambda: theirs(x, y))))
    except ImportError:
        print("torchattacks not installed: skipped")

    # Upper bound on the work: every image for every iteration (APGD retires fooled ones).
    flops = step_flops(model, x) * iters
    peak = matmul_peak()
    print(f"{n} images, {iters} iterations, L2 eps {args.eps}, {torch.get_num_threads()} threads")
    print(f"matmul peak {peak / 1e9:.1f} GFLOP/s")
    for name, seconds in rows:
        rate = flops / seconds
        print(
            f"{name:34s} {seconds:7.2f} s  {n / seconds:8.1f} images/s  "
            f"<= {rate / 1e9:6.1f} GFLOP/s ({100 * rate / peak:.0f} % of peak)"
        )
    print(f"batched / one-at-a-time speed-up: {looped / batched:.1f}x")


if __name__ == "__main__":
    main()
