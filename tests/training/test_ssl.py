"""Self-supervised training: learns, resumes to the same weights, refuses, stops on NaN, DDP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import torch
from safetensors.torch import load_file

import mlvgm.training.ssl as ssl_training
from mlvgm.checkpoint import load_model, read_metadata, save_model
from mlvgm.data import DataConfig
from mlvgm.errors import CheckpointError, ConfigError
from mlvgm.ssl import SSLModelConfig, build_ssl_model
from mlvgm.training.ssl import TrainSSLConfig, train_ssl
from mlvgm.views.sources import SourceConfig

SOURCES = {
    "real": {"kind": "real"},
    "continuous": {"kind": "generated", "mode": "continuous", "batches_per_epoch": 3},
    "offline": {"kind": "generated", "mode": "offline", "batches_per_epoch": 3},
}


@pytest.fixture
def hvae_file(tmp_path, tiny_hvae):
    path = tmp_path / "hvae.safetensors"
    save_model(path, tiny_hvae)
    return str(path)


def _config(out, hvae_file: str, source: str = "real", method: str = "simclr", **kw):
    return TrainSSLConfig(
        data=DataConfig(split=[96, 16, 16]),
        mlvgm=hvae_file,
        model=SSLModelConfig(method=method, widths=[4, 8], proj_dim=16, pred_dim=8),
        source=SourceConfig(**SOURCES[source], augment="no_color", batch_size=16),
        epochs=kw.pop("epochs", 2),
        out=str(out),
        **kw,
    )


@pytest.mark.parametrize(("source", "method"), [("real", "simclr"), ("continuous", "byol")])
def test_tiny_run_changes_the_encoder_and_writes_its_files(tmp_path, hvae_file, source, method):
    cfg = _config(tmp_path / "run", hvae_file, source, method, lr=0.1)
    torch.manual_seed(cfg.seed)
    initial = build_ssl_model(cfg.model).state_dict()
    model = train_ssl(cfg, progress=False)
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in history)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(h["pairs_per_second"] > 0 for h in history)
    for name, p in model.encoder.named_parameters():
        assert not torch.equal(p, initial[f"encoder.{name}"]), name
    assert (tmp_path / "run" / "loss.png").stat().st_size > 0
    loaded = load_model(tmp_path / "run" / "ssl.safetensors", expect=method)
    meta = read_metadata(tmp_path / "run" / "ssl.safetensors")
    assert meta["mlvgm.source"] == cfg.source.kind
    assert json.loads(meta["mlvgm.run"])["source"]["batch_size"] == 16
    x = torch.rand(3, 1, 32, 32)
    torch.testing.assert_close(loaded.encoder(x), model.encoder(x))


def _interrupt_in_epoch(monkeypatch, epoch: int) -> None:
    """Make the next run's source raise KeyboardInterrupt after one batch of ``epoch``."""
    original = ssl_training.make_source

    def make_source(*args, **kwargs):
        source = original(*args, **kwargs)
        batches = source.batches

        def interrupted(e):
            for i, views in enumerate(batches(e)):
                if e == epoch and i == 1:
                    raise KeyboardInterrupt
                yield views

        source.batches = interrupted
        return source

    monkeypatch.setattr(ssl_training, "make_source", make_source)


@pytest.mark.parametrize(
    ("source", "method"), [("real", "simsiam"), ("continuous", "byol"), ("offline", "simclr")]
)
def test_interrupted_run_resumes_to_the_weights_of_an_uninterrupted_one(
    tmp_path, hvae_file, monkeypatch, source, method
):
    train_ssl(_config(tmp_path / "a", hvae_file, source, method, epochs=3), progress=False)

    with monkeypatch.context() as m:
        _interrupt_in_epoch(m, epoch=1)
        with pytest.raises(KeyboardInterrupt):
            train_ssl(_config(tmp_path / "b", hvae_file, source, method, epochs=3), False)
    assert not (tmp_path / "b" / "ssl.safetensors").exists()
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 1
    if source == "offline":
        views = (tmp_path / "b" / "views.safetensors").stat().st_mtime_ns

    train_ssl(_config(tmp_path / "b", hvae_file, source, method, epochs=3), progress=False)
    a = load_file(str(tmp_path / "a" / "ssl.safetensors"))
    b = load_file(str(tmp_path / "b" / "ssl.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k, rtol=0, atol=0)
    if source == "offline":
        assert (tmp_path / "b" / "views.safetensors").stat().st_mtime_ns == views


def test_resuming_a_folder_of_another_config_is_refused(tmp_path, hvae_file):
    train_ssl(_config(tmp_path / "run", hvae_file, epochs=1), progress=False)
    before = (tmp_path / "run" / "state.pt").read_bytes()
    with pytest.raises(CheckpointError, match=r"different config \(changed: model.method\)"):
        train_ssl(_config(tmp_path / "run", hvae_file, method="byol", epochs=1), progress=False)
    assert (tmp_path / "run" / "state.pt").read_bytes() == before


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_epoch(
    tmp_path, hvae_file, monkeypatch
):
    original = ssl_training.build_ssl_model
    states: list[bytes] = []

    def poisoned(config):
        model = original(config)
        loss, calls = model._loss, []

        def nan_in_epoch_two(x1, x2):
            calls.append(1)
            if len(calls) == 7:  # the first batch of epoch 2 (6 batches an epoch)
                states.append((tmp_path / "run" / "state.pt").read_bytes())
                return torch.tensor(float("nan"), requires_grad=True)
            return loss(x1, x2)

        model._loss = nan_in_epoch_two
        return model

    monkeypatch.setattr(ssl_training, "build_ssl_model", poisoned)
    with pytest.raises(ConfigError, match=r"loss became nan at epoch 2, step 1; .*epoch 1 kept"):
        train_ssl(_config(tmp_path / "run", hvae_file, epochs=2), progress=False)
    assert (tmp_path / "run" / "state.pt").read_bytes() == states[0]
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1
    assert not (tmp_path / "run" / "ssl.safetensors").exists()


def test_batch_larger_than_the_train_split_is_a_config_error(tmp_path, hvae_file):
    cfg = _config(tmp_path / "run", hvae_file)
    cfg.source.batch_size = 128
    with pytest.raises(ConfigError, match="larger than the train split"):
        train_ssl(cfg, progress=False)


def test_bad_optimizer_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown optimizer 'lars'"):
        TrainSSLConfig(optimizer="lars")


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not installed")
def test_two_processes_train_and_write_one_loadable_checkpoint(tmp_path, hvae_file):
    out = tmp_path / "ddp"
    overrides = [
        "data.split=[64, 16, 16]",
        f"mlvgm={hvae_file}",
        "model.widths=[4, 8]",
        "model.proj_dim=16",
        "source.batch_size=8",
        "source.batches_per_epoch=2",
        "epochs=2",
    ]
    args = [shutil.which("torchrun"), "--standalone", "--nproc_per_node=2"]
    args += ["-m", "mlvgm.cli.main", "train-ssl", "--out", str(out)]
    for o in overrides:
        args += ["--set", o]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("wrote") == 1  # rank 0 alone reports

    model = load_model(out / "ssl.safetensors", expect="simclr")
    assert model.encoder(torch.rand(2, 1, 32, 32)).shape == (2, 8)
    history = [json.loads(line) for line in (out / "metrics.jsonl").open()]
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in history)
    run = json.loads(read_metadata(out / "ssl.safetensors")["mlvgm.run"])
    assert run["world_size"] == 2
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["config.json", "loss.png", "metrics.jsonl", "ssl.safetensors", "state.pt"]
    )
