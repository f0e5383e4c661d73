"""``mlvgm views`` through the CLI."""

from __future__ import annotations

import json

from PIL import Image

from mlvgm.checkpoint import save_model
from mlvgm.cli.main import main


def test_views_writes_grids_of_anchor_then_views(tmp_path, tiny_hvae):
    vae = tmp_path / "v.safetensors"
    save_model(vae, tiny_hvae)
    out = tmp_path / "views"
    args = ["views", "--out", str(out), "--set", f"mlvgm={vae}", "--set", "source.augment=simclr"]
    args += ["--set", "n_anchors=3", "--set", "n_views=4", "--set", "source.perturbation.kind=coin"]
    assert main(args) == 0
    record = json.loads((out / "views.json").read_text())
    assert record["grouping"] == [[0], [1], [2], [3]] and record["n_views"] == 4
    for name in ("views.png", "latent_views.png"):
        width, height = Image.open(out / name).size
        # 5 columns (anchor + 4 views) and 3 rows of 32-pixel images with 2-pixel padding
        assert (width, height) == (5 * 34 + 2, 3 * 34 + 2)


def test_views_bad_specs_give_one_line_and_exit_1(tmp_path, tiny_hvae, capsys):
    vae = tmp_path / "v.safetensors"
    save_model(vae, tiny_hvae)
    base = ["views", "--out", str(tmp_path / "o"), "--set", f"mlvgm={vae}"]
    cases = {
        "source.perturbation.std=[0.1, 0.2]": "std has 2 values but there are 4 latent variables",
        "source.perturbation.grouping=[[0], [6]]": "group index 6 is outside the model's 4 latents",
        "source.perturbation.std=-0.5": "perturbation.std must be a non-negative number",
        "source.augment=sepia": "unknown augmentation preset 'sepia'",
        "source.kind=real": "source.kind must be 'generated'",
    }
    for override, message in cases.items():
        assert main([*base, "--set", override]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o" / "views.png").exists()


def test_views_reads_the_config_analyze_latents_suggests(tmp_path, tiny_hvae):
    vae = tmp_path / "v.safetensors"
    save_model(vae, tiny_hvae)
    config = tmp_path / "views.yaml"
    config.write_text(
        f"mlvgm: {vae}\nsource:\n  kind: generated\n"
        "  perturbation: {kind: gaussian, variables: [2, 3], std: 1.0}\n"
    )
    out = tmp_path / "v"
    assert main(["views", "--config", str(config), "--out", str(out), "--set", "n_views=2"]) == 0
    assert json.loads((out / "views.json").read_text())["perturbed_variables"] == [2, 3]


def test_out_that_is_an_existing_file_is_one_line(tmp_path, tiny_hvae, capsys):
    vae = tmp_path / "v.safetensors"
    save_model(vae, tiny_hvae)
    taken = tmp_path / "taken.md"
    taken.write_text("keep me")
    assert main(["views", "--out", str(taken), "--set", f"mlvgm={vae}"]) == 1
    assert "is an existing file" in capsys.readouterr().err
    assert taken.read_text() == "keep me"
