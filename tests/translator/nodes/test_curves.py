"""Curves through the geometry nodes and Curve to Mesh: sweeps of POLY and BEZIER curves (open and cyclic)
by open and closed profiles, fill caps, the Scale field, tilt; curves moved by Set Position and Transform,
joined, instanced and realized; Spline Parameter, Set Curve Radius / Tilt, Set Spline Cyclic / Resolution,
Resample Curve, Fillet Curve, attributes on curves; Blender parity, batched like single evaluations, float64
gradchecks."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, batch_and_singles, check_parity, requires_bpy, translate_object
from tests.fixtures.probes import draw_sets
from translator import runtime as rt
from translator.nodes import curve_primitives as CP
from translator.nodes import curves as C


def _main(t: Tree, kind: str):
    if kind == "circle":
        n = t.node("GeometryNodeCurvePrimitiveCircle", Resolution=12)
        t.link(t.input("Radius", "NodeSocketFloat", 1.0), n, "Radius")
    elif kind == "line":
        n = t.node("GeometryNodeCurvePrimitiveLine")
        t.link(t.input("End", "NodeSocketVector", (0.0, 0.0, 1.0)), n, "End")
    elif kind == "quadratic":
        n = t.node("GeometryNodeCurveQuadraticBezier", Resolution=10)
        t.link(t.input("Middle", "NodeSocketVector", (0.0, 2.0, 0.0)), n, "Middle")
    elif kind == "bezier":
        n = t.node("GeometryNodeCurvePrimitiveBezierSegment", Resolution=7)
        t.link(t.input("Start Handle", "NodeSocketVector", (-0.5, 0.5, 0.0)), n, "Start Handle")
        t.link(t.input("End", "NodeSocketVector", (1.0, 0.0, 0.0)), n, "End")
    else:  # a vertical zig-zag: a quadratic bezier turned upright joined with a line
        q = t.node("GeometryNodeCurveQuadraticBezier", Resolution=6, Start=(0.0, 0.0, 0.0), End=(0.0, 0.0, 2.0))
        t.link(t.input("Middle", "NodeSocketVector", (0.5, 0.2, 1.0)), q, "Middle")
        line = t.node("GeometryNodeCurvePrimitiveLine", Start=(1.0, 0.0, 0.0), End=(1.5, 0.5, 1.0))
        n = t.node("GeometryNodeJoinGeometry")
        t.link((q, "Curve"), n, "Geometry")
        t.link((line, "Curve"), n, "Geometry")
        return (n, "Geometry")
    return (n, "Curve")


def _profile(t: Tree, kind: str):
    if kind == "circle":
        n = t.node("GeometryNodeCurvePrimitiveCircle", Resolution=6)
        t.link(t.input("Profile Radius", "NodeSocketFloat", 0.2), n, "Radius")
    elif kind == "rectangle":
        n = t.node("GeometryNodeCurvePrimitiveQuadrilateral", mode="RECTANGLE")
        t.link(t.input("Profile Width", "NodeSocketFloat", 0.3), n, "Width")
        t.link(t.input("Profile Height", "NodeSocketFloat", 0.1), n, "Height")
    else:  # an open arc profile
        n = t.node("GeometryNodeCurveQuadraticBezier", Resolution=4, Start=(-0.2, 0.0, 0.0), End=(0.2, 0.0, 0.0))
        t.link(t.input("Profile Middle", "NodeSocketVector", (0.0, 0.2, 0.1)), n, "Middle")
    return (n, "Curve")


_VALUES = {"Radius": ("float", 0.5, 2.0), "End": ("vector", -1.0, 2.0), "Middle": ("vector", -1.0, 2.0),
           "Start Handle": ("vector", -1.5, 1.5), "Profile Radius": ("float", 0.05, 0.5), "Profile Width": ("float", 0.1, 0.8),
           "Profile Height": ("float", 0.05, 0.5), "Profile Middle": ("vector", -0.3, 0.3), "Scale": ("float", 0.2, 2.0),
           "Tilt": ("float", -3.0, 3.0), "K": ("float", -0.5, 0.5)}


def _sweep_program(main: str, profile: str, fill_caps: bool, extras: tuple[str, ...] = ()):
    t = Tree()
    src = _main(t, main)
    if "tilt" in extras:
        tilt = t.node("GeometryNodeSetCurveTilt")
        t.link(src, tilt, "Curve")
        mul = t.node("ShaderNodeMath", operation="MULTIPLY")
        t.link((t.node("GeometryNodeSplineParameter"), "Factor"), mul, "Value")
        t.link(t.input("Tilt", "NodeSocketFloat", 1.0), mul, "Value_001")
        t.link((mul, "Value"), tilt, "Tilt")
        src = (tilt, "Curve")
    if "wave" in extras:
        wave, _ = t.wave_fields(t.input("K", "NodeSocketFloat", 0.2), t.input("J", "NodeSocketFloat", 0.0))
        sp = t.node("GeometryNodeSetPosition")
        t.link(src, sp, "Geometry")
        t.link(wave, sp, "Offset")
        src = (sp, "Geometry")
    if "transform" in extras:
        tr = t.node("GeometryNodeTransform", Rotation=(0.3, -0.2, 0.5), Scale=(1.0, 2.0, 0.5))
        t.link(src, tr, "Geometry")
        src = (tr, "Geometry")
    c2m = t.node("GeometryNodeCurveToMesh", **{"Fill Caps": fill_caps})
    t.link(src, c2m, "Curve")
    t.link(_profile(t, profile), c2m, "Profile Curve")
    if "scale" in extras:  # the Scale field: Scale * (1 + spline factor)
        add = t.node("ShaderNodeMath", operation="MULTIPLY_ADD", Value_002=1.0)
        t.link((t.node("GeometryNodeSplineParameter"), "Factor"), add, "Value")
        t.link(t.input("Scale", "NodeSocketFloat", 1.0), add, "Value_001")
        t.link((add, "Value"), c2m, "Scale")
    t.output((c2m, "Mesh"))
    return t.object()


def _sets(obj, seed: int, count: int = 6) -> list[dict]:
    names = {i.name for i in obj.modifiers[0].node_group.interface.items_tree if i.item_type == "SOCKET" and i.in_out == "INPUT"}
    return draw_sets(seed, {k: v for k, v in _VALUES.items() if k in names}, count)


@requires_bpy
@pytest.mark.parametrize("fill_caps", (False, True))
@pytest.mark.parametrize("profile", ["circle", "rectangle", "arc"])
@pytest.mark.parametrize("main", ["circle", "line", "quadratic", "bezier", "joined"])
def test_curve_to_mesh_parity(main, profile, fill_caps):
    obj = _sweep_program(main, profile, fill_caps)
    sets = _sets(obj, 3)
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("extras", [("scale",), ("tilt",), ("wave",), ("transform",), ("scale", "tilt", "wave", "transform")])
@pytest.mark.parametrize("main", ["quadratic", "bezier", "circle"])
def test_curve_to_mesh_fields_and_moves_parity(main, extras):
    obj = _sweep_program(main, "circle", True, extras)
    sets = _sets(obj, 4)
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
def test_curve_to_mesh_batch_equals_singles():
    obj = _sweep_program("bezier", "rectangle", True, ("scale", "tilt"))
    module = translate_object(obj)
    sets = _sets(obj, 8, 4)
    batch, singles = batch_and_singles(module, sets)
    torch.testing.assert_close(batch, singles)


@requires_bpy
def test_curves_instanced_and_realized_parity():
    t = Tree()
    circle = t.node("GeometryNodeCurvePrimitiveCircle", Resolution=8)
    t.link(t.input("Radius", "NodeSocketFloat", 1.0), circle, "Radius")
    leg = t.node("GeometryNodeCurvePrimitiveLine", Start=(0.0, 0.0, 0.0))
    t.link(t.input("End", "NodeSocketVector", (0.0, 0.0, -1.0)), leg, "End")
    iop = t.node("GeometryNodeInstanceOnPoints")  # a line on every point of the circle
    t.link((circle, "Curve"), iop, "Points")
    t.link((leg, "Curve"), iop, "Instance")
    realize = t.node("GeometryNodeRealizeInstances")
    t.link((iop, "Instances"), realize, "Geometry")
    join = t.node("GeometryNodeJoinGeometry")
    t.link((realize, "Geometry"), join, "Geometry")
    t.link((circle, "Curve"), join, "Geometry")
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link((join, "Geometry"), c2m, "Curve")
    prof = t.node("GeometryNodeCurvePrimitiveCircle", Resolution=4, Radius=0.05)
    t.link((prof, "Curve"), c2m, "Profile Curve")
    t.output((c2m, "Mesh"))
    sets = [{"Radius": r, "End": e} for r, e in ((1.0, (0.0, 0.0, -1.0)), (0.5, (0.2, 0.1, -2.0)))]
    assert check_parity(t.object(), sets) == 2


@requires_bpy
def test_spline_parameter_and_radius_parity():
    """Spline Parameter's factor, length and index become the curve points' positions (after Set Curve Radius
    wrote the length into the radius), then the curve becomes a wire mesh."""
    t = Tree()
    src = _main(t, "joined")
    rad = t.node("GeometryNodeSetCurveRadius")
    t.link(src, rad, "Curve")
    par = t.node("GeometryNodeSplineParameter")
    t.link((par, "Length"), rad, "Radius")
    # positions of the points: (factor, length, index)
    xyz = t.node("ShaderNodeCombineXYZ")
    t.link((par, "Factor"), xyz, "X")
    t.link((par, "Length"), xyz, "Y")
    t.link((par, "Index"), xyz, "Z")
    sp = t.node("GeometryNodeSetPosition")
    t.link((rad, "Curve"), sp, "Geometry")
    t.link((xyz, "Vector"), sp, "Position")
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link((sp, "Geometry"), c2m, "Curve")
    t.output((c2m, "Mesh"))
    obj = t.object()
    assert check_parity(obj, _sets(obj, 6)) == 6


def test_curve_to_mesh_gradcheck():
    with rt.eval_context(torch.float64):
        mid = torch.tensor([[0.1, 1.5, 0.3], [0.0, 2.0, -0.2]], dtype=torch.float64, requires_grad=True)
        r = torch.tensor([0.2, 0.3], dtype=torch.float64, requires_grad=True)

        def sweep(m, rr):
            main = CP.quadratic_bezier(6, middle=m)
            prof = CP.curve_circle(resolution=5, radius=rr)[0]
            return C.curve_to_mesh(main, prof, fill_caps=True).mesh.verts

        assert torch.autograd.gradcheck(sweep, (mid, r), fast_mode=True, atol=1e-7)
        h = torch.tensor([[-0.5, 0.5, 0.2]], dtype=torch.float64, requires_grad=True)
        tilt = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)

        def bez(hh, tt):
            main = C.set_curve_tilt(CP.bezier_segment(resolution=5, start_handle=hh), tilt=tt)
            return C.curve_to_mesh(main, CP.quadrilateral(width=0.3, height=0.1), fill_caps=True).mesh.verts

        assert torch.autograd.gradcheck(bez, (h, tilt), fast_mode=True, atol=1e-7)


@requires_bpy
@pytest.mark.parametrize("cyclic", (False, True))
def test_set_spline_cyclic_and_resolution_parity(cyclic):
    """A joined Bezier segment and quadratic: the selected curve made cyclic (or open) and given a new
    resolution, then swept."""
    t = Tree()
    bez = t.node("GeometryNodeCurvePrimitiveBezierSegment", Resolution=5)
    t.link(t.input("End", "NodeSocketVector", (1.0, 0.0, 0.0)), bez, "End")
    quad = t.node("GeometryNodeCurveQuadraticBezier", Resolution=6)
    join = t.node("GeometryNodeJoinGeometry")
    t.link((bez, "Curve"), join, "Geometry")
    t.link((quad, "Curve"), join, "Geometry")
    sel = t.index_compare(t.input("Threshold", "NodeSocketFloat", -1.0))
    cyc = t.node("GeometryNodeSetSplineCyclic", Cyclic=cyclic)
    t.link((join, "Geometry"), cyc, "Geometry")
    t.link((sel, "Value"), cyc, "Selection")
    res = t.node("GeometryNodeSetSplineResolution")
    t.link((cyc, "Geometry"), res, "Geometry")
    t.link(t.input("Resolution", "NodeSocketInt", 3), res, "Resolution")
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link((res, "Geometry"), c2m, "Curve")
    t.link(_profile(t, "circle"), c2m, "Profile Curve")
    t.output((c2m, "Mesh"))
    sets = [{"End": (1.0, 0.0, 0.0), "Threshold": th, "Resolution": r, "Profile Radius": 0.1}
            for th in (-1.0, 0.5, 5.0) for r in (1, 2, 9)]
    assert check_parity(t.object(), sets) == len(sets)


def _resample_program(mode: str, keep: bool, main: str):
    t = Tree()
    src = _main(t, main)
    rs = t.node("GeometryNodeResampleCurve", keep_last_segment=keep)
    rs.inputs["Mode"].default_value = mode
    t.link(src, rs, "Curve")
    if mode == "Count":
        t.link(t.input("Count", "NodeSocketInt", 10), rs, "Count")
    else:
        t.link(t.input("Length", "NodeSocketFloat", 0.1), rs, "Length")
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link((rs, "Curve"), c2m, "Curve")
    t.link(_profile(t, "circle"), c2m, "Profile Curve")
    t.output((c2m, "Mesh"))
    return t.object()


@requires_bpy
@pytest.mark.parametrize("main", ["circle", "quadratic", "bezier", "joined"])
@pytest.mark.parametrize("mode,keep", [("Count", True), ("Length", True), ("Length", False), ("Evaluated", True)])
def test_resample_curve_parity(mode, keep, main):
    obj = _resample_program(mode, keep, main)
    sets = _sets(obj, 7, 3)
    if mode == "Count":
        sets = [s | {"Count": n} for s in sets for n in (1, 2, 5, 23)]
    elif mode == "Length":
        sets = [s | {"Length": v} for s in sets for v in (0.05, 0.3, 0.77, 10.0)]
    assert check_parity(obj, sets) == len(sets)


def test_resample_gradcheck():
    # asymmetric curves: no sample lands exactly on an evaluated point, where the positions have a kink
    with rt.eval_context(torch.float64):
        mid = torch.tensor([[0.1, 1.5, 0.3], [0.3, 2.0, -0.2]], dtype=torch.float64, requires_grad=True)

        def res(m):
            geo = C.resample_curve(CP.quadratic_bezier(8, middle=m), count=7)
            return C.curves_to_wire_mesh(geo.curves).verts

        assert torch.autograd.gradcheck(res, (mid,))


def _fillet_program(mode: str, main: str, limit: bool):
    t = Tree()
    if main == "rectangle":
        src = (t.node("GeometryNodeCurvePrimitiveQuadrilateral", mode="TRAPEZOID"), "Curve")
    elif main == "bezier":
        src = _main(t, "bezier")
    else:
        src = _main(t, main)
    f = t.node("GeometryNodeFilletCurve", **{"Limit Radius": limit})
    f.inputs["Mode"].default_value = mode
    t.link(src, f, "Curve")
    t.link(t.input("Fillet", "NodeSocketFloat", 0.25), f, "Radius")
    if mode == "Poly":
        t.link(t.input("Count", "NodeSocketInt", 3), f, "Count")
    c2m = t.node("GeometryNodeCurveToMesh", **{"Fill Caps": True})
    t.link((f, "Curve"), c2m, "Curve")
    t.link(_profile(t, "circle"), c2m, "Profile Curve")
    t.output((c2m, "Mesh"))
    return t.object()


@requires_bpy
@pytest.mark.parametrize("limit", (False, True))
@pytest.mark.parametrize("main", ["rectangle", "circle", "quadratic", "joined", "bezier"])
@pytest.mark.parametrize("mode", ["Bézier", "Poly"])
def test_fillet_curve_parity(mode, main, limit):
    obj = _fillet_program(mode, main, limit)
    # with Limit Radius a large radius makes neighbouring arcs meet: two coincident points whose tangents
    # Blender takes from float32 noise (not reproducible), so the limited radii stay below that
    # (curves of many short segments get radii small enough that neighbouring arcs do not cross: crossing
    # arcs make tiny segments whose directions are float32 noise)
    radii = ((0.0, 0.1, 0.3) + (() if limit else (2.0,))) if main in ("rectangle", "bezier") else (0.0, 0.01, 0.03)
    sets = [s | {"Fillet": r} for s in _sets(obj, 2, 2) for r in radii]
    if mode == "Poly":
        sets = [s | {"Count": n} for s in sets for n in (0, 1, 4)]
    assert check_parity(obj, sets) == len(sets)


@pytest.mark.parametrize("mode", ["Bézier", "Poly"])
def test_fillet_gradcheck(mode):
    with rt.eval_context(torch.float64):
        w = torch.tensor([2.0, 3.0], dtype=torch.float64, requires_grad=True)
        r = torch.tensor([0.3, 0.2], dtype=torch.float64, requires_grad=True)

        def fillet(ww, rr):
            geo = C.fillet_curve(CP.quadrilateral(width=ww, height=1.0), radius=rr, mode=mode, count=3, limit_radius=True)
            return C.curve_to_mesh(geo, CP.curve_circle(resolution=4, radius=0.05)[0], fill_caps=True).mesh.verts

        assert torch.autograd.gradcheck(fillet, (w, r), fast_mode=True, atol=1e-7)


@requires_bpy
def test_store_and_read_attributes_on_curves_parity():
    """Store Named Attribute on the curves' POINT and CURVE domains, read back by Named Attribute (a CURVE
    value on the points, a POINT value averaged per curve) to move the points; a float point attribute
    carried by Resample Curve."""
    t = Tree()
    src = _main(t, "joined")
    idx = t.node("GeometryNodeInputIndex")
    s1 = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain="POINT", Name="w")
    t.link(src, s1, "Geometry")
    mul = t.node("ShaderNodeMath", operation="MULTIPLY")
    t.link(idx, mul, "Value")
    t.link(t.input("K", "NodeSocketFloat", 0.2), mul, "Value_001")
    t.link((mul, "Value"), s1, "Value")
    s2 = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain="CURVE", Name="c")
    t.link((s1, "Geometry"), s2, "Geometry")
    t.link(idx, s2, "Value")
    rs = t.node("GeometryNodeResampleCurve")
    rs.inputs["Mode"].default_value = "Count"
    rs.inputs["Count"].default_value = 7
    t.link((s2, "Geometry"), rs, "Curve")
    read_w = t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT", Name="w")
    read_c = t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT", Name="c")
    xyz = t.node("ShaderNodeCombineXYZ")
    t.link((read_w, "Attribute"), xyz, "X")
    t.link((read_c, "Attribute"), xyz, "Y")
    sp = t.node("GeometryNodeSetPosition")
    t.link((rs, "Curve"), sp, "Geometry")
    t.link((xyz, "Vector"), sp, "Offset")
    # a CURVE-domain read of the point attribute: averaged per curve, stored back on the curve, moves it up
    s3 = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain="CURVE", Name="mean_w")
    t.link((sp, "Geometry"), s3, "Geometry")
    t.link((read_w, "Attribute"), s3, "Value")
    read_m = t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT", Name="mean_w")
    up = t.node("ShaderNodeCombineXYZ")
    t.link((read_m, "Attribute"), up, "Z")
    sp2 = t.node("GeometryNodeSetPosition")
    t.link((s3, "Geometry"), sp2, "Geometry")
    t.link((up, "Vector"), sp2, "Offset")
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link((sp2, "Geometry"), c2m, "Curve")
    t.output((c2m, "Mesh"))
    obj = t.object()
    assert check_parity(obj, [{"K": k, "Middle": (0.5, 0.2, 1.0)} for k in (0.2, -0.7, 1.5)]) == 3


# ---------------------------------------------------------------------------
# Fast paths against slow, obviously-correct references


def _sequential_twist(tangents: torch.Tensor, offsets: tuple[int, ...]) -> torch.Tensor:
    """Blender's minimum twist as it is written: each curve's first normal carried point by point."""
    from translator.nodes import curve_eval as CE

    out = []
    for c in range(len(offsets) - 1):
        n = CE._first_normal(tangents[:, offsets[c]])
        out.append(n)
        for k in range(offsets[c] + 1, offsets[c + 1]):
            n = CE._transport(n, tangents[:, k - 1], tangents[:, k])
            out.append(n)
    return torch.stack(out, 1)


def _twist_tangents(b: int = 3) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Curves of 13, 1, 2, 24 and 5 points; a zero tangent, a reversal and a vertical stretch."""
    offsets = (0, 13, 14, 16, 40, 45)
    g = torch.Generator().manual_seed(3)
    t = torch.nn.functional.normalize(torch.randn(b, 45, 3, generator=g, dtype=torch.float64), dim=-1)
    t[:, 4] = 0.0
    t[:, 21] = -t[:, 20]
    t[:, 30:33] = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    return t, offsets


@pytest.mark.parametrize("method", ["matrices", "quaternions", "sequential"])
def test_minimum_twist_equals_sequential_transport(method):
    """Both prefix products (3x3 matrices, quaternions) and the batched point-by-point product of precomputed
    rotations give the point-by-point transport as written: values and gradients."""
    from translator.nodes import curve_eval as CE

    t, offsets = _twist_tangents()
    fast = t.clone().requires_grad_(True)
    slow = t.clone().requires_grad_(True)
    # tangents reach the twist normalized (only directions carry gradients), as in evaluated_tangents
    a = CE.minimum_twist(CE.normalize(fast)[0], offsets, method)
    b = _sequential_twist(CE.normalize(slow)[0], offsets)
    torch.testing.assert_close(a, b, atol=1e-9, rtol=0)
    w = torch.randn(a.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    (a * w).sum().backward()
    (b * w).sum().backward()
    torch.testing.assert_close(fast.grad, slow.grad, atol=1e-8, rtol=0)
    # gradcheck away from the degenerate tangents (zero, reversed), where the transport switches to the identity
    small = torch.nn.functional.normalize(torch.randn(1, 9, 3, generator=torch.Generator().manual_seed(6), dtype=torch.float64), dim=-1)
    assert torch.autograd.gradcheck(lambda x: CE.minimum_twist(x, (0, 6, 9), method), (small.requires_grad_(True),))


def test_minimum_twist_picks_by_size_and_all_agree_in_float32():
    from translator.nodes import curve_eval as CE

    t, offsets = _twist_tangents(64)
    t = t.float()
    assert t.shape[0] * t.shape[1] > CE.MATRIX_TWIST_LIMIT >= t[:1].shape[1] and t.shape[0] >= CE.SEQUENTIAL_TWIST_BATCH
    big = CE.minimum_twist(t, offsets)
    torch.testing.assert_close(big, CE.minimum_twist(t, offsets, "sequential"), atol=0, rtol=0)
    # float32 rounding differs by method on these rough random tangents (up to ~5e-5); the reversal (points
    # 20, 21) is ill-conditioned for every method: compare the other curves
    keep = torch.ones(t.shape[1], dtype=torch.bool)
    keep[16:40] = False
    torch.testing.assert_close(big[:, keep], CE.minimum_twist(t, offsets, "quaternions")[:, keep], atol=1e-4, rtol=0)
    mid, mid_offsets = torch.cat([t, t], 1)[:CE.SEQUENTIAL_TWIST_BATCH - 1], offsets + tuple(45 + o for o in offsets[1:])
    assert mid.shape[0] * mid.shape[1] > CE.MATRIX_TWIST_LIMIT
    torch.testing.assert_close(CE.minimum_twist(mid, mid_offsets), CE.minimum_twist(mid, mid_offsets, "quaternions"), atol=0, rtol=0)
    torch.testing.assert_close(CE.minimum_twist(t[:1], offsets), CE.minimum_twist(t[:1], offsets, "matrices"), atol=0, rtol=0)
    torch.testing.assert_close(big[:1], CE.minimum_twist(t[:1], offsets), atol=2e-6, rtol=0)
    with pytest.raises(ValueError, match="unknown method"):
        CE.minimum_twist(t, offsets, "euler")


def _reference_sweep(main, profile, scale=1.0) -> torch.Tensor:
    """Curve to Mesh's positions as written: every profile point at ``P + s (x N + y B + z T)``, block by block."""
    from translator.nodes.fields import curves_context, evaluate

    ev_m, ev_p = C.evaluation(main), C.evaluation(profile)
    pos = C.evaluated_positions(main, ev_m)
    tan = C.evaluated_tangents(main, pos, ev_m)
    nrm = C.evaluated_normals(main, tan, ev_m)
    binormal = torch.cross(tan, nrm, dim=-1)
    s = C.interpolate_to_evaluated(main, evaluate(scale, curves_context(main, "POINT"), "VALUE"), ev_m).unsqueeze(-1)
    prof = C.evaluated_positions(profile, ev_p)
    blocks = []
    for mi in range(main.num_curves):
        ms, me = ev_m.offsets[mi], ev_m.offsets[mi + 1]
        for pi in range(profile.num_curves):
            for k in range(ms, me):
                for j in range(ev_p.offsets[pi], ev_p.offsets[pi + 1]):
                    x, y, z = prof[:, j, 0:1], prof[:, j, 1:2], prof[:, j, 2:3]
                    blocks.append(pos[:, k] + s[:, k] * (x * nrm[:, k] + y * binormal[:, k] + z * tan[:, k]))
    b = max(int(v.shape[0]) for v in blocks)
    return torch.stack([v.expand(b, -1) for v in blocks], 1)


@pytest.mark.parametrize("profile_kind", ["shared", "batched", "scaled", "scaled_mirrored"])
def test_sweep_equals_reference(profile_kind):
    """The sweep's matrix products equal the vertex-by-vertex formula (two main curves x two profile curves,
    batched or shared profile; a Curve Circle of batched radius as the profile, also of negative or zero
    radius, swept as the unit circle with the radius in the frames), values and gradients; the topology
    tensors come from a bounded cache."""
    from translator.nodes import transform as T

    with rt.eval_context(torch.float64):
        mid = torch.tensor([[0.1, 1.5, 0.3], [0.0, 2.0, -0.2]], dtype=torch.float64, requires_grad=True)
        radii = {"shared": [0.2], "batched": [0.2, 0.35], "scaled": [0.2, 0.35], "scaled_mirrored": [-0.3, 0.0]}
        r = torch.tensor(radii[profile_kind], dtype=torch.float64, requires_grad=True)

        def curves(m, rr):
            main = T.join_geometry([CP.quadratic_bezier(6, middle=m), CP.curve_circle(resolution=7, radius=0.5)[0]])
            if profile_kind.startswith("scaled"):
                return main.curves, CP.curve_circle(resolution=5, radius=rr)[0].curves
            prof = T.join_geometry([CP.curve_circle(resolution=5, radius=rr)[0], CP.curve_line(end=(0.1, 0.2, 0.0))])
            return main.curves, prof.curves

        main, prof = curves(mid, r)
        assert (C.scaled_shape(prof) is not None) == profile_kind.startswith("scaled")
        fast = C._sweep(main, prof, 0.7, True)
        slow = _reference_sweep(main, prof, 0.7)
        torch.testing.assert_close(fast.verts, slow, atol=1e-12, rtol=0)
        w = torch.randn(slow.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
        ga = torch.autograd.grad((fast.verts * w).sum(), (mid, r))
        gb = torch.autograd.grad((_reference_sweep(*curves(mid, r), 0.7) * w).sum(), (mid, r))
        for x, y in zip(ga, gb):
            torch.testing.assert_close(x, y, atol=1e-10, rtol=0)
    info = C._sweep_mesh_topology.cache_info()
    assert info.maxsize is not None and info.currsize >= 1
    corner_verts, _, edges = C._sweep_mesh_topology(((3, False),), ((4, True),), True, torch.device("meta"))
    assert corner_verts.device.type == "meta" and edges.device.type == "meta"


def _fillet_positions_reference(p, r, angle, disp, prev_dir, next_dir, counts):
    """Fillet Curve's arcs as written in Blender's ``fillet_curves``: point by point, middle point by middle point."""
    out = []
    for j, m in enumerate(counts):
        src = p[:, j]
        if m == 1:
            out.append(src.unsqueeze(1))
            continue
        start = src + prev_dir[:, j] * disp[:, j:j + 1]
        end = src + next_dir[:, j] * disp[:, j:j + 1]
        mids = []
        if m > 2:
            axis = -torch.nn.functional.normalize(torch.cross(prev_dir[:, j], next_dir[:, j], dim=-1), dim=-1)
            cdir = torch.nn.functional.normalize((next_dir[:, j] + prev_dir[:, j]) * 0.5, dim=-1)
            center = src + cdir * torch.sqrt(r[:, j:j + 1] ** 2 + disp[:, j:j + 1] ** 2)
            for k in range(1, m - 1):
                mids.append(center + C.rotate_about(start - center, axis, angle[:, j] / (m - 1) * k))
        out.append(torch.stack([start, *mids, end], 1))
    return torch.cat([o.expand(p.shape[0], -1, -1) for o in out], 1)


def test_fillet_positions_equal_reference():
    """All arcs at once equal the point-by-point construction (counts 1, 2, 3 and 5; batched radii), values and
    gradients; the layout comes from a bounded cache."""
    g = torch.Generator().manual_seed(7)
    n, counts = 5, [1, 3, 2, 5, 3]
    p = torch.randn(1, n, 3, generator=g, dtype=torch.float64).requires_grad_(True)
    r = (0.1 + torch.rand(2, n, generator=g, dtype=torch.float64)).requires_grad_(True)

    def inputs():
        nxt, prv = torch.arange(1, n + 1) % n, (torch.arange(n) - 1) % n
        pe = p.expand(2, -1, -1)  # as Fillet Curve passes it: expanded to the batch
        d = torch.nn.functional.normalize(pe[:, nxt] - pe, dim=-1)
        angle = torch.pi - torch.acos((-d[:, prv] * d).sum(-1).clamp(-1, 1))
        return pe, r, angle, r * torch.tan(angle / 2.0), -d[:, prv], d, counts

    fast, slow = C._fillet_positions(*inputs()), _fillet_positions_reference(*inputs())
    assert fast.shape == (2, sum(counts), 3)
    torch.testing.assert_close(fast, slow, atol=1e-12, rtol=0)
    w = torch.randn(fast.shape, generator=g, dtype=torch.float64)
    for a, b in zip(torch.autograd.grad((fast * w).sum(), (p, r)), torch.autograd.grad((slow * w).sum(), (p, r))):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
    assert C._fillet_layout.cache_info().maxsize is not None


def _reference_tangents(curves, positions: torch.Tensor, ev) -> torch.Tensor:
    """``evaluated_tangents`` as Blender writes ``calculate_tangents``: both steps of every point computed
    from its two neighbours (no step shared between neighbours), every kind mask applied."""
    from translator.nodes import curve_eval as CE

    prev_i, next_i, kind_l = CE._neighbours(ev.offsets, tuple(bool(c) for c in curves.cyclic))
    prev_i, next_i, kind = torch.tensor(prev_i), torch.tensor(next_i), torch.tensor(kind_l)
    p, m, q = positions[:, prev_i], positions, positions[:, next_i]
    d_prev, _ = CE.normalize(m - p)
    d_next, _ = CE.normalize(q - m)
    prev_eq, next_eq = CE._almost_equal(p, m), CE._almost_equal(m, q)
    bisect, _ = CE.normalize(d_prev + d_next)
    interior = torch.where(prev_eq.unsqueeze(-1), d_next, torch.where(next_eq.unsqueeze(-1), d_prev, bisect))
    tan = torch.where((kind == 1).reshape(1, -1, 1), d_next, torch.where((kind == 2).reshape(1, -1, 1), d_prev, interior))
    tan = torch.where((kind == 3).reshape(1, -1, 1), torch.tensor([0.0, 0.0, 1.0], dtype=positions.dtype), tan)
    tan = torch.where(((kind == 1) & next_eq | (kind == 2) & prev_eq).unsqueeze(-1), torch.zeros_like(tan), tan)
    return CE._fill_missing_tangents(tan, ev.offsets)


@pytest.mark.parametrize("cyclic", [(False, True, True, False, True), (True, True, True, True, True), (False,) * 5])
def test_tangents_share_steps_like_the_reference(cyclic):
    """The tangents' fast path (each step computed once, absent kinds skipped) equals the reference on
    curves of 7, 1, 2, 5 and 3 points with repeated points: values and float64 gradients."""
    from translator.geometry import CurvesBatch
    from translator.nodes import curve_eval as CE

    counts = (7, 1, 2, 5, 3)
    offsets = torch.tensor([0, *torch.tensor(counts).cumsum(0).tolist()])
    pos = torch.randn(3, sum(counts), 3, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    pos[:, 3] = pos[:, 2]  # a repeated interior point
    pos[:, 10] = pos[:, 11]  # an open start on a repeated point
    pos[:, 15] = pos[:, 14]  # a curve's end repeating its previous point
    curves = CurvesBatch(positions=pos, curve_offsets=offsets, types=["POLY"] * 5, cyclic=list(cyclic), resolution=[12] * 5)
    ev = CE.evaluation(curves)
    fast = pos.clone().requires_grad_(True)
    slow = pos.clone().requires_grad_(True)
    a = CE.evaluated_tangents(curves, fast, ev)
    b = _reference_tangents(curves, slow, ev)
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    w = torch.randn(a.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    (a * w).sum().backward()
    (b * w).sum().backward()
    torch.testing.assert_close(fast.grad, slow.grad, atol=1e-12, rtol=0)


def test_transport_matrices_and_first_normal_equal_their_formulas():
    """The constant-matrix forms of the transport rotation and the first normal against the formulas written
    out (the transport applied to vectors, ``normalize(t.y, -t.x, 0)``), zero and opposite tangents included."""
    from translator.nodes import curve_eval as CE

    g = torch.Generator().manual_seed(10)
    t0 = torch.nn.functional.normalize(torch.randn(2, 20, 3, generator=g, dtype=torch.float64), dim=-1)
    t1 = torch.nn.functional.normalize(torch.randn(2, 20, 3, generator=g, dtype=torch.float64), dim=-1)
    t0[:, 3] = 0.0
    t1[:, 4] = -t0[:, 4]
    t0[:, 5] = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    n = torch.randn(2, 20, 3, generator=g, dtype=torch.float64)
    rotated = (CE._transport_matrices(t0, t1) @ n.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(rotated, CE._transport(n, t0, t1), atol=1e-12, rtol=0)
    flat = (t0[..., 0].abs() + t0[..., 1].abs()) < 1e-4
    expect, _ = CE.normalize(torch.stack([t0[..., 1], -t0[..., 0], torch.zeros_like(t0[..., 0])], -1))
    expect = torch.where(flat.unsqueeze(-1), torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), expect)
    torch.testing.assert_close(CE._first_normal(t0), expect, atol=0, rtol=0)
    assert torch.autograd.gradcheck(lambda a, b: CE._transport_matrices(a, b), (t0[:1, 6:9].clone().requires_grad_(True),
                                                                               t1[:1, 6:9].clone().requires_grad_(True)))


@pytest.mark.parametrize("tilted", [False, True])
def test_scaled_circle_frames_equal_the_reference(monkeypatch, tilted):
    """A Curve Circle of batched radius sweeps with the unit circle's frames (computed once for the batch): the
    same vertices and gradients as frames from every element's own points; a radius <= 0 anywhere in the batch
    (a mirrored or collapsed circle) takes the general path."""
    from translator.nodes import curve_eval as CE

    with rt.eval_context(torch.float64):
        def sweep(rr, pr, tt):
            main = CP.curve_circle(resolution=9, radius=rr)[0]
            if tilted:
                main = C.set_curve_tilt(main, tilt=tt)
            prof = CP.curve_circle(resolution=5, radius=pr)[0]
            return C.curve_to_mesh(main, prof, fill_caps=False).mesh.verts

        for radii in ([0.5, 1.3, 2.0], [0.5, -1.0, 2.0], [0.7, 0.0, 1.1]):
            r = torch.tensor(radii, dtype=torch.float64, requires_grad=True)
            pr = torch.tensor([0.1, 0.2, 0.15], dtype=torch.float64, requires_grad=True)
            tilt = torch.tensor([0.3, -0.4, 1.2], dtype=torch.float64, requires_grad=True)
            main = CP.curve_circle(resolution=9, radius=r)[0].curves
            assert (CE.unit_shape(main) is not None) == all(x > 0 for x in radii)
            fast = sweep(r, pr, tilt)
            monkeypatch.setattr(CE, "SCALED_FRAMES", False)
            slow = sweep(r, pr, tilt)
            monkeypatch.setattr(CE, "SCALED_FRAMES", True)
            torch.testing.assert_close(fast, slow, atol=1e-12, rtol=0)
            w = torch.randn(slow.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
            leaves = (r, pr, tilt) if tilted else (r, pr)
            ga = torch.autograd.grad((fast * w).sum(), leaves)
            gb = torch.autograd.grad((slow * w).sum(), leaves)
            for x, y in zip(ga, gb):
                torch.testing.assert_close(x, y, atol=1e-10, rtol=0)
        r = torch.tensor([0.6, 1.4], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda rr: sweep(rr, torch.tensor([0.1, 0.2], dtype=torch.float64),
                                                         torch.tensor([0.3, 0.5], dtype=torch.float64)), (r,))


def test_moved_circle_points_lose_the_scale_note():
    """The note that positions are a scale of a shape lives on the positions tensor: a node that computes new
    positions (Transform, Set Position) leaves it behind."""
    from translator.nodes import curve_eval as CE
    from translator.nodes import transform as T

    with rt.eval_context(torch.float64):
        circle = CP.curve_circle(resolution=6, radius=torch.tensor([0.5, 1.0], dtype=torch.float64))[0]
        assert CE.unit_shape(circle.curves) is not None
        moved = T.transform_geometry(circle, translation=(0.0, 0.2, 0.0), scale=(1.0, 2.0, 1.0))
        assert CE.unit_shape(moved.curves) is None
        assert CE.unit_shape(CP.curve_circle(resolution=6, radius=0.5)[0].curves) is None  # constant: nothing to save


@requires_bpy
def test_traced_sweep_of_a_scaled_circle_follows_its_radius():
    """The traced replay folds the unit circle's frames, not the radius: a changed radius changes the mesh and its
    gradient as the plain program computes them, and a radius <= 0 misses the replay's guard."""
    from translator.nodes import curve_eval as CE

    obj = _sweep_program("circle", "circle", True)
    module = translate_object(obj)

    def run(radius, trace=True):
        r = torch.tensor(radius, dtype=torch.float64, requires_grad=True)
        x = {"Radius": r, "Profile Radius": torch.full((len(radius),), 0.2, dtype=torch.float64)}
        with rt.eval_context(torch.float64, trace=trace):
            m = module.program({}, x)
        (g,) = torch.autograd.grad((m.verts ** 2).sum(), r)
        return m.verts.detach(), g

    for radius in ([1.0, 1.5], [0.7, 2.0], [1.2, 0.9], [0.5, 1.8]):
        v, g = run(radius)
        monkey = CE.SCALED_FRAMES
        CE.SCALED_FRAMES = False
        try:
            v_ref, g_ref = run(radius, trace=False)
        finally:
            CE.SCALED_FRAMES = monkey
        torch.testing.assert_close(v, v_ref, atol=1e-12, rtol=0)
        torch.testing.assert_close(g, g_ref, atol=1e-10, rtol=0)
        assert g.abs().min() > 0
    entry = next(v for v in vars(module).values() if hasattr(v, "_shapeprog_traces"))
    stats = entry._shapeprog_traces.stats
    assert stats["replayed"] >= 2 and stats["guard_misses"] == 0
    v, _ = run([1.0, -1.5])
    assert stats["guard_misses"] == 1
    CE.SCALED_FRAMES = False
    try:
        torch.testing.assert_close(v, run([1.0, -1.5], trace=False)[0], atol=1e-12, rtol=0)
    finally:
        CE.SCALED_FRAMES = True


def test_segment_frames_equal_the_reference(monkeypatch):
    """Open two-point POLY curves (lines as sweep paths) take one direction and one first normal per curve: the
    same tangents, normals, swept vertices and gradients as the general tangents and minimum twist, also for a
    vertical line, a tilted one and lines whose ends coincide exactly or almost (+Z); a cyclic two-point curve or
    a Bezier segment keeps the general path."""
    from translator.nodes import curve_eval as CE
    from translator.nodes import transform as T

    with rt.eval_context(torch.float64):
        ends = torch.tensor([[[0.3, -0.2, 1.0], [0.0, 0.0, 2.0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.5]],
                             [[-1.0, 0.4, 0.2], [0.0, 0.0, -1.0], [1.0, 1e-9, 0.0], [0.2, 0.1, 0.0]]],
                            dtype=torch.float64, requires_grad=True)
        starts = [(0.0, 0.0, 0.0), (0.0, 0.0, 0.5), (1.0, 0.0, 0.0), (0.2, 0.1, 0.0)]

        def frames(e, tilt):
            lines = [CP.curve_line(start=s, end=e[:, i]) for i, s in enumerate(starts)]
            main = C.set_curve_tilt(T.join_geometry(lines), tilt=tilt).curves
            ev = C.evaluation(main)
            tan = C.evaluated_tangents(main, C.evaluated_positions(main, ev), ev)
            nrm = C.evaluated_normals(main, tan, ev)
            verts = C._sweep(main, CP.curve_circle(resolution=5, radius=0.1)[0].curves, 1.0, True).verts
            return main, tan, nrm, verts

        tilt = torch.tensor([0.0, 0.4], dtype=torch.float64, requires_grad=True)
        main, *fast = frames(ends, tilt)
        assert CE._segments_only(main, C.evaluation(main))
        monkeypatch.setattr(CE, "SEGMENT_FRAMES", False)
        _, *slow = frames(ends, tilt)
        for a, b in zip(fast, slow):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
        w = torch.randn(slow[-1].shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
        gb = torch.autograd.grad((slow[-1] * w).sum(), (ends, tilt))
        monkeypatch.setattr(CE, "SEGMENT_FRAMES", True)
        ga = torch.autograd.grad((frames(ends, tilt)[-1] * w).sum(), (ends, tilt))
        for x, y in zip(ga, gb):
            torch.testing.assert_close(x, y, atol=1e-10, rtol=0)
        assert torch.equal(fast[0][:, 4:6], torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(2, 2, 3))
        cyclic = C.set_spline_cyclic(CP.curve_line(end=(1.0, 0.0, 0.0)), cyclic=True).curves
        bezier = CP.bezier_segment(resolution=1).curves
        assert not CE._segments_only(cyclic, C.evaluation(cyclic)) and not CE._segments_only(bezier, C.evaluation(bezier))
