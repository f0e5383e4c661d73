"""The fast and thorough presets and the attacks they build."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlvgm.attacks import (
    APGD,
    FAB,
    PRESETS,
    CarliniWagnerL2,
    DeepFool,
    MinNormEnsemble,
    make_attack,
    make_preset_attacks,
)
from mlvgm.errors import ConfigError

ALL = ["deepfool", "cw", "fab", "apgd-ce", "apgd-dlr"]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_builds_every_attack(preset: str) -> None:
    attacks = dict(make_preset_attacks(preset, eps=1.0, n_classes=10))

    assert sorted(attacks) == sorted(ALL)
    assert isinstance(attacks["deepfool"], DeepFool)
    assert isinstance(attacks["cw"], CarliniWagnerL2)
    assert isinstance(attacks["fab"], FAB)
    assert isinstance(attacks["apgd-dlr"], APGD)
    assert all(getattr(attack, "eps", None) == 1.0 for attack in attacks.values())


def test_thorough_preset_has_the_reference_strengths() -> None:
    attacks = dict(make_preset_attacks("thorough", eps=1.0, n_classes=10))

    deepfool, cw, fab, apgd = attacks["deepfool"], attacks["cw"], attacks["fab"], attacks["apgd-ce"]
    assert isinstance(deepfool, DeepFool) and isinstance(cw, CarliniWagnerL2)
    assert isinstance(fab, FAB) and isinstance(apgd, APGD)
    assert (deepfool.n_iter, deepfool.overshoot) == (50, 0.02)
    assert (cw.steps, cw.binary_search_steps) == (1024, 9)
    assert fab.n_iter == 128
    assert (apgd.n_iter, apgd.rho) == (64, 0.75)


def test_fast_preset_is_cheaper() -> None:
    fast = dict(make_preset_attacks("fast", eps=1.0, n_classes=10))
    cw = fast["cw"]
    assert isinstance(cw, CarliniWagnerL2)
    assert cw.steps * cw.binary_search_steps <= 400


def test_dlr_is_left_out_below_four_classes_unless_requested() -> None:
    names = [name for name, _ in make_preset_attacks("fast", eps=1.0, n_classes=3)]
    assert "apgd-dlr" not in names
    assert "apgd-ce" in names
    with pytest.raises(ConfigError, match="4 classes"):
        make_preset_attacks("fast", eps=1.0, n_classes=3, names=["apgd-dlr"])


def test_unbounded_preset_leaves_out_apgd_unless_requested() -> None:
    attacks = make_preset_attacks("thorough", eps=None, n_classes=10)
    assert [name for name, _ in attacks] == ["deepfool", "cw", "fab"]
    assert all(getattr(attack, "eps", 0.0) is None for _, attack in attacks)
    with pytest.raises(ConfigError, match="eps"):
        make_preset_attacks("thorough", eps=None, n_classes=10, names=["apgd-ce"])


def test_requested_names_keep_their_order() -> None:
    attacks = make_preset_attacks("fast", eps=0.5, n_classes=10, names=["fab", "deepfool"])
    assert [name for name, _ in attacks] == ["fab", "deepfool"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"preset": "medium"},
        {"n_classes": 1},
        {"n_classes": 10.0},
        {"names": ["square"]},
        {"eps": -1.0},
    ],
)
def test_bad_requests_raise_config_error(kwargs: dict[str, object]) -> None:
    request: dict[str, object] = {"preset": "fast", "eps": 1.0, "n_classes": 10, **kwargs}
    with pytest.raises(ConfigError):
        make_preset_attacks(**request)  # type: ignore[arg-type]


def test_autoattack_l2_runs_a_preset_on_a_two_class_model(
    binary_model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = batch[0][:20], (batch[1][:20] >= 5).long()
    attack = make_attack("autoattack-l2", eps=2.0, preset="fast", n_classes=2)
    result = attack(binary_model, x, y)

    assert isinstance(attack, MinNormEnsemble)
    assert len(attack.attacks) == 4  # apgd-dlr left out
    assert torch.all(result.l2 <= 2.0 + 1e-5)
    assert result.success.float().mean() >= 0.9
