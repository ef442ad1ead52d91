"""Cabinet: chests of drawers, nightstands, sideboards, kitchen base units, wardrobes, open shelving units.

A carcass of panels (two sides, bottom, back) under a top that may overhang
it, standing on a recessed plinth, on four legs or directly on the floor.
The front is a stack of drawers, one or two doors, a row of drawers over
the doors, or open with shelves inside. Drawer fronts and doors may carry
handles. The bounding box is Width x Depth x Height (the top spans it).
Origin at the floor centre, +Z up, the front faces -Y.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from progkit import Kit, main

NAME = "cabinet"

FRONT_THICKNESS = 0.02
FRONT_GAP = 0.003  # between neighbouring drawer fronts / doors
HANDLE_DEPTH = 0.025  # how far a handle stands out of its front
HANDLE_HALF_LENGTH = 0.05
HANDLE_HALF_SECTION = 0.01
LEG_RADIUS = 0.02
LEG_INSET = 0.04  # leg centre from the carcass edges
PLINTH_RECESS = 0.04  # the plinth is set back from the front


def build():
    k = Kit("Cabinet")
    front = k.menu("Front Style", ["Drawers", "Doors", "Drawers Over Doors", "Open Shelves"], "Drawers",
                   "a stack of drawers, doors, a row of drawers over doors, or open with shelves")
    base_style = k.menu("Base Style", ["Plinth", "Legs", "None"], "Plinth",
                        "a recessed plinth, four legs, or the carcass directly on the floor")
    has_handles = k.bool("Has Handles", True, "closed fronts: a bar handle on every drawer and door")
    double = k.bool("Double Doors", False, "doors: two doors side by side (and two drawers above them)")
    n_drawers = k.int("Drawer Count", 3, 1, 6, "drawers: number of drawers in the stack")
    n_shelves = k.int("Shelf Count", 2, 0, 5, "open shelves: number of shelves inside")
    w = k.float("Width", 0.8, 0.3, 2.0, "overall width (x)")
    d = k.float("Depth", 0.45, 0.3, 0.7, "overall depth (y), handles included")
    h = k.float("Height", 0.8, 0.4, 2.2, "overall height")
    pt = k.float("Panel Thickness", 0.018, 0.012, 0.03, "thickness of the carcass panels, top and shelves")
    bh = k.float("Base Height", 0.08, 0.04, 0.15, "plinth or legs: height of the base")
    ov = k.float("Top Overhang", 0.01, 0.0, 0.04, "how far the top reaches past the carcass at the sides and front")
    rh = k.float("Drawer Row Height", 0.16, 0.10, 0.25, "drawers over doors: height of the drawer row "
                 "(at most 0.4 x the front's height)")

    lift = k.menu_switch(base_style, {"Plinth": bh, "Legs": bh}, type="FLOAT", label="Lift")
    hd = k.switch(has_handles, HANDLE_DEPTH, 0.0, type="FLOAT", label="Handle Depth")
    closed_depth = FRONT_THICKNESS + hd
    front_depth = k.menu_switch(front, {"Drawers": closed_depth, "Doors": closed_depth, "Drawers Over Doors": closed_depth},
                                type="FLOAT", label="Front Depth")
    xo = w * 0.5 - ov  # carcass half width
    yc = ov - d * 0.5 + front_depth  # carcass front
    yb = d * 0.5
    top_z = h - pt  # underside of the top
    xi = xo - pt  # inner half width

    top = k.box(-w * 0.5, w * 0.5, -d * 0.5, yb, top_z, h, label="Top")
    carcass = k.join(
        k.box(-xo, -xi, yc, yb, lift, top_z, label="Left Side"),
        k.box(xi, xo, yc, yb, lift, top_z, label="Right Side"),
        k.box(-xi, xi, yc, yb - pt, lift, lift + pt, label="Bottom"),
        k.box(-xi, xi, yb - pt, yb, lift + pt, top_z, label="Back Panel"), label="Carcass")

    # -- base -------------------------------------------------------------------------
    plinth = k.box(-xi, xi, yc + PLINTH_RECESS, yb - pt, 0.0, bh, label="Plinth")
    lx, ly0, ly1 = xo - LEG_INSET, yc + LEG_INSET, yb - LEG_INSET
    leg = k.cylinder(LEG_RADIUS, 0.0, bh, vertices=8, label="Leg")
    legs = k.join(*(k.transform(leg, translate=k.xyz(x, y, 0.0), label=name) for name, x, y in (
        ("Front Left Leg", -lx, ly0), ("Front Right Leg", lx, ly0), ("Back Left Leg", -lx, ly1),
        ("Back Right Leg", lx, ly1))), label="Legs")
    base = k.menu_switch(base_style, {"Plinth": plinth, "Legs": legs}, label="Base")

    # -- fronts -------------------------------------------------------------------------
    yf = yc - FRONT_THICKNESS  # front face of the drawer fronts and doors

    def handle(x, z, vertical, label):
        """A bar handle centred on (x, z) of the front face, horizontal or vertical."""
        hx, hz = (HANDLE_HALF_SECTION, HANDLE_HALF_LENGTH) if vertical else (HANDLE_HALF_LENGTH, HANDLE_HALF_SECTION)
        return k.switch(has_handles, k.box(x - hx, x + hx, yf - HANDLE_DEPTH, yf, z - hz, z + hz, label=label),
                        label=f"{label}?")

    def panel(x0, x1, z0, z1, label, handle_x=None, vertical=False):
        """A drawer front or door from x0..x1, z0..z1, with its handle at handle_x (default: centre)."""
        hx = (x0 + x1) * 0.5 if handle_x is None else handle_x
        return k.join(k.box(x0, x1, yf, yc, z0, z1, label=label),
                      handle(hx, (z0 + z1) * 0.5, vertical, f"{label} Handle"), label=f"{label} With Handle")

    g = FRONT_GAP * 0.5
    edge = 0.05  # door handles sit this far from the door's opening edge

    def doors(z0, z1):
        single = panel(-xo, xo, z0, z1, "Door", handle_x=xo - edge, vertical=True)
        pair = k.join(panel(-xo, -g, z0, z1, "Left Door", handle_x=-g - edge, vertical=True),
                      panel(g, xo, z0, z1, "Right Door", handle_x=g + edge, vertical=True), label="Door Pair")
        return k.switch(double, pair, single, label="Doors")

    # a stack of drawers: one drawer front (with its handle) centred on z = 0, spread upwards
    stack_h = top_z - lift
    fh = (stack_h - (n_drawers - 1.0) * FRONT_GAP) / n_drawers
    drawer = panel(-xo, xo, fh * -0.5, fh * 0.5, "Drawer Front")
    drawers = k.spread(drawer, k.xyz(0.0, 0.0, lift + fh * 0.5), k.xyz(0.0, 0.0, fh + FRONT_GAP), n_drawers,
                       label="Drawer Stack")

    row_h = k.min(rh, stack_h * 0.4)
    row_z0 = top_z - row_h
    drawer_row = k.switch(double,
                          k.join(panel(-xo, -g, row_z0, top_z, "Left Top Drawer"), panel(g, xo, row_z0, top_z, "Right Top Drawer"),
                                 label="Top Drawer Pair"),
                          panel(-xo, xo, row_z0, top_z, "Top Drawer"), label="Drawer Row")
    drawers_over_doors = k.join(drawer_row, doors(lift, row_z0 - FRONT_GAP), label="Drawers Over Doors")

    shelf_step = (top_z - lift) / (n_shelves + 1.0)  # shelf centres evenly between the bottom's and the top's
    shelf = k.box(-xi, xi, yc, yb - pt, pt * -0.5, pt * 0.5, label="Shelf")
    shelves = k.spread(shelf, k.xyz(0.0, 0.0, lift + pt * 0.5 + shelf_step), k.xyz(0.0, 0.0, shelf_step), n_shelves,
                       label="Shelves")

    fronts = k.menu_switch(front, {"Drawers": drawers, "Doors": doors(lift, top_z),
                                   "Drawers Over Doors": drawers_over_doors, "Open Shelves": shelves}, label="Fronts")
    return k.output(k.join(top, carcass, base, fronts, label="Cabinet"))


if __name__ == "__main__":
    main(build, NAME)
