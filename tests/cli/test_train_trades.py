"""``mlvgm train-classifier --trades`` and ``--init`` through the CLI."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from mlvgm.checkpoint import load_model, save_model
from mlvgm.cli.main import main
from mlvgm.models import ClassifierConfig, ResNetClassifier

torch.set_num_threads(1)

TINY = ["data.split=[64, 16, 0]", "model.widths=[4, 8]", "batch_size=32"]


def _args(out, *extra: str) -> list[str]:
    args = ["train-classifier", "--out", str(out), "--epochs", "1", *extra]
    for o in TINY:
        args += ["--set", o]
    return args


def test_trades_fine_tuning_writes_a_loadable_checkpoint(tmp_path, tiny_classifier):
    init = tmp_path / "init.safetensors"
    save_model(init, tiny_classifier)
    out = tmp_path / "trades"
    args = _args(out, "--trades", "--init", str(init), "--set", "trades_steps=2")
    assert main(args) == 0
    model = load_model(out / "classifier.safetensors", expect="resnet")
    assert model.config.widths == [4, 8]
    before, after = load_file(str(init)), load_file(str(out / "classifier.safetensors"))
    assert not torch.equal(before["fc.weight"], after["fc.weight"])
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"train_loss", "train_ce", "train_kl", "train_l2", "val_accuracy"} <= set(record)
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["trades"] is True and config["init"] == str(init)


def test_init_from_an_hvae_checkpoint_fails_in_one_line(tmp_path, tiny_hvae, capsys):
    init = tmp_path / "hvae.safetensors"
    save_model(init, tiny_hvae)
    assert main(_args(tmp_path / "out", "--init", str(init))) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'hvae' model" in err and "'resnet'" in err


def test_init_with_other_classes_names_the_mismatch(tmp_path, capsys):
    init = tmp_path / "three.safetensors"
    save_model(init, ResNetClassifier(ClassifierConfig(widths=[4, 8], n_classes=3)))
    assert main(_args(tmp_path / "out", "--trades", "--init", str(init))) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "n_classes=3 where this run needs 10" in err


def test_negative_trades_beta_is_refused(tmp_path, capsys):
    assert main(_args(tmp_path / "out", "--trades", "--set", "trades_beta=-1")) == 1
    assert "trades_beta" in capsys.readouterr().err
