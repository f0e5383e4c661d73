"""Shared fixtures: tiny models so that the suite stays fast."""

from __future__ import annotations

import pytest
import torch

from mlvgm.models import ClassifierConfig, HierarchicalVAE, HVAEConfig, ResNetClassifier


@pytest.fixture
def tiny_hvae() -> HierarchicalVAE:
    torch.manual_seed(0)
    cfg = HVAEConfig(widths=[4, 8, 8, 8], groups=[[4, 2], [4, 2], [8, 2], [8, 2]])
    model = HierarchicalVAE(cfg).eval()
    # The posterior starts at zero (NVAE's residual init); give it weight so that the
    # output depends on the input as it does after training.
    for group in model.groups:
        torch.nn.init.normal_(group.posterior.weight, std=0.2)
    return model


@pytest.fixture
def tiny_classifier() -> ResNetClassifier:
    torch.manual_seed(0)
    return ResNetClassifier(ClassifierConfig(widths=[4, 8])).eval()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0))
