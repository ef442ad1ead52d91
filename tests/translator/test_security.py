"""A program file is data: hostile names, labels, strings and property values never reach
the generated source as code, nothing from the file is executed, and translation still works."""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures import irdocs as D
from translator.codegen import UnsupportedNodesError, check_supported, compile_program, generate_source
from translator.ir import ProgramError, load_program, program_from_dict


def payloads(marker) -> list[str]:
    """Strings that would run code if spliced into source (each touches ``marker`` when run)."""
    cmd = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    return [
        f"x'); {cmd}; ('",
        f'x"); {cmd}; ("',
        f'x"""; {cmd}; """',
        f"x'''; {cmd}; '''",
        f"x\n{cmd}\n#",
        f"x\r{cmd}\r#",
        f"x\\\n{cmd}",
        f"x # \u2028{cmd}",
        f"\u202e{cmd} \U0001f4a5 é \x00 \x1b[31m",
        f"{{{cmd}}}",
        cmd + "#" + "A" * 5000,
    ]


def hostile_program(evil: str, n: int) -> dict:
    """A nested program whose every name, identifier, label, string and free-form property is ``evil``."""
    e = lambda tag: f"{evil}{tag}{n}"
    inner_if = [D.iface(e("iid"), "VALUE", 2.0, name=e("iname"), description=e("desc"), panel=e("panel"))]
    inner_out = [D.iface(e("oid"), "GEOMETRY", name=e("oname"))]
    line = D.mesh_line(e("line"), count=3)
    line["label"] = e("label")
    inner = D.group(
        [D.group_input(inner_if, name=e("gin")), D.combine_xyz(e("cxyz")), line,
         D.group_output(inner_out, name=e("gout"))],
        [D.link(e("gin"), e("iid"), e("cxyz"), "X"), D.link(e("cxyz"), "Vector", e("line"), "Offset"),
         D.link(e("line"), "Mesh", e("gout"), e("oid"))],
        inputs=inner_if, outputs=inner_out,
    )
    menu_items = {e("item a"): None, e("item b"): None}
    outer_if = [D.iface(e("sid"), "VALUE", 1.0, name=e("sname"), subtype=e("subtype")),
                D.iface(e("mid"), "MENU", e("item b"), name=e("mname"), items=list(menu_items)),
                D.iface(e("bid"), "BOOLEAN", False, name=e("bname"))]
    group_node = D.group_node(e("gnode"), e("group"), inner)
    # a MENU-typed Switch: False passes the menu input, True is a string default
    flip = D.switch(e("flip"), "MENU", true=e("item a"))
    join = D.join(e("join"))
    join["properties"] = {"mode": e("mode"), "domain": e("domain"), "data_type": evil}
    menu = D.menu_switch(e("menu"), "GEOMETRY", menu_items)
    main = D.group(
        [D.group_input(outer_if), group_node, join, menu, flip, D.transform(e("tr"), translation=(0.0, 0.0, 1.0)),
         D.group_output()],
        [D.link("Group Input", e("sid"), e("gnode"), e("iid")),
         D.link(e("gnode"), e("oid"), e("menu"), "Item_1"),
         D.link(e("gnode"), e("oid"), e("tr"), "Geometry"),
         D.link(e("tr"), "Geometry", e("menu"), "Item_0"),
         D.link("Group Input", e("mid"), e("flip"), "False"),
         D.link("Group Input", e("bid"), e("flip"), "Switch"),
         D.link(e("flip"), "Output", e("menu"), "Menu"),
         D.link(e("menu"), "Output", e("join"), "Geometry"),
         D.link(e("join"), "Geometry", "Group Output", "Socket_0")],
        inputs=outer_if,
    )
    doc = D.program({e("main"): main, e("group"): inner}, source=e("source"))
    doc["object"] = e("object")
    return doc


def assert_inert(src: str, evil: str, marker) -> None:
    """``src`` parses, every string token is a plain literal, and no code token comes from ``evil``."""
    ast.parse(src)
    names = set()
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.STRING:
            assert isinstance(ast.literal_eval(tok.string), str)
        elif tok.type == tokenize.NAME:
            names.add(tok.string)
            assert len(tok.string) <= 64, f"identifier too long: {tok.string[:60]}…"
        elif tok.type == tokenize.COMMENT:
            assert "\n" not in tok.string and "\r" not in tok.string and len(tok.string) < 320
    for forbidden in ("__import__", "pathlib", "touch", "exec", "eval", "open", "getattr", "compile"):
        assert forbidden not in names, f"{forbidden!r} reached the source as code"
    assert str(marker) not in src.replace(repr(str(marker))[1:-1], "")  # only inside escaped literals


@pytest.mark.parametrize("k", range(len(payloads("m"))))
def test_hostile_strings_stay_data(tmp_path, k):
    marker = tmp_path / "pwned"
    evil = payloads(marker)[k]
    doc = hostile_program(evil, k)
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    prog = load_program(path)
    src = generate_source(prog)
    assert_inert(src, evil, marker)
    mod = compile_program(prog)
    params = {p.identifier: p for p in mod.PARAMETERS}
    size_id, menu_id = f"{evil}sid{k}", f"{evil}mid{k}"
    assert params[size_id].name == f"{evil}sname{k}" and params[menu_id].items == (f"{evil}item a{k}", f"{evil}item b{k}")
    # menu item b: the group's line of 3 points spaced by Size; item a: the same lifted by 1
    mesh = mod.program({menu_id: f"{evil}item a{k}"}, {size_id: torch.tensor([0.5, 2.0])})
    assert torch.allclose(mesh.verts[1], torch.tensor([[0.0, 0, 1], [2, 0, 1], [4, 0, 1]]))
    mesh = mod.program({}, {size_id: torch.tensor([0.5])})
    assert torch.allclose(mesh.verts[0], torch.tensor([[0.0, 0, 0], [0.5, 0, 0], [1, 0, 0]]))
    mesh = mod.program({f"{evil}bid{k}": True}, {size_id: torch.tensor([0.5])})  # the string default: item a
    assert torch.allclose(mesh.verts[0], torch.tensor([[0.0, 0, 1], [0.5, 0, 1], [1, 0, 1]]))
    assert not marker.exists()


def test_code_like_node_types_are_rejected(tmp_path):
    doc = hostile_program("ok", 0)
    g = next(iter(doc["groups"].values()))
    for bl in ("__import__('os').system('id')", "GeometryNodeJoinGeometry()", "a.b", "Geometry Node", "", "x" * 200):
        g["nodes"][2]["bl_idname"] = bl
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        with pytest.raises(ProgramError, match="invalid bl_idname") as ei:
            load_program(path)
        assert "\n" not in str(ei.value)


def test_hostile_mode_is_refused_with_one_line():
    doc = hostile_program("ok", 0)
    g = next(iter(doc["groups"].values()))
    g["nodes"].append(D.math("M", "ADD\n__import__('os')"))
    g["nodes"].append(D.combine_xyz("C"))
    g["links"] += [D.link("M", "Value", "C", "X"), D.link("C", "Vector", "oktr0", "Translation")]
    with pytest.raises(UnsupportedNodesError) as ei:
        check_supported(program_from_dict(doc))
    msg = str(ei.value)
    assert "\n" not in msg and "node 'M' (ShaderNodeMath)" in msg and "ADD\\n__import__" in msg


def test_hostile_socket_identifier_on_a_known_node_is_refused():
    doc = hostile_program("ok", 0)
    g = next(iter(doc["groups"].values()))
    join = next(n for n in g["nodes"] if n["bl_idname"] == "GeometryNodeJoinGeometry")
    join["inputs"].append(D.sock("If", "GEOMETRY"))  # would become the keyword argument `if=`
    with pytest.raises(UnsupportedNodesError, match=r"input 'If' is not supported"):
        check_supported(program_from_dict(doc))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(min_size=1, max_size=60), min_size=6, max_size=6, unique=True))
def test_arbitrary_names_translate_and_evaluate_the_same(names):
    """Renaming every node, group and socket identifier changes nothing but the names."""
    base = program_from_dict(hostile_program("n", 0))
    doc = json.loads(json.dumps(hostile_program("n", 0)))
    # distinct suffixes keep the names unique and apart from the names already there
    mapping = {k: f"{v}#{i}" for i, (k, v) in enumerate(zip(["nline0", "ngnode0", "ngroup0", "nsid0", "nmain0", "ncxyz0"], names))}

    def rn(v):
        return mapping.get(v, v) if isinstance(v, str) else v

    doc["entry"] = rn(doc["entry"])
    doc["groups"] = {rn(k): g for k, g in doc["groups"].items()}
    for g in doc["groups"].values():
        for s in g["inputs"] + g["outputs"]:
            s["identifier"] = rn(s["identifier"])
        for nd in g["nodes"]:
            nd["name"], nd["group"] = rn(nd["name"]), rn(nd["group"])
            for s in nd["inputs"] + nd["outputs"]:
                s["identifier"] = rn(s["identifier"]) if nd["bl_idname"].startswith(("NodeGroup", "GeometryNodeGroup")) else s["identifier"]
        for lk in g["links"]:
            for k in lk:
                lk[k] = rn(lk[k]) if k.endswith("node") else lk[k]
                if k.endswith("socket"):
                    lk[k] = rn(lk[k])
    prog = program_from_dict(doc)
    src = generate_source(prog)
    ast.parse(src)
    size = torch.tensor([0.25, 3.0])
    a = compile_program(prog).program({}, {mapping["nsid0"]: size})
    b = compile_program(base).program({}, {"nsid0": size})
    assert torch.equal(a.verts, b.verts)


def test_interface_and_node_names_become_inert_distinct_identifiers(tmp_path):
    """Arguments are named after the interface's names and variables after node labels or names:
    hostile, reserved and clashing names all become distinct, harmless ``[a-z0-9_]`` identifiers."""
    marker = tmp_path / "pwned"
    evil = payloads(marker)[0]
    names = [evil, "rt", "torch", "program", "math_nodes", "group_main", "for", "len", "Width", "width", "WIDTH!",
             "", "9 lives", "_private", "__class__", "x" * 300, evil + "2"]
    ifaces = [D.iface(f"Socket_{i}", "VALUE", float(i), name=nm) for i, nm in enumerate(names)]
    nodes, links, prev = [D.group_input(ifaces)], [], None
    for i, nm in enumerate(names):  # total = input 0 + input 1 + ...; labels (even) or names (odd) are hostile
        add = D.math(f"{nm}{i}", "ADD", a=0.0, b=0.0)
        add["label"] = nm if i % 2 == 0 else ""
        nodes.append(add)
        links.append(D.link("Group Input", f"Socket_{i}", add["name"], "Value_001"))
        if prev is not None:
            links.append(D.link(prev, "Value", add["name"], "Value"))
        prev = add["name"]
    nodes += [D.combine_xyz(evil + "xyz"), D.mesh_line(evil + "line", count=2), D.group_output()]
    links += [D.link(prev, "Value", evil + "xyz", "X"), D.link(evil + "xyz", "Vector", evil + "line", "Offset"),
              D.link(evil + "line", "Mesh", "Group Output", "Socket_0")]
    prog = program_from_dict(D.program({"main": D.group(nodes, links, inputs=ifaces)}))
    src = generate_source(prog)
    assert_inert(src, evil, marker)
    tree = ast.parse(src)
    func = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "group_main")
    args = [a.arg for a in func.args.args]
    assert len(args) == len(set(args)) == len(names)
    reserved = {"rt", "torch", "program", "program_grouped", "math_nodes", "group_main", "len", "for"}
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", a) and a not in reserved for a in args), args
    assert args[8:10] == ["width", "width_2"] and args[12] == "p_9_lives" and args[13] == "private"
    assigned = [n.id for n in ast.walk(func) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    assert len(assigned) == len(set(assigned)) and not set(assigned) & (set(args) | reserved)
    mod = compile_program(prog)
    assert [p.arg for p in mod.PARAMETERS] == args
    mesh = mod.program({}, {evil: torch.tensor([100.0, 0.0]), "": torch.tensor([1.0, 2.0])})
    total = torch.tensor([100.0, 0.0]) + sum(range(len(names))) - 11 + torch.tensor([1.0, 2.0])
    assert torch.allclose(mesh.verts[:, 1, 0], total)
    assert not marker.exists()
