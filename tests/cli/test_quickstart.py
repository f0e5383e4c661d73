"""The quickstart job end to end on tiny models, and its bad-input handling."""

from __future__ import annotations

import json

import pytest

from mlvgm.checkpoint import save_model
from mlvgm.cli.main import main


@pytest.fixture
def checkpoints(tmp_path, tiny_hvae, tiny_classifier):
    vae, clf = tmp_path / "hvae.safetensors", tmp_path / "clf.safetensors"
    save_model(vae, tiny_hvae)
    save_model(clf, tiny_classifier)
    return vae, clf


def _args(tmp_path, vae, clf, *extra):
    return [
        "quickstart",
        "--out",
        str(tmp_path / "qs"),
        "--set",
        f"mlvgm={vae}",
        "--set",
        f"classifier={clf}",
        "--set",
        "iterations=3",
        "--set",
        "eot=2",
        "--set",
        "bounds=[0.5, 2.0]",
        "--n-images",
        "6",
        *extra,
    ]


def test_quickstart_writes_report_with_the_documented_schema(tmp_path, checkpoints, capsys):
    vae, clf = checkpoints
    assert main(_args(tmp_path, vae, clf)) == 0
    out = tmp_path / "qs"
    report = json.loads((out / "report.json").read_text())
    assert report["n_images"] == 6 and report["eot"] == 2
    assert report["attacks"] == ["apgd-ce"] and report["bounds"] == [0.5, 2.0]
    assert set(report["defenses"]) == {
        "undefended",
        "reconstruction",
        "mlvgm-linear",
        "mlvgm-cosine",
    }
    for entry in report["defenses"].values():
        assert 0 <= entry["clean_accuracy"] <= 1
        acc = entry["robust_accuracy"]
        assert set(acc) == {"0.5", "2.0"}
        # robust accuracy cannot grow with the bound, nor exceed clean accuracy
        assert acc["2.0"] <= acc["0.5"] <= entry["clean_accuracy"]
    assert report["defenses"]["reconstruction"]["eot"] == 1
    assert report["defenses"]["mlvgm-linear"]["eot"] == 2
    assert (out / "robustness.png").stat().st_size > 0
    assert (out / "examples.png").stat().st_size > 0
    assert "mlvgm-cosine" in capsys.readouterr().out


def test_explicit_alphas_of_wrong_length_fail_with_one_line(tmp_path, checkpoints, capsys):
    vae, clf = checkpoints
    code = main(_args(tmp_path, vae, clf, "--set", "explicit=[[0.1, 0.2]]"))
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert "4 values" in err


def test_alphas_outside_unit_interval_fail(tmp_path, checkpoints, capsys):
    vae, clf = checkpoints
    assert main(_args(tmp_path, vae, clf, "--set", "explicit=[[0, 0, 0, 2]]")) == 1
    assert "[0, 1]" in capsys.readouterr().err


def test_checkpoint_of_another_architecture_fails(tmp_path, checkpoints, capsys):
    _vae, clf = checkpoints
    assert main(_args(tmp_path, clf, clf)) == 1
    assert "'resnet' model, but a 'hvae'" in capsys.readouterr().err


def test_unknown_config_key_fails_naming_it(tmp_path, checkpoints, capsys):
    vae, clf = checkpoints
    cfg = tmp_path / "c.yaml"
    cfg.write_text("n_imags: 5\n")
    assert main(_args(tmp_path, vae, clf, "--config", str(cfg))) == 1
    assert "'n_imags'" in capsys.readouterr().err


def test_missing_data_folder_fails(tmp_path, checkpoints, capsys):
    vae, clf = checkpoints
    args = _args(tmp_path, vae, clf, "--set", "data.source=folder", "--set", "data.path=/nope")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "/nope" in err and "Traceback" not in err


def test_no_command_prints_help(capsys):
    assert main([]) == 1
    assert "quickstart" in capsys.readouterr().out
