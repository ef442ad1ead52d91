"""Whole scanned scenes: every piece of furniture of a room fitted as an editable program
(``shapeprog fit-scene``).

* :mod:`.labels`: label sets (NYU40, ScanNet's 20 classes, label files) and categories;
* :mod:`.model`: :class:`Scene`, :class:`SceneObject`, :class:`Structure`, :class:`Wall`;
* :mod:`.readers`: labelled point clouds, ScanNet scene folders, Scan2CAD boxes -> :class:`Scene`;
* :mod:`.structure`: the floor, gravity and walls of a scene;
* :mod:`.segments`: one object's cleaned points, its surroundings and its flags;
* :mod:`.programs`: the category -> program map;
* :mod:`.job`: what a worker does with one object (fit, undecided parameters, metrics);
* :mod:`.run`: the whole scene through an executor; :mod:`.outputs`, :mod:`.report`: what it writes;
* :mod:`.register`: aligning two scans of one room; :mod:`.synth`: synthetic rooms.
"""

from .model import Scene, SceneObject, Structure, Wall

__all__ = ["Scene", "SceneObject", "Structure", "Wall"]
