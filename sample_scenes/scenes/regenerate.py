"""Regenerate the committed sample scans in this folder (deterministic: same files every run).

    python sample_scenes/scenes/regenerate.py            # all samples
    python sample_scenes/scenes/regenerate.py chair_s1   # some of them

Each sample is ``shapeprog synth`` of one of the project's own programs
(``sample_scenes/programs/NAME.json``) with a fixed seed, at 160x120 pixels and
6 views. When a program's ``.json`` is not there yet, it is built first from
``sample_scenes/programs/build/NAME.py`` into a temporary folder (needs bpy).
``ground_truth.json`` records the program as ``sample_scenes/programs/NAME.json``
and its SHA-256: when a program changes, ``tests/sample_scenes/test_scenes.py`` asks for this
script to be run again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCENES = Path(__file__).resolve().parent
PROGRAMS = ROOT / "sample_scenes" / "programs"

# name: (program, seed, occluders, noise)
SAMPLES = {
    "chair_s1": ("chair", 1, 0, "scannet"),
    "table_s2": ("table", 2, 1, "scannet"),
    "cabinet_s3": ("cabinet", 3, 0, "scannet"),
    "sofa_s4": ("sofa", 4, 1, "scannet"),
}
VIEWS, WIDTH, HEIGHT = 6, 160, 120


def program_file(name: str, tmp: Path) -> Path:
    """The program's IR: the committed one, or a fresh build from its build script."""
    committed = PROGRAMS / f"{name}.json"
    if committed.is_file():
        return committed
    script = PROGRAMS / "build" / f"{name}.py"
    subprocess.run([sys.executable, str(script), str(tmp)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return tmp / f"{name}.json"


def regenerate(names: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    from backend.synth import CaptureSettings, NoiseSettings, load_shape_program, synthesize

    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            prog_name, seed, occluders, noise = SAMPLES[name]
            path = program_file(prog_name, Path(tmp))
            program = load_shape_program(path)
            out = SCENES / name
            if out.exists():
                shutil.rmtree(out)
            synthesize(program, out, seed, noise=NoiseSettings(kind=noise),
                       capture=CaptureSettings(views=VIEWS, width=WIDTH, height=HEIGHT, occluders=occluders))
            gt_path = out / "ground_truth.json"
            gt = json.loads(gt_path.read_text())
            gt["program"] = f"sample_scenes/programs/{prog_name}.json"
            gt_path.write_text(json.dumps(gt, indent=1) + "\n")
            size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            print(f"{name}: {prog_name} seed {seed}, {gt['object_points']['count']} object points, {size / 1024:.0f} KiB")


if __name__ == "__main__":
    wanted = sys.argv[1:] or list(SAMPLES)
    unknown = [n for n in wanted if n not in SAMPLES]
    if unknown:
        sys.exit(f"regenerate.py: unknown sample(s) {', '.join(unknown)} (have: {', '.join(SAMPLES)})")
    regenerate(wanted)
