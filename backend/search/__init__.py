"""Search methods over a program's discrete and continuous parameters and the object's pose.

``mcts`` (the paper's method), ``ga`` (its second version: a genetic algorithm), ``cd``
(the reference implementation's released baseline: coordinate descent) and ``exhaustive``
(the oracle for small spaces) share :mod:`backend.search.base` and the batched refinement
in :mod:`backend.search.refine`. :data:`METHODS` maps a method's name to its config class
and runner; :func:`run_search` runs one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from .base import Budget, Candidate, Problem, Progress, SearchConfig, SearchContext
from .coordinate_descent import CDConfig, run_cd
from .exhaustive import ExhaustiveConfig, run_exhaustive
from .genetic import GAConfig, run_ga
from .mcts import MCTSConfig, run_mcts

__all__ = ["METHODS", "Method", "run_search"]


class Method(NamedTuple):
    config: type[SearchConfig]
    run: Callable[[SearchContext], Candidate]


METHODS: dict[str, Method] = {
    "mcts": Method(MCTSConfig, run_mcts),
    "ga": Method(GAConfig, run_ga),
    "cd": Method(CDConfig, run_cd),
    "exhaustive": Method(ExhaustiveConfig, run_exhaustive),
}


def run_search(problem: Problem, method: str, config: SearchConfig | None = None, budget: Budget | None = None,
               seed: int = 0, progress: Progress | None = None) -> tuple[Candidate, SearchContext]:
    """Run search ``method`` on ``problem`` (default config and a 60 s budget unless given); returns the
    best candidate and the search's context (its history, every refined configuration)."""
    if method not in METHODS:
        raise ValueError(f"unknown search method {method!r} (choose from {', '.join(METHODS)})")
    spec = METHODS[method]
    ctx = SearchContext(problem, config or spec.config(), budget or Budget(60.0), seed, progress, method)
    return spec.run(ctx), ctx
