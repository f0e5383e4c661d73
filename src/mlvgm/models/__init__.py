"""Models: the MLVGM interface, its implementations, and classifiers.

``ARCHITECTURES`` maps the name saved in a checkpoint to the model class and its
config dataclass, so that :func:`mlvgm.checkpoint.load_model` can rebuild any
registered model without unpickling code.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from mlvgm.models.base import MLVGM
from mlvgm.models.classifier import ClassifierConfig, ResNetClassifier
from mlvgm.models.hvae import HierarchicalVAE, HVAEConfig
from mlvgm.ssl.models import BYOL, SimCLR, SimSiam, SSLModelConfig
from mlvgm.views.walkers import WalkerSet, WalkerSetConfig

ARCHITECTURES: dict[str, tuple[type[nn.Module], type[Any]]] = {
    "hvae": (HierarchicalVAE, HVAEConfig),
    "resnet": (ResNetClassifier, ClassifierConfig),
    "simclr": (SimCLR, SSLModelConfig),
    "simsiam": (SimSiam, SSLModelConfig),
    "byol": (BYOL, SSLModelConfig),
    "walkers": (WalkerSet, WalkerSetConfig),
}


def architecture_of(model: nn.Module) -> str:
    """The registry name of ``model``'s class.

    Raises:
        KeyError: if the class is not registered.
    """
    for name, (cls, _) in ARCHITECTURES.items():
        if type(model) is cls:
            return name
    raise KeyError(f"{type(model).__name__} is not a registered architecture")


__all__ = [
    "ARCHITECTURES",
    "MLVGM",
    "ClassifierConfig",
    "HVAEConfig",
    "HierarchicalVAE",
    "ResNetClassifier",
    "architecture_of",
]
