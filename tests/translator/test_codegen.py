"""Code generation: only taken branches run, constants are folded, the source is readable
(interface and node names; short literals and operators: test_pysource.py, test_operators.py) and runs
standalone, generated names never clash with the module's own."""

from __future__ import annotations

import ast
import importlib.util
import re

import pytest
import torch

import translator.nodes.transform as transform_nodes
from tests.fixtures import irdocs as D
from tests.fixtures.library import library_program
from translator.codegen import check_supported, compile_program, generate_source
from translator.ir import program_from_dict
from translator.nodes import primitives

USE_B = D.iface("Socket_1", "BOOLEAN", False, name="Use B")
COUNT = D.iface("Socket_2", "INT", 3, name="Count")
STEP = D.iface("Socket_3", "VALUE", 0.5, name="Step")


def branch_program() -> dict:
    """Join(Switch(Use B; False: Transform(Line A), True: Join(Line B, Line B)), Line A)."""
    ifaces = [USE_B, COUNT, STEP]
    nodes = [
        D.group_input(ifaces),
        D.mesh_line("Line A", offset=(0.0, 0.0, 1.0)),
        D.mesh_line("Line B", offset=(1.0, 0.0, 0.0)),
        D.transform("Lift", translation=(0.0, 0.0, 5.0)),
        D.join("Both B"),
        D.switch("Choose", "GEOMETRY"),
        D.join("Result"),
        D.group_output(),
    ]
    links = [
        D.link("Group Input", "Socket_2", "Line A", "Count"),
        D.link("Group Input", "Socket_2", "Line B", "Count"),
        D.link("Line A", "Mesh", "Lift", "Geometry"),
        D.link("Line B", "Mesh", "Both B", "Geometry"),
        D.link("Line B", "Mesh", "Both B", "Geometry"),
        D.link("Group Input", "Socket_1", "Choose", "Switch"),
        D.link("Lift", "Geometry", "Choose", "False"),
        D.link("Both B", "Geometry", "Choose", "True"),
        D.link("Choose", "Output", "Result", "Geometry"),
        D.link("Line A", "Mesh", "Result", "Geometry"),
        D.link("Result", "Geometry", "Group Output", "Socket_0"),
    ]
    return D.program({"Program": D.group(nodes, links, inputs=ifaces)})


def counting(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_only_the_taken_branch_runs(monkeypatch):
    mod = compile_program(program_from_dict(branch_program()))
    lines = counting(monkeypatch, primitives, "mesh_line")
    joins = counting(monkeypatch, transform_nodes, "join_geometry")

    def forbidden(*args, **kwargs):
        raise AssertionError("the untaken branch ran")

    monkeypatch.setattr(transform_nodes, "transform_geometry", forbidden)
    mesh = mod.program({"Use B": True, "Count": 3})
    # Line A (shared with the output Join) and Line B once, though Join uses Line B twice
    assert len(lines) == 2
    assert len(joins) == 2  # 'Both B' and 'Result'
    v = mesh.verts[0]
    expected_b = torch.tensor([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]])
    expected_a = torch.tensor([[0.0, 0, 0], [0, 0, 1], [0, 0, 2]])
    assert torch.equal(v, torch.cat([expected_b, expected_b, expected_a]))
    with pytest.raises(AssertionError, match="untaken branch ran"):
        mod.program({"Use B": False, "Count": 3})


def test_untaken_branch_runs_nothing_in_a_batch_of_one_choice(monkeypatch):
    mod = compile_program(program_from_dict(branch_program()))
    lines = counting(monkeypatch, primitives, "mesh_line")
    mesh = mod.program({"Use B": False, "Count": 2}, {"Step": torch.tensor([0.1, 0.2, 0.3])})
    assert len(lines) == 1  # only Line A: the True branch never ran
    assert mesh.verts.shape == (3, 4, 3)
    assert torch.equal(mesh.verts[1], torch.tensor([[0.0, 0, 5], [0, 0, 6], [0, 0, 0], [0, 0, 1]]))


def folded_program(condition: bool) -> dict:
    """Value 2 -> x3 -> +1 -> Combine XYZ X -> Line offset; a constant Switch picks the line or a Transform."""
    nodes = [
        D.value("Two", 2.0),
        D.math("Times Three", "MULTIPLY", b=3.0),
        D.math("Plus One", "ADD", b=1.0),
        D.combine_xyz("Offset"),
        D.mesh_line("Line", count=3),
        D.transform("Never Moved", translation=(0.0, 0.0, 9.0)),
        D.switch("Fixed", "GEOMETRY", condition=condition),
        D.group_output(),
    ]
    links = [
        D.link("Two", "Value", "Times Three", "Value"),
        D.link("Times Three", "Value", "Plus One", "Value"),
        D.link("Plus One", "Value", "Offset", "X"),
        D.link("Offset", "Vector", "Line", "Offset"),
        D.link("Line", "Mesh", "Never Moved", "Geometry"),
        D.link("Line", "Mesh", "Fixed", "True"),
        D.link("Never Moved", "Geometry", "Fixed", "False"),
        D.link("Fixed", "Output", "Group Output", "Socket_0"),
    ]
    return D.program({"Program": D.group(nodes, links)})


def test_constant_subgraphs_are_folded():
    prog = program_from_dict(folded_program(True))
    src = generate_source(prog)
    assert "math_nodes" not in src and "vector_nodes" not in src  # the whole Math chain and Combine XYZ folded
    assert "offset=(7.0, 0.0, 0.0)" in src
    assert "rt.switch" not in src and "Never Moved" not in src  # constant condition: only the taken branch
    mesh = compile_program(prog).program()
    assert torch.equal(mesh.verts[0], torch.tensor([[0.0, 0, 0], [7, 0, 0], [14, 0, 0]]))
    mesh = compile_program(program_from_dict(folded_program(False))).program()
    assert torch.equal(mesh.verts[0], torch.tensor([[0.0, 0, 9], [7, 0, 9], [14, 0, 9]]))


def test_unsupported_node_in_a_branch_never_taken_is_accepted():
    doc = folded_program(True)
    g = doc["groups"]["Program"]
    g["nodes"].append(D.node("Alien", "GeometryNodeAlien", inputs=[D.sock("Geometry", "GEOMETRY")],
                             outputs=[D.sock("Geometry", "GEOMETRY")]))
    g["links"] = [lk for lk in g["links"] if lk["to_node"] != "Never Moved"] + [
        D.link("Line", "Mesh", "Alien", "Geometry"), D.link("Alien", "Geometry", "Never Moved", "Geometry")]
    check_supported(program_from_dict(doc))
    doc["groups"]["Program"]["nodes"][6]["inputs"][0]["default"] = False  # now the branch is taken
    with pytest.raises(Exception, match=r"node 'Alien' \(GeometryNodeAlien\) in group 'Program': unsupported node type"):
        check_supported(program_from_dict(doc))


def nested_program() -> dict:
    """A group 'Stick' (Count, Height) used twice, and a group 'Pair' that uses 'Stick'."""
    s_if = [D.iface("Socket_1", "INT", 2, name="Count"), D.iface("Socket_2", "VALUE", 1.0, name="Height")]
    stick = D.group(
        [D.group_input(s_if), D.combine_xyz("Up"), D.mesh_line("Line"), D.group_output()],
        [D.link("Group Input", "Socket_2", "Up", "Z"), D.link("Up", "Vector", "Line", "Offset"),
         D.link("Group Input", "Socket_1", "Line", "Count"), D.link("Line", "Mesh", "Group Output", "Socket_0")],
        inputs=s_if,
    )
    p_if = [D.iface("Socket_1", "VALUE", 1.0, name="Height")]
    pair = D.group(
        [D.group_input(p_if), D.group_node("Stick", "Stick", stick), D.transform("Shift", translation=(1.0, 0.0, 0.0)),
         D.group_output()],
        [D.link("Group Input", "Socket_1", "Stick", "Socket_2"), D.link("Stick", "Socket_0", "Shift", "Geometry"),
         D.link("Shift", "Geometry", "Group Output", "Socket_0")],
        inputs=p_if,
    )
    ifaces = [STEP]
    main = D.group(
        [D.group_input(ifaces), D.group_node("Stick A", "Stick", stick), D.group_node("Stick B", "Stick", stick),
         D.group_node("Pair", "Pair", pair), D.join("Join"), D.group_output()],
        [D.link("Group Input", "Socket_3", "Stick A", "Socket_2"), D.link("Group Input", "Socket_3", "Pair", "Socket_1"),
         D.link("Stick A", "Socket_0", "Join", "Geometry"), D.link("Stick B", "Socket_0", "Join", "Geometry"),
         D.link("Pair", "Socket_0", "Join", "Geometry"), D.link("Join", "Geometry", "Group Output", "Socket_0")],
        inputs=ifaces,
    )
    main["nodes"][2]["inputs"][0]["default"] = 4  # 'Stick B' Count left unlinked: the node's own value
    return D.program({"Program": main, "Stick": stick, "Pair": pair})


def test_source_is_readable_one_function_per_group_in_dependency_order():
    src = generate_source(program_from_dict(nested_program()))
    tree = ast.parse(src)
    funcs = [f.name for f in tree.body if isinstance(f, ast.FunctionDef)]
    assert funcs == ["group_stick", "group_pair", "group_program", "program", "program_grouped"]
    body = src[src.index("def group_program"):src.index("def program(")]
    comments = re.findall(r"# '([^']+)' \((\w+)", body)
    assert comments == [("Stick A", "GeometryNodeGroup"), ("Stick B", "GeometryNodeGroup"),
                        ("Pair", "GeometryNodeGroup"), ("Join", "GeometryNodeJoinGeometry")]
    stick = src[src.index("def group_stick"):src.index("def group_pair")]
    assert stick.index("# 'Up'") < stick.index("# 'Line'")
    assert "(stick_b,) = group_stick(count=4, height=1.0)" in body  # arguments named after the interface


def test_nested_groups_evaluate():
    mod = compile_program(program_from_dict(nested_program()))
    mesh = mod.program(continuous={"Step": torch.tensor([0.5, 2.0])})
    assert mesh.verts.shape == (2, 2 + 4 + 2, 3)
    z = torch.arange(4.0)
    zero = torch.zeros(4)
    for b, h in enumerate((0.5, 2.0)):
        expected = torch.cat([
            torch.stack([zero[:2], zero[:2], z[:2] * h], 1),         # Stick A: 2 points, step h
            torch.stack([zero, zero, z], 1),                          # Stick B: 4 points, its own height 1
            torch.stack([zero[:2] + 1, zero[:2], z[:2] * h], 1),     # Pair: Stick of height h moved by x+1
        ])
        assert torch.allclose(mesh.verts[b], expected)


def test_generated_file_runs_standalone(tmp_path):
    prog = program_from_dict(nested_program())
    path = tmp_path / "chair_program.py"
    path.write_text(generate_source(prog), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("chair_program", path)
    standalone = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(standalone)
    compiled = compile_program(prog)
    step = torch.tensor([0.3, 1.7, -2.0], dtype=torch.float64)
    a = standalone.program({}, {"Step": step})
    b = compiled.program({}, {"Step": step})
    assert torch.equal(a.verts, b.verts) and a.polygons() == b.polygons()
    assert a.verts.dtype == torch.float64
    assert [p.name for p in standalone.PARAMETERS] == ["Step"]
    groups = standalone.program_grouped({}, {"Step": step})
    assert len(groups) == 1 and torch.equal(groups[0][0], torch.arange(3))


def test_generated_names_never_clash():
    """Node and socket names that sanitise to the module's own names, builtins, other nodes' names."""
    ifaces = [D.iface("torch", "VALUE", 1.0, name="torch"), D.iface("rt", "INT", 3, name="rt"),
              D.iface("float", "VALUE", 0.75, name="float")]
    nodes = [
        D.group_input(ifaces),
        D.math("math nodes", "MULTIPLY", b=2.0),  # would be the alias of translator.nodes.math
        D.math("A-B", "ADD", b=0.0),
        D.math("A B", "ADD", b=1.0),
        D.combine_xyz("program"),
        D.mesh_line("len"),
        D.combine_xyz("program2", x=4.0, y=5.0),
        D.node("sep", "ShaderNodeSeparateXYZ", inputs=[D.sock("Vector", "VECTOR", [0.0, 0.0, 0.0])],
               outputs=[D.sock("X"), D.sock("Y"), D.sock("Z")]),
        D.math("sep x", "ADD", b=0.0),  # sanitises like the variable of sep's X output
        D.math("for", "MINIMUM"),
        D.group_output(),
    ]
    links = [
        D.link("Group Input", "torch", "math nodes", "Value"),
        D.link("math nodes", "Value", "A-B", "Value"),
        D.link("A-B", "Value", "A B", "Value"),
        D.link("A B", "Value", "program", "X"),
        D.link("Group Input", "torch", "program2", "Z"),
        D.link("program2", "Vector", "sep", "Vector"),
        D.link("sep", "X", "sep x", "Value"),
        D.link("sep", "Y", "sep x", "Value_001"),
        D.link("sep x", "Value", "program", "Y"),
        D.link("Group Input", "float", "for", "Value"),
        D.link("for", "Value", "program", "Z"),
        D.link("program", "Vector", "len", "Offset"),
        D.link("Group Input", "rt", "len", "Count"),
        D.link("len", "Mesh", "Group Output", "Socket_0"),
    ]
    doc = D.program({"Program": D.group(nodes, links, inputs=ifaces)})
    prog = program_from_dict(doc)
    src = generate_source(prog)
    tree = ast.parse(src)
    assigned = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id != "_"]
    assert len(assigned) == len(set(assigned)), assigned
    for name in ("torch", "rt", "float", "program", "math_nodes", "len"):
        assert name not in assigned
    assert "sep_x = " in src and "sep_x_2, sep_y, _ = " in src
    mod = compile_program(prog)
    mesh = mod.program({"rt": 3}, {"torch": torch.tensor([1.5]), "float": torch.tensor([0.25])})
    # x = 1.5 * 2 + 0 + 1 = 4, y = sep.x + sep.y = 4 + 5 = 9, z = min(0.25, 0.5) = 0.25
    assert torch.allclose(mesh.verts[0, 1], torch.tensor([4.0, 9.0, 0.25]))
    assert mesh.verts.shape == (1, 3, 3)


# -- readable source: named after the interface (literals: test_pysource.py; operators: test_operators.py)


@pytest.mark.parametrize(("name", "signature"), [
    ("chair", ("def group_chair(leg_style='Four Legs', back_style='Solid', has_armrests=False, round_legs=False, "
               "has_stretchers=False, slat_count=4, seat_width=0.46, seat_depth=0.45, seat_height=0.46, ")),
    ("table", ("def group_table(top_shape='Rectangular', leg_style='Four Legs', has_lower_shelf=False, has_apron=True, "
               "round_legs=False, width=1.2, depth=0.8, height=0.75, top_thickness=0.03, ")),
])
def test_library_programs_read_like_their_interface(name, signature):
    src = generate_source(library_program(name))
    assert signature in src  # arguments named after the interface, float32 defaults as short literals
    assert "socket_" not in src and "use_clamp=" not in src
    assert not re.findall(r"\d\.\d{9,}", src), "every float32 constant prints as its shortest literal"
    lines = src.splitlines()
    halves = [lines[i + 1].strip() for i, line in enumerate(lines) if line.strip().endswith("(ShaderNodeMath MULTIPLY)")
              and lines[i + 1].strip().endswith(" * 0.5")]
    assert halves and all(re.fullmatch(r"\w+ = [\w.()]+ \* 0\.5", h) for h in halves), halves[:3]
    assert "rt.as_float(seat_width) * 0.5" in src if name == "chair" else "rt.as_float(width) * 0.5" in src
    params = {p.name: p.arg for p in compile_program(library_program(name)).PARAMETERS}
    assert params["Leg Style"] == "leg_style"
