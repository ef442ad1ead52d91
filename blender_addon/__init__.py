"""ShapeProg for Blender: fit geometry-node shape programs to 3D scans with the ShapeProg backend.

A Blender extension (``blender_manifest.toml``; Blender 4.2 and later). This module only registers the
others (see README.md): preferences, properties, operators, panels, the job pump and the local backend.
"""

import bpy

from . import backend_process, jobs, operators, panels, preferences, properties

_MODULES = (preferences, properties, operators, panels, jobs, backend_process)
_registered = False


@bpy.app.handlers.persistent
def _on_load_pre(*_args) -> None:
    """Another file is opened: the running jobs' results have nowhere to go, so cancel them."""
    jobs.detach_all("the file was closed")


def register() -> None:
    """Register everything; registering again first unregisters (nothing is left twice)."""
    global _registered
    if _registered:
        unregister()
    for mod in _MODULES:
        mod.register()
    bpy.app.handlers.load_pre.append(_on_load_pre)
    _registered = True


def unregister() -> None:
    global _registered
    for handler in [h for h in bpy.app.handlers.load_pre if getattr(h, "__name__", "") == "_on_load_pre"
                    and getattr(h, "__module__", "") == __name__]:
        bpy.app.handlers.load_pre.remove(handler)
    for mod in reversed(_MODULES):
        mod.unregister()
    _registered = False
