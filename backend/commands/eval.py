"""``shapeprog eval``: evaluate a program for parameter values and write meshes (OBJ/PLY)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..command import Command, UserError
from ..evaluate import evaluate_sets, load_parameter_sets


@dataclass
class EvalConfig:
    program: str
    """The program: an IR .json or a .blend (needs bpy)."""
    set: tuple[str, ...] = ()
    """Parameter values NAME=VALUE (vectors as x,y,z); others keep the program's defaults."""
    output: str | None = field(default=None, metadata={"short": "-o"})
    """Output mesh (-o), .obj or .ply, in Blender's vertex and polygon order."""
    params_file: str | None = None
    """A JSON list of {parameter name: value} objects; writes OUT_DIR/0000.obj, 0001.obj, ... in list order."""
    out_dir: str | None = None
    """Directory for --params-file outputs."""
    format: str = "obj"
    """Mesh format for --params-file outputs: obj or ply."""
    object: str | None = None
    """Object in the .blend whose geometry-nodes modifier holds the program."""
    max_elements: int = 100_000_000
    """Refuse to evaluate when one node would make more vertices and face corners than this."""


def _write(mesh, path: Path, index: int = 0) -> None:
    """Write ``mesh`` as .obj or .ply by ``path``'s suffix (checked up front by ``prepare_file``)."""
    from translator.geometry import write_obj, write_ply

    (write_obj if path.suffix.lower() == ".obj" else write_ply)(mesh, path, index)


def run(cfg: EvalConfig) -> int:
    from translator.codegen import compile_program
    from translator.loading import load_any
    from translator.params import parameter_space, parse_assignments
    from translator.runtime import eval_context

    from ..io.outputs import prepare_dir, prepare_file

    if (cfg.output is None) == (cfg.params_file is None):
        raise UserError("give either -o/--output OUT.(obj|ply) or --params-file SETS.json with --out-dir DIR")
    if cfg.format not in ("obj", "ply"):
        raise UserError(f"--format must be obj or ply, got {cfg.format!r}")
    if cfg.output:
        prepare_file(cfg.output, (".obj", ".ply"), "mesh")
    elif not cfg.out_dir:
        raise UserError("--params-file needs --out-dir DIR")
    else:
        prepare_dir(cfg.out_dir, "--out-dir folder")
    if cfg.max_elements < 1:
        raise UserError(f"--max-elements must be at least 1, got {cfg.max_elements}")
    prog = load_any(cfg.program, cfg.object)
    module = compile_program(prog)
    space = parameter_space(prog, analyze=False)
    base = parse_assignments(space, cfg.set)
    limit = eval_context(max_elements=cfg.max_elements)
    if cfg.output:
        with limit:
            (mesh,) = evaluate_sets(module, space, [base])
        _write(mesh, Path(cfg.output))
        print(f"wrote {cfg.output} ({mesh.num_verts} vertices, {mesh.num_faces} faces)")
        return 0
    sets = load_parameter_sets(cfg.params_file, space, base)
    out = Path(cfg.out_dir)
    with limit:
        meshes = evaluate_sets(module, space, sets)
    for i, mesh in enumerate(meshes):
        _write(mesh, out / f"{i:04d}.{cfg.format}")
    print(f"wrote {len(meshes)} meshes to {out}")
    return 0


COMMAND = Command(name="eval", help="evaluate a program for parameter values and write OBJ/PLY meshes",
                  config=EvalConfig, run=run, positional=("program",))
