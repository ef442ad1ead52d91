"""Coordinate descent over the discrete values and gridded continuous values, with gradient
refinement: the released baseline of the PyTorchGeoNodes reference implementation, kept for
side-by-side comparison.

Starting from the default configuration, each sweep visits the pose hypothesis, every active
discrete parameter and every continuous parameter in turn; it tries all values of the
coordinate (a grid over the range for continuous ones) with the others fixed, refines each
trial briefly, and keeps the best. Sweeps repeat until nothing improves or the budget ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import POSE, Candidate, RefineRequest, SearchConfig, SearchContext

__all__ = ["CDConfig", "run_cd"]


@dataclass
class CDConfig(SearchConfig):
    grid: int = 5
    """Grid points per continuous parameter (over its normalised range)."""


def run_cd(ctx: SearchContext) -> Candidate:
    cfg: CDConfig = ctx.config  # type: ignore[assignment]
    problem = ctx.problem
    order = [POSE] + list(problem.decisions())
    ctx.pilot()
    start = problem.canonical({POSE: 0})
    (best,) = ctx.evaluate([RefineRequest(start, None, cfg.refine_steps)])
    improved = True
    while improved and not ctx.budget.exhausted(reserve=ctx.config.final_share):
        improved = False
        for name in order:
            if ctx.budget.exhausted(reserve=ctx.config.final_share):
                break
            active = problem.is_active(name, best.config)
            if active is False:
                continue
            reqs = []
            for v in problem.choices(name):
                if v == best.config.get(name):
                    continue
                config = problem.canonical({**best.config, name: v})
                init = None if name == POSE else best.state
                reqs.append(RefineRequest(config, init, cfg.refine_steps))
            if reqs:
                cands = ctx.evaluate(reqs)
                top = min(cands, key=lambda c: c.objective)
                if top.objective < best.objective - 1e-9:
                    best, improved = top, True
        dims = int(best.state.z.numel())
        for d in range(dims):
            if ctx.budget.exhausted(reserve=ctx.config.final_share):
                break
            if not problem.continuous_free(best.config, d):
                continue
            reqs = []
            for g in range(cfg.grid):
                s = best.state.clone()
                s.z[d] = (g + 0.5) / cfg.grid
                reqs.append(RefineRequest(best.config, s, max(1, cfg.refine_steps // 3)))
            cands = ctx.evaluate(reqs)
            top = min(cands, key=lambda c: c.objective)
            if top.objective < best.objective - 1e-9:
                best, improved = top, True
    return ctx.finish()
