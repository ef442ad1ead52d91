"""``shapeprog bench serve``: how fast the job service answers while its workers fit.

Starts ``shapeprog serve`` in a child process (a temporary data dir, ``--workers`` = ``--fits``),
submits ``--fits`` fits of a library program to a bundled sample scan with a budget longer than the
measurement, waits until every fit is running, then polls at ``--rate`` requests per second for
``--duration`` seconds, alternating a job's status (``GET /v1/jobs/{id}``) and ``GET /v1/health``, each
on its own schedule tick (a late tick is sent at once, never skipped). It prints the p50/p95/max
latency of each, how busy the machine's CPUs were meanwhile, and last ``p95_status_ms=<x>`` (target:
<= 50 ms with every core fitting).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass

from ..command import Command, UserError

__all__ = ["ServeBenchConfig", "run"]


@dataclass
class ServeBenchConfig:
    fits: int = 2
    """Fits running while the client polls (2 keeps both cores of a 2-core machine busy)."""
    rate: float = 50.0
    """Requests per second, status and health alternating."""
    duration: float = 20.0
    """Seconds of polling."""
    program: str = "chair"
    """Library program to fit."""
    scan: str = "chair_s1"
    """Bundled sample scan (sample_scenes/scenes/NAME/object_points.ply)."""
    nice: int = 10
    """The server's --nice (the workers' lower CPU priority); 0 to see the API compete with the fits as equals."""


def _cpu_times() -> tuple[float, float]:
    with open("/proc/stat") as f:
        parts = [float(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0.0)
    return sum(parts), idle


def _stats(ms: list[float]) -> str:
    if not ms:
        return "n=0"
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [ms[0]] * 99
    return f"n={len(ms)} p50={statistics.median(ms):.1f} ms p95={q[94]:.1f} ms max={max(ms):.1f} ms"


def run(cfg: ServeBenchConfig) -> int:
    import httpx

    from ..client import Client, scan_payload
    from ..library import SCENES_DIR, program_names
    from ..service.process import ServerProcess

    if cfg.fits < 1 or cfg.rate <= 0 or cfg.duration <= 0:
        raise UserError("--fits, --rate and --duration must be positive")
    if cfg.program not in program_names():
        raise UserError(f"--program: not a library program ({', '.join(program_names())})")
    scan = SCENES_DIR / cfg.scan / "object_points.ply"
    if not scan.is_file():
        raise UserError(f"--scan: no sample scan {scan}")
    with tempfile.TemporaryDirectory(prefix="shapeprog-bench-serve-") as tmp:
        server = ServerProcess(tmp, "--workers", str(cfg.fits), "--nice", str(cfg.nice), "--log-level", "warning")
        server.start()
        try:
            with Client(server.url) as client:
                payload = scan_payload(scan)
                ids = [client.submit(cfg.program, payload, {"budget": cfg.duration + 120, "seed": i}, label=f"bench {i}")["id"]
                       for i in range(cfg.fits)]
                deadline = time.monotonic() + 120
                while any((client.job(j).get("progress") or {}).get("step", 0) < 1 for j in ids):
                    if time.monotonic() > deadline:
                        raise UserError("the fits did not start within 120 s")
                    time.sleep(0.5)
                status_ms: list[float] = []
                health_ms: list[float] = []
                errors = 0
                period = 1.0 / cfg.rate
                n = int(cfg.rate * cfg.duration)
                with httpx.Client(base_url=server.url, timeout=10) as http:
                    total0, idle0 = _cpu_times()
                    t0 = time.perf_counter()
                    for i in range(n):
                        wait = t0 + i * period - time.perf_counter()
                        if wait > 0:
                            time.sleep(wait)
                        path = f"/v1/jobs/{ids[i // 2 % len(ids)]}" if i % 2 == 0 else "/v1/health"
                        s = time.perf_counter()
                        r = http.get(path)
                        ms = 1000 * (time.perf_counter() - s)
                        if r.status_code != 200:
                            errors += 1
                        (status_ms if i % 2 == 0 else health_ms).append(ms)
                    wall = time.perf_counter() - t0
                    total1, idle1 = _cpu_times()
                busy = 100.0 * (1 - (idle1 - idle0) / max(total1 - total0, 1e-9))
                running = sum(client.job(j)["state"] == "running" for j in ids)
                for j in ids:
                    client.cancel(j)
        finally:
            server.stop()
    print(f"bench serve: {cfg.fits} fits of {cfg.program} running ({running} still running at the end, server --nice "
          f"{cfg.nice}); client at {cfg.rate:g} req/s for {wall:.1f} s ({n} requests, {errors} errors); "
          f"machine CPUs busy {busy:.0f}%")
    print(f"  status (GET /v1/jobs/ID): {_stats(status_ms)}")
    print(f"  health (GET /v1/health):  {_stats(health_ms)}")
    p95 = statistics.quantiles(status_ms, n=100, method="inclusive")[94] if len(status_ms) > 1 else status_ms[0]
    print(f"p95_status_ms={p95:.1f}")
    return 0


BENCHMARK = Command(name="serve", help="the job service's status/health latency while its workers fit",
                    config=ServeBenchConfig, run=run)
