"""The real reference programs (../shared/reference_programs, Blender 4.0 files by other people):
translation, Blender parity over seeded random parameters, gradients end to end, batch consistency."""

from __future__ import annotations

import random

import pytest
import torch

from tests.fixtures.parity import compare, evaluate_blender, requires_bpy
from tests.fixtures.reference import REFERENCE_DIR, REFERENCE_NAMES, export_reference, requires_reference, sp_config
from translator.codegen import compile_program
from translator.ir import program_from_dict
from translator.params import parameter_space

pytestmark = [requires_bpy, requires_reference]


def _space(name):
    prog = export_reference(name)
    return prog, parameter_space(prog, sp_config(name) if name != "test" else None)


def _draw(space, rng: random.Random) -> dict:
    values = {}
    for p in space:
        if p.kind == "discrete":
            if p.choices:
                values[p.name] = rng.choice(p.choices)
            elif p.type == "INT":
                values[p.name] = max(0, p.default + rng.randint(-2, 2))
        elif p.type == "VALUE":
            lo, hi = (p.low, p.high) if p.low is not None else (0.8 * p.default, 1.2 * p.default)
            values[p.name] = rng.uniform(lo, hi)
    return values


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_reference_program_matches_blender(name):
    import bpy

    from translator.blender_apply import set_modifier_values
    from translator.blender_export import export_blend

    prog = export_blend(REFERENCE_DIR / f"{name}.blend")  # leaves the file open in bpy
    prog = program_from_dict(prog.to_dict())
    module = compile_program(prog)
    _, space = _space(name)
    obj = bpy.data.objects[prog.object]
    rng = random.Random(f"reference-{name}")
    topologies = set()
    for i in range(24):
        values = _draw(space, rng)
        set_modifier_values(obj, values)
        bm = evaluate_blender(obj)
        disc = {k: v for k, v in values.items() if space[k].kind == "discrete"}
        cont = {k: torch.tensor([v], dtype=torch.float64) for k, v in values.items() if space[k].kind == "continuous"}
        mesh = module.program(disc, cont)
        compare(bm, mesh, what=f"{name} set {i} {values}")
        topologies.add((len(bm.verts), len(bm.polygons)))
    assert len(topologies) >= 2, f"{name}: the random sets never changed topology"


def test_gradients_end_to_end_on_the_table():
    prog, space = _space("table")
    module = compile_program(prog)
    names = [p.name for p in space.continuous]
    disc = {"Legs Type": 0, "Top Shape": 1}
    x0 = torch.tensor([float(space[n].default) for n in names], dtype=torch.float64)

    def f(x):
        cont = {n: x[i: i + 1] for i, n in enumerate(names)}
        return module.program(disc, cont).verts.sum(dim=(0, 2))

    assert torch.autograd.gradcheck(f, (x0.clone().requires_grad_(True),), eps=1e-6, atol=1e-5)
    # every parameter active in this configuration moves some vertex
    jac = torch.autograd.functional.jacobian(lambda x: module.program(disc, {n: x[i: i + 1] for i, n in enumerate(names)}).verts, x0)
    active = {p.name for p in space.active(disc)}
    for i, n in enumerate(names):
        moved = bool(jac[..., i].abs().max() > 0)
        assert moved == (n in active), f"{n}: moves vertices={moved}, active={n in active}"


@pytest.mark.parametrize("name", ["table", "cabinet"])
def test_a_batch_equals_single_evaluations(name):
    prog, space = _space(name)
    module = compile_program(prog)
    rng = random.Random(5)
    disc = {p.name: p.default for p in space.discrete}
    sets = []
    for _ in range(6):
        v = _draw(space, rng)
        sets.append({k: x for k, x in v.items() if space[k].kind == "continuous"})
    batch = {k: torch.tensor([s[k] for s in sets], dtype=torch.float64) for k in sets[0]}
    out = module.program(disc, batch)
    for i, s in enumerate(sets):
        one = module.program(disc, {k: torch.tensor([x], dtype=torch.float64) for k, x in s.items()})
        assert one.polygons() == out.polygons()
        assert torch.allclose(one.verts[0], out.verts[i], atol=1e-12)
