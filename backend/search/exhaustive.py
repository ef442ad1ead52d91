"""Exhaustive search: every configuration (pose hypothesis x active discrete values), each
refined with restarts; the oracle for small spaces in tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import POSE, Candidate, RefineRequest, SearchConfig, SearchContext, config_key

__all__ = ["ExhaustiveConfig", "enumerate_configs", "run_exhaustive"]


@dataclass
class ExhaustiveConfig(SearchConfig):
    max_configs: int = 4096
    """Refuse spaces with more configurations than this."""
    batch: int = 8
    """Configurations refined together per step."""


def enumerate_configs(problem, limit: int) -> list[dict[str, Any]]:
    """All distinct canonical configurations, respecting dependencies (inactive decisions skipped)."""
    order = [POSE] + list(problem.decisions())
    out: dict[tuple, dict[str, Any]] = {}

    def rec(i: int, partial: dict[str, Any]) -> None:
        if len(out) > limit:
            return
        if i == len(order):
            c = problem.canonical(partial)
            out.setdefault(config_key(c), c)
            return
        name = order[i]
        if problem.is_active(name, partial) is False:
            rec(i + 1, partial)
            return
        for v in problem.choices(name):
            rec(i + 1, {**partial, name: v})

    rec(0, {})
    if len(out) > limit:
        raise ValueError(f"the discrete space has more than {limit} configurations; use mcts or ga")
    return list(out.values())


def run_exhaustive(ctx: SearchContext) -> Candidate:
    cfg: ExhaustiveConfig = ctx.config  # type: ignore[assignment]
    configs = enumerate_configs(ctx.problem, cfg.max_configs)
    ctx.pilot()
    for i in range(0, len(configs), cfg.batch):
        ctx.evaluate([RefineRequest(c, None, cfg.refine_steps) for c in configs[i: i + cfg.batch]])
        ctx.report(configs_done=min(i + cfg.batch, len(configs)), configs_total=len(configs))
        if ctx.budget.exhausted(reserve=ctx.config.final_share):
            break
    return ctx.finish()
