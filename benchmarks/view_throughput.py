"""Throughput of generated views against real images read from PNG files.

Generated: what a Continuous-Sampling source does per batch: anchors and one
positive each from the MLVGM (``ViewGenerator.pairs``), then the kornia
augmentation on both, on the training device. Real: the same number of images
written once as PNG files, read by ``torchvision.datasets.ImageFolder`` through a
standard ``DataLoader`` (workers, shuffling) with the torchvision equivalent of
the same augmentation applied twice per image, on the CPU as usual.

Both count views (two per anchor or per real image) per second at batch 256,
after one warm-up batch; the generator runs in float32 and as a bfloat16
copy. Run: ``python benchmarks/view_throughput.py``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import v2

from mlvgm.checkpoint import load_mlvgm
from mlvgm.data import DataConfig, load_splits
from mlvgm.views.augment import make_augmentation
from mlvgm.views.generate import ViewGenerator


class TwoViews:
    """Apply one random transform twice, independently, to one image."""

    def __init__(self, transform: v2.Compose) -> None:
        self.transform = transform

    def __call__(self, image: object) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(image), self.transform(image)


def real_views_per_second(n_images: int, batch: int, workers: int) -> float:
    """Views per second of two augmented views per PNG image through a DataLoader."""
    train = load_splits(DataConfig()).train
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i in range(n_images):
            x, y = train.images[i % len(train)], int(train.labels[i % len(train)])
            folder = root / str(y)
            folder.mkdir(exist_ok=True)
            v2.functional.to_pil_image(x).save(folder / f"{i}.png")
        transform = v2.Compose(
            [
                v2.PILToTensor(),
                v2.RandomResizedCrop(32, scale=(0.2, 1.0), antialias=True),
                v2.RandomHorizontalFlip(),
                v2.RandomApply([v2.ColorJitter(0.4, 0.4)], p=0.8),
                v2.ToDtype(torch.float32, scale=True),
            ]
        )
        data = datasets.ImageFolder(str(root), transform=TwoViews(transform))
        loader = DataLoader(
            data,
            batch_size=batch,
            shuffle=True,
            num_workers=workers,
            drop_last=True,
            persistent_workers=workers > 0,
        )
        it = iter(loader)
        next(it)  # warm-up: worker start-up and first reads
        start, views = time.perf_counter(), 0
        for (a, b), _ in it:
            views += a.shape[0] + b.shape[0]
        return views / (time.perf_counter() - start)


def generated_views_per_second(n_images: int, batch: int, device: str, precision: str) -> float:
    """Views per second of anchor/positive pairs generated and augmented on ``device``."""
    model = load_mlvgm("").to(device)
    generator = ViewGenerator(model, precision=precision)
    augment = make_augmentation("simclr", model.image_size, model.in_channels)
    g = torch.Generator(device=device).manual_seed(0)

    def one_batch() -> int:
        anchors, positives = generator.pairs(batch, g)
        with torch.no_grad():
            a, b = augment(anchors), augment(positives)
        return a.shape[0] + b.shape[0]

    one_batch()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    start, views = time.perf_counter(), 0
    for _ in range(max(1, n_images // batch - 1)):
        views += one_batch()
    if device == "cuda":
        torch.cuda.synchronize()
    return views / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096, help="anchors or real images")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (real)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    print(
        f"torch threads {torch.get_num_threads()}, batch {args.batch}, {args.images} images, "
        f"device {args.device}"
    )
    real = real_views_per_second(args.images, args.batch, args.workers)
    print(f"real PNG + DataLoader ({args.workers} workers) + torchvision aug: {real:8.0f} views/s")
    for precision in ("float32", "bfloat16"):
        gen = generated_views_per_second(args.images, args.batch, args.device, precision)
        print(
            f"generated, {precision:8s} (MLVGM pairs + kornia aug on {args.device}): "
            f"{gen:8.0f} views/s, {gen / real:.2f} x real"
        )


if __name__ == "__main__":
    main()
