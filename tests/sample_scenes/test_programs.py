"""The project's furniture programs (sample_scenes/programs): validity, parity, freshness, dependencies.

* validity (torch, no bpy): for hundreds of random parameter sets per program
  (range corners included) the translated mesh stands on the floor (min z = 0),
  every part is connected to the floor through parts it touches, parts are
  convex primitives, no face has zero area, and the bounding box lies within
  the size the parameters imply and covers the size they promise;
* parity with Blender for seeded random parameter sets (discrete values that
  change topology included);
* the committed .json equals a fresh export of the committed .blend;
* the dependency analysis finds the intended "active when" conditions.

The library's gallery code and commands are tested in tests/backend/test_gallery.py and tests/backend/commands.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from tests.fixtures.library import PROGRAMS, PROGRAMS_DIR, load
from tests.fixtures.meshes import boxes
from tests.fixtures.parity import requires_bpy

TOUCH_TOL = 1e-4  # metres: parts closer than this touch; min z within this of the floor
MIN_FACE_AREA = 1e-6  # square metres
MAX_VERTICES = 1500  # "hundreds of vertices": the programs are fitted thousands of times


@pytest.fixture(autouse=True)
def _one_thread():
    """These tests run many tiny tensor ops; thread start-up dominates them on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------
# Mesh validity (pure torch; slow-but-obvious pieces are tested against each other below)


@dataclass
class Parts:
    """A mesh split into parts: connected components by shared vertices.

    ``verts[k]`` are the vertex indices of part ``k``, ``faces[k]`` its faces
    (lists of vertex indices) and ``edges[k]`` its unique edges ``(E, 2)``."""

    verts: list[torch.Tensor]
    faces: list[list[list[int]]]
    edges: list[torch.Tensor]

    def __len__(self) -> int:
        return len(self.verts)


def split_parts(polygons: list[list[int]], num_verts: int) -> Parts:
    """Connected components of a polygon mesh (vertices joined by faces), in first-vertex order."""
    parent = list(range(num_verts))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for poly in polygons:
        r = find(poly[0])
        for v in poly[1:]:
            rv = find(v)
            if rv != r:
                parent[rv] = r
    roots: dict[int, int] = {}
    verts: list[list[int]] = []
    for v in range(num_verts):
        r = find(v)
        if r not in roots:
            roots[r] = len(verts)
            verts.append([])
        verts[roots[r]].append(v)
    faces: list[list[list[int]]] = [[] for _ in verts]
    edges: list[set[tuple[int, int]]] = [set() for _ in verts]
    for poly in polygons:
        k = roots[find(poly[0])]
        faces[k].append(poly)
        for a, b in zip(poly, poly[1:] + poly[:1]):
            edges[k].add((min(a, b), max(a, b)))
    return Parts(
        verts=[torch.tensor(v, dtype=torch.long) for v in verts],
        faces=faces,
        edges=[torch.tensor(sorted(e), dtype=torch.long).reshape(-1, 2) for e in edges],
    )


def face_normals(verts: torch.Tensor, faces: list[list[int]]) -> torch.Tensor:
    """Newell normals (not normalised; length = 2 x area for planar faces): ``(b, F, 3)``."""
    out = []
    for f in faces:
        p = verts[:, f]  # (b, n, 3)
        q = torch.roll(p, -1, dims=1)
        out.append(torch.cross(p, q, dim=-1).sum(1))
    return torch.stack(out, 1)


def unique_directions(dirs: torch.Tensor, cos_tol: float = 1e-6) -> torch.Tensor:
    """Drop directions ``(b, N, 3)`` (unit) parallel or antiparallel to an earlier one in every
    batch element: ``(b, M, 3)``."""
    keep: list[int] = []
    for i in range(dirs.shape[1]):
        if not keep:
            keep.append(i)
            continue
        dots = (dirs[:, keep] * dirs[:, i : i + 1]).sum(-1).abs()  # (b, len(keep))
        if not bool((dots > 1 - cos_tol).all(0).any()):
            keep.append(i)
    return dirs[:, keep]


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def part_axes(verts: torch.Tensor, parts: Parts) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per part: unique face normals and unique edge directions, each ``(b, M, 3)`` unit."""
    normals, edges = [], []
    for faces, e in zip(parts.faces, parts.edges):
        normals.append(unique_directions(_unit(face_normals(verts, faces))))
        edges.append(unique_directions(_unit(verts[:, e[:, 1]] - verts[:, e[:, 0]])))
    return normals, edges


def convex_violation(verts: torch.Tensor, parts: Parts) -> torch.Tensor:
    """``(b, K)``: how far (metres) each part's vertices lie outside its own face planes
    (0 for a convex part with outward or inward faces alike; planes face away from the part's centre)."""
    out = []
    for idx, faces in zip(parts.verts, parts.faces):
        pv = verts[:, idx]  # (b, n, 3)
        centre = pv.mean(1, keepdim=True)  # (b, 1, 3)
        n = _unit(face_normals(verts, faces))  # (b, F, 3)
        on = torch.stack([verts[:, f].mean(1) for f in faces], 1)  # (b, F, 3) a point of each face
        d = (n * on).sum(-1)  # (b, F)
        sign = torch.where((n * centre).sum(-1) - d > 0, -1.0, 1.0).to(verts.dtype)
        dist = sign.unsqueeze(-1) * (torch.matmul(n, pv.transpose(1, 2)) - d.unsqueeze(-1))  # (b, F, n)
        out.append(dist.amax(dim=(1, 2)).clamp(min=0))
    return torch.stack(out, 1)


def convex_touch(a: torch.Tensor, b: torch.Tensor, axes: torch.Tensor, tol: float) -> torch.Tensor:
    """Separating-axis test: do convex point sets ``a (b, Na, 3)`` and ``b (b, Nb, 3)`` come within
    ``tol`` along every axis of ``axes (b, M, 3)``? ``(b,)`` bool."""
    pa = torch.matmul(axes, a.transpose(1, 2))  # (b, M, Na)
    pb = torch.matmul(axes, b.transpose(1, 2))
    gap = torch.maximum(pb.amin(-1) - pa.amax(-1), pa.amin(-1) - pb.amax(-1))  # (b, M)
    return (gap <= tol).all(-1)


def touch_matrix(verts: torch.Tensor, parts: Parts, tol: float = TOUCH_TOL) -> torch.Tensor:
    """``(b, K, K)`` bool: parts ``i`` and ``j`` touch (convex parts: exact separating-axis test
    over both parts' face normals and the cross products of their edge directions)."""
    b, K = verts.shape[0], len(parts)
    pv = [verts[:, idx] for idx in parts.verts]
    lo = torch.stack([p.amin(1) for p in pv], 1)
    hi = torch.stack([p.amax(1) for p in pv], 1)  # (b, K, 3)
    boxes = ((lo.unsqueeze(2) <= hi.unsqueeze(1) + tol) & (lo.unsqueeze(1) <= hi.unsqueeze(2) + tol)).all(-1)
    normals, edges = part_axes(verts, parts)
    touch = torch.zeros((b, K, K), dtype=torch.bool)
    for i in range(K):
        touch[:, i, i] = True
        for j in range(i + 1, K):
            if not bool(boxes[:, i, j].any()):
                continue
            cross = torch.cross(edges[i].unsqueeze(2), edges[j].unsqueeze(1), dim=-1).reshape(b, -1, 3)
            keep = cross.norm(dim=-1).amin(0) > 1e-6  # parallel edge pairs give no axis
            axes = torch.cat([normals[i], normals[j], _unit(cross[:, keep])], 1)
            t = boxes[:, i, j] & convex_touch(pv[i], pv[j], axes, tol)
            touch[:, i, j] = t
            touch[:, j, i] = t
    return touch


def grounded(verts: torch.Tensor, parts: Parts, touch: torch.Tensor, tol: float = TOUCH_TOL) -> torch.Tensor:
    """``(b, K)`` bool: part stands on the floor (z = 0) directly or through parts it touches."""
    reach = torch.stack([verts[:, idx, 2].amin(1) <= tol for idx in parts.verts], 1)
    for _ in range(len(parts)):
        nxt = (touch & reach.unsqueeze(1)).any(-1) | reach
        if bool((nxt == reach).all()):
            break
        reach = nxt
    return reach


def face_areas(verts: torch.Tensor, polygons: list[list[int]]) -> torch.Tensor:
    """``(b, F)`` polygon areas (half the Newell normal's length)."""
    return face_normals(verts, polygons).norm(dim=-1) * 0.5


@dataclass
class Validity:
    """Per batch element: what is wrong (empty list = valid)."""

    problems: list[list[str]]

    @property
    def ok(self) -> bool:
        return not any(self.problems)


def check_mesh(verts: torch.Tensor, polygons: list[list[int]], box_max: torch.Tensor, box_min: torch.Tensor,
               parts: Parts | None = None) -> Validity:
    """Validity of a batch of meshes sharing ``polygons``. ``box_max (b, 6)`` is the allowed
    extent ``(-x_lo, x_hi, -y_lo, y_hi, 0, z_hi)`` as positive numbers ``[x_lo, x_hi, y_lo, y_hi, z_lo, z_hi]``
    (the bounding box must lie inside ``[-x_lo, x_hi] x [-y_lo, y_hi] x [0, z_hi]``); ``box_min``
    the extent the box must cover."""
    verts = verts.double()
    b = verts.shape[0]
    parts = parts or split_parts(polygons, verts.shape[1])
    problems: list[list[str]] = [[] for _ in range(b)]
    lo, hi = verts.amin(1), verts.amax(1)  # (b, 3)
    have = torch.stack([-lo[:, 0], hi[:, 0], -lo[:, 1], hi[:, 1], -lo[:, 2], hi[:, 2]], 1)
    names = ("-x", "+x", "-y", "+y", "-z", "+z")
    tol = TOUCH_TOL
    areas = face_areas(verts, polygons)
    convex = convex_violation(verts, parts)
    touch = touch_matrix(verts, parts)
    ground = grounded(verts, parts, touch)
    for s in range(b):
        p = problems[s]
        if abs(float(lo[s, 2])) > tol:
            p.append(f"min z = {float(lo[s, 2]):.5f}, not on the floor")
        for c in range(6):
            if float(have[s, c]) > float(box_max[s, c]) + tol:
                p.append(f"extends to {names[c]} {float(have[s, c]):.4f} > allowed {float(box_max[s, c]):.4f}")
            if float(have[s, c]) < float(box_min[s, c]) - tol:
                p.append(f"extends to {names[c]} {float(have[s, c]):.4f} < promised {float(box_min[s, c]):.4f}")
        small = (areas[s] <= MIN_FACE_AREA).nonzero().reshape(-1).tolist()
        if small:
            p.append(f"{len(small)} faces with area <= {MIN_FACE_AREA} (first: face {small[0]}, {float(areas[s, small[0]]):.3g})")
        bad = (convex[s] > tol).nonzero().reshape(-1).tolist()
        if bad:
            p.append(f"parts {bad[:5]} are not convex primitives (off by {float(convex[s].max()):.3g})")
        floating = (~ground[s]).nonzero().reshape(-1).tolist()
        if floating:
            p.append(f"parts {floating[:5]} float: not connected to the floor (part vertices "
                     f"{[parts.verts[k][:3].tolist() for k in floating[:3]]})")
    return Validity(problems)


# ---------------------------------------------------------------------------
# What each program promises: its bounding box from its parameters, and when parameters matter


def _half(w: float, d: float, h: float) -> list[float]:
    return [w / 2, w / 2, d / 2, d / 2, 0.0, h]


def _chair_box(v: dict) -> tuple[list[float], list[float]]:
    h = v["Seat Height"]
    top = h
    if v["Back Style"] != "None":
        top = max(top, h + v["Back Height"])
    if v["Has Armrests"]:
        top = max(top, h + v["Armrest Height"])
    seat = _half(v["Seat Width"], v["Seat Depth"], top)
    allowed = list(seat)
    if v["Leg Style"] == "Star Base":  # arms of the star reach Base Radius (their corners a little more)
        reach = math.hypot(v["Base Radius"], 0.025)
        allowed = [max(a, reach) for a in seat[:4]] + seat[4:]
    return allowed, seat


def _table_box(v: dict) -> tuple[list[float], list[float]]:
    depth = v["Width"] if v["Top Shape"] == "Round" else v["Depth"]
    b = _half(v["Width"], depth, v["Height"])
    return b, b


def _sofa_box(v: dict) -> tuple[list[float], list[float]]:
    b = _half(v["Width"], v["Depth"] + (v["Chaise Length"] if v["Chaise"] != "None" else 0.0), v["Height"])
    return b, b


def _whd_box(v: dict) -> tuple[list[float], list[float]]:
    b = _half(v["Width"], v["Depth"], v["Height"])
    return b, b


def _bed_box(v: dict) -> tuple[list[float], list[float]]:
    mattress_top = v["Frame Height"] + v["Mattress Thickness"]
    top = mattress_top
    if v["Pillow Count"] > 0:
        top = max(top, mattress_top + 0.12)
    if v["Has Blanket"]:
        top = max(top, mattress_top + 0.03)
    if v["Headboard Style"] != "None":
        top = max(top, v["Headboard Height"])
    if v["Has Footboard"]:
        top = max(top, v["Footboard Height"], mattress_top + 0.05)  # a footboard rises above the mattress
    b = _half(v["Width"], v["Length"], top)
    return b, b


# (allowed extent, promised extent) as [-x, +x, -y, +y, -z, +z] distances from the origin
BOXES: dict[str, Callable[[dict], tuple[list[float], list[float]]]] = {
    "chair": _chair_box, "table": _table_box, "sofa": _sofa_box, "cabinet": _whd_box, "bed": _bed_box,
    "bookshelf": _whd_box, "corner_cabinet": _whd_box,
}

# parameter -> when it changes the shape (a predicate on the discrete values); unlisted: always
ACTIVE_WHEN: dict[str, dict[str, Callable[[dict], bool]]] = {
    "chair": {
        "Round Legs": lambda d: d["Leg Style"] == "Four Legs",
        "Has Stretchers": lambda d: d["Leg Style"] == "Four Legs",
        "Stretcher Height": lambda d: d["Leg Style"] == "Four Legs" and d["Has Stretchers"],
        "Leg Thickness": lambda d: d["Leg Style"] in ("Four Legs", "Sled"),
        "Base Radius": lambda d: d["Leg Style"] == "Star Base",
        "Slat Count": lambda d: d["Back Style"] == "Slatted",
        "Back Height": lambda d: d["Back Style"] != "None",
        "Back Thickness": lambda d: d["Back Style"] != "None",
        "Armrest Height": lambda d: d["Has Armrests"],
        "Armrest Width": lambda d: d["Has Armrests"],
    },
    "table": {
        "Depth": lambda d: d["Top Shape"] != "Round",
        "Has Lower Shelf": lambda d: d["Leg Style"] != "Pedestal",
        "Shelf Height": lambda d: d["Leg Style"] != "Pedestal" and d["Has Lower Shelf"],
        "Has Apron": lambda d: d["Leg Style"] == "Four Legs",
        "Round Legs": lambda d: d["Leg Style"] == "Four Legs",
        "Leg Thickness": lambda d: d["Leg Style"] != "Pedestal",
        "Leg Inset": lambda d: d["Leg Style"] != "Pedestal",
        "Base Radius": lambda d: d["Leg Style"] == "Pedestal",
    },
    "sofa": {
        "Arm Width": lambda d: d["Arm Style"] != "None",
        "Arm Height": lambda d: d["Arm Style"] != "None",
        "Leg Height": lambda d: d["Has Legs"],
        "Chaise Length": lambda d: d["Chaise"] != "None",
        "Chaise Width": lambda d: d["Chaise"] != "None",
        "Chaise Back": lambda d: d["Chaise"] != "None" and d["Arm Style"] != "None",
    },
    "cabinet": {
        "Has Handles": lambda d: d["Front Style"] != "Open Shelves",
        "Double Doors": lambda d: d["Front Style"] in ("Doors", "Drawers Over Doors"),
        "Drawer Count": lambda d: d["Front Style"] == "Drawers",
        "Drawer Row Height": lambda d: d["Front Style"] == "Drawers Over Doors",
        "Shelf Count": lambda d: d["Front Style"] == "Open Shelves",
        "Base Height": lambda d: d["Base Style"] != "None",
    },
    "corner_cabinet": {
        "Has Handles": lambda d: d["Front Style"] == "Doors",
        "Double Doors": lambda d: d["Front Style"] == "Doors",
        "Shelf Count": lambda d: d["Front Style"] == "Open Shelves",
        "Base Height": lambda d: d["Base Style"] != "None",
    },
    "bed": {
        "Leg Height": lambda d: d["Base Style"] == "Legs",
        "Headboard Height": lambda d: d["Headboard Style"] != "None",
        "Footboard Height": lambda d: d["Has Footboard"],
        "Board Thickness": lambda d: d["Headboard Style"] != "None" or d["Has Footboard"],
    },
    "bookshelf": {
        "Has Plinth": lambda d: d["Side Style"] == "Panels",
        "Plinth Height": lambda d: d["Side Style"] == "Panels" and d["Has Plinth"],
        "Post Width": lambda d: d["Side Style"] == "Posts",
    },
}


def discrete_combos(space, n: int, rng: random.Random) -> list[dict]:
    """``n`` discrete assignments; the first ones walk through every choice of every parameter."""
    params = space.discrete
    widest = max(len(p.choices) for p in params)
    combos = []
    for i in range(n):
        if i < widest:
            combos.append({p.name: p.choices[(i + j) % len(p.choices)] for j, p in enumerate(params)})
        else:
            combos.append({p.name: rng.choice(p.choices) for p in params})
    return combos


# ---------------------------------------------------------------------------
# Tests: the library


def test_library_is_complete():
    from backend.library import program_names

    assert set(PROGRAMS) <= set(program_names())
    for name in PROGRAMS:
        for suffix in (".blend", ".json"):
            assert (PROGRAMS_DIR / f"{name}{suffix}").is_file(), f"{name}{suffix} is not committed"
        assert (PROGRAMS_DIR / "gallery" / f"{name}.png").is_file(), f"gallery/{name}.png is not committed"
        assert f"gallery/{name}.png" in (PROGRAMS_DIR / "README.md").read_text()


@pytest.mark.parametrize("name", PROGRAMS)
def test_parameters_are_semantic(name):
    """At least three discrete parameters (styles, has-X, counts), readable names, and every
    continuous parameter has a finite metric range with its default inside."""
    _, space, _ = load(name)
    assert len(space.discrete) >= 3
    assert any(p.type == "MENU" for p in space.discrete) and any(p.type == "BOOLEAN" for p in space.discrete)
    for p in space.parameters:
        assert p.name[0].isupper() and "_" not in p.name and not p.name.startswith(("Input", "Socket")), p.name
        if p.kind == "continuous":
            assert p.low is not None and 0.0 <= p.low < p.high <= 3.0, (p.name, p.low, p.high)
            assert p.low <= p.default <= p.high, (p.name, p.default)
        else:
            assert p.choices and p.default in p.choices, (p.name, p.choices, p.default)


@pytest.mark.parametrize("name", PROGRAMS)
def test_dependencies(name):
    """The dependency analysis finds exactly the intended active-when conditions (all discrete
    assignments enumerated)."""
    _, space, _ = load(name)
    expected = ACTIVE_WHEN[name]
    names = [p.name for p in space.discrete]
    assert set(expected) <= {p.name for p in space.parameters}
    for combo in itertools.product(*(p.choices for p in space.discrete)):
        d = dict(zip(names, combo))
        for p in space.parameters:
            want = expected.get(p.name, lambda _: True)(d)
            assert p.active_when.holds(d) == bool(want), f"{p.name} under {d}: active {p.active_when} (want {bool(want)})"


@pytest.mark.parametrize("name", PROGRAMS)
def test_parameters_move_the_shape_exactly_when_active(name):
    """Geometric check of the dependency analysis: with every other dimension at its maximum
    (so that no clamp hides a change), moving a continuous parameter from its maximum to its
    minimum changes the mesh if and only if the parameter is active; gradients reach exactly the
    active parameters and are finite."""
    from backend.gallery import corner_values

    _, space, module = load(name)
    cont = space.continuous
    for combo in discrete_combos(space, 16, random.Random(5)):
        base = corner_values(space, combo, True)
        batch = {p.name: torch.tensor([base[p.name]] * (len(cont) + 1), dtype=torch.float64) for p in cont}
        for i, p in enumerate(cont):
            batch[p.name][i + 1] = p.low
        for t in batch.values():
            t.requires_grad_(True)
        mesh = module.program(combo, batch)
        for i, p in enumerate(cont):
            moved = bool((mesh.verts[i + 1] - mesh.verts[0]).abs().max() > 1e-9)
            assert moved == p.active_when.holds(combo), f"{p.name} under {combo}: moved {moved}, active {p.active_when}"
        mesh.verts.sum().backward()
        for p in cont:
            grad = batch[p.name].grad
            if p.active_when.holds(combo):
                assert grad is not None and bool(torch.isfinite(grad).all()), (p.name, combo)
            else:
                assert grad is None or not bool(grad.any()), (p.name, combo)


@pytest.mark.parametrize("name", PROGRAMS)
def test_validity(name):
    """200 parameter sets (40 discrete assignments x [all minima, all maxima, 3 random]): the mesh
    stands on the floor, every part reaches the floor through parts it touches, parts are convex
    primitives, no face has zero area, the bounding box is the promised one, and continuous values
    never change the topology (one topology per discrete assignment)."""
    from backend.gallery import corner_values, sample_values

    _, space, module = load(name)
    rng = random.Random(1234)
    checked = 0
    for combo in discrete_combos(space, 40, rng):
        sets = [corner_values(space, combo, False), corner_values(space, combo, True)]
        sets += sample_values(space, 3, rng, discrete=combo)
        continuous = {p.name: torch.tensor([s[p.name] for s in sets], dtype=torch.float64) for p in space.continuous}
        mesh = module.program(combo, continuous)  # raises if continuous values changed the topology
        assert mesh.num_verts <= MAX_VERTICES, f"{name} {combo}: {mesh.num_verts} vertices"
        boxes = [BOXES[name](s) for s in sets]
        res = check_mesh(mesh.verts, mesh.polygons(), torch.tensor([b[0] for b in boxes], dtype=torch.float64),
                         torch.tensor([b[1] for b in boxes], dtype=torch.float64))
        for s, problems in zip(sets, res.problems):
            assert not problems, f"{name} {s}: {problems}"
        checked += len(sets)
    assert checked == 200


def test_bed_head_and_foot_cannot_be_confused():
    """A footboard always rises at least 5 cm above the mattress top (its top is max(Footboard
    Height, mattress top + 0.05)), and every headboard is taller than any footboard: a bed with a
    footboard and no headboard never looks like the same bed turned round with a headboard and a
    footboard hidden in the mattress."""
    from backend.gallery import corner_values, sample_values

    _, space, module = load("bed")
    assert space["Headboard Height"].low > space["Footboard Height"].high
    rng = random.Random(11)
    checked = 0
    for combo in itertools.product(*(p.choices for p in space.discrete)):
        d = dict(zip((p.name for p in space.discrete), combo))
        if not d["Has Footboard"]:
            continue
        sets = [corner_values(space, d, False), corner_values(space, d, True)]
        sets += sample_values(space, 4, rng, discrete=d)
        sets.append({**sets[-1], "Footboard Height": space["Footboard Height"].low,
                     "Frame Height": space["Frame Height"].high, "Mattress Thickness": space["Mattress Thickness"].high})
        cont = {p.name: torch.tensor([s[p.name] for s in sets], dtype=torch.float64) for p in space.continuous}
        verts = module.program(d, cont).verts
        for i, s in enumerate(sets):
            mattress_top = s["Frame Height"] + s["Mattress Thickness"]
            # the footboard is the only part at the foot end's outer half board (the frame starts at -L/2 + bt)
            foot = verts[i][verts[i][:, 1] < -s["Length"] / 2 + s["Board Thickness"] / 2]
            assert len(foot) > 0, s
            foot_top = float(foot[:, 2].max())
            assert foot_top >= mattress_top + 0.05 - 1e-9, (s, foot_top, mattress_top)
            assert foot_top == pytest.approx(max(s["Footboard Height"], mattress_top + 0.05), abs=1e-9)
            assert foot_top < space["Headboard Height"].low, s
            checked += 1
    assert checked == 36 * 7
    # the default Footboard Height shapes the board for every mattress (a fit starting from the defaults
    # gets a gradient for it: below the mattress top + 0.05 the height changes nothing)
    highest_top = space["Frame Height"].high + space["Mattress Thickness"].high + 0.05
    assert highest_top < space["Footboard Height"].default < space["Footboard Height"].high


# ---------------------------------------------------------------------------
# Tests: Blender


def _open(name: str):
    import bpy

    from tests.fixtures.parity import reset_blender

    reset_blender()
    bpy.ops.wm.open_mainfile(filepath=str(PROGRAMS_DIR / f"{name}.blend"), load_ui=False)
    return next(o for o in bpy.data.objects if o.modifiers)


@requires_bpy
@pytest.mark.parametrize("name", PROGRAMS)
def test_parity_with_blender(name):
    """The committed program equals Blender's evaluation of the committed .blend for 50 random
    parameter sets (discrete values random too, so topologies vary) and the range corners."""
    from backend.gallery import corner_values, sample_values
    from tests.fixtures.parity import check_parity

    _, space, module = load(name)
    rng = random.Random(7)
    sets = sample_values(space, 50, rng)
    combos = discrete_combos(space, 4, rng)
    sets += [corner_values(space, c, high) for c in combos for high in (False, True)]
    topologies = {tuple(sorted((k, v) for k, v in s.items() if space[k].kind == "discrete")) for s in sets}
    assert len(topologies) > 20
    # the topologies met three times or more are traced and their replays compared with Blender; the others run
    # untraced (a trace never replayed would only cost time: 59 of the 69 traces)
    assert check_parity(_open(name), sets, module, only_replayed_traces=True) == len(sets)


@requires_bpy
@pytest.mark.parametrize("name", PROGRAMS)
def test_committed_json_is_fresh(name, tmp_path):
    """The committed .json equals a fresh export of the committed .blend, and the build script
    (through ``shapeprog programs build``) writes the same program again."""
    from backend.cli import main
    from tests.fixtures.parity import reset_blender
    from translator.blender_export import export_blend
    from translator.ir import save_program

    reset_blender()
    committed = json.loads((PROGRAMS_DIR / f"{name}.json").read_text())
    save_program(export_blend(PROGRAMS_DIR / f"{name}.blend"), tmp_path / "export.json")
    assert json.loads((tmp_path / "export.json").read_text()) == committed
    assert main(["programs", "build", name, "--out-dir", str(tmp_path)]) == 0
    assert json.loads((tmp_path / f"{name}.json").read_text()) == committed
    assert (tmp_path / f"{name}.blend").is_file()


# ---------------------------------------------------------------------------
# Tests: the validity checker itself (it must be able to fail)


def _check(verts, polys, allowed=(9.0,) * 6, promised=(0.0,) * 6) -> list[str]:
    return check_mesh(verts, polys, torch.tensor([allowed], dtype=torch.float64),
                      torch.tensor([promised], dtype=torch.float64)).problems[0]


def _rotated(verts: torch.Tensor, degrees: float, about: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    x, y = verts[..., 0] - about[0], verts[..., 1] - about[1]
    return torch.stack([c * x - s * y + about[0], s * x + c * y + about[1], verts[..., 2]], -1)


TABLE_TOP = (-0.5, 0.5, -0.3, 0.3, 0.7, 0.75)
TABLE_LEGS = [(sx * 0.45 - 0.02, sx * 0.45 + 0.02, sy * 0.25 - 0.02, sy * 0.25 + 0.02, 0.0, 0.7)
              for sx in (-1, 1) for sy in (-1, 1)]


def test_checker_accepts_a_table_and_its_box():
    v, p = boxes(TABLE_TOP, *TABLE_LEGS)
    assert _check(v, p, [0.5, 0.5, 0.3, 0.3, 0, 0.75], [0.5, 0.5, 0.3, 0.3, 0, 0.75]) == []
    assert len(split_parts(p, v.shape[1])) == 5


def test_checker_finds_a_floating_part():
    # a shelf hanging 2 mm below the top, touching nothing: floats; 50 micrometres away: touches
    for gap, floats in ((0.002, True), (0.00005, False)):
        shelf = (-0.3, 0.3, -0.1, 0.1, 0.4, 0.7 - gap)
        problems = _check(*boxes(TABLE_TOP, *TABLE_LEGS, shelf))
        assert any("float" in m for m in problems) == floats, problems


def test_checker_finds_lifted_mesh_flat_faces_and_box_errors():
    v, p = boxes(TABLE_TOP, *TABLE_LEGS)
    problems = _check(v + torch.tensor([0.0, 0.0, 0.01], dtype=torch.float64), p)
    assert any("not on the floor" in m for m in problems) and any("float" in m for m in problems)
    flat = _check(*boxes((0, 1, 0, 1, 0, 0)))  # a box of zero height
    assert any("faces with area" in m for m in flat)
    assert any("> allowed" in m for m in _check(v, p, [0.5, 0.45, 0.3, 0.3, 0, 0.75]))
    assert any("< promised" in m for m in _check(v, p, promised=[0.5, 0.5, 0.3, 0.3, 0, 0.8]))


def test_checker_finds_a_non_convex_part():
    # an L-shaped prism: six side quads between two L-shaped caps
    outline = [(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)]
    verts = [(x, y, 0.0) for x, y in outline] + [(x, y, 1.0) for x, y in outline]
    polys = [[5, 4, 3, 2, 1, 0], [6, 7, 8, 9, 10, 11]] + [[i, (i + 1) % 6, (i + 1) % 6 + 6, i + 6] for i in range(6)]
    problems = _check(torch.tensor([verts], dtype=torch.float64), polys)
    assert any("not convex" in m for m in problems), problems


def test_touch_is_exact_for_rotated_parts():
    """A unit cube and a cube turned 45 degrees about z touch exactly when their centres are
    0.5 + 0.5 * sqrt(2) apart or closer (a corner meets a face)."""
    limit = 0.5 + 0.5 * math.sqrt(2.0)
    for dist in (limit - 1e-3, limit + 0.5 * TOUCH_TOL, limit + 3 * TOUCH_TOL, limit + 1e-2):
        a, pa = boxes((-0.5, 0.5, -0.5, 0.5, 0.0, 1.0))
        b, pb = boxes((dist - 0.5, dist + 0.5, -0.5, 0.5, 0.0, 1.0))
        b = _rotated(b, 45.0, about=(dist, 0.0))
        v = torch.cat([a, b], 1)
        polys = pa + [[i + 8 for i in f] for f in pb]
        touch = touch_matrix(v, split_parts(polys, 16))
        assert bool(touch[0, 0, 1]) == (dist <= limit + TOUCH_TOL), dist


def test_touch_needs_edge_axes():
    """Two boards crossing like a plus sign touch although neither has a vertex inside the other;
    two parallel diagonal boards whose bounding boxes overlap do not touch."""
    v, p = boxes((-1, 1, -0.05, 0.05, 0, 0.1), (-0.05, 0.05, -1, 1, 0, 0.1))
    assert bool(touch_matrix(v, split_parts(p, 16))[0, 0, 1])
    a, pa = boxes((-1, 1, -0.05, 0.05, 0, 0.1))
    b, _ = boxes((-1, 1, 0.25, 0.35, 0, 0.1))
    v = torch.cat([_rotated(a, 45.0), _rotated(b, 45.0)], 1)
    polys = pa + [[i + 8 for i in f] for f in pa]
    parts = split_parts(polys, 16)
    lo_a, hi_a, lo_b, hi_b = v[0, :8].amin(0), v[0, :8].amax(0), v[0, 8:].amin(0), v[0, 8:].amax(0)
    assert bool(((lo_a <= hi_b) & (lo_b <= hi_a)).all())  # their bounding boxes overlap
    assert not bool(touch_matrix(v, parts)[0, 0, 1])


def test_unique_directions_matches_pairwise_definition():
    g = torch.Generator().manual_seed(0)
    base = _unit(torch.randn(1, 5, 3, generator=g, dtype=torch.float64))
    dirs = torch.cat([base, -base[:, :2], base[:, 3:4]], 1)  # 2 antiparallel and 1 parallel repeat
    out = unique_directions(dirs)
    assert out.shape[1] == 5 and torch.equal(out, base)


def test_split_parts_groups_by_shared_vertices():
    _, p = boxes((0, 1, 0, 1, 0, 1), (2, 3, 0, 1, 0, 1))
    parts = split_parts(p, 16)
    assert [x.tolist() for x in parts.verts] == [list(range(8)), list(range(8, 16))]
    assert [len(f) for f in parts.faces] == [6, 6] and [e.shape[0] for e in parts.edges] == [12, 12]
