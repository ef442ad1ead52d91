"""The search's vocabulary: configurations and their keys, candidates, refinement requests.

A *configuration* is a full discrete assignment: the pose hypothesis index
(key ``POSE``) plus a value for every discrete parameter (inactive ones at
their defaults, so equal configurations compare equal). A :class:`Candidate`
adds the continuous state found for it by gradient refinement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["POSE", "Candidate", "Moments", "RefineRequest", "State", "config_key", "quarter_turns"]

POSE = "__pose__"


def config_key(config: dict[str, Any]) -> tuple:
    return tuple(sorted(config.items(), key=lambda kv: kv[0]))


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
    falling: float = 0.0
    """How fast the objective still fell at the end of the refinement that gave it (the best a third of its steps
    before the end over the best at the end, minus 1): a candidate still falling fast has not converged, and
    its objective overstates where more steps take it."""

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
