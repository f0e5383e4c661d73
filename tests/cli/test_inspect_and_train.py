"""``mlvgm inspect`` and the training commands through the CLI."""

from __future__ import annotations

import json

from mlvgm.checkpoint import load_model, save_model
from mlvgm.cli.main import main


def test_inspect_reports_kl_and_resample_accuracy_per_group(
    tmp_path, tiny_hvae, tiny_classifier, capsys
):
    vae, clf = tmp_path / "v.safetensors", tmp_path / "c.safetensors"
    save_model(vae, tiny_hvae)
    save_model(clf, tiny_classifier)
    out = tmp_path / "ins"
    args = ["inspect", "--mlvgm", str(vae), "--classifier", str(clf), "--out", str(out)]
    assert main([*args, "--set", "temperatures=[0.5]", "--set", "data.split=[100, 40, 0]"]) == 0
    report = json.loads((out / "inspect.json").read_text())
    assert len(report["kl"]) == 4 and report["n_images"] == 40
    r = report["temperatures"]["0.5"]
    assert len(r["resample_accuracy"]) == len(r["prefix_accuracy"]) == 4
    assert (out / "resamples.png").exists()
    assert "per-group KL" in capsys.readouterr().out


def test_train_classifier_cli_writes_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "clf"
    args = ["train-classifier", "--out", str(out), "--epochs", "1"]
    overrides = ["data.split=[64, 16, 0]", "model.widths=[4, 8]", "batch_size=32"]
    for o in overrides:
        args += ["--set", o]
    assert main(args) == 0
    model = load_model(out / "classifier.safetensors", expect="resnet")
    assert model.config.n_classes == 10
    assert json.loads((out / "config.json").read_text())["config"]["epochs"] == 1


def test_bad_option_value_names_the_option(tmp_path, capsys):
    assert main(["train-mlvgm", "--out", str(tmp_path), "--set", "lr=fast"]) == 1
    assert "lr" in capsys.readouterr().err
