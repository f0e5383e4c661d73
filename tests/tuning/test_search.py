"""The search loop and its log: starting schedules, turns, seeding, resume, refusal."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from mlvgm.errors import CheckpointError, ConfigError
from mlvgm.tuning import (
    Evaluation,
    EvaluationLog,
    SearchResult,
    initial_schedules,
    random_alphas,
    search_alphas,
)

L = 3


class Counted:
    """A smooth objective on [0, 1]^L that counts its calls and can fail on the n-th one."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self, alphas: Sequence[float]) -> float:
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt  # stands in for a kill
        return 1.0 - sum((a - 0.6) ** 2 for a in alphas) / len(alphas)


def _log(out: Path, fingerprint: str = "f1", eps: float = 1.5) -> EvaluationLog:
    return EvaluationLog(out, fingerprint, {"eps": eps})


def _search(out: Path, objective: Counted, n_steps: int, **kwargs) -> SearchResult:
    return search_alphas(objective, L, n_steps, _log(out), progress=False, **kwargs)


def test_bo_starts_from_the_five_schedules_and_the_methods_take_turns(tmp_path: Path) -> None:
    result = _search(tmp_path, Counted(), n_steps=2)

    initial = initial_schedules(L)
    assert [e.name for e in result.bo[:5]] == list(initial)
    assert [e.alphas for e in result.bo[:5]] == list(initial.values())
    assert all(e.name == "" for e in result.bo[5:] + result.random)
    assert len(result.bo) == len(result.random) == 7
    lines = [json.loads(line) for line in (tmp_path / "evaluations.jsonl").read_text().splitlines()]
    assert [(r["method"], r["step"]) for r in lines[:4]] == [
        ("bo", 0),
        ("random", 0),
        ("bo", 1),
        ("random", 1),
    ]
    assert {"method", "step", "alphas", "accuracy"} <= set(lines[0])


def test_random_search_draws_are_seeded_and_uniform() -> None:
    assert random_alphas(L, 4, seed=1) == random_alphas(L, 4, seed=1)
    assert random_alphas(L, 4, seed=1) != random_alphas(L, 5, seed=1)
    assert random_alphas(L, 4, seed=1) != random_alphas(L, 4, seed=2)
    draws = [a for step in range(200) for a in random_alphas(L, step)]
    assert min(draws) >= 0 and max(draws) <= 1
    assert abs(sum(draws) / len(draws) - 0.5) < 0.05


def test_bo_beats_its_starting_schedules_on_a_smooth_objective(tmp_path: Path) -> None:
    result = _search(tmp_path, Counted(), n_steps=4, random_search=False)

    assert result.random == []
    assert result.best("bo").step >= 5
    assert result.best().accuracy > max(e.accuracy for e in result.bo[:5])


def test_killed_search_resumes_to_the_same_evaluations(tmp_path: Path) -> None:
    straight = _search(tmp_path / "a", Counted(), n_steps=3)

    killed = Counted(fail_at=12)
    with pytest.raises(KeyboardInterrupt):
        _search(tmp_path / "b", killed, n_steps=3)
    assert len((tmp_path / "b" / "evaluations.jsonl").read_text().splitlines()) == 11
    resumed = Counted()
    again = _search(tmp_path / "b", resumed, n_steps=3)

    assert resumed.calls == 16 - 11
    assert again.bo == straight.bo and again.random == straight.random


def test_raising_n_steps_extends_the_search_without_rescoring(tmp_path: Path) -> None:
    first = _search(tmp_path, Counted(), n_steps=1)
    extension = Counted()
    longer = _search(tmp_path, extension, n_steps=3)

    assert extension.calls == 4
    assert longer.bo[:6] == first.bo and longer.random[:6] == first.random
    shorter = _search(tmp_path, Counted(fail_at=1), n_steps=0)  # nothing left to score
    assert shorter.bo == longer.bo[:5]


def test_half_written_last_line_is_dropped(tmp_path: Path) -> None:
    _search(tmp_path, Counted(), n_steps=0, random_search=False)
    path = tmp_path / "evaluations.jsonl"
    path.write_text(path.read_text() + '{"method": "bo", "st')

    log = _log(tmp_path)
    assert len(log.evaluations) == 5
    assert path.read_text().count("\n") == 5 and path.read_text().endswith("}\n")


def test_corrupt_line_inside_the_log_is_refused(tmp_path: Path) -> None:
    _search(tmp_path, Counted(), n_steps=0, random_search=False)
    path = tmp_path / "evaluations.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "not json", *lines[1:]]) + "\n")

    with pytest.raises(CheckpointError, match="line 2"):
        _log(tmp_path)


def test_folder_of_other_settings_is_refused_naming_folder_and_setting(tmp_path: Path) -> None:
    _search(tmp_path, Counted(), n_steps=0)

    with pytest.raises(CheckpointError, match="eps") as info:
        _log(tmp_path, fingerprint="f2", eps=1.0)
    assert str(tmp_path) in str(info.value)


def test_evaluations_without_config_are_refused(tmp_path: Path) -> None:
    (tmp_path / "evaluations.jsonl").write_text("")
    with pytest.raises(CheckpointError, match=r"config\.json"):
        _log(tmp_path)


def test_log_of_another_latent_count_is_refused(tmp_path: Path) -> None:
    _search(tmp_path, Counted(), n_steps=0)
    with pytest.raises(CheckpointError, match="L = 4"):
        search_alphas(Counted(), 4, 0, _log(tmp_path), progress=False)


def test_n_init_takes_the_first_schedules(tmp_path: Path) -> None:
    result = _search(tmp_path, Counted(), n_steps=1, n_init=2)

    assert [e.name for e in result.bo] == ["cosine", "linear", ""]
    assert len(result.random) == 3
    with pytest.raises(ConfigError, match="n_init"):
        _search(tmp_path / "x", Counted(), n_steps=1, n_init=6)


def test_best_prefers_the_earliest_of_equal_scores() -> None:
    def e(method: str, step: int, accuracy: float) -> Evaluation:
        return Evaluation(method, step, [0.5] * L, accuracy)

    result = SearchResult(
        bo=[e("bo", 0, 0.5), e("bo", 1, 0.7), e("bo", 2, 0.7)],
        random=[e("random", 0, 0.6), e("random", 1, 0.7)],
    )
    assert (result.best().method, result.best().step) == ("bo", 1)
    assert result.best("random").step == 1
    summary = result.summary()
    assert summary["bo"]["best_so_far"] == [0.5, 0.7, 0.7]
    assert summary["random"]["best"]["accuracy"] == 0.7
