"""``mlvgm tune-alphas`` end to end on tiny models and data: outputs, resume, refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import mlvgm.cli.tune
from mlvgm.cli.main import main
from mlvgm.config import from_mapping
from mlvgm.defenses import DefenseConfig
from mlvgm.tuning import initial_schedules


def _args(out: Path, checkpoints: tuple[Path, Path], *extra: str) -> list[str]:
    vae, clf = checkpoints
    return [
        "tune-alphas",
        "--out",
        str(out),
        "--set",
        f"mlvgm={vae}",
        "--set",
        f"classifier={clf}",
        "--set",
        "data.split=[64,16,16]",
        "--set",
        "n_images=16",
        "--set",
        "eot=2",
        "--set",
        "batch_size=8",
        *extra,
    ]


def _lines(out: Path) -> list[str]:
    return (out / "evaluations.jsonl").read_text().splitlines()


def test_job_writes_its_files_and_an_evaluation_config(tmp_path, checkpoints, tiny_hvae, capsys):
    out = tmp_path / "tune"
    assert main(_args(out, checkpoints, "--steps", "3")) == 0

    for name in ("config.json", "adversarial.safetensors", "search.json", "search.png"):
        assert (out / name).stat().st_size > 0, name
    config = yaml.safe_load((out / "best_alphas.yaml").read_text())
    assert list(config) == ["classifier", "mlvgm", "defense", "data"]
    assert config["mlvgm"] == str(checkpoints[0].resolve())
    defense = from_mapping(DefenseConfig, config["defense"])
    alphas = defense.alphas(tiny_hvae.n_latents)
    assert defense.kind == "mlvgm" and defense.schedule.kind == "explicit"
    assert len(alphas) == 4 and all(0 <= a <= 1 for a in alphas)

    records = [json.loads(line) for line in _lines(out)]
    bo = [r for r in records if r["method"] == "bo"]
    assert len(bo) == 8 and len(records) == 16
    assert [r["alphas"] for r in bo[:5]] == list(initial_schedules(4).values())
    search = json.loads((out / "search.json").read_text())
    assert list(search["initial_schedules"]) == list(initial_schedules(4))
    assert search["bo"]["n_evaluations"] == search["random"]["n_evaluations"] == 8
    assert search["best"]["alphas"] == alphas
    assert 0 <= search["objective"]["reconstruction_accuracy"] <= 1
    printed = capsys.readouterr().out
    assert "best bo" in printed and "best random" in printed


def test_more_steps_extend_the_search_without_rescoring(tmp_path, checkpoints, monkeypatch):
    out = tmp_path / "tune"
    assert main(_args(out, checkpoints, "--set", "n_steps=2")) == 0
    first = _lines(out)

    def not_again(*args, **kwargs):
        raise AssertionError("the adversarial set was made again")

    monkeypatch.setattr(mlvgm.cli.tune, "adversarial_set", not_again)
    assert main(_args(out, checkpoints, "--set", "n_steps=4")) == 0

    assert _lines(out)[: len(first)] == first
    assert len(first) == 14 and len(_lines(out)) == 18
    assert json.loads((out / "search.json").read_text())["evaluations_this_run"] == 4


def test_other_eps_in_the_same_folder_is_refused(tmp_path, checkpoints, capsys):
    out = tmp_path / "tune"
    assert main(_args(out, checkpoints, "--steps", "0", "--set", "random_search=false")) == 0
    capsys.readouterr()

    assert main(_args(out, checkpoints, "--steps", "0", "--set", "eps=0.5")) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(out) in err and "eps" in err
    assert len(_lines(out)) == 5


@pytest.mark.parametrize(
    ("override", "message"),
    [("n_images=100", "train split has 64"), ("eps=0", "eps"), ("n_init=6", "n_init")],
)
def test_bad_options_fail_in_one_line(tmp_path, checkpoints, capsys, override, message):
    assert main(_args(tmp_path / "tune", checkpoints, "--set", override)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_folder_of_a_run_that_failed_before_scoring_can_be_reused(tmp_path, checkpoints):
    out = tmp_path / "tune"
    assert main(_args(out, checkpoints, "--set", "n_images=100")) == 1
    assert main(_args(out, checkpoints, "--steps", "0", "--set", "random_search=false")) == 0
    assert len(_lines(out)) == 5
