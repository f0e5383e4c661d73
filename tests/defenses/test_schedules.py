import math

import pytest

from mlvgm.defenses import SCHEDULES, AlphaSchedule
from mlvgm.errors import ConfigError


def test_linear_schedule_is_i_over_l():
    assert AlphaSchedule("linear").resolve(4) == [0.25, 0.5, 0.75, 1.0]


def test_cosine_schedule_matches_formula():
    got = AlphaSchedule("cosine").resolve(5)
    want = [(1 - math.cos(math.pi * i / 5)) / 2 for i in range(1, 6)]
    assert got == pytest.approx(want)
    assert got[-1] == pytest.approx(1.0)


def test_attenuation_scales_every_alpha():
    got = AlphaSchedule("linear", attenuation=0.7).resolve(2)
    assert got == pytest.approx([0.35, 0.7])


def test_constant_and_explicit_schedules():
    assert AlphaSchedule("constant", value=0.3).resolve(3) == pytest.approx([0.3] * 3)
    assert AlphaSchedule("explicit", alphas=[0, 0.5, 1]).resolve(3) == [0, 0.5, 1]


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_registered_schedule_lies_in_unit_interval(name):
    alphas = AlphaSchedule(name).resolve(7)
    assert len(alphas) == 7 and all(0 <= a <= 1 for a in alphas)


def test_explicit_list_of_wrong_length_raises():
    with pytest.raises(ConfigError, match="3 values"):
        AlphaSchedule("explicit", alphas=[0.1, 0.2]).resolve(3)


@pytest.mark.parametrize("alphas", [[0.1, 1.5], [-0.1, 0.2]])
def test_explicit_values_outside_unit_interval_raise(alphas):
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        AlphaSchedule("explicit", alphas=alphas)


def test_unknown_schedule_raises():
    with pytest.raises(ConfigError, match="unknown alpha schedule"):
        AlphaSchedule("quadratic")
