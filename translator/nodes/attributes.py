"""Attributes: Blender's attribute data types, Store Named Attribute, Named Attribute,
Set Material and Viewer.

Attribute data (:class:`translator.geometry.Attribute`) is stored per batch as
``(b, N)`` / ``(b, N, K)`` on its domain, in Blender's representation of its
data type:

==============  ======================================  =================
data type       stored tensor                           socket value
==============  ======================================  =================
FLOAT           float ``(b, N)``                        VALUE
INT             int64 ``(b, N)``                        INT
INT8            int8 ``(b, N)`` (clamped to -128..127)  INT
BOOLEAN         bool ``(b, N)``                         BOOLEAN
FLOAT_VECTOR    float ``(b, N, 3)``                     VECTOR
FLOAT2          float ``(b, N, 2)``                     VECTOR ``(x, y, 0)``
FLOAT_COLOR     float ``(b, N, 4)`` (linear RGBA)       RGBA
BYTE_COLOR      uint8 ``(b, N, 4)`` (sRGB RGB, alpha)   RGBA (decoded)
QUATERNION      float ``(b, N, 4)`` ``(w, x, y, z)``    ROTATION (quaternion)
FLOAT4X4        float ``(b, N, 4, 4)``                  MATRIX
==============  ======================================  =================

Conversions between data types follow Blender's implicit conversions
(``type_conversions.cc``: e.g. FLOAT2 -> FLOAT is the mean of the two
components, FLOAT_VECTOR -> QUATERNION reads the vector as XYZ Euler angles).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, GeometrySet, Instances, MeshBatch
from . import node
from .fields import evaluate, instance_context, mesh_context, set_instance_positions, set_mesh_positions
from .transform import euler_to_quaternion, matrix_to_euler, matrix_to_rotation, quaternion_to_matrix

__all__ = [
    "ATTRIBUTE_TYPES",
    "SOCKET_OF_TYPE",
    "adapt_attribute",
    "attribute_type",
    "convert_attribute",
    "decode_byte_color",
    "default_data",
    "encode_byte_color",
    "from_socket",
    "join_instance_attributes",
    "map_real_meshes",
    "merge_kinds",
    "modify_geometry_sets",
    "named_attribute",
    "set_material",
    "store_named_attribute",
    "to_socket",
    "try_convert",
    "viewer",
]

#: Blender's attribute data types that Store Named Attribute offers, and the socket each is read as.
SOCKET_OF_TYPE = {
    "FLOAT": "VALUE", "INT": "INT", "INT8": "INT", "BOOLEAN": "BOOLEAN", "FLOAT_VECTOR": "VECTOR",
    "FLOAT2": "VECTOR", "FLOAT_COLOR": "RGBA", "BYTE_COLOR": "RGBA", "QUATERNION": "ROTATION", "FLOAT4X4": "MATRIX",
}
ATTRIBUTE_TYPES = tuple(SOCKET_OF_TYPE)

_TYPE_OF_SOCKET = {"VALUE": "FLOAT", "INT": "INT", "BOOLEAN": "BOOLEAN", "VECTOR": "FLOAT_VECTOR",
                   "RGBA": "FLOAT_COLOR", "ROTATION": "QUATERNION", "MATRIX": "FLOAT4X4"}
# the types that map 1:1 onto a runtime socket type (their conversions are the runtime's)
_PLAIN = {"FLOAT": "VALUE", "INT": "INT", "BOOLEAN": "BOOLEAN", "FLOAT_VECTOR": "VECTOR", "FLOAT_COLOR": "RGBA"}

# attribute_data_type_complexity / attribute_domain_priority (BKE attribute.cc)
_COMPLEXITY = {"BOOLEAN": 0, "INT8": 1, "INT": 2, "FLOAT": 3, "INT16_2D": 4, "INT32_2D": 5, "FLOAT2": 6,
               "FLOAT_VECTOR": 7, "BYTE_COLOR": 8, "QUATERNION": 9, "FLOAT_COLOR": 10, "FLOAT4X4": 11}
_DOMAIN_PRIORITY = {"INSTANCE": 0, "LAYER": 1, "CURVE": 2, "FACE": 3, "EDGE": 4, "POINT": 5, "CORNER": 6}

_TRAILING = {"FLOAT2": (2,), "FLOAT_VECTOR": (3,), "FLOAT_COLOR": (4,), "BYTE_COLOR": (4,), "QUATERNION": (4,),
             "FLOAT4X4": (4, 4)}

# Mesh attributes that Blender keeps with a fixed domain and type.
_BUILTIN = {"position": ("POINT", "FLOAT_VECTOR"), "material_index": ("FACE", "INT"),
            "sharp_face": ("FACE", "BOOLEAN"), "sharp_edge": ("EDGE", "BOOLEAN")}


def attribute_type(attr: Attribute) -> str:
    """Blender data type of ``attr``: its tag, else inferred from the tensor's dtype and shape."""
    if attr.type:
        return attr.type
    d = attr.data
    if d.dtype == torch.bool:
        return "BOOLEAN"
    if d.dtype == torch.int8:
        return "INT8"
    if d.dtype == torch.uint8:
        return "BYTE_COLOR"
    if not d.dtype.is_floating_point:
        return "INT"
    tail = tuple(d.shape[2:])
    for name, shape in (("FLOAT2", (2,)), ("FLOAT_VECTOR", (3,)), ("FLOAT_COLOR", (4,)), ("FLOAT4X4", (4, 4))):
        if tail == shape:
            return name
    if tail == ():
        return "FLOAT"
    raise TypeError(f"cannot tell the data type of an attribute shaped {tuple(d.shape)}")


# ---------------------------------------------------------------------------
# Byte colors (ColorGeometry4b): sRGB-encoded RGB and linear alpha, one byte each


def _unit_to_byte(v: torch.Tensor) -> torch.Tensor:
    # unit_float_to_uchar_clamp
    out = torch.floor(255.0 * v + 0.5)
    out = torch.where(v > 1.0 - 0.5 / 255.0, torch.full_like(v, 255.0), out)
    return torch.where(v <= 0.0, torch.zeros_like(v), out).to(torch.uint8)


def encode_byte_color(linear: torch.Tensor) -> torch.Tensor:
    """Linear RGBA floats ``(…, 4)`` -> bytes ``(…, 4)`` (``linearrgb_to_srgb_uchar4``)."""
    c = linear[..., :3]
    low = torch.where(c < 0.0, torch.zeros_like(c), c * 12.92)
    high = 1.055 * torch.pow(c.clamp(min=0.0031308), 1.0 / 2.4) - 0.055
    srgb = torch.where(c < 0.0031308, low, high)
    return _unit_to_byte(torch.cat([srgb, linear[..., 3:]], -1))


def decode_byte_color(data: torch.Tensor) -> torch.Tensor:
    """Bytes ``(…, 4)`` -> linear RGBA floats ``(…, 4)`` (``srgb_to_linearrgb`` of ``byte / 255``)."""
    v = data.to(rt.current().dtype) / 255.0
    c = v[..., :3]
    lin = torch.where(c < 0.04045, c / 12.92, torch.pow((c + 0.055) / 1.055, 2.4))
    return torch.cat([lin, v[..., 3:]], -1)


# ---------------------------------------------------------------------------
# Conversions between data types (Blender's implicit conversions)


def _no_conversion(src: str, dst: str) -> TypeError:
    return TypeError(f"Blender has no implicit conversion from a {src} attribute to {dst}")


def convert_attribute(data: torch.Tensor, src: str, dst: str) -> torch.Tensor:
    """Convert stored attribute values ``(b, N, ...)`` from data type ``src`` to ``dst``."""
    if src == dst:
        return data
    if src == "BYTE_COLOR":
        return convert_attribute(decode_byte_color(data), "FLOAT_COLOR", dst)
    if dst == "BYTE_COLOR":
        return encode_byte_color(convert_attribute(data, src, "FLOAT_COLOR"))
    if src == "INT8":
        return convert_attribute(data.long(), "INT", dst)
    if dst == "INT8":
        return convert_attribute(data, src, "INT").clamp(-128, 127).to(torch.int8)
    if src == "FLOAT2":
        if dst == "BOOLEAN":
            return (data != 0).any(-1)
        pad = torch.zeros_like(data[..., :1])
        if dst == "FLOAT_VECTOR":
            return torch.cat([data, pad], -1)
        if dst == "FLOAT_COLOR":
            return torch.cat([data, pad, torch.ones_like(pad)], -1)
        mean = (data[..., 0] + data[..., 1]) / 2.0
        if dst == "FLOAT":
            return mean
        if dst == "INT":
            return torch.trunc(mean).long()
        raise _no_conversion(src, dst)
    if dst == "FLOAT2" and src in _PLAIN:
        return rt.convert_tensor(data, _PLAIN[src], "VECTOR")[..., :2]
    if src == "QUATERNION":
        if dst == "FLOAT_VECTOR":
            return matrix_to_euler(quaternion_to_matrix(data))
        if dst == "FLOAT4X4":
            return _rotation_matrix4(quaternion_to_matrix(data))
        raise _no_conversion(src, dst)
    if dst == "QUATERNION":
        if src == "FLOAT":
            return euler_to_quaternion(data.unsqueeze(-1).expand(*data.shape, 3))
        if src == "FLOAT_VECTOR":
            return euler_to_quaternion(data)
        if src == "FLOAT4X4":
            return matrix_to_rotation(data)
        raise _no_conversion(src, dst)
    if src in _PLAIN and dst in _PLAIN:
        return rt.convert_tensor(data, _PLAIN[src], _PLAIN[dst])
    raise _no_conversion(src, dst)


def try_convert(data: torch.Tensor, src: str, dst: str) -> torch.Tensor | None:
    """:func:`convert_attribute`, or None where Blender has no conversion (callers then use
    the default value, as Blender's ``lookup_or_default`` does, or skip the attribute)."""
    try:
        return convert_attribute(data, src, dst)
    except TypeError:
        return None


def _rotation_matrix4(rot: torch.Tensor) -> torch.Tensor:
    out = torch.zeros((*rot.shape[:-2], 4, 4), dtype=rot.dtype, device=rot.device)
    out[..., :3, :3] = rot
    out[..., 3, 3] = 1.0
    return out


def to_socket(data: torch.Tensor, attr_type: str) -> torch.Tensor:
    """Stored values of ``attr_type`` as the runtime value of its socket (``SOCKET_OF_TYPE``)."""
    if attr_type == "FLOAT2":
        return torch.cat([data, torch.zeros_like(data[..., :1])], -1)
    if attr_type == "INT8":
        return data.long()
    if attr_type == "BYTE_COLOR":
        return decode_byte_color(data)
    return data


def from_socket(values: torch.Tensor, socket_type: str, attr_type: str) -> torch.Tensor:
    """Runtime values of a ``socket_type`` socket ``(b, N, ...)`` stored as ``attr_type``."""
    natural = _TYPE_OF_SOCKET[socket_type]
    return convert_attribute(values, natural, attr_type)


def default_data(attr_type: str, n: int, batch: int = 1) -> torch.Tensor:
    """Blender's default value of ``attr_type`` for ``n`` elements, ``(batch, n, ...)``: zeros,
    except the identity rotation ``(1, 0, 0, 0)`` for QUATERNION."""
    c = rt.current()
    dtype = {"INT": torch.long, "INT8": torch.int8, "BOOLEAN": torch.bool, "BYTE_COLOR": torch.uint8}.get(attr_type, c.dtype)
    out = torch.zeros((batch, n, *_TRAILING.get(attr_type, ())), dtype=dtype, device=c.device)
    if attr_type == "QUATERNION":
        out[..., 0] = 1.0
    return out


def merge_kinds(kinds: list[tuple[str, str]]) -> tuple[str, str]:
    """One (domain, data type) for an attribute met with several: Blender picks the domain of
    highest priority and the most complex type."""
    domain = max((d for d, _ in kinds), key=lambda d: _DOMAIN_PRIORITY.get(d, -1))
    dtype = max((t for _, t in kinds), key=lambda t: _COMPLEXITY.get(t, -1))
    return domain, dtype


def adapt_attribute(mesh: MeshBatch, attr: Attribute, domain: str, attr_type: str) -> torch.Tensor:
    """``attr`` of ``mesh`` moved to ``domain`` (Blender's interpolation) and converted to
    ``attr_type`` (zeros when Blender has no such conversion): ``(b, N, ...)``."""
    src = attribute_type(attr)
    data = attr.data
    if attr.domain != domain:
        if src == "BYTE_COLOR":  # mixed as decoded colors, stored encoded again
            data = encode_byte_color(rt.adapt_domain(mesh, decode_byte_color(data), attr.domain, domain))
        else:
            data = rt.adapt_domain(mesh, data, attr.domain, domain)
    out = try_convert(data, src, attr_type)
    return out if out is not None else default_data(attr_type, mesh.domain_size(domain))


def join_instance_attributes(parts: list[Instances]) -> dict[str, Attribute]:
    """INSTANCE-domain attributes of ``parts`` concatenated in order: each attribute takes the most
    complex type it has anywhere; parts without it get zeros (Blender's ``join_attributes``)."""
    names: list[str] = []
    for p in parts:
        names += [k for k in p.attributes if k not in names]
    b = max([int(p.transforms.shape[0]) for p in parts] + [int(a.data.shape[0]) for p in parts for a in p.attributes.values()]
            + [1])  # an attribute may be batched where the transforms are not
    out = {}
    for name in names:
        _, t = merge_kinds([("INSTANCE", attribute_type(p.attributes[name])) for p in parts if name in p.attributes])
        chunks = []
        for p in parts:
            a = p.attributes.get(name)
            data = convert_attribute(a.data, attribute_type(a), t) if a is not None else default_data(t, p.count)
            chunks.append(data.expand(b, *data.shape[1:]))
        out[name] = Attribute("INSTANCE", torch.cat(chunks, 1), t)
    return out


# ---------------------------------------------------------------------------
# Walking nested geometry (Blender's modify_geometry_sets / foreach_real_geometry)


def modify_geometry_sets(geo: GeometrySet, fn: Callable[[GeometrySet], GeometrySet], memo: dict | None = None) -> GeometrySet:
    """Blender's ``modify_geometry_sets``: ``fn`` applied to ``geo`` and to every geometry set it
    instances, recursively (each shared reference once; ``fn`` sees the processed references)."""
    memo = {} if memo is None else memo
    inst = geo.instances
    if inst is not None and inst.count:
        refs = []
        for r in inst.references:
            if id(r) not in memo:
                memo[id(r)] = (r, modify_geometry_sets(r, fn, memo))  # keeps r alive: ids stay unique
            refs.append(memo[id(r)][1])
        geo = replace(geo, instances=replace(inst, references=refs))
    return fn(geo)


def map_real_meshes(geo: GeometrySet, fn: Callable[[MeshBatch], MeshBatch]) -> GeometrySet:
    """Apply ``fn`` to the mesh of ``geo`` and of every geometry it instances (``foreach_real_geometry``)."""
    return modify_geometry_sets(geo, lambda g: replace(g, mesh=fn(g.mesh) if g.mesh is not None else None))


# ---------------------------------------------------------------------------
# Store Named Attribute


def _check_store(n) -> str | None:
    t, d = n.properties.get("data_type"), n.properties.get("domain")
    if t not in SOCKET_OF_TYPE:
        return f"Store Named Attribute data type {t!r} is not supported"
    if d not in ("POINT", "EDGE", "FACE", "CORNER", "INSTANCE", "CURVE"):
        return f"Store Named Attribute domain {d!r} is not supported (meshes, curves and instances only)"
    return None


def _captured(old: Attribute | None, fctx: rt.FieldContext, selection: Any, value: Any, attr_type: str) -> torch.Tensor:
    """The stored values: ``value`` where selected; elsewhere the old values when the attribute
    exists with this domain and type, else zeros (Blender's ``try_capture_field_on_geometry``)."""
    sock = SOCKET_OF_TYPE[attr_type]
    data = from_socket(evaluate(value, fctx, sock), sock, attr_type)
    if selection is True:
        return data
    sel = evaluate(selection, fctx, "BOOLEAN")
    if old is not None and old.domain == fctx.domain and attribute_type(old) == attr_type:
        prev = old.data
    else:
        prev = default_data(attr_type, fctx.size)
    sel = sel.reshape(*sel.shape, *([1] * (data.dim() - 2)))
    return torch.where(sel, data, prev)


def _store_on_mesh(mesh: MeshBatch, name: str, domain: str, attr_type: str, selection: Any, value: Any) -> MeshBatch:
    builtin = _BUILTIN.get(name)
    if builtin is not None and builtin != (domain, attr_type):
        return mesh  # Blender cannot change a built-in attribute's domain or type: nothing is written
    if name == "position":
        return set_mesh_positions(mesh, selection, position=value)
    if domain == "EDGE" and mesh.edges is None:
        raise TypeError(f"cannot store attribute {name!r} on the EDGE domain: this mesh does not track its edges")
    fctx = mesh_context(mesh, domain)
    data = _captured(mesh.attributes.get(name), fctx, selection, value, attr_type)
    attrs = {k: v for k, v in mesh.attributes.items() if k != name}
    attrs[name] = Attribute(domain, data, attr_type)
    return replace(mesh, attributes=attrs)


def _store_on_instances(inst: Instances, name: str, attr_type: str, selection: Any, value: Any) -> Instances:
    if name == "position":
        return set_instance_positions(inst, selection, position=value) if attr_type == "FLOAT_VECTOR" else inst
    fctx = instance_context(inst)
    data = _captured(inst.attributes.get(name), fctx, selection, value, attr_type)
    attrs = {k: v for k, v in inst.attributes.items() if k != name}
    attrs[name] = Attribute("INSTANCE", data, attr_type)
    return replace(inst, attributes=attrs)


def _curve_domain(curves, attr: Attribute, domain: str) -> Attribute:
    """A curve attribute moved between the POINT and CURVE domains (points average into their curve,
    a curve's value repeats on its points; booleans: a curve is selected when all its points are)."""
    from .fields import curve_point_mean

    sizes = curves.curve_offsets[1:] - curves.curve_offsets[:-1]
    if domain == "CURVE":
        data = curve_point_mean(curves, attr.data)
        if attr.data.dtype == torch.bool:
            data = data > 1.0 - 1e-6
        elif not attr.data.dtype.is_floating_point:
            data = torch.round(data).to(attr.data.dtype)
    else:
        curve_of = torch.repeat_interleave(torch.arange(curves.num_curves, device=sizes.device), sizes)
        data = attr.data[:, curve_of]
    return Attribute(domain, data, attr.type)


def _store_on_curves(curves, name: str, domain: str, attr_type: str, selection: Any, value: Any):
    from .fields import curves_context, set_curve_positions

    if name == "position":
        return set_curve_positions(curves, selection, position=value) if (domain, attr_type) == ("POINT", "FLOAT_VECTOR") \
            else curves
    fctx = curves_context(curves, domain)
    data = _captured(curves.attributes.get(name), fctx, selection, value, attr_type)
    attrs = {k: v for k, v in curves.attributes.items() if k != name}
    attrs[name] = Attribute(domain, data, attr_type)
    return replace(curves, attributes=attrs)


@node("GeometryNodeStoreNamedAttribute", outputs=("Geometry",), props=("data_type", "domain"), pure=False,
      check=_check_store,
      label="Store Named Attribute", grad="yes",
      modes={"data_type": ATTRIBUTE_TYPES, "domain": ("POINT", "EDGE", "FACE", "CORNER", "CURVE", "INSTANCE")})
def store_named_attribute(geometry=None, selection=True, name="", value=0.0, data_type="FLOAT", domain="POINT"):
    """Store Named Attribute: evaluate ``value`` on ``domain`` and store it as attribute ``name``
    of type ``data_type`` (``(b, N, ...)``, see the module table). Mesh domains are written on
    every mesh, nested instances included (POINT also on curves and point clouds); INSTANCE only on the top-level instances. The name
    "position" moves vertices / instances. An empty name changes nothing."""
    if geometry is None:
        return GeometrySet()
    if not name:
        return geometry
    if domain == "INSTANCE":
        inst = geometry.instances
        if inst is None or inst.count == 0:
            return geometry
        return replace(geometry, instances=_store_on_instances(inst, name, data_type, selection, value))
    if domain in ("POINT", "CURVE"):
        geometry = modify_geometry_sets(geometry, lambda g: g if g.curves is None else replace(
            g, curves=_store_on_curves(g.curves, name, domain, data_type, selection, value)))
    if domain == "CURVE":
        return geometry
    if domain == "POINT":  # point clouds: their points, as a mesh's vertices
        geometry = modify_geometry_sets(geometry, lambda g: g if g.points is None else replace(
            g, points=_store_on_mesh(g.points, name, domain, data_type, selection, value)))
    return map_real_meshes(geometry, lambda m: _store_on_mesh(m, name, domain, data_type, selection, value))


# ---------------------------------------------------------------------------
# Named Attribute


def _lookup(fctx: rt.FieldContext, name: str) -> tuple[Attribute | None, MeshBatch | None]:
    if fctx.mesh is not None:
        return fctx.mesh.attributes.get(name), fctx.mesh
    if fctx.instances is not None:
        return fctx.instances.attributes.get(name), None
    if fctx.curves is not None:
        return fctx.curves.attributes.get(name), None
    return None, None


def _read(fctx: rt.FieldContext, name: str, attr_type: str) -> torch.Tensor:
    attr, mesh = _lookup(fctx, name)
    if attr is None:
        return to_socket(default_data(attr_type, fctx.size), attr_type)
    if mesh is not None:
        return to_socket(adapt_attribute(mesh, attr, fctx.domain, attr_type), attr_type)
    if fctx.curves is not None and attr.domain != fctx.domain:
        attr = _curve_domain(fctx.curves, attr, fctx.domain)
    data = try_convert(attr.data, attribute_type(attr), attr_type)
    return to_socket(data if data is not None else default_data(attr_type, fctx.size), attr_type)


def _exists(fctx: rt.FieldContext, name: str) -> torch.Tensor:
    attr, _ = _lookup(fctx, name)
    return torch.full((1, fctx.size), attr is not None, dtype=torch.bool, device=rt.current().device)


_READ_TYPES = ("FLOAT", "INT", "BOOLEAN", "FLOAT_VECTOR", "FLOAT_COLOR", "QUATERNION", "FLOAT4X4")


def _check_named(n) -> str | None:
    t = n.properties.get("data_type")
    return None if t in _READ_TYPES else f"Named Attribute data type {t!r} is not supported"


@node("GeometryNodeInputNamedAttribute", outputs=("Attribute", "Exists"), props=("data_type",), pure=False,
      check=_check_named,
      label="Named Attribute", modes={"data_type": _READ_TYPES}, grad="yes")
def named_attribute(name="", data_type="FLOAT"):
    """Named Attribute: fields reading attribute ``name`` as ``data_type`` on the domain they are
    evaluated on (interpolated and converted as Blender does; zeros when absent), and whether it
    exists there."""
    if not isinstance(name, str):
        raise TypeError("Named Attribute needs a constant attribute name")
    socket = SOCKET_OF_TYPE[data_type]
    return (rt.Field(lambda fctx: _read(fctx, name, data_type), socket, label=name),
            rt.Field(lambda fctx: _exists(fctx, name), "BOOLEAN", label=f"{name} exists"))


# ---------------------------------------------------------------------------
# Set Material, Viewer


def _set_material_on_mesh(mesh: MeshBatch, selection: Any, material: str | None) -> MeshBatch:
    if mesh.num_faces == 0:
        return mesh
    fctx = mesh_context(mesh, "FACE")
    sel = None if selection is True else evaluate(selection, fctx, "BOOLEAN")
    full = True
    if sel is not None:
        every = sel.all(-1)
        if not bool((every == every[:1]).all()):
            # whether every face is selected decides the material slots (topology-like)
            raise rt.TopologyVaries(every.reshape(-1, 1).long(), "a Set Material selection")
        full = bool(every[0])
    materials = list(mesh.materials)
    if not full and not materials:
        materials = [None]  # unselected faces keep the default material in slot 0
    if material in materials:
        slot = materials.index(material)
    else:
        materials.append(material)
        slot = len(materials) - 1
    old = mesh.attributes.get("material_index")
    new = torch.full((1, mesh.num_faces), slot, dtype=torch.long, device=mesh.corner_verts.device)
    if sel is not None:
        prev = old.data.long() if old is not None else torch.zeros_like(new)
        new = torch.where(sel, new, prev)
    attrs = dict(mesh.attributes)
    attrs["material_index"] = Attribute("FACE", new, "INT")
    return replace(mesh, attributes=attrs, materials=materials)


@node("GeometryNodeSetMaterial", outputs=("Geometry",), pure=False,
      label="Set Material", notes="selection")
def set_material(geometry=None, selection=True, material=None):
    """Set Material: selected faces (a FACE field) of every mesh, nested instances included, get
    ``material`` (a name or None): its slot in ``MeshBatch.materials`` (appended when missing) is
    written to the FACE attribute ``material_index`` ``(b, F)``. A partial selection on a mesh
    without slots first adds an empty slot, so unselected faces keep the default material."""
    if geometry is None:
        return GeometrySet()
    return map_real_meshes(geometry, lambda m: _set_material_on_mesh(m, selection, material))


@node("GeometryNodeViewer", outputs=(), pure=False,
      label="Viewer", notes="display only: passes nothing on")
def viewer(**_inputs):
    """Viewer: shows data in Blender's editor; it passes nothing on and changes nothing."""
    return
