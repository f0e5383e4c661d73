"""Bayesian optimisation of the alphas against a random-search baseline, resumable.

BO scores the starting schedules of :func:`~mlvgm.tuning.bayesian.initial_schedules`,
then ``n_steps`` vectors proposed one at a time by
:func:`~mlvgm.tuning.bayesian.propose_alphas`. Random search scores as many vectors
drawn uniformly from [0, 1]^L, the ``i``-th from its own seed. The two methods
take turns, so a search stopped early has compared them on equal budgets.

Every proposal depends only on the evaluations before it and on seeds derived
from ``(seed, step)``, so a resumed search proposes what an uninterrupted one
would have (up to the floating-point determinism of the GP fit).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm

from mlvgm.errors import CheckpointError, ConfigError
from mlvgm.tuning._log import Evaluation, EvaluationLog
from mlvgm.tuning.bayesian import initial_schedules, propose_alphas

METHODS = ("bo", "random")

Objective = Callable[[Sequence[float]], float]
"""Maps L alphas in [0, 1] to a score to maximise."""


@dataclass(frozen=True)
class SearchResult:
    """The evaluations of both methods, each in step order.

    Attributes:
        bo: Bayesian optimisation's evaluations; the first ``n_init`` are the starting schedules.
        random: random search's evaluations (empty when it was switched off).
    """

    bo: list[Evaluation]
    random: list[Evaluation]

    def best(self, method: str | None = None) -> Evaluation:
        """The highest-scoring evaluation of ``method`` (both if ``None``), earliest on ties.

        Raises:
            ConfigError: if that method has no evaluations.
        """
        pool = self.bo + self.random if method is None else getattr(self, method)
        if not pool:
            raise ConfigError(f"the search holds no {method + ' ' if method else ''}evaluations")
        return max(pool, key=lambda e: (e.accuracy, -e.step, e.method == "bo"))

    def summary(self) -> dict[str, Any]:
        """The plain-dict form written to ``search.json``: bests, starting schedules, all."""
        out: dict[str, Any] = {
            "best": _brief(self.best()),
            "initial_schedules": {e.name: _brief(e) for e in self.bo if e.name},
        }
        for method in METHODS:
            evaluations = getattr(self, method)
            out[method] = {
                "n_evaluations": len(evaluations),
                "best": _brief(self.best(method)) if evaluations else None,
                "best_so_far": best_so_far([e.accuracy for e in evaluations]),
                "evaluations": [e.to_json() for e in evaluations],
            }
        return out


def random_alphas(n_latents: int, step: int, seed: int = 0) -> list[float]:
    """Random search's ``step``-th vector: L values uniform on [0, 1], seeded by (seed, step)."""
    generator = torch.Generator().manual_seed(seed * 100_003 + step)
    return torch.rand(n_latents, generator=generator, dtype=torch.float64).tolist()


def best_so_far(scores: Sequence[float]) -> list[float]:
    """The running maximum of ``scores``."""
    out: list[float] = []
    for score in scores:
        out.append(max(score, out[-1]) if out else score)
    return out


def search_alphas(
    objective: Objective,
    n_latents: int,
    n_steps: int,
    log: EvaluationLog,
    random_search: bool = True,
    seed: int = 0,
    progress: bool = True,
    n_init: int = 5,
) -> SearchResult:
    """Run (or finish) the search, scoring only what ``log`` does not hold yet.

    Args:
        objective: maps L alphas to the score to maximise.
        n_latents: L.
        n_steps: BO steps after the starting schedules; random search gets
            ``n_init + n_steps`` evaluations. Raising it extends an earlier search.
        log: the folder's evaluations; new ones are appended to it as they are scored.
        random_search: also run the random-search baseline.
        seed: seeds BO's acquisition optimiser and random search's draws.
        progress: show a progress bar over the evaluations.
        n_init: how many of the five starting schedules BO scores first, in the
            order of :func:`~mlvgm.tuning.bayesian.initial_schedules`.

    Returns:
        Both methods' first ``n_init + n_steps`` evaluations (a log of a longer earlier
        search keeps its later evaluations, which are left out here).

    Raises:
        ConfigError: if ``n_steps`` is negative or ``n_init`` is not in 1..5.
        CheckpointError: if the log's evaluations do not fit this search (another
            L, another starting point, an unknown method).
    """
    if n_steps < 0:
        raise ConfigError(f"n_steps must not be negative, got {n_steps}")
    initial = list(initial_schedules(n_latents).items())
    if not 1 <= n_init <= len(initial):
        raise ConfigError(f"n_init must lie in 1..{len(initial)}, got {n_init}")
    initial = initial[:n_init]
    n_total = len(initial) + n_steps
    done = _index(log, n_latents, initial)
    methods = METHODS if random_search else METHODS[:1]
    todo = [(m, i) for i in range(n_total) for m in methods if (m, i) not in done]

    planned = n_total * len(methods)
    bar = tqdm(
        total=planned, initial=planned - len(todo), desc="alpha search", disable=not progress
    )
    for method, step in todo:
        name = ""
        if method == "random":
            alphas = random_alphas(n_latents, step, seed)
        elif step < len(initial):
            name, alphas = initial[step]
        else:
            # every earlier BO step is done: the loop visits steps in order
            history = [done["bo", j] for j in range(step)]
            train_x = torch.tensor([e.alphas for e in history], dtype=torch.float64)  # (n, L)
            train_y = torch.tensor([e.accuracy for e in history], dtype=torch.float64)  # (n,)
            alphas = propose_alphas(train_x, train_y, seed=seed * 100_003 + step).tolist()

        started = time.perf_counter()
        accuracy = float(objective(alphas))
        seconds = round(time.perf_counter() - started, 3)
        evaluation = Evaluation(method, step, alphas, accuracy, name, seconds)
        log.append(evaluation)
        done[method, step] = evaluation
        bar.update(1)
        bar.set_postfix(_best_line(done))
    bar.close()

    bo = [done["bo", i] for i in range(n_total)]
    random = [done["random", i] for i in range(n_total) if ("random", i) in done]
    return SearchResult(bo=bo, random=random)


def _index(
    log: EvaluationLog, n_latents: int, initial: list[tuple[str, list[float]]]
) -> dict[tuple[str, int], Evaluation]:
    """The log's evaluations by ``(method, step)``, checked against this search."""
    done: dict[tuple[str, int], Evaluation] = {}
    for e in log.evaluations:
        if e.method not in METHODS or len(e.alphas) != n_latents:
            raise CheckpointError(
                f"{log.path} holds an evaluation of method {e.method!r} with "
                f"{len(e.alphas)} alphas; this search has methods {METHODS} and L = {n_latents}"
            )
        if e.method == "bo" and e.step < len(initial) and e.name != initial[e.step][0]:
            raise CheckpointError(
                f"{log.path}: BO step {e.step} scored {e.name!r}, expected {initial[e.step][0]!r}"
            )
        done[e.method, e.step] = e
    for method in METHODS:
        steps = sorted(step for m, step in done if m == method)
        if steps != list(range(len(steps))):
            raise CheckpointError(f"{log.path} misses some of the {method} steps {steps}")
    return done


def _best_line(done: dict[tuple[str, int], Evaluation]) -> dict[str, str]:
    """Best score per method so far, for the progress bar."""
    line = {}
    for method in METHODS:
        scores = [e.accuracy for (m, _), e in done.items() if m == method]
        if scores:
            line[method] = f"{max(scores):.3f}"
    return line


def _brief(e: Evaluation) -> dict[str, Any]:
    return {"method": e.method, "step": e.step, "alphas": e.alphas, "accuracy": e.accuracy}
