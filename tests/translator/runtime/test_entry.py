"""Batches: a batch of B evaluations equals B single evaluations; where a batched float decides
topology (a threshold feeding a Geometry Switch) the batch is split by topology, and where it
only selects values (a FLOAT / VECTOR / INT Switch) it selects per element, differentiably."""

from __future__ import annotations

import random

import pytest
import torch

from tests.fixtures import irdocs as D
from tests.fixtures import parity as P
from tests.fixtures.parity import requires_bpy
from translator import runtime as rt
from translator.codegen import compile_program
from translator.ir import program_from_dict

HEIGHT = D.iface("Socket_1", "VALUE", 0.5, name="Height")
WIDTH = D.iface("Socket_2", "VALUE", 1.0, name="Width")
COUNT = D.iface("Socket_3", "INT", 3, name="Count")


def threshold_program(test: str = "math") -> dict:
    """Height > 1 (Math GREATER_THAN, or Compare) picks the geometry: a line (step Width), or that
    line joined with a copy lifted by Height; a FLOAT Switch on the same condition picks the line's
    y step: Width, or Width * Height."""
    ifaces = [HEIGHT, WIDTH, COUNT]
    tall, out = (D.math("Tall?", "GREATER_THAN", b=1.0), "Value") if test == "math" else \
        (D.compare("Tall?", "GREATER_THAN", b=1.0), "Result")
    nodes = [
        D.group_input(ifaces),
        tall,
        D.math("Width x Height", "MULTIPLY"),
        D.switch("Y Step", "FLOAT"),
        D.combine_xyz("Step"),
        D.mesh_line("Line"),
        D.combine_xyz("Lift"),
        D.transform("Lifted"),
        D.join("Two Lines"),
        D.switch("Shape", "GEOMETRY"),
        D.group_output(),
    ]
    links = [
        D.link("Group Input", "Socket_1", "Tall?", "Value" if test == "math" else "A"),
        D.link("Group Input", "Socket_2", "Width x Height", "Value"),
        D.link("Group Input", "Socket_1", "Width x Height", "Value_001"),
        D.link("Tall?", out, "Y Step", "Switch"),  # Math: float -> boolean
        D.link("Group Input", "Socket_2", "Y Step", "False"),
        D.link("Width x Height", "Value", "Y Step", "True"),
        D.link("Group Input", "Socket_2", "Step", "X"),
        D.link("Y Step", "Output", "Step", "Y"),
        D.link("Step", "Vector", "Line", "Offset"),
        D.link("Group Input", "Socket_3", "Line", "Count"),
        D.link("Group Input", "Socket_1", "Lift", "Z"),
        D.link("Lift", "Vector", "Lifted", "Translation"),
        D.link("Line", "Mesh", "Lifted", "Geometry"),
        D.link("Line", "Mesh", "Two Lines", "Geometry"),
        D.link("Lifted", "Geometry", "Two Lines", "Geometry"),
        D.link("Tall?", out, "Shape", "Switch"),
        D.link("Line", "Mesh", "Shape", "False"),
        D.link("Two Lines", "Geometry", "Shape", "True"),
        D.link("Shape", "Output", "Group Output", "Socket_0"),
    ]
    return D.program({"Program": D.group(nodes, links, inputs=ifaces)})


def expected_threshold(h: float, w: float, count: int = 3) -> torch.Tensor:
    """The program's vertices for one element, written out by hand."""
    y = w * h if h > 1 else w
    line = torch.tensor([[k * w, k * y, 0.0] for k in range(count)], dtype=torch.float64)
    if h <= 1:
        return line
    return torch.cat([line, line + torch.tensor([0.0, 0.0, h], dtype=torch.float64)])


HEIGHTS = [0.5, 1.5, 0.7, 2.0, 1.2]
WIDTHS = [1.0, -0.5, 2.0, 0.25, 0.75]


@pytest.mark.parametrize("test", ["math", "compare"])
def test_disagreeing_topology_raises_a_clear_error(test):
    mod = compile_program(program_from_dict(threshold_program(test)))
    h = torch.tensor(HEIGHTS, dtype=torch.float64)
    with pytest.raises(rt.TopologySplitError) as ei:
        mod.program({}, {"Height": h})
    msg = str(ei.value)
    assert "\n" not in msg
    assert "Switch 'Shape'" in msg and "differs across the batch" in msg and "program_grouped" in msg
    # a batch that agrees is fine, and equals the hand-written result
    same = mod.program({}, {"Height": torch.tensor([1.5, 2.0], dtype=torch.float64),
                            "Width": torch.tensor([1.0, -0.5], dtype=torch.float64)})
    assert torch.allclose(same.verts[1], expected_threshold(2.0, -0.5))


@pytest.mark.parametrize("test", ["math", "compare"])
def test_grouped_evaluation_equals_single_evaluations_with_gradients(test):
    mod = compile_program(program_from_dict(threshold_program(test)))
    h = torch.tensor(HEIGHTS, dtype=torch.float64, requires_grad=True)
    w = torch.tensor(WIDTHS, dtype=torch.float64, requires_grad=True)
    groups = mod.program_grouped({"Count": 3}, {"Height": h, "Width": w})
    assert [g[0].tolist() for g in groups] == [[0, 2], [1, 3, 4]]  # ordered by first element
    weights = {}
    loss = 0.0
    for idx, mesh in groups:
        assert mesh.verts.shape[0] == len(idx)
        for j, i in enumerate(idx.tolist()):
            single = mod.program({"Count": 3}, {"Height": h[i:i + 1].detach(), "Width": w[i:i + 1].detach()})
            assert torch.equal(mesh.verts[j], single.verts[0]) and mesh.polygons() == single.polygons()
            assert torch.allclose(single.verts[0], expected_threshold(HEIGHTS[i], WIDTHS[i]))
            weights[i] = torch.linspace(0.5, 1.5, mesh.verts[j].numel(), dtype=torch.float64).reshape(mesh.verts[j].shape)
            loss = loss + (mesh.verts[j] * weights[i]).sum()
    loss.backward()
    # the same loss from single evaluations, element by element
    for i in range(len(HEIGHTS)):
        hi = h.detach()[i:i + 1].clone().requires_grad_(True)
        wi = w.detach()[i:i + 1].clone().requires_grad_(True)
        (mod.program({"Count": 3}, {"Height": hi, "Width": wi}).verts[0] * weights[i]).sum().backward()
        hg = hi.grad[0] if hi.grad is not None else torch.zeros((), dtype=torch.float64)  # None: not used
        assert torch.allclose(h.grad[i], hg) and torch.allclose(w.grad[i], wi.grad[0])
    assert h.grad[0] == 0 and h.grad[1] != 0  # short elements do not depend on Height beyond the test


@pytest.mark.parametrize("test", ["math", "compare"])
def test_grouped_gradcheck(test):
    mod = compile_program(program_from_dict(threshold_program(test)))

    def f(h, w):
        return torch.cat([m.verts.reshape(-1) for _, m in mod.program_grouped({}, {"Height": h, "Width": w})])

    h = torch.tensor(HEIGHTS, dtype=torch.float64, requires_grad=True)
    w = torch.tensor(WIDTHS, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (h, w))


def value_switch_program() -> dict:
    """Batched thresholds that only select values: FLOAT (Width or Width x Height), VECTOR (start
    (0, 0, Height) or (Width, 0, 0)) and INT (2 or 5, converted to float) switches feed the line's
    offset and start; the count stays fixed, so the topology is shared."""
    ifaces = [HEIGHT, WIDTH]
    nodes = [
        D.group_input(ifaces),
        D.math("Tall?", "GREATER_THAN", b=1.0),
        D.math("Width x Height", "MULTIPLY"),
        D.switch("X Step", "FLOAT"),
        D.switch("Y Step", "INT", false=2, true=5),
        D.combine_xyz("Step"),
        D.combine_xyz("Up", x=0.0),
        D.combine_xyz("Side"),
        D.switch("Start", "VECTOR"),
        D.mesh_line("Line", count=4),
        D.group_output(),
    ]
    links = [
        D.link("Group Input", "Socket_1", "Tall?", "Value"),
        D.link("Group Input", "Socket_2", "Width x Height", "Value"),
        D.link("Group Input", "Socket_1", "Width x Height", "Value_001"),
        D.link("Tall?", "Value", "X Step", "Switch"),
        D.link("Group Input", "Socket_2", "X Step", "False"),
        D.link("Width x Height", "Value", "X Step", "True"),
        D.link("Tall?", "Value", "Y Step", "Switch"),
        D.link("X Step", "Output", "Step", "X"),
        D.link("Y Step", "Output", "Step", "Y"),
        D.link("Group Input", "Socket_1", "Up", "Z"),
        D.link("Group Input", "Socket_2", "Side", "X"),
        D.link("Tall?", "Value", "Start", "Switch"),
        D.link("Up", "Vector", "Start", "False"),
        D.link("Side", "Vector", "Start", "True"),
        D.link("Step", "Vector", "Line", "Offset"),
        D.link("Start", "Output", "Line", "Start Location"),
        D.link("Line", "Mesh", "Group Output", "Socket_0"),
    ]
    return D.program({"Program": D.group(nodes, links, inputs=ifaces)})


def test_value_switches_select_per_element_and_differentiate_through_the_chosen_branch():
    mod = compile_program(program_from_dict(value_switch_program()))
    h = torch.tensor(HEIGHTS, dtype=torch.float64, requires_grad=True)
    w = torch.tensor(WIDTHS, dtype=torch.float64, requires_grad=True)
    mesh = mod.program({}, {"Height": h, "Width": w})  # no split: the topology is shared
    assert mesh.verts.shape == (5, 4, 3)
    for i, (hi, wi) in enumerate(zip(HEIGHTS, WIDTHS)):
        tall = hi > 1
        step = torch.tensor([wi * hi if tall else wi, 5.0 if tall else 2.0, 0.0], dtype=torch.float64)
        start = torch.tensor([wi, 0.0, 0.0] if tall else [0.0, 0.0, hi], dtype=torch.float64)
        expected = start + torch.arange(4, dtype=torch.float64).reshape(4, 1) * step
        assert torch.allclose(mesh.verts[i], expected)
        single = mod.program({}, {"Height": h[i:i + 1].detach(), "Width": w[i:i + 1].detach()})
        assert torch.equal(single.verts[0], mesh.verts[i].detach())
    mesh.verts.sum().backward()
    for i, (hi, wi) in enumerate(zip(HEIGHTS, WIDTHS)):
        # sum over 4 points of x: 6 * step_x + 4 * start_x; of z: 4 * start_z
        if hi > 1:
            assert h.grad[i].item() == pytest.approx(6 * wi)  # only through Width x Height
            assert w.grad[i].item() == pytest.approx(6 * hi + 4)
        else:
            assert h.grad[i].item() == pytest.approx(4.0)  # only through the start's z
            assert w.grad[i].item() == pytest.approx(6.0)
    assert torch.autograd.gradcheck(
        lambda a, b: mod.program({}, {"Height": a, "Width": b}).verts,
        (h.detach().requires_grad_(True), w.detach().requires_grad_(True)))


# -- batch consistency ---------------------------------------------------------------


def mixed_program() -> dict:
    """Several node types: Math (several operations), Combine / Separate XYZ, a nested group used
    twice, a batched FLOAT Switch, an Index Switch on a discrete input, Transform (rotation from a
    batched angle, scale), Join."""
    s_if = [D.iface("Socket_1", "VALUE", 1.0, name="Size"), D.iface("Socket_2", "INT", 3, name="Count")]
    post = D.group(
        [D.group_input(s_if), D.combine_xyz("Up"), D.mesh_line("Line"), D.math("Half", "MULTIPLY", b=0.5),
         D.combine_xyz("Shift"), D.transform("Move"), D.group_output()],
        [D.link("Group Input", "Socket_1", "Up", "Z"), D.link("Up", "Vector", "Line", "Offset"),
         D.link("Group Input", "Socket_2", "Line", "Count"), D.link("Group Input", "Socket_1", "Half", "Value"),
         D.link("Half", "Value", "Shift", "X"), D.link("Shift", "Vector", "Move", "Translation"),
         D.link("Line", "Mesh", "Move", "Geometry"), D.link("Move", "Geometry", "Group Output", "Socket_0")],
        inputs=s_if,
    )
    ifaces = [HEIGHT, WIDTH, COUNT, D.iface("Socket_4", "INT", 0, name="Variant"),
              D.iface("Socket_5", "VECTOR", [0.0, 0.0, 0.0], name="Angles")]
    sep = D.node("Split", "ShaderNodeSeparateXYZ", inputs=[D.sock("Vector", "VECTOR", [0.0, 0.0, 0.0])],
                 outputs=[D.sock("X"), D.sock("Y"), D.sock("Z")])
    nodes = [
        D.group_input(ifaces),
        D.math("Sine", "SINE"), D.math("Square", "POWER", b=2.0), D.math("Sum", "ADD"),
        D.math("Big?", "GREATER_THAN", b=0.3), D.switch("Pick", "FLOAT"),
        D.combine_xyz("Offset"), D.mesh_line("Line"), sep, D.combine_xyz("Scale", z=1.0),
        D.transform("Turn"), D.group_node("Post A", "Post", post), D.group_node("Post B", "Post", post),
        D.index_switch("Variant", "GEOMETRY", [None, None, None]), D.join("All"), D.group_output(),
    ]
    links = [
        D.link("Group Input", "Socket_1", "Sine", "Value"),
        D.link("Group Input", "Socket_2", "Square", "Value"),
        D.link("Sine", "Value", "Sum", "Value"), D.link("Square", "Value", "Sum", "Value_001"),
        D.link("Sine", "Value", "Big?", "Value"),
        D.link("Big?", "Value", "Pick", "Switch"), D.link("Sum", "Value", "Pick", "False"),
        D.link("Group Input", "Socket_2", "Pick", "True"),
        D.link("Pick", "Output", "Offset", "X"), D.link("Group Input", "Socket_1", "Offset", "Y"),
        D.link("Offset", "Vector", "Line", "Offset"), D.link("Group Input", "Socket_3", "Line", "Count"),
        D.link("Group Input", "Socket_5", "Split", "Vector"),
        D.link("Split", "Z", "Scale", "X"), D.link("Square", "Value", "Scale", "Y"),
        D.link("Line", "Mesh", "Turn", "Geometry"), D.link("Group Input", "Socket_5", "Turn", "Rotation"),
        D.link("Scale", "Vector", "Turn", "Scale"),
        D.link("Group Input", "Socket_2", "Post A", "Socket_1"), D.link("Group Input", "Socket_3", "Post A", "Socket_2"),
        D.link("Sum", "Value", "Post B", "Socket_1"),
        D.link("Group Input", "Socket_4", "Variant", "Index"),
        D.link("Turn", "Geometry", "Variant", "Item_0"), D.link("Post A", "Socket_0", "Variant", "Item_1"),
        D.link("Post B", "Socket_0", "Variant", "Item_2"),
        D.link("Variant", "Output", "All", "Geometry"), D.link("Turn", "Geometry", "All", "Geometry"),
        D.link("Post B", "Socket_0", "All", "Geometry"),
        D.link("All", "Geometry", "Group Output", "Socket_0"),
    ]
    return D.program({"Program": D.group(nodes, links, inputs=ifaces), "Post": post})


@pytest.mark.parametrize("variant", [0, 1, 2, 3])
def test_batch_equals_single_evaluations(variant):
    mod = compile_program(program_from_dict(mixed_program()))
    rng = torch.Generator().manual_seed(variant)
    b = 6
    cont = {"Height": torch.rand(b, generator=rng, dtype=torch.float64) * 4 - 2,
            "Width": torch.rand(b, generator=rng, dtype=torch.float64) * 2,
            "Angles": torch.rand(b, 3, generator=rng, dtype=torch.float64) * 6 - 3}
    disc = {"Count": 2 + variant, "Variant": variant}
    batch = mod.program(disc, cont)
    assert batch.verts.shape[0] == b
    for i in range(b):
        single = mod.program(disc, {k: v[i:i + 1] for k, v in cont.items()})
        assert single.polygons() == batch.polygons()
        assert torch.allclose(single.verts[0], batch.verts[i], atol=1e-12, rtol=0)
    # the constant part of the batch is shared, the batched part differs per element
    assert not torch.allclose(batch.verts[0], batch.verts[1])


# -- Blender agrees with the split --------------------------------------------------------


@requires_bpy
def test_threshold_program_parity_on_both_sides():
    """The same threshold program built with bpy: Blender's mesh for each element equals its group's."""
    t = P.Tree()
    height = t.input("Height", "NodeSocketFloat", 0.5)
    width = t.input("Width", "NodeSocketFloat", 1.0)
    count = t.input("Count", "NodeSocketInt", 3)
    tall = t.node("ShaderNodeMath", operation="GREATER_THAN", Value_001=1.0)
    t.link(height, tall, "Value")
    wh = t.node("ShaderNodeMath", operation="MULTIPLY")
    t.link(width, wh, "Value")
    t.link(height, wh, "Value_001")
    ystep = t.node("GeometryNodeSwitch", input_type="FLOAT")
    t.link(tall, ystep, "Switch")
    t.link(width, ystep, "False")
    t.link(wh, ystep, "True")
    step = t.node("ShaderNodeCombineXYZ")
    t.link(width, step, "X")
    t.link(ystep, step, "Y")
    line = t.node("GeometryNodeMeshLine")
    t.link(step, line, "Offset")
    t.link(count, line, "Count")
    lift = t.node("ShaderNodeCombineXYZ")
    t.link(height, lift, "Z")
    lifted = t.node("GeometryNodeTransform")
    t.link(line, lifted, "Geometry")
    t.link(lift, lifted, "Translation")
    two = t.node("GeometryNodeJoinGeometry")
    t.link(line, two, "Geometry")
    t.link(lifted, two, "Geometry")
    shape = t.node("GeometryNodeSwitch", input_type="GEOMETRY")
    t.link(tall, shape, "Switch")
    t.link(line, shape, "False")
    t.link(two, shape, "True")
    t.output(shape)
    obj = t.object()
    module = P.translate_object(obj)
    rng = random.Random(3)
    heights = [0.5, 1.5, 1.0, 1.0000001, 0.9999999] + [rng.uniform(0, 2) for _ in range(15)]
    widths = [rng.uniform(-2, 2) for _ in heights]
    groups = module.program_grouped({"Count": 4}, {"Height": torch.tensor(heights, dtype=torch.float64),
                                                   "Width": torch.tensor(widths, dtype=torch.float64)})
    assert len(groups) == 2 and sorted(i for idx, _ in groups for i in idx.tolist()) == list(range(len(heights)))
    for idx, mesh in groups:
        for j, i in enumerate(idx.tolist()):
            P.set_inputs(obj, {"Height": heights[i], "Width": widths[i], "Count": 4})
            P.compare(P.evaluate_blender(obj), mesh, index=j, what=f"element {i}: height {heights[i]}")


def test_batched_int_switch_feeding_a_count_splits_by_topology():
    """An INT Switch on a batched condition selects per element; used as a count it decides topology."""
    ifaces = [HEIGHT]
    nodes = [D.group_input(ifaces), D.math("Tall?", "GREATER_THAN", b=1.0), D.switch("Count", "INT", false=2, true=4),
             D.combine_xyz("Step"), D.mesh_line("Line"), D.group_output()]
    links = [D.link("Group Input", "Socket_1", "Tall?", "Value"), D.link("Tall?", "Value", "Count", "Switch"),
             D.link("Count", "Output", "Line", "Count"), D.link("Group Input", "Socket_1", "Step", "Z"),
             D.link("Step", "Vector", "Line", "Offset"), D.link("Line", "Mesh", "Group Output", "Socket_0")]
    mod = compile_program(program_from_dict(D.program({"Program": D.group(nodes, links, inputs=ifaces)})))
    h = torch.tensor(HEIGHTS, dtype=torch.float64, requires_grad=True)
    with pytest.raises(rt.TopologySplitError, match="Mesh Line count differs across the batch"):
        mod.program({}, {"Height": h})
    groups = mod.program_grouped({}, {"Height": h})
    assert [(idx.tolist(), m.num_verts) for idx, m in groups] == [([0, 2], 2), ([1, 3, 4], 4)]
    sum(m.verts[..., 2].sum() for _, m in groups).backward()
    assert torch.allclose(h.grad, torch.tensor([1.0, 6.0, 1.0, 6.0, 6.0], dtype=torch.float64))  # sum of k, k < count
