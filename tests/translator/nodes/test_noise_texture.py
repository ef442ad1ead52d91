"""Noise Texture: Blender parity of Fac and Color driving Set Position on a grid, for every dimension count and
noise type (FBM with normalize on and off), several Scale / Detail (fractional too) / Roughness values,
and every type at 15 octaves from positions exact in float32; batched like single evaluations; float64
gradchecks of every float input the mode reads (the others shown unread); the random offsets in range, float32
and float64 values close, Perlin 0 on the lattice; unknown modes refused in one line."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, batch_and_singles, check_parity, requires_bpy, split_values, translate_object
from tests.fixtures.probes import draw_sets
from translator import runtime as rt
from translator.nodes import noise_texture as NT

_MODES = [("3D", "FBM", True), ("3D", "FBM", False), ("1D", "FBM", True), ("2D", "FBM", False), ("4D", "FBM", True),
          ("3D", "MULTIFRACTAL", True), ("3D", "HYBRID_MULTIFRACTAL", True), ("3D", "RIDGED_MULTIFRACTAL", True),
          ("3D", "HETERO_TERRAIN", True), ("2D", "RIDGED_MULTIFRACTAL", True), ("4D", "HYBRID_MULTIFRACTAL", True),
          ("1D", "HETERO_TERRAIN", True), ("2D", "MULTIFRACTAL", True)]
_INPUTS = ("Scale", "Detail", "Roughness", "Lacunarity", "Offset", "Gain", "Distortion", "W")


def _program(dims: str, noise_type: str, normalize: bool, output: str):
    """A 6 x 5 grid (size 2) whose points move by the noise at their position: Fac on z, or the Color as a
    vector; every float input a group input."""
    t = Tree()
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 6, "Vertices Y": 5, "Size X": 2.0, "Size Y": 1.6})
    nz = t.node("ShaderNodeTexNoise", noise_dimensions=dims, noise_type=noise_type, normalize=normalize)
    for name in _INPUTS:
        sock = next(s for s in nz.inputs if s.identifier == name)
        if sock.enabled:
            t.link(t.input(name, "NodeSocketFloat", sock.default_value), nz, name)
    t.output_offset((grid, "Mesh"), (nz, output), "Z" if output == "Fac" else None)
    return t.object()


def _sets(obj, seed: int) -> list[dict]:
    names = {i.name for i in obj.modifiers[0].node_group.interface.items_tree if i.in_out == "INPUT"}
    spec = {"Scale": ("float", 0.5, 4.0), "Detail": ("float", 0.0, 5.0), "Roughness": ("float", 0.0, 1.0),
            "Lacunarity": ("float", 1.5, 3.0), "Offset": ("float", 0.0, 1.5), "Gain": ("float", 0.5, 2.0),
            "Distortion": ("float", 0.0, 1.0), "W": ("float", -2.0, 2.0)}
    spec = {k: v for k, v in spec.items() if k in names}
    extra = [{"Detail": 0.0}, {"Detail": 3.0}, {"Detail": 2.5, "Roughness": 0.7}, {"Detail": 20.0, "Lacunarity": 1.2, "Offset": 0.3},
             {"Roughness": -1.0}]
    # (Hetero Terrain with a large Offset and 15 octaves grows to thousands: float32 ulps exceed the tolerance)
    return draw_sets(seed, spec, 4, [{k: v for k, v in e.items() if k in names} for e in extra])


def _plain():
    """The context of the parity and batch checks: the plain path (the traced one's replays are compared with it
    below, which records 5 short traces where those checks would record one per mode and value set, some of 15
    octaves: they took about 110 s of CPU more)."""
    return rt.eval_context(rt.current().dtype, rt.current().device, trace=False)


@requires_bpy
@pytest.mark.parametrize("mode", [("1D", "FBM", True), ("2D", "RIDGED_MULTIFRACTAL", True), ("3D", "HETERO_TERRAIN", True),
                                  ("4D", "HYBRID_MULTIFRACTAL", True), ("3D", "MULTIFRACTAL", False)],
                         ids=lambda m: "-".join(map(str, m)))
def test_noise_texture_programs_trace_and_replay_the_plain_results(mode):
    """Every dimension count's program records a trace (the dimension indexes a constant: a traced size once
    made every Noise program untraceable) and its replays equal the plain path at other scales."""
    obj = _program(*mode, "Fac")
    module = translate_object(obj)
    first = {**_sets(obj, 5)[0], "Detail": 1.4}  # two octaves and a fraction: a trace of every part, quickly recorded
    for scale in (first["Scale"], 1.3, 2.9):  # the octaves and branches the trace guards stay; the values change
        args = split_values(module, {**first, "Scale": scale})
        with _plain():
            plain = module.program(*args).verts
        for _ in range(2):  # the first call with a key runs plain, the next records its trace, then it replays
            torch.testing.assert_close(module.program(*args).verts, plain, rtol=0, atol=1e-12)
    stats = next(v for v in vars(module).values() if hasattr(v, "_shapeprog_traces"))._shapeprog_traces.stats
    assert stats["untraceable"] == 0 and stats["traced"] >= 1 and stats["replayed"] >= 2, stats


@requires_bpy
@pytest.mark.parametrize("output", ("Fac", "Color"))
@pytest.mark.parametrize("mode", _MODES, ids=lambda m: "-".join(map(str, m)))
def test_noise_texture_parity(mode, output):
    obj = _program(*mode, output)
    sets = _sets(obj, 3)
    with _plain():
        assert check_parity(obj, sets) == len(sets)


def _exact_input_program(noise_type: str):
    """The grid moved by the Fac of the noise at ``(Index, Index, 0) / 4``: positions exact in float32, so
    Blender and the translator feed the noise identical coordinates (a primitive's may differ by an ulp)."""
    t = Tree()
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 6, "Vertices Y": 5, "Size X": 2.0, "Size Y": 1.6})
    nz = t.node("ShaderNodeTexNoise", noise_type=noise_type)
    for name in ("Scale", "Detail", "Roughness", "Lacunarity", "Offset", "Gain", "Distortion"):
        t.link(t.input(name, "NodeSocketFloat", 1.0), nz, name)
    xyz = t.node("ShaderNodeCombineXYZ")
    t.link(t.node("GeometryNodeInputIndex"), xyz, "X")
    t.link(t.node("GeometryNodeInputIndex"), xyz, "Y")
    quarter = t.node("ShaderNodeVectorMath", operation="SCALE", Scale=0.25)
    t.link((xyz, "Vector"), quarter, "Vector")
    t.link((quarter, "Vector"), nz, "Vector")
    z = t.node("ShaderNodeCombineXYZ")
    t.link((nz, "Fac"), z, "Z")
    sp = t.node("GeometryNodeSetPosition")
    t.link((grid, "Mesh"), sp, "Geometry")
    t.link((z, "Vector"), sp, "Offset")
    t.output((sp, "Geometry"))
    return t.object()


@requires_bpy
@pytest.mark.parametrize("noise_type", NT.NOISE_TYPES)
def test_noise_texture_parity_fifteen_octaves(noise_type):
    # octave coordinates up to ~1e9 (past the 1e6 wrap): still Blender's values when the inputs are identical
    obj = _exact_input_program(noise_type)
    base = {"Scale": 3.665, "Detail": 15.0, "Roughness": 0.929, "Lacunarity": 2.785, "Offset": 1.486, "Gain": 1.507,
            "Distortion": 0.163}
    sets = [base, base | {"Distortion": 0.0}, base | {"Detail": 12.4, "Offset": 0.3, "Lacunarity": 3.1}]
    with _plain():
        assert check_parity(obj, sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("mode", [("3D", "FBM", True), ("4D", "HYBRID_MULTIFRACTAL", True)], ids=lambda m: "-".join(map(str, m)))
def test_noise_texture_batch_equals_singles(mode):
    obj = _program(*mode, "Color")
    module = translate_object(obj)
    with _plain():
        batch, singles = batch_and_singles(module, _sets(obj, 5))
    assert torch.equal(batch, singles)


_GRAD_NAMES = ("Vector", "W", "Scale", "Detail", "Roughness", "Lacunarity", "Offset", "Gain", "Distortion")


def _read_inputs(dims: str, noise_type: str) -> set[str]:
    """The inputs the noise reads (Blender shows only these): Vector from 2D on, W in 1D and 4D, Offset in
    the terrain types, Gain in Hybrid and Ridged."""
    unread = {"1D": {"Vector"}, "2D": {"W"}, "3D": {"W"}, "4D": set()}[dims]
    if noise_type in ("FBM", "MULTIFRACTAL"):
        unread |= {"Offset", "Gain"}
    elif noise_type == "HETERO_TERRAIN":
        unread |= {"Gain"}
    return set(_GRAD_NAMES) - unread


@pytest.mark.parametrize("noise_type", NT.NOISE_TYPES)
@pytest.mark.parametrize("dims", NT.NOISE_DIMENSIONS)
def test_noise_texture_gradcheck(dims, noise_type, monkeypatch):
    # float64 all through (no float32 values), so finite differences see the smooth function; the inputs the
    # noise reads are gradchecked, the others shown unread (changing them changes nothing); Detail 1.4: two
    # octaves and a fractional one (every fractal's loop and its fractional step)
    monkeypatch.setattr(NT, "FLOAT32_FORWARD", False)
    g = torch.Generator().manual_seed(7)
    vec = torch.rand((4, 3), generator=g, dtype=torch.float64) * 3 - 1.5
    values = [vec] + [torch.tensor(v, dtype=torch.float64) for v in (0.3, 1.7, 1.4, 0.6, 1.4, 0.8, 1.3, 0.25)]
    read = _read_inputs(dims, noise_type)

    def f(*inputs):
        with rt.eval_context(torch.float64):
            v, w, scale, detail, rough, lac, offset, gain, dist = inputs
            return NT.noise_texture(dims, noise_type, noise_type != "FBM" or dims != "2D", vector=v, w=w, scale=scale,
                                    detail=detail, roughness=rough, lacunarity=lac, offset=offset, gain=gain,
                                    distortion=dist)

    moved = [x + 0.37 if name not in read else x for name, x in zip(_GRAD_NAMES, values)]
    for a, b in zip(f(*values), f(*moved)):
        assert torch.equal(a, b)
    inputs = [x.clone().requires_grad_(name in read) for name, x in zip(_GRAD_NAMES, values)]
    assert torch.autograd.gradcheck(f, inputs, eps=1e-7, fast_mode=True)  # Color: large curvature in Lacunarity at the offsets


def test_random_offsets_and_float32_values():
    # Blender's random_float3_offset seeds lie in [100, 200]; float32 values and float64 ones agree closely
    off = NT.random_offset(0.0, 3)
    assert len(off) == 3 and all(100.0 <= o <= 200.0 for o in off)
    assert NT.random_offset(0.0, 1) != off[:1]  # the 1D offset hashes one key
    with rt.eval_context(torch.float64):
        p = torch.tensor([[0.3, 1.2, -2.7], [5.5, -0.25, 3.125]], dtype=torch.float64)
        exact = NT.noise_texture("3D", "FBM", True, vector=p)[0]
    assert exact.dtype == torch.float64 and torch.allclose(exact, NT.noise_texture("3D", "FBM", True, vector=p.float())[0].double(),
                                                          atol=1e-5)
    with rt.eval_context(torch.float64):  # a lattice point: Perlin noise is 0 there
        assert float(NT.perlin_signed(torch.tensor([[1.0, 2.0, -3.0]], dtype=torch.float64))) == 0.0


def test_unknown_modes_refused_in_one_line():
    from types import SimpleNamespace

    from translator.nodes import get_spec

    spec = get_spec("ShaderNodeTexNoise")
    ok = SimpleNamespace(properties={"noise_dimensions": "3D", "noise_type": "FBM", "normalize": True})
    assert spec.check(ok) is None
    bad = SimpleNamespace(properties={"noise_dimensions": "5D", "noise_type": "FBM", "normalize": True})
    reason = spec.check(bad)
    assert "Noise Texture" in reason and "5D" in reason and "\n" not in reason
