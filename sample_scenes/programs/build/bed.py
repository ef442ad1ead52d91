"""Bed: single, double and king beds with or without head- and footboards.

A frame (on four legs, or a platform down to the floor) carrying a
mattress; a panel or slatted headboard or none, an optional footboard, zero
to two pillows and an optional blanket over the foot end. Width and Length
are the overall footprint, boards included. Origin at the floor centre,
+Z up; the foot end faces -Y, the headboard is at +Y.

Head and foot never look alike: a footboard always rises at least 5 cm above
the mattress (its top is max(Footboard Height, mattress top + 0.05), the
mattress top being Frame Height + Mattress Thickness), so it is never hidden
inside the mattress, and the headboard's height range (0.95..1.4) lies above
the footboard's (0.45..0.9), so a footboard cannot pass for a headboard of a
bed turned round. Footboard Height's default (0.85) lies above every mattress
top + 0.05 (at most 0.8), where the height shapes the board: a fit that starts
from the defaults gets its gradient (below the mattress top it has none).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from progkit import Kit, main

NAME = "bed"

MATTRESS_INSET = 0.03  # mattress edge inside the frame's sides and foot
LEG_SIZE = 0.06
LEG_INSET = 0.05  # leg centre from the frame's edges
POST_WIDTH = 0.06  # slatted headboard posts
RAIL_HEIGHT = 0.07  # slatted headboard rails
SLATS = 8
SLAT_WIDTH = 0.04
PILLOW_DEPTH = 0.35
PILLOW_HEIGHT = 0.12
PILLOW_MAX_WIDTH = 0.7
PILLOW_FROM_HEAD = 0.05
BLANKET_COVER = 0.65  # fraction of the mattress length the blanket covers, from the foot
BLANKET_DROP = 0.10  # how far the blanket hangs down the mattress sides
BLANKET_THICKNESS = 0.03
BLANKET_OVERHANG = 0.02
FOOTBOARD_CLEARANCE = 0.05  # a footboard's top is at least this far above the mattress top


def build():
    k = Kit("Bed")
    headboard = k.menu("Headboard Style", ["Panel", "Slatted", "None"], "Panel",
                       "a solid panel, posts and rails with vertical slats, or no headboard")
    base_style = k.menu("Base Style", ["Legs", "Platform"], "Legs",
                        "the frame stands on four legs, or is a platform down to the floor")
    has_footboard = k.bool("Has Footboard", False, "a board across the foot end")
    pillows = k.int("Pillow Count", 2, 0, 2, "pillows at the head end")
    has_blanket = k.bool("Has Blanket", False, "a blanket over the foot end of the mattress")
    w = k.float("Width", 1.6, 0.9, 2.0, "overall width (x)")
    length = k.float("Length", 2.1, 1.9, 2.3, "overall length (y), boards included")
    fh = k.float("Frame Height", 0.3, 0.20, 0.45, "height of the frame's top (the mattress lies on it)")
    mt = k.float("Mattress Thickness", 0.22, 0.12, 0.30, "mattress thickness")
    lh = k.float("Leg Height", 0.1, 0.05, 0.15, "legs: height of the legs (the frame starts there)")
    hh = k.float("Headboard Height", 1.0, 0.95, 1.4, "headboard: height of its top above the floor")
    fbh = k.float("Footboard Height", 0.85, 0.45, 0.9,
                  "footboard: height of its top above the floor, raised to at least 5 cm above the mattress top "
                  "(top = max(Footboard Height, Frame Height + Mattress Thickness + 0.05))")
    bt = k.float("Board Thickness", 0.05, 0.03, 0.10, "headboard and footboard thickness (y)")

    lift = k.menu_switch(base_style, {"Legs": lh}, type="FLOAT", label="Lift")
    head_t = k.menu_switch(headboard, {"Panel": bt, "Slatted": bt}, type="FLOAT", label="Headboard Depth")
    foot_t = k.switch(has_footboard, bt, 0.0, type="FLOAT", label="Footboard Depth")
    y_head = length * 0.5 - head_t  # frame ends
    y_foot = foot_t - length * 0.5
    top = fh + mt  # mattress top

    frame = k.box(-w * 0.5, w * 0.5, y_foot, y_head, lift, fh, label="Frame")
    mx = w * 0.5 - MATTRESS_INSET
    my = y_foot + MATTRESS_INSET
    mattress = k.box(-mx, mx, my, y_head, fh, top, label="Mattress")

    lx = w * 0.5 - LEG_INSET
    s = LEG_SIZE * 0.5
    leg = k.box(-s, s, -s, s, 0.0, lh, label="Leg")
    legs = k.join(*(k.transform(leg, translate=k.xyz(x, y, 0.0), label=name) for name, x, y in (
        ("Foot Left Leg", -lx, y_foot + LEG_INSET), ("Foot Right Leg", lx, y_foot + LEG_INSET),
        ("Head Left Leg", -lx, y_head - LEG_INSET), ("Head Right Leg", lx, y_head - LEG_INSET))), label="Legs")
    base = k.menu_switch(base_style, {"Legs": legs}, label="Base")

    # -- boards --------------------------------------------------------------------------
    hy0, hy1 = length * 0.5 - bt, length * 0.5
    panel = k.box(-w * 0.5, w * 0.5, hy0, hy1, 0.0, hh, label="Headboard Panel")
    inner = w * 0.5 - POST_WIDTH
    step = inner * 2.0 / (SLATS + 1)
    slat = k.box(-SLAT_WIDTH * 0.5, SLAT_WIDTH * 0.5, hy0 + bt * 0.25, hy1 - bt * 0.25, fh, hh - RAIL_HEIGHT,
                 label="Headboard Slat")
    slatted = k.join(
        k.box(-w * 0.5, -inner, hy0, hy1, 0.0, hh, label="Left Headboard Post"),
        k.box(inner, w * 0.5, hy0, hy1, 0.0, hh, label="Right Headboard Post"),
        k.box(-inner, inner, hy0, hy1, hh - RAIL_HEIGHT, hh, label="Headboard Top Rail"),
        k.box(-inner, inner, hy0, hy1, fh - RAIL_HEIGHT, fh, label="Headboard Lower Rail"),
        k.spread(slat, k.xyz(step - inner, 0.0, 0.0), k.xyz(step, 0.0, 0.0), SLATS, label="Headboard Slats"),
        label="Slatted Headboard")
    head = k.menu_switch(headboard, {"Panel": panel, "Slatted": slatted}, label="Headboard")
    foot_top = k.max(fbh, top + FOOTBOARD_CLEARANCE)  # always visible above the mattress
    foot = k.switch(has_footboard, k.box(-w * 0.5, w * 0.5, -length * 0.5, bt - length * 0.5, 0.0, foot_top,
                                         label="Footboard Panel"), label="Footboard")

    # -- bedding --------------------------------------------------------------------------
    py1 = y_head - PILLOW_FROM_HEAD
    py0 = py1 - PILLOW_DEPTH
    one_w = k.min(PILLOW_MAX_WIDTH, w * 0.6)
    pair_w = k.min(PILLOW_MAX_WIDTH, (w - 0.15) * 0.5)
    one = k.box(one_w * -0.5, one_w * 0.5, py0, py1, top, top + PILLOW_HEIGHT, label="Pillow")
    pair = k.join(k.box(-0.025 - pair_w, -0.025, py0, py1, top, top + PILLOW_HEIGHT, label="Left Pillow"),
                  k.box(0.025, 0.025 + pair_w, py0, py1, top, top + PILLOW_HEIGHT, label="Right Pillow"),
                  label="Pillow Pair")
    pillow_set = k.index_switch(pillows, [None, one, pair], label="Pillows")
    bx = mx + BLANKET_OVERHANG
    by0 = my - BLANKET_OVERHANG
    blanket = k.box(-bx, bx, by0, my + (y_head - my) * BLANKET_COVER, top - BLANKET_DROP, top + BLANKET_THICKNESS,
                    label="Blanket Box")
    return k.output(k.join(frame, mattress, base, head, foot, pillow_set,
                           k.switch(has_blanket, blanket, label="Blanket"), label="Bed"))


if __name__ == "__main__":
    main(build, NAME)
