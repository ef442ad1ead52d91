"""Sofa: two- to four-seat sofas, loveseats, armless settees, chaise (L-shaped) sofas and corner sectionals.

A seat platform with one to four seat cushions, a full-width back (with or
without loose back cushions), square or rolled arms or none, on short legs
or on the floor; an optional chaise extends the seat forwards on the right or
on the left (as seen from the front), up to 2.2 m (a sectional's long return);
with Chaise Back the arm on the chaise's side rises to the back's height along
the whole side (a corner sectional, whose second back runs along the chaise's
outer side). A chaise on the left is the mirror image of one on the right: no
turn of the sofa makes one from the other.
The bounding box is Width x (Depth + Chaise Length) x Height, centred on the
origin at the floor; +Z up, the seat faces -Y.

Neighbouring cushions stand CUSHION_GAP (4 cm) apart. Real cushions are soft
with rounded edges, so the seam between two shows in a scan as a groove a few
centimetres wide; box cushions 1 cm apart (this program's first version) left
no trace in a depth image (1.4 cm per pixel at 2 m for 160-pixel frames, 0.4 cm
at 640), so the number of cushions could not be recovered from any scan.
"""

from __future__ import annotations

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from progkit import Kit, main

NAME = "sofa"

CUSHION_GAP = 0.04  # the seam between neighbouring cushions (see above)
BACK_CUSHION_DEPTH = 0.15
BACK_CUSHION_FILL = 0.85  # back cushions reach this fraction of the way from the seat to the top of the back
LEG_RADIUS = 0.025
LEG_INSET = 0.06  # leg centre from the outer edges


def build():
    k = Kit("Sofa")
    arm_style = k.menu("Arm Style", ["Square", "Rolled", "None"], "Square",
                       "square arms, arms with a rolled (round) top, or none")
    has_legs = k.bool("Has Legs", True, "stands on four short legs (else the base sits on the floor)")
    n = k.int("Seat Cushions", 3, 1, 4, "number of seat cushions side by side")
    has_back_cushions = k.bool("Has Back Cushions", True, "loose cushions leaning on the back")
    chaise = k.menu("Chaise", ["None", "Right", "Left"], "None",
                    "a chaise extends the seat forwards on the right or the left, seen from the front (L-shaped sofa)")
    chaise_back = k.bool("Chaise Back", False, "chaise: the arm on its side is a back as high as the main one, along "
                                               "the chaise's whole outer side (a corner sectional)")
    w = k.float("Width", 2.0, 1.2, 3.0, "overall width (x)")
    d = k.float("Depth", 0.9, 0.75, 1.1, "depth of the main body (y), back included")
    h = k.float("Height", 0.85, 0.75, 1.05, "height of the back's top")
    sh = k.float("Seat Height", 0.44, 0.38, 0.50, "height of the seat cushions' top")
    ct = k.float("Cushion Thickness", 0.12, 0.08, 0.16, "seat cushion thickness")
    bt = k.float("Back Thickness", 0.2, 0.10, 0.30, "back depth (y)")
    aw = k.float("Arm Width", 0.18, 0.08, 0.30, "arms: width of one arm (x)")
    ah = k.float("Arm Height", 0.62, 0.50, 0.72, "arms: height of the arm's top")
    lh = k.float("Leg Height", 0.08, 0.04, 0.14, "legs: height of the legs")
    cl = k.float("Chaise Length", 0.6, 0.4, 2.2, "chaise: how far it extends in front of the main seat")
    cw = k.float("Chaise Width", 0.8, 0.6, 1.0, "chaise: its width (at most the seat's width)")

    lift = k.switch(has_legs, lh, 0.0, type="FLOAT", label="Lift")
    arm_w = k.menu_switch(arm_style, {"Square": aw, "Rolled": aw}, type="FLOAT", label="Arm Width Used")
    x_in = w * 0.5 - arm_w  # inner half width (between the arms)
    y_front = -d * 0.5
    y_back = d * 0.5 - bt  # front face of the back
    chaise_len = k.menu_switch(chaise, {"Right": cl, "Left": cl}, type="FLOAT", label="Chaise Extent")
    right_len = k.menu_switch(chaise, {"Right": cl}, type="FLOAT", label="Right Chaise Extent")
    left_len = k.menu_switch(chaise, {"Left": cl}, type="FLOAT", label="Left Chaise Extent")
    seat_bottom = sh - ct

    base = k.box(-x_in, x_in, y_front, y_back, lift, seat_bottom, label="Seat Base")
    back = k.box(-w * 0.5, w * 0.5, y_back, d * 0.5, lift, h, label="Back")

    # -- cushions -------------------------------------------------------------------
    cushion_w = (x_in * 2.0 - (n - 1.0) * CUSHION_GAP) / n
    seat_cushion = k.box(-cushion_w * 0.5, cushion_w * 0.5, y_front, y_back, seat_bottom, sh, label="Seat Cushion")
    start = k.xyz(cushion_w * 0.5 - x_in, 0.0, 0.0)
    step = k.xyz(cushion_w + CUSHION_GAP, 0.0, 0.0)
    seat_cushions = k.spread(seat_cushion, start, step, n, label="Seat Cushions")
    back_top = sh + (h - sh) * BACK_CUSHION_FILL
    back_cushion = k.box(-cushion_w * 0.5, cushion_w * 0.5, y_back - BACK_CUSHION_DEPTH, y_back, sh, back_top,
                         label="Back Cushion")
    back_cushions = k.switch(has_back_cushions, k.spread(back_cushion, start, step, n, label="Back Cushion Row"),
                             label="Back Cushions")

    # -- chaise -----------------------------------------------------------------------
    chaise_w = k.min(cw, x_in * 2.0)
    chaise_x0 = k.menu_switch(chaise, {"Right": x_in - chaise_w, "Left": -x_in}, type="FLOAT", label="Chaise Inner X")
    chaise_x1 = chaise_x0 + chaise_w
    chaise_geo = k.join(
        k.box(chaise_x0, chaise_x1, y_front - cl, y_front, lift, seat_bottom, label="Chaise Base"),
        k.box(chaise_x0, chaise_x1, y_front - cl, y_front, seat_bottom, sh, label="Chaise Cushion"), label="Chaise Parts")

    # -- arms ---------------------------------------------------------------------------
    def arm(x0, x1, front, top, side):
        square = k.box(x0, x1, front, y_back, lift, top, label=f"{side} Square Arm")
        roll_r = aw * 0.5
        roll = k.cylinder(roll_r, front, y_back, vertices=12, label=f"{side} Arm Roll")  # along z, then laid along y
        roll = k.transform(roll, rotate=(-math.pi / 2, 0.0, 0.0), label=f"{side} Arm Roll Laid")
        roll = k.transform(roll, translate=k.xyz((x0 + x1) * 0.5, 0.0, top - roll_r), label=f"{side} Arm Roll Placed")
        rolled = k.join(k.box(x0, x1, front, y_back, lift, top - roll_r, label=f"{side} Rolled Arm Body"), roll,
                        label=f"{side} Rolled Arm")
        return k.menu_switch(arm_style, {"Square": square, "Rolled": rolled}, label=f"{side} Arm")

    # a corner sectional's arm on the chaise's side is its second back (as high as the main one)
    side_top = k.switch(chaise_back, h, ah, type="FLOAT", label="Chaise Side Height")
    right_top = k.menu_switch(chaise, {"None": ah, "Right": side_top, "Left": ah}, type="FLOAT", label="Right Arm Top")
    left_top = k.menu_switch(chaise, {"None": ah, "Right": ah, "Left": side_top}, type="FLOAT", label="Left Arm Top")
    left_arm = arm(-w * 0.5, -x_in, y_front - left_len, left_top, "Left")
    right_arm = arm(x_in, w * 0.5, y_front - right_len, right_top, "Right")

    # -- legs -----------------------------------------------------------------------------
    lx = w * 0.5 - LEG_INSET
    leg = k.cylinder(LEG_RADIUS, 0.0, lh, vertices=8, label="Leg")
    legs = k.join(*(k.transform(leg, translate=k.xyz(x, y, 0.0), label=name) for name, x, y in (
        ("Front Left Leg", -lx, y_front - left_len + LEG_INSET), ("Front Right Leg", lx, y_front - right_len + LEG_INSET),
        ("Back Left Leg", -lx, d * 0.5 - LEG_INSET), ("Back Right Leg", lx, d * 0.5 - LEG_INSET))), label="Legs")

    sofa = k.join(base, back, seat_cushions, back_cushions, k.menu_switch(chaise, {"Right": chaise_geo, "Left": chaise_geo}, label="Chaise"),
                  left_arm, right_arm, k.switch(has_legs, legs, label="Legs?"), label="Sofa Parts")
    # centre the footprint: the chaise extends the depth forwards
    return k.output(k.transform(sofa, translate=k.xyz(0.0, chaise_len * 0.5, 0.0), label="Sofa"))


if __name__ == "__main__":
    main(build, NAME)
