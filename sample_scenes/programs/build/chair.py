"""Chair: dining, kitchen and office chairs, stools.

Seat box on one of three bases (four legs, square or round, optionally
joined by stretchers; two sled runners; a five-arm swivel star base on
casters), a solid or slatted back or none, optional armrests. The seat top
is at Seat Height; the back and the armrests stand on the seat. Origin at
the floor centre under the seat, +Z up, the front (the open side) faces -Y.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from progkit import DEG, Kit, main

NAME = "chair"

CASTER_HEIGHT = 0.05  # star base: caster wheels under the arm tips
CASTER_RADIUS = 0.025
ARM_WIDTH = 0.05  # star base arm cross-section
ARM_THICKNESS = 0.04
HUB_RADIUS = 0.05
HUB_TOP = 0.12
COLUMN_RADIUS = 0.025
POST_WIDTH = 0.035  # slatted back: side posts
SLAT_WIDTH = 0.025
ARMREST_THICKNESS = 0.03
ARMREST_POST_DEPTH = 0.03


def build():
    k = Kit("Chair")
    leg_style = k.menu("Leg Style", ["Four Legs", "Sled", "Star Base"], "Four Legs",
                       "what the seat stands on: four legs, two sled runners or a swivel star base on casters")
    back_style = k.menu("Back Style", ["Solid", "Slatted", "None"], "Solid",
                        "a solid back panel, vertical slats between two posts, or no back (a stool)")
    has_arms = k.bool("Has Armrests", False, "armrests on both sides, each on a front post")
    round_legs = k.bool("Round Legs", False, "four legs: round (cylinders) instead of square")
    has_stretchers = k.bool("Has Stretchers", False, "four legs: rails joining the legs near the floor")
    slats = k.int("Slat Count", 4, 2, 7, "slatted back: number of vertical slats")
    w = k.float("Seat Width", 0.46, 0.38, 0.62, "seat width (x)")
    d = k.float("Seat Depth", 0.45, 0.38, 0.58, "seat depth (y)")
    h = k.float("Seat Height", 0.46, 0.38, 0.55, "height of the seat top above the floor")
    t = k.float("Seat Thickness", 0.04, 0.02, 0.10, "seat board / cushion thickness")
    bh = k.float("Back Height", 0.42, 0.20, 0.60, "back height above the seat top")
    bt = k.float("Back Thickness", 0.03, 0.015, 0.06, "back thickness (y)")
    lt = k.float("Leg Thickness", 0.035, 0.025, 0.06, "legs and sled runners: width of their square (or round) section")
    sh = k.float("Stretcher Height", 0.15, 0.08, 0.25, "height of the stretchers' centre above the floor")
    ah = k.float("Armrest Height", 0.22, 0.15, 0.30, "armrest top above the seat top")
    aw = k.float("Armrest Width", 0.05, 0.03, 0.08, "armrest width (x)")
    br = k.float("Base Radius", 0.30, 0.24, 0.36, "star base: distance from the column to an arm tip")

    under = h - t  # underside of the seat
    seat = k.box(-w * 0.5, w * 0.5, -d * 0.5, d * 0.5, under, h, label="Seat")

    # -- four legs (at the seat corners), optional stretchers ------------------
    lx = w * 0.5 - lt * 0.5
    ly = d * 0.5 - lt * 0.5
    half = lt * 0.5
    leg = k.switch(round_legs,
                   k.cylinder(half, 0.0, under, label="Round Leg"),
                   k.box(-half, half, -half, half, 0.0, under, label="Square Leg"), label="Leg")
    legs = k.join(*(k.transform(leg, translate=k.xyz(sx * lx, sy * ly, 0.0), label=name)
                    for name, sx, sy in (("Front Left Leg", -1, -1), ("Front Right Leg", 1, -1),
                                         ("Back Left Leg", -1, 1), ("Back Right Leg", 1, 1))),
                  label="Legs")
    st = lt * 0.6  # stretcher section
    z0, z1 = sh - st * 0.5, sh + st * 0.5
    stretchers = k.join(
        k.box(-lx - st * 0.5, -lx + st * 0.5, -ly, ly, z0, z1, label="Left Stretcher"),
        k.box(lx - st * 0.5, lx + st * 0.5, -ly, ly, z0, z1, label="Right Stretcher"),
        k.box(-lx, lx, -ly - st * 0.5, -ly + st * 0.5, z0, z1, label="Front Stretcher"),
        k.box(-lx, lx, ly - st * 0.5, ly + st * 0.5, z0, z1, label="Back Stretcher"),
        label="Stretchers")
    four_legs = k.join(legs, k.switch(has_stretchers, stretchers, label="Stretchers?"), label="Four Legs")

    # -- sled: a floor runner and two uprights on each side ---------------------
    runner = k.join(
        k.box(-half, half, -d * 0.5, d * 0.5, 0.0, lt, label="Runner"),
        k.box(-half, half, -ly - half, -ly + half, lt, under, label="Front Upright"),
        k.box(-half, half, ly - half, ly + half, lt, under, label="Back Upright"),
        label="Sled Side")
    sled = k.join(k.transform(runner, translate=k.xyz(-lx, 0.0, 0.0), label="Left Sled"),
                  k.transform(runner, translate=k.xyz(lx, 0.0, 0.0), label="Right Sled"), label="Sled")

    # -- star base: five arms on casters, hub, gas column -----------------------
    arm = k.join(
        k.box(0.0, br, -ARM_WIDTH / 2, ARM_WIDTH / 2, CASTER_HEIGHT, CASTER_HEIGHT + ARM_THICKNESS, label="Base Arm"),
        k.cylinder(CASTER_RADIUS, 0.0, CASTER_HEIGHT, x=br - CASTER_RADIUS, vertices=8, label="Caster"),
        label="Arm With Caster")
    arms = k.join(*(k.transform(arm, rotate=(0.0, 0.0, (-90.0 + 72.0 * i) * DEG), label=f"Base Arm {i + 1}")
                    for i in range(5)), label="Base Arms")
    star = k.join(arms,
                  k.cylinder(HUB_RADIUS, CASTER_HEIGHT, HUB_TOP, label="Hub"),
                  k.cylinder(COLUMN_RADIUS, HUB_TOP, under, label="Gas Column"), label="Star Base")

    base = k.menu_switch(leg_style, {"Four Legs": four_legs, "Sled": sled, "Star Base": star}, label="Base")

    # -- back -------------------------------------------------------------------
    top = h + bh
    solid_back = k.box(-w * 0.5, w * 0.5, d * 0.5 - bt, d * 0.5, h, top, label="Back Panel")
    rail_h = bh * 0.2
    inner = w * 0.5 - POST_WIDTH
    step = (inner * 2.0) / (slats + 1.0)
    slat = k.box(-SLAT_WIDTH / 2, SLAT_WIDTH / 2, d * 0.5 - bt * 0.8, d * 0.5 - bt * 0.2, h, top - rail_h, label="Slat")
    slatted_back = k.join(
        k.box(-w * 0.5, -inner, d * 0.5 - bt, d * 0.5, h, top, label="Left Back Post"),
        k.box(inner, w * 0.5, d * 0.5 - bt, d * 0.5, h, top, label="Right Back Post"),
        k.box(-inner, inner, d * 0.5 - bt, d * 0.5, top - rail_h, top, label="Top Rail"),
        k.spread(slat, k.xyz(step - inner, 0.0, 0.0), k.xyz(step, 0.0, 0.0), slats, label="Slats"),
        label="Slatted Back")
    back = k.menu_switch(back_style, {"Solid": solid_back, "Slatted": slatted_back}, label="Back")

    # -- armrests: a bar on a front post, each side ------------------------------
    back_depth = k.menu_switch(back_style, {"Solid": bt, "Slatted": bt, "None": 0.0}, type="FLOAT",
                               label="Back Depth")
    arm_top = h + ah
    y_front = -d * 0.5 + ARMREST_POST_DEPTH

    def armrest(x0, x1, side):
        return k.join(
            k.box(x0, x1, -d * 0.5, d * 0.5 - back_depth, arm_top - ARMREST_THICKNESS, arm_top, label=f"{side} Armrest"),
            k.box(x0, x1, y_front, y_front + ARMREST_POST_DEPTH, h, arm_top - ARMREST_THICKNESS,
                  label=f"{side} Armrest Post"),
            label=f"{side} Arm")

    armrests = k.join(armrest(-w * 0.5, -w * 0.5 + aw, "Left"), armrest(w * 0.5 - aw, w * 0.5, "Right"),
                      label="Armrests")

    return k.output(k.join(seat, base, back, k.switch(has_arms, armrests, label="Armrests?"), label="Chair"))


if __name__ == "__main__":
    main(build, NAME)
