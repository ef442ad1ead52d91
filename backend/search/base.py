"""What every search method shares: candidates, budgets, progress reports, the problem interface.

A *configuration* is a full discrete assignment: the pose hypothesis index
(key ``POSE``) plus a value for every discrete parameter (inactive ones at
their defaults, so equal configurations compare equal). A :class:`Candidate`
adds the continuous state found for it by gradient refinement.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import torch

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

POSE = "__pose__"


def config_key(config: dict[str, Any]) -> tuple:
    return tuple(sorted(config.items(), key=lambda kv: kv[0]))


PINNED = 0.02
"""A normalised continuous value within this of 0 or 1 sits at a bound of its range (:meth:`SearchContext.unpinned`)."""
MAX_UNPINNED = 4
"""At most this many copies with a pinned value moved back (:meth:`SearchContext.unpinned`)."""
NEIGHBOUR_FANOUT = 4
"""At most this many combinations of the decisions a change makes active (:meth:`SearchContext.neighbours`)."""


def _is_count(values: Sequence[Any]) -> bool:
    """Whether a decision's values are a count (more than three integers), whose neighbours are the values next
    to the current one."""
    return len(values) > 3 and all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def quarter_turns(angle: float) -> int:
    """The number of quarter turns (0-3, counter-clockwise) nearest ``angle`` (radians)."""
    return round(angle / (math.pi / 2)) % 4


@dataclass
class Moments:
    """Adam's state of one candidate after a refinement, so that refining it again continues the run."""

    step: int
    """Adam steps taken so far (the learning-rate schedule's position)."""
    m: torch.Tensor
    """``(D + 5,)`` first moment (parameter logits, yaw, translation, log scale)."""
    v: torch.Tensor
    """``(D + 5,)`` second moment."""


@dataclass
class State:
    """Continuous unknowns of one candidate.

    Attributes:
        z: ``(D,)`` continuous parameters normalised to [0, 1] within their ranges (all
            continuous scalars of the program, vectors as 3 scalars, in ``Problem.continuous_names`` order).
        yaw: rotation about +Z in the object frame, radians (the hypothesis' yaw included).
        translation: ``(3,)`` metres in the object frame.
        log_scale: log of a uniform scale slack (0 when disabled).
        moments: the optimiser's state when the values came from a refinement of this candidate
            (refining it again continues that run), else None.
    """

    z: torch.Tensor
    yaw: float
    translation: torch.Tensor
    log_scale: float = 0.0
    moments: Moments | None = None

    def clone(self, moments: bool = False) -> State:
        """A copy of the values; without the optimiser's state unless ``moments`` (a refinement from it then
        starts a new run: for another configuration, or values changed by hand)."""
        return State(self.z.clone(), float(self.yaw), self.translation.clone(), float(self.log_scale),
                     self.moments if moments else None)


@dataclass
class Candidate:
    config: dict[str, Any]
    state: State
    objective: float
    terms: dict[str, float] = field(default_factory=dict)
    refine_steps: int = 0

    @property
    def key(self) -> tuple:
        return config_key(self.config)


@dataclass
class RefineRequest:
    """Refine ``config`` from ``init`` (or fresh starts when None) for ``steps`` Adam steps.
    ``starts`` random restarts are refined side by side when ``init`` is None; the best is returned."""

    config: dict[str, Any]
    init: State | None = None
    steps: int = 20
    starts: int = 1
    hint: Candidate | None = None
    """A refined candidate of a similar configuration: one of the fresh starts begins from its
    continuous values (the parameters are shared by name across configurations)."""


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
    of them get the rest of the budget (whose size the first round's time gives)."""
    starts: int = 2
    """Starts refined side by side for a configuration seen for the first time (the best is kept): the
    most similar refined configuration's values when there is one, then the defaults, then random
    values."""
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
    jitter_noise: float = 0.05
    """Standard deviation of a jittered copy's normalised continuous values (see ``final_jitter``)."""
    jitter_yaw: float = 0.2
    """Standard deviation (radians) of a jittered copy's yaw (see ``final_jitter``)."""
    close_margin: float = 0.05
    """After each round of the final refinement, the configurations within this fraction of the best one's
    finer objective stay in it (a close decision is refined further, not left to the first round); the rest
    drop out."""
    polish_rounds: int = 2
    """Rounds of the final refinement's polish: after its first round, the leader's one-change neighbours (each
    decision active in its configuration set to each other value; a count to the values next to it), started
    from the leader's continuous values and pose, get the first round's steps under the finer objective; those
    close to the best stay in the final refinement, and when one beats the leader the next round polishes the
    new leader. The search's short refinements under the coarse objective leave a cabinet's front (doors or
    drawers, their number) a few percent from the truth, too close for the search to rank them (cabinets of
    seed 1563: the truth scored 3-15 % better than the search's choice, never refined alike). 0 turns it off."""
    polish_share: float = 0.35
    """At most this share of the final refinement's room (Adam steps after its first round) goes to the polish
    (``polish_rounds``); neighbours beyond it are left out, in decision order."""
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


class SearchContext:
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
        for r in requests:
            if r.init is None:
                seen = self.by_config.get(config_key(r.config))
                if seen is not None:
                    r.init = seen.state
            if r.init is None:
                if r.hint is None:
                    r.hint = self.donor(r.config)
                # a similar configuration's refined values usually start closest, but a structural change
                # (legs removed, a cushion more) can leave them in a compensating basin: the defaults
                # start beside them
                r.starts = max(r.starts, self.config.starts)
        t0 = time.perf_counter()
        deadline = self.budget.deadline(0.0 if fine else self.config.final_share)
        budget = self.budget
        cands = self.problem.refine(requests, fine=fine,
                                    should_stop=lambda: budget.stopped or time.perf_counter() >= deadline)
        phase = phase or ("final" if fine else "search")
        self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + time.perf_counter() - t0
        for r, c in zip(requests, cands, strict=True):  # one candidate per request, in order
            self.budget.evaluations += c.refine_steps * (r.starts if r.init is None else 1)
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
        self.step += 1
        self.history.append((self.budget.elapsed, self.best.objective if self.best else math.inf,
                             "final" if fine else "search"))
        self.report(phase="final" if fine else "search")
        return cands

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

    def final_configs(self) -> list[Candidate]:
        """The candidates of the final refinement: the best ``final_candidates`` distinct discrete
        configurations, each under its best pose, and their rivals facing another way (:meth:`rivals`)."""
        out: list[Candidate] = []
        seen: set[tuple] = set()
        for c in sorted(self.by_config.values(), key=lambda c: c.objective):
            key = config_key({k: v for k, v in c.config.items() if k != POSE})
            if key not in seen:
                seen.add(key)
                out.append(c)
            if len(out) == self.config.final_candidates:
                break
        return out + self.rivals(out)

    def rivals(self, top: list[Candidate]) -> list[Candidate]:
        """The best ``rival_candidates`` distinct configurations of every other facing than the best
        candidate's (its yaw turned by 90, 180 or 270 degrees, nearest quarter turn) whose objective is within
        ``rival_margin`` times the best's, leaving out those in ``top`` and those whose shape looks the same
        turned back (a rectangular table turned 180 degrees is the same table: ``Problem.turn_symmetric``
        when the problem has it)."""
        if not top or self.config.rival_candidates <= 0:
            return []
        leader = top[0]
        limit = leader.objective + (self.config.rival_margin - 1.0) * abs(leader.objective)
        taken = {c.key for c in top}
        counts: dict[int, int] = {}
        seen: set[tuple] = set()
        symmetric = getattr(self.problem, "turn_symmetric", None)
        out: list[Candidate] = []
        for c in sorted(self.by_config.values(), key=lambda c: c.objective):
            if c.objective > limit:
                break
            q = quarter_turns(c.state.yaw - leader.state.yaw)
            if q == 0 or counts.get(q, 0) >= self.config.rival_candidates or c.key in taken:
                continue
            key = (q, config_key({k: v for k, v in c.config.items() if k != POSE}))
            if key in seen:
                continue
            seen.add(key)
            if symmetric is not None and symmetric(c.config, c.state, q):
                continue
            counts[q] = counts.get(q, 0) + 1
            out.append(c)
        return out

    def survivors(self, cands: list[Candidate]) -> list[Candidate]:
        """The candidates of a final round that stay in it: the best one and those within ``close_margin``
        of its objective, at most half of them (rounded up)."""
        ranked = sorted(cands, key=lambda c: c.objective)
        if not ranked:
            return []
        limit = ranked[0].objective + self.config.close_margin * abs(ranked[0].objective)
        return [c for c in ranked if c.objective <= limit][:max(1, (len(ranked) + 1) // 2)]

    def neighbours(self, cand: Candidate, tried: set[tuple]) -> list[dict[str, Any]]:
        """``cand``'s configuration (canonical, its pose kept) with one decision active in it set to another
        value, in decision order: every other value, or for a count with more than three values the values
        next to it. A change that makes other decisions active comes with each of their values (a count: its
        default), at most ``NEIGHBOUR_FANOUT`` combinations: a cabinet's drawers changed to doors come as one
        door and as double doors, which alone would each be worse than the drawers they replace. The
        configurations whose keys are in ``tried`` are left out."""
        out: list[dict[str, Any]] = []
        seen = set(tried)
        decisions = [n for n in self.problem.decisions() if n != POSE]
        for name in decisions:
            if self.problem.is_active(name, cand.config) is not True:
                continue
            current, values = cand.config.get(name), list(self.problem.choices(name))
            if _is_count(values):
                values = [v for v in values if abs(v - current) == 1]
            for v in values:
                if v == current:
                    continue
                changed = self.problem.canonical({**cand.config, name: v})
                woken = [n for n in decisions if n != name and self.problem.is_active(n, cand.config) is not True
                         and self.problem.is_active(n, changed) is True and not _is_count(list(self.problem.choices(n)))]
                combos = [changed]
                for n in woken:
                    combos = [{**c, n: w} for c in combos for w in self.problem.choices(n)][:NEIGHBOUR_FANOUT]
                for c in combos:
                    config = self.problem.canonical(c)
                    key = config_key(config)
                    if key not in seen:
                        seen.add(key)
                        out.append(config)
        return out

    def unpinned(self, cand: Candidate) -> list[State]:
        """Copies of ``cand``'s state, one per free continuous value sitting at a bound of its range (within
        ``PINNED`` of 0 or 1, normalised), with that value moved back to the program's default (``default_z``
        when the problem has it; the middle of the range when the default is that bound too), at most
        ``MAX_UNPINNED``: a value pinned at a bound is often one Adam pushed there from a wrong basin (a table
        top's thickness held at its 2 cm minimum while the rest of the fit settled around it)."""
        default_z = getattr(self.problem, "default_z", None)
        default = default_z() if default_z is not None else None
        z = cand.state.z
        out: list[State] = []
        for d in range(z.numel()):
            v = float(z[d])
            if PINNED < v < 1.0 - PINNED or not self.problem.continuous_free(cand.config, d):
                continue
            target = float(default[d]) if default is not None else 0.5
            if abs(target - v) < 0.1:
                target = 0.5
            s = cand.state.clone()
            s.z = z.clone()
            s.z[d] = target
            out.append(s)
        return out[:MAX_UNPINNED]

    def polish(self, cands: list[Candidate], steps: int, room: int, fine: bool) -> list[Candidate]:
        """The final refinement's polish (``polish_rounds``): the best of ``cands``'s one-change
        :meth:`neighbours`, each started from its continuous values and pose, refined ``steps`` Adam steps (under
        the finer objective with ``fine``; at most ``room`` steps in all, ``steps + 1`` per neighbour); again
        around a neighbour that beats it. The first round also refines the leader's :meth:`unpinned` copies.
        Returns ``cands`` and the neighbours refined."""
        out = list(cands)
        tried = {c.key for c in cands} | set(self.finals)
        for round_ in range(self.config.polish_rounds):
            leader = min(out, key=lambda c: c.objective)
            requests = [RefineRequest(leader.config, s, steps) for s in (self.unpinned(leader) if round_ == 0 else [])]
            requests += [RefineRequest(c, leader.state.clone(), steps) for c in self.neighbours(leader, tried)]
            requests = requests[:max(0, room) // (steps + 1)]
            if not requests or self.budget.stopped:
                break
            tried.update(config_key(r.config) for r in requests)
            room -= len(requests) * (steps + 1)
            new = self.evaluate(requests, fine)
            out += new
            if min(c.objective for c in new) >= leader.objective:
                break
        return out

    def jittered(self, cand: Candidate) -> State:
        """A copy of ``cand``'s state with its free continuous values and its yaw jittered (``jitter_noise``,
        ``jitter_yaw``) and a fresh optimiser state."""
        s = cand.state.clone()
        free = torch.tensor([self.problem.continuous_free(cand.config, d) for d in range(s.z.numel())], dtype=torch.bool)
        noise = self.config.jitter_noise * torch.randn(s.z.shape, generator=self.generator).to(s.z.dtype)
        s.z = torch.where(free.to(s.z.device), (s.z + noise.to(s.z.device)).clamp(0.0, 1.0), s.z)
        s.yaw = s.yaw + self.config.jitter_yaw * float(torch.randn((), generator=self.generator))
        return s

    def decide(self) -> Candidate:
        """The final decision: the candidates of the final refinement within ``close_margin`` of the best one's
        objective and facing its way (nearest quarter turn; at most ``duel_candidates``, distinct configurations)
        meet in a round-robin of duels (``Problem.duel``, won by more than ``duel_margin``); the one with the most
        wins is returned, ties going to the better objective. Without duels (``duels`` off, a problem without ``duel``, a single close
        candidate) the best by objective."""
        duel = getattr(self.problem, "duel", None)
        if not self.config.duels or duel is None or not self.finals or self.best is None:
            return self.best
        ranked = sorted(self.finals.values(), key=lambda c: c.objective)
        limit = ranked[0].objective + self.config.close_margin * abs(ranked[0].objective)
        # the facing is the whole object's decision (the rivals facing other ways met the leader in the final
        # refinement already): the duels decide the details of the leader's facing
        close = [c for c in ranked if c.objective <= limit and quarter_turns(c.state.yaw - ranked[0].state.yaw) == 0]
        close = close[:max(1, self.config.duel_candidates)]
        if len(close) < 2:
            return self.best
        wins = [0] * len(close)
        for i in range(len(close)):
            for j in range(i + 1, len(close)):
                d = float(duel(close[i], close[j]))
                if d > self.config.duel_margin:
                    wins[j] += 1
                elif d < -self.config.duel_margin:
                    wins[i] += 1
        winner = max(range(len(close)), key=lambda i: (wins[i], -i))
        self.duel_record = {"candidates": [dict(c.config) for c in close], "wins": wins, "winner": winner}
        self.best = close[winner]
        return self.best

    def finish(self) -> Candidate:
        """Final, longer refinement of the best few configurations and their rivals facing another way
        (:meth:`final_configs`) as long as the budget allows (at most ``final_steps`` Adam steps), under the
        finer objective with ``fine_final``; returns the best candidate. A first round of
        ``fine_probe_steps`` over all of them ranks them (and times a step), the :meth:`polish` tries the
        leader's one-change neighbours; those within ``close_margin``
        of the best (:meth:`survivors`) share the rest of the budget, in two rounds when several are left
        (the second one again only for those still close)."""
        top = self.final_configs()
        if not top:
            raise RuntimeError("the search evaluated no candidate")
        if self.budget.stopped:  # asked to stop: the best so far (under the search's objective)
            return self.best
        cfg, b, fine = self.config, self.budget, self.config.fine_final
        if b.max_evaluations and b.evaluations / b.max_evaluations >= b.elapsed / b.seconds:
            # the evaluation budget binds: the step count does not depend on the machine's speed
            steps = max(1, min(cfg.final_steps, (b.max_evaluations - b.evaluations) // len(top)))
            probe = max(1, min(cfg.fine_probe_steps, steps))
            cands = self.evaluate([RefineRequest(c.config, c.state, probe) for c in top], fine)
            cands = self.survivors(self.polish(cands, probe, int(cfg.polish_share * (b.max_evaluations - b.evaluations)), fine))
            room = b.max_evaluations - b.evaluations
            steps = min(cfg.final_steps - probe, room // len(cands))
            if steps > 0:
                extra = min(cfg.final_jitter, room // steps - len(cands))
                self.evaluate([RefineRequest(c.config, c.state, steps) for c in cands]
                              + [RefineRequest(cands[0].config, self.jittered(cands[0]), steps) for _ in range(extra)], fine)
            return self.decide()
        probe = max(1, min(cfg.fine_probe_steps, cfg.final_steps))
        t0 = time.perf_counter()
        cands = self.evaluate([RefineRequest(c.config, c.state, probe) for c in top], fine)
        per_step = (time.perf_counter() - t0) / ((probe + 1) * len(top))  # one Adam step of one configuration
        cands = self.polish(cands, probe, int(cfg.polish_share * 0.9 * (b.seconds - b.elapsed) / per_step), fine)
        done, split_left, jittered = probe, 1, False
        while True:
            cands = self.survivors(cands)
            left = b.seconds - b.elapsed
            room = int(0.9 * left / per_step)  # Adam steps of one configuration the time left allows
            steps = min(cfg.final_steps - done, room // len(cands) - 1)
            if steps <= 0:
                break
            split = split_left > 0 and len(cands) > 1 and steps >= 2 * probe
            if split:  # half now, then a second decision between those still close
                steps //= 2
                split_left -= 1
            requests = [RefineRequest(c.config, c.state, steps) for c in cands]
            if not jittered:  # room left beyond the survivors' steps: jittered copies of the best
                jittered = True
                requests += [RefineRequest(cands[0].config, self.jittered(cands[0]), steps)
                             for _ in range(min(cfg.final_jitter, room // (steps + 1) - len(cands)))]
            cands = self.evaluate(requests, fine)
            done += steps
            if not split:
                break
        return self.decide()
