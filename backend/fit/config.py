"""One config tree for a fit (nerfstudio's model): :class:`FitConfig` nests the objective, the
refinement and every search method's settings, so that a run is described by one value that is
saved with its result (``result.json``'s ``config``) and can be run again
(``shapeprog fit --config result.json``).

On the command line every field is an option: ``--budget 30``, ``--objective.depth-weight 0.5``,
``--refine.lr-params 0.3``, ``--mcts.exploration 0.7`` (see :mod:`backend.options`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..objective import ObjectiveConfig
from ..search import METHODS
from ..search.base import SearchConfig
from ..search.coordinate_descent import CDConfig
from ..search.exhaustive import ExhaustiveConfig
from ..search.genetic import GAConfig
from ..search.mcts import MCTSConfig
from ..search.refine import RefineSettings

__all__ = ["FitConfig", "Method"]

Method = Literal["mcts", "ga", "cd", "exhaustive"]


@dataclass
class FitConfig:
    """Everything that decides a fit besides its inputs (program, scan)."""

    method: Method = "mcts"
    """Search method: mcts (the paper's), ga (genetic), cd (coordinate-descent baseline) or exhaustive."""
    budget: float = 60.0
    """Time budget in seconds, the final refinement included."""
    max_evaluations: int | None = None
    """Also stop after this many objective evaluations (candidates x Adam steps). When this, not the time
    budget, ends the search, a seed gives the same result on any machine. The pilot (the default configuration
    under every pose hypothesis) always runs to its end, so a fit evaluates at least that much (a cabinet's fit
    with the default settings, given 100, ran 241)."""
    seed: int = 0
    """Random seed (results are reproducible for a seed on one machine)."""
    device: str = "cpu"
    """Torch device: cpu or cuda."""
    scale_slack: float = 0.0
    """Allowed uniform scale deviation (e.g. 0.05); 0 keeps the program's metric size."""
    min_points: int = 50
    """Refuse scans with fewer points than this."""
    max_scan_points: int = 100_000
    """Scans with more points are subsampled (seeded) to this many before anything else: the objective uses
    far fewer (``objective.fine_scan_points`` and 4x as many neighbours), so a 10-million-point scan costs
    about what a 100-thousand-point one does."""
    locks: dict[str, Any] = field(default_factory=dict, metadata={"cli": False})
    """Parameter values to keep fixed (name -> value)."""
    init: dict[str, Any] | None = field(default=None, metadata={"cli": False})
    """Warm start: parameter values from an earlier result."""
    init_pose: list[list[float]] | None = field(default=None, metadata={"cli": False})
    """Warm start world_from_program 4x4 (from an earlier result)."""
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    """Weights and settings of the fitting objective."""
    refine: RefineSettings = field(default_factory=RefineSettings)
    """The batched Adam refinement of the continuous parameters and the pose."""
    mcts: MCTSConfig = field(default_factory=MCTSConfig)
    """Settings of the mcts search."""
    ga: GAConfig = field(default_factory=GAConfig)
    """Settings of the ga search."""
    cd: CDConfig = field(default_factory=CDConfig)
    """Settings of the cd search."""
    exhaustive: ExhaustiveConfig = field(default_factory=ExhaustiveConfig)
    """Settings of the exhaustive search."""

    @property
    def search(self) -> SearchConfig:
        """The chosen method's settings."""
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r} (choose from {', '.join(METHODS)})")
        return getattr(self, self.method)

    def share(self, seconds: float, **changes: Any) -> FitConfig:
        """A copy for one part of this fit that gets ``seconds`` of its budget and, under ``max_evaluations``,
        the same fraction of its evaluations (at least one), so that a fit split into parts (a scene object's
        screening fits, its continuation and its refit) stays reproducible when the evaluations end it;
        ``changes`` are set too."""
        evaluations = self.max_evaluations
        if evaluations is not None:
            evaluations = max(1, round(evaluations * seconds / self.budget))
        return replace(self, budget=seconds, max_evaluations=evaluations, **changes)

    def with_search(self, **settings: Any) -> FitConfig:
        """A copy whose chosen method's settings have ``settings`` changed (``refine_steps=8``, ...)."""
        return replace(self, **{self.method: replace(self.search, **settings)})
