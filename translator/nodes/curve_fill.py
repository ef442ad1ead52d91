"""Fill Curve (``node_geo_curve_fill.cc``): the evaluated points of all curves, projected to XY, filled by
Blender's constrained Delaunay triangulation (``delaunay_2d_calc`` in ``BLI_delaunay_2d``, double arithmetic,
no epsilon, no ids), as triangles (``CDT_INSIDE_WITH_HOLES``) or n-gons
(``CDT_CONSTRAINTS_VALID_BMESH_WITH_HOLES``).

Which faces come out, their order and each face's first corner are decided by the whole history of that
algorithm's half-edge structure, so this module replays it step by step on the (detached) point values,
rounded to float32 as Blender's: Guibas-Stolfi divide and conquer on the points sorted by (x, y, index) with
exact orientation and in-circle signs; every curve a constraint face (all curves are treated as cyclic;
those under 3 points add none), a side that is no edge yet inserted by deleting the edges it crosses and
re-triangulating both sides (``add_edge_constraint``, ``re_delaunay_triangulate``); face ids flooded from
the last face edge (without ids they cross every constraint); faces of each region marked as holes by ray parity; the outer non-constraint edges dissolved
(and for n-gons the remaining ones by increasing length where that keeps valid faces); hole faces dropped;
the faces read in creation order from their representative half-edge. Groups of curves (Group ID, groups in
order of first appearance) are filled separately, one after another. Vertices are every evaluated point
(``(b, E, 3)``, by group) at ``(x, y, 0)``: positions stay differentiable, the topology passes through the
traced path's guards (the values are read with ``tolist``) and must agree across the batch
(``TopologyVaries`` otherwise).

Not reproduced (one-line error naming Fill Curve): curve sides that cross each other or pass through a
point (Blender splits them, adding vertices); coincident points (Blender merges them); any near-degenerate
decision (points nearly on a common line or circle, nearly equal x, nearly equal dissolve lengths): there
Blender's choice follows the last bits of its float32 positions, which positions computed in another order need not
share (a Curve Circle's points all lie on one circle); more than 16 dissolvable edges with equal lengths in
n-gons mode (``std::sort`` is no insertion sort there); no curve with 3 or more points. Exactly degenerate
decisions (positions computed exactly, such as a rectangle's) are taken as Blender takes them. Checked
against Blender in ``tests/translator/nodes/test_curve_fill.py``.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import torch

from .. import runtime as rt
from ..geometry import GeometrySet, MeshBatch, offsets_from_sizes
from . import node
from .attributes import modify_geometry_sets
from .curve_eval import evaluated_positions, evaluation
from .fields import curves_context, decided, evaluate

__all__ = ["FillNotReproduced", "cdt_faces", "fill_curve"]

MODES = ("Triangles", "N-gons")


class FillNotReproduced(ValueError):
    """A configuration whose fill this module does not reproduce exactly."""


# ---------------------------------------------------------------------------
# Exact predicates (Blender's double orient2d / incircle are Shewchuk's exact-sign predicates) that refuse
# near-degenerate decisions: there the sign follows the last bits of the float32 positions, which need not be
# Blender's (a regular polygon's points are all nearly on one circle). An exactly degenerate decision (a zero
# determinant: positions computed exactly, such as a rectangle's) is taken as Blender takes it.


def _sign(x) -> int:
    return (x > 0) - (x < 0)


NEAR = "points nearly on a common line or circle (Blender's choice there follows the float32 rounding of the positions)"


def _orient(a: _Vert, b: _Vert, c: _Vert, eps: float) -> int:
    """Sign of the orientation of ``a b c`` (> 0: counter-clockwise). Past the near-degenerate band the
    double determinant's sign is exact (its rounding error is far smaller than the band)."""
    d = (a.x - c.x) * (b.y - c.y) - (a.y - c.y) * (b.x - c.x)
    if abs(d) > 8.0 * eps * (abs(a.x - c.x) + abs(a.y - c.y) + abs(b.x - c.x) + abs(b.y - c.y)):
        return _sign(d)
    A, B, C = a.exact, b.exact, c.exact
    if (A[0] - C[0]) * (B[1] - C[1]) != (A[1] - C[1]) * (B[0] - C[0]):
        raise FillNotReproduced(NEAR)
    return 0


def _incircle_det(pa, pb, pc, pd):
    adx, ady = pa[0] - pd[0], pa[1] - pd[1]
    bdx, bdy = pb[0] - pd[0], pb[1] - pd[1]
    cdx, cdy = pc[0] - pd[0], pc[1] - pd[1]
    al, bl, cl = adx * adx + ady * ady, bdx * bdx + bdy * bdy, cdx * cdx + cdy * cdy
    return al * (bdx * cdy - cdx * bdy) + bl * (cdx * ady - adx * cdy) + cl * (adx * bdy - bdx * ady)


def _incircle_slope(pa, pb, pc, pd) -> float:
    """The sum of the in-circle determinant's partial derivatives' magnitudes in the 8 coordinates."""
    rows = [(p[0] - pd[0], p[1] - pd[1]) for p in (pa, pb, pc)]
    lifts = [x * x + y * y for x, y in rows]
    total, gx, gy = 0.0, 0.0, 0.0
    for i in range(3):
        (x1, y1), (x2, y2) = rows[(i + 1) % 3], rows[(i + 2) % 3]
        l1, l2 = lifts[(i + 1) % 3], lifts[(i + 2) % 3]
        x, y = rows[i]
        cross = x1 * y2 - x2 * y1
        dx = (y1 * l2 - y2 * l1) + 2.0 * x * cross
        dy = -(x1 * l2 - x2 * l1) + 2.0 * y * cross
        total += abs(dx) + abs(dy)
        gx, gy = gx + dx, gy + dy
    return total + abs(gx) + abs(gy)


def _incircle(a: _Vert, b: _Vert, c: _Vert, d: _Vert, eps: float) -> int:
    """Sign of the in-circle test (> 0: ``d`` inside the circle through counter-clockwise ``a b c``); exact
    past the near-degenerate band, as :func:`_orient`."""
    p = [(v.x, v.y) for v in (a, b, c, d)]
    det = _incircle_det(*p)
    if abs(det) > 4.0 * eps * _incircle_slope(*p):
        return _sign(det)
    if _incircle_det(a.exact, b.exact, c.exact, d.exact) != 0:
        raise FillNotReproduced(NEAR)
    return 0


# ---------------------------------------------------------------------------
# The half-edge arrangement (Blender's SymEdge / CDTVert / CDTEdge / CDTFace)


class _Vert:
    __slots__ = ("exact", "index", "merge_to", "symedge", "visit", "x", "y")

    def __init__(self, x: float, y: float, index: int):
        self.x, self.y = x, y
        self.exact = (Fraction(x), Fraction(y))
        self.symedge: _SE | None = None
        self.index, self.merge_to, self.visit = index, -1, 0


class _SE:
    __slots__ = ("edge", "face", "next", "rot", "vert")

    def __init__(self):
        self.next = self.rot = self.vert = self.edge = self.face = None


class _Edge:
    __slots__ = ("constrained", "se")

    def __init__(self):
        self.constrained = False  # input_ids non-empty (ids are not tracked: only whether there is one)
        self.se = (_SE(), _SE())
        self.se[0].edge = self.se[1].edge = self


class _Face:
    __slots__ = ("deleted", "has_ids", "hole", "symedge", "visit")

    def __init__(self):
        self.symedge = None
        self.has_ids = False
        self.visit, self.deleted, self.hole = 0, False, False


def _sym(se: _SE) -> _SE:
    return se.next.rot


def _prev(se: _SE) -> _SE:
    return se.rot.next.rot


def _deleted(e: _Edge) -> bool:
    return e.se[0].next is None


class _CDT:
    def __init__(self, xy: list[tuple[float, float]]):
        self.verts = [_Vert(x, y, i) for i, (x, y) in enumerate(xy)]
        self.edges: list[_Edge] = []
        self.faces: list[_Face] = []
        self.outer = self.add_face()
        self.visit_count = 0
        # how far float32 positions computed in another order may lie from Blender's: 32 ulps of the largest
        # coordinate (a primitive, a transform and an offset round a few times each; wider bands refuse many
        # dense curves: 64 random points fill 14/20 at 16 ulps, 11/20 at 32, 4/20 at 128)
        size = max([abs(c) for p in xy for c in p] + [1e-30])
        self.eps = size * 2.0**-19

    def add_face(self) -> _Face:
        f = _Face()
        self.faces.append(f)
        return f

    def add_edge(self, v1: _Vert, v2: _Vert, fleft: _Face, fright: _Face) -> _Edge:
        e = _Edge()
        self.edges.append(e)
        se, sesym = e.se
        se.face, sesym.face = fleft, fright
        se.vert, sesym.vert = v1, v2
        if v1.symedge is None:
            v1.symedge = se
        if v2.symedge is None:
            v2.symedge = sesym
        return e

    def add_vert_to_symedge_edge(self, v: _Vert, se: _SE) -> _Edge:
        se_rot = se.rot
        se_rotsym = _sym(se_rot)
        e = self.add_edge(v, se.vert, se.face, se.face)
        new_se, new_se_sym = e.se
        new_se.next = se
        new_se_sym.next = new_se
        new_se.rot = new_se
        new_se_sym.rot = se_rot
        se.rot = new_se_sym
        se_rotsym.next = new_se_sym
        return e

    def add_diagonal(self, s1: _SE, s2: _SE) -> _Edge:
        fold = s1.face
        fnew = self.add_face()
        s1prev, s2prev = _prev(s1), _prev(s2)
        s1prevsym, s2prevsym = _sym(s1prev), _sym(s2prev)
        e = self.add_edge(s1.vert, s2.vert, fnew, fold)
        sdiag, sdiagsym = e.se
        sdiag.next, sdiagsym.next = s2, s1
        s2prev.next, s1prev.next = sdiagsym, sdiag
        s1.rot, sdiag.rot = sdiag, s1prevsym
        s2.rot, sdiagsym.rot = sdiagsym, s2prevsym
        se = s2
        while se is not sdiag:
            se.face = fnew
            se = se.next
        fnew.has_ids = fnew.has_ids or fold.has_ids
        return e

    def connect_separate_parts(self, se1: _SE, se2: _SE) -> _Edge:
        se1_rot, se2_rot = se1.rot, se2.rot
        se1_rotsym, se2_rotsym = _sym(se1_rot), _sym(se2_rot)
        e = self.add_edge(se1.vert, se2.vert, self.outer, self.outer)
        new_se, new_se_sym = e.se
        new_se.next, new_se_sym.next = se2, se1
        new_se.rot, new_se_sym.rot = se1_rot, se2_rot
        se1.rot, se2.rot = new_se, new_se_sym
        se1_rotsym.next, se2_rotsym.next = new_se, new_se_sym
        return e

    def delete_edge(self, se: _SE) -> None:
        sesym = _sym(se)
        v1, v2 = se.vert, sesym.vert
        aface, bface = se.face, sesym.face
        f, h, i, j = se.next, _prev(se), sesym.next, _prev(sesym)
        jsym, hsym = _sym(j), _sym(h)
        v1_isolated, v2_isolated = i is se, f is sesym
        if not v1_isolated:
            h.next = i
            i.rot = hsym
        if not v2_isolated:
            j.next = f
            f.rot = jsym
        merged = not v1_isolated and not v2_isolated and aface is not bface
        if merged:
            k = i
            while k is not f:
                k.face = aface
                k = k.next
        if v1_isolated:
            v1.symedge = None
        elif v1.symedge is se:
            v1.symedge = i
        if v2_isolated:
            v2.symedge = None
        elif v2.symedge is sesym:
            v2.symedge = f
        se.next = se.rot = sesym.next = sesym.rot = None
        if merged:
            bface.deleted = True
            if self.outer is bface:
                self.outer = aface

    # -- initial Delaunay triangulation (divide and conquer) --

    def dc_tri(self, sites: list[_Vert], start: int, end: int):
        n = end - start
        if n <= 1:
            return None, None
        if n <= 3:
            v1, v2 = sites[start], sites[start + 1]
            ea = self.add_edge(v1, v2, self.outer, self.outer)
            ea.se[0].next, ea.se[1].next = ea.se[1], ea.se[0]
            ea.se[0].rot, ea.se[1].rot = ea.se[0], ea.se[1]
            if n == 2:
                return ea.se[0], ea.se[1]
            v3 = sites[start + 2]
            eb = self.add_vert_to_symedge_edge(v3, ea.se[1])
            o = _orient(v1, v2, v3, self.eps)
            if o > 0:
                self.add_diagonal(eb.se[0], ea.se[0])
                return ea.se[0], eb.se[0]
            if o < 0:
                self.add_diagonal(ea.se[0], eb.se[0])
                return ea.se[0].rot, eb.se[0].rot
            return ea.se[0], eb.se[0]
        n2 = n // 2
        ldo, ldi = self.dc_tri(sites, start, start + n2)
        rdi, rdo = self.dc_tri(sites, start + n2, end)
        while True:  # lower common tangent
            if _orient(rdi.vert, ldi.vert, ldi.next.vert, self.eps) > 0:
                ldi = ldi.next
            elif _orient(ldi.vert, rdi.next.vert, rdi.vert, self.eps) > 0:
                rdi = _sym(rdi).rot
            else:
                break
        ebasel = self.connect_separate_parts(_sym(rdi).next, ldi)
        basel, basel_sym = ebasel.se
        if ldi.vert is ldo.vert:
            ldo = basel_sym
        if rdi.vert is rdo.vert:
            rdo = basel

        def valid(se: _SE) -> bool:
            return _orient(se.next.vert, basel_sym.vert, basel.vert, self.eps) > 0

        while True:
            lcand, rcand = basel_sym.rot, basel_sym.next
            if valid(lcand):
                while _incircle(basel_sym.vert, basel.vert, lcand.next.vert, lcand.rot.next.vert, self.eps) > 0:
                    t = lcand.rot
                    self.delete_edge(_sym(lcand))
                    lcand = t
            if valid(rcand):
                while _incircle(basel_sym.vert, basel.vert, rcand.next.vert, _sym(rcand).next.next.vert, self.eps) > 0:
                    t = _sym(rcand).next
                    self.delete_edge(rcand)
                    rcand = t
            vl, vr = valid(lcand), valid(rcand)
            if not vl and not vr:
                break
            if not vl or (vr and _incircle(lcand.next.vert, lcand.vert, rcand.vert, rcand.next.vert, self.eps) > 0):
                ebasel = self.add_diagonal(rcand.next, basel_sym)
            else:
                ebasel = self.add_diagonal(basel_sym.next, _sym(lcand))
            basel, basel_sym = ebasel.se
        return ldo, rdo

    def initial_triangulation(self) -> None:
        sites = sorted(self.verts, key=lambda v: (v.x, v.y, v.index))
        for a, b in itertools.pairwise(sites):
            if a.x == b.x and a.y == b.y:
                raise FillNotReproduced("two points coincide in XY (Blender merges them)")
            if 0 < b.x - a.x <= self.eps or (a.x == b.x and b.y - a.y <= self.eps):
                raise FillNotReproduced("two points nearly share their x or position (Blender's order of them "
                                        "follows the float32 rounding of the positions)")
        if len(sites) > 1:
            self.dc_tri(sites, 0, len(sites))

    # -- constraints --

    def find_symedge_between(self, v1: _Vert, v2: _Vert) -> _SE | None:
        t = start = v1.symedge
        while True:
            if t.next.vert is v2:
                return t
            t = t.rot
            if t is start:
                return None

    def add_edge_constraint(self, v1: _Vert, v2: _Vert) -> _Edge:
        """Blender's ``add_edge_constraint`` for a segment that, where it is no edge yet, crosses only
        unconstrained edges inside their ends (they are deleted, the segment added as a diagonal and the two
        sides re-triangulated); passing through a point or crossing a constraint is refused."""
        t = self.find_symedge_between(v1, v2)
        if t is not None:
            t.edge.constrained = True
            return t.edge
        self.visit_count += 1
        crossed: list[_SE] = []  # the edges crossed in order (each as the SymEdge 'in' of its crossing)
        start_out, end_in = self._first_crossing(v1, v2, crossed), None
        while end_in is None:
            end_in = self._next_crossing(v1, v2, crossed)
        for se in crossed:
            if se.vert is v2 or se.next.vert is v2:
                raise FillNotReproduced(THROUGH)
            if se.edge.constrained:
                raise FillNotReproduced("two curve segments cross (Blender splits them at the crossing)")
        for se in crossed:
            self.delete_edge(se)
        edge = start_out.edge if start_out.next.vert is end_in.vert else self.add_diagonal(start_out, end_in)
        edge.constrained = True
        self.re_delaunay(edge.se[0])
        self.re_delaunay(edge.se[1])
        return edge

    def _first_crossing(self, v1: _Vert, v2: _Vert, crossed: list[_SE]) -> _SE:
        """The rotational scan around ``v1`` (``get_next_crossing_from_vert``): the triangle the segment
        leaves ``v1`` through; its far edge is the first crossed. Returns the SymEdge from ``v1`` to the
        crossed edge's start (Blender's ``out`` of the first crossing)."""
        t = start = v1.symedge
        while True:
            va, vb = t.next.vert, t.next.next.vert
            o1 = _orient(t.vert, va, v2, self.eps)
            if o1 == 0 and _in_line(v1, va, v2):
                raise FillNotReproduced(THROUGH)
            if t.face is not self.outer and o1 > 0 and _orient(v1, vb, v2, self.eps) < 0:
                crossed.append(t.next)
                return t
            t = t.rot
            if t is start:
                raise FillNotReproduced("a curve segment's crossings were not found")

    def _next_crossing(self, v1: _Vert, v2: _Vert, crossed: list[_SE]) -> _SE | None:
        """``get_next_crossing_from_edge``: past the last crossed edge ``a b``, the triangle's third point
        ``c`` is ``v2`` (the end: returns the SymEdge from ``v2`` in that triangle) or the segment crosses
        ``b c`` or ``c a`` next (None)."""
        se_ac = _sym(crossed[-1]).next
        vc = se_ac.next.vert
        o = _orient(v1, v2, vc, self.eps)  # Blender takes the crossing point for v1: the same line
        if o == 0:
            if vc is not v2:
                raise FillNotReproduced(THROUGH)
            return se_ac.next
        crossed.append(se_ac.next if o < 0 else se_ac)
        if len(crossed) > 4 * len(self.verts) + 4:
            raise FillNotReproduced("a curve segment's crossings did not end")
        return None

    def re_delaunay(self, se: _SE) -> None:
        """``re_delaunay_triangulate``: the pseudo-polygon left of ``se`` triangulated, each triangle on its
        base taking the point whose circle holds no later point."""
        if se.face is self.outer or _sym(se).face is self.outer:
            return
        count, ss = 1, se.next
        while ss is not se:
            count, ss = count + 1, ss.next
        if count <= 3:
            return
        first = se.next.next
        a, b, c, cse = se.vert, se.next.vert, first.vert, first
        ss = first.next
        while ss is not se:
            if _incircle(a, b, c, ss.vert, self.eps) > 0:
                c, cse = ss.vert, ss
            ss = ss.next
        ebc = self.add_diagonal(se.next, cse) if self.find_symedge_between(b, c) is None else None
        eca = self.add_diagonal(cse, se) if self.find_symedge_between(c, a) is None else None
        if ebc is not None:
            self.re_delaunay(ebc.se[1])
        if eca is not None:
            self.re_delaunay(eca.se[1])

    def add_face_constraints(self, faces: list[list[int]], ngons: bool) -> int:
        added = 0
        face_symedge0 = None
        for face in faces:
            if len(face) <= 2:
                continue
            for i in range(len(face)):
                added += 1
                v1, v2 = self.verts[face[i]], self.verts[face[(i + 1) % len(face)]]
                e = self.add_edge_constraint(v1, v2)
                face_symedge0 = e.se[0] if e.se[0].vert is v1 else e.se[1]
            if face_symedge0 is not None:
                # without ids every constraint carries id 0, below each face's id range: the flood crosses them
                self.add_face_ids(face_symedge0)
                if ngons:
                    self.add_face_ids(face_symedge0)
        return added

    def add_face_ids(self, face_symedge: _SE) -> None:
        self.visit_count += 1
        visit = self.visit_count
        stack = [face_symedge]
        while stack:
            se = stack.pop()
            face = se.face
            if face.visit == visit:
                continue
            face.visit = visit
            face.has_ids = True
            s = se.next
            while s is not se:
                other = _sym(s)
                if other.face.visit != visit:
                    stack.append(other)
                s = s.next

    # -- output preparation --

    def dissolve(self, se: _SE) -> None:
        symse = _sym(se)
        if symse.face is self.outer:
            se = _sym(se)
            symse = _sym(se)
        if self.outer.symedge is se or self.outer.symedge is symse:
            self.outer.symedge = None if se.next.next is se else se.next.next
        else:
            if se.face.symedge is se:
                se.face.symedge = se.next
            if symse.face.symedge is symse:
                symse.face.symedge = symse.next
        self.delete_edge(se)

    def detect_holes(self) -> None:
        for f in self.faces:
            f.visit = -1
        self.outer.visit = -2
        reps: list[_Face] = []
        for f0 in self.faces:
            if f0.deleted or f0.symedge is None or f0.visit != -1:
                continue
            region = len(reps)
            reps.append(f0)
            stack = [f0]
            while stack:
                f = stack.pop()
                if f.visit != -1:
                    continue
                f.visit = region
                se = f.symedge
                while True:
                    if not se.edge.constrained:
                        fs = _sym(se).face
                        if fs is not None and not fs.deleted and fs.visit == -1:
                            stack.append(fs)
                    se = se.next
                    if se is f.symedge:
                        break
        self.visit_count = len(reps)
        ray = (Fraction(123456), Fraction(654321))
        for f in reps:
            a, b, c = f.symedge.vert, f.symedge.next.vert, f.symedge.next.next.vert
            mid = (Fraction((a.x + b.x + c.x) / 3), Fraction((a.y + b.y + c.y) / 3))
            hits = 0
            for e in self.edges:
                if _deleted(e) or not e.constrained or e.se[0].face.visit == e.se[1].face.visit:
                    continue
                hits += _crosses(ray, mid, e.se[0].vert.exact, e.se[1].vert.exact)
            f.hole = hits % 2 == 0
        for f in self.faces:
            if f.visit >= 0:
                f.hole = reps[f.visit].hole

    def remove_outer_edges_until_constraints(self) -> None:
        self.visit_count += 1
        visit = self.visit_count
        self.outer.visit = visit
        fstack: list[_Face] = []
        se = start = self.outer.symedge
        while True:
            if not se.edge.constrained:
                fs = _sym(se).face
                if fs.visit != visit:
                    fstack.append(fs)
            se = se.next
            if se is start:
                break
        while fstack:
            f = fstack.pop()
            if f.visit == visit:
                continue
            f.visit = visit
            to_dissolve: list[_SE] = []
            se = start = f.symedge
            while True:
                if not se.edge.constrained:
                    fs = _sym(se).face
                    if fs.visit != visit:
                        fstack.append(fs)
                    else:
                        to_dissolve.append(se)
                se = se.next
                if se is start:
                    break
            for se in reversed(to_dissolve):  # a prepended linked list, popped from its head
                if se.next is not None:
                    self.dissolve(se)

    def remove_non_constraint_edges_leave_valid_bmesh(self) -> None:
        items = []
        for e in self.edges:
            if not _deleted(e) and not e.constrained:
                a, b = e.se[0].vert, e.se[1].vert
                dx, dy = a.x - b.x, a.y - b.y
                items.append((dx * dx + dy * dy, e))
        lengths = [x[0] for x in items]
        if len(items) > 16 and len(set(lengths)) < len(lengths):
            raise FillNotReproduced(f"{len(items)} edges to dissolve with equal lengths among them (Blender's "
                                    "std::sort order of equal lengths past 16 elements is not reproduced)")
        items.sort(key=lambda x: x[0])
        for (l0, _), (l1, _) in itertools.pairwise(items):
            if 0 < l1 - l0 <= 8.0 * self.eps * (l1**0.5 + self.eps):
                raise FillNotReproduced("edges to dissolve of nearly equal lengths (Blender's order of them "
                                        "follows the float32 rounding of the positions)")
        for _, e in items:  # stable, as libstdc++'s insertion sort up to 16
            se = e.se[0]
            fleft, fright = se.face, _sym(se).face
            ok = True
            if fleft is not self.outer and fright is not self.outer and (fleft.has_ids or fright.has_ids):
                s2 = se.next
                while ok and s2 is not se:
                    if _sym(s2).face is fright or (s2.vert is not se.next.vert and _touches(s2.vert, fright)):
                        ok = False
                    s2 = s2.next
            if ok:
                self.dissolve(se)

    def remove_faces_in_holes(self) -> None:
        for f in self.faces:
            if f.deleted or not f.hole:
                continue
            f.deleted = True
            se = start = f.symedge
            while True:
                nxt = se.next
                if not se.edge.constrained:
                    se.next = None
                se = nxt
                if se is start:
                    break

    def output_faces(self, ngons: bool) -> list[list[int]]:
        for e in self.edges:
            if not _deleted(e):
                for se in e.se:
                    if se.face.symedge is None:
                        se.face.symedge = se
        self.detect_holes()
        self.remove_outer_edges_until_constraints()
        if ngons:
            self.remove_non_constraint_edges_leave_valid_bmesh()
        self.remove_faces_in_holes()
        out = []
        for f in self.faces:
            if f.deleted or f is self.outer:
                continue
            face, se = [], f.symedge
            while True:
                face.append(se.vert.index)
                se = se.next
                if se is f.symedge:
                    break
            out.append(face)
        return out


THROUGH = "a curve segment passes through another point (Blender splits it there)"


def _in_line(a: _Vert, b: _Vert, c: _Vert) -> bool:
    """``b`` between ``a`` and ``c`` on their common line (exact)."""
    A, B, C = a.exact, b.exact, c.exact
    ab, ac, bc = (B[0] - A[0], B[1] - A[1]), (C[0] - A[0], C[1] - A[1]), (C[0] - B[0], C[1] - B[1])
    return ab[0] * ac[0] + ab[1] * ac[1] >= 0 and bc[0] * ac[0] + bc[1] * ac[1] >= 0


def _touches(v: _Vert, f: _Face) -> bool:
    se = v.symedge
    while True:
        if se.face is f:
            return True
        se = se.rot
        if se is v.symedge:
            return False


def _crosses(p, q, a, b) -> int:
    """1 when segments ``p q`` and ``a b`` cross at a point inside both (Blender's LINE_LINE_CROSS)."""
    div = (q[0] - p[0]) * (b[1] - a[1]) - (q[1] - p[1]) * (b[0] - a[0])
    if div == 0:
        return 0
    lam = ((a[0] - p[0]) * (b[1] - a[1]) - (a[1] - p[1]) * (b[0] - a[0])) / div
    mu = ((a[0] - p[0]) * (q[1] - p[1]) - (a[1] - p[1]) * (q[0] - p[0])) / div
    return int(0 < lam < 1 and 0 < mu < 1)


def cdt_faces(xy: list[tuple[float, float]], faces: list[list[int]], ngons: bool) -> list[list[int]]:
    """The faces (vertex indices into ``xy``) Blender's ``delaunay_2d_calc`` outputs for the input faces
    ``faces`` in mode ``CDT_CONSTRAINTS_VALID_BMESH_WITH_HOLES`` (``ngons``) or ``CDT_INSIDE_WITH_HOLES``;
    raises :class:`FillNotReproduced` where that is not reproduced."""
    cdt = _CDT(xy)
    cdt.initial_triangulation()
    if cdt.add_face_constraints(faces, ngons) == 0:
        raise FillNotReproduced("no curve has 3 or more points")
    return cdt.output_faces(ngons)


# ---------------------------------------------------------------------------
# The node


def _f32(t: torch.Tensor) -> list[list[float]]:
    """``(b, E, 2)`` values rounded to float32 as Python floats (``tolist``: a guard when traced)."""
    return t.detach().to(torch.float32).to(torch.float64).tolist()


def _groups(curves, group_id) -> list[list[int]]:
    """The curves of each group, groups in order of first appearance (``IndexMask::from_group_ids``); a single
    Group ID value is one group. Group IDs decide topology: shared by the batch, guarded."""
    if not isinstance(group_id, rt.Field):
        return [list(range(curves.num_curves))]
    ids = evaluate(group_id, curves_context(curves, "CURVE"), "INT")
    ids = decided(rt.static_mask(ids, "the Group IDs Fill Curve groups curves by")).tolist()
    order: dict[int, list[int]] = {}
    for c, g in enumerate(ids):
        order.setdefault(g, []).append(c)
    return list(order.values())


def _fill(curves, group_id, ngons: bool) -> MeshBatch:
    ev = evaluation(curves)
    pos = evaluated_positions(curves, ev)  # (b, E, 3)
    offsets = list(ev.offsets)
    xy_all = _f32(pos[..., :2])
    take: list[int] = []  # evaluated point of each output vertex: groups one after another (cdts_to_mesh)
    per_item: list[list[list[int]]] = [[] for _ in xy_all]
    for group in _groups(curves, group_id):
        start = len(take)
        faces_in = []
        for c in group:
            faces_in.append(list(range(len(take) - start, len(take) - start + offsets[c + 1] - offsets[c])))
            take += range(offsets[c], offsets[c + 1])
        for item, xy in zip(per_item, xy_all):
            try:
                faces = cdt_faces([tuple(xy[i]) for i in take[start:]], faces_in, ngons)
            except FillNotReproduced as exc:
                raise ValueError(f"Fill Curve: {exc}, which is not reproduced") from None
            item += [[v + start for v in f] for f in faces]
    keys = {repr(f): i for i, f in reversed(list(enumerate(per_item)))}
    if len(keys) > 1:
        key = torch.tensor([[keys[repr(f)]] for f in per_item], dtype=torch.long, device=pos.device)
        raise rt.TopologyVaries(key, "the faces Fill Curve makes")
    faces = per_item[0]
    dev = pos.device
    sizes = torch.tensor([len(f) for f in faces], dtype=torch.long, device=dev)
    corner_verts = torch.tensor([v for f in faces for v in f], dtype=torch.long, device=dev)
    face_offsets = offsets_from_sizes(sizes)
    if take != list(range(int(pos.shape[1]))):
        pos = pos[:, torch.tensor(take, dtype=torch.long, device=dev)]
    verts = torch.cat([pos[..., :2], torch.zeros_like(pos[..., :1])], dim=-1)
    return MeshBatch(verts=verts, corner_verts=corner_verts, face_offsets=face_offsets)


def _check(n) -> str | None:
    for s in n.inputs:
        if s.identifier == "Mode" and s.default not in (None, *MODES):
            return f"Fill Curve mode {s.default!r} is not supported"
    return None


@node("GeometryNodeFillCurve", outputs=("Mesh",), pure=False, label="Fill Curve", grad="yes", check=_check,
      notes="both Modes (a menu: Triangles, N-gons); Blender's constrained Delaunay replayed (convex, concave, "
            "disjoint and nested curves; Group ID fields shared by the batch); refused: crossing sides, and "
            "near-degenerate decisions (nearly cocircular points such as a Curve Circle's)")
def fill_curve(curve=None, group_id=0, mode="Triangles"):
    """Fill Curve: the curves' evaluated points at ``(x, y, 0)`` (``(b, E, 3)``) with the faces Blender's
    constrained Delaunay triangulation makes (see the module); other components pass, curves are consumed."""
    if curve is None:
        return GeometrySet()
    if isinstance(mode, (rt.Field, torch.Tensor)) or mode not in MODES:
        raise TypeError(f"Fill Curve: mode {mode!r} is not supported (a single menu value of {MODES})")
    ngons = mode == "N-gons"

    def on_set(g: GeometrySet) -> GeometrySet:
        c = g.curves
        if c is None:
            return g
        if c.num_curves == 0:
            return GeometrySet(mesh=g.mesh, instances=g.instances, points=g.points)
        return GeometrySet(mesh=_fill(c, group_id, ngons), instances=g.instances, points=g.points)

    return modify_geometry_sets(curve, on_set)
