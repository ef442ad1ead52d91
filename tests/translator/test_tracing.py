"""The traced fast path replays exactly what the plain program computes (values and gradients),
and falls back to the plain program when a Python decision depended on tensor values."""

from __future__ import annotations

import warnings

import pytest
import torch

from tests.fixtures import irdocs as D
from translator.codegen import compile_program
from translator.ir import program_from_dict


def _program():
    """Width (float) scales a line; Tall (float) > 0.5 switches between two lines of different
    lengths (topology decided by a continuous value); Count (int) is discrete."""
    iface = [D.iface("Socket_1", "VALUE", 1.0, name="Width"), D.iface("Socket_2", "VALUE", 0.2, name="Tall"),
             D.iface("Socket_3", "INT", 3, name="Count")]
    nodes = [
        D.group_input(iface), D.group_output(),
        D.mesh_line("Short", count=2), D.mesh_line("Long", count=5),
        D.combine_xyz("XYZ"), D.transform("Scale"), D.compare("Gt", "GREATER_THAN", 0.5),
        D.switch("Pick", "GEOMETRY"), D.mesh_line("Counted", count=3), D.join("Join"),
    ]
    links = [
        D.link("Group Input", "Socket_1", "XYZ", "X"), D.link("XYZ", "Vector", "Scale", "Scale"),
        D.link("Group Input", "Socket_2", "Gt", "A"), D.link("Gt", "Result", "Pick", "Switch"),
        D.link("Short", "Mesh", "Pick", "False"), D.link("Long", "Mesh", "Pick", "True"),
        D.link("Pick", "Output", "Scale", "Geometry"),
        D.link("Group Input", "Socket_3", "Counted", "Count"),
        D.link("Scale", "Geometry", "Join", "Geometry"), D.link("Counted", "Mesh", "Join", "Geometry"),
        D.link("Join", "Geometry", "Group Output", "Socket_0"),
    ]
    doc = D.program({"Main": D.group(nodes, links, inputs=iface)})
    return compile_program(program_from_dict(doc))


def _stats(mod):
    return mod.group_main._shapeprog_traces.stats


def test_replay_equals_the_plain_program_values_and_gradients(monkeypatch):
    mod = _program()
    w = torch.tensor([0.5, 1.5, 2.0], dtype=torch.float64)
    tall = torch.tensor([0.9, 0.8, 0.7], dtype=torch.float64)
    outs = []
    for _ in range(4):  # slow, traced, replayed, replayed
        x = w.clone().requires_grad_(True)
        m = mod.program({"Count": 4}, {"Width": x, "Tall": tall})
        (g,) = torch.autograd.grad((m.verts ** 2).sum(), x)
        outs.append((m.verts.detach(), m.polygons(), g))
    assert _stats(mod)["replayed"] >= 1 and _stats(mod)["traced"] == 1
    for v, p, g in outs[1:]:
        assert torch.equal(v, outs[0][0]) and p == outs[0][1] and torch.allclose(g, outs[0][2])
    monkeypatch.setenv("SHAPEPROG_TRACE", "0")
    m = mod.program({"Count": 4}, {"Width": w, "Tall": tall})
    assert torch.equal(m.verts, outs[0][0])


def test_a_value_dependent_branch_is_guarded():
    mod = _program()
    w = torch.tensor([1.0], dtype=torch.float64)
    for _ in range(3):  # traced with Tall > 0.5: the long line (5 points)
        m = mod.program({}, {"Width": w, "Tall": torch.tensor([0.9], dtype=torch.float64)})
    assert m.num_verts == 5 + 3
    # same key (shapes, discrete values), but the condition flips: the guard catches it
    m = mod.program({}, {"Width": w, "Tall": torch.tensor([0.1], dtype=torch.float64)})
    assert m.num_verts == 2 + 3
    assert _stats(mod)["guard_misses"] == 1


def test_discrete_values_and_shapes_key_the_cache():
    mod = _program()
    for count in (2, 3, 2, 3, 2, 3):
        m = mod.program({"Count": count}, {"Width": torch.ones(2), "Tall": torch.zeros(2)})
        assert m.num_verts == 2 + count
    for b in (1, 4):
        for _ in range(3):
            m = mod.program({}, {"Width": torch.ones(b), "Tall": torch.zeros(b)})
            assert m.verts.shape == (b, 5, 3)
    assert _stats(mod)["guard_misses"] == 0


@pytest.mark.parametrize("count", [0, 1])
def test_python_floats_take_the_plain_path(count):
    mod = _program()
    for _ in range(3):
        m = mod.program({"Count": count}, {"Width": 2.0})
    assert _stats(mod)["traced"] == 0 and m.verts.shape[0] == 1


def test_a_key_whose_trace_fails_stays_on_the_plain_path(monkeypatch):
    """A trace that fails is not tried again on later calls with the same key (each try costs a whole evaluation
    under the tracer); the results stay the plain program's."""
    from translator import tracing

    mod = _program()
    tries = []

    def failing_trace(*args, **kwargs):
        tries.append(1)
        raise RuntimeError("the tracer cannot record this")

    monkeypatch.setattr(tracing.torch.jit, "trace", failing_trace)
    w = torch.tensor([0.5, 1.5], dtype=torch.float64)
    for _ in range(6):
        m = mod.program({"Count": 4}, {"Width": w, "Tall": torch.tensor([0.9, 0.8], dtype=torch.float64)})
        assert m.num_verts == 5 + 4
    assert len(tries) == 1
    assert _stats(mod)["untraceable"] == 1 and _stats(mod)["traced"] == 0 and _stats(mod)["slow"] == 6


def _size_guards(fn, *example):
    """Trace ``fn`` recording its conversions; returns (recorded, kept) as :class:`TraceCache` decides them."""
    import warnings

    from translator.tracing import _GuardRecorder, _size_only_values

    out = {}

    def traced(*xs):
        with _GuardRecorder() as rec:
            y = fn(*xs)
        fixed = _size_only_values(torch._C._get_tracing_state().graph())
        out["recorded"] = len(rec.tensors)
        out["kept"] = sum(1 for v in rec.values if v is None or v not in fixed)
        return y

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(traced, example, check_trace=False, strict=False)
    return out["recorded"], out["kept"]


def test_guards_on_static_sizes_are_dropped_and_data_dependent_ones_kept():
    x = torch.randn(2, 5, 3)

    def static(x):
        y = (x * 2.0).reshape(2, -1)
        n, b = int(y.shape[1]), int(x.shape[0])  # sizes fixed by the input shape
        flag = bool(x.shape[0] == 1)
        return y[:, : n // 3] * b * float(flag)

    assert _size_guards(static, x) == (3, 0)

    def nonzero(x):
        m = torch.nonzero(x[0, :, 0] > 0)  # how many rows: a data-dependent size
        return x[:, : int(m.shape[0])]

    assert _size_guards(nonzero, x) == (1, 1)

    def masked(x):
        sel = x[0, :, 0][x[0, :, 0] > 0]  # boolean indexing
        return x * int(sel.numel())

    assert _size_guards(masked, x) == (1, 1)

    def value(x):
        return x * float(x.sum())  # a value, never a size

    assert _size_guards(value, x) == (1, 1)


def test_replay_keeps_fewer_guards_than_it_recorded_and_still_catches_a_changed_branch():
    """On a program whose sizes are read while it runs, the replayed graph holds fewer guards than were
    recorded (the static sizes' are gone), and the value-dependent branch still leaves the replay."""
    mod = _program()
    w = torch.tensor([1.0], dtype=torch.float64)
    for _ in range(3):
        mod.program({}, {"Width": w, "Tall": torch.tensor([0.9], dtype=torch.float64)})
    (entry,) = [e for e in mod.group_main._shapeprog_traces.entries.values() if hasattr(e, "fn")]
    assert 1 <= entry.guards_kept < entry.guards_recorded
    m = mod.program({}, {"Width": w, "Tall": torch.tensor([0.1], dtype=torch.float64)})
    assert m.num_verts == 2 + 3 and _stats(mod)["guard_misses"] == 1


def test_a_repeated_call_reuses_its_resolved_arguments_but_not_their_checks_or_values():
    """Calls with the same names, discrete values and tensor shapes reuse one resolution of the parameters
    (the plan); what differs in type or value is resolved (and checked) again, and the tensors are always
    the call's own."""
    from translator.runtime import ParameterError

    mod = _program()
    for tall in (0.9, 0.8, 0.7, 0.1, 0.9):  # one plan, traced and replayed, each call with its own Tall
        m = mod.program({"Count": 2}, {"Width": torch.ones(1), "Tall": torch.tensor([tall])})
        assert m.num_verts == (5 if tall > 0.5 else 2) + 2
    assert len(mod.group_main._shapeprog_plans) == 1 and _stats(mod)["replayed"] >= 1
    with pytest.raises(ParameterError, match="integer"):  # True is not the integer 1 that resolved before
        mod.program({"Count": True}, {"Width": torch.ones(1), "Tall": torch.zeros(1)})
    with pytest.raises(ParameterError, match="batch size"):
        mod.program({"Count": 2}, {"Width": torch.ones(2), "Tall": torch.zeros(3)})
    m = mod.program({"Count": torch.tensor(3)}, {"Width": torch.ones(1), "Tall": torch.zeros(1)})  # a tensor's value decides
    assert m.num_verts == 2 + 3
    assert len(mod.group_main._shapeprog_plans) == 1


def test_the_guard_vector_stacks_scalar_guards_and_keeps_their_values():
    from translator.tracing import _guard_vector

    t = [torch.tensor(True), torch.tensor(3), torch.tensor([1, 2]), torch.tensor(False), torch.tensor(2.5)]
    v = _guard_vector(t, torch.device("cpu"))
    assert v.dtype == torch.float64 and sorted(v.tolist()) == sorted([1.0, 3.0, 1.0, 2.0, 0.0, 2.5])
    assert _guard_vector([torch.tensor(True)], torch.device("cpu")).tolist() == [1.0]


def test_constant_gathers_replay_as_index_select_with_the_same_values_and_gradients():
    """A recorded trace's gathers by one constant, non-negative 1-D index (also one computed from constants)
    become ``index_select``; a negative, boolean, multi-dimensional or input-dependent index keeps ``aten::index``."""
    from translator.tracing import _with_index_select

    const = torch.tensor([2, 0, 1, 1])

    def f(x, pick):
        a = x[:, const] * 2.0  # constant index along dim 1
        b = x[torch.arange(4) % 2]  # computed from constants, along dim 0
        c = x[:, torch.tensor([-1, 0])]  # negative entries: kept
        d = x[:, :, torch.tensor([[0, 1], [1, 0]])]  # 2-D index: kept
        e = x[:, torch.tensor([True, False, True])]  # boolean mask: kept
        g = x[:, pick]  # an input: kept
        return a.sum() + b.sum() + (c * c).sum() + d.sum() + e.sum() + (g * a[:, :2]).sum()

    x = torch.randn(2, 3, 3, dtype=torch.float64)
    pick = torch.tensor([1, 2])
    with warnings.catch_warnings():  # the tracer's notes on constants and deprecation
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(f, (x, pick), check_trace=False)
        plain = torch.jit.trace(lambda x: x * 2.0, (x,))
    fast, done = _with_index_select(traced)
    assert done == 2
    kinds = [n.kind() for n in fast.graph.nodes()]
    assert kinds.count("aten::index_select") == 2 and kinds.count("aten::index") == 4
    for _ in range(3):  # the executor's profiling runs, then its optimized graph
        xs = [torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True) for _ in range(2)]
        xs[1].data.copy_(xs[0].data)
        ya, yb = traced(xs[0], pick), fast(xs[1], pick)
        assert torch.equal(ya, yb)
        (ga,), (gb,) = torch.autograd.grad(ya, xs[0]), torch.autograd.grad(yb, xs[1])
        torch.testing.assert_close(ga, gb, atol=1e-12, rtol=0)
    assert _with_index_select(plain) == (plain, 0)
