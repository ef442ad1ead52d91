"""Corner cabinet: diagonal corner units (kitchen base and wall corner units, corner cupboards, corner shelving).

A five-sided footprint: the two wall legs run along the back (Width, x, the
wall at +Y) and the right (Depth, y, the wall at +X); the front corner is cut
by a 45-degree diagonal front of width Front Width, facing -X-Y, between two
short returns facing -Y and -X. A panel carcass (back, right side, the two
returns, a bottom) stands under a top that covers the whole footprint and may
overhang the returns and the diagonal, on a recessed plinth, five legs or
the floor. The diagonal holds one or two doors (optional bar handles) or is
open with shelves inside. The bounding box is Width x Depth x Height (the top
spans it). Origin at the floor centre of the bounding box, +Z up.

Every five-sided slab is a convex union of three boxes: two axis-aligned
ones and one turned 45 degrees whose front face is the diagonal; the cut is
at most half the shorter leg, so the turned box never reaches past the slab.
"""

from __future__ import annotations

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from progkit import Kit, main

NAME = "corner_cabinet"

SQRT2 = math.sqrt(2.0)
TURN = (0.0, 0.0, -math.pi / 4)  # local +x runs along the diagonal front (1, -1)/sqrt2, local +y inwards (1, 1)/sqrt2
FRONT_THICKNESS = 0.02
FRONT_GAP = 0.003  # between the two doors
HANDLE_DEPTH = 0.025  # how far a handle stands out of its door
HANDLE_HALF_LENGTH = 0.05
HANDLE_HALF_SECTION = 0.01
LEG_RADIUS = 0.02
LEG_INSET = 0.04  # leg centre from the carcass edges
PLINTH_RECESS = 0.04  # the plinth is set back from the returns and the diagonal
MAX_CUT = 0.5  # the diagonal's cut along each leg is at most this fraction of the shorter leg


def build():
    k = Kit("Corner Cabinet")
    front = k.menu("Front Style", ["Doors", "Open Shelves"], "Doors",
                   "doors across the diagonal front, or open with shelves inside")
    base_style = k.menu("Base Style", ["Plinth", "Legs", "None"], "Plinth",
                        "a recessed plinth, five legs, or the carcass directly on the floor")
    has_handles = k.bool("Has Handles", True, "doors: a vertical bar handle on every door")
    double = k.bool("Double Doors", False, "doors: two doors side by side across the diagonal")
    n_shelves = k.int("Shelf Count", 2, 0, 4, "open shelves: number of shelves inside")
    w = k.float("Width", 0.8, 0.4, 1.2, "the leg along the back wall (x)")
    d = k.float("Depth", 0.8, 0.4, 1.2, "the leg along the right wall (y)")
    h = k.float("Height", 0.85, 0.4, 2.2, "overall height")
    fw = k.float("Front Width", 0.45, 0.2, 0.8, "width of the 45-degree diagonal front of the top "
                 "(at most half the shorter leg x sqrt 2)")
    pt = k.float("Panel Thickness", 0.018, 0.012, 0.03, "thickness of the carcass panels and shelves")
    tt = k.float("Top Thickness", 0.025, 0.015, 0.05, "thickness of the top")
    bh = k.float("Base Height", 0.08, 0.04, 0.15, "plinth or legs: height of the base")
    ov = k.float("Top Overhang", 0.01, 0.0, 0.04, "how far the top reaches past the returns and the diagonal")

    def pentagon(x0, x1, y0, y1, c, z0, z1, label):
        """The slab x0..x1 x y0..y1 x z0..z1 with its (x0, y0) corner cut by a 45-degree line
        ``c`` from the corner along each edge (needs 1.5 c <= x1 - x0 and y1 - y0)."""
        t = c * (0.5 * SQRT2)  # the turned box's half width along the diagonal = its depth
        turned = k.transform(k.box(-t, t, 0.0, t, z0, z1, label=f"{label} Diagonal Box"), rotate=TURN,
                             translate=k.xyz(x0 + c * 0.5, y0 + c * 0.5, 0.0), label=f"{label} Diagonal")
        return k.join(k.box(x0 + c, x1, y0, y1, z0, z1, label=f"{label} Main"),
                      k.box(x0, x0 + c, y0 + c, y1, z0, z1, label=f"{label} Side"), turned, label=label)

    lift = k.menu_switch(base_style, {"Plinth": bh, "Legs": bh}, type="FLOAT", label="Lift")
    c = k.min(fw * (0.5 * SQRT2), k.min(w, d) * MAX_CUT)  # the top's cut along each leg
    top_z = h - tt
    x0, y0 = w * -0.5 + ov, d * -0.5 + ov  # carcass: returns set back by the overhang
    x1, y1 = w * 0.5, d * 0.5
    cc = c - ov * (2.0 - SQRT2)  # carcass cut: its diagonal is the top's, set back by the overhang

    top = pentagon(w * -0.5, x1, d * -0.5, y1, c, top_z, h, "Top")
    carcass = k.join(
        k.box(x0, x1, y1 - pt, y1, lift, top_z, label="Back Panel"),
        k.box(x1 - pt, x1, y0, y1 - pt, lift, top_z, label="Right Side"),
        k.box(x0 + cc, x1 - pt, y0, y0 + pt, lift, top_z, label="Front Return"),
        k.box(x0, x0 + pt, y0 + cc, y1 - pt, lift, top_z, label="Left Return"),
        pentagon(x0, x1, y0, y1, cc, lift, lift + pt, "Bottom"), label="Carcass")

    # -- base -------------------------------------------------------------------------
    r = PLINTH_RECESS
    plinth = pentagon(x0 + r, x1 - pt, y0 + r, y1 - pt, cc - r * (2.0 - SQRT2), 0.0, bh, "Plinth")
    i = LEG_INSET
    leg = k.cylinder(LEG_RADIUS, 0.0, bh, vertices=8, label="Leg")
    legs = k.join(*(k.transform(leg, translate=k.xyz(x, y, 0.0), label=name) for name, x, y in (
        ("Back Right Leg", x1 - i, y1 - i), ("Front Right Leg", x1 - i, y0 + i), ("Back Left Leg", x0 + i, y1 - i),
        ("Diagonal Right Leg", x0 + cc + i, y0 + i), ("Diagonal Left Leg", x0 + i, y0 + cc + i))), label="Legs")
    base = k.menu_switch(base_style, {"Plinth": plinth, "Legs": legs}, label="Base")

    # -- the diagonal front, built along local x (the diagonal) with local -y facing out ----------
    half = cc * (0.5 * SQRT2)  # half the carcass diagonal's width

    def door(a, b, handle_x, label):
        """A door from local x a..b with a vertical handle centred on handle_x."""
        hx, hz = HANDLE_HALF_SECTION, HANDLE_HALF_LENGTH
        zc = (lift + top_z) * 0.5
        handle = k.switch(has_handles, k.box(handle_x - hx, handle_x + hx, -HANDLE_DEPTH, 0.0, zc - hz, zc + hz,
                                             label=f"{label} Handle"), label=f"{label} Handle?")
        return k.join(k.box(a, b, 0.0, FRONT_THICKNESS, lift, top_z, label=label), handle, label=f"{label} With Handle")

    g = FRONT_GAP * 0.5
    single = door(-half, half, half * 0.4, "Door")
    pair = k.join(door(-half, -g, half * -0.3, "Left Door"), door(g, half, half * 0.3, "Right Door"), label="Door Pair")
    doors = k.switch(double, pair, single, label="Doors")
    doors = k.transform(doors, rotate=TURN, translate=k.xyz(x0 + cc * 0.5, y0 + cc * 0.5, 0.0), label="Diagonal Doors")

    shelf_step = (top_z - lift) / (n_shelves + 1.0)  # shelf centres evenly between the bottom's and the top's
    shelf = pentagon(x0 + pt, x1 - pt, y0 + pt, y1 - pt, cc - pt * 2.0, pt * -0.5, pt * 0.5, "Shelf")
    shelves = k.spread(shelf, k.xyz(0.0, 0.0, lift + pt * 0.5 + shelf_step), k.xyz(0.0, 0.0, shelf_step), n_shelves,
                       label="Shelves")

    fronts = k.menu_switch(front, {"Doors": doors, "Open Shelves": shelves}, label="Fronts")
    return k.output(k.join(top, carcass, base, fronts, label="Corner Cabinet"))


if __name__ == "__main__":
    main(build, NAME)
