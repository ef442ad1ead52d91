"""``shapeprog fit --server URL``: the same fit, run by a job service (:mod:`backend.client`), with the
same progress bar and the same output folder as a local fit (result.json records the local inputs, so
``shapeprog fit --config result.json`` reruns it here, and the service's job under ``provenance.server``).
Ctrl-C cancels the remote job and keeps its best result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..command import UserError

__all__ = ["run_remote"]


def _program_ref(inputs: Any, prog: Any) -> str | dict:
    """A library program by name (the service has it, with its .blend); anything else as its IR."""
    from ..library import PROGRAMS_DIR, program_names, resolve_program

    path = Path(resolve_program(inputs.program)).resolve()
    for name in program_names():
        if path == (PROGRAMS_DIR / f"{name}.json").resolve():
            return name
    return prog.to_dict()


def run_remote(cfg: Any, prog: Any, fcfg: Any, recorded_inputs: dict) -> int:
    """Run ``cfg`` (a :class:`~backend.commands.fit.FitCommandConfig`) on ``cfg.server``."""
    from rich.console import Console

    from ..client import Client, ClientError, scan_payload
    from ..fit import FitConfig
    from ..options import config_to_dict

    inputs = cfg.inputs
    if inputs.ranges:
        raise UserError("--ranges cannot travel with --server (give the ranges in the program's interface)")
    if inputs.object_id is not None or inputs.scan2cad:
        raise UserError("with --server, send one object: a .ply scan or a frame folder (not a ScanNet scene)")
    if (inputs.scan is None) == (inputs.frames is None):
        raise UserError("with --server, give one of --scan FILE.ply or --frames DIR")
    try:
        scan = scan_payload(inputs.scan or inputs.frames, inputs.instance_id, inputs.every, inputs.max_frames)
    except (ValueError, OSError) as exc:
        raise UserError(str(exc)) from None
    config = config_to_dict(fcfg)
    if config["device"] == FitConfig().device:
        config.pop("device")  # the server's --device decides
    console = Console(stderr=True)
    with Client(cfg.server) as client:
        try:
            job = client.submit(_program_ref(inputs, prog), scan, {"config": config}, label=Path(cfg.output).name)
            console.print(f"job {job['id']} on {cfg.server}")
            job = _follow(client, job, fcfg.method, cfg.quiet, console)
            if job["state"] == "failed":
                raise UserError(f"the service's fit failed: {job['error']}")
            if "result.json" not in job["files"]:
                raise UserError(f"job {job['id']} {job['state']} without a result" + (f": {job['error']}" if job["error"] else ""))
            client.download(job["id"], cfg.output)
        except ClientError as exc:
            raise UserError(f"{cfg.server}: {exc.detail}" if exc.status else exc.detail) from None
    out = Path(cfg.output)
    data = json.loads((out / "result.json").read_text())
    data.setdefault("provenance", {})["inputs"] = recorded_inputs
    data["provenance"]["server"] = {"url": cfg.server, "job": job["id"]}
    (out / "result.json").write_text(json.dumps(data, indent=1) + "\n")
    print(f"objective {data['objective']:.5g} ({', '.join(f'{k} {v:.4g}' for k, v in data['terms'].items())})")
    for k, v in {**data["discrete"], **data["continuous"]}.items():
        print(f"  {k} = {v if not isinstance(v, float) else round(v, 4)}")
    for w in data.get("warnings", []):
        print(f"warning: {w}")
    if data.get("status") == "interrupted":
        print("warning: cancelled: the result is the best candidate found so far")
    print(f"wrote {', '.join(job['files'])} to {cfg.output}")
    return 0


def _follow(client: Any, job: dict, method: str, quiet: bool, console: Any) -> dict:
    """Wait for the job with a progress bar; Ctrl-C cancels it and waits for its best result."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    try:
        if quiet:
            return client.wait(job["id"])
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                      TimeElapsedColumn(), console=console, transient=False) as bar:
            task = bar.add_task(f"fit {method} (remote)", total=1.0, info="queued")

            def progress(j: dict) -> None:
                p = j.get("progress") or {}
                info = j["state"] if not p else f"step {p.get('step', 0)} best {p.get('best_objective') or 0:.4g}"
                bar.update(task, completed=p.get("fraction", 0.0), info=info)

            job = client.wait(job["id"], on_progress=progress)
            bar.update(task, completed=1.0 if job["state"] == "succeeded" else None)
            return job
    except KeyboardInterrupt:
        console.print(f"cancelling job {job['id']} (its best result so far is kept)")
        client.cancel(job["id"])
        return client.wait(job["id"], timeout=60)
