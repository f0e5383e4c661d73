import pytest
import torch

from mlvgm.errors import ConfigError, InputError
from mlvgm.models import HierarchicalVAE, HVAEConfig


def test_encode_returns_one_code_per_group_with_declared_shapes(tiny_hvae, images):
    codes = tiny_hvae.encode(images)
    assert len(codes) == tiny_hvae.n_latents == 4
    for z, shape in zip(codes, tiny_hvae.latent_shapes(), strict=True):
        assert tuple(z.shape) == (3, *shape)


def test_decode_and_sample_give_images_in_unit_interval(tiny_hvae, images):
    x = tiny_hvae.decode(tiny_hvae.encode(images))
    assert x.shape == images.shape and x.min() >= 0 and x.max() <= 1
    s = tiny_hvae.sample(5, temperature=0.5)
    assert s.shape == (5, 1, 32, 32)


def test_purify_with_zero_alphas_is_deterministic_reconstruction(tiny_hvae, images):
    a = tiny_hvae.purify(images, [0.0] * 4)
    b = tiny_hvae.purify(images, [0.0] * 4)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, tiny_hvae.decode(tiny_hvae.encode(images)))


def test_purify_with_unit_alphas_ignores_the_input(tiny_hvae, images):
    torch.manual_seed(1)
    a = tiny_hvae.purify(images, [1.0] * 4)
    torch.manual_seed(1)
    b = tiny_hvae.purify(torch.zeros_like(images), [1.0] * 4)
    torch.testing.assert_close(a, b)


def test_purify_mixes_inside_the_top_down_pass(tiny_hvae, images):
    # Mixing the coarsest level must change the posterior of the finer levels,
    # which is what distinguishes the top-down mix from mixing encode() outputs.
    _, chosen = tiny_hvae._collect(images, [1.0, 0.0, 0.0, 0.0], 1.0)
    enc = tiny_hvae.encode(images)
    assert not torch.allclose(chosen[0], enc[0])
    assert not torch.allclose(chosen[1], enc[1])


def test_purify_is_differentiable_with_respect_to_the_input(tiny_hvae, images):
    x = images.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(tiny_hvae.purify(x, [0.2, 0.4, 0.6, 0.8]).sum(), x)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_sample_prior_keeps_given_latents(tiny_hvae, images):
    codes = tiny_hvae.encode(images)
    drawn = tiny_hvae.sample_prior(0, given=codes[:2])
    torch.testing.assert_close(drawn[0], codes[0])
    torch.testing.assert_close(drawn[1], codes[1])
    assert len(drawn) == 4


def test_forward_reports_kl_per_group_and_respects_keep_mask(tiny_hvae, images):
    out = tiny_hvae(images)
    assert out.kl.shape == (3, 4) and (out.kl >= -1e-4).all()
    keep = torch.tensor([[True, True, False, False]] * 3)
    out = tiny_hvae(images, keep)
    assert (out.kl[:, 2:] == 0).all()


def test_wrong_alpha_length_raises(tiny_hvae, images):
    with pytest.raises(InputError, match="4 values"):
        tiny_hvae.purify(images, [0.5, 0.5])


def test_wrong_latent_shape_raises(tiny_hvae):
    with pytest.raises(InputError, match="latent 0"):
        tiny_hvae.decode([torch.zeros(1, 3, 4, 4)] * 4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"groups": [[8, 2], [4, 2]]},
        {"groups": [[3, 2]]},
        {"groups": [[8, 2]]},
        {"widths": [4, 4, 4, 4, 4, 4, 4]},
    ],
)
def test_invalid_architecture_raises_config_error(kwargs):
    with pytest.raises(ConfigError):
        HVAEConfig(**kwargs)


def test_default_architecture_meets_the_documented_structure():
    m = HierarchicalVAE()
    resolutions = {g[0] for g in m.config.groups}
    assert m.n_latents >= 4 and len(resolutions) >= 2


def test_generate_matches_sample_prior_with_the_same_noise(tiny_hvae):
    g = torch.Generator().manual_seed(3)
    noise = tiny_hvae.sample_noise(5, generator=g)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        from_noise = tiny_hvae.generate(noise)
        # sample_prior draws the same standard-normal noise group by group, in order
        from_prior = tiny_hvae.decode(tiny_hvae.sample_prior(5, generator=g))
    assert from_noise.shape == (5, 1, 32, 32)
    torch.testing.assert_close(from_noise, from_prior)


def test_generate_perturbing_one_group_leaves_the_coarser_latents(tiny_hvae):
    noise = tiny_hvae.sample_noise(3, generator=torch.Generator().manual_seed(0))
    moved = [n.clone() for n in noise]
    moved[2] = moved[2] + 1.0
    with torch.no_grad():
        a, b = tiny_hvae.generate(noise), tiny_hvae.generate(moved)
    assert not torch.allclose(a, b)


def test_generate_refuses_wrong_noise_shapes(tiny_hvae):
    noise = tiny_hvae.sample_noise(2)
    with pytest.raises(InputError, match="latent 1 must have shape"):
        tiny_hvae.generate([noise[0], noise[1][:, :1], *noise[2:]])
    with pytest.raises(InputError, match="expected 4 latents"):
        tiny_hvae.generate(noise[:3])
    with pytest.raises(InputError, match="same batch size"):
        tiny_hvae.generate([noise[0], noise[1][:1], *noise[2:]])
