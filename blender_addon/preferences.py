"""The add-on's preferences (Edit > Preferences > Add-ons > ShapeProg): where the backend is, its token, how
to start a local one; looked up by the add-on's package name."""

import os
import tempfile
from typing import Any

import bpy
from bpy.props import FloatProperty, StringProperty

from .client import DEFAULT_URL, BackendClient, BackendError, is_loopback, normalize_url

__all__ = ["ShapeProgPreferences", "cache_dir", "get_preferences", "make_client", "online_access_error"]

ADDON = __package__


class ShapeProgPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON

    backend_url: StringProperty(
        name="Backend URL", default=DEFAULT_URL,
        description="Where the ShapeProg job service ('shapeprog serve') listens")
    token: StringProperty(
        name="Token", subtype="PASSWORD", default="",
        description="Bearer token of a remote backend (started with a token); empty for a local one")
    python_path: StringProperty(
        name="Python", subtype="FILE_PATH", default="",
        description="The Python (or virtual environment folder, or 'shapeprog' executable) that has ShapeProg "
                    "installed; 'Start local backend' runs 'shapeprog serve' with it")
    backend_dir: StringProperty(
        name="Working Folder", subtype="DIR_PATH", default="",
        description="Folder the local backend runs in (a ShapeProg checkout runs its own code); empty: the "
                    "add-on's data folder")
    data_dir: StringProperty(
        name="Job Folder", subtype="DIR_PATH", default="",
        description="Where the local backend keeps its jobs; empty: the add-on's data folder")
    library_dir: StringProperty(
        name="Program Library", subtype="DIR_PATH", default="",
        description="Folder with the library's NAME.blend files (sample_scenes/programs), used when the "
                    "backend does not serve them")
    timeout: FloatProperty(
        name="Timeout", default=30.0, min=1.0, max=600.0, subtype="TIME_ABSOLUTE", unit="TIME_ABSOLUTE",
        description="Seconds to wait for one answer from the backend")

    def draw(self, context: Any) -> None:
        layout = self.layout
        col = layout.column(heading="Backend")
        col.prop(self, "backend_url")
        col.prop(self, "token")
        col.prop(self, "timeout")
        if online_access_error(self.backend_url):
            col.label(text="Online access is off: only a backend on this machine can be used", icon="ERROR")
        col = layout.column(heading="Local Backend")
        col.prop(self, "python_path")
        col.prop(self, "backend_dir")
        col.prop(self, "data_dir")
        col = layout.column(heading="Programs")
        col.prop(self, "library_dir")


class _Defaults:
    """The preferences' defaults, for when the add-on runs without being enabled (a source checkout's tests)."""

    def __getattr__(self, name: str) -> Any:
        prop = ShapeProgPreferences.__annotations__.get(name)
        if prop is None:
            raise AttributeError(name)
        return prop.keywords.get("default", "")


def get_preferences(context: Any = None) -> Any:
    """This add-on's preferences (found by package name), or their defaults when it is not enabled."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON)
    return addon.preferences if addon is not None and addon.preferences is not None else _Defaults()


def online_access_error(url: str) -> str:
    """Why ``url`` may not be used ('' when it may): a remote backend needs Blender's online access."""
    if is_loopback(url) or _online_access():
        return ""
    return (f"online access is off in Blender (Preferences > System > Network), so the remote backend "
            f"{normalize_url(url)} cannot be used; allow online access or use a backend on this machine")


def _online_access() -> bool:
    return bool(getattr(bpy.app, "online_access", True))


def make_client(context: Any = None) -> BackendClient:
    """A client for the configured backend. Raises :class:`BackendError` when the URL is bad or online access
    forbids it (no network I/O here)."""
    prefs = get_preferences(context)
    url = normalize_url(prefs.backend_url) or DEFAULT_URL
    why = online_access_error(url)
    if why:
        raise BackendError(why)
    return BackendClient(url, prefs.token, timeout=prefs.timeout)


def cache_dir(*parts: str) -> str:
    """A writable folder of the add-on's own (Blender's per-extension user folder when installed as an
    extension, else a temporary folder), created on demand."""
    base = ""
    if ADDON.startswith("bl_ext."):
        try:
            base = bpy.utils.extension_path_user(ADDON, path="", create=True)
        except (ValueError, RuntimeError, OSError):
            base = ""
    base = base or os.path.join(tempfile.gettempdir(), "shapeprog-blender")
    path = os.path.join(base, *parts)
    os.makedirs(path, exist_ok=True)
    return path


classes = (ShapeProgPreferences,)


register, unregister = bpy.utils.register_classes_factory(classes)
