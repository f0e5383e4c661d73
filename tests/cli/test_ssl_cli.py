"""``mlvgm train-ssl`` and ``mlvgm linear-eval`` through the CLI: results and one-line errors."""

from __future__ import annotations

import json

import pytest

from mlvgm.checkpoint import save_model
from mlvgm.cli.main import main

CONFIG = """
data: {split: [96, 32, 32]}
model: {method: simsiam, widths: [4, 8], proj_dim: 16, pred_dim: 8}
source:
  kind: generated
  mode: continuous
  augment: no_color
  batch_size: 16
  batches_per_epoch: 2
  perturbation: {kind: gaussian, std: 0.5}
epochs: 1
"""


@pytest.fixture
def setup(tmp_path, tiny_hvae):
    vae = tmp_path / "v.safetensors"
    save_model(vae, tiny_hvae)
    cfg = tmp_path / "ssl.yaml"
    cfg.write_text(CONFIG)
    return ["train-ssl", "--config", str(cfg), "--set", f"mlvgm={vae}"]


@pytest.fixture
def trained(tmp_path, setup):
    out = tmp_path / "ssl"
    assert main([*setup, "--out", str(out)]) == 0
    return out / "ssl.safetensors"


def _probe(checkpoint, out, *overrides: str) -> list[str]:
    args = ["linear-eval", "--checkpoint", str(checkpoint), "--out", str(out)]
    for o in ["data.split=[96, 32, 32]", "max_iter=20", *overrides]:
        args += ["--set", o]
    return args


def test_train_then_probe_writes_a_traceable_probe_record(tmp_path, trained, capsys):
    assert main(_probe(trained, tmp_path / "probe")) == 0
    record = json.loads((tmp_path / "probe" / "probe.json").read_text())
    assert (record["method"], record["source"], record["mode"]) == (
        "simsiam",
        "generated",
        "continuous",
    )
    assert record["checkpoint"] == str(trained)
    assert record["n_images"] == {"train": 96, "val": 32, "test": 32}
    for split in ("train", "val", "test"):
        assert 0.0 <= record[f"{split}_accuracy"] <= 1.0
    assert record["ssl_run"]["source"]["perturbation"]["std"] == 0.5
    assert record["run"]["config"]["checkpoint"] == str(trained)
    assert "linear probe of simsiam (generated): train" in capsys.readouterr().out


def test_method_flag_overrides_the_config(tmp_path, setup):
    out = tmp_path / "byol"
    assert main([*setup, "--out", str(out), "--method", "byol"]) == 0
    assert json.loads((out / "config.json").read_text())["config"]["model"]["method"] == "byol"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.method=moco", "unknown self-supervised method 'moco'"),
        ("source.kind=imagenet", "unknown view source 'imagenet'"),
        ("source.mode=streaming", "unknown generation mode 'streaming'"),
        ("source.augment=heavy", "unknown augmentation preset 'heavy'"),
        ("source.perturbation.kind=spin", "unknown perturbation kind 'spin'"),
        ("optimizer=lars", "unknown optimizer 'lars'"),
        ("source={kind: real, batch_size: 200}", "larger than the train split (96 images)"),
    ],
)
def test_bad_training_options_fail_with_one_line(tmp_path, setup, capsys, override, message):
    assert main([*setup, "--out", str(tmp_path / "x"), "--set", override]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_probe_of_data_with_other_channels_fails_with_one_line(tmp_path, trained, capsys):
    assert main(_probe(trained, tmp_path / "p", "data.channels=3")) == 1
    err = capsys.readouterr().err.strip()
    assert "encoder expects 1-channel 32x32 images, the data has 3 channels" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "p" / "probe.json").exists()


def test_probe_of_a_classifier_checkpoint_fails_with_one_line(tmp_path, tiny_classifier, capsys):
    clf = tmp_path / "c.safetensors"
    save_model(clf, tiny_classifier)
    assert main(_probe(clf, tmp_path / "p")) == 1
    err = capsys.readouterr().err.strip()
    assert "not a self-supervised encoder" in err and len(err.splitlines()) == 1


def test_probe_without_a_checkpoint_fails_with_one_line(tmp_path, capsys):
    assert main(["linear-eval", "--out", str(tmp_path / "p")]) == 1
    assert "checkpoint is required" in capsys.readouterr().err
