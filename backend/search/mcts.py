"""Monte Carlo Tree Search over the discrete decisions, with gradient refinement (the paper's method).

The tree decides the pose hypothesis first, then the discrete parameters in
dependency order, skipping those that are inactive given the decisions above
them. Each simulation selects a path by UCT (rewards normalised to [0, 1] by
the best and worst objectives seen so far; max-backup), completes the
assignment at random, and refines the continuous parameters and the pose with
a few batched Adam steps (warm-started when the configuration was seen
before, so revisits keep improving it). Several simulations run per step and
are evaluated as one batch; virtual visits keep them apart. A final, longer
refinement polishes the best configurations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .base import POSE, Candidate, Progress, RefineRequest, SearchConfig, SearchContext, config_key

__all__ = ["MCTSConfig", "run_mcts", "mcts"]


@dataclass
class MCTSConfig(SearchConfig):
    exploration: float = 0.5
    """UCT exploration constant (rewards are normalised to [0, 1])."""
    simulations_per_step: int = 6
    """Simulations evaluated together as one batch per step."""


@dataclass
class _Node:
    decided: dict[str, Any]
    depth: int
    visits: int = 0
    best: float = -math.inf  # max-backup of normalised-free raw reward (-objective)
    children: dict[Any, "_Node"] = field(default_factory=dict)
    virtual: int = 0


class _Tree:
    def __init__(self, ctx: SearchContext, order: list[str]):
        self.ctx = ctx
        self.problem = ctx.problem
        self.order = order
        self.root = _Node({}, 0)
        self.lo = math.inf  # best objective seen
        self.hi = -math.inf  # worst objective seen

    def next_decision(self, decided: dict[str, Any], start: int) -> tuple[int, str | None]:
        """Index and name of the next active decision at or after ``start``."""
        for i in range(start, len(self.order)):
            name = self.order[i]
            if name in decided:
                continue
            active = self.problem.is_active(name, decided)
            if active is None or active:
                return i, name
        return len(self.order), None

    def q(self, child: _Node) -> float:
        if child.visits == 0 or not math.isfinite(child.best):
            return 0.0
        span = self.hi - self.lo
        obj = -child.best
        return 1.0 if span <= 0 else (self.hi - obj) / span

    def select(self) -> tuple[list[_Node], dict[str, Any]]:
        node = self.root
        path = [node]
        decided: dict[str, Any] = {}
        pos = 0
        while True:
            pos, name = self.next_decision(decided, pos)
            if name is None:
                return path, decided
            values = list(self.problem.choices(name))
            untried = [v for v in values if v not in node.children or node.children[v].visits + node.children[v].virtual == 0]
            if untried:
                v = self.ctx.choice(untried)
                child = node.children.get(v)
                if child is None:
                    child = node.children[v] = _Node({**decided, name: v}, node.depth + 1)
                decided = {**decided, name: v}
                path.append(child)
                return path, decided  # expansion: the rest is a random rollout
            n_parent = max(1, node.visits + node.virtual)
            c = self.ctx.config.exploration  # type: ignore[attr-defined]

            def uct(v: Any) -> float:
                ch = node.children[v]
                n = ch.visits + ch.virtual
                return self.q(ch) + c * math.sqrt(math.log(n_parent + 1) / n)

            v = max(values, key=uct)
            decided = {**decided, name: v}
            node = node.children[v]
            path.append(node)

    def rollout(self, decided: dict[str, Any]) -> dict[str, Any]:
        full = dict(decided)
        pos = 0
        while True:
            pos, name = self.next_decision(full, pos)
            if name is None:
                return full
            full[name] = self.ctx.choice(list(self.problem.choices(name)))

    def backup(self, path: list[_Node], objective: float) -> None:
        self.lo = min(self.lo, objective)
        self.hi = max(self.hi, objective)
        for node in path:
            node.visits += 1
            node.best = max(node.best, -objective)


def run_mcts(ctx: SearchContext) -> Candidate:
    """Run MCTS within ``ctx``'s budget and return the best candidate (after the final refinement)."""
    cfg: MCTSConfig = ctx.config  # type: ignore[assignment]
    order = [POSE] + list(ctx.problem.decisions())
    tree = _Tree(ctx, order)
    ctx.pilot()
    while not ctx.budget.exhausted(reserve=0.2):
        batch: list[tuple[list[_Node], dict[str, Any]]] = []
        for _ in range(cfg.simulations_per_step):
            path, decided = tree.select()
            config = ctx.problem.canonical(tree.rollout(decided))
            for node in path:
                node.virtual += 1
            batch.append((path, config))
        # one request per distinct configuration in this step
        unique: dict[tuple, dict[str, Any]] = {}
        for _, config in batch:
            unique.setdefault(config_key(config), config)
        requests = [RefineRequest(config, None, cfg.refine_steps) for config in unique.values()]
        cands = ctx.evaluate(requests)
        result = {c.key: c for c in cands}
        for path, config in batch:
            for node in path:
                node.virtual -= 1
            tree.backup(path, result[config_key(config)].objective)
    return ctx.finish()


def mcts(problem, config: MCTSConfig | None = None, progress: Progress | None = None) -> tuple[Candidate, SearchContext]:
    ctx = SearchContext(problem, config or MCTSConfig(), progress, "mcts")
    return run_mcts(ctx), ctx
