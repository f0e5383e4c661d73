"""``mlvgm analyze-latents`` through the CLI: results, summary, and one-line refusals."""

from __future__ import annotations

import json

import pytest

from mlvgm.checkpoint import save_model
from mlvgm.cli.main import main
from mlvgm.models import HierarchicalVAE, HVAEConfig
from mlvgm.views.walkers import WalkerSet

OPTIONS = [
    "grouping=[[0], [1, 2]]",
    "steps=4",
    "batch_size=8",
    "mc_anchors=16",
    "mc_batch_size=8",
    "walker_hidden=8",
    "critic_width=4",
    "critic_proj_dim=8",
]


def _args(out, vae, *extra):
    args = ["analyze-latents", "--out", str(out), "--set", f"mlvgm={vae}"]
    for option in [*OPTIONS, *extra]:
        args += ["--set", option]
    return args


@pytest.fixture
def finished(tmp_path, tiny_hvae, capsys):
    """A tiny model and a finished analysis of it, with its report's text."""
    vae = tmp_path / "hvae.safetensors"
    save_model(vae, tiny_hvae)
    out = tmp_path / "lat"
    assert main(_args(out, vae)) == 0
    printed = capsys.readouterr().out
    return vae, out, printed


def test_cli_writes_results_and_prints_the_ordering(finished):
    _vae, out, printed = finished
    report = json.loads((out / "latents.json").read_text())
    assert [r["latents"] for r in report["variables"]] == [[0], [1, 2]]
    assert "latent 1+2: MI" in printed and "most to least critical:" in printed
    assert (out / "walkers.safetensors").is_file()
    assert json.loads((out / "config.json").read_text())["config"]["steps"] == 4


def _write_bad_files(tmp_path):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"not a safetensors file")
    other = HierarchicalVAE(HVAEConfig(widths=[4, 8, 8, 8], groups=[[4, 3], [4, 2], [8, 2]]))
    foreign_walkers = tmp_path / "foreign_walkers.safetensors"
    save_model(foreign_walkers, WalkerSet.for_model(other, [[0], [1, 2]], hidden=8))
    return corrupt, foreign_walkers


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["grouping=[[0], [7]]"], "group index 7 is outside the model's 4 latents"),
        (["grouping=[[0], []]"], "must be a non-empty list"),
        (["steps=0"], "steps must be a positive integer"),
        (["batch_size=0"], "batch_size must be at least 2"),
        (["mlvgm={tmp}/missing.safetensors"], "checkpoint not found"),
        (["mlvgm={tmp}/corrupt.safetensors"], "not a readable safetensors checkpoint"),
        (["mlvgm={tmp}/foreign_walkers.safetensors"], "but a 'hvae' model is needed"),
        (["init_walkers={tmp}/corrupt.safetensors"], "not a readable safetensors"),
        (["init_walkers={tmp}/foreign_walkers.safetensors"], "trained for a model with latent"),
        (["init_walkers={tmp}/hvae.safetensors"], "holds a 'hvae' model"),
        (["steps=5"], "different config (changed: steps)"),
    ],
)
def test_bad_input_is_one_line_and_leaves_results_intact(
    tmp_path, finished, capsys, extra, message
):
    vae, out, _ = finished
    _write_bad_files(tmp_path)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    args = _args(out, vae, *(e.format(tmp=tmp_path) for e in extra))
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("mlvgm: error: ") and err.count("\n") == 1, err
    assert message in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
