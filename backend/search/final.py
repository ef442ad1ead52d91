"""The final refinement every search method ends with (:class:`FinalRefinement`, a part of
:class:`backend.search.base.SearchContext`): the best configurations and their rivals facing other ways,
refined longer under the finer objective, the polish of the leader's one-change neighbours, the survivors of
each round, the best restarted from the defaults and jittered copies of it, and the final decision.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from .types import POSE, Candidate, RefineRequest, State, config_key, quarter_turns

__all__ = ["MAX_UNPINNED", "NEIGHBOUR_FANOUT", "PINNED", "WOKEN_COUNT_VALUES", "FinalRefinement"]

PINNED = 0.02
"""A normalised continuous value within this of 0 or 1 sits at a bound of its range (:meth:`FinalRefinement.unpinned`)."""
MAX_UNPINNED = 4
"""At most this many copies with a pinned value moved back (:meth:`FinalRefinement.unpinned`)."""
NEIGHBOUR_FANOUT = 4
"""At most this many combinations of the decisions a change makes active (:meth:`FinalRefinement.neighbours`)."""
WOKEN_COUNT_VALUES = 6
"""At most this many values of a count a change makes active, nearest its default first
(:meth:`FinalRefinement.neighbours`): all of the library's (slats 2-7, drawers 1-6, shelves 0-5); a woken count
costs a neighbour per value, each ``fine_probe_steps + 1`` evaluations of the polish's room."""


def _is_count(values: Sequence[Any]) -> bool:
    """Whether a decision's values are a count (more than three integers), whose neighbours are the values next
    to the current one."""
    return len(values) > 3 and all(isinstance(v, int) and not isinstance(v, bool) for v in values)


class FinalRefinement:
    """The final refinement's methods of :class:`backend.search.base.SearchContext` (they use its problem,
    config, budget, random generator, candidates and :meth:`~backend.search.base.SearchContext.evaluate`)."""

    def final_configs(self) -> list[Candidate]:
        """The candidates of the final refinement: the :meth:`leading` configurations and their rivals facing
        another way (:meth:`rivals`)."""
        out = self.leading()
        return out + self.rivals(out)

    def leading(self) -> list[Candidate]:
        """The search's best ``final_candidates`` distinct discrete configurations, each under its best pose."""
        out: list[Candidate] = []
        seen: set[tuple] = set()
        for c in sorted(self.by_config.values(), key=lambda c: c.objective):
            key = config_key({k: v for k, v in c.config.items() if k != POSE})
            if key not in seen:
                seen.add(key)
                out.append(c)
            if len(out) == self.config.final_candidates:
                break
        return out

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

    def survivors(self, cands: list[Candidate], margin: float | None = None) -> list[Candidate]:
        """The candidates of a final round that stay in it: the best one and those within ``margin`` (default
        ``close_margin``) of its objective, at most half of them (rounded up)."""
        ranked = sorted(cands, key=lambda c: c.objective)
        if not ranked:
            return []
        margin = self.config.close_margin if margin is None else margin
        limit = ranked[0].objective + margin * abs(ranked[0].objective)
        return [c for c in ranked if c.objective <= limit][:max(1, (len(ranked) + 1) // 2)]

    def first_survivors(self, first: list[Candidate], polished: list[Candidate]) -> list[Candidate]:
        """The candidates that stay after the final refinement's first round and its polish: the
        :meth:`survivors` of all of them, and those of the first round alone (within ``first_margin``). The first round refines every
        candidate alike (``fine_probe_steps`` each) while the polish refines the leader's neighbourhood further
        (its unpinned copies continue the leader's run), so a runner-up close at equal steps is no worse for
        falling behind the polished leader: seed 1750's chair #2, whose true back style was 4.6 % behind the
        leader after 15 steps each and 11 % behind the leader's polished copy, was cut and never refined again."""
        out = self.survivors(polished)
        keys = {c.key for c in out}
        out += [c for c in self.survivors(first, self.config.first_margin) if c.key not in keys]
        return sorted(out, key=lambda c: c.objective)

    def neighbours(self, cand: Candidate, tried: set[tuple]) -> list[dict[str, Any]]:
        """``cand``'s configuration (canonical, its pose kept) with one decision active in it set to another
        value, in decision order: every other value, or for a count with more than three values the values
        next to it. A change that makes other decisions active comes with each of their values, at most
        ``NEIGHBOUR_FANOUT`` combinations: a cabinet's drawers changed to doors come as one door and as double
        doors, which alone would each be worse than the drawers they replace. A count it makes active comes with
        each of its values too (at most ``WOKEN_COUNT_VALUES``, nearest the count's default first: seed 11's
        chair #2, whose true slatted back has 6 slats, was found solid when the slatted back was tried with the
        default 4 alone); those other than the default follow every neighbour with it, nearest the default first,
        so that the polish's room, when it runs out, cuts the farthest counts and not the later decisions. The
        configurations whose keys are in ``tried`` are left out."""
        tiers: list[tuple[int, dict[str, Any]]] = []
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
                         and self.problem.is_active(n, changed) is True]
                woken.sort(key=lambda n: _is_count(list(self.problem.choices(n))))  # the counts last: never cut
                combos = [(0, changed)]
                for n in woken:
                    choices = list(self.problem.choices(n))
                    if _is_count(choices):  # (distance rank, combination): the count's values nearest its default first
                        ranked = sorted(choices, key=lambda w, d=changed[n]: (abs(w - d), w))[:WOKEN_COUNT_VALUES]
                        combos = [(max(t, i), {**c, n: w}) for t, c in combos for i, w in enumerate(ranked)]
                    else:
                        combos = [(t, {**c, n: w}) for t, c in combos for w in choices][:NEIGHBOUR_FANOUT]
                tiers += combos
        return self.fresh((c for _, c in sorted(tiers, key=lambda tc: tc[0])), seen)  # stable: decision order in a tier

    def fresh(self, configs: Iterable[dict[str, Any]], seen: set[tuple]) -> list[dict[str, Any]]:
        """``configs`` made canonical, in their order, leaving out those whose keys are in ``seen`` (or earlier in
        ``configs``); each one returned is added to ``seen``."""
        out: list[dict[str, Any]] = []
        for c in configs:
            config = self.problem.canonical(c)
            key = config_key(config)
            if key not in seen:
                seen.add(key)
                out.append(config)
        return out

    def continuations(self, leader: Candidate, near: list[Candidate], tried: set[tuple], steps: int) -> list[RefineRequest]:
        """The next steps along a count: for each of ``near`` (neighbours of ``leader`` that came within
        ``close_margin`` of it or beat it) whose configuration differs from the leader's in one count alone, by one,
        that count one further the same way (within its values), started from that neighbour's continuous values
        and pose for ``steps`` Adam steps, best neighbour first; the configurations whose keys are in ``tried`` are
        left out. A count is ordinal: when a step comes close, so may the next one, and the neighbours of the
        leader alone never take it (tuning seed 11's cabinet #2: its 5 drawers found as 3; 2 and 4 0.3 and 0.8 %
        behind 3 after the polish's 15 steps, both ahead of it after 19 more; 5, the truth, 10 % ahead at the
        truth, was never refined)."""
        out: list[RefineRequest] = []
        seen = set(tried)
        for c in sorted(near, key=lambda c: c.objective):
            change = self.change(leader, c)
            if len(change) != 1:
                continue
            (name, value), = change.items()
            values = list(self.problem.choices(name))
            step = value - leader.config[name] if _is_count(values) else 0
            if abs(step) != 1 or value + step not in values:
                continue
            out += [RefineRequest(config, c.state.clone(), steps)
                    for config in self.fresh([{**c.config, name: value + step}], seen)]
        return out

    def change(self, leader: Candidate, cand: Candidate) -> dict[str, Any]:
        """The decisions (not the pose) that ``cand``'s configuration sets otherwise than ``leader``'s, with
        ``cand``'s values."""
        return {n: cand.config.get(n) for n in self.problem.decisions()
                if n != POSE and cand.config.get(n) != leader.config.get(n)}

    def pairs(self, leader: Candidate, neighbours: list[Candidate], tried: set[tuple]) -> list[dict[str, Any]]:
        """The leader's configuration with the changes of two of its best ``pair_changes`` refined neighbours made
        together (changes of different decisions; each neighbour's change is every decision it sets otherwise than
        the leader), best pair first (by the sum of the two neighbours' objectives); the configurations whose keys
        are in ``tried`` are left out (and added to it). Two changes can each be worse alone and better together:
        tuning seed 11's sofa #0, its square arms and 3 seat cushions found as rolled arms and 2 (arms and
        cushions share the seat's width), square arms alone 44 % and 3 cushions alone 30 % behind, both together
        4.5 % ahead."""
        changes: list[tuple[float, dict[str, Any]]] = []
        seen: set[tuple] = set()
        for c in sorted(neighbours, key=lambda c: c.objective):
            change = self.change(leader, c)
            k = config_key(change)
            if change and k not in seen and c.config.get(POSE) == leader.config.get(POSE):
                seen.add(k)
                changes.append((c.objective, change))
        changes = changes[:self.config.pair_changes]
        ranked = sorted(((a[0] + b[0], {**leader.config, **a[1], **b[1]}) for i, a in enumerate(changes)
                         for b in changes[i + 1:] if not set(a[1]) & set(b[1])), key=lambda oc: oc[0])
        return self.fresh((c for _, c in ranked), tried)

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
            s = cand.state.clone()  # its own copy of z
            s.z[d] = target
            out.append(s)
        return out[:MAX_UNPINNED]

    def polish(self, cands: list[Candidate], steps: int, room: int, fine: bool) -> list[Candidate]:
        """The final refinement's polish (``polish_rounds``): the best of ``cands``'s one-change
        :meth:`neighbours`, each started from its continuous values and pose, refined ``steps`` Adam steps (under
        the finer objective with ``fine``; ``steps + 1`` per neighbour); again around a neighbour that beats it,
        after the :meth:`continuations` of the counts whose step came close to the leader, and again around the
        leader when one of its unpinned copies beat it (from the copy's values: tuning seed 11's sofa #0, whose
        leader went from 0.0441 to 0.0290 unpinned, its neighbours refined from the 0.0441 values all behind);
        when the leader stays, the :meth:`pairs` of its best changes.
        Each round takes at most ``polish_share`` of ``room`` (the final refinement's Adam steps) that the rounds
        before it left: a round that found a better leader earns the next its share of the rest (seed 11's chair
        #2: its first round found the slatted back, its 6 slats among a woken count's values, and used up a room
        shared by all rounds; the round legs' neighbour of the new leader, the truth, was never tried). The first round also refines the :meth:`unpinned` copies of the leader and
        of the runners-up within ``first_margin`` of it in ``cands`` (equal steps).
        A neighbour that ``cands`` holds already but behind the leader (not among its :meth:`survivors`) is
        refined again from the leader's values: it reached the final refinement with the values the search's
        coarser objective gave it, often a basin the finer one does not forgive (seed 1984's bookshelf #0: its
        true configuration, without a back panel, 9 % behind the leader with one after the first round from its
        own values, 5 % ahead from the leader's).
        Returns ``cands`` and the neighbours refined, the better of each configuration's two refinements."""
        out = list(cands)
        tried = {c.key for c in self.survivors(cands)} | (set(self.finals) - {c.key for c in cands})
        requests: list[RefineRequest] = []
        around: dict[tuple, list[Candidate]] = {}  # each polished leader's refined neighbours
        first_tried, previous = set(tried), None

        def affordable(requests: list[RefineRequest]) -> list[RefineRequest]:
            """The first of ``requests`` that fit in a round's share of the room left."""
            return requests[:max(0, int(self.config.polish_share * room)) // (steps + 1)]

        for round_ in range(self.config.polish_rounds):
            leader = min(out, key=lambda c: c.objective)
            # the first round: the unpinned copies of the leader and of the runners-up close to it at equal steps;
            # a later one: first the next steps along the counts whose step came close to the round before's leader
            close = self.survivors(cands, self.config.first_margin) if round_ == 0 else []
            ahead = {config_key(r.config) for r in requests}
            # an unpinned copy of the leader won: its neighbours again, from its values
            again = previous is not None and leader.key == previous.key and leader is not previous
            requests = [RefineRequest(c.config, s, steps) for c in close for s in self.unpinned(c)] + requests
            requests += [RefineRequest(c, leader.state.clone(), steps)
                         for c in self.neighbours(leader, (first_tried if again else tried) | ahead)]
            previous = leader
            requests = affordable(requests)
            if not requests or self.budget.stopped:
                break
            tried.update(config_key(r.config) for r in requests)
            room -= len(requests) * (steps + 1)
            new = self.evaluate(requests, fine)
            out += new
            around.setdefault(leader.key, []).extend(new)
            near = leader.objective + self.config.close_margin * abs(leader.objective)
            requests = self.continuations(leader, [c for c in new if c.objective <= near], tried, steps)
            if not requests and min(c.objective for c in new) >= leader.objective:
                break
        final = min(out, key=lambda c: c.objective)
        if final.key in around and not self.budget.stopped:
            # the leader's neighbours were refined and none beat it: the pairs of its best changes, which may only
            # win together
            pairs = affordable([RefineRequest(c, final.state.clone(), steps) for c in self.pairs(final, around[final.key], tried)])
            if pairs:
                out += self.evaluate(pairs, fine)
        best: dict[tuple, Candidate] = {}
        for c in out:
            if c.key not in best or c.objective < best[c.key].objective:
                best[c.key] = c
        return list(best.values())

    def free_values(self, cand: Candidate) -> torch.Tensor:
        """``(D,)`` bool on ``cand``'s device: which of its continuous values are active and unlocked."""
        z = cand.state.z
        return torch.tensor([self.problem.continuous_free(cand.config, d) for d in range(z.numel())],
                            dtype=torch.bool, device=z.device)

    def restarted(self, cand: Candidate) -> list[State]:
        """With ``final_restart`` and a problem that has ``default_z``: a copy of ``cand``'s state with every free
        continuous value back at the program's default (its pose kept, a fresh optimiser state), unless they are
        there already; else none. Adam keeps a fit in the basin it settled in, and two lengths that trade against
        each other settle anywhere along the trade: a bed's frame 10 cm too high under a mattress 10 cm too thin,
        held at its bound (spent seed 1463's bed #1: refined from the defaults it reaches the true frame and
        mattress, 0.0327 against the fit's 0.0354, while every jittered copy stays in the wrong basin)."""
        default_z = getattr(self.problem, "default_z", None)
        if not self.config.final_restart or default_z is None:
            return []
        s = cand.state.clone()
        free = self.free_values(cand)
        z = torch.where(free, default_z().to(s.z.device, s.z.dtype), s.z)
        if torch.allclose(z, s.z, atol=1e-3):
            return []
        s.z = z
        return [s]

    def jittered(self, cand: Candidate) -> State:
        """A copy of ``cand``'s state with its free continuous values and its yaw jittered (``jitter_noise``,
        ``jitter_yaw``) and a fresh optimiser state."""
        s = cand.state.clone()
        free = self.free_values(cand)
        noise = self.config.jitter_noise * torch.randn(s.z.shape, generator=self.generator).to(s.z.dtype)
        s.z = torch.where(free, (s.z + noise.to(s.z.device)).clamp(0.0, 1.0), s.z)
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
        leader's one-change neighbours; those within ``close_margin`` of the best, or of the first round's best
        (:meth:`first_survivors`), share the rest of the budget with the best restarted from the defaults
        (:meth:`restarted`) and ``final_jitter`` jittered copies of the best, in two rounds when several are left
        (the second one again only for those still close).

        One schedule whichever budget binds, planned in Adam steps of one configuration: those the evaluation
        budget has left, or those the time left allows at the first round's pace. A fit run to an evaluation
        budget (the A/B comparisons of search changes) refines as one run to a time budget (the benches, the
        demo) does."""
        top = self.final_configs()
        if not top:
            raise RuntimeError("the search evaluated no candidate")
        if self.budget.stopped:  # asked to stop: the best so far (under the search's objective)
            return self.best
        cfg, b, fine = self.config, self.budget, self.config.fine_final
        # the evaluation budget binds: the schedule does not depend on the machine's speed
        by_evaluations = bool(b.max_evaluations) and b.evaluations / b.max_evaluations >= b.elapsed / b.seconds
        probe = max(1, min(cfg.fine_probe_steps, cfg.final_steps))
        if by_evaluations:
            probe = max(1, min(probe, (b.max_evaluations - b.evaluations) // len(top)))
        t0 = time.perf_counter()
        first = self.evaluate([RefineRequest(c.config, c.state, probe) for c in top], fine)
        per_step = (time.perf_counter() - t0) / ((probe + 1) * len(top))  # one Adam step of one configuration

        def room() -> int:
            """Adam steps of one configuration the budget has left."""
            if by_evaluations:
                return b.max_evaluations - b.evaluations
            return int(0.9 * (b.seconds - b.elapsed) / per_step)

        # room to spare (a search that settled early, :meth:`~backend.search.base.SearchContext.searched`): the
        # first round goes on before anything is cut, its ranking is the final refinement's first decision
        longer = min(cfg.final_steps // 3, int(cfg.probe_share * room() / len(top)) - 1)
        if longer > probe and not b.stopped:
            first = self.evaluate([RefineRequest(c.config, c.state, longer - probe) for c in first], fine)
            probe = longer

        cands = self.first_survivors(first, self.polish(first, probe, room(), fine))
        done, split_left, jittered = probe, 1, False
        while not b.stopped:
            left = room()
            steps = min(cfg.final_steps - done, left // len(cands) - 1)
            if steps <= 0:
                break
            split = split_left > 0 and len(cands) > 1 and steps >= 2 * probe
            if split:  # half now, then a second decision between those still close
                steps //= 2
                split_left -= 1
            requests = [RefineRequest(c.config, c.state, steps) for c in cands]
            if not jittered:  # room left beyond the survivors' steps: the best restarted, and jittered copies of it
                jittered = True
                copies = self.restarted(cands[0]) + [self.jittered(cands[0]) for _ in range(cfg.final_jitter)]
                requests += [RefineRequest(cands[0].config, s, steps) for s in copies[:max(0, left // (steps + 1) - len(cands))]]
            cands = self.evaluate(requests, fine)
            done += steps
            if not split:
                break
            cands = self.survivors(cands)
        return self.decide()
