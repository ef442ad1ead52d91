"""A fit's output folder: ``result.json``, the fitted mesh (``fitted.ply``, ``fitted.obj``), a
``fitted.blend`` with the modifier and transform set (when bpy is installed and the program's .blend
is known) and ``report.png``."""

from __future__ import annotations

import json
import time
from pathlib import Path

from translator.geometry import write_obj, write_ply
from translator.ir import Program

from ..structures import Observations
from .blend import write_fitted_blend
from .report import write_report
from .result import FitResult

__all__ = ["write_outputs"]


def write_outputs(result: FitResult, out_dir: str | Path, program: Program,
                  observations: Observations | None = None) -> dict[str, str]:
    """Write result.json, fitted.ply, fitted.obj, fitted.blend (bpy) and report.png (with
    ``observations``) into ``out_dir``; returns ``{kind: path}`` of what was written. With ``observations``
    the result's scan-fit metrics (``scan_fit``) are computed first unless it has them."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    t0 = time.perf_counter()
    write_ply(result.mesh, out / "fitted.ply")
    write_obj(result.mesh, out / "fitted.obj")
    files["ply"], files["obj"] = str(out / "fitted.ply"), str(out / "fitted.obj")
    blend, why = write_fitted_blend(result, program, out / "fitted.blend")
    if blend:
        files["blend"] = blend
    else:
        result.warnings.append(f"no fitted.blend: {why}")
    if observations is not None and not result.scan_fit and result.mesh is not None:
        from ..scan_metrics import observation_metrics

        result.scan_fit = observation_metrics(result.mesh.verts[0].detach(), result.mesh.triangles(), observations)
    if observations is not None:
        write_report(result, observations, out / "report.png")
        files["report"] = str(out / "report.png")
    result.timings["outputs_s"] = time.perf_counter() - t0
    (out / "result.json").write_text(json.dumps(result.to_json(), indent=1) + "\n")
    files["result"] = str(out / "result.json")
    return files
