"""Genetic algorithm over discrete + continuous values with gradient refinement of the elite
(the paper's second search).

Each individual is a full configuration (pose hypothesis + discrete values) with its
continuous state. The first generation is the pilot's results and mutants of the best of them. A generation keeps the elite, breeds children by uniform crossover of
the discrete values (from two tournament-selected parents) and by blending their
continuous states, mutates (re-drawing a decision, jittering the continuous values and
the yaw), and refines elite and children with a few batched Adam steps (an elite member refined
``revisit_steps`` in all keeps its result instead, and children avoid such configurations); an individual whose
objective still falls fast close to the best is refined again in a child's place (``chase_fall``). The
elite keeps the best individual of every pose hypothesis close to the best
(a cabinet turned 180 degrees stays until the finer objective decides), and the
children of a generation are distinct configurations. The final refinement is
the one all methods share (:meth:`~backend.search.base.SearchContext.finish`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .base import POSE, Candidate, RefineRequest, SearchConfig, SearchContext, State, config_key

__all__ = ["GAConfig", "run_ga"]


@dataclass
class GAConfig(SearchConfig):
    population: int = 12
    """Individuals per generation."""
    elite: int = 4
    """Best individuals carried over (and refined further) each generation."""
    mutation_rate: float = 0.2
    """Probability of re-drawing each discrete decision of a child."""
    continuous_noise: float = 0.08
    """Std of the Gaussian jitter of a child's normalised continuous values."""
    tournament: int = 3
    """Tournament size for parent selection."""
    initial_mutation: float = 0.4
    """The first generation are mutants of the pilot's best configuration: each decision re-drawn with
    this probability."""
    facing_niches: bool = True
    """The elite keeps the best individual of every pose hypothesis whose best is within ``rival_margin``
    times the best one's (in place of its worst members): a cabinet's front and its back differ by a few
    centimetres, so the turned individuals must stay in the population until the finer objective decides."""
    fresh_tries: int = 4
    """A child whose configuration another child of its generation has already is mutated again (one
    decision re-drawn, preferring configurations not refined yet) up to this many times: the budget goes to
    distinct configurations."""


def _mutant(ctx: SearchContext, order: list[str], base: dict, rate: float) -> dict:
    """``base`` with each active decision re-drawn at random with probability ``rate`` (a random
    configuration when ``base`` is empty)."""
    config: dict = {}
    for name in order:
        active = ctx.problem.is_active(name, config)
        if active is None or active:
            values = list(ctx.problem.choices(name))
            keep = name in base and base[name] in values and ctx.random() >= rate
            config[name] = base[name] if keep else ctx.choice(values)
    return ctx.problem.canonical(config)


def _tournament(ctx: SearchContext, pop: list[Candidate], k: int) -> Candidate:
    picks = [pop[ctx.randint(len(pop))] for _ in range(k)]
    return min(picks, key=lambda c: c.objective)


def _child(ctx: SearchContext, cfg: GAConfig, order: list[str], a: Candidate, b: Candidate) -> RefineRequest:
    config: dict = {}
    for name in order:
        active = ctx.problem.is_active(name, config)
        if not (active is None or active):
            continue
        src = a if ctx.random() < 0.5 else b
        value = src.config.get(name)
        if value is None or ctx.random() < cfg.mutation_rate:
            value = ctx.choice(list(ctx.problem.choices(name)))
        config[name] = value
    config = ctx.problem.canonical(config)
    w = ctx.random()
    sa, sb = a.state, b.state
    z = (w * sa.z + (1 - w) * sb.z + cfg.continuous_noise * torch.randn(sa.z.shape, generator=ctx.generator)).clamp(0.0, 1.0)
    donor = sa if config.get(POSE) == a.config.get(POSE) else sb
    yaw = donor.yaw + 0.05 * float(torch.randn((), generator=ctx.generator))
    if config.get(POSE) != a.config.get(POSE) and config.get(POSE) != b.config.get(POSE):
        return RefineRequest(config, None, cfg.refine_steps)
    state = State(z, yaw, donor.translation.clone(), donor.log_scale)
    return RefineRequest(config, state, cfg.refine_steps)


def _elite(ctx: SearchContext, cfg: GAConfig, pop: list[Candidate]) -> list[Candidate]:
    """The ``elite`` best of ``pop`` (sorted), with the best of each other pose hypothesis within
    ``rival_margin`` of the best in place of the worst members (``facing_niches``)."""
    elite = pop[: cfg.elite]
    if not cfg.facing_niches or not elite:
        return elite
    limit = elite[0].objective + (cfg.rival_margin - 1.0) * abs(elite[0].objective)
    poses = {int(c.config.get(POSE, 0)) for c in elite}
    niches = []
    for pose in range(ctx.problem.pose_hypotheses):
        best = ctx.best_under(pose)
        if pose not in poses and best is not None and best.objective <= limit:
            niches.append(best)
    niches = sorted(niches, key=lambda c: c.objective)[: max(0, cfg.elite - 1)]
    return elite[: cfg.elite - len(niches)] + niches


def _distinct(ctx: SearchContext, cfg: GAConfig, order: list[str], request: RefineRequest, taken: set) -> RefineRequest:
    """``request``, or when its configuration is ``taken`` (by another request of the generation, or saturated), a
    mutant of it with one decision re-drawn (preferring configurations not refined yet; the continuous state
    stays)."""
    key = config_key(request.config)
    tries = 0
    while key in taken and tries < cfg.fresh_tries:
        tries += 1
        names = [n for n in order if ctx.problem.is_active(n, request.config) is not False]
        moves = [(n, v) for n in names for v in ctx.problem.choices(n) if v != request.config.get(n)]
        if not moves:
            break
        fresh = [mv for mv in moves if config_key(ctx.problem.canonical({**request.config, mv[0]: mv[1]})) not in ctx.by_config]
        name, value = ctx.choice(fresh or moves)
        config = ctx.problem.canonical({**request.config, name: value})
        init = request.init if name != POSE else None
        request = RefineRequest(config, init, request.steps)
        key = config_key(config)
    taken.add(key)
    return request


def run_ga(ctx: SearchContext) -> Candidate:
    cfg: GAConfig = ctx.config  # type: ignore[assignment]
    order = [POSE] + list(ctx.problem.decisions())
    ctx.pilot()
    # the first generation: the pilot's results and mutants of the best of them
    seeds = ctx.top_configs(cfg.population)
    base = ctx.best.config if ctx.best is not None else {}
    fresh = [RefineRequest(_mutant(ctx, order, base, cfg.initial_mutation), None, cfg.refine_steps)
             for _ in range(max(0, cfg.population - len(seeds)))]
    pop = seeds + (ctx.evaluate(fresh) if fresh else [])
    generation = 0
    chase: list[RefineRequest] = []
    while not ctx.searched():
        generation += 1
        pop.sort(key=lambda c: c.objective)
        elite = _elite(ctx, cfg, pop)
        # a saturated elite member keeps its result without another refinement (the final refinement polishes
        # the best), so the generations' budget goes to children; they avoid saturated configurations too
        saturated = {k for k, n in ctx.steps_done.items() if n >= cfg.revisit_steps}
        kept = [c for c in elite if c.key in saturated]
        requests = [RefineRequest(c.config, c.state, cfg.refine_steps) for c in elite if c.key not in saturated]
        taken = {config_key(c.config) for c in elite} | saturated
        # individuals of the last generation still falling fast close to the best go on in their children's place
        chase = [r for r in chase if config_key(r.config) not in taken]
        requests += chase
        taken |= {config_key(r.config) for r in chase}
        n_children = max(0, cfg.population - len(elite) - len(chase))
        for _ in range(n_children):
            a = _tournament(ctx, pop, cfg.tournament)
            b = _tournament(ctx, pop, cfg.tournament)
            requests.append(_distinct(ctx, cfg, order, _child(ctx, cfg, order, a, b), taken))
        requests = ctx.affordable(requests)  # the elite first: a generation the search's share cuts short keeps it
        if not requests:
            break
        pop = kept + ctx.evaluate(requests)
        chase = ctx.chased(pop)
        ctx.report(generation=generation)
        if not math.isfinite(min(c.objective for c in pop)):
            break
    return ctx.finish()
