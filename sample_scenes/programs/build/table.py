"""Table: dining, kitchen, coffee, side and bar tables, desks.

A rectangular, round or oval top on four legs (square or round, optionally
with an apron under the top), a pedestal (column on a round foot) or two
trestles (foot, upright and top bar at each end, joined by a stretcher);
four legs and trestles can carry a lower shelf. Every part stays under the
top, so the bounding box is Width x Depth x Height (Depth = Width for a round
top). Origin at the floor centre, +Z up, front faces -Y.
"""

from __future__ import annotations

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from progkit import Kit, main

NAME = "table"

TOP_SEGMENTS = 32  # round / oval top outline
APRON_HEIGHT = 0.08
APRON_THICKNESS = 0.02
SHELF_THICKNESS = 0.02
PEDESTAL_FOOT = 0.04  # thickness of the pedestal's round foot
COLUMN_FRACTION = 0.3  # pedestal column radius / foot radius
TRESTLE_FOOT = 0.05  # height of a trestle's foot and of its top bar
STRETCHER_HEIGHT = 0.05


def build():
    k = Kit("Table")
    shape = k.menu("Top Shape", ["Rectangular", "Round", "Oval"], "Rectangular",
                   "outline of the top (a round top is Width across)")
    leg_style = k.menu("Leg Style", ["Four Legs", "Pedestal", "Trestle"], "Four Legs",
                       "four legs, one central pedestal on a round foot, or a trestle at each end")
    has_shelf = k.bool("Has Lower Shelf", False, "four legs or trestles: a shelf board near the floor")
    has_apron = k.bool("Has Apron", True, "four legs: boards joining the legs under the top")
    round_legs = k.bool("Round Legs", False, "four legs: round (cylinders) instead of square")
    w = k.float("Width", 1.2, 0.5, 2.4, "top width (x); the diameter of a round top")
    d = k.float("Depth", 0.8, 0.5, 1.2, "top depth (y); not used by a round top")
    h = k.float("Height", 0.75, 0.40, 1.10, "height of the top surface above the floor")
    t = k.float("Top Thickness", 0.03, 0.02, 0.06, "thickness of the top")
    lt = k.float("Leg Thickness", 0.05, 0.03, 0.10, "four legs and trestles: section of a leg / upright")
    inset = k.float("Leg Inset", 0.03, 0.0, 0.10, "four legs and trestles: distance from the top's edge to the legs")
    sh = k.float("Shelf Height", 0.15, 0.08, 0.25, "lower shelf: height of its top surface")
    br = k.float("Base Radius", 0.25, 0.15, 0.40, "pedestal: radius of the round foot (at most 0.45 x the top's smaller side)")

    under = h - t
    depth = k.menu_switch(shape, {"Rectangular": d, "Round": w, "Oval": d}, type="FLOAT", label="Top Depth")
    # legs sit under the top's corners; under a round or oval top the "corners" are at 45 degrees
    corner = k.menu_switch(shape, {"Rectangular": 1.0, "Round": math.sqrt(0.5), "Oval": math.sqrt(0.5)},
                           type="FLOAT", label="Corner Factor")

    rect_top = k.box(-w * 0.5, w * 0.5, -depth * 0.5, depth * 0.5, under, h, label="Rectangular Top")
    disc = k.cylinder(0.5, under, h, vertices=TOP_SEGMENTS, label="Top Disc")
    ellipse_top = k.transform(disc, scale=k.xyz(w, depth, 1.0), label="Round Top")
    top = k.menu_switch(shape, {"Rectangular": rect_top, "Round": ellipse_top, "Oval": ellipse_top}, label="Top")

    half = lt * 0.5
    lx = corner * w * 0.5 - inset - half  # leg / trestle centre lines
    ly = corner * depth * 0.5 - inset - half

    # -- four legs ---------------------------------------------------------------
    leg = k.switch(round_legs,
                   k.cylinder(half, 0.0, under, label="Round Leg"),
                   k.box(-half, half, -half, half, 0.0, under, label="Square Leg"), label="Leg")
    legs = k.join(*(k.transform(leg, translate=k.xyz(sx * lx, sy * ly, 0.0), label=name)
                    for name, sx, sy in (("Front Left Leg", -1, -1), ("Front Right Leg", 1, -1),
                                         ("Back Left Leg", -1, 1), ("Back Right Leg", 1, 1))), label="Legs")
    a0, a1 = under - APRON_HEIGHT, under
    at = APRON_THICKNESS * 0.5
    apron = k.join(
        k.box(-lx, lx, -ly - at, -ly + at, a0, a1, label="Front Apron"),
        k.box(-lx, lx, ly - at, ly + at, a0, a1, label="Back Apron"),
        k.box(-lx - at, -lx + at, -ly, ly, a0, a1, label="Left Apron"),
        k.box(lx - at, lx + at, -ly, ly, a0, a1, label="Right Apron"), label="Apron")
    leg_shelf = k.box(-lx, lx, -ly, ly, sh - SHELF_THICKNESS, sh, label="Leg Shelf")
    four_legs = k.join(legs, k.switch(has_apron, apron, label="Apron?"),
                       k.switch(has_shelf, leg_shelf, label="Leg Shelf?"), label="Four Legs")

    # -- pedestal -----------------------------------------------------------------
    foot_r = k.min(br, k.min(w, depth) * 0.45)
    pedestal = k.join(k.cylinder(foot_r, 0.0, PEDESTAL_FOOT, vertices=24, label="Pedestal Foot"),
                      k.cylinder(foot_r * COLUMN_FRACTION, PEDESTAL_FOOT, under, vertices=16, label="Pedestal Column"),
                      label="Pedestal")

    # -- trestles -----------------------------------------------------------------
    reach = ly + half  # half length of a trestle's foot and top bar
    post = reach * 0.35  # half depth of the upright board
    trestle_end = k.join(
        k.box(-half, half, -reach, reach, 0.0, TRESTLE_FOOT, label="Trestle Foot"),
        k.box(-half, half, -post, post, TRESTLE_FOOT, under - TRESTLE_FOOT, label="Trestle Upright"),
        k.box(-half, half, -reach, reach, under - TRESTLE_FOOT, under, label="Trestle Top Bar"), label="Trestle End")
    mid = under * 0.5
    trestle_shelf = k.box(-lx, lx, -post, post, sh - SHELF_THICKNESS, sh, label="Trestle Shelf")
    trestles = k.join(
        k.transform(trestle_end, translate=k.xyz(-lx, 0.0, 0.0), label="Left Trestle"),
        k.transform(trestle_end, translate=k.xyz(lx, 0.0, 0.0), label="Right Trestle"),
        k.box(-lx, lx, -half, half, mid - STRETCHER_HEIGHT * 0.5, mid + STRETCHER_HEIGHT * 0.5, label="Trestle Stretcher"),
        k.switch(has_shelf, trestle_shelf, label="Trestle Shelf?"), label="Trestles")

    base = k.menu_switch(leg_style, {"Four Legs": four_legs, "Pedestal": pedestal, "Trestle": trestles}, label="Base")
    return k.output(k.join(top, base, label="Table"))


if __name__ == "__main__":
    main(build, NAME)
