"""Program IR: loading, validation errors (one line naming file / group / node / link),
round trips, and the up-front check for unsupported nodes."""

from __future__ import annotations

import copy
import json

import pytest

from tests.fixtures import irdocs as D
from translator.ir import ProgramError, load_program, program_from_dict, quote, save_program, topological_order


def line_program() -> dict:
    """Group Input (Count, Step) -> Math -> Combine XYZ -> Mesh Line -> Group Output."""
    ifaces = [D.iface("Socket_1", "INT", 4, name="Count"), D.iface("Socket_2", "VALUE", 0.5, name="Step")]
    nodes = [
        D.group_input(ifaces),
        D.math("Math", "MULTIPLY", b=2.0),
        D.combine_xyz("Combine XYZ"),
        D.mesh_line("Mesh Line"),
        D.group_output(),
    ]
    links = [
        D.link("Group Input", "Socket_2", "Math", "Value"),
        D.link("Math", "Value", "Combine XYZ", "X"),
        D.link("Combine XYZ", "Vector", "Mesh Line", "Offset"),
        D.link("Group Input", "Socket_1", "Mesh Line", "Count"),
        D.link("Mesh Line", "Mesh", "Group Output", "Socket_0"),
    ]
    return D.program({"Program": D.group(nodes, links, inputs=ifaces)})


def write(tmp_path, doc, name="prog.json") -> str:
    p = tmp_path / name
    p.write_text(json.dumps(doc), encoding="utf-8")
    return str(p)


def load_error(tmp_path, doc) -> str:
    path = write(tmp_path, doc)
    with pytest.raises(ProgramError) as ei:
        load_program(path)
    msg = str(ei.value)
    assert "\n" not in msg and "\r" not in msg, f"not one line: {msg!r}"
    assert msg.startswith(path + ": "), msg
    return msg


def entry(doc) -> dict:
    return doc["groups"]["Program"]


def node_named(doc, name) -> dict:
    return next(n for n in entry(doc)["nodes"] if n["name"] == name)


# -- round trip -----------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    prog = program_from_dict(line_program())
    path = tmp_path / "p.json"
    save_program(prog, path)
    again = load_program(path)
    assert again.to_dict() == prog.to_dict()
    assert again.entry_group.node("Math").properties["operation"] == "MULTIPLY"
    assert [s.identifier for s in again.entry_group.inputs] == ["Socket_1", "Socket_2"]


def test_topological_order_follows_links_and_file_order():
    doc = line_program()
    # list the nodes backwards: the order must still follow the links
    entry(doc)["nodes"].reverse()
    order = topological_order(program_from_dict(doc).entry_group)
    assert order.index("Math") < order.index("Combine XYZ") < order.index("Mesh Line") < order.index("Group Output")
    assert order.index("Group Input") < order.index("Math")


# -- validation errors ------------------------------------------------------------


def _set(path_keys, value):
    def mutate(doc):
        d = doc
        for k in path_keys[:-1]:
            d = d[k]
        d[path_keys[-1]] = value
    return mutate


def _node_field(name, key, value):
    def mutate(doc):
        node_named(doc, name)[key] = value
    return mutate


def _add_link(*args):
    def mutate(doc):
        entry(doc)["links"].append(D.link(*args))
    return mutate


def _add_node(nd):
    def mutate(doc):
        entry(doc)["nodes"].append(nd)
    return mutate


def _group_node_to(missing):
    def mutate(doc):
        entry(doc)["nodes"].append(D.node("Sub", "GeometryNodeGroup", group=missing))
    return mutate


def _cycle(doc):
    entry(doc)["nodes"] += [D.math("A"), D.math("B"), D.math("C")]
    entry(doc)["links"] += [D.link("A", "Value", "B", "Value"), D.link("B", "Value", "C", "Value"),
                            D.link("C", "Value", "A", "Value_001"), D.link("C", "Value", "Combine XYZ", "Y")]


def _recursion(doc):
    inner = D.group([D.node("Back", "GeometryNodeGroup", group="Program")], [])
    doc["groups"]["Inner"] = inner
    entry(doc)["nodes"].append(D.node("Sub", "GeometryNodeGroup", group="Inner"))


def _interface_field(key, value):
    def mutate(doc):
        entry(doc)["inputs"][0][key] = value
    return mutate


def _socket_field(name, key, value):
    def mutate(doc):
        node_named(doc, name)["inputs"][0][key] = value
    return mutate


def _duplicate_socket(doc):
    nd = node_named(doc, "Math")
    nd["inputs"].append(copy.deepcopy(nd["inputs"][0]))


def _link_missing_field(doc):
    del entry(doc)["links"][1]["to_socket"]


BAD = {
    "schema too new": (_set(["schema_version"], 2), ["unsupported schema_version 2", "reads 1"]),
    "schema missing": (lambda d: d.pop("schema_version"), ["unsupported schema_version None"]),
    "schema boolean": (_set(["schema_version"], True), ["unsupported schema_version True"]),
    "entry missing": (_set(["entry"], "Nope"), ["entry group 'Nope' is missing", "'Program'"]),
    "missing group": (_group_node_to("Inner"), ["group 'Program' node 'Sub': uses missing group 'Inner'"]),
    "dangling node": (_add_link("Ghost", "Value", "Math", "Value_001"),
                      ["group 'Program' link 'Ghost':'Value' -> 'Math':'Value_001'", "node 'Ghost' does not exist"]),
    "dangling output": (_add_link("Math", "Result", "Combine XYZ", "Y"), ["node 'Math' has no output 'Result'"]),
    "dangling input": (_add_link("Math", "Value", "Combine XYZ", "W"), ["node 'Combine XYZ' has no input 'W'"]),
    "two links into one socket": (_add_link("Group Input", "Socket_2", "Combine XYZ", "X"),
                                  ["input 'X' of node 'Combine XYZ' is not multi-input but has several links"]),
    "cycle": (_cycle, ["group 'Program': cycle through nodes 'A' -> 'B' -> 'C' -> 'A'"]),
    "group recursion": (_recursion, ["group recursion: 'Program' -> 'Inner' -> 'Program'"]),
    "duplicate node": (_add_node(D.math("Math")), ["group 'Program': duplicate node name 'Math'"]),
    "duplicate socket": (_duplicate_socket, ["node 'Math': duplicate input socket 'Value'"]),
    "nodes not a list": (_set(["groups", "Program", "nodes"], {}), ["group 'Program': field 'nodes' must be a list, got an object"]),
    "groups not an object": (_set(["groups"], []), ["program: field 'groups' must be an object, got a list"]),
    "group not an object": (_set(["groups", "Program"], 3), ["group 'Program': expected an object, got an integer"]),
    "no bl_idname": (lambda d: node_named(d, "Math").pop("bl_idname"), ["node 'Math': missing field 'bl_idname'"]),
    "code as bl_idname": (_node_field("Math", "bl_idname", "__import__('os').system('echo hi')"),
                          ["node 'Math': invalid bl_idname \"__import__('os').system('echo hi')\""]),
    "bl_idname with newline": (_node_field("Math", "bl_idname", "ShaderNodeMath\nimport os"), ["invalid bl_idname 'ShaderNodeMath\\nimport os'"]),
    "node name not a string": (lambda d: entry(d)["nodes"][1].__setitem__("name", 7), ["group 'Program' node #1: field 'name' must be a string, got an integer"]),
    "properties not an object": (_node_field("Math", "properties", [1]), ["node 'Math': field 'properties' must be an object, got a list"]),
    "property not data": (_node_field("Math", "properties", {"operation": {"x": {"y": {"z": {"w": [1]}}}}}),
                          ["node 'Math': property 'operation' is not plain data"]),
    "mute not boolean": (_node_field("Math", "mute", "yes"), ["node 'Math': field 'mute' must be true or false, got a string"]),
    "unknown socket type": (_socket_field("Math", "type", "FLOATY"), ["node 'Math' input socket 'Value': unknown socket type 'FLOATY'"]),
    "default is an object": (_socket_field("Math", "default", {"a": 1}), ["socket 'Value': 'default' must be a number"]),
    "default of another type": (_socket_field("Math", "default", "abc"),
                                ["node 'Math' input socket 'Value': 'default' '\"abc\"' does not fit socket type VALUE (expected a finite number within float32 range)"]),
    "vector default too short": (lambda d: node_named(d, "Mesh Line")["inputs"][3].__setitem__("default", [1.0]),
                                 ["input socket 'Offset': 'default' '[1.0]' does not fit socket type VECTOR (expected a list of 3 finite numbers)"]),
    "interface default of another type": (_interface_field("default", 2.5),
                                          ["input 'Socket_1': 'default' '2.5' does not fit socket type INT (expected a 32-bit integer)"]),
    "default NaN": (_socket_field("Math", "default", float("nan")),
                    ["'default' 'NaN' does not fit socket type VALUE (expected a finite number within float32 range)"]),
    "default infinite": (_socket_field("Math", "default", float("inf")), ["'default' 'Infinity' does not fit socket type VALUE"]),
    "default 1e308": (_socket_field("Math", "default", 1e308), ["'default' '1e+308' does not fit socket type VALUE"]),
    "default 10**400": (_socket_field("Math", "default", 10**400), ["does not fit socket type VALUE (expected a finite number"]),
    "int default beyond int32": (_interface_field("default", 2**40), ["does not fit socket type INT (expected a 32-bit integer)"]),
    "vector default with NaN": (lambda d: node_named(d, "Mesh Line")["inputs"][3].__setitem__("default", [0.0, float("nan"), 1.0]),
                                ["does not fit socket type VECTOR (expected a list of 3 finite numbers)"]),
    "interface max NaN": (_interface_field("max", float("nan")), ["input 'Socket_1': 'max' 'NaN' is not a finite number within float32 range"]),
    "socket without identifier": (lambda d: node_named(d, "Math")["inputs"][0].pop("identifier"), ["node 'Math' input: missing field 'identifier'"]),
    "interface min not a number": (_interface_field("min", "low"), ["group 'Program' input 'Socket_1': field 'min' must be an integer or a number, got a string"]),
    "interface items not strings": (_interface_field("items", [1, 2]), ["input 'Socket_1': 'items' must be a list of strings"]),
    "interface duplicate": (lambda d: entry(d)["inputs"].append(dict(entry(d)["inputs"][0])), ["group 'Program': duplicate interface input 'Socket_1'"]),
    "link missing field": (_link_missing_field, ["group 'Program' link #1: missing field 'to_socket'"]),
    "internal links malformed": (_node_field("Math", "internal_links", [["Value"]]), ["node 'Math': 'internal_links' must be a list of [input, output] pairs"]),
    "internal link to nothing": (_node_field("Math", "internal_links", [["Value", "Nope"]]), ["node 'Math': internal link 'Value' -> 'Nope' names a missing socket"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_invalid_documents_fail_with_one_line(tmp_path, case):
    mutate, expected = BAD[case]
    doc = line_program()
    mutate(doc)
    msg = load_error(tmp_path, doc)
    for part in expected:
        assert part in msg, f"{case}: {part!r} not in {msg!r}"


def test_file_level_errors(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(ProgramError, match=r"nope\.json: no such file"):
        load_program(missing)
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json", encoding="utf-8")
    with pytest.raises(ProgramError, match=r"bad\.json: not valid JSON: .*line 1 column 3"):
        load_program(bad)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000, encoding="utf-8")
    with pytest.raises(ProgramError, match=r"deep\.json: not valid JSON"):
        load_program(deep)
    assert load_error(tmp_path, [1, 2]).endswith("program must be a JSON object, got a list")


def test_hostile_names_stay_on_one_line(tmp_path):
    doc = line_program()
    evil = "Math\n'; import os #" + "x" * 500
    node_named(doc, "Math")["name"] = evil
    for lk in entry(doc)["links"]:
        for end in ("from_node", "to_node"):
            lk[end] = evil if lk[end] == "Math" else lk[end]
    entry(doc)["links"].append(D.link(evil, "Nope", "Combine XYZ", "Y"))
    msg = load_error(tmp_path, doc)
    assert "has no output 'Nope'" in msg
    assert quote(evil) in msg and len(quote(evil)) < 100


def test_quote_escapes_and_cuts():
    assert quote("a\nb") == "'a\\nb'"
    assert quote("x" * 200).endswith("…") and len(quote("x" * 200)) == 83


# -- unsupported nodes ------------------------------------------------------------


def test_check_supported_lists_every_unsupported_node(tmp_path):
    from translator.codegen import UnsupportedNodesError, check_supported

    doc = line_program()
    inner_if = [D.iface("Socket_1", "GEOMETRY", name="Geometry")]
    inner = D.group(
        [D.group_input(inner_if), D.node("Wobble", "GeometryNodeWobble", inputs=[D.sock("Geometry", "GEOMETRY")],
                                         outputs=[D.sock("Geometry", "GEOMETRY")]), D.group_output()],
        [D.link("Group Input", "Socket_1", "Wobble", "Geometry"), D.link("Wobble", "Geometry", "Group Output", "Socket_0")],
        inputs=inner_if,
    )
    doc["groups"]["Inner"] = inner
    g = entry(doc)
    g["nodes"] += [
        D.group_node("Deform", "Inner", inner),
        D.node("Fancy Noise", "ShaderNodeTexFancyNoise", outputs=[D.sock("Fac")]),
        D.node("Unused", "GeometryNodeNotUsed", outputs=[D.sock("Geometry", "GEOMETRY")]),  # not reachable
        D.node("Muted", "GeometryNodeAlsoUnknown", inputs=[D.sock("Geometry", "GEOMETRY")],
               outputs=[D.sock("Geometry", "GEOMETRY")], mute=True, internal_links=[("Geometry", "Geometry")]),
    ]
    node_named(doc, "Mesh Line")["properties"]["mode"] = "SPIRAL"
    g["links"] = [lk for lk in g["links"] if lk["to_node"] != "Group Output"] + [
        D.link("Fancy Noise", "Fac", "Combine XYZ", "Y"),
        D.link("Mesh Line", "Mesh", "Muted", "Geometry"),
        D.link("Muted", "Geometry", "Deform", "Socket_1"),
        D.link("Deform", "Socket_0", "Group Output", "Socket_0"),
    ]
    path = write(tmp_path, doc, "chair.json")
    prog = load_program(path)  # structurally fine
    with pytest.raises(UnsupportedNodesError) as ei:
        check_supported(prog)
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: 3 unsupported nodes: "), msg
    assert "node 'Fancy Noise' (ShaderNodeTexFancyNoise) in group 'Program': unsupported node type" in msg
    assert "node 'Wobble' (GeometryNodeWobble) in group 'Inner': unsupported node type" in msg
    assert "node 'Mesh Line' (GeometryNodeMeshLine) in group 'Program': Mesh Line mode 'SPIRAL' is not supported" in msg
    # nodes Blender never evaluates (not linked to the output, or muted) do not block translation
    assert "Unused" not in msg and "Muted" not in msg
    assert isinstance(ei.value, ProgramError)


def test_check_supported_accepts_a_supported_program():
    from translator.codegen import check_supported

    check_supported(program_from_dict(line_program()))  # raises when it is not


def test_check_supported_finds_interface_mismatches():
    from translator.codegen import UnsupportedNodesError, check_supported

    doc = line_program()
    gi = node_named(doc, "Group Input")
    gi["outputs"].append(D.sock("Socket_9", "VALUE"))  # not in the group's interface
    entry(doc)["links"].append(D.link("Group Input", "Socket_9", "Combine XYZ", "Y"))
    inner = D.group([D.mesh_line("L"), D.group_output()], [D.link("L", "Mesh", "Group Output", "Socket_0")])
    doc["groups"]["Inner"] = inner
    sub = D.group_node("Sub", "Inner", inner)
    sub["outputs"].append(D.sock("Socket_7", "VALUE"))  # the group has no such output
    entry(doc)["nodes"].append(sub)
    entry(doc)["links"].append(D.link("Sub", "Socket_7", "Combine XYZ", "Z"))
    with pytest.raises(UnsupportedNodesError) as ei:
        check_supported(program_from_dict(doc))
    msg = str(ei.value)
    assert "node 'Combine XYZ' (ShaderNodeCombineXYZ) in group 'Program': input 'Y' reads 'Socket_9', not an input of the group" in msg
    assert "node 'Sub' (GeometryNodeGroup) in group 'Program': output 'Socket_7' is not an output of group 'Inner'" in msg
