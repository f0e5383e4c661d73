"""Learning the alphas: Bayesian optimisation of the purifier's re-sampling schedule.

The objective is the EoT accuracy of ``Purifier(mlvgm, classifier, alphas)`` on
a fixed set of training-split images made adversarial by single-step L2-FGSM
against the reconstruction-only defence (:func:`adversarial_set`,
:class:`EoTAccuracy`). A GP with Expected Improvement (BoTorch) searches
[0, 1]^L from the cosine, linear, all-0.5, 1-linear and 1-cosine schedules
(:func:`propose_alphas`, :func:`search_alphas`); random search over the same
number of vectors is the baseline. ``mlvgm tune-alphas`` runs it all and writes
the best vector as a config.

Known shortcomings, and their effect:

- The adversarial images are made once, against alphas = 0, and scored under
  every candidate: a transfer attack, not an adaptive one. The search rewards
  schedules that undo this particular perturbation; their robustness against
  an attack that differentiates through them (``mlvgm evaluate``) is lower and
  must be measured there, on the test split.
- The objective has no clean-accuracy term. A schedule that re-samples much
  loses clean accuracy, which the adversarial score only partly reflects.
- The score is a fraction of N images, so differences below about
  ``sqrt(p (1 - p) / N)`` (about 0.02 at N = 500) are noise; the GP models
  that noise, but the reported best is the best observed score, which
  overestimates the chosen vector's true score (winner's curse).
"""

from mlvgm.tuning._log import Evaluation, EvaluationLog
from mlvgm.tuning.adversarial import (
    AdversarialSet,
    adversarial_set,
    load_adversarial_set,
    save_adversarial_set,
)
from mlvgm.tuning.bayesian import initial_schedules, propose_alphas
from mlvgm.tuning.objective import EoTAccuracy
from mlvgm.tuning.search import SearchResult, best_so_far, random_alphas, search_alphas

__all__ = [
    "AdversarialSet",
    "EoTAccuracy",
    "Evaluation",
    "EvaluationLog",
    "SearchResult",
    "adversarial_set",
    "best_so_far",
    "initial_schedules",
    "load_adversarial_set",
    "propose_alphas",
    "random_alphas",
    "save_adversarial_set",
    "search_alphas",
]
