"""Galleries of library programs (backend.gallery): the description of a sample, sampled and corner values, the shaded tile."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from tests.fixtures.library import load
from tests.fixtures.meshes import boxes


def test_describe_lists_only_active_discrete_values():
    from backend.gallery import describe

    _, space, _ = load("chair")
    values = {p.name: p.default for p in space.parameters}
    values.update({"Leg Style": "Star Base", "Back Style": "Slatted", "Has Armrests": False, "Round Legs": True,
                   "Slat Count": 5})
    assert describe(space, values) == ["Leg Style: Star Base", "Back Style: Slatted", "no Armrests", "Slat Count: 5"]
    values.update({"Leg Style": "Four Legs", "Back Style": "None", "Round Legs": False, "Has Stretchers": True})
    assert describe(space, values) == ["Leg Style: Four Legs", "Back Style: None", "no Armrests", "Round Legs: no",
                                       "Has Stretchers"]


def test_sample_values_respect_ranges_choices_and_fixed_values():
    from backend.gallery import corner_values, sample_values

    _, space, _ = load("cabinet")
    sets = sample_values(space, 200, random.Random(3), discrete={"Front Style": "Doors"})
    assert {s["Front Style"] for s in sets} == {"Doors"}
    assert {s["Base Style"] for s in sets} == {"Plinth", "Legs", "None"}
    for p in space.continuous:
        vals = [s[p.name] for s in sets]
        assert p.low <= min(vals) < max(vals) <= p.high
    assert sample_values(space, 5, random.Random(3)) == sample_values(space, 5, random.Random(3))
    lo, hi = corner_values(space, {"Drawer Count": 6}, False), corner_values(space, {}, True)
    assert lo["Width"] == pytest.approx(0.3) and hi["Width"] == pytest.approx(2.0)
    assert lo["Drawer Count"] == 6 and hi["Drawer Count"] == 3


def test_shade_mesh_draws_an_outlined_object_on_white():
    from backend.gallery import shade_mesh
    from translator.geometry import MeshBatch

    v, p = boxes((-0.5, 0.5, -0.5, 0.5, 0.0, 1.0))
    mesh = MeshBatch(verts=v, corner_verts=torch.tensor([i for f in p for i in f]),
                     face_offsets=torch.arange(0, 4 * len(p) + 1, 4))
    img = shade_mesh(mesh, 0, 64)
    assert img.shape == (64, 64, 3)
    white = (img == 1.0).all(-1)
    assert white[0, 0] and white[-1, -1] and not white[32, 32]
    shades = {tuple(np.round(c, 3)) for c in img[~white].reshape(-1, 3)}
    assert (0.2, 0.2, 0.2) in shades and len(shades) >= 3  # outline plus at least two lit faces
