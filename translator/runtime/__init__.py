"""Runtime support for generated programs: values, implicit conversions, fields, switches, topology.

Generated programs and the node functions use it as ``from translator import runtime as rt``;
it gathers, by topic, :mod:`~translator.runtime.values` (evaluation context, coercions, the
Field type), :mod:`~translator.runtime.conversions`, :mod:`~translator.runtime.fields`,
:mod:`~translator.runtime.switches` (switches and topology), :mod:`~translator.runtime.zones` (Repeat and For
Each Geometry Element zones; :mod:`~translator.runtime.elements` builds the Element output,
:mod:`~translator.runtime.stacking` stacks elements into the batch) and :mod:`~translator.runtime.entry`
(parameters, :func:`run`, splitting a batch by topology).

Value representation (``B`` = batch; a value that does not depend on a
batched input has no batch dimension and broadcasts):

=============  ==========================================================
socket type    runtime value
=============  ==========================================================
VALUE          Python float, or float tensor ``()`` / ``(B,)``
INT            Python int, or int64 tensor ``(B,)`` (derived from a batched float)
BOOLEAN        Python bool, or bool tensor ``(B,)``
VECTOR         3-tuple of floats, or tensor ``(3,)`` / ``(B, 3)``
ROTATION       quaternion ``(w, x, y, z)``: 4-tuple, or tensor ``(4,)`` / ``(B, 4)``
               (:mod:`~translator.runtime.rotations`; a 3-tuple is XYZ Euler, converted)
RGBA           4-tuple, or tensor ``(4,)`` / ``(B, 4)``
MATRIX         tensor ``(4, 4)`` / ``(B, 4, 4)``
STRING, MENU   Python str
MATERIAL       material name (str) or None
GEOMETRY       :class:`~translator.geometry.GeometrySet`
=============  ==========================================================

Any numeric value may instead be a :class:`Field`: a lazily evaluated
function of a geometry, evaluated on the domain of the node that consumes it.
Evaluated on a domain of size ``N`` a field gives ``(b, N)`` (scalars) or
``(b, N, K)`` (vectors, colors, matrices ``(b, N, 4, 4)``) with ``b`` 1 or B.

Topology (vertex counts, which branch of a Geometry Switch is taken, which
points get instances) must be the same for every element of a batch. When a
batched value decides topology and differs across the batch,
:func:`static` raises :class:`TopologyVaries`; :func:`evaluate_grouped`
splits the batch into groups that share a topology and evaluates each.
"""

from .conversions import convert, convert_tensor, default_value, empty_geometry
from .entry import Parameter, ParameterError, evaluate_grouped, resolve_parameters, run
from .fields import adapt_domain, attribute_field, corner_edges, eval_field, field_map, next_corners
from .rotations import as_rotation, rotation_constant
from .switches import TopologySplitError, TopologyVaries, index_switch, menu_switch, static, static_mask, switch
from .values import (
    EvalContext,
    Field,
    FieldContext,
    SizeLimitError,
    as_bool,
    as_float,
    as_int,
    as_vector,
    batch_size_of,
    check_size,
    current,
    eval_context,
    identity_matrix,
    is_field,
)
from .zones import foreach_element_zone, repeat_zone

__all__ = [
    "EvalContext",
    "Field",
    "FieldContext",
    "Parameter",
    "ParameterError",
    "SizeLimitError",
    "TopologySplitError",
    "TopologyVaries",
    "adapt_domain",
    "as_bool",
    "as_float",
    "as_int",
    "as_rotation",
    "as_vector",
    "attribute_field",
    "batch_size_of",
    "check_size",
    "convert",
    "convert_tensor",
    "corner_edges",
    "current",
    "default_value",
    "empty_geometry",
    "eval_context",
    "eval_field",
    "evaluate_grouped",
    "field_map",
    "foreach_element_zone",
    "identity_matrix",
    "index_switch",
    "is_field",
    "menu_switch",
    "next_corners",
    "repeat_zone",
    "resolve_parameters",
    "rotation_constant",
    "run",
    "static",
    "static_mask",
    "switch",
]
