"""Latent analysis on a tiny hierarchical VAE: outputs, resume, refusal, the walker's pull."""

from __future__ import annotations

import json
import math

import pytest
import torch

from mlvgm.checkpoint import load_model, save_model
from mlvgm.config import from_mapping, load_yaml
from mlvgm.errors import CheckpointError, ConfigError
from mlvgm.training.ssl import TrainSSLConfig
from mlvgm.views.analysis import AnalyzeLatentsConfig, Critic, analyze_latents
from mlvgm.views.generate import ViewGenerator
from mlvgm.views.walkers import WalkerSet

RECORD_KEYS = {
    "variable",
    "latents",
    "dim",
    "delta_mean",
    "delta_std",
    "delta_per_coordinate_mean",
    "delta_per_coordinate_std",
    "delta_ceiling",
    "infonce",
    "infonce_std",
    "mi_lower_bound",
    "mi_std",
    "mi_sem",
    "n_anchors",
    "train",
}


@pytest.fixture
def vae_path(tmp_path, tiny_hvae):
    path = tmp_path / "hvae.safetensors"
    save_model(path, tiny_hvae)
    return path


def _config(vae_path, out, **overrides) -> AnalyzeLatentsConfig:
    options = {
        "mlvgm": str(vae_path),
        "grouping": [[0], [1, 2]],
        "steps": 6,
        "batch_size": 8,
        "mc_anchors": 16,
        "mc_batch_size": 8,
        "walker_hidden": 8,
        "critic_width": 4,
        "critic_proj_dim": 8,
        "checkpoint_every": 2,
        "out": str(out),
    }
    return AnalyzeLatentsConfig(**{**options, **overrides})


def test_critic_embeds_images():
    f = Critic(1, width=4, proj_dim=8)
    assert f(torch.rand(3, 1, 32, 32)).shape == (3, 8)


def test_analysis_writes_the_documented_files(tmp_path, vae_path, tiny_hvae):
    out = tmp_path / "lat"
    report = analyze_latents(_config(vae_path, out), progress=False)

    for name in ("latents.json", "latents.png", "latents_grid.png", "walkers.safetensors"):
        assert (out / name).is_file(), name
    assert json.loads((out / "latents.json").read_text()) == report
    assert report["schema"] == "mlvgm.latents/1" and report["mi_units"] == "nats"
    assert report["candidates_per_anchor"] == 15
    assert report["log_k"] == pytest.approx(math.log(15))
    assert report["grouping"] == [[0], [1, 2]]
    assert report["run"]["config"]["steps"] == 6
    assert len(report["timings"]["variables"]) == 2

    records = report["variables"]
    assert [r["dim"] for r in records] == [32, 160]
    for r in records:
        assert set(r) == RECORD_KEYS
        assert r["mi_lower_bound"] == pytest.approx(report["log_k"] - r["infonce"])
        assert 0 < r["delta_mean"] <= r["delta_ceiling"] == pytest.approx(math.sqrt(r["dim"]))
        assert r["delta_per_coordinate_mean"] == pytest.approx(
            r["delta_mean"] / math.sqrt(r["dim"])
        )
        assert r["n_anchors"] == 16
        assert len(r["train"]["curve"]) == 6
    mis = [r["mi_lower_bound"] for r in records]
    assert report["ordering"] == sorted(range(2), key=lambda v: mis[v])

    walkers = load_model(out / "walkers.safetensors", expect="walkers")
    assert isinstance(walkers, WalkerSet) and walkers.config.grouping == [[0], [1, 2]]
    walkers.check_compatible(tiny_hvae)

    # the suggested views: the variables at or above half of log K, as train-ssl configs
    half = 0.5 * report["log_k"]
    chosen = [v for v, mi in enumerate(mis) if mi >= half]
    assert report["suggested_views"]["variables"] == chosen
    random_cfg = from_mapping(TrainSSLConfig, load_yaml(out / "views.yaml"))
    assert random_cfg.source.kind == "generated" and random_cfg.mlvgm == str(vae_path)
    assert random_cfg.source.perturbation.kind == "gaussian"
    assert random_cfg.source.perturbation.variables == chosen
    assert random_cfg.source.perturbation.grouping == [[0], [1, 2]]
    learned = from_mapping(TrainSSLConfig, load_yaml(out / "walker_views.yaml"))
    assert learned.source.perturbation.kind == "walkers"
    assert learned.source.perturbation.walkers == str((out / "walkers.safetensors").resolve())
    assert random_cfg.source.anchor.truncation == 2.0
    generator = ViewGenerator(tiny_hvae, perturbation=learned.source.perturbation)
    assert generator.grouping == [[0], [1, 2]] and generator.variables == chosen


def _stop_at(variable: int, step: int):
    def hook(v: int, s: int) -> None:
        if (v, s) == (variable, step):
            raise KeyboardInterrupt

    return hook


@pytest.mark.parametrize("where", [(0, 5), (1, 2)])
def test_resume_after_interruption_gives_the_same_records(tmp_path, vae_path, where):
    whole = analyze_latents(_config(vae_path, tmp_path / "whole"), progress=False)

    cfg = _config(vae_path, tmp_path / "resumed")
    with pytest.raises(KeyboardInterrupt):
        analyze_latents(cfg, progress=False, on_step=_stop_at(*where))
    assert (tmp_path / "resumed" / "state" / "current.pt").is_file()
    assert not (tmp_path / "resumed" / "latents.json").exists()
    resumed = analyze_latents(cfg, progress=False)

    assert resumed["variables"] == whole["variables"]
    a = load_model(tmp_path / "whole" / "walkers.safetensors")
    b = load_model(tmp_path / "resumed" / "walkers.safetensors")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k


def test_a_finished_run_is_reused_and_another_config_refused(tmp_path, vae_path):
    out = tmp_path / "lat"
    first = analyze_latents(_config(vae_path, out), progress=False)
    again = analyze_latents(_config(vae_path, out), progress=False)
    assert again["variables"] == first["variables"]

    before = (out / "latents.json").read_text()
    with pytest.raises(CheckpointError, match=r"changed: seed, steps\)") as info:
        analyze_latents(_config(vae_path, out, steps=7, seed=3), progress=False)
    assert "\n" not in str(info.value)
    assert (out / "latents.json").read_text() == before


def test_corrupt_state_is_refused_in_one_line(tmp_path, vae_path):
    out = tmp_path / "lat"
    analyze_latents(_config(vae_path, out), progress=False)
    (out / "state" / "variable_0.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot resume from") as info:
        analyze_latents(_config(vae_path, out), progress=False)
    assert "\n" not in str(info.value)


def test_seed_changes_the_draws(tmp_path, vae_path):
    a = analyze_latents(_config(vae_path, tmp_path / "a", grouping=[[0]]), progress=False)
    b = analyze_latents(_config(vae_path, tmp_path / "b", grouping=[[0]], seed=1), progress=False)
    assert a["variables"][0]["infonce"] != b["variables"][0]["infonce"]


def test_trained_walker_raises_infonce_above_a_zero_walker(tmp_path, tiny_hvae):
    # The untrained tiny model decodes nearly the same image from every anchor; louder
    # latent inputs make anchors distinguishable, so that there is information to remove.
    with torch.no_grad():
        for group in tiny_hvae.groups:
            group.combine.weight.mul_(10)
    path = tmp_path / "loud.safetensors"
    save_model(path, tiny_hvae)
    options = {"grouping": [[0, 1, 2, 3]], "steps": 30, "batch_size": 16, "critic_lr": 3e-3}

    # Same seed, so the same anchors and the same critic initialisation; a vanishing
    # learning rate keeps the walker at its near-zero start (x' = x).
    runs = {
        name: analyze_latents(
            _config(path, tmp_path / name, walker_lr=lr, **options), progress=False
        )["variables"][0]
        for name, lr in (("zero", 1e-12), ("trained", 1e-2))
    }
    assert runs["zero"]["delta_mean"] < 0.05
    assert runs["trained"]["delta_mean"] > 1.0
    assert runs["trained"]["infonce"] > runs["zero"]["infonce"] + 1.0
    assert runs["trained"]["mi_lower_bound"] < runs["zero"]["mi_lower_bound"] - 1.0


def test_walkers_of_a_finished_run_can_start_another(tmp_path, vae_path):
    first = tmp_path / "first"
    analyze_latents(_config(vae_path, first, walker_lr=0.05), progress=False)
    init = first / "walkers.safetensors"
    # A vanishing learning rate leaves the loaded walkers where they started.
    cfg = _config(vae_path, tmp_path / "second", init_walkers=str(init), walker_lr=1e-12)
    analyze_latents(cfg, progress=False)
    a, b = load_model(init), load_model(tmp_path / "second" / "walkers.safetensors")
    for va, vb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(va, vb, rtol=0, atol=1e-6)

    other = _config(vae_path, tmp_path / "third", grouping=[[0]], init_walkers=str(init))
    with pytest.raises(CheckpointError, match="grouping"):
        analyze_latents(other, progress=False)
    assert not (tmp_path / "third").exists()


@pytest.mark.parametrize(
    ("grouping", "message"),
    [([[0], [9]], "group index 9 is outside"), ([[0], []], "non-empty list")],
)
def test_bad_grouping_is_refused_before_writing(tmp_path, vae_path, grouping, message):
    out = tmp_path / "lat"
    with pytest.raises(ConfigError, match=message):
        analyze_latents(_config(vae_path, out, grouping=grouping), progress=False)
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("steps", 0),
        ("batch_size", 1),
        ("mc_anchors", 4),
        ("mc_batch_size", 1),
        ("walker_bound", -1.0),
        ("grouping", []),
    ],
)
def test_config_rejects_out_of_range_options(tmp_path, option, value):
    with pytest.raises(ConfigError, match=option):
        AnalyzeLatentsConfig(**{option: value})
