"""Random numbers: Random Value, bit for bit Blender's.

Blender draws random values from Bob Jenkins' lookup3 hash of 32-bit integers (``BLI_noise``'s
``hash`` / ``hash_to_float``): ``hash_to_float(k...) = float(hash(k...)) / float(0xFFFFFFFF)`` in
float32. Here the hash runs on int64 tensors holding unsigned 32-bit values (every step masked to
32 bits), so the random values are exactly Blender's for every ID and seed. Checked against
Blender in ``tests/translator/nodes/test_noise.py``.

Shapes: IDs and seeds ``(…)`` int64 (single values ``()``, fields ``(b, N)``); FLOAT results
``(…)``, FLOAT_VECTOR ``(…, 3)``.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import runtime as rt
from . import node
from .math import elementwise

__all__ = ["RANDOM_VALUE_TYPES", "hash_to_float", "id_or_index", "jenkins_hash", "random_value"]

RANDOM_VALUE_TYPES = ("FLOAT", "INT", "FLOAT_VECTOR", "BOOLEAN")

_MASK = 0xFFFFFFFF


def _rot(x: torch.Tensor, k: int) -> torch.Tensor:
    return ((x << k) | (x >> (32 - k))) & _MASK


def _final(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """lookup3's ``final`` mix of three unsigned 32-bit values (int64 tensors); returns ``c``."""
    c = ((c ^ b) - _rot(b, 14)) & _MASK
    a = ((a ^ c) - _rot(c, 11)) & _MASK
    b = ((b ^ a) - _rot(a, 25)) & _MASK
    c = ((c ^ b) - _rot(b, 16)) & _MASK
    a = ((a ^ c) - _rot(c, 4)) & _MASK
    b = ((b ^ a) - _rot(a, 14)) & _MASK
    return ((c ^ b) - _rot(b, 24)) & _MASK


def jenkins_hash(*keys: torch.Tensor) -> torch.Tensor:
    """Blender's ``noise::hash`` of 1 to 3 keys (int64 tensors, read as unsigned 32-bit; broadcast)
    -> unsigned 32-bit values in int64."""
    keys = [k.long() & _MASK for k in torch.broadcast_tensors(*keys)]
    init = torch.full_like(keys[0], (0xDEADBEEF + (len(keys) << 2) + 13) & _MASK)
    a = b = c = init
    if len(keys) == 1:
        a = (a + keys[0]) & _MASK
    elif len(keys) == 2:
        b = (b + keys[1]) & _MASK
        a = (a + keys[0]) & _MASK
    elif len(keys) == 3:
        c = (c + keys[2]) & _MASK
        b = (b + keys[1]) & _MASK
        a = (a + keys[0]) & _MASK
    else:
        raise ValueError("jenkins_hash takes 1 to 3 keys")
    return _final(a, b, c)


def hash_to_float(*keys: torch.Tensor) -> torch.Tensor:
    """Blender's ``noise::hash_to_float``: the hash as a float32 in [0, 1] (returned as float32)."""
    return jenkins_hash(*keys).to(torch.float32) / 4294967296.0


def _id_or_index_on(fctx: rt.FieldContext) -> torch.Tensor:
    store = None
    if fctx.mesh is not None:
        store = fctx.mesh.attributes
    elif fctx.instances is not None:
        store = fctx.instances.attributes
    if store is not None and "id" in store:
        return rt.attribute_field("id", "INT").fn(fctx)
    return torch.arange(fctx.size, device=rt.current().device).unsqueeze(0)


def id_or_index() -> rt.Field:
    """The implicit ID input of Random Value: the ``id`` attribute where the geometry has one, else the index."""
    return rt.Field(_id_or_index_on, "INT", label="id")


def _random_float(lo: torch.Tensor, hi: torch.Tensor, ident: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    v = hash_to_float(seed, ident).to(torch.promote_types(lo.dtype, hi.dtype))
    return v * (hi - lo) + lo


def _random_vector(lo: torch.Tensor, hi: torch.Tensor, ident: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    k = torch.arange(3, device=ident.device)
    v = hash_to_float(seed.unsqueeze(-1), ident.unsqueeze(-1), k).to(torch.promote_types(lo.dtype, hi.dtype))
    return v * (hi - lo) + lo


def _random_int(lo: torch.Tensor, hi: torch.Tensor, ident: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    # Blender 5.0: min and max swapped when reversed, then min + hash(id, seed) % (max - min + 1) in
    # unsigned 32-bit arithmetic (the full int range, where the modulus wraps to 0, takes the hash)
    lo, hi = torch.minimum(lo, hi), torch.maximum(lo, hi)
    h = jenkins_hash(ident, seed)
    span = (hi - lo + 1) & _MASK
    off = torch.where(span == 0, h, torch.remainder(h, torch.where(span == 0, torch.ones_like(span), span)))
    out = (lo + off) & _MASK
    return torch.where(out >= 2**31, out - 2**32, out)


def _random_bool(p: torch.Tensor, ident: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    return hash_to_float(ident, seed).to(p.dtype) <= p


@node("FunctionNodeRandomValue", outputs=("Value", "Value_001", "Value_002", "Value_003"), props=("data_type",),
      implicit=("id",), label="Random Value", modes={"data_type": RANDOM_VALUE_TYPES}, grad="yes",
      notes="bit-exact with Blender's hash; ID defaults to the id attribute, else the index")
def random_value(data_type: str = "FLOAT", min=(0.0, 0.0, 0.0), max=(1.0, 1.0, 1.0), min_001=0.0, max_001=1.0,
                 min_002=0, max_002=100, probability=0.5, id=None, seed=0) -> tuple[Any, Any, Any, Any]:
    """Random Value: ``(vector, float, int, bool)``; only ``data_type``'s output is computed (the
    others are Blender's defaults). FLOAT: ``h * (max - min) + min`` with ``h = hash(seed, id)``;
    FLOAT_VECTOR: the same per component ``k`` with ``hash(seed, id, k)``; INT:
    ``min + hash(id, seed) % (max - min + 1)`` (min and max swapped when reversed, unsigned 32-bit); BOOLEAN: ``hash(id, seed) <= probability``.
    ``id`` None is the implicit ID field (:func:`id_or_index`). Differentiable in min and max."""
    ident = id_or_index() if id is None else id
    vec, flt, integer, boolean = (0.0, 0.0, 0.0), 0.0, 0, False
    if data_type == "FLOAT":
        flt = elementwise(_random_float, [min_001, max_001, ident, seed], ["VALUE", "VALUE", "INT", "INT"], "VALUE")
    elif data_type == "FLOAT_VECTOR":
        vec = elementwise(_random_vector, [min, max, ident, seed], ["VECTOR", "VECTOR", "INT", "INT"], "VECTOR")
    elif data_type == "INT":
        integer = elementwise(_random_int, [min_002, max_002, ident, seed], ["INT", "INT", "INT", "INT"], "INT")
    elif data_type == "BOOLEAN":
        boolean = elementwise(_random_bool, [probability, ident, seed], ["VALUE", "INT", "INT"], "BOOLEAN")
    else:
        raise ValueError(f"Random Value data type {data_type!r} is not supported")
    return vec, flt, integer, boolean
