"""mlvgm: Multiple Latent Variable Generative Models for adversarial purification.

The package is organised by concept: ``models`` (the MLVGM interface and its
implementations, classifiers), ``defenses`` (purifiers and alpha schedules),
``attacks`` (adversarial attacks), ``evaluation`` (robust accuracy, reports and
figures), ``data`` (datasets and splits), ``training`` (training loops) and
``cli`` (the ``mlvgm`` command).
"""

from mlvgm.errors import CheckpointError, ConfigError, DataError, MlvgmError

__version__ = "0.1.0"

__all__ = ["CheckpointError", "ConfigError", "DataError", "MlvgmError", "__version__"]
