import pytest

from mlvgm.errors import ConfigError
from mlvgm.models import ClassifierConfig


def test_classifier_outputs_logits_per_class(tiny_classifier, images):
    assert tiny_classifier(images).shape == (3, 10)


def test_classifier_rejects_single_class():
    with pytest.raises(ConfigError):
        ClassifierConfig(n_classes=1)
