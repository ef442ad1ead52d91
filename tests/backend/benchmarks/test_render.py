"""shapeprog bench render: a smoke run, and its fallback table built in code (closed and outward)."""

import math

import torch


def test_bench_render_smoke(capsys):
    from backend.cli import main

    rc = main(["bench", "render", "--program", "/nonexistent/table.blend", "--candidates", "2", "--views", "2", "--width", "20",
               "--height", "16", "--scan-points", "60", "--samples", "40", "--repeats", "1"])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    assert "built in code" in out[0] and "no such file" in out[0]
    last = dict(kv.split("=") for kv in out[-1].split())
    assert set(last) == {"render_fwd_bwd_s", "chamfer_fwd_bwd_s", "peak_mem_gb"}
    assert all(float(v) >= 0 for v in last.values())
    exact = [line for line in out if line.startswith("exact scan->mesh nearest triangles (2 candidates x 60 points")]
    assert len(exact) == 1 and "torch sweep" in exact[0]


def test_bench_fallback_table_is_closed_and_outward():
    from backend.benchmarks.render import _code_table

    verts, faces = _code_table(torch.tensor([[1.2, 0.8, 0.75, 0.05, 0.03]], dtype=torch.float64))
    edges = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    # every directed edge appears once and its reverse once: closed and consistently oriented
    keys = set(map(tuple, edges.tolist()))
    assert len(keys) == edges.shape[0] and all((b, a) in keys for a, b in keys)
    tri = verts[0][faces]
    volume = (tri[:, 0] * torch.linalg.cross(tri[:, 1], tri[:, 2], dim=-1)).sum() / 6
    legs = 4 * (0.75 - 0.05) * 0.5 * 16 * 0.03 ** 2 * math.sin(2 * math.pi / 16)
    torch.testing.assert_close(volume, torch.tensor(1.2 * 0.8 * 0.05 + legs, dtype=torch.float64))
