"""Monte Carlo Tree Search over the discrete decisions, with gradient refinement (the paper's method).

The tree decides the pose hypothesis first, then the discrete parameters in
dependency order, skipping those that are inactive given the decisions above
them. The pilot's results seed the tree. Each simulation selects a path by UCT
(reward: the best objective seen so far over the node's best, in [0, 1];
max-backup), completes the assignment around the incumbent of the pose it chose
(each remaining decision keeps the best configuration's value under that pose, so
that every facing climbs its own hill; one decision, or more, changes to a value
not yet refined; when the incumbent's every single change is refined, two
decisions change together), and refines the continuous parameters and the pose with
a few batched Adam steps (warm-started when the configuration was seen
before, so revisits keep improving it, else from the most similar refined
configuration). Several simulations run per step and
are evaluated as one batch; virtual visits keep them apart. Each simulated
configuration is refined under every pose hypothesis at once (they share the
program evaluation), and every result is backed up along its own pose's path, so
a pose chosen early on the wrong evidence cannot hide the right one. A configuration whose objective
still falls fast at the end of its refinement, close to the best, is refined again in the next step until it
settles (``chase_fall``): few steps from a neighbour's values understate a right configuration. A final, longer
refinement polishes the best configurations and their rivals facing another way
under the finer objective (:meth:`~backend.search.base.SearchContext.finish`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .base import POSE, Candidate, RefineRequest, SearchConfig, SearchContext, config_key

__all__ = ["MCTSConfig", "run_mcts"]


@dataclass
class MCTSConfig(SearchConfig):
    exploration: float = 0.5
    """UCT exploration constant (rewards are normalised to [0, 1])."""
    simulations_per_step: int = 6
    """Simulations evaluated together as one batch per step."""
    all_poses: bool = True
    """Refine each simulated configuration under every pose hypothesis (one batch, one program
    evaluation) and back each result up its own pose's subtree; otherwise only under the pose the
    tree chose."""
    extra_change: float = 0.35
    """After the rollout's first change, each further decision changes too with this probability (some
    better configurations are two changes away from the incumbent, each change alone being worse)."""
    pose_keep: float = 1.3
    """On a revisit, a configuration's pose hypotheses whose result is worse than this times its best
    pose's are not refined further."""
    pose_prune: float = 2.0
    """A pose hypothesis whose best result over all configurations is worse than this times the best
    pose's is not refined for further configurations (a long bed turned 90 degrees cannot fit it)."""
    rollout_random: float = 0.8
    """A rollout keeps the best configuration's values for the undecided decisions, except that with
    this probability one of them changes (preferably to a value not yet refined with the others'
    values): simulations explore around the incumbent, a few decisions at a time."""
    pose_incumbents: bool = True
    """A rollout starts from the best configuration found under the pose hypothesis the tree chose, not
    from the best one overall: each facing climbs its own hill, so that a cabinet found turned 180 degrees
    early (its back towards the cameras, its front's values arbitrary) does not keep the search away from
    the right facing's front."""


@dataclass
class _Node:
    decided: dict[str, Any]
    depth: int
    visits: int = 0
    best: float = -math.inf  # max-backup of normalised-free raw reward (-objective)
    children: dict[Any, _Node] = field(default_factory=dict)
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
        """The child's reward in [0, 1]: the best objective seen anywhere over the child's best (scale
        free: a child twice as bad as the incumbent scores 0.5)."""
        if child.visits == 0 or not math.isfinite(child.best):
            return 0.0
        obj = -child.best
        if obj <= 0 or self.lo <= 0:
            return 1.0 if obj <= self.lo else 0.0
        return min(1.0, self.lo / obj)

    def uct(self, child: _Node, parent_visits: int) -> float:
        """UCT score of a visited child: its reward plus the exploration bonus."""
        n = child.visits + child.virtual
        return self.q(child) + self.ctx.config.exploration * math.sqrt(math.log(parent_visits + 1) / n)  # type: ignore[attr-defined]

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
            v = max(values, key=lambda v, node=node, n_parent=n_parent: self.uct(node.children[v], n_parent))
            decided = {**decided, name: v}
            node = node.children[v]
            path.append(node)

    def rollout(self, decided: dict[str, Any]) -> dict[str, Any]:
        """Complete a partial assignment around the incumbent: the remaining decisions keep the best
        configuration's values, but one of them (with probability ``rollout_random``) changes, and then
        each further one with probability ``extra_change``, to values whose configuration has not been
        refined yet when there are some; before any result every remaining decision is random."""
        full = dict(decided)
        pos = 0
        incumbent = self.ctx.best_under(decided.get(POSE)) if self.ctx.config.pose_incumbents else None  # type: ignore[attr-defined]
        incumbent = incumbent or self.ctx.best
        base = incumbent.config if incumbent is not None else {}
        flip = self.ctx.random() < self.ctx.config.rollout_random  # type: ignore[attr-defined]
        rest: list[str] = []
        while True:
            pos, name = self.next_decision(full, pos)
            if name is None:
                break
            values = list(self.problem.choices(name))
            full[name] = base[name] if name in base and base[name] in values else self.ctx.choice(values)
            rest.append(name)
        return self._change(full, rest, self._changes(len(rest)), base) if flip and rest else full

    def _changes(self, n: int) -> int:
        """How many of ``n`` decisions a move changes: one, then each further one with probability
        ``extra_change``."""
        changes = 1
        while changes < n and self.ctx.random() < self.ctx.config.extra_change:  # type: ignore[attr-defined]
            changes += 1
        return changes

    def _change(self, full: dict[str, Any], names: list[str], changes: int, base: dict[str, Any]) -> dict[str, Any]:
        """``full`` with ``changes`` of the decisions ``names`` set to other values (preferring changes whose
        configuration has not been refined yet); decisions that the changes activate take ``base``'s
        values (or random ones)."""
        full = dict(full)
        changed: set[str] = set()
        step = 0
        while step < changes:
            step += 1
            # prefer a change the search has not refined yet (the incumbent's unexplored neighbours)
            moves = [(n, v) for n in names if n not in changed for v in self.problem.choices(n) if v != full[n]]
            fresh = [mv for mv in moves if config_key(self.problem.canonical({**full, mv[0]: mv[1]})) not in self.ctx.by_config]
            if not fresh and step == changes and step < len(names) and step < 3:
                # every single change is refined already: go on to pairs (each change alone worse, both
                # together better: a higher bed frame under a thinner mattress)
                changes += 1
            if fresh or moves:
                name, value = self.ctx.choice(fresh or moves)
                full[name] = value
                changed.add(name)
        pos = 0
        while True:
            pos, name = self.next_decision(full, pos)
            if name is None:
                return full
            values = list(self.problem.choices(name))
            full[name] = base[name] if name in base and base[name] in values else self.ctx.choice(values)

    def neighbour(self, config: dict[str, Any]) -> dict[str, Any]:
        """A configuration one decision (and, with probability ``extra_change`` each, more) away from
        ``config``, preferring ones not refined yet (the pose stays)."""
        names = [n for n in self.order[1:] if self.problem.is_active(n, config) is not False]
        return self._change(config, names, self._changes(len(names)), config) if names else config

    def insert(self, config: dict[str, Any], objective: float) -> None:
        """Record an evaluated configuration (e.g. from the pilot) along its full path."""
        node, path, pos = self.root, [self.root], 0
        decided: dict[str, Any] = {}
        while True:
            pos, name = self.next_decision(decided, pos)
            if name is None or name not in config:
                break
            v = config[name]
            decided = {**decided, name: v}
            node = node.children.setdefault(v, _Node(dict(decided), node.depth + 1))
            path.append(node)
        self.backup(path, objective)

    def backup(self, path: list[_Node], objective: float) -> None:
        self.lo = min(self.lo, objective)
        self.hi = max(self.hi, objective)
        for node in path:
            node.visits += 1
            node.best = max(node.best, -objective)


def _live_poses(ctx: SearchContext) -> set[int]:
    """The pose hypotheses whose best result is within ``pose_prune`` times the best one's."""
    cfg: MCTSConfig = ctx.config  # type: ignore[assignment]
    best: dict[int, float] = {}
    for c in ctx.by_config.values():
        k = int(c.config[POSE])
        best[k] = min(best.get(k, math.inf), c.objective)
    if not best:
        return set(range(ctx.problem.pose_hypotheses))
    lo = min(best.values())
    return {k for k in range(ctx.problem.pose_hypotheses) if k not in best or best[k] <= cfg.pose_prune * lo}


def _posed(ctx: SearchContext, config: dict[str, Any], live: set[int] | None = None) -> list[dict[str, Any]]:
    """The pose variants of a simulated configuration to refine: every live pose hypothesis (``live``,
    see :func:`_live_poses`) the first time (with ``all_poses``), afterwards those whose result is
    within ``pose_keep`` times the configuration's best pose (a symmetric object keeps several) and
    that are not saturated (``revisit_steps``); none when every variant is done."""
    cfg: MCTSConfig = ctx.config  # type: ignore[assignment]
    if not cfg.all_poses:
        return [config]
    variants = [ctx.problem.canonical({**config, POSE: k}) for k in range(ctx.problem.pose_hypotheses)
                if live is None or k in live]
    seen = [ctx.by_config.get(config_key(v)) for v in variants]
    done = [c.objective for c in seen if c is not None]
    if not done:
        return variants
    best = min(done)
    return [v for v, c in zip(variants, seen) if c is None or (c.objective <= cfg.pose_keep * best
                                                               and ctx.steps_done.get(c.key, 0) < cfg.revisit_steps)]


def run_mcts(ctx: SearchContext) -> Candidate:
    """Run MCTS within ``ctx``'s budget and return the best candidate (after the final refinement)."""
    cfg: MCTSConfig = ctx.config  # type: ignore[assignment]
    order = [POSE] + list(ctx.problem.decisions())
    tree = _Tree(ctx, order)
    ctx.pilot()
    for cand in ctx.by_config.values():  # the pilot's (or a warm start's) results seed the tree
        tree.insert(cand.config, cand.objective)
    chase: list[RefineRequest] = []
    while not ctx.searched():
        batch: list[tuple[list[_Node], dict[str, Any]]] = []
        live = _live_poses(ctx)
        for _ in range(cfg.simulations_per_step):
            path, decided = tree.select()
            config = ctx.problem.canonical(tree.rollout(decided))
            for _ in range(8):  # a saturated configuration: refine a neighbour instead
                if _posed(ctx, config, live):
                    break
                config = ctx.problem.canonical(tree.neighbour(config))
            for node in path:
                node.virtual += 1
            batch.append((path, config))
        # each distinct discrete configuration of this step, under every pose hypothesis: the poses share
        # one program evaluation, so they cost far less than separate simulations would
        unique: dict[tuple, dict[str, Any]] = {}
        for _, config in batch:
            unique.setdefault(config_key({k: v for k, v in config.items() if k != POSE}), config)
        chased = {config_key(r.config) for r in chase}
        requests = ctx.affordable(chase + [RefineRequest(c, None, cfg.refine_steps) for config in unique.values()
                                           for c in _posed(ctx, config, live) if config_key(c) not in chased])
        for path, _ in batch:
            for node in path:
                node.virtual -= 1
        if not requests:  # every configuration near the incumbent is saturated, or the search's share is spent
            break
        cands = ctx.evaluate(requests)
        for cand in cands:  # back up every result along its own path (its pose's subtree)
            tree.insert(cand.config, cand.objective)
        chase = ctx.chased(cands)
    return ctx.finish()
