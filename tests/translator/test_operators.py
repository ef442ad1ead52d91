"""Operators: the readable module (plain operators where they are exactly the node) computes bit for bit what the
node calls compute; operands that can be fields keep the node call."""

from __future__ import annotations

import math
import random

import pytest
import torch

from tests.fixtures import irdocs as D
from tests.fixtures.library import PROGRAMS, library_program
from translator.codegen import compile_program, generate_source
from translator.ir import program_from_dict
from translator.params import parameter_space


def _random_inputs(space, rng: random.Random, dtype: torch.dtype, batch: tuple[int, ...]) -> tuple[dict, dict]:
    """Random discrete values, and continuous tensors of shape ``batch`` for two thirds of the
    continuous parameters (the others stay at their defaults, Python floats in the program)."""
    discrete = {p.name: rng.choice(p.choices) for p in space.discrete if p.choices}
    continuous = {}
    for i, p in enumerate(space.continuous):
        if i % 3 == 1 or p.type != "VALUE":
            continue
        values = torch.tensor([rng.uniform(p.low, p.high) for _ in range(math.prod(batch))], dtype=dtype)
        continuous[p.name] = values.reshape(batch).requires_grad_()
    return discrete, continuous


@pytest.mark.parametrize("name", PROGRAMS)
def test_operators_compute_exactly_the_node_calls(name):
    """The readable module (operators) equals the module made of node calls only, bit for bit:
    vertices, polygons and gradients, in float32 and float64, batched and single."""
    prog = library_program(name)
    space = parameter_space(prog)
    readable, calls = compile_program(prog), compile_program(prog, operators=False)
    assert " * 0.5" in readable.SOURCE and " * 0.5" not in calls.SOURCE
    rng = random.Random(7)
    for dtype, batch in [(torch.float32, (3,)), (torch.float64, (2,)), (torch.float32, ())] * 2:
        discrete, continuous = _random_inputs(space, rng, dtype, batch)
        results = []
        for mod in (readable, calls):
            mesh = mod.program(discrete, continuous)
            weights = torch.linspace(-1.0, 1.0, mesh.verts.numel(), dtype=dtype).reshape(mesh.verts.shape)
            grads = torch.autograd.grad((mesh.verts * weights).sum(), list(continuous.values()), allow_unused=True)
            results.append((mesh.verts.detach(), mesh.polygons(), grads))
        (va, pa, ga), (vb, pb, gb) = results
        assert torch.equal(va, vb) and pa == pb, (discrete, dtype, batch)
        for a, b in zip(ga, gb):
            assert (a is None and b is None) or torch.equal(a, b), (discrete, dtype, batch)


def field_program() -> dict:
    """A line lifted by Double(Height), then bent by fields: Bend = Position.z * Amount (a field
    operand) and Ripple(Position.z) (a group called with a field)."""
    value_out = [D.iface("Socket_9", "VALUE", name="Result")]

    def doubling(name):
        g_in = [D.iface("Socket_1", "VALUE", 1.0, name="X")]
        return D.group([D.group_input(g_in), D.math("Twice", "MULTIPLY", b=2.0), D.group_output(value_out)],
                       [D.link("Group Input", "Socket_1", "Twice", "Value"), D.link("Twice", "Value", "Group Output", "Socket_9")],
                       inputs=g_in, outputs=value_out)

    double, ripple = doubling("Double"), doubling("Ripple")
    ifaces = [D.iface("Socket_1", "VALUE", 0.5, name="Height"), D.iface("Socket_2", "VALUE", 0.25, name="Amount")]
    split = D.node("Split", "ShaderNodeSeparateXYZ", inputs=[D.sock("Vector", "VECTOR", [0.0, 0.0, 0.0])],
                   outputs=[D.sock("X"), D.sock("Y"), D.sock("Z")])
    set_position = D.node("Moved", "GeometryNodeSetPosition",
                          inputs=[D.sock("Geometry", "GEOMETRY"), D.sock("Selection", "BOOLEAN", True),
                                  D.sock("Position", "VECTOR", [0.0, 0.0, 0.0]), D.sock("Offset", "VECTOR", [0.0, 0.0, 0.0])],
                          outputs=[D.sock("Geometry", "GEOMETRY")])
    nodes = [D.group_input(ifaces), D.group_node("Doubled", "Double", double), D.combine_xyz("Up"), D.mesh_line("Line", count=4),
             D.node("Position", "GeometryNodeInputPosition", outputs=[D.sock("Position", "VECTOR")]), split,
             D.math("Bend", "MULTIPLY"), D.group_node("Rippled", "Ripple", ripple), D.combine_xyz("Shift"), set_position,
             D.group_output()]
    links = [D.link("Group Input", "Socket_1", "Doubled", "Socket_1"), D.link("Doubled", "Socket_9", "Up", "Z"),
             D.link("Up", "Vector", "Line", "Offset"), D.link("Position", "Position", "Split", "Vector"),
             D.link("Split", "Z", "Bend", "Value"), D.link("Group Input", "Socket_2", "Bend", "Value_001"),
             D.link("Split", "Z", "Rippled", "Socket_1"), D.link("Bend", "Value", "Shift", "X"),
             D.link("Rippled", "Socket_9", "Shift", "Y"), D.link("Line", "Mesh", "Moved", "Geometry"),
             D.link("Shift", "Vector", "Moved", "Offset"), D.link("Moved", "Geometry", "Group Output", "Socket_0")]
    return D.program({"Program": D.group(nodes, links, inputs=ifaces), "Double": double, "Ripple": ripple})


def test_operands_that_can_be_fields_keep_the_node_call():
    prog = program_from_dict(field_program())
    src = generate_source(prog)
    body = lambda name: src[src.index(f"def {name}("):].split("\n\n\n")[0]
    assert "twice = rt.as_float(x) * 2.0" in body("group_double")  # only ever called with a number
    assert "twice = math_nodes.math(value=x, value_001=2.0, operation='MULTIPLY')" in body("group_ripple")  # with a field
    assert "bend = math_nodes.math(value=split_z, value_001=amount, operation='MULTIPLY')" in body("group_program")
    height, amount = torch.tensor([0.5, 1.5], requires_grad=True), torch.tensor([0.25, -1.0], requires_grad=True)
    mesh = compile_program(prog).program({}, {"Height": height, "Amount": amount})
    z = torch.arange(4.0) * 2 * height.detach()[:, None]
    assert torch.allclose(mesh.verts, torch.stack([z * amount.detach()[:, None], 2 * z, z], -1))
    reference = compile_program(prog, operators=False).program({}, {"Height": height, "Amount": amount})
    assert torch.equal(mesh.verts, reference.verts)


def operator_modes_program() -> dict:
    """Math and Vector Math nodes in the modes that become operators and in those that must not."""
    ifaces = [D.iface("Socket_1", "VALUE", 0.5, name="Size"), D.iface("Socket_2", "VECTOR", [0.0, 1.0, 2.0], name="Shift")]
    clamped = D.math("Clamped", "ADD", b=0.75)
    clamped["properties"]["use_clamp"] = True

    def vector_math(name, operation):
        return D.node(name, "ShaderNodeVectorMath", properties={"operation": operation},
                      inputs=[D.sock("Vector", "VECTOR", [0.0] * 3), D.sock("Vector_001", "VECTOR", [0.0, 0.0, 1.0]),
                              D.sock("Vector_002", "VECTOR", [0.0] * 3, enabled=False),
                              D.sock("Scale", "VALUE", 1.0, enabled=False)],
                      outputs=[D.sock("Vector", "VECTOR"), D.sock("Value")])

    nodes = [D.group_input(ifaces), D.math("From Half", "SUBTRACT", a=0.5), D.math("Halved", "DIVIDE", b=2.0), clamped,
             D.math("Total", "ADD"), vector_math("Raised", "ADD"), vector_math("Length Of", "LENGTH"),
             vector_math("Stretched", "MULTIPLY"), D.combine_xyz("Start"), D.mesh_line("Line", count=3), D.group_output()]
    links = [D.link("Group Input", "Socket_1", "From Half", "Value_001"), D.link("Group Input", "Socket_1", "Halved", "Value"),
             D.link("Group Input", "Socket_1", "Clamped", "Value"), D.link("From Half", "Value", "Total", "Value"),
             D.link("Halved", "Value", "Total", "Value_001"), D.link("Group Input", "Socket_2", "Raised", "Vector"),
             D.link("Raised", "Vector", "Stretched", "Vector"), D.link("Raised", "Vector", "Stretched", "Vector_001"),
             D.link("Raised", "Vector", "Length Of", "Vector"), D.link("Total", "Value", "Start", "X"),
             D.link("Clamped", "Value", "Start", "Y"), D.link("Length Of", "Value", "Start", "Z"),
             D.link("Start", "Vector", "Line", "Start Location"), D.link("Stretched", "Vector", "Line", "Offset"),
             D.link("Line", "Mesh", "Group Output", "Socket_0")]
    return D.program({"Program": D.group(nodes, links, inputs=ifaces)})


def test_operators_only_where_they_are_the_node():
    prog = program_from_dict(operator_modes_program())
    src = generate_source(prog)
    assert "from_half = 0.5 - rt.as_float(size)" in src
    assert "halved = math_nodes.math(value=size, value_001=2.0, operation='DIVIDE')" in src  # safe division
    assert "clamped = math_nodes.math(value=size, value_001=0.75, operation='ADD', use_clamp=True)" in src
    assert "total = from_half + halved" in src
    assert "raised_vector = rt.as_vector(shift) + rt.as_vector((0.0, 0.0, 1.0))" in src
    assert "stretched_vector = raised_vector * raised_vector" in src
    assert "_, length_of_value = math_nodes.vector_math(vector=raised_vector, vector_001=(0.0, 0.0, 1.0), " \
           "operation='LENGTH')" in src  # not a mode with an operator
    size, shift = torch.tensor([0.5, 3.0], requires_grad=True), torch.tensor([[0.0, 1.0, 2.0], [1.0, -1.0, 0.5]], requires_grad=True)
    for dtype in (torch.float32, torch.float64):
        inputs = {"Size": size.to(dtype), "Shift": shift.to(dtype)}
        a = compile_program(prog).program({}, inputs)
        b = compile_program(prog, operators=False).program({}, inputs)
        assert torch.equal(a.verts, b.verts)
        ga = torch.autograd.grad(a.verts.sum(), [size, shift])
        gb = torch.autograd.grad(b.verts.sum(), [size, shift])
        assert all(torch.equal(x, y) for x, y in zip(ga, gb))
    assert torch.equal(compile_program(prog).program().verts, compile_program(prog, operators=False).program().verts)
