import pytest
import torch

from mlvgm.defenses import EoT, Purifier
from mlvgm.defenses.preprocess import FixedNormNoise, GaussianBlur
from mlvgm.errors import ConfigError


def test_reconstruction_defense_is_deterministic_and_eot_runs_once(tiny_hvae, tiny_classifier):
    p = Purifier(tiny_hvae, tiny_classifier, [0.0] * 4)
    assert not p.stochastic
    assert EoT(p, 8).k == 1


def test_resampling_defense_is_stochastic(tiny_hvae, tiny_classifier, images):
    p = Purifier(tiny_hvae, tiny_classifier, [0.0, 0.0, 1.0, 1.0])
    assert p.stochastic
    assert not torch.allclose(p.purify(images), p.purify(images))


def test_eot_averages_logits_of_k_copies(tiny_hvae, tiny_classifier, images):
    p = Purifier(tiny_hvae, tiny_classifier, [0.0, 0.0, 1.0, 1.0])
    torch.manual_seed(3)
    got = EoT(p, 4, max_batch=6)(images)
    torch.manual_seed(3)
    copies = p(images.repeat(4, 1, 1, 1)[:6]), p(images.repeat(4, 1, 1, 1)[6:])
    want = torch.cat(copies).view(4, 3, -1).mean(0)
    torch.testing.assert_close(got, want)


def test_gradients_flow_through_the_whole_pipeline(tiny_hvae, tiny_classifier, images):
    p = EoT(Purifier(tiny_hvae, tiny_classifier, [0.1, 0.3, 0.6, 1.0], 0.8, 1.0, 0.5), 2)
    x = images.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(p(x).logsumexp(1).sum(), x)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_purifier_rejects_alphas_of_wrong_length(tiny_hvae, tiny_classifier):
    with pytest.raises(ConfigError, match="4 values"):
        Purifier(tiny_hvae, tiny_classifier, [0.5])


def test_fixed_norm_noise_has_the_requested_norm_before_clamping():
    x = torch.full((4, 1, 8, 8), 0.5)
    y = FixedNormNoise(0.3)(x)
    norms = (y - x).flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.full((4,), 0.3), atol=1e-5)


def test_blur_preserves_constant_images_and_rejects_bad_sigma():
    x = torch.full((1, 1, 9, 9), 0.25)
    torch.testing.assert_close(GaussianBlur(1.0)(x), x)
    with pytest.raises(ConfigError):
        GaussianBlur(-1.0)


def test_blur_gradcheck():
    x = torch.rand(1, 1, 7, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(GaussianBlur(1.0), (x,))
