"""Label sets of labelled scans and the furniture categories ShapeProg fits.

A labelled point cloud stores a number per point; what the number means is its *label set*:

* ``nyu40``: the NYU40 class ids of ScanNet's benchmark files (1 wall, 2 floor, 3 cabinet, ... 40 other
  prop; 0 unlabelled);
* ``scannet20``: the 20 classes of ScanNet's semantic segmentation benchmark numbered 0..19 in their
  benchmark order (wall, floor, cabinet, bed, chair, ...), as many segmentation networks write them;
* a file: ScanNet's ``scannetv2-labels.combined.tsv`` (raw ScanNet ids in its ``id`` column, names from its
  ``category`` column, or ``nyu40class`` with ``--label-column``), or a JSON object ``{"id": "name"}``.

Names are then reduced to a *category* (:func:`category_of`): lower case, with synonyms folded
(``nightstand`` -> ``night stand``, ``kitchen cabinets`` -> ``cabinet``, ``couch`` -> ``sofa``).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from ..structures import ScanError

__all__ = ["LABEL_SETS", "NYU40", "SCANNET20", "STRUCTURE", "SYNSETS", "category_of", "label_names"]

NYU40 = {
    1: "wall", 2: "floor", 3: "cabinet", 4: "bed", 5: "chair", 6: "sofa", 7: "table", 8: "door", 9: "window",
    10: "bookshelf", 11: "picture", 12: "counter", 13: "blinds", 14: "desk", 15: "shelves", 16: "curtain",
    17: "dresser", 18: "pillow", 19: "mirror", 20: "floor mat", 21: "clothes", 22: "ceiling", 23: "books",
    24: "refrigerator", 25: "television", 26: "paper", 27: "towel", 28: "shower curtain", 29: "box",
    30: "whiteboard", 31: "person", 32: "night stand", 33: "toilet", 34: "sink", 35: "lamp", 36: "bathtub",
    37: "bag", 38: "other structure", 39: "other furniture", 40: "other prop",
}
"""NYU40 class ids -> names (0 = unlabelled)."""

SCANNET20 = {i: NYU40[n] for i, n in enumerate((1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39))}
"""ScanNet's 20 benchmark classes, numbered 0..19 in benchmark order -> names."""

LABEL_SETS = ("nyu40", "scannet20")
"""The built-in label sets (anything else is a file)."""

STRUCTURE = {"wall": "wall", "floor": "floor", "ceiling": "ceiling"}
"""Names of the room's structure (never fitted; the floor and walls are the objects' context)."""

SYNSETS = {
    "03001627": "chair", "04379243": "table", "04256520": "sofa", "02818832": "bed", "02933112": "cabinet",
    "02871439": "bookshelf", "03337140": "cabinet", "02747177": "trash can", "03211117": "display",
    "04004475": "printer", "03636649": "lamp", "02808440": "bathtub", "04554684": "washer",
}
"""ShapeNet synset ids of Scan2CAD's models -> categories."""

_SYNONYMS = {
    "nightstand": "night stand", "night table": "night stand", "bedside table": "night stand",
    "couch": "sofa", "sofa chair": "chair", "armchair": "chair", "office chair": "chair", "stool": "chair",
    "bookcase": "bookshelf", "book shelf": "bookshelf", "shelf": "shelves", "shelving": "shelves",
    "kitchen cabinet": "cabinet", "kitchen cabinets": "cabinet", "file cabinet": "cabinet",
    "cabinets": "cabinet", "wardrobe": "cabinet", "closet": "cabinet", "chest of drawers": "dresser",
    "coffee table": "table", "end table": "table", "side table": "table", "dining table": "table",
    "kitchen table": "table", "round table": "table", "tables": "table", "chairs": "chair", "beds": "bed",
    "desks": "desk", "sofas": "sofa", "refridgerator": "refrigerator", "fridge": "refrigerator",
}
_TAILS = ("chair", "table", "desk", "sofa", "bed", "cabinet", "bookshelf", "shelves", "dresser", "night stand")


def category_of(name: str) -> str:
    """A label name as a category: lower case, single spaces, synonyms folded; a name ending in a furniture
    word (``kitchen cabinet``, ``office desk``) becomes that word unless it is a synonym of another one."""
    n = " ".join(re.sub(r"[_\-]+", " ", str(name)).lower().split())
    if n in _SYNONYMS:
        return _SYNONYMS[n]
    for tail in _TAILS:
        if n == tail or n.endswith((" " + tail, " " + tail + "s")):
            return tail
    return n


def label_names(label_set: str, column: str = "category") -> dict[int, str]:
    """The names of a label set's ids: a built-in set (:data:`LABEL_SETS`) or a file (``.tsv`` / ``.csv`` with
    an ``id`` column and a ``column`` of names, or ``.json`` ``{"id": "name"}``). One-line :class:`ScanError`
    for a file that cannot be read this way."""
    if label_set == "nyu40":
        return dict(NYU40)
    if label_set == "scannet20":
        return dict(SCANNET20)
    path = Path(label_set)
    if not path.is_file():
        raise ScanError(f"{label_set}: not a label set ({', '.join(LABEL_SETS)}) nor a label file (.tsv, .csv, .json)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScanError(f"{path}: cannot read the label file: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScanError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ScanError(f'{path}: expected an object {{"id": "name", ...}}')
        try:
            return {int(k): v for k, v in data.items()}
        except ValueError:
            raise ScanError(f"{path}: label ids must be integers") from None
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in text.splitlines()[0] else ","
    rows = list(csv.DictReader(text.splitlines(), delimiter=delimiter))
    if not rows or "id" not in rows[0] or column not in rows[0]:
        have = ", ".join(rows[0]) if rows else "none"
        raise ScanError(f"{path}: needs an 'id' column and a '{column}' column (columns: {have})")
    out = {}
    for k, r in enumerate(rows):
        try:
            out[int(r["id"])] = str(r[column])
        except (TypeError, ValueError):
            raise ScanError(f"{path}: row {k + 2}: id {r.get('id')!r} is not an integer") from None
    return out
