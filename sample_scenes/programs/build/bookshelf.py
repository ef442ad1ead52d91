"""Bookshelf: bookcases, open shelving units, low shelves, metal or wooden shelf racks.

Shelves between two side panels (optionally on a plinth) or carried by four
corner posts, with a top and a bottom, one to seven shelves in between,
optional vertical dividers splitting them into columns, an optional back
panel and optional doors closing the lowest compartment. The bounding box
is Width x Depth x Height. Origin at the floor centre, +Z up, the open
front faces -Y.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from progkit import Kit, main

NAME = "bookshelf"

BACK_THICKNESS = 0.01
POST_CLEARANCE = 0.06  # posts: height of the bottom shelf's underside
KICK_RECESS = 0.02  # the plinth's kick board is set back from the front
DOOR_THICKNESS = 0.02
DOOR_GAP = 0.003


def build():
    k = Kit("Bookshelf")
    style = k.menu("Side Style", ["Panels", "Posts"], "Panels",
                   "side panels down to the floor, or four corner posts carrying the shelves")
    n_shelves = k.int("Shelf Count", 4, 1, 7, "shelves between the bottom and the top")
    n_dividers = k.int("Divider Count", 0, 0, 2, "vertical dividers splitting the shelves into columns")
    has_back = k.bool("Has Back Panel", True, "a thin panel closing the back")
    has_doors = k.bool("Has Lower Doors", False, "two doors closing the lowest compartment")
    has_plinth = k.bool("Has Plinth", False, "side panels: the bottom shelf sits on a recessed kick board")
    w = k.float("Width", 0.8, 0.4, 2.0, "overall width (x)")
    d = k.float("Depth", 0.3, 0.22, 0.45, "overall depth (y)")
    h = k.float("Height", 1.8, 0.7, 2.4, "overall height")
    pt = k.float("Panel Thickness", 0.02, 0.015, 0.04, "thickness of the shelves, top and side panels")
    ph = k.float("Plinth Height", 0.07, 0.04, 0.12, "plinth: height of the kick board")
    pw = k.float("Post Width", 0.03, 0.02, 0.05, "posts: section of a corner post")

    back_t = k.switch(has_back, BACK_THICKNESS, 0.0, type="FLOAT", label="Back Depth")
    plinth_h = k.switch(has_plinth, ph, 0.0, type="FLOAT", label="Plinth Used")
    sx = k.menu_switch(style, {"Panels": w * 0.5 - pt, "Posts": w * 0.5}, type="FLOAT", label="Shelf Half Width")
    open_x = k.menu_switch(style, {"Panels": w * 0.5 - pt, "Posts": w * 0.5 - pw}, type="FLOAT",
                           label="Opening Half Width")  # between the sides / posts
    z0 = k.menu_switch(style, {"Panels": plinth_h, "Posts": POST_CLEARANCE}, type="FLOAT", label="Bottom Height")
    y0, y1 = -d * 0.5, d * 0.5 - back_t  # shelves' front and back

    # -- supports ------------------------------------------------------------------------
    panels = k.join(
        k.box(-w * 0.5, pt - w * 0.5, -d * 0.5, d * 0.5, 0.0, h, label="Left Side"),
        k.box(w * 0.5 - pt, w * 0.5, -d * 0.5, d * 0.5, 0.0, h, label="Right Side"),
        k.switch(has_plinth, k.box(-sx, sx, y0 + KICK_RECESS, y0 + KICK_RECESS + pt, 0.0, ph, label="Kick Board"),
                 label="Plinth"), label="Side Panels")
    post = k.box(pw * -0.5, pw * 0.5, pw * -0.5, pw * 0.5, 0.0, h, label="Post")
    px, py = w * 0.5 - pw * 0.5, d * 0.5 - pw * 0.5
    posts = k.join(*(k.transform(post, translate=k.xyz(x, y, 0.0), label=name) for name, x, y in (
        ("Front Left Post", -px, -py), ("Front Right Post", px, -py), ("Back Left Post", -px, py),
        ("Back Right Post", px, py))), label="Posts")
    supports = k.menu_switch(style, {"Panels": panels, "Posts": posts}, label="Supports")

    # -- shelves ---------------------------------------------------------------------------
    bottom = k.box(-sx, sx, y0, y1, z0, z0 + pt, label="Bottom Shelf")
    top = k.box(-sx, sx, y0, y1, h - pt, h, label="Top Shelf")
    step = (h - pt - z0) / (n_shelves + 1.0)  # shelf centres evenly between the bottom's and the top's
    shelf = k.box(-sx, sx, y0, y1, pt * -0.5, pt * 0.5, label="Shelf")
    shelves = k.spread(shelf, k.xyz(0.0, 0.0, z0 + pt * 0.5 + step), k.xyz(0.0, 0.0, step), n_shelves, label="Shelves")
    col = open_x * 2.0 / (n_dividers + 1.0)
    door_t = k.switch(has_doors, DOOR_THICKNESS, 0.0, type="FLOAT", label="Door Depth")  # dividers stay behind doors
    divider = k.box(pt * -0.5, pt * 0.5, y0 + door_t, y1, z0 + pt, h - pt, label="Divider")
    dividers = k.spread(divider, k.xyz(col - open_x, 0.0, 0.0), k.xyz(col, 0.0, 0.0), n_dividers, label="Dividers")
    back = k.switch(has_back, k.box(-open_x, open_x, y1, d * 0.5, z0, h, label="Back Panel Box"), label="Back Panel")

    # -- doors on the lowest compartment ----------------------------------------------------
    dz0 = z0 + pt
    dz1 = z0 + step  # underside of the lowest shelf
    g = DOOR_GAP * 0.5
    doors = k.switch(has_doors, k.join(
        k.box(-open_x, -g, y0, y0 + DOOR_THICKNESS, dz0, dz1, label="Left Door"),
        k.box(g, open_x, y0, y0 + DOOR_THICKNESS, dz0, dz1, label="Right Door"), label="Door Pair"), label="Doors")

    return k.output(k.join(supports, bottom, top, shelves, dividers, back, doors, label="Bookshelf"))


if __name__ == "__main__":
    main(build, NAME)
