"""``shapeprog bench render``: renderer and Chamfer speed on a batch of candidate tables.

Renders ``--candidates`` random perturbations of a program's continuous
parameters (default: the table of ``../shared/reference_programs/table.blend``,
evaluated by the translator) into ``--views`` cameras, times forward and
forward+backward of depth + soft silhouette, and the one-sided Chamfer loss
from ``--scan-points`` points (sampled from the unperturbed shape, 5 mm noise)
to the same candidates. When the program cannot be loaded or translated (no
bpy, no file, unsupported nodes), the candidates come from a table built in
code (box top, four 16-sided legs, 252 triangles) and the output says so.

Peak memory is the growth of the process's peak resident set size
(``ru_maxrss``) over the measurements (torch's allocations are not visible to
tracemalloc). Times are wall-clock, best and median of ``--repeats`` runs (the
machine may be shared: the load average is printed). The last line is the
headline, with the best times:
``render_fwd_bwd_s=... chamfer_fwd_bwd_s=... peak_mem_gb=...``.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..command import Command, UserError

_DEFAULT_PROGRAM = Path(__file__).resolve().parents[3] / "shared" / "reference_programs" / "table.blend"


@dataclass
class RenderBenchConfig:
    program: str = str(_DEFAULT_PROGRAM)
    """Program to perturb (.blend needs bpy, or an IR .json); a built-in table is used when it cannot be evaluated."""
    candidates: int = 64
    """Number of candidate meshes (random perturbations of the program's continuous parameters)."""
    views: int = 4
    """Number of camera views around the object."""
    width: int = 160
    """Image width in pixels."""
    height: int = 120
    """Image height in pixels."""
    scan_points: int = 5000
    """Scan points for the Chamfer loss."""
    samples: int = 2000
    """Surface samples per candidate for the Chamfer loss."""
    perturbation: float = 0.15
    """Relative perturbation of every continuous parameter (uniform in +- this fraction of its default)."""
    repeats: int = 5
    """Timed runs per figure after one warm-up run (best and median are printed; the headline uses the best)."""
    sigma: float = 0.5
    """Soft-silhouette sharpness in pixels."""
    cull_backfaces: bool = False
    """Drop back faces (exact for closed meshes)."""
    threads: int = 0
    """torch CPU threads (0: leave torch's default)."""
    seed: int = 0
    """Random seed for perturbations and scan points."""


def _perturbed_program(cfg: RenderBenchConfig, gen: torch.Generator):
    """``(verts (N, V, 3), faces (F, 3), description)`` from the translated program."""
    from translator.codegen import compile_program
    from translator.loading import load_any

    prog = load_any(cfg.program)
    module = compile_program(prog)
    continuous, names = {}, []
    for p in module.PARAMETERS:
        if p.kind != "continuous":
            continue
        shape = (cfg.candidates,) if p.type == "VALUE" else (cfg.candidates, 3)
        default = torch.as_tensor(p.default, dtype=torch.float32).expand(shape)
        factor = 1 + cfg.perturbation * (2 * torch.rand(shape, generator=gen) - 1)
        continuous[p.name] = default * factor
        names.append(p.name)
    mesh = module.program({}, continuous)
    base = module.program({}, {})
    return mesh.verts.expand(cfg.candidates, -1, -1), mesh.triangles(), base.verts, \
        f"{Path(cfg.program).name} via the translator (perturbed: {', '.join(names)})"


def _box(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Axis-aligned boxes ``lo, hi (B, 3)`` -> verts ``(B, 8, 3)``, faces ``(12, 3)`` (outward)."""
    bits = torch.tensor([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=lo.dtype)
    verts = lo[:, None] + bits[None] * (hi - lo)[:, None]
    faces = torch.tensor([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                          [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    return verts, faces


def _cylinder(center: torch.Tensor, radius: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor, sides: int = 16):
    """Closed cylinders (B,) -> verts ``(B, 2 sides, 3)``, faces ``(4 sides - 4, 3)`` (fan caps)."""
    a = torch.arange(sides, dtype=center.dtype) * (2 * math.pi / sides)
    ring = torch.stack([torch.cos(a), torch.sin(a)], -1)  # (S, 2)
    xy = center[:, None, :2] + radius[:, None, None] * ring[None]
    bottom = torch.cat([xy, z0[:, None, None].expand(-1, sides, 1)], -1)
    top = torch.cat([xy, z1[:, None, None].expand(-1, sides, 1)], -1)
    i = torch.arange(sides)
    j = (i + 1) % sides
    side = torch.cat([torch.stack([i, j, j + sides], 1), torch.stack([i, j + sides, i + sides], 1)])
    k = torch.arange(1, sides - 1)
    caps = torch.cat([torch.stack([torch.zeros_like(k), k + 1, k], 1), torch.stack([torch.zeros_like(k), k, k + 1], 1) + sides])
    return torch.cat([bottom, top], 1), torch.cat([side, caps])


def _code_table(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A table from ``params (B, 5)``: width, depth, height, top thickness, leg radius."""
    w, d, h, t, r = params.unbind(1)
    zero = torch.zeros_like(w)
    top_v, top_f = _box(torch.stack([-w / 2, -d / 2, h - t], 1), torch.stack([w / 2, d / 2, h], 1))
    verts, faces = [top_v], [top_f]
    offset = top_v.shape[1]
    for sx in (-1, 1):
        for sy in (-1, 1):
            c = torch.stack([sx * (w / 2 - 2 * r), sy * (d / 2 - 2 * r), zero], 1)
            lv, lf = _cylinder(c, r, zero, h - t)
            verts.append(lv)
            faces.append(lf + offset)
            offset += lv.shape[1]
    return torch.cat(verts, 1), torch.cat(faces)


def _fallback_table(cfg: RenderBenchConfig, gen: torch.Generator):
    base = torch.tensor([[1.2, 0.8, 0.75, 0.05, 0.03]])
    factor = 1 + cfg.perturbation * (2 * torch.rand((cfg.candidates, 5), generator=gen) - 1)
    verts, faces = _code_table(base * factor)
    return verts, faces, _code_table(base)[0], "a table built in code (box top, four 16-sided legs)"


def _cameras(verts: torch.Tensor, cfg: RenderBenchConfig):
    from ..cameras import Cameras

    lo, hi = verts.amin((0, 1)), verts.amax((0, 1))
    center = (lo + hi) / 2
    radius = float((hi - lo).norm()) / 2
    f = 577.87 * cfg.width / 640  # ScanNet's depth focal length, scaled
    fov = 2 * math.atan(0.5 * min(cfg.width, cfg.height) / f)
    dist = 1.15 * radius / math.sin(fov / 2)
    angles = torch.linspace(0.3, 0.3 + 1.5 * math.pi, cfg.views)
    eye = torch.stack([center[0] + dist * torch.cos(angles), center[1] + dist * torch.sin(angles),
                       torch.full((cfg.views,), float(center[2]) + 0.6 * dist)], 1)
    return Cameras.look_at(eye, center, intrinsics=[f, f, (cfg.width - 1) / 2, (cfg.height - 1) / 2],
                           width=cfg.width, height=cfg.height)


def _times(fn, repeats: int) -> tuple[float, float]:
    """(best, median) wall time of ``repeats`` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def _maxrss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kilobytes on Linux


def _exact_distance_times(scan: torch.Tensor, verts: torch.Tensor, faces: torch.Tensor, repeats: int) -> list[str]:
    """Lines of figures for the exact scan-to-mesh distance of the fit's objective
    (:class:`backend.ops.point_mesh.PointsToMesh`) on 8 of the candidates: the compiled nearest-triangle search
    with the scan in its spatial order (as the fit runs it) and as given, and the pure-torch sweep (its
    reference), side by side; and the whole distance's forward + backward."""
    from ..ops import native
    from ..ops.point_mesh import PointsToMesh

    tv = verts[:8, faces].detach()
    sweep = PointsToMesh(scan, backend="torch")
    t_sweep = _times(lambda: sweep.nearest(tv), repeats)
    head = f"exact scan->mesh nearest triangles ({tv.shape[0]} candidates x {scan.shape[0]} points x {tv.shape[1]} triangles)"
    if not native.available():
        return [f"{head}: torch sweep {t_sweep[0]:.4f} s (compiled kernels not available)"]
    fast = PointsToMesh(scan)
    given = scan.double().contiguous()
    t_given = _times(lambda: native.nearest_triangles(tv, given), repeats)
    t_fast = _times(lambda: fast.nearest(tv), repeats)
    v = verts[:8].detach()

    def distance_fb():
        x = v.clone().requires_grad_(True)
        fast(x[:, faces]).sum().backward()

    t_fb = _times(distance_fb, repeats)
    compared = (f"{head}: compiled, spatial order {t_fast[0]:.4f} s, as given {t_given[0]:.4f} s "
                f"({t_given[0] / t_fast[0]:.2f}x), torch sweep {t_sweep[0]:.4f} s ({t_sweep[0] / t_fast[0]:.1f}x)")
    return [compared, f"exact scan->mesh distance forward+backward: {t_fb[0]:.4f} s"]


def run(cfg: RenderBenchConfig) -> int:
    from ..losses import chamfer_scan_to_mesh
    from ..ops.sampling import sample_surface
    from ..render import RasterSettings, render

    if cfg.candidates < 1 or cfg.views < 1 or cfg.width < 1 or cfg.height < 1 or cfg.scan_points < 1 or cfg.samples < 1:
        raise UserError("candidates, views, width, height, scan-points and samples must be positive")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    gen = torch.Generator().manual_seed(cfg.seed)
    try:
        verts, faces, base, source = _perturbed_program(cfg, gen)
    except Exception as exc:  # noqa: BLE001  (any failure to load / translate / run the program: fall back, and say why)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        verts, faces, base, source = _fallback_table(cfg, gen)
        source += f" -- the program could not be used: {reason}"
    verts = verts.float().contiguous()
    cams = _cameras(verts, cfg)
    settings = RasterSettings(sigma=cfg.sigma, cull_backfaces=cfg.cull_backfaces)
    scan = sample_surface(base.float()[:1], faces, cfg.scan_points, seed=cfg.seed + 1).points[0]
    scan = scan + 0.005 * torch.randn(scan.shape, generator=gen)
    print(f"mesh: {source}")
    print(f"candidates: {verts.shape[0]} x {verts.shape[1]} vertices, {faces.shape[0]} triangles")
    print(f"views: {cfg.views} x {cfg.width}x{cfg.height}, sigma {settings.sigma} px, band {settings.band:.2f} px, "
          f"cull_backfaces {settings.cull_backfaces}")
    print(f"torch threads: {torch.get_num_threads()}, load average: {os.getloadavg()[0]:.1f}")
    rss0 = _maxrss_gb()

    def forward():
        return render(verts.detach().requires_grad_(True), faces, cams, settings)

    def forward_backward():
        v = verts.detach().requires_grad_(True)
        out = render(v, faces, cams, settings)
        (out.depth.sum() + out.silhouette.sum()).backward()

    def chamfer_forward():
        return chamfer_scan_to_mesh(scan, verts.detach().requires_grad_(True), faces, cfg.samples)

    def chamfer_forward_backward():
        chamfer_scan_to_mesh(scan, verts.detach().requires_grad_(True), faces, cfg.samples).sum().backward()

    out = forward()
    hit = float(out.mask.float().mean())
    soft = float(((out.silhouette > 0) & (out.silhouette < 1)).float().mean())
    del out
    t_fwd = _times(forward, cfg.repeats)
    t_fb = _times(forward_backward, cfg.repeats)
    c_fwd = _times(chamfer_forward, cfg.repeats)
    c_fb = _times(chamfer_forward_backward, cfg.repeats)
    peak = _maxrss_gb() - rss0
    exact = _exact_distance_times(scan, verts, faces, cfg.repeats)
    chamfer = f"chamfer scan->mesh ({cfg.scan_points} points, {cfg.samples} samples)"
    print(f"pixels hit: {100 * hit:.1f}%, soft silhouette pixels: {100 * soft:.1f}%")
    print(f"times: best / median of {cfg.repeats} runs")
    print(f"render depth+silhouette forward:          {t_fwd[0]:.3f} / {t_fwd[1]:.3f} s")
    print(f"render depth+silhouette forward+backward: {t_fb[0]:.3f} / {t_fb[1]:.3f} s   (target <= 1.0 s)")
    print(f"{chamfer} forward:          {c_fwd[0]:.3f} / {c_fwd[1]:.3f} s")
    print(f"{chamfer} forward+backward: {c_fb[0]:.3f} / {c_fb[1]:.3f} s   (target <= 0.2 s)")
    for line in exact:
        print(line)
    print(f"peak memory growth: {peak:.2f} GB (process peak {_maxrss_gb():.2f} GB; target <= 4 GB)")
    print(f"render_fwd_bwd_s={t_fb[0]:.3f} chamfer_fwd_bwd_s={c_fb[0]:.3f} peak_mem_gb={peak:.2f}")
    return 0


BENCHMARK = Command(name="render", help="renderer and Chamfer loss speed on candidate tables (prints figures; last line: headline)",
                    config=RenderBenchConfig, run=run)
