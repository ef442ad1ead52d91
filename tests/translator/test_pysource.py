"""Python source pieces: float literals are the shortest that keep the float32 value."""

from __future__ import annotations

import ast
import math
import re
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from translator.pysource import literal


@given(st.integers(0, 2**32 - 1))
@settings(max_examples=400, deadline=None)
def test_float_literals_are_the_shortest_that_keep_the_float32(bits):
    x = struct.unpack("<f", struct.pack("<I", bits))[0]
    text = literal(x)
    if math.isnan(x):
        assert text == "float('nan')"
        return
    value = ast.literal_eval(text) if math.isfinite(x) else float(text[7:-2])
    assert struct.unpack("<f", struct.pack("<f", value))[0] == x and math.copysign(1, value) == math.copysign(1, x)
    if math.isfinite(x):
        digits = len(re.sub(r"e.*|[-.]", "", repr(value)).strip("0") or "0")
        assert digits <= 9 and len(text) <= len(repr(x))


def test_float_literal_examples():
    assert literal(struct.unpack("f", struct.pack("f", 1.2))[0]) == "1.2"
    assert literal(0.46000000834465027) == "0.46"
    assert literal((0.30000001192092896, -1.0, 2.0)) == "(0.3, -1.0, 2.0)"
    assert literal(0.1) == "0.1" and literal(0.123456789012345) == "0.123456789012345"  # not float32: exact repr
    assert literal(-0.0) == "-0.0" and literal(float("inf")) == "float('inf')" and literal(1e39) == "1e+39"
