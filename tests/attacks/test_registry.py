"""The attack registry: every entry runs, unknown names and options raise."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlvgm.attacks import ATTACKS, Attack, AttackResult, make_attack
from mlvgm.errors import ConfigError

# Cheap options for every registered attack.
CHEAP: dict[str, dict[str, object]] = {
    "apgd-ce": {"n_iter": 5},
    "apgd-dlr": {"n_iter": 5},
    "deepfool": {"n_iter": 20},
    "cw": {"steps": 20, "binary_search_steps": 2, "c_init": 1.0, "lr": 0.1},
    "fab": {"n_iter": 5},
    "autoattack-l2": {"preset": "fast"},
    "fgsm-l2": {},
}
MINIMAL_NORM = ["deepfool", "cw", "fab", "autoattack-l2"]


def test_every_registered_attack_has_cheap_options() -> None:
    assert sorted(CHEAP) == sorted(ATTACKS)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_registered_attack_runs(
    name: str, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = batch[0][:20], batch[1][:20]
    attack = make_attack(name, eps=1.0, **CHEAP[name])
    result = attack(model, x, y)

    assert isinstance(attack, Attack)
    assert isinstance(result, AttackResult)
    assert result.x_adv.shape == x.shape
    assert result.success.shape == result.l2.shape == y.shape
    assert torch.all(result.l2 <= 1.0 + 1e-5)


@pytest.mark.parametrize("name", MINIMAL_NORM)
def test_minimal_norm_attacks_run_unbounded(
    name: str, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = batch[0][:20], batch[1][:20]
    result = make_attack(name, eps=None, **CHEAP[name])(model, x, y)

    assert result.success.float().mean() >= 0.5
    assert result.l2[result.success].max() > 1e-3


@pytest.mark.parametrize("name", ["apgd-ce", "apgd-dlr"])
def test_apgd_needs_a_bound(name: str) -> None:
    with pytest.raises(ConfigError, match="eps"):
        make_attack(name, eps=None)


def test_unknown_attack_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="apgd-ce") as info:
        make_attack("pgd", eps=1.0)
    assert all(name in str(info.value) for name in ATTACKS)


@pytest.mark.parametrize("kwargs", [{"steps": 10}, {"loss": "dlr"}])
def test_unknown_option_raises_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="n_iter"):
        make_attack("apgd-ce", eps=1.0, **kwargs)


def test_bad_option_value_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="eps"):
        make_attack("apgd-dlr", eps=-1.0)


def test_attack_is_abstract() -> None:
    with pytest.raises(TypeError):
        Attack()  # type: ignore[abstract]
