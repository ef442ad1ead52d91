"""``shapeprog bench translator PROGRAM [--batch N]``: translated-program speed vs Blender.

Prints single-evaluation latency, batched forward throughput, forward+backward
throughput and, when bpy is installed and the program comes from a .blend,
Blender's own re-evaluation rate measured in the same run. The last line is
``speedup_vs_blender=<batched throughput / Blender's rate>``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from ..command import Command, UserError


@dataclass
class TranslatorBenchConfig:
    program: str
    """The program: a .blend (Blender's rate is measured too, needs bpy) or an IR .json."""
    batch: int = 1024
    """Batch size for the throughput figures."""
    seconds: float = 2.0
    """Time budget for each measurement."""
    object: str | None = None
    """Object in the .blend whose geometry-nodes modifier holds the program."""
    blend: str | None = None
    """A .blend to measure Blender's rate on when PROGRAM is a .json."""
    threads: int = 1
    """torch CPU threads (0: torch's default). One is fastest for these small tensors on a shared 2-core machine."""


def _timeit(fn, seconds: float, min_runs: int = 5) -> list[float]:
    fn()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) > 100000:
            break
    return times


def _continuous_batch(space, batch: int, generator):
    import torch

    cont = {}
    for p in space.continuous:
        if p.type == "VALUE":
            base = torch.full((batch,), float(p.default))
            scale = 0.05 * max(abs(float(p.default)), 0.1)
            if p.low is not None:
                lo, hi = float(p.low), float(p.high)
                base = lo + (hi - lo) * torch.rand(batch, generator=generator)
            else:
                base = base + scale * (torch.rand(batch, generator=generator) - 0.5)
            cont[p.name] = base
        else:
            cont[p.name] = torch.tensor(p.default).expand(batch, 3).clone()
    return cont


def blender_rate(blend: str, object_name: str | None, seconds: float) -> tuple[float, float]:
    """Blender's re-evaluation rate (evaluations/s, one at a time) and its single-evaluation latency (s),
    alternating a float input so every evaluation recomputes the program."""
    import bpy
    import numpy as np

    from translator.blender_export import export_blend, find_geometry_nodes_modifier

    prog = export_blend(blend, object_name)
    obj = bpy.data.objects[prog.object]
    mod = find_geometry_nodes_modifier(obj)
    floats = [s for s in prog.entry_group.inputs if s.type == "VALUE"]
    key = floats[0].identifier if floats else None
    base = float(mod[key]) if key else 0.0
    dg = bpy.context.evaluated_depsgraph_get()
    state = {"i": 0}

    def once():
        state["i"] += 1
        if key:
            mod[key] = base * (1.0 + 1e-3 * (state["i"] % 2))
        obj.update_tag()
        dg.update()
        ev = obj.evaluated_get(dg)
        me = ev.to_mesh()
        buf = np.empty(len(me.vertices) * 3, dtype=np.float32)
        me.vertices.foreach_get("co", buf)
        ev.to_mesh_clear()

    times = _timeit(once, seconds, 20)
    if key:
        mod[key] = base
    med = statistics.median(times)
    return 1.0 / med, med


def run(cfg: TranslatorBenchConfig) -> int:
    import torch

    from translator.codegen import compile_program
    from translator.loading import has_bpy, load_any
    from translator.params import parameter_space

    if cfg.batch < 1:
        raise UserError("--batch must be >= 1")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    prog = load_any(cfg.program, cfg.object)
    module = compile_program(prog)
    space = parameter_space(prog, analyze=False)
    discrete = {p.name: p.default for p in space.discrete}
    gen = torch.Generator().manual_seed(0)
    single = _continuous_batch(space, 1, gen)
    batched = _continuous_batch(space, cfg.batch, gen)
    mesh = module.program(discrete, single)
    print(f"program: {cfg.program} (entry {prog.entry!r}, {sum(len(g.nodes) for g in prog.groups.values())} nodes)")
    print(f"mesh: {mesh.num_verts} vertices, {mesh.num_faces} faces; torch threads: {torch.get_num_threads()}")

    t_single = statistics.median(_timeit(lambda: module.program(discrete, single), cfg.seconds, 20))
    t_fwd = statistics.median(_timeit(lambda: module.program(discrete, batched), cfg.seconds))

    leaf = {k: v.clone().requires_grad_(True) for k, v in batched.items()}

    def fwd_bwd():
        m = module.program(discrete, leaf)
        m.verts.square().sum().backward()

    t_fb = statistics.median(_timeit(fwd_bwd, cfg.seconds))
    fwd_rate = cfg.batch / t_fwd
    fb_rate = cfg.batch / t_fb
    print(f"single_eval_latency_ms={t_single * 1e3:.3f}")
    print(f"batched_forward_evals_per_s={fwd_rate:,.0f} (batch {cfg.batch}, {t_fwd * 1e3:.2f} ms per batch)")
    print(f"batched_forward_backward_evals_per_s={fb_rate:,.0f} (batch {cfg.batch}, {t_fb * 1e3:.2f} ms per batch)")
    blend = cfg.blend or (cfg.program if cfg.program.lower().endswith(".blend") else None)
    if blend and has_bpy():
        rate, lat = blender_rate(blend, cfg.object, cfg.seconds)
        print(f"blender_evals_per_s={rate:,.0f} (single_eval_latency_ms={lat * 1e3:.3f})")
        print(f"single_latency_vs_blender={t_single / lat:.2f}x")
        print(f"speedup_vs_blender={fwd_rate / rate:.1f}")
    else:
        why = "bpy is not installed" if not has_bpy() else "no .blend given (--blend)"
        print(f"blender_evals_per_s=n/a ({why})")
        print("speedup_vs_blender=n/a")
    return 0


BENCHMARK = Command(name="translator", help="translated-program latency and throughput vs Blender",
                    config=TranslatorBenchConfig, run=run, positional=("program",))
