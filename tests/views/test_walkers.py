"""Walkers: near-identity start, bounded moves, one variable at a time, checkpoints."""

from __future__ import annotations

import pytest
import torch

from mlvgm.checkpoint import load_model, save_model
from mlvgm.errors import CheckpointError, ConfigError, InputError
from mlvgm.models import ARCHITECTURES, HierarchicalVAE, HVAEConfig
from mlvgm.views.walkers import Walker, WalkerSet, WalkerSetConfig

GROUPING = [[0], [1, 2], [3]]


def _noise(model, n=5, seed=0):
    return model.sample_noise(n, generator=torch.Generator().manual_seed(seed))


def _kick(walkers: WalkerSet, std: float = 1.0) -> None:
    """Give every walker's last layer real weight, so that it moves its variable."""
    torch.manual_seed(1)
    for w in walkers.walkers:
        torch.nn.init.normal_(w.net[2].weight, std=std)


def test_walker_starts_near_identity():
    torch.manual_seed(0)
    walker = Walker(64, hidden=32, bound=1.0)
    z = torch.randn(16, 64)
    delta = walker(z)
    assert delta.shape == (16, 64)
    assert delta.abs().max() < 0.05
    assert torch.count_nonzero(delta) > 0  # near zero, not dead


def test_perturbation_stays_within_bound():
    walker = Walker(8, hidden=16, bound=0.3)
    torch.nn.init.normal_(walker.net[2].weight, std=100.0)
    delta = walker(10 * torch.randn(64, 8))
    assert delta.abs().max() <= 0.3
    assert delta.abs().max() > 0.29  # saturated: the bound is what holds it


def test_walker_gradients_match_finite_differences():
    torch.manual_seed(0)
    walker = Walker(3, hidden=4, bound=0.7).double()
    torch.nn.init.normal_(walker.net[2].weight, std=0.5)
    z = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(walker, (z,))


def test_walker_set_starts_at_the_anchor(tiny_hvae):
    walkers = WalkerSet.for_model(tiny_hvae, GROUPING, hidden=16)
    noise = _noise(tiny_hvae)
    moved = walkers(noise)
    for a, b in zip(noise, moved, strict=True):
        assert (a - b).abs().max() < 0.05


def test_walker_set_touches_only_its_variable(tiny_hvae):
    walkers = WalkerSet.for_model(tiny_hvae, GROUPING, hidden=16)
    _kick(walkers)
    noise = _noise(tiny_hvae)
    moved = walkers(noise, [1])
    assert torch.equal(moved[0], noise[0]) and torch.equal(moved[3], noise[3])
    assert not torch.allclose(moved[1], noise[1]) and not torch.allclose(moved[2], noise[2])
    # Each variable's walker sees its own coordinates alone.
    both = walkers(noise, [0, 1])
    assert torch.equal(both[1], moved[1]) and torch.equal(both[2], moved[2])
    everything = walkers(noise)
    assert all(not torch.allclose(a, b) for a, b in zip(everything, noise, strict=True))


def test_walker_set_rejects_bad_input(tiny_hvae):
    walkers = WalkerSet.for_model(tiny_hvae, GROUPING, hidden=16)
    noise = _noise(tiny_hvae)
    with pytest.raises(InputError, match="outside the walker set's 3 variables"):
        walkers(noise, [3])
    with pytest.raises(InputError, match="per-image shapes"):
        walkers(noise[:3])


def test_config_checks_dims_against_the_latent_shapes(tiny_hvae):
    shapes = [list(s) for s in tiny_hvae.latent_shapes()]
    with pytest.raises(ConfigError, match="variable 1 has 160 coordinates"):
        WalkerSetConfig([[0], [1, 2]], [32, 65], 16, 1.0, shapes)
    with pytest.raises(ConfigError, match="latents in 0-3"):
        WalkerSetConfig([[0], [7]], [32, 32], 16, 1.0, shapes)
    with pytest.raises(ConfigError, match="two variables"):
        WalkerSetConfig([[0], [0]], [32, 32], 16, 1.0, shapes)
    with pytest.raises(ConfigError, match="bound"):
        WalkerSetConfig([[0]], [32], 16, 0.0, shapes)


def test_walkers_are_a_registered_architecture():
    assert ARCHITECTURES["walkers"] == (WalkerSet, WalkerSetConfig)


def test_save_load_round_trip(tmp_path, tiny_hvae):
    walkers = WalkerSet.for_model(tiny_hvae, GROUPING, hidden=16, bound=0.5)
    _kick(walkers)
    path = tmp_path / "walkers.safetensors"
    save_model(path, walkers)
    loaded = load_model(path, expect="walkers")
    assert isinstance(loaded, WalkerSet)
    assert loaded.config == walkers.config
    loaded.check_compatible(tiny_hvae)
    noise = _noise(tiny_hvae)
    for a, b in zip(walkers(noise, [1]), loaded(noise, [1]), strict=True):
        assert torch.equal(a, b)


def test_loading_walkers_as_another_architecture_is_refused(tmp_path, tiny_hvae):
    path = tmp_path / "walkers.safetensors"
    save_model(path, WalkerSet.for_model(tiny_hvae, GROUPING, hidden=16))
    with pytest.raises(CheckpointError, match="holds a 'walkers' model"):
        load_model(path, expect="hvae")


def test_walkers_for_other_latent_shapes_are_refused(tiny_hvae):
    walkers = WalkerSet.for_model(tiny_hvae, GROUPING, hidden=16)
    other = HierarchicalVAE(HVAEConfig(widths=[4, 8, 8, 8], groups=[[4, 3], [4, 2], [8, 2]]))
    with pytest.raises(CheckpointError, match="latent shapes") as info:
        walkers.check_compatible(other)
    assert "\n" not in str(info.value)
