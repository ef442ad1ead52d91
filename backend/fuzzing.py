"""Fuzzing the front doors: hostile variations of valid inputs for every reader a user can reach.

A :class:`Target` makes one case from a ``random.Random`` (so that hypothesis drives it in the tests,
through ``st.randoms()``, and ``shapeprog bench fuzz`` runs the same targets with a seeded generator for
as long as asked), writes it into a folder and runs the code a user's input reaches. The outcome
(:func:`run_case`) is ``ok`` (accepted), ``clean`` (refused with a one-line user error:
:data:`backend.errors.USER_ERRORS`) or ``failure``: any other exception, or a message over several
lines. A failure is a bug.

Cases start from valid inputs (the library's chair program, a small PLY, a two-frame ScanNet folder, a
result.json, a ranges sidecar, a parameter sets file) and apply a few random mutations: values replaced
by hostile ones (NaN, infinities, 1e308, 10**400, huge counts, long strings, deep nesting), keys deleted
or added, types changed, files truncated, bytes flipped, files removed.
"""

from __future__ import annotations

import copy
import json
import random
import struct
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import USER_ERRORS, one_line
from .library import PROGRAMS_DIR

__all__ = ["HOSTILE_VALUES", "TARGETS", "Outcome", "Target", "mutate_json", "run_case"]

HOSTILE_VALUES: tuple[Any, ...] = (
    float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 3.5e38, 10**400, -(10**400), 2**31, 2**63, -1, 0,
    1e-320, "", "x" * 5000, "../../etc/passwd", "__import__('os')", "\u202e", None, True, False, [], {},
    [[[[[[[[1]]]]]]]], [1, 2], [0.0, float("nan"), 1.0], {"a": {"b": [None]}},
)
"""Values that have broken readers before."""


@dataclass
class Outcome:
    """What one case did: ``kind`` is ``ok``, ``clean`` or ``failure``; ``message`` the error (one line for
    ``clean``, the traceback's last lines for ``failure``); ``files`` the case's inputs."""

    kind: str
    message: str = ""
    files: list[Path] = field(default_factory=list)


@dataclass
class Target:
    """A fuzz target: ``make(rng, folder)`` writes a case's inputs into ``folder`` and returns the function that
    runs the user-facing code on them."""

    name: str
    make: Callable[[random.Random, Path], Callable[[], Any]]
    doc: str = ""


def run_case(target: Target, rng: random.Random, folder: Path) -> Outcome:
    """Make and run one case of ``target`` in ``folder`` (which must exist and be empty)."""
    action = target.make(rng, folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    try:
        action()
    except USER_ERRORS as exc:
        text = str(exc).strip()
        if "\n" in text:
            return Outcome("failure", f"a user error of several lines: {text[:300]!r}", files)
        return Outcome("clean", one_line(exc), files)
    except RecursionError:
        return Outcome("failure", "RecursionError", files)
    except Exception as exc:  # noqa: BLE001  (anything else is what the fuzzer is looking for)
        tail = "".join(traceback.format_exception(exc)[-3:]).strip()
        return Outcome("failure", f"{type(exc).__name__}: {exc} | {tail[-400:]}", files)
    return Outcome("ok", "", files)


# ---------------------------------------------------------------------------
# mutations


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indices) into a JSON tree, the root included."""
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def _get(data: Any, path: tuple) -> Any:
    for k in path:
        data = data[k]
    return data


def _hostile(rng: random.Random) -> Any:
    return copy.deepcopy(rng.choice(HOSTILE_VALUES))  # a copy: later mutations must not change the table


def mutate_json(data: Any, rng: random.Random, changes: int = 2) -> Any:
    """A copy of JSON data with ``changes`` random mutations: a value replaced by a hostile one or another
    value of the tree, a key deleted or added, a list element deleted or duplicated, a type changed."""
    data = copy.deepcopy(data)
    for _ in range(changes):
        paths = _paths(data)
        path = rng.choice(paths)
        if not path:
            continue
        parent, key = _get(data, path[:-1]), path[-1]
        op = rng.randrange(6)
        if op == 0:
            parent[key] = _hostile(rng)
        elif op == 1:
            parent[key] = copy.deepcopy(_get(data, rng.choice(paths)))
        elif op == 2 and isinstance(parent, dict):
            del parent[key]
        elif op == 3 and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]) if rng.random() < 0.5 else _hostile(rng))
            if rng.random() < 0.5:
                del parent[key + 1]
        elif op == 4 and isinstance(parent, dict):
            parent[rng.choice(["x", "name", "type", "default", "__proto__", "range", str(key) + "_"])] = _hostile(rng)
        else:
            v = parent[key]
            parent[key] = ([v] if not isinstance(v, list) else {"0": v}) if rng.random() < 0.5 else str(v)[:50]
    return data


def _dump(data: Any, rng: random.Random) -> str:
    text = json.dumps(data, allow_nan=True)
    if rng.random() < 0.1:  # truncated
        text = text[: rng.randrange(len(text) + 1)]
    return text


# ---------------------------------------------------------------------------
# targets


def _chair() -> dict:
    return json.loads((PROGRAMS_DIR / "chair.json").read_text())


def _ir(rng: random.Random, folder: Path) -> Callable[[], Any]:
    path = folder / "program.json"
    path.write_text(_dump(mutate_json(_chair(), rng, rng.randint(1, 3)), rng))

    def run() -> None:
        from translator.codegen import compile_program
        from translator.ir import load_program
        from translator.runtime import eval_context

        module = compile_program(load_program(path))
        with eval_context(max_elements=500_000):
            module.program({}, {})

    return run


def _ply_bytes(rng: random.Random) -> bytes:
    n = rng.randint(1, 60)
    pts = np.random.default_rng(rng.randrange(2**32)).normal(size=(n, 3)).astype("<f4")
    binary = rng.random() < 0.6
    header = ["ply", "format binary_little_endian 1.0" if binary else "format ascii 1.0", f"element vertex {n}",
              "property float x", "property float y", "property float z"]
    if rng.random() < 0.3:
        header += ["element face 1", "property list uchar int vertex_indices"]
    header.append("end_header")
    if rng.random() < 0.5:  # a header line changed
        i = rng.randrange(1, len(header))
        header[i] = rng.choice([f"element vertex {rng.choice([0, -1, 10**12, n + 5])}", "property double x",
                                "property char y", "format binary_big_endian 1.0", "element face 3", "", "comment x"])
    body = pts.tobytes() if binary else "\n".join(" ".join(str(x) for x in p) for p in pts).encode() + b"\n"
    if "element face 1" in header:
        body += struct.pack("<Biii", 3, 0, rng.choice([1, n, -1]), 2) if binary else b"3 0 1 99\n"
    data = bytearray(("\n".join(header) + "\n").encode() + body)
    for _ in range(rng.randint(0, 3)):  # flipped bytes
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    if rng.random() < 0.2:
        data = data[: rng.randrange(len(data) + 1)]
    return bytes(data)


def _ply(rng: random.Random, folder: Path) -> Callable[[], Any]:
    path = folder / "scan.ply"
    path.write_bytes(_ply_bytes(rng))

    def run() -> None:
        from .io import load_scan

        load_scan(path)

    return run


def _frames(rng: random.Random, folder: Path) -> Callable[[], Any]:
    from PIL import Image

    root = folder / "frames"
    for sub in ("depth", "pose", "intrinsic", "instance-filt", "color"):
        (root / sub).mkdir(parents=True)
    (root / "intrinsic" / "intrinsic_depth.txt").write_text("10 0 4 0\n0 10 3 0\n0 0 1 0\n0 0 0 1\n")
    for i in range(2):
        depth = np.full((6, 8), 1500, dtype=np.uint16)
        Image.fromarray(depth).save(root / "depth" / f"{i}.png")
        mask = np.zeros((6, 8), dtype=np.uint8)
        mask[2:5, 2:6] = 1
        Image.fromarray(mask).save(root / "instance-filt" / f"{i}.png")
        Image.fromarray(np.zeros((6, 8, 3), dtype=np.uint8)).save(root / "color" / f"{i}.jpg")
        (root / "pose" / f"{i}.txt").write_text(f"1 0 0 {i * 0.1}\n0 1 0 0\n0 0 1 0\n0 0 0 1\n")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for _ in range(rng.randint(1, 3)):
        f = rng.choice(files)
        if not f.exists():
            continue
        op = rng.randrange(5)
        if op == 0:
            f.unlink()
        elif op == 1:
            f.write_bytes(f.read_bytes()[: rng.randrange(max(1, f.stat().st_size))])
        elif op == 2 and f.suffix == ".txt":
            f.write_text(rng.choice(["nan 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n", "1 2\n3 4\n", "",
                                     "2 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n", "-inf " * 16,
                                     "1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\nx\n"]))
        elif op == 3 and f.suffix in (".png", ".jpg"):
            if f.parent.name == "depth" and rng.random() < 0.5:  # float depth in metres, possibly invalid
                f.unlink()
                np.save(f.with_suffix(".npy"), np.full((6, 8), rng.choice([np.nan, -1.0, 1.5]), dtype=np.float32))
            else:  # another size or pixel format
                modes = ["L", "RGB", "I;16"] if f.suffix == ".png" else ["L", "RGB"]
                Image.new(rng.choice(modes), rng.choice([(8, 6), (3, 3), (1000, 1)])).save(f)
        else:
            f.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 64))))
    instance = rng.choice([None, 1, 2])

    def run() -> None:
        from .io import load_frames
        from .object_frame import observations_from_frames

        observations_from_frames(load_frames(root, instance_id=instance))

    return run


def _chair_space():
    from translator.ir import load_program
    from translator.params import parameter_space

    return parameter_space(load_program(PROGRAMS_DIR / "chair.json"), analyze=False)


def _result(rng: random.Random, folder: Path) -> Callable[[], Any]:
    data = {"program": str(PROGRAMS_DIR / "chair.json"), "method": "mcts",
            "discrete": {"Leg Style": "Four Legs", "Slat Count": 4, "Has Armrests": False},
            "continuous": {"Seat Width": 0.46, "Seat Height": 0.45},
            "world_from_program": [[0.0, -1.0, 0.0, 0.5], [1.0, 0.0, 0.0, 0.2], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]}
    path = folder / "result.json"
    path.write_text(_dump(mutate_json(data, rng, rng.randint(1, 3)), rng))

    def run() -> None:  # what `shapeprog edit` and `fit --init` do with it
        from translator.params import check_values

        from .fit import load_result

        r = load_result(path)
        check_values(_chair_space(), {**r["discrete"], **r["continuous"]}, where=str(path))

    return run


def _ranges(rng: random.Random, folder: Path) -> Callable[[], Any]:
    data = {"parameters": {"Seat Width": {"range": [0.4, 0.6]}, "Slat Count": {"range": [2, 5]},
                           "Leg Style": {"choices": ["Four Legs", "Sled"]}}}
    path = folder / "chair.params.json"
    path.write_text(_dump(mutate_json(data, rng, rng.randint(1, 3)), rng))

    def run() -> None:
        from translator.ir import load_program
        from translator.params import parameter_space

        parameter_space(load_program(PROGRAMS_DIR / "chair.json"), path, analyze=False)

    return run


def _params_file(rng: random.Random, folder: Path) -> Callable[[], Any]:
    data = [{"Seat Width": 0.5, "Leg Style": "Sled"}, {"Slat Count": 3, "Has Armrests": True}]
    path = folder / "sets.json"
    path.write_text(_dump(mutate_json(data, rng, rng.randint(1, 3)), rng))

    def run() -> None:
        from .evaluate import load_parameter_sets

        load_parameter_sets(path, _chair_space())

    return run


_TEXT_PIECES = ("0", "1", "-", ".", "e", "5", "nan", "inf", "1e999", ",", " ", "(", ")", "true", "Sled", "Four Legs",
                "x", "\u00e9", "\x00", "=", "0x1F", "1_000", "9" * 30)


def _values(rng: random.Random, folder: Path) -> Callable[[], Any]:
    text = "".join(rng.choice(_TEXT_PIECES) for _ in range(rng.randint(0, 6)))
    name = rng.choice(["Seat Width", "Slat Count", "Leg Style", "Has Armrests", "Nope"])
    (folder / "value.txt").write_text(f"{name}={text}")

    def run() -> None:  # what --set / --lock do with it
        from translator.params import parse_assignments

        parse_assignments(_chair_space(), [f"{name}={text}"])

    return run


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("ir", _ir, "program IR JSON: load, translate, evaluate at the defaults"),
    Target("ply", _ply, "PLY point clouds and meshes (binary and ascii)"),
    Target("frames", _frames, "ScanNet RGB-D frame folders"),
    Target("result", _result, "result.json for edit / fit --init"),
    Target("ranges", _ranges, "parameter ranges sidecars"),
    Target("params-file", _params_file, "parameter sets files (eval --params-file)"),
    Target("values", _values, "NAME=VALUE command-line values (--set, --lock)"),
)}
"""The fuzz targets by name."""
