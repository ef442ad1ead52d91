"""The curve-and-extrusion asset programs (tests/programs/curve_assets.py: a floor lamp with a swept stem and
lampshade, a table with a filleted top, a lip and instanced legs): Blender parity over seeded parameter sets
(both discrete branches), batches equal single evaluations, float64 gradients of the vertices w.r.t. every
continuous parameter. """

from __future__ import annotations

import random

import pytest
import torch

from tests.fixtures.parity import batch_and_singles, check_parity, requires_bpy, reset_blender, split_values, translate_object
from tests.programs.curve_assets import ASSETS


def _sets(module, seed: int, count: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        values = {}
        for p in module.PARAMETERS:
            if p.type == "VALUE":
                values[p.name] = rng.uniform(p.min, p.max)
            elif p.type == "INT":
                values[p.name] = rng.randint(int(p.min), int(p.max))
            elif p.type == "BOOLEAN":
                values[p.name] = rng.random() < 0.7
        out.append(values)
    return out


@pytest.fixture(scope="module", params=list(ASSETS))
def asset(request):
    reset_blender()
    obj = ASSETS[request.param]()
    return request.param, obj, translate_object(obj)


@requires_bpy
def test_asset_parity(asset):
    _, obj, module = asset
    sets = _sets(module, 1, 12) + [{p.name: p.default for p in module.PARAMETERS}]
    assert check_parity(obj, sets, module) == len(sets)


@requires_bpy
def test_asset_batch_equals_singles(asset):
    _, _, module = asset
    sets = _sets(module, 2, 5)
    discrete = split_values(module, sets[0])[0]
    sets = [{**s, **discrete} for s in sets]
    batch, singles = batch_and_singles(module, sets)
    torch.testing.assert_close(batch, singles)


@requires_bpy
def test_asset_gradients(asset):
    """float64 gradcheck of the vertices w.r.t. every continuous parameter, at a generic point."""
    _, _, module = asset
    values = _sets(module, 3, 1)[0]
    discrete, continuous = split_values(module, values)
    names = list(continuous)
    inputs = tuple(continuous[n].clone().requires_grad_() for n in names)

    def verts(*xs):
        from translator import runtime as rt

        with rt.eval_context(torch.float64, trace=False):
            return module.program(discrete, dict(zip(names, xs))).verts

    assert torch.autograd.gradcheck(verts, inputs, atol=1e-6, rtol=1e-4)
