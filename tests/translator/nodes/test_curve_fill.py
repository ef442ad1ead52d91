"""Fill Curve in both modes (Triangles, N-gons): Blender parity of vertices, faces and their first corners on
convex and star-shaped curves, several disjoint curves, nested curves (holes) and curves out of the XY plane;
batched like single evaluations; float64 gradcheck of the positions; the refusals' one-line messages."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, batch_and_singles, check_parity, requires_bpy, split_values, translate_object
from tests.fixtures.probes import draw_sets
from translator import runtime as rt
from translator.nodes import curve_fill as F
from translator.nodes import curve_primitives as CP

MODES = ("Triangles", "N-gons")


def _fill(t: Tree, curve, mode: str, group=None):
    f = t.node("GeometryNodeFillCurve", Mode=mode)
    t.link(curve, f, "Curve")
    if group is not None:
        t.link(group, f, "Group ID")
    t.output((f, "Mesh"))
    return t.object()


def _quad(mode: str):
    t = Tree()
    q = t.node("GeometryNodeCurvePrimitiveQuadrilateral", mode="TRAPEZOID")
    for ident in ("Bottom Width", "Top Width", "Height", "Offset"):
        t.link(t.input(ident, "NodeSocketFloat", 1.0), q, ident)
    return _fill(t, (q, "Curve"), mode)


def _points(mode: str):
    """Quadrilateral from four free points (convex, concave or crossed: the crossed ones are refused)."""
    t = Tree()
    q = t.node("GeometryNodeCurvePrimitiveQuadrilateral", mode="POINTS")
    for ident in ("Point 1", "Point 2", "Point 3", "Point 4"):
        t.link(t.input(ident, "NodeSocketVector"), q, ident)
    return _fill(t, (q, "Curve"), mode)


def _tilted(mode: str):
    """A circle rotated out of the XY plane and moved up (Transform Geometry): filled as its XY projection, an
    ellipse, at z = 0."""
    t = Tree()
    c = t.node("GeometryNodeCurvePrimitiveCircle")
    t.link(t.input("Resolution", "NodeSocketInt", 5), c, "Resolution")
    t.link(t.input("Radius", "NodeSocketFloat", 1.0), c, "Radius")
    tr = t.node("GeometryNodeTransform")
    t.link((c, "Curve"), tr, "Geometry")
    t.link(t.input("Rotation", "NodeSocketVector", (0.3, 0.2, 0.1)), tr, "Rotation")
    t.link(t.input("Translation", "NodeSocketVector", (0.0, 0.0, 1.0)), tr, "Translation")
    return _fill(t, (tr, "Geometry"), mode)


def _two(mode: str, grouped: bool = False):
    """Two trapezoids joined, the second scaled and moved: disjoint (far) or nested (inside the first: a hole,
    unless ``grouped``: each curve is then filled on its own, so they overlap)."""
    t = Tree()
    q = t.node("GeometryNodeCurvePrimitiveQuadrilateral", mode="TRAPEZOID")
    for ident in ("Bottom Width", "Top Width", "Height", "Offset"):
        t.link(t.input(ident, "NodeSocketFloat", 1.0), q, ident)
    tr = t.node("GeometryNodeTransform")
    t.link((q, "Curve"), tr, "Geometry")
    t.link(t.input("Translation", "NodeSocketVector", (0.0, 0.0, 0.0)), tr, "Translation")
    t.link(t.input("Rotation", "NodeSocketVector", (0.0, 0.0, 0.0)), tr, "Rotation")
    t.link(t.input("Scale", "NodeSocketVector", (0.3, 0.3, 0.3)), tr, "Scale")
    j = t.node("GeometryNodeJoinGeometry")
    t.link((tr, "Geometry"), j, "Geometry")
    t.link((q, "Curve"), j, "Geometry")
    group = None
    if grouped:  # Group ID = 1 - Index: the groups come in order of first appearance, not of their ids
        group = t.node("ShaderNodeMath", operation="SUBTRACT", Value=1.0)
        t.link(t.node("GeometryNodeInputIndex"), group, "Value_001")
    return _fill(t, (j, "Geometry"), mode, group)


def _grouped(mode: str):
    return _two(mode, grouped=True)


def _jittered(mode: str, spiky: bool = False):
    """A Curve Circle (or with ``spiky`` a Curve Star) whose points are moved by a Random Value (seeded):
    irregular polygons of 6 to 24 points, convex or concave (sides that are no Delaunay edges are inserted
    as Blender does; crossing sides are refused)."""
    t = Tree()
    if spiky:
        c = t.node("GeometryNodeCurveStar")
        t.link(t.input("Resolution", "NodeSocketInt", 6), c, "Points")
        t.link(t.input("Radius", "NodeSocketFloat", 0.3), c, "Inner Radius")
        t.link(t.input("Outer", "NodeSocketFloat", 2.0), c, "Outer Radius")
    else:
        c = t.node("GeometryNodeCurvePrimitiveCircle")
        t.link(t.input("Resolution", "NodeSocketInt", 12), c, "Resolution")
        t.link(t.input("Radius", "NodeSocketFloat", 1.0), c, "Radius")
    return _fill(t, t.jittered((c, "Curve")), mode)


def _bezier(mode: str):
    """An open Quadratic Bezier (its evaluated points), closed by Fill Curve as all curves are."""
    t = Tree()
    q = t.node("GeometryNodeCurveQuadraticBezier")
    t.link(t.input("Resolution", "NodeSocketInt", 8), q, "Resolution")
    for ident in ("Start", "Middle", "End"):
        t.link(t.input(ident, "NodeSocketVector"), q, ident)
    return _fill(t, (q, "Curve"), mode)


def _spiky(mode: str):
    return _jittered(mode, spiky=True)


_PROGRAMS = {"bezier": _bezier, "spiky": _spiky, "quad": _quad, "points": _points, "tilted": _tilted, "two": _two, "grouped": _grouped,
             "jittered": _jittered}
_TRAPEZOID = {"Bottom Width": ("float", 0.5, 3.0), "Top Width": ("float", 0.5, 3.0), "Height": ("float", 0.5, 2.0),
              "Offset": ("float", -1.0, 1.0)}


def _sets(name: str, seed: int) -> list[dict]:
    if name == "quad":
        return draw_sets(seed, _TRAPEZOID, 8, [{"Bottom Width": 2.0, "Top Width": 2.0, "Height": 1.0, "Offset": 0.0}])
    if name == "points":
        return draw_sets(seed, {f"Point {i}": ("vector", -2.0, 2.0) for i in range(1, 5)}, 16)
    if name == "bezier":
        return [dict(s, Resolution=n) for n in (3, 6, 11) for s in
                draw_sets(seed + n, {k: ("vector", -2.0, 2.0) for k in ("Start", "Middle", "End")}, 2)]
    if name == "jittered":
        return [{"Resolution": n, "Seed": seed, "Radius": r, "Amount": a} for n, seed, r, a in
                [(6, 1, 1.0, 0.1), (7, 2, 2.0, 0.3), (9, 3, 0.5, 0.05), (12, 4, 1.0, 0.1), (16, 5, 1.5, 0.15),
                 (20, 6, 1.0, 0.08), (24, 7, 3.0, 0.2), (12, 8, 1.0, 0.3),  # strongly concave below
                 (10, 9, 1.0, 0.45), (14, 10, 1.0, 0.4), (18, 11, 1.0, 0.35), (8, 12, 1.0, 0.5), (16, 13, 2.0, 0.7)]]
    if name == "spiky":
        return [{"Resolution": n, "Seed": seed, "Radius": r, "Outer": o, "Amount": a} for n, seed, r, o, a in
                [(4, 1, 0.3, 2.0, 0.05), (5, 2, 0.2, 2.5, 0.1), (6, 3, 0.4, 1.5, 0.08), (7, 4, 0.25, 2.0, 0.1),
                 (8, 5, 0.5, 2.0, 0.1), (9, 6, 0.3, 3.0, 0.12), (11, 7, 0.6, 2.0, 0.05), (12, 8, 0.7, 1.2, 0.1)]]
    if name == "tilted":
        return [dict(s, Resolution=n) for n in (3, 5, 7, 9) for s in
                draw_sets(seed + n, {"Rotation": ("vector", -0.8, 0.8), "Translation": ("vector", -1.0, 1.0),
                                     "Radius": ("float", 0.5, 2.0)}, 2)]
    # "two" and "grouped"
    shape = {"Bottom Width": 2.3, "Top Width": 1.1, "Height": 1.7, "Offset": 0.35}
    return [dict(shape, Translation=(4.0, 0.5, 0.0)), dict(shape, Translation=(-3.0, -2.0, 1.0), Rotation=(0.0, 0.0, 0.7)),
            dict(shape, Translation=(0.12, 0.05, 0.0), Rotation=(0.0, 0.0, 0.2)),
            dict(shape, Translation=(-0.1, 0.13, 0.3), Rotation=(0.1, 0.0, -0.4))]


@requires_bpy
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(_PROGRAMS))
def test_fill_curve_parity(name, mode):
    """Every set this module fills matches Blender. Only free and jittered points refuse some sets (a crossed
    quad, or a concave polygon whose sides are not Delaunay edges: Blender cuts edges there), at most half."""
    obj = _PROGRAMS[name](mode)
    module = translate_object(obj)
    checked = refused = 0
    for values in _sets(name, 3):
        try:
            checked += check_parity(obj, [values], module)
        except ValueError as exc:
            assert str(exc).startswith("Fill Curve: ") and "\n" not in str(exc)
            refused += 1
    assert checked >= 3 and (checked >= refused if name in ("points", "jittered", "spiky") else refused == 0), (checked, refused)


@requires_bpy
@pytest.mark.parametrize("mode", MODES)
def test_fill_curve_batch_equals_singles(mode):
    """Similar shapes (one trapezoid scaled) share their faces: the batch equals the singles."""
    module = translate_object(_quad(mode))
    base = {"Bottom Width": 2.3, "Top Width": 1.1, "Height": 1.7, "Offset": 0.35}
    sets = [{k: v * f for k, v in base.items()} for f in (0.5, 1.0, 1.25, 2.0)]
    batch, singles = batch_and_singles(module, sets)
    assert torch.allclose(batch, singles, atol=1e-12)


@requires_bpy
def test_fill_curve_batch_topology_varies():
    """A batch whose items fill into different faces is not given one item's faces."""
    module = translate_object(_quad("Triangles"))
    sets = [{"Bottom Width": 2.3, "Top Width": 1.1, "Height": 1.7, "Offset": 0.35},
            {"Bottom Width": 2.3, "Top Width": 1.1, "Height": 1.7, "Offset": -0.8}]
    singles = [module.program(*split_values(module, s)) for s in sets]
    assert singles[0].polygons() != singles[1].polygons()
    d = split_values(module, sets[0])[0]
    cont = {k: torch.cat([split_values(module, s)[1][k] for s in sets]) for k in split_values(module, sets[0])[1]}
    with pytest.raises(rt.TopologySplitError, match="Fill Curve"):
        module.program(d, cont)


@requires_bpy
def test_fill_curve_on_the_traced_path_is_guarded():
    """Replays of a traced fill equal the plain program; a shape with other faces misses the guards (the
    positions are read as values) and runs the plain program."""
    module = translate_object(_quad("Triangles"))
    shapes = [{"Bottom Width": 2.3, "Top Width": 1.1, "Height": 1.7, "Offset": 0.35},
              {"Bottom Width": 2.3, "Top Width": 1.1, "Height": 1.7, "Offset": -0.8}]

    def values(shape):
        return {}, {k: torch.full((2,), v, dtype=torch.float64) for k, v in shape.items()}

    with rt.eval_context(trace=False):
        plain = [module.program(*values(s)) for s in shapes]
    assert plain[0].polygons() != plain[1].polygons()
    for _ in range(3):  # plain, traced, replayed
        m = module.program(*values(shapes[0]))
        torch.testing.assert_close(m.verts, plain[0].verts)
        assert m.polygons() == plain[0].polygons()
    m = module.program(*values(shapes[1]))
    torch.testing.assert_close(m.verts, plain[1].verts)
    assert m.polygons() == plain[1].polygons()
    stats = next(getattr(module, k)._shapeprog_traces.stats for k in dir(module)
                 if hasattr(getattr(module, k), "_shapeprog_traces"))
    assert stats["traced"] >= 1 and stats["replayed"] >= 1 and stats["guard_misses"] >= 1


def test_fill_curve_gradcheck():
    """Positions are the evaluated points' x and y (z = 0): differentiable w.r.t. the curve's inputs."""
    g = torch.Generator().manual_seed(4)
    f = lambda: (torch.rand(1, generator=g, dtype=torch.float64) + 0.5).requires_grad_()
    with rt.eval_context(torch.float64):
        for mode in MODES:
            assert torch.autograd.gradcheck(
                lambda w, h, mode=mode: F.fill_curve(CP.quadrilateral("RECTANGLE", width=w, height=h), mode=mode).mesh.verts,
                (f(), f()))
            assert torch.autograd.gradcheck(
                lambda b, t, h, mode=mode: F.fill_curve(CP.quadrilateral("TRAPEZOID", bottom_width=b, top_width=t, height=h,
                                                                          offset=0.3), mode=mode).mesh.verts, (f(), f(), f()))


def test_cdt_rectangle_as_blender():
    """Recorded from bpy 5.0.1 (Quadrilateral, 2 x 2): the n-gon starts at the second point, the triangles
    are cut on the diagonal from the second point. Exact ties (equal x, four points on one circle) are
    decided as Blender decides them."""
    xy = [(1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0)]
    assert F.cdt_faces(xy, [[0, 1, 2, 3]], ngons=True) == [[1, 2, 3, 0]]
    assert F.cdt_faces(xy, [[0, 1, 2, 3]], ngons=False) == [[1, 2, 3], [3, 0, 1]]
    with pytest.raises(F.FillNotReproduced, match="nearly"):  # a 1e-7 nudge puts the four points nearly on a circle
        F.cdt_faces([(1.0, 1.0), (-1.0, 1.0000001), (-1.0, -1.0), (1.0, -1.0)], [[0, 1, 2, 3]], ngons=False)


def test_cdt_ngon_ring_keeps_a_bridge():
    """N-gons of a square around a smaller square (a hole): Blender's valid-BMesh output keeps bridging edges,
    so every face is a simple polygon using vertices of both squares."""
    outer = [(2.0, 0.0), (0.0, 2.0), (-2.0, 0.0), (0.0, -2.0)]
    inner = [(0.5, 0.5), (-0.5, 0.5), (-0.5, -0.5), (0.5, -0.5)]
    faces = F.cdt_faces(outer + inner, [[0, 1, 2, 3], [4, 5, 6, 7]], ngons=True)
    assert all(len(set(f)) == len(f) for f in faces)
    assert {v for f in faces for v in f} == set(range(8))
    tris = F.cdt_faces(outer + inner, [[0, 1, 2, 3], [4, 5, 6, 7]], ngons=False)
    assert all(len(f) == 3 for f in tris) and len(tris) == 8  # the ring: 8 triangles, none inside the hole


@requires_bpy
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("build", "match"), [
    ("line", "Fill Curve: two points coincide in XY"),
    ("open line", "Fill Curve: no curve has 3 or more points"),
    ("circle", "Fill Curve: two points nearly share their x or position"),
    ("rotated circle", "Fill Curve: points nearly on a common line or circle"),
    ("crossed", "Fill Curve: two curve segments cross"),
])
def test_fill_curve_refusals(build, match, mode):
    """A regular polygon's points (Curve Circle) lie on one circle, and its mirror points share x: Blender's
    triangulation there follows the last bits of its float32 positions, so it is refused, as are crossed
    curves (Blender splits them), coincident points (Blender merges them) and curves without a face (Blender
    keeps loose edges)."""
    t = Tree()
    if build == "line":
        curve = (t.node("GeometryNodeCurvePrimitiveLine"), "Curve")
    elif build == "open line":
        curve = (t.node("GeometryNodeCurvePrimitiveLine", End=(1.0, 0.3, 0.0)), "Curve")
    elif build == "crossed":
        curve = (t.node("GeometryNodeCurvePrimitiveQuadrilateral", mode="POINTS", **{
            "Point 1": (0.0, 0.05, 0.0), "Point 2": (2.0, 1.0, 0.0), "Point 3": (2.1, 0.0, 0.0), "Point 4": (0.1, 1.2, 0.0)}),
            "Curve")
    else:
        curve = (t.node("GeometryNodeCurvePrimitiveCircle", Resolution=8), "Curve")
        if build == "rotated circle":
            tr = t.node("GeometryNodeTransform", Rotation=(0.0, 0.0, 0.3))
            t.link(curve, tr, "Geometry")
            curve = (tr, "Geometry")
    module = translate_object(_fill(t, curve, mode))
    with pytest.raises(ValueError, match=match):
        module.program(*split_values(module, {}))
