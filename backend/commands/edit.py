"""``shapeprog edit``: change values of a fit result and re-evaluate it (``fit --init`` refits from it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..command import Command, UserError


@dataclass
class EditConfig:
    result: str
    """A result.json written by `shapeprog fit`."""
    set: tuple[str, ...] = ()
    """New values NAME=VALUE."""
    output: str = field(default=None, metadata={"short": "-o"})  # type: ignore[assignment]
    """Output: a directory (result.json + fitted.ply/.obj) or a mesh file (.ply / .obj)."""
    program: str | None = None
    """The program, when the one recorded in result.json has moved."""


def run(cfg: EditConfig) -> int:
    from dataclasses import replace

    import torch

    from translator.codegen import compile_program
    from translator.geometry import write_obj, write_ply
    from translator.loading import load_any
    from translator.params import check_values, parameter_space, parse_assignments, split_values

    from ..fit import FitError, load_result
    from ..io.outputs import prepare_dir, prepare_file
    from ..ops.pose import apply_pose

    if not cfg.output:
        raise UserError("-o/--output is required")
    if Path(cfg.output).suffix.lower() in (".ply", ".obj"):
        prepare_file(cfg.output, (".ply", ".obj"), "mesh")
    else:
        prepare_dir(cfg.output)
    try:
        data = load_result(cfg.result)
    except FitError as exc:
        raise UserError(str(exc)) from None
    prog_path = cfg.program or data.get("program")
    if not prog_path or not Path(prog_path).exists():
        raise UserError(f"{cfg.result}: program {prog_path!r} not found; pass --program")
    prog = load_any(prog_path)
    space = parameter_space(prog, analyze=False)
    values = check_values(space, {**data["discrete"], **data["continuous"]}, where=cfg.result)
    values.update(parse_assignments(space, cfg.set))
    disc, cont = split_values(space, values)
    mesh = compile_program(prog).program(disc, cont)
    pose = torch.tensor(data["world_from_program"], dtype=torch.float64)
    mesh = replace(mesh, verts=apply_pose(mesh.verts.double(), pose.unsqueeze(0)).float())
    out = Path(cfg.output)
    if out.suffix.lower() in (".ply", ".obj"):
        (write_ply if out.suffix.lower() == ".ply" else write_obj)(mesh, out)
        print(f"wrote {out}")
        return 0
    data["discrete"] = {k: v for k, v in values.items() if space[k].kind == "discrete"}
    data["continuous"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items() if space[k].kind == "continuous"}
    data["edited"] = list(cfg.set)
    data["program"] = prog_path
    (out / "result.json").write_text(json.dumps(data, indent=1) + "\n")
    write_ply(mesh, out / "fitted.ply")
    write_obj(mesh, out / "fitted.obj")
    print(f"wrote result.json, fitted.ply, fitted.obj to {out}")
    return 0


COMMAND = Command(name="edit", help="edit a fit result's values and re-evaluate it",
                  config=EditConfig, run=run, positional=("result",))
