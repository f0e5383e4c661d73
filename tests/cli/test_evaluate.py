"""``mlvgm evaluate``: report, resumption, refusal of a foreign folder, torchrun sharding."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mlvgm.checkpoint import save_model
from mlvgm.cli.main import main
from mlvgm.models import ClassifierConfig, ResNetClassifier

CONFIG = """
defense:
  kind: mlvgm
  schedule: {kind: cosine}
n_images: 8
eot: 2
batch_size: 4
bounds: [0.5, 2.0]
attacks: [apgd-ce, deepfool]
diagnostic_images: 4
large_bound: 6.0
data: {split: [100, 20, 20]}
"""


@pytest.fixture
def setup(tmp_path, tiny_hvae, tiny_classifier):
    vae, clf = tmp_path / "v.safetensors", tmp_path / "c.safetensors"
    save_model(vae, tiny_hvae)
    save_model(clf, tiny_classifier)
    cfg = tmp_path / "ev.yaml"
    cfg.write_text(CONFIG)
    return ["evaluate", "--config", str(cfg), "--set", f"mlvgm={vae}", "--set", f"classifier={clf}"]


def _strip(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in ("seconds", "run")}


def test_report_holds_curves_medians_diagnostics_and_figures(tmp_path, setup):
    out = tmp_path / "ev"
    assert main([*setup, "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    entry = report["defenses"]["mlvgm-cosine"]
    assert report["attacks"] == ["apgd-ce", "deepfool"]
    assert set(entry["success_rate"]) == {"apgd-ce", "deepfool"}
    assert set(entry["robust_accuracy"]) == {"0.5", "2.0"}
    assert "diagnostics" in report and isinstance(report["warnings"], list)
    assert any("EoT over 2" in w for w in report["warnings"])
    for name in ("robustness.png", "success.png", "examples.png"):
        assert (out / name).stat().st_size > 0
    assert len(list((out / "batches").glob("*.safetensors"))) == 2


def test_resume_recomputes_only_missing_batches(tmp_path, setup, monkeypatch):
    out = tmp_path / "ev"
    assert main([*setup, "--out", str(out)]) == 0
    first = json.loads((out / "report.json").read_text())
    (out / "batches" / "batch_00001.safetensors").unlink()
    (out / "report.json").unlink()

    import mlvgm.evaluation.robustness as rob

    calls = []
    original = rob.attack_batch
    monkeypatch.setattr(rob, "attack_batch", lambda *a, **k: calls.append(1) or original(*a, **k))
    assert main([*setup, "--out", str(out)]) == 0
    assert len(calls) == 1
    assert _strip(json.loads((out / "report.json").read_text())) == _strip(first)


def test_folder_of_another_config_is_refused_and_left_intact(tmp_path, setup, capsys):
    out = tmp_path / "ev"
    assert main([*setup, "--out", str(out)]) == 0
    before = sorted(p.name for p in (out / "batches").iterdir())
    assert main([*setup, "--out", str(out), "--set", "eot=3"]) == 1
    assert "different config" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "batches").iterdir()) == before


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("attacks=[pgd]", "pgd"),
        ("bounds=[-1]", "positive"),
        ("defense.kind=magic", "unknown defense"),
        ("preset=medium", "unknown preset"),
        ("defense.schedule={kind: explicit, alphas: [0.1]}", "4 values"),
    ],
)
def test_bad_configs_fail_with_one_line(tmp_path, setup, capsys, override, message):
    assert main([*setup, "--out", str(tmp_path / "x"), "--set", override]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_dlr_with_fewer_than_four_classes_is_refused(tmp_path, setup, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "three.npz"
    np.savez(data, x=rng.integers(0, 255, (60, 32, 32), dtype=np.uint8), y=np.arange(60) % 3)
    clf = tmp_path / "c3.safetensors"
    save_model(clf, ResNetClassifier(ClassifierConfig(n_classes=3, widths=[4, 8])))
    args = [*setup, "--out", str(tmp_path / "x"), "--set", f"classifier={clf}"]
    args += ["--set", f"data={{source: npz, path: {data}, split: [40, 10, 10]}}"]
    args += ["--set", "attacks=[apgd-dlr]", "--set", "n_images=4"]
    assert main(args) == 1
    assert "4" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not installed")
def test_two_processes_give_the_report_of_one(tmp_path, setup):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = tmp_path / "single"
    cmd = [sys.executable, "-m", "mlvgm.cli.main", *setup]
    subprocess.run([*cmd, "--out", str(single)], check=True, env=env, capture_output=True)
    sharded = tmp_path / "sharded"
    torchrun = [shutil.which("torchrun"), "--nproc_per_node=2", "--master_port=29561"]
    subprocess.run(
        [*torchrun, "-m", "mlvgm.cli.main", *setup, "--out", str(sharded)],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    a = json.loads((single / "report.json").read_text())
    b = json.loads((sharded / "report.json").read_text())
    assert _strip(a) == _strip(b)
    assert len(list((sharded / "batches").iterdir())) == len(list((single / "batches").iterdir()))
