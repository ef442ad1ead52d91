"""A scanned scene as ``fit-scene`` sees it: points with a label and an instance each (:class:`Scene`), the
objects it holds (:class:`SceneObject`), and its structure: floor, gravity and walls (:class:`Structure`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .labels import category_of

__all__ = ["Scene", "SceneObject", "Structure", "Wall"]


@dataclass
class SceneObject:
    """One object instance of a scene.

    Attributes:
        instance: its id as the input numbers it (the PLY's instance field, ScanNet's ``objectId``, the index of
            a Scan2CAD model).
        label: its label's name as read (``kitchen cabinets``, ``night stand``).
        indices: ``(K,)`` int64 rows of its points in :attr:`Scene.points`.
        box: ``(4, 4)`` float64 map from the unit cube ``[-1, 1]^3`` to the scene (an annotated box), or None.
        yaw: the box's yaw (radians), or None.
    """

    instance: int
    label: str
    indices: torch.Tensor
    box: np.ndarray | None = None
    yaw: float | None = None

    @property
    def category(self) -> str:
        """The label as a category (:func:`~backend.scene.labels.category_of`)."""
        return category_of(self.label)

    @property
    def key(self) -> str:
        """A file-name-safe name: ``<instance>_<category>``."""
        return f"{self.instance}_{'_'.join(self.category.split()) or 'unlabelled'}"


@dataclass
class Scene:
    """A scanned scene: points with colors, a label and an instance each.

    Attributes:
        points: ``(N, 3)`` float32 points in the scan's frame (metres).
        colors: ``(N, 3)`` float32 in [0, 1], or None.
        labels: ``(N,)`` int64 label id of each point (``-1``: none).
        label_names: label id -> name.
        instances: ``(N,)`` int64 instance of each point (``-1``: none).
        objects: the instances by id (points, label, box).
        source: where it came from (a path and the reader's options).
    """

    points: torch.Tensor
    colors: torch.Tensor | None
    labels: torch.Tensor
    label_names: dict[int, str]
    instances: torch.Tensor
    objects: dict[int, SceneObject] = field(default_factory=dict)
    source: str = ""

    def mask_of(self, *names: str) -> torch.Tensor:
        """``(N,)`` bool: the points whose label's category is one of ``names``."""
        ids = [i for i, n in self.label_names.items() if category_of(n) in names]
        if not ids:
            return torch.zeros(len(self.points), dtype=torch.bool)
        return torch.isin(self.labels, torch.tensor(ids, dtype=self.labels.dtype))


@dataclass
class Wall:
    """A vertical wall plane ``n . x + d = 0`` (``n`` horizontal, unit, pointing into the room) and the part of it
    the scan shows: ``span`` (along ``(-n_y, n_x)``) and ``heights`` (z range), with its ``points`` count."""

    normal: np.ndarray
    d: float
    span: tuple[float, float]
    heights: tuple[float, float]
    points: int

    def plane(self) -> np.ndarray:
        """``(4,)`` ``[n_x, n_y, 0, d]``."""
        return np.array([self.normal[0], self.normal[1], 0.0, self.d])

    def along(self, xy: np.ndarray) -> np.ndarray:
        """Position of points ``(P, 2)`` along the wall."""
        return xy @ np.array([-self.normal[1], self.normal[0]])


@dataclass
class Structure:
    """A scene's floor, gravity and walls, estimated from the whole scene (:func:`~backend.scene.structure.estimate`).

    Attributes:
        level: ``(4, 4)`` float64 rotation taking the scan's frame to a gravity-aligned one (identity when the
            scan's z already points up within ``0.5`` degrees).
        floor_z: the floor's height in the levelled frame.
        tilt_deg: the angle between the scan's z axis and gravity.
        walls: the walls in the levelled frame.
        floor_source: ``labels`` (the points labelled floor) or ``plane`` (the largest low horizontal plane).
        wall_source: ``labels`` or ``planes`` (vertical planes among the points of no mapped object).
    """

    level: np.ndarray
    floor_z: float
    tilt_deg: float
    walls: list[Wall]
    floor_source: str
    wall_source: str
