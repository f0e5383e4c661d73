"""Shared fixtures: a small CNN trained for a second on 8x8 digit images.

The images are scikit-learn's 8x8 handwritten digits when scikit-learn is
installed, else a synthetic 10-class set (noisy class prototypes) of the same
shape, so the tests run either way.

The tensors here are tiny, so one thread is as fast as several, and on a
runner whose cores are shared OpenMP threads waiting on each other slow the
tests down many times; every test but the timing ones (marked ``slow``) runs
on one thread, restored afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
from torch import nn

N_TRAIN = 1500


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, 8, 8) images in [0, 1] and (N,) labels in [0, 10)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        generator = torch.Generator().manual_seed(0)
        prototypes = torch.rand(10, 1, 8, 8, generator=generator).round()  # (10, 1, 8, 8)
        y = torch.arange(1797) % 10
        noise = 0.3 * torch.randn(1797, 1, 8, 8, generator=generator)
        return (prototypes[y] + noise).clamp(0.0, 1.0), y
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    return x, torch.tensor(digits.target, dtype=torch.long)


class SmallCNN(nn.Sequential):
    """Two convolutions and a linear layer: (B, 1, 8, 8) -> (B, n_classes) logits."""

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(16 * 4 * 4, n_classes),
        )


class GaussianEoT(nn.Module):
    """A randomised defence: Gaussian noise on the input, logits averaged over K draws."""

    def __init__(self, classifier: nn.Module, sigma: float = 0.1, k: int = 4) -> None:
        super().__init__()
        self.classifier = classifier
        self.sigma = sigma
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        copies = x.repeat(self.k, 1, 1, 1)  # (K B, C, H, W)
        noisy = (copies + self.sigma * torch.randn_like(copies)).clamp(0.0, 1.0)
        return self.classifier(noisy).view(self.k, b, -1).mean(dim=0)  # (B, n_classes)


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _one_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("slow") is not None:
        yield
        return
    with _threads(1):
        yield


@pytest.fixture(autouse=True)
def _clear_weight_gradients(request: pytest.FixtureRequest) -> Iterator[None]:
    """Drop the weight gradients a reference attack leaves on a shared model.

    torchattacks' FAB calls ``backward``, which accumulates into ``.grad`` of the
    session-scoped models; our attacks never write it (``test_model_is_left_as_it_was``).
    """
    yield
    for value in request.node.funcargs.values():
        if isinstance(value, nn.Module):
            value.zero_grad(set_to_none=True)


def train(x: torch.Tensor, y: torch.Tensor, n_classes: int, epochs: int = 15) -> nn.Module:
    """Train a :class:`SmallCNN` with Adam from a fixed seed; returned in eval mode."""
    with _threads(1):
        return _train(x, y, n_classes, epochs)


def _train(x: torch.Tensor, y: torch.Tensor, n_classes: int, epochs: int) -> nn.Module:
    torch.manual_seed(0)
    model = SmallCNN(n_classes)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for batch in order.split(100):
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    optimiser.zero_grad(set_to_none=True)
    return model.eval()


@pytest.fixture(scope="session")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """(1797, 1, 8, 8) images and labels."""
    return _digits()


@pytest.fixture(scope="session")
def model(digits: tuple[torch.Tensor, torch.Tensor]) -> nn.Module:
    """A 10-class CNN trained on the first 1500 images."""
    x, y = digits
    return train(x[:N_TRAIN], y[:N_TRAIN], n_classes=10)


@pytest.fixture(scope="session")
def binary_model(digits: tuple[torch.Tensor, torch.Tensor]) -> nn.Module:
    """A 2-class CNN (digit < 5 or not), too few classes for DLR."""
    x, y = digits
    return train(x[:N_TRAIN], (y[:N_TRAIN] >= 5).long(), n_classes=2, epochs=2)


@pytest.fixture(scope="session")
def batch(digits: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """200 held-out images and labels."""
    x, y = digits
    return x[N_TRAIN : N_TRAIN + 200], y[N_TRAIN : N_TRAIN + 200]


@pytest.fixture(scope="session")
def noisy_model(model: nn.Module) -> nn.Module:
    """The 10-class CNN behind Gaussian noise (sigma 0.1), logits averaged over 4 draws."""
    return GaussianEoT(model, sigma=0.1, k=4)
