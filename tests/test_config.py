from dataclasses import dataclass, field

import pytest

from mlvgm.config import from_mapping, load_yaml, merge, parse_overrides
from mlvgm.errors import ConfigError


@dataclass
class Inner:
    rate: float = 0.1
    names: list[str] = field(default_factory=list)


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    steps: int = 3
    path: str | None = None


def test_nested_mapping_builds_nested_dataclasses_and_coerces_ints_to_floats():
    cfg = from_mapping(Outer, {"inner": {"rate": 1, "names": ["a"]}, "steps": 5})
    assert cfg.inner.rate == 1.0 and isinstance(cfg.inner.rate, float)
    assert cfg.inner.names == ["a"] and cfg.steps == 5


def test_unknown_key_is_named_with_its_section():
    with pytest.raises(ConfigError, match=r"'inner\.rte'"):
        from_mapping(Outer, {"inner": {"rte": 1}})


@pytest.mark.parametrize("data", [{"steps": "many"}, {"steps": 1.5}, {"inner": {"rate": "x"}}])
def test_wrong_types_raise(data):
    with pytest.raises(ConfigError):
        from_mapping(Outer, data)


def test_overrides_parse_yaml_values_into_nested_keys():
    got = parse_overrides(["inner.rate=0.5", "inner.names=[a, b]", "steps=7"])
    assert got == {"inner": {"rate": 0.5, "names": ["a", "b"]}, "steps": 7}
    assert merge({"inner": {"rate": 0.1, "x": 1}}, got)["inner"] == {
        "rate": 0.5,
        "x": 1,
        "names": ["a", "b"],
    }


def test_override_without_equals_raises():
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["steps"])


def test_yaml_errors_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(listy)


def test_exponent_without_a_dot_is_a_float_despite_yaml_1_1():
    # PyYAML reads 3e-3 as the string "3e-3"
    got = parse_overrides(["inner.rate=3e-3"])
    assert got == {"inner": {"rate": "3e-3"}}
    assert from_mapping(Outer, got).inner.rate == pytest.approx(0.003)


@pytest.mark.parametrize("text", ["nan", "inf", "1e", "fast"])
def test_other_strings_stay_errors_for_float_options(text):
    with pytest.raises(ConfigError, match="must be a number"):
        from_mapping(Outer, {"inner": {"rate": text}})


def test_override_below_a_value_and_huge_ints_are_config_errors():
    with pytest.raises(ConfigError, match="steps was given a value, so it has no sub-keys"):
        parse_overrides(["steps=2", "steps.x=1"])
    with pytest.raises(ConfigError, match="must fit in 64 bits"):
        from_mapping(Outer, {"steps": 99999999999999999999})
