"""Training resumes after a kill and ends where an uninterrupted run ends."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from mlvgm.errors import CheckpointError

SCRIPT = """
import sys, torch
torch.set_num_threads(1)
from mlvgm.data import DataConfig
from mlvgm.models import HVAEConfig
from mlvgm.training.hvae import TrainMLVGMConfig, train_mlvgm
cfg = TrainMLVGMConfig(
    data=DataConfig(split=[256, 32, 0]),
    model=HVAEConfig(widths=[4, 8, 8, 8], groups=[[4, 2], [4, 2], [8, 2], [8, 2]]),
    epochs=int(sys.argv[2]), batch_size=32, prior_dropout=0.5, out=sys.argv[1],
)
train_mlvgm(cfg, progress=False)
"""


def _train(out, epochs: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(out), str(epochs)])


def test_killed_training_resumes_to_the_same_weights(tmp_path):
    assert _train(tmp_path / "a", 4).wait(timeout=300) == 0

    proc = _train(tmp_path / "b", 4)
    metrics = tmp_path / "b" / "metrics.jsonl"
    deadline = time.time() + 300
    while not (metrics.exists() and metrics.read_text().count("\n") >= 1):
        assert proc.poll() is None and time.time() < deadline, "training ended too soon"
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert not (tmp_path / "b" / "hvae.safetensors").exists()

    assert _train(tmp_path / "b", 4).wait(timeout=300) == 0
    a = load_file(str(tmp_path / "a" / "hvae.safetensors"))
    b = load_file(str(tmp_path / "b" / "hvae.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)
    assert (tmp_path / "b" / "samples.png").exists()


def test_resuming_a_folder_of_another_config_is_refused(tmp_path):
    from mlvgm.data import DataConfig
    from mlvgm.models import HVAEConfig
    from mlvgm.training.hvae import TrainMLVGMConfig, train_mlvgm

    model = HVAEConfig(widths=[4, 8, 8, 8], groups=[[4, 2], [4, 2], [8, 2], [8, 2]])
    data = DataConfig(split=[64, 16, 0])
    out = str(tmp_path / "run")
    train_mlvgm(TrainMLVGMConfig(data=data, model=model, epochs=1, batch_size=32, out=out), False)
    before = (tmp_path / "run" / "config.json").read_text()
    with pytest.raises(CheckpointError, match=r"different config \(changed: batch_size\)"):
        train_mlvgm(
            TrainMLVGMConfig(data=data, model=model, epochs=1, batch_size=16, out=out), False
        )
    assert (tmp_path / "run" / "config.json").read_text() == before


def test_train_split_smaller_than_a_batch_is_a_config_error(tmp_path):
    from mlvgm.data import DataConfig
    from mlvgm.errors import ConfigError
    from mlvgm.training.hvae import TrainMLVGMConfig, train_mlvgm

    cfg = TrainMLVGMConfig(data=DataConfig(split=[20, 5, 0]), batch_size=64, out=str(tmp_path))
    with pytest.raises(ConfigError, match="larger than the train split"):
        train_mlvgm(cfg, False)
