"""The fitting problem: a program, one object's observations, the unknowns and the objective.

Unknowns: the discrete parameters (active ones only), the continuous parameters
(normalised to [0, 1] within their ranges), and the pose in the object's
gravity-aligned frame (yaw about +Z, translation, optional scale slack). The
pose starts from one of the frame's yaw hypotheses (the oriented box cannot
tell front from back), which the search treats as its first decision.

Everything happens in the object frame of the observations: scan points and
cameras are moved there once, and a candidate mesh is ``s * Rz(yaw) @ v + t``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

import torch

from translator.params import Parameter, ParameterSpace
from translator.runtime import eval_context

from .objective import Objective, ObjectiveConfig, Topologies
from .ops.point_mesh import PointsToMesh
from .ops.pose import apply_pose, pose_matrix
from .search.base import POSE, Candidate, RefineRequest, State, config_key
from .search.refine import RefineSettings, refine_batch
from .structures import Observations

__all__ = ["FitProblem", "ProblemConfig"]


@dataclass
class ProblemConfig:
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    refine: RefineSettings = field(default_factory=RefineSettings)
    locks: dict[str, Any] = field(default_factory=dict)
    """Parameter values the fit must keep (name -> value)."""
    device: str = "cpu"
    scale_slack: float = 0.0
    """Allowed uniform scale deviation (0.05 = +-5 %); 0 disables the scale unknown."""


class FitProblem:
    """Implements :class:`backend.search.base.Problem` for a compiled program and observations."""

    def __init__(self, module: ModuleType, space: ParameterSpace, observations: Observations, config: ProblemConfig | None = None,
                 generator_seed: int = 0):
        self.module = module
        self.space = space
        self.obs = observations
        self.config = config or ProblemConfig()
        self.device = torch.device(self.config.device)
        self.dtype = torch.float32
        frame = observations.frame
        self.world_from_object = frame.world_from_object.to(torch.float64)
        self.yaw_hypotheses = [float(y) - float(frame.yaw) for y in frame.yaw_hypotheses]
        self.pose_hypotheses = len(self.yaw_hypotheses)
        self.locks = dict(self.config.locks)
        for name in self.locks:
            space[name]  # raises KeyError for unknown names (checked earlier by the caller)
        # continuous scalars: (parameter, component or None)
        self.scalars: list[tuple[Parameter, int | None]] = []
        for p in space.continuous:
            if p.type == "VECTOR":
                self.scalars += [(p, i) for i in range(3)]
            else:
                self.scalars.append((p, None))
        lo, hi = [], []
        for p, i in self.scalars:
            a, b = _bounds(p)
            lo.append(a if i is None else a[i])
            hi.append(b if i is None else b[i])
        self.lo = torch.tensor(lo, dtype=self.dtype, device=self.device)
        self.hi = torch.tensor(hi, dtype=self.dtype, device=self.device)
        self._decisions = self._dependency_order()
        self.objective = Objective(observations, self.world_from_object, self.config.objective, self.device, generator_seed)
        self._observations, self._seed = observations, generator_seed
        self._fine = None
        self.refinements = 0

    @property
    def fine_objective(self):
        """The objective with ``fine_*`` detail (built on first use)."""
        if self._fine is None:
            self._fine = Objective(self._observations, self.world_from_object, self.config.objective.finer(), self.device,
                                   self._seed)
        return self._fine

    # -- the Problem protocol ---------------------------------------------------

    @property
    def continuous_names(self) -> list[str]:
        return [p.name if i is None else f"{p.name}[{i}]" for p, i in self.scalars]

    def decisions(self) -> list[str]:
        return list(self._decisions)

    def _dependency_order(self) -> list[str]:
        free = [p for p in self.space.discrete if p.name not in self.locks]
        order: list[str] = []
        placed = set(self.locks)
        pending = list(free)
        while pending:
            for p in pending:
                if all(v in placed or v not in {q.name for q in free} for v in p.active_when.variables):
                    order.append(p.name)
                    placed.add(p.name)
                    pending.remove(p)
                    break
            else:  # cyclic conditions cannot happen for a DAG; keep interface order if they do
                order += [p.name for p in pending]
                break
        return order

    def choices(self, name: str) -> Sequence[Any]:
        if name == POSE:
            return list(range(self.pose_hypotheses))
        p = self.space[name]
        if p.choices is None:
            return [p.default]
        return list(p.choices)

    def is_active(self, name: str, partial: dict[str, Any]) -> bool | None:
        if name == POSE:
            return True
        cond = self.space[name].active_when
        vals = {**self.locks, **partial}
        if any(v not in vals for v in cond.variables):
            return None
        return cond.holds(vals)

    def canonical(self, config: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {POSE: int(config.get(POSE, 0))}
        vals = {**{p.name: p.default for p in self.space.discrete}, **config, **self.locks}
        for p in self.space.discrete:
            v = vals[p.name]
            out[p.name] = v if p.active_when.holds(vals) else p.default
        return out

    def continuous_free(self, config: dict[str, Any], d: int) -> bool:
        p, _ = self.scalars[d]
        if p.name in self.locks:
            return False
        vals = {**config, **self.locks}
        return p.active_when.holds(vals)

    def free_mask(self, config: dict[str, Any]) -> torch.Tensor:
        return torch.tensor([self.continuous_free(config, d) for d in range(len(self.scalars))], dtype=torch.bool,
                            device=self.device)

    # -- values -------------------------------------------------------------

    def normalise(self, values: dict[str, Any]) -> torch.Tensor:
        """Continuous values by name -> ``(D,)`` in [0, 1] (defaults for missing names)."""
        z = []
        for d, (p, i) in enumerate(self.scalars):
            v = values.get(p.name, p.default)
            v = float(v if i is None else v[i])
            lo, hi = float(self.lo[d]), float(self.hi[d])
            z.append(0.5 if hi <= lo else min(1.0, max(0.0, (v - lo) / (hi - lo))))
        return torch.tensor(z, dtype=self.dtype, device=self.device)

    def values(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """``z (K, D)`` -> continuous program arguments ``{name: (K,) or (K, 3)}`` (locks applied)."""
        x = self.lo + (self.hi - self.lo) * z
        out: dict[str, torch.Tensor] = {}
        vec: dict[str, list] = {}
        for d, (p, i) in enumerate(self.scalars):
            col = x[:, d]
            if p.name in self.locks:
                lv = self.locks[p.name]
                col = torch.full_like(col, float(lv if i is None else lv[i]))
            if i is None:
                out[p.name] = col
            else:
                vec.setdefault(p.name, [None] * 3)[i] = col
        for name, cols in vec.items():
            out[name] = torch.stack(cols, -1)
        return out

    def state_values(self, state: State) -> dict[str, Any]:
        """A state's continuous values as plain Python data by parameter name."""
        vals = self.values(state.z.unsqueeze(0))
        return {k: (float(v[0]) if v.dim() == 1 else tuple(float(x) for x in v[0])) for k, v in vals.items()}

    def discrete_values(self, config: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in config.items() if k != POSE}

    def candidate_at(self, values: dict[str, Any], world_from_program: Sequence[Sequence[float]] | torch.Tensor | None = None
                     ) -> tuple[dict[str, Any], State]:
        """The configuration and state of given parameter values (by name; missing ones at their
        defaults) and, optionally, a ``(4, 4)`` world_from_program pose (else the first yaw hypothesis
        at the frame's origin): the inverse of :meth:`state_values` and :meth:`world_pose`."""
        config = self.canonical({POSE: 0, **values})
        z = self.normalise(values)
        if world_from_program is None:
            return config, State(z, self.yaw_hypotheses[0], torch.zeros(3, dtype=self.dtype, device=self.device))
        m = self.world_from_object.inverse() @ torch.as_tensor(world_from_program, dtype=torch.float64)
        return config, State(z, math.atan2(float(m[1, 0]), float(m[0, 0])), m[:3, 3].to(self.device, self.dtype))

    def world_pose(self, state: State) -> torch.Tensor:
        """``(4, 4)`` float64 world_from_program for a state."""
        m = pose_matrix(torch.tensor([state.yaw], dtype=torch.float64), state.translation.to(torch.float64).reshape(1, 3),
                        torch.tensor([state.log_scale], dtype=torch.float64))[0]
        return self.world_from_object @ m

    def mesh(self, config: dict[str, Any], z: torch.Tensor):
        """The program's mesh for ``config`` and ``z (K, D)`` (object-local, before the pose).

        The translator's traced fast path is off here: a search evaluates each configuration (and
        batch size) only a few dozen times, fewer than it takes tracing to pay for itself."""
        with eval_context(trace=False):
            return self.module.program(self.discrete_values(config), self.values(z))

    @torch.no_grad()
    def turn_symmetric(self, config: dict[str, Any], state: State, quarter_turns: int, tolerance: float = 0.01) -> bool:
        """Whether the candidate's mesh looks the same turned by ``quarter_turns`` x 90 degrees about +Z
        through its box centre: the turned mesh's vertices and triangle centres lie within ``tolerance``
        (metres) of the unturned surface, and so do those of the mesh turned the other way (a rectangular
        table turned 180 degrees is the same table; a cabinet's handles or a bookshelf's back panel turned to
        the other side are not on its surface)."""
        mesh = self.mesh(config, state.z.unsqueeze(0))
        v = mesh.verts[0].detach().to(torch.float64)  # (V, 3)
        tris = mesh.triangles()
        if v.shape[0] == 0 or tris.shape[0] == 0:
            return True
        centre = (v.amin(0) + v.amax(0)) / 2
        points = torch.cat([v, v[tris].mean(1)])  # (V + T, 3) vertices and triangle centres
        surface = v[tris].unsqueeze(0)  # (1, T, 3, 3)
        for q in (quarter_turns, -quarter_turns):
            a = q * math.pi / 2
            c, s = round(math.cos(a)), round(math.sin(a))
            rot = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
            turned = (points - centre) @ rot.T + centre
            if float(PointsToMesh(turned)(surface).max()) > tolerance ** 2:
                return False
        return True

    @torch.no_grad()
    def posed_mesh(self, config: dict[str, Any], state: State) -> tuple[torch.Tensor, torch.Tensor]:
        """A candidate's ``(V, 3)`` vertices in the object frame (posed) and its ``(T, 3)`` triangles."""
        mesh = self.mesh(config, state.z.unsqueeze(0).to(self.device, self.dtype))
        slack = self.config.scale_slack
        ls = torch.tensor([state.log_scale], dtype=self.dtype, device=self.device)
        ls = ls.clamp(-slack, slack) if slack > 0 else torch.zeros_like(ls)
        m = pose_matrix(torch.tensor([state.yaw], dtype=self.dtype, device=self.device),
                        state.translation.to(self.device, self.dtype).reshape(1, 3), ls)
        return apply_pose(mesh.verts[:1].to(self.dtype), m)[0], mesh.triangles().to(self.device)

    @torch.no_grad()
    def footprint(self, config: dict[str, Any]) -> tuple[float, float, float, float]:
        """The extents ``(min x, max x, min y, max y)`` (metres, program frame) of ``config``'s shape at the default
        continuous values: its outline seen from above, which decides the pose hypotheses' fit."""
        z = self.default_z().unsqueeze(0)
        v = self.mesh(config, z).verts[0]
        if v.shape[0] == 0:
            return (0.0, 0.0, 0.0, 0.0)
        lo, hi = v[:, :2].amin(0), v[:, :2].amax(0)
        return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))

    @torch.no_grad()
    def duel(self, a: Candidate, b: Candidate) -> float:
        """How much worse ``a`` explains the observations than ``b`` where their shapes differ (> 0: ``b`` is
        better), under the finer objective's scan points and views (:meth:`backend.objective.Objective.disagreement`):
        the final decision between candidates whose objectives are close."""
        va, ta = self.posed_mesh(a.config, a.state)
        vb, tb = self.posed_mesh(b.config, b.state)
        if ta.shape[0] == 0 or tb.shape[0] == 0:
            return 0.0
        return self.fine_objective.disagreement(va, ta, vb, tb)

    # -- refinement ---------------------------------------------------------

    def default_z(self) -> torch.Tensor:
        """The program's default continuous values, normalised: ``(D,)`` in [0, 1]."""
        return self.normalise({p.name: p.default for p in self.space.continuous})

    def _initial(self, config: dict[str, Any], starts: int, generator: torch.Generator) -> list[State]:
        default = self.default_z()
        yaw = self.yaw_hypotheses[int(config[POSE])]
        out = []
        for k in range(starts):
            if k == 0:
                z = default.clone()
            else:
                z = torch.rand(default.shape, generator=generator).to(self.device, self.dtype)
            out.append(State(z, yaw, torch.zeros(3, dtype=self.dtype, device=self.device), 0.0))
        return self._centred(config, out)

    def _starts(self, r: RefineRequest, generator: torch.Generator) -> list[State]:
        """Fresh starts of a request: from its hint (a similar configuration's refined state, moved to
        this pose hypothesis) when given, then the defaults, then random values."""
        n = max(1, r.starts)
        if r.hint is None:
            return self._initial(r.config, n, generator)
        h = r.hint.state
        # the hint's Adam moments come along: the shared parameters are near their optimum already, so the
        # run continues at the hint's (low) learning rate instead of restarting with full-size steps
        if int(r.hint.config.get(POSE, 0)) == int(r.config[POSE]):
            first = h.clone(moments=True)
        else:
            yaw = h.yaw - self.yaw_hypotheses[int(r.hint.config.get(POSE, 0))] + self.yaw_hypotheses[int(r.config[POSE])]
            first = self._centred(r.config, [replace(h.clone(moments=True), yaw=yaw)])[0]
        return [first] + (self._initial(r.config, n - 1, generator) if n > 1 else [])

    @torch.no_grad()
    def _centred(self, config: dict[str, Any], states: list[State]) -> list[State]:
        """The states with translations that put each candidate's box centre over the frame's origin
        and its lowest point on the floor (where the scan's frame puts the object)."""
        z = torch.stack([s.z for s in states])
        verts = self.mesh(config, z).verts.expand(len(states), -1, -1).to(self.dtype)
        yaw = torch.tensor([s.yaw for s in states], dtype=self.dtype, device=self.device)
        posed = apply_pose(verts, pose_matrix(yaw, torch.zeros(len(states), 3, dtype=self.dtype, device=self.device)))
        lo, hi = posed.amin(1), posed.amax(1)
        t = torch.stack([-(lo[:, 0] + hi[:, 0]) / 2, -(lo[:, 1] + hi[:, 1]) / 2, -lo[:, 2]], -1)
        return [replace(s, translation=t[k]) for k, s in enumerate(states)]

    def refine(self, requests: list[RefineRequest], generator: torch.Generator | None = None, fine: bool = False,
               should_stop: Callable[[], bool] | None = None) -> list[Candidate]:
        """Refine every request (:func:`~backend.search.refine.refine_batch`): the requests of one discrete
        configuration share one program evaluation per step (pose hypotheses only change the yaw), and the
        configurations that take the same number of steps share one objective call per step (their meshes
        packed as :class:`~backend.objective.Topologies`)."""
        gen = generator or torch.Generator().manual_seed(1234 + self.refinements)
        self.refinements += 1
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(config_key(self.discrete_values(r.config)), []).append(i)
        by_steps: dict[int, list[tuple[dict[str, Any], list[State], list[int]]]] = {}
        for idx in groups.values():
            states: list[State] = []
            owner: list[int] = []
            for i in idx:
                r = requests[i]
                inits = [r.init] if r.init is not None else self._starts(r, gen)
                states += inits
                owner += [i] * len(inits)
            steps = max(requests[i].steps for i in idx)
            by_steps.setdefault(steps, []).append((requests[idx[0]].config, states, owner))
        results: list[Candidate | None] = [None] * len(requests)
        objective = self.fine_objective if fine else self.objective
        settings = self.config.refine
        if self.config.scale_slack <= 0 and settings.optimize_scale:
            settings = RefineSettings(**{**settings.__dict__, "optimize_scale": False})
        for steps, batch in by_steps.items():
            states = [s for _, group, _ in batch for s in group]
            owner = [i for _, _, own in batch for i in own]
            sizes = [len(group) for _, group, _ in batch]
            z0 = torch.stack([s.z for s in states]).to(self.device, self.dtype)
            yaw0 = torch.tensor([s.yaw for s in states], dtype=self.dtype, device=self.device)
            t0 = torch.stack([s.translation for s in states]).to(self.device, self.dtype)
            ls0 = torch.tensor([s.log_scale for s in states], dtype=self.dtype, device=self.device)
            free = torch.cat([self.free_mask(config).expand(n, -1) for (config, _, _), n in zip(batch, sizes, strict=True)])
            configs = [config for config, _, _ in batch]

            def eval_fn(z, yaw, t, ls, configs=configs, sizes=sizes, objective=objective,
                        settle=settings.settle and settings.optimize_translation):
                slack = self.config.scale_slack
                ls_c = torch.clamp(ls, -slack, slack) if slack > 0 else torch.zeros_like(ls)
                meshes = [self.mesh(config, part) for config, part in zip(configs, z.split(sizes), strict=True)]
                if len(meshes) == 1:
                    verts, faces = meshes[0].verts.expand(z.shape[0], -1, -1), meshes[0].triangles()
                else:
                    verts, faces = Topologies.pack([m.verts.expand(n, -1, -1) for m, n in zip(meshes, sizes, strict=True)],
                                                   [m.triangles() for m in meshes])
                posed = apply_pose(verts, pose_matrix(yaw, t, ls_c))
                if not settle:
                    return objective(posed, faces)
                moved = torch.zeros_like(t.detach())
                moved[:, 2] = objective.settle(posed.detach())
                return (*objective(posed + moved.unsqueeze(1), faces), moved)

            out = refine_batch(eval_fn, z0, yaw0, t0, ls0, free, steps, settings, [s.moments for s in states], should_stop)
            for k, i in enumerate(owner):
                obj = float(out.loss[k])
                if not math.isfinite(obj):
                    obj = math.inf
                cand = Candidate(
                    config=dict(requests[i].config),
                    state=State(out.z[k].detach(), float(out.yaw[k]), out.translation[k].detach(), float(out.log_scale[k]),
                                out.moments[k]),
                    objective=obj,
                    terms={n: float(v[k]) for n, v in out.terms.items()},
                    refine_steps=out.steps,
                    falling=float(out.falling[k]),
                )
                prev = results[i]
                if prev is None or cand.objective < prev.objective:
                    results[i] = cand
        return [c for c in results if c is not None]


def _bounds(p: Parameter) -> tuple[Any, Any]:
    """A parameter's search range; parameters without one get a range around the default."""
    if p.low is not None and p.high is not None:
        return p.low, p.high

    def around(v: float) -> tuple[float, float]:
        return (0.5 * v, 1.5 * v) if v > 0 else ((1.5 * v, 0.5 * v) if v < 0 else (-0.5, 0.5))

    if p.type == "VECTOR":
        pairs = [around(float(x)) for x in p.default]
        return tuple(a for a, _ in pairs), tuple(b for _, b in pairs)
    return around(float(p.default))
