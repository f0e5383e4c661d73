import math

import pytest
import torch

from mlvgm.config import from_mapping
from mlvgm.errors import ConfigError
from mlvgm.views.generate import AnchorConfig, PerturbationConfig, ViewGenerator, truncated_normal
from mlvgm.views.variables import get_variable, resolve_grouping, set_variable, variable_dims


def test_truncated_normal_stays_inside_and_keeps_the_normal_shape():
    g = torch.Generator().manual_seed(0)
    t = truncated_normal((200_000,), 1.5, g)
    assert t.abs().max() <= 1.5 + 1e-5
    # the variance of a standard normal truncated at +-a: 1 - 2 a phi(a) / (2 Phi(a) - 1)
    a = 1.5
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    big_phi = 0.5 * (1 + math.erf(a / math.sqrt(2)))
    var = 1 - 2 * a * phi / (2 * big_phi - 1)
    assert abs(t.var().item() - var) < 0.01
    assert abs(t.mean().item()) < 0.01


def test_resolve_grouping_default_and_user_groups():
    assert resolve_grouping(None, 3) == [[0], [1], [2]]
    assert resolve_grouping([[0], [1, 2]], 3) == [[0], [1, 2]]
    with pytest.raises(ConfigError, match="group index 5 is outside the model's 4 latents"):
        resolve_grouping([[0], [5]], 4)
    with pytest.raises(ConfigError, match="more than one variable"):
        resolve_grouping([[0, 1], [1]], 4)
    with pytest.raises(ConfigError, match="non-empty list"):
        resolve_grouping([[0], []], 4)


def test_get_and_set_variable_round_trip(tiny_hvae):
    noise = tiny_hvae.sample_noise(2)
    members = [1, 3]
    flat = get_variable(noise, members)
    assert flat.shape == (2, variable_dims(tiny_hvae, [members])[0])
    out = set_variable(noise, members, flat + 1)
    torch.testing.assert_close(out[1], noise[1] + 1)
    torch.testing.assert_close(out[3], noise[3] + 1)
    assert out[0] is noise[0] and out[2] is noise[2]


def test_anchors_follow_the_truncated_normal(tiny_hvae):
    gen = ViewGenerator(tiny_hvae, AnchorConfig(mean=0.5, std=2.0, truncation=1.0))
    eps = gen.anchors(64, torch.Generator().manual_seed(0))
    flat = torch.cat([e.flatten() for e in eps])
    assert flat.min() >= 0.5 - 2.0 - 1e-5 and flat.max() <= 0.5 + 2.0 + 1e-5
    assert abs(flat.mean().item() - 0.5) < 0.1


def test_gaussian_perturbation_touches_only_the_chosen_variables(tiny_hvae):
    p = PerturbationConfig(kind="gaussian", variables=[2], std=0.5)
    gen = ViewGenerator(tiny_hvae, perturbation=p)
    eps = gen.anchors(8, torch.Generator().manual_seed(0))
    moved = gen.perturb(eps, torch.Generator().manual_seed(1))
    for i in (0, 1, 3):
        assert torch.equal(moved[i], eps[i])
    delta = moved[2] - eps[2]
    assert delta.abs().max() <= 0.5 * 2.0 + 1e-5 and delta.std() > 0.2


def test_per_variable_values_and_a_user_grouping(tiny_hvae):
    p = PerturbationConfig(grouping=[[0, 1], [2, 3]], std=[0.0, 1.0])
    gen = ViewGenerator(tiny_hvae, perturbation=p)
    eps = gen.anchors(4)
    moved = gen.perturb(eps)
    assert torch.equal(moved[0], eps[0]) and torch.equal(moved[1], eps[1])
    assert not torch.equal(moved[2], eps[2]) and not torch.equal(moved[3], eps[3])


def test_coin_flip_perturbs_a_share_p_of_variables(tiny_hvae):
    p = PerturbationConfig(kind="coin", p=0.3, std_range=[0.5, 1.0])
    gen = ViewGenerator(tiny_hvae, perturbation=p)
    eps = gen.anchors(2000, torch.Generator().manual_seed(0))
    moved = gen.perturb(eps, torch.Generator().manual_seed(1))
    changed = torch.stack(
        [(m - e).flatten(1).abs().amax(1) > 0 for m, e in zip(moved, eps, strict=True)]
    )
    assert abs(changed.float().mean().item() - 0.3) < 0.03


def test_pairs_and_views_are_images_and_reproducible(tiny_hvae):
    gen = ViewGenerator(tiny_hvae)
    a1, p1 = gen.pairs(3, torch.Generator().manual_seed(5))
    a2, p2 = gen.pairs(3, torch.Generator().manual_seed(5))
    assert a1.shape == p1.shape == (3, 1, 32, 32)
    assert a1.min() >= 0 and a1.max() <= 1
    assert torch.equal(a1, a2) and torch.equal(p1, p2)
    assert not torch.equal(a1, p1)
    anchors, views = gen.views(2, 4)
    assert anchors.shape == (2, 1, 32, 32) and views.shape == (2, 4, 1, 32, 32)


def test_none_perturbation_gives_the_anchor(tiny_hvae):
    gen = ViewGenerator(tiny_hvae, perturbation=PerturbationConfig(kind="none"))
    a, p = gen.pairs(2)
    assert torch.equal(a, p)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "blend"}, "unknown perturbation kind 'blend'"),
        ({"std": -0.1}, "perturbation.std must be a non-negative number"),
        ({"std": [0.1, -1.0]}, "perturbation.std must be a non-negative number"),
        ({"truncation": 0}, "perturbation.truncation must be a positive number"),
        ({"p": 1.5}, r"perturbation.p must be in \[0, 1\]"),
        ({"std_range": [1.0, 0.5]}, "std_range must be"),
        ({"std_range": [0.0, float("inf")]}, "std_range must be"),
        ({"kind": "walkers"}, "needs perturbation.walkers"),
    ],
)
def test_bad_perturbation_configs(options, message):
    with pytest.raises(ConfigError, match=message):
        from_mapping(PerturbationConfig, options)


def test_specs_that_do_not_fit_the_model(tiny_hvae):
    with pytest.raises(ConfigError, match="std has 3 values but there are 4 latent variables"):
        ViewGenerator(tiny_hvae, perturbation=PerturbationConfig(std=[0.1, 0.2, 0.3]))
    with pytest.raises(ConfigError, match="variables has 4, outside the 4 latent variables"):
        ViewGenerator(tiny_hvae, perturbation=PerturbationConfig(variables=[4]))
    with pytest.raises(ConfigError, match="group index 9"):
        ViewGenerator(tiny_hvae, perturbation=PerturbationConfig(grouping=[[9]]))
    with pytest.raises(ConfigError, match=r"anchor\.std must be a non-negative"):
        AnchorConfig(std=-1.0)


def test_bfloat16_generation_is_close_to_float32(tiny_hvae):
    exact = ViewGenerator(tiny_hvae)
    fast = ViewGenerator(tiny_hvae, precision="bfloat16")
    a32, p32 = exact.pairs(4, torch.Generator().manual_seed(0))
    a16, p16 = fast.pairs(4, torch.Generator().manual_seed(0))
    assert a16.dtype == torch.float32
    assert (a16 - a32).abs().mean() < 0.01 and (p16 - p32).abs().mean() < 0.01
    with pytest.raises(ConfigError, match="unknown precision 'half'"):
        ViewGenerator(tiny_hvae, precision="half")


def test_non_finite_anchor_mean_and_repeated_variables_are_refused(tiny_hvae):
    with pytest.raises(ConfigError, match=r"anchor\.mean must be a finite number"):
        AnchorConfig(mean=float("nan"))
    with pytest.raises(ConfigError, match="lists a variable twice"):
        ViewGenerator(tiny_hvae, perturbation=PerturbationConfig(variables=[1, 1]))
