"""What every search method shares: the problem interface, settings, budgets, and the search context (the
candidates found, progress reports, the pilot; its final refinement is :mod:`backend.search.final`).

A *configuration* is a full discrete assignment: the pose hypothesis index
(key ``POSE``) plus a value for every discrete parameter (inactive ones at
their defaults, so equal configurations compare equal). A :class:`Candidate`
adds the continuous state found for it by gradient refinement (the vocabulary: :mod:`backend.search.types`,
re-exported here).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import torch

from .final import FinalRefinement
from .types import POSE, Candidate, Moments, RefineRequest, State, config_key, quarter_turns

__all__ = [
    "POSE",
    "Budget",
    "Candidate",
    "Moments",
    "Problem",
    "Progress",
    "RefineRequest",
    "SearchConfig",
    "SearchContext",
    "State",
    "StopFlag",
    "config_key",
    "quarter_turns",
]


class Problem(Protocol):
    """The fitting problem as the search methods see it (implemented by :class:`backend.problem.FitProblem`).

    Optionally also ``turn_symmetric(config, state, quarter_turns) -> bool``: whether a candidate's shape
    looks the same turned by ``quarter_turns`` x 90 degrees about +Z (the final refinement then leaves out
    its turned copy as a rival facing); and ``duel(a, b) -> float``: how much worse candidate ``a`` explains
    the observations than ``b`` where their shapes differ (> 0: ``b`` is better), which decides between the
    final refinement's close candidates (:meth:`SearchContext.decide`); and ``footprint(config) -> (4,)``:
    the extents (min x, max x, min y, max y, metres) of a configuration's shape at the default continuous
    values, which choose the pilot's variants (:meth:`SearchContext.pilot_variants`)."""

    pose_hypotheses: int

    def decisions(self) -> list[str]:
        """Discrete parameter names the search decides, in dependency order (locked ones excluded)."""

    def choices(self, name: str) -> Sequence[Any]:
        """Values of a decision (``POSE``: hypothesis indices)."""

    def is_active(self, name: str, partial: dict[str, Any]) -> bool | None:
        """Whether decision ``name`` matters given the decided values; None when not yet known."""

    def canonical(self, config: dict[str, Any]) -> dict[str, Any]:
        """A full configuration with inactive parameters at their defaults and locks applied."""

    def continuous_free(self, config: dict[str, Any], d: int) -> bool:
        """Whether continuous dimension ``d`` is active and unlocked under ``config``."""

    def refine(self, requests: list[RefineRequest], fine: bool = False,
               should_stop: Callable[[], bool] | None = None) -> list[Candidate]:
        """Batched gradient refinement; one candidate per request, in order (its ``refine_steps``: the
        steps taken). ``fine``: under the finer objective that decides between the best configurations
        at the end (its values are not comparable with the search's). ``should_stop`` is asked before
        every step; True ends the refinement with what it reached."""


@dataclass
class SearchConfig:
    """Settings every search method shares (the budget and the seed are the fit's, see :class:`Budget`)."""

    refine_steps: int = 15
    """Adam steps per candidate evaluation during the search."""
    final_share: float = 0.2
    """Share of the budget kept for the final refinement."""
    final_steps: int = 150
    """Adam steps (at most) of the final refinement of the best candidates."""
    final_candidates: int = 4
    """How many of the best distinct discrete configurations (each under its best pose) get the final
    refinement."""
    fine_final: bool = True
    """The final refinement runs under the problem's finer objective, which then decides: near-ties of
    the search's objective are often details a few centimetres across that it does not resolve."""
    fine_probe_steps: int = 15
    """Adam steps of the final refinement's first round over all its configurations; the better half
    of them get the rest of the budget (whose size the first round's time gives). With room to spare the
    first round goes on to ``probe_share`` of the room left, at most a third of ``final_steps``."""
    probe_share: float = 0.3
    """See ``fine_probe_steps``: after so few steps the finer objective's ranking is not yet the converged one
    (seed 1498's table #0: its true square legs 13 % behind round ones after 15 steps, 22 % ahead at the end)."""
    settle_share: float = 0.2
    """mcts and ga: the search phase ends early, its budget left to the final refinement, when its
    ``final_candidates`` leading configurations and its best objective (within 1 %) have not changed for this
    share of the budget (:meth:`SearchContext.searched`): the close decision between them is refined further
    instead of exploring more. 0 turns it off."""
    starts: int = 2
    """Starts refined side by side for a configuration seen for the first time (the best is kept): the
    most similar refined configuration's values when there is one, then the defaults, then random
    values."""
    revisit_steps: int = 60
    """A configuration (under one pose) refined this many Adam steps in all is saturated: the search does
    not refine it again (the final refinement polishes the best ones). A simulation of mcts that reaches one
    refines a neighbour not yet saturated instead; a saturated member of ga's elite keeps its result without
    another refinement, and a child landing on a saturated configuration is mutated again. The budget goes to
    configurations not yet seen."""
    pilot_steps: int = 30
    """Adam steps of the pilot: before the search, the default configuration is refined under every
    pose hypothesis (one batch), so that later configurations start from its continuous values."""
    pilot_variant_steps: int = 8
    """Adam steps of the pilot's second batch: the default configuration with one always-active decision
    changed (each other value), under every pose hypothesis. Which pose fits depends on such a decision: a
    sofa with a chaise makes the footprint L-shaped, and a plain sofa turned by 90 degrees covers part of it
    better than one facing the right way, so without it the right pose is pruned before a chaise on the right
    side is ever tried there. 0 turns it off."""
    pilot_footprint: float = 0.25
    """Only the pilot variants whose footprint (extents seen from above at the default continuous values,
    ``Problem.footprint``) differs from the default's by more than this (metres) are tried: the library
    sofa's chaise (30 cm), not the table's round top (20 cm) or the chair's star base (8 cm), whose variants
    cost a table its top shape on tuning seed 7 (a threshold from two tuning seeds: fragile)."""
    rival_margin: float = 1.3
    """The final refinement also takes the best configurations found facing another way than the best one
    (turned 180 degrees, or 90 for a square-ish object) whose objective is within this factor of the best's:
    under the search's coarse objective a cabinet's back and its front differ by a few centimetres (handles,
    a recessed plinth, the top's overhang), so the finer objective decides which way it faces."""
    rival_candidates: int = 2
    """How many of the best distinct configurations of each rival facing (see ``rival_margin``) enter the
    final refinement."""
    final_jitter: int = 2
    """Copies of the best candidate, its continuous values and yaw jittered (``jitter_noise``,
    ``jitter_yaw``), refined beside it in the final refinement when the budget has room beyond the
    survivors' ``final_steps`` (the genetic search's continuous moves: a square table 20 degrees off, a
    part stuck at a wrong size, leave a basin Adam alone stays in)."""
    final_restart: bool = True
    """When the budget has room beyond the survivors' steps (as for ``final_jitter``, and first), a copy of the best
    candidate with its continuous values back at the program's defaults and its pose kept is refined beside it in
    the final refinement: two lengths that trade against each other (a bed's frame height and its mattress's
    thickness) leave a basin no small jitter leaves."""
    jitter_noise: float = 0.05
    """Standard deviation of a jittered copy's normalised continuous values (see ``final_jitter``)."""
    jitter_yaw: float = 0.2
    """Standard deviation (radians) of a jittered copy's yaw (see ``final_jitter``)."""
    close_margin: float = 0.05
    """After each round of the final refinement, the configurations within this fraction of the best one's
    finer objective stay in it (a close decision is refined further, not left to the first round); the rest
    drop out."""
    first_margin: float = 0.10
    """The candidates within this fraction of the best after the final refinement's first round (equal steps
    for all, ``fine_probe_steps``) stay in it, beside those within ``close_margin`` after the polish: after so few
    steps a gap of several percent does not yet say which one refines better (the demo's cabinet: its true plinth
    7.4 % behind legs after 15 steps, 24 % ahead of them at the truth)."""
    polish_rounds: int = 3
    """Rounds of the final refinement's polish: after its first round, the leader's one-change neighbours (each
    decision active in its configuration set to each other value; a count to the values next to it), started
    from the leader's continuous values and pose, get the first round's steps under the finer objective; those
    close to the best stay in the final refinement, and when one beats the leader the next round polishes the
    new leader. The search's short refinements under the coarse objective leave a cabinet's front (doors or
    drawers, their number) a few percent from the truth, too close for the search to rank them (cabinets of
    seed 1563: the truth scored 3-15 % better than the search's choice, never refined alike). 0 turns it off."""
    polish_share: float = 0.35
    """At most this share of the final refinement's room (Adam steps after its first round) goes to each round of
    the polish (``polish_rounds``), of the room the rounds before it left; neighbours beyond it are left out, in
    the order of :meth:`~backend.search.final.FinalRefinement.neighbours`."""
    pair_changes: int = 4
    """When the polish (``polish_rounds``) ends with no neighbour better than the leader, the pairs of the changes
    of its best this many neighbours are refined alike (changes worse alone can win together: arm style and seat
    cushions share a sofa's width). 0 or 1 turns it off."""
    chase_fall: float = 0.03
    """mcts and ga: a configuration whose objective still fell by more than this fraction over the last third of
    its latest refinement (``Candidate.falling``: not converged) and that is within ``chase_margin`` times the best
    objective is refined again in the next step, until it settles or is saturated (``revisit_steps``). Refined
    from a neighbour's values, a right configuration needs 45-60 steps to show its worth: tuning seed 7's table
    #2, its true configuration at 1.7 times the incumbent's objective after the search's 15 steps and still
    falling (8 % over the last 5), below it after 60; judged by its first 15 it was never refined again. 0 turns
    it off."""
    chase_margin: float = 2.0
    """See ``chase_fall``."""
    duels: bool = False
    """The final refinement's candidates within ``close_margin`` of the best and facing its way meet in a
    round-robin of duels on the evidence that tells each pair apart (the scan points near one and not the other, the surface one
    has and the other lacks: a handle, a drawer's seam, an open front), and the one with the most wins is
    returned (ties: the better objective). On the whole object such details are drowned in the noise of the
    points both explain equally well. Off by default: on the
    demo's sofa (sample_scenes/scenes/sofa_s4, mcts, 35 s) the duels returned 1 seat cushion instead of the true 4
    (5/5 discrete values right without them, 4/5 with), and on the tuning seeds they changed no result."""
    duel_margin: float = 5e-5
    """A duel is won only by more than this (metres x share of the evidence: ``Problem.duel``); closer
    ones are draws."""
    duel_candidates: int = 4
    """At most this many of the close candidates (the best by objective) enter the duels."""


Progress = Callable[[dict[str, Any]], None]


class StopFlag(Protocol):
    """A stop request: :class:`threading.Event`, a multiprocessing Event, a job's cancel flag."""

    def is_set(self) -> bool: ...


class Budget:
    """A search's limits: wall-clock seconds from its creation (create it when the fit starts, so that
    setting up counts too), optionally objective evaluations (candidates x Adam steps: when they bind, a
    seed gives the same result on any machine), and a stop request (``stop``: anything with ``is_set()``,
    such as a :class:`threading.Event` set by a signal handler or a job's cancel)."""

    def __init__(self, seconds: float, max_evaluations: int | None = None, stop: StopFlag | None = None):
        if seconds is None or not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"the budget must be a positive number of seconds, got {seconds}")
        self.seconds = float(seconds)
        self.max_evaluations = max_evaluations
        self.stop = stop
        self.start = time.perf_counter()
        self.evaluations = 0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @property
    def stopped(self) -> bool:
        """Whether a stop was requested."""
        return self.stop is not None and bool(self.stop.is_set())

    def deadline(self, reserve: float = 0.0) -> float:
        """The ``time.perf_counter()`` time at which only ``reserve`` (a fraction of the budget) is left."""
        return self.start + self.seconds * (1.0 - reserve)

    def fraction(self) -> float:
        f = self.elapsed / self.seconds
        if self.max_evaluations:
            f = max(f, self.evaluations / self.max_evaluations)
        return f

    def exhausted(self, reserve: float = 0.0) -> bool:
        """True when a stop was requested or less than ``reserve`` (a fraction of the budget) is left."""
        return self.stopped or self.fraction() >= 1.0 - reserve


class SearchContext(FinalRefinement):
    """Budget, randomness, the best candidates found and progress reporting for one search run."""

    def __init__(self, problem: Problem, config: SearchConfig, budget: Budget, seed: int = 0,
                 progress: Progress | None = None, method: str = ""):
        self.problem = problem
        self.config = config
        self.budget = budget
        self.generator = torch.Generator().manual_seed(seed)
        self.progress = progress
        self.method = method
        self.step = 0
        self.best: Candidate | None = None
        self.by_config: dict[tuple, Candidate] = {}
        self.finals: dict[tuple, Candidate] = {}
        """The final refinement's results (under the finer objective with ``fine_final``)."""
        self.steps_done: dict[tuple, int] = {}
        """Adam steps spent on each configuration (pose included) so far, all refinements together."""
        self.history: list[tuple[float, float, str]] = []
        """``(seconds, best objective, phase)`` after every evaluation; phase ``"search"``, or ``"final"`` for
        the final refinement under the finer objective (its values are on another scale)."""
        self.phase_seconds: dict[str, float] = {}
        """Seconds spent refining in each phase: ``pilot``, ``search`` and ``final``."""
        self.best_by_pose: dict[int, Candidate] = {}
        """The best candidate of the search (not the final refinement) under each pose hypothesis."""
        self.leaders: tuple[tuple, ...] = ()
        """The keys of the search's :meth:`leading` configurations, and from when (:meth:`searched`)."""
        self.leaders_best, self.leaders_since = math.inf, 0.0
        self.duel_record: dict[str, Any] | None = None
        """The final decision's duels (:meth:`decide`) when there were any: the close candidates'
        configurations, their wins and the winner's index."""

    def random(self) -> float:
        return float(torch.rand((), generator=self.generator))

    def randint(self, n: int) -> int:
        return int(torch.randint(n, (), generator=self.generator))

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[self.randint(len(seq))]

    def donor(self, config: dict[str, Any]) -> Candidate | None:
        """The refined candidate whose discrete values differ from ``config``'s in the fewest decisions
        (ties: the better objective), or None before any."""
        best, best_key = None, None
        for c in self.by_config.values():
            diff = sum(1 for k, v in config.items() if k != POSE and c.config.get(k) != v)
            key = (diff, c.objective)
            if best_key is None or key < best_key:
                best, best_key = c, key
        return best

    def pilot(self) -> None:
        """Refine the default configuration under every pose hypothesis for ``pilot_steps`` (skipped when
        candidates exist already, e.g. from a warm start); then, with ``pilot_variant_steps``, every
        configuration that differs from the default in one always-active decision, under every pose
        hypothesis, for that many steps (:meth:`pilot_variants`)."""
        if self.by_config or self.config.pilot_steps <= 0:
            return
        base = self.problem.canonical({POSE: 0})
        self.evaluate([RefineRequest({**base, POSE: k}, None, self.config.pilot_steps)
                       for k in range(self.problem.pose_hypotheses)], phase="pilot")
        variants = self.pilot_variants()
        if variants and self.config.pilot_variant_steps > 0:
            self.evaluate([RefineRequest({**v, POSE: k}, None, self.config.pilot_variant_steps)
                           for v in variants for k in range(self.problem.pose_hypotheses)], phase="pilot")

    def pilot_variants(self) -> list[dict[str, Any]]:
        """The default configuration with one always-active decision (active whatever the others are) set to
        each of its other values, in decision order; when the problem has ``footprint(config)`` (the extents
        of the configuration's shape seen from above at the default continuous values), only those whose
        footprint differs from the default's by more than ``pilot_footprint`` (a sofa's chaise on either side,
        not its cushions or a cabinet's front: which pose fits depends on the outline)."""
        base = self.problem.canonical({POSE: 0})
        footprint = getattr(self.problem, "footprint", None)
        ref = footprint(base) if footprint is not None else None
        out: list[dict[str, Any]] = []
        for name in self.problem.decisions():
            if self.problem.is_active(name, {}) is not True:
                continue
            for value in self.problem.choices(name):
                if value == base[name]:
                    continue
                v = self.problem.canonical({**base, name: value})
                if ref is not None and max(abs(a - b) for a, b in zip(footprint(v), ref, strict=True)) <= self.config.pilot_footprint:
                    continue
                out.append(v)
        return out

    def evaluate(self, requests: list[RefineRequest], fine: bool = False, phase: str | None = None) -> list[Candidate]:
        """Refine a batch of requests, warm-starting configurations seen before (and new ones from the
        most similar refined configuration), and record the results. ``fine``: under the finer
        objective; the results go to ``finals`` and, their values not being comparable with the
        search's, only they compete for ``best`` from then on.

        Refinements end early at the phase's deadline (the search's leaves ``final_share`` of the budget
        to the final refinement) or when a stop is requested, keeping what they reached; the steps
        actually taken are counted. ``phase`` names the phase for :attr:`phase_seconds` (default:
        ``final`` when ``fine``, else ``search``)."""
        requests = [replace(r, config=self.problem.canonical(r.config)) for r in requests]  # the caller's stay as given
        starts = [self.request_starts(r) for r in requests]
        for r, n in zip(requests, starts, strict=True):
            if r.init is None:
                seen = self.by_config.get(config_key(r.config))
                if seen is not None:
                    r.init = seen.state
            if r.init is None:
                if r.hint is None:
                    r.hint = self.donor(r.config)
                r.starts = n
        t0 = time.perf_counter()
        deadline = self.budget.deadline(0.0 if fine else self.config.final_share)
        budget = self.budget
        cands = self.problem.refine(requests, fine=fine,
                                    should_stop=lambda: budget.stopped or time.perf_counter() >= deadline)
        phase = phase or ("final" if fine else "search")
        self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + time.perf_counter() - t0
        for r, c, n in zip(requests, cands, starts, strict=True):  # one candidate per request, in order
            self.budget.evaluations += c.refine_steps * n
            key = config_key(r.config)
            self.steps_done[key] = self.steps_done.get(key, 0) + c.refine_steps
        pool = self.finals if fine else self.by_config
        if fine and not self.finals:
            self.best = None
        for c in cands:
            prev = pool.get(c.key)
            if prev is None or c.objective < prev.objective:
                pool[c.key] = c
            if not fine:
                pose = int(c.config.get(POSE, 0))
                top = self.best_by_pose.get(pose)
                if top is None or c.objective < top.objective:
                    self.best_by_pose[pose] = c
            if self.best is None or c.objective < self.best.objective:
                self.best = c
        if not fine and self.best is not None:  # an empty batch before any candidate leaves nothing to follow
            leaders = tuple(sorted(c.key for c in self.leading()))
            if leaders != self.leaders or self.best.objective < 0.99 * self.leaders_best:
                self.leaders, self.leaders_best, self.leaders_since = leaders, self.best.objective, self.budget.fraction()
        self.step += 1
        self.history.append((self.budget.elapsed, self.best.objective if self.best else math.inf,
                             "final" if fine else "search"))
        self.report(phase="final" if fine else "search")
        return cands

    def searched(self) -> bool:
        """Whether the search phase is over: what the budget has left is the final refinement's (``final_share``),
        or the search settled: its :meth:`leading` configurations and its best objective (within 1 %) have not
        changed for ``settle_share`` of the budget."""
        b, share = self.budget, self.config.settle_share
        return b.exhausted(reserve=self.config.final_share) or (share > 0 and b.fraction() - self.leaders_since >= share)

    def request_starts(self, r: RefineRequest) -> int:
        """How many refinements from different starts ``r`` runs in :meth:`evaluate` (its evaluations are its
        steps times that): one when it has a starting state or its configuration was refined before (that
        state warm-starts it), else at least ``config.starts``: a similar configuration's refined values
        usually start closest, but a structural change (legs removed, a cushion more) can leave them in a
        compensating basin, so the defaults start beside them."""
        fresh = r.init is None and config_key(self.problem.canonical(r.config)) not in self.by_config
        return max(r.starts, self.config.starts) if fresh else 1

    def affordable(self, requests: list[RefineRequest]) -> list[RefineRequest]:
        """The longest prefix of ``requests`` whose evaluations fit in what the evaluation budget leaves the
        search before the final refinement's ``final_share`` (a request costs its ``steps`` times
        :meth:`request_starts`); all of them without an evaluation budget (the
        time budget's deadline ends a refinement instead). A search step whose batch overshot the share starved
        the final refinement: seed 11's cabinet #2, whose last mcts step ended at 3525 of 4000 evaluations, not
        3200, got 3 drawers for 5."""
        b = self.budget
        if not b.max_evaluations:
            return list(requests)
        room = (1.0 - self.config.final_share) * b.max_evaluations - b.evaluations
        out: list[RefineRequest] = []
        for r in requests:
            room -= r.steps * self.request_starts(r)
            if room < 0:
                break
            out.append(r)
        return out

    def chased(self, cands: list[Candidate]) -> list[RefineRequest]:
        """Continuations of the candidates just refined whose objective still fell fast at the end and that are close
        to the best (``chase_fall``, ``chase_margin``), not saturated (``revisit_steps``) and their configuration's
        best result: refining one again continues its run from its state."""
        cfg = self.config
        if cfg.chase_fall <= 0 or self.best is None:
            return []
        bar = cfg.chase_margin * self.best.objective
        return [RefineRequest(c.config, None, cfg.refine_steps) for c in cands
                if c.falling > cfg.chase_fall and c.objective <= bar and self.by_config.get(c.key) is c
                and self.steps_done.get(c.key, 0) < cfg.revisit_steps]

    def report(self, **info: Any) -> None:
        if self.progress is None or self.best is None:
            return
        values = {k: v for k, v in self.best.config.items() if k != POSE}
        state_values, world_pose = getattr(self.problem, "state_values", None), getattr(self.problem, "world_pose", None)
        if state_values is not None:  # FitProblem's (a job's progress shows them); a toy problem may lack them
            values.update(state_values(self.best.state))
        self.progress({
            "best_values": values,
            "best_pose": world_pose(self.best.state).tolist() if world_pose is not None else None,
            "method": self.method,
            "step": self.step,
            "elapsed": self.budget.elapsed,
            "fraction": min(1.0, self.budget.fraction()),
            "best_objective": self.best.objective,
            "best_config": dict(self.best.config),
            "evaluations": self.budget.evaluations,
            **info,
        })

    def top_configs(self, n: int) -> list[Candidate]:
        return sorted(self.by_config.values(), key=lambda c: c.objective)[:n]

    def best_under(self, pose: int | None) -> Candidate | None:
        """The best candidate of the search (not the final refinement) under pose hypothesis ``pose``, or
        None before any (or when ``pose`` is None)."""
        return None if pose is None else self.best_by_pose.get(int(pose))
