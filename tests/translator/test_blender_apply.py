"""translator.blender_apply: values written onto a geometry-nodes modifier (the scene.blend and fitted.blend
outputs, the add-on)."""

from __future__ import annotations

import torch

from tests.fixtures import ROOT
from tests.fixtures.parity import compare, evaluate_blender, requires_bpy


@requires_bpy
def test_two_menus_that_share_an_item_name_are_set_apart():
    # the sofa's Arm Style and Chaise both offer 'None': Chaise 'None' once took Arm Style's item, a chaise
    import bpy

    from translator.blender_apply import set_modifier_values
    from translator.blender_export import export_blend
    from translator.codegen import compile_program
    from translator.params import parameter_space

    prog = export_blend(ROOT / "sample_scenes" / "programs" / "sofa.blend")
    module = compile_program(prog)
    space = parameter_space(prog)
    obj = bpy.data.objects[prog.object]
    for arm in ("Square", "None"):
        for chaise in ("None", "Left", "Right"):
            values = {p.name: p.default for p in space}
            values.update({"Arm Style": arm, "Chaise": chaise, "Chaise Length": 1.2})
            set_modifier_values(obj, values)
            disc = {p.name: values[p.name] for p in space.discrete}
            cont = {p.name: torch.tensor([float(values[p.name])], dtype=torch.float64) for p in space.continuous}
            compare(evaluate_blender(obj), module.program(disc, cont), what=f"Arm Style {arm}, Chaise {chaise}")
