"""Synthetic RGB-D scans with ground truth: the data ShapeProg is tested and benchmarked on.

:func:`synthesize` samples a program's parameters and an object pose, renders
RGB-D frames around the object the way a hand-held indoor scan sees it, spoils
the depth with a Kinect-like noise model and writes ScanNet's exported frame
layout plus the ground truth::

    DIR/color/N.jpg                    shaded RGB (Lambertian, head light)
    DIR/depth/N.png                    uint16 millimetres, 0 = no measurement
    DIR/intrinsic/intrinsic_depth.txt  4x4 (also intrinsic_color.txt: the same camera)
    DIR/pose/N.txt                     4x4 camera-to-world (ScanNet convention)
    DIR/instance-filt/N.png            uint8 instance ids: object 1, occluders 2.., floor 0
    DIR/object_points.ply              fused object points: noisy depth inside the object's mask
    DIR/object_mesh.ply                the true object mesh in world coordinates
    DIR/ground_truth.json              program, parameters, pose, seed, noise and capture settings

Scene: the object stands on a floor plane ``z = 0`` (its lowest point on the
floor), rotated by ``yaw`` about +Z and moved on the floor. Cameras: ``views``
hand-held poses on an arc of 90-200 degrees around it whose middle is within 45
degrees of the object's front (the program's -Y side), at 1.2-1.8 m height and
1-3 m distance (further for large objects, so that they fit the view, but with their
nearer half within the sensor's range ``max_depth``), looking at the object with
small aiming and roll jitter; the floor is in view.

Noise (``scannet``), per pixel, following Nguyen, Izadi and Lovell (3DIMPVT
2012) for Kinect-like sensors, with ``theta`` the angle between the surface
normal and the viewing ray:

* lateral: the depth is read from a pixel offset by ``N(0, sigma_L)``,
  ``sigma_L = (0.8 + 0.035 theta / (pi/2 - theta)) * W / 640`` pixels;
* axial: ``z += N(0, sigma_z)``, ``sigma_z = 0.0012 + 0.0019 (z - 0.4)^2 +
  0.0001 / sqrt(z) * theta^2 / (pi/2 - theta)^2`` metres;
* missing pixels: at grazing angles (probability rising linearly from 0 at
  75 degrees to 1 at 88), at depth edges (a 4-neighbour more than 5% of the
  depth away, or no surface), at random (1%), and outside 0.3-5 m;
* quantisation to millimetres (the PNG format).

``none`` keeps the exact render (quantised to millimetres).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from translator.geometry import write_ply
from translator.params import ParameterSpace

from .cameras import Cameras
from .io import write_matrix, write_point_cloud
from .render import RasterSettings, render

__all__ = [
    "OBJECT_ID",
    "CaptureSettings",
    "NoiseSettings",
    "ShapeProgram",
    "SynthError",
    "SynthResult",
    "apply_depth_noise",
    "box_mesh",
    "depth_sigma",
    "floor_grid",
    "load_shape_program",
    "sample_cameras",
    "sample_parameters",
    "synthesize",
]

OBJECT_ID = 1
"""Instance id of the object in ``instance-filt/N.png``; occluders get 2, 3, ...; the floor 0."""


class SynthError(ValueError):
    """A synthetic scan cannot be made (empty mesh, object not in view, bad settings); one line."""


@dataclass
class NoiseSettings:
    """Depth sensor model (see the module docstring for the formulas)."""

    kind: str = "scannet"
    """'scannet' (Kinect-like noise and missing pixels) or 'none' (exact depth, quantised to mm)."""
    axial_base: float = 0.0012
    """sigma_z constant term (m)."""
    axial_quad: float = 0.0019
    """sigma_z quadratic term (m / m^2) around axial_z0."""
    axial_z0: float = 0.4
    """Depth (m) where the quadratic term vanishes."""
    axial_angle: float = 0.0001
    """sigma_z angle term: axial_angle / sqrt(z) * theta^2 / (pi/2 - theta)^2 (m)."""
    lateral_px: float = 0.8
    """Lateral noise at normal incidence, in pixels of a 640-pixel-wide image (scaled to the image width)."""
    grazing_start_deg: float = 75.0
    """Incidence angle where pixels start to go missing."""
    grazing_end_deg: float = 88.0
    """Incidence angle beyond which every pixel is missing."""
    edge_jump: float = 0.05
    """A pixel is on a depth edge when a 4-neighbour's depth differs by more than this fraction of its depth."""
    edge_drop: float = 0.6
    """Probability that a depth-edge pixel is missing."""
    dropout: float = 0.01
    """Probability that any pixel is missing."""
    min_depth: float = 0.3
    """Nearest measurable depth (m)."""
    max_depth: float = 5.0
    """Farthest measurable depth (m)."""
    quantization: float = 0.001
    """Depth step (m) of the stored values."""

    def __post_init__(self) -> None:
        if self.kind not in ("scannet", "none"):
            raise SynthError(f"noise must be 'scannet' or 'none', got {self.kind!r}")
        if not 0 <= self.grazing_start_deg < self.grazing_end_deg <= 90:
            raise SynthError("grazing angles must satisfy 0 <= start < end <= 90 degrees")
        for name in ("edge_drop", "dropout"):
            if not 0 <= getattr(self, name) <= 1:
                raise SynthError(f"{name} must be a probability, got {getattr(self, name)}")


@dataclass
class CaptureSettings:
    """How the hand-held scan is taken."""

    views: int = 6
    """Number of RGB-D frames."""
    width: int = 160
    """Image width in pixels."""
    height: int = 120
    """Image height in pixels."""
    fx_per_width: float = 577.59 / 640
    """Focal length in units of the image width (ScanNet's depth camera: 577.6 px at 640 px)."""
    arc_deg: tuple[float, float] = (90.0, 200.0)
    """Range of the arc (degrees) the views spread over."""
    facing_deg: float = 45.0
    """The arc's middle lies within this many degrees of the object's front (-Y in the program's frame):
    furniture is scanned from where people use it (its back is often against a wall), so the views
    always include its front. 180 puts the arc anywhere around the object."""
    height_m: tuple[float, float] = (1.2, 1.8)
    """Range of the sensor height above the floor (m)."""
    distance_m: tuple[float, float] = (1.0, 3.0)
    """Range of the distance from the object's centre (m); raised so that the object fits the view."""
    occluders: int = 0
    """Number of random box occluders standing between the cameras and the object."""
    floor_size: float = 10.0
    """Side of the square floor around the object (m)."""
    floor_cell: float = 0.25
    """Floor tessellation (m); the renderer culls triangles crossing the camera plane, so keep cells small."""

    def __post_init__(self) -> None:
        if self.views < 1:
            raise SynthError(f"views must be >= 1, got {self.views}")
        if self.width < 8 or self.height < 8:
            raise SynthError(f"image size must be at least 8x8, got {self.width}x{self.height}")
        for name in ("arc_deg", "height_m", "distance_m"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise SynthError(f"{name} must be a range 0 < low <= high, got ({lo}, {hi})")
        if self.occluders < 0:
            raise SynthError(f"occluders must be >= 0, got {self.occluders}")
        if not 0 <= self.facing_deg <= 180:
            raise SynthError(f"facing_deg must be within 0..180 degrees, got {self.facing_deg}")

    def intrinsics(self) -> list[float]:
        """``[fx, fy, cx, cy]`` (square pixels, principal point at the image centre)."""
        f = self.fx_per_width * self.width
        return [f, f, (self.width - 1) / 2, (self.height - 1) / 2]


# ---------------------------------------------------------------------------
# Programs and parameters


@dataclass
class ShapeProgram:
    """What synthesis needs of a shape program.

    Attributes:
        name: a short name (the file stem).
        space: its :class:`translator.params.ParameterSpace` (ranges, defaults, choices).
        evaluate: ``(discrete, continuous) -> MeshBatch`` (the generated module's ``program``).
        path: the program file ("" for programs built in code).
    """

    name: str
    space: Any
    evaluate: Callable[[dict, dict], Any]
    path: str = ""


def load_shape_program(path: str | Path, ranges: str | Path | None = None, object_name: str | None = None) -> ShapeProgram:
    """Load an IR ``.json`` (or a ``.blend`` with bpy), translate it and derive its parameter space."""
    from translator.codegen import check_supported, compile_program
    from translator.loading import load_any
    from translator.params import parameter_space

    prog = load_any(path, object_name)
    check_supported(prog)
    module = compile_program(prog)
    return ShapeProgram(Path(path).stem, parameter_space(prog, ranges), module.program, str(path))


def sample_parameters(space: ParameterSpace, rng: np.random.Generator, fixed: dict[str, Any] | None = None) -> tuple[dict, dict, dict]:
    """Draw every parameter of ``space``.

    Ranges: uniform in ``[low, high]`` for continuous parameters with a range, uniform over
    ``choices`` for discrete ones. Without a finite range a float is ``default * U(0.8, 1.2)``
    (per component for vectors) and an int keeps its default. ``fixed`` values are taken as given.

    Returns ``(discrete, continuous, how)``: values by name (vectors as 3-tuples) and, per name,
    how it was drawn.
    """
    fixed = fixed or {}
    discrete: dict[str, Any] = {}
    continuous: dict[str, Any] = {}
    how: dict[str, str] = {}
    for p in space:
        target = continuous if p.kind == "continuous" else discrete
        if p.name in fixed:
            target[p.name] = fixed[p.name]
            how[p.name] = "fixed"
        elif p.kind == "continuous" and p.low is not None:
            if p.type == "VECTOR":
                target[p.name] = tuple(float(rng.uniform(lo, hi)) for lo, hi in zip(p.low, p.high))
                how[p.name] = f"uniform {tuple(p.low)}..{tuple(p.high)}"
            else:
                target[p.name] = float(rng.uniform(p.low, p.high))
                how[p.name] = f"uniform {p.low:g}..{p.high:g}"
        elif p.kind == "continuous":
            if p.type == "VECTOR":
                target[p.name] = tuple(float(d) * float(rng.uniform(0.8, 1.2)) for d in p.default)
            else:
                target[p.name] = float(p.default) * float(rng.uniform(0.8, 1.2))
            how[p.name] = "default * U(0.8, 1.2) (no finite range)"
        elif p.choices:
            target[p.name] = p.choices[int(rng.integers(len(p.choices)))]
            how[p.name] = "uniform over choices"
        else:
            target[p.name] = p.default
            how[p.name] = "default (no finite range)"
    return discrete, continuous, how


def _evaluate(program: ShapeProgram, discrete: dict, continuous: dict):
    """The program's mesh (a ``MeshBatch`` of one, float64) for one parameter set."""
    cont = {k: torch.tensor([v], dtype=torch.float64) for k, v in continuous.items()}
    mesh = program.evaluate(dict(discrete), cont)
    if mesh.num_faces == 0 or mesh.num_verts == 0 or mesh.triangles().shape[0] == 0:
        raise SynthError(f"{program.path or program.name}: the program makes no faces for the sampled parameters")
    return mesh[0].to(dtype=torch.float64)


# ---------------------------------------------------------------------------
# Scene geometry


def box_mesh(center: Any, size: Any, yaw: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A closed box: ``verts (8, 3)`` float64 and ``triangles (12, 3)``; ``center`` is the box centre."""
    hx, hy, hz = (float(s) / 2 for s in size)
    corners = torch.tensor([[sx * hx, sy * hy, sz * hz] for sz in (-1, 1) for sy in (-1, 1) for sx in (-1, 1)], dtype=torch.float64)
    c, s = math.cos(yaw), math.sin(yaw)
    rot = torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=torch.float64)
    verts = corners @ rot.T + torch.as_tensor(center, dtype=torch.float64)
    quads = [[0, 2, 3, 1], [4, 5, 7, 6], [0, 1, 5, 4], [2, 6, 7, 3], [0, 4, 6, 2], [1, 3, 7, 5]]
    tris = torch.tensor([[q[0], q[k], q[k + 1]] for q in quads for k in (1, 2)], dtype=torch.long)
    return verts, tris


def floor_grid(center_xy: Any, size: float, cell: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A square floor at ``z = 0``: ``verts (V, 3)`` float64 and ``triangles (T, 3)``."""
    n = max(1, math.ceil(size / cell))
    g = torch.linspace(-size / 2, size / 2, n + 1, dtype=torch.float64)
    x, y = torch.meshgrid(g + float(center_xy[0]), g + float(center_xy[1]), indexing="ij")
    verts = torch.stack([x.reshape(-1), y.reshape(-1), torch.zeros((n + 1) ** 2, dtype=torch.float64)], 1)
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    a = (i * (n + 1) + j).reshape(-1)
    tris = torch.cat([torch.stack([a, a + n + 1, a + n + 2], 1), torch.stack([a, a + n + 2, a + 1], 1)])
    return verts, tris


def _yaw_matrix(yaw: float, translation: Any) -> torch.Tensor:
    m = torch.eye(4, dtype=torch.float64)
    c, s = math.cos(yaw), math.sin(yaw)
    m[:2, :2] = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    m[:3, 3] = torch.as_tensor(translation, dtype=torch.float64)
    return m


_DISTANCE_JITTER = 0.08  # relative spread of the views' distances around the drawn one


def sample_cameras(center: Any, radius: float, top: float, capture: CaptureSettings, rng: np.random.Generator,
                   front: float = 0.0, max_range: float = math.inf, footprint: float | None = None) -> tuple[Cameras, dict]:
    """Hand-held views of an object with bounding-sphere ``radius`` around ``center`` (3,) whose top is at
    ``top`` (m): on an arc whose middle lies within ``capture.facing_deg`` of the azimuth ``front``
    (radians, world frame: the direction the object's front faces), at sensor height and distance drawn
    from ``capture``, aimed at the object with jitter and a small roll. Returns the cameras (float64)
    and what was drawn. The distance grows with the object so that it fits the view, but the object's nearer
    half (``footprint / 2`` beyond ``center``; ``footprint``: its points' largest horizontal distance from it,
    default ``radius``) stays within ``max_range`` (m) from every view: a person scanning a corner sofa walks up
    to it rather than stepping back to where the sensor measures nothing (it overflows the views a little)."""
    f, _, cx, cy = capture.intrinsics()
    half_fov = math.atan(min(cx, cy) / f)
    lo, hi = capture.distance_m
    need = radius / math.sin(half_fov) * 0.9  # fits (up to a small crop) in the narrower field of view
    near, far = max(lo, need), max(hi, need + 0.5)
    reach = (max_range - 0.5 * (radius if footprint is None else footprint)) / (1 + _DISTANCE_JITTER)
    if reach < far:  # beyond the sensor's range: come closer (never nearer than the capture's own range)
        far = max(reach, lo)
        near = min(near, far)
    dist = float(rng.uniform(near, far))
    arc = math.radians(float(rng.uniform(*capture.arc_deg)))
    facing = math.radians(capture.facing_deg)
    start = front + float(rng.uniform(-facing, facing)) - arc / 2
    n = capture.views
    steps = np.linspace(0, arc, n) if n > 1 else np.array([arc / 2])
    jitter = (arc / max(n - 1, 1)) * 0.1
    angles = start + steps + rng.uniform(-jitter, jitter, n)
    base_h = float(rng.uniform(*capture.height_m))
    heights = np.clip(base_h + rng.normal(0, 0.05, n), capture.height_m[0] - 0.1, capture.height_m[1] + 0.1)
    heights = np.maximum(heights, top + 0.2)  # look down onto the object and the floor
    dists = dist * (1 + rng.uniform(-_DISTANCE_JITTER, _DISTANCE_JITTER, n))
    c = np.asarray(center, dtype=np.float64)
    eye = np.stack([c[0] + dists * np.cos(angles), c[1] + dists * np.sin(angles), heights], 1)
    target = c[None, :] + rng.normal(0, 0.05 * radius, (n, 3))
    cams = Cameras.look_at(torch.from_numpy(eye), torch.from_numpy(target), intrinsics=torch.tensor(capture.intrinsics(), dtype=torch.float64),
                           width=capture.width, height=capture.height).to(dtype=torch.float64)
    roll = rng.uniform(-math.radians(3), math.radians(3), n)
    pose = cams.cam_to_world.clone()
    for k in range(n):
        cr, sr = math.cos(roll[k]), math.sin(roll[k])
        rz = torch.tensor([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]], dtype=torch.float64)
        pose[k, :3, :3] = pose[k, :3, :3] @ rz
    cams = Cameras(intrinsics=cams.intrinsics, cam_to_world=pose, width=capture.width, height=capture.height)
    info = {"arc_deg": math.degrees(arc), "start_deg": math.degrees(start) % 360, "distance_m": dist,
            "sensor_height_m": base_h, "view_angles_deg": [math.degrees(a) % 360 for a in angles]}
    return cams, info


# ---------------------------------------------------------------------------
# Noise


def depth_sigma(z: np.ndarray, theta: np.ndarray, noise: NoiseSettings) -> np.ndarray:
    """Axial noise std (m) at depth ``z`` (m) and incidence angle ``theta`` (rad), same shapes."""
    th = np.minimum(theta, math.radians(min(noise.grazing_end_deg, 89.0)))
    ang = noise.axial_angle / np.sqrt(np.maximum(z, 1e-6)) * th**2 / (math.pi / 2 - th) ** 2
    return noise.axial_base + noise.axial_quad * (z - noise.axial_z0) ** 2 + ang


def _depth_edges(depth: np.ndarray, jump: float) -> np.ndarray:
    """``(C, H, W)`` bool: surface pixels with a 4-neighbour that is background or more than
    ``jump * depth`` away (image borders replicate)."""
    p = np.pad(depth, ((0, 0), (1, 1), (1, 1)), mode="edge")
    edge = np.zeros(depth.shape, dtype=bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        nb = p[:, dy:dy + depth.shape[1], dx:dx + depth.shape[2]]
        edge |= (nb <= 0) | (np.abs(nb - depth) > jump * depth)
    return edge & (depth > 0)


def apply_depth_noise(depth: np.ndarray, cos_incidence: np.ndarray, noise: NoiseSettings, rng: np.random.Generator,
                      extra: list[np.ndarray] | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Spoil clean depth like a Kinect-like sensor.

    Args:
        depth: ``(C, H, W)`` float64 metres, 0 where nothing was hit.
        cos_incidence: ``(C, H, W)`` |cos| of the angle between surface normal and viewing ray.
        extra: per-pixel arrays ``(C, H, W)`` that move with the lateral noise (e.g. colors' source ids).

    Returns the noisy depth ``(C, H, W)`` float64 (0 = missing, quantised) and ``extra`` resampled
    the same way.
    """
    extra = list(extra or [])
    if noise.kind == "none":
        q = np.round(depth / noise.quantization) * noise.quantization
        return np.where(depth > 0, q, 0.0), extra
    c, h, w = depth.shape
    theta = np.arccos(np.clip(cos_incidence, 0.0, 1.0))
    # lateral: read each pixel from a neighbour offset by N(0, sigma_L) pixels (at 640 px wide)
    th = np.minimum(theta, math.radians(85))
    sig_l = (noise.lateral_px + 0.035 * th / (math.pi / 2 - th)) * (w / 640.0)
    dv = np.rint(rng.normal(0, 1, depth.shape) * sig_l).astype(np.int64)
    du = np.rint(rng.normal(0, 1, depth.shape) * sig_l).astype(np.int64)
    ci, vi, ui = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    vs, us = np.clip(vi + dv, 0, h - 1), np.clip(ui + du, 0, w - 1)
    edges = _depth_edges(depth, noise.edge_jump)[ci, vs, us]
    z = depth[ci, vs, us]
    theta = theta[ci, vs, us]
    extra = [e[ci, vs, us] for e in extra]
    hit = z > 0
    noisy = z + rng.normal(0, 1, z.shape) * depth_sigma(z, theta, noise)
    g0, g1 = math.radians(noise.grazing_start_deg), math.radians(noise.grazing_end_deg)
    p_grazing = np.clip((theta - g0) / (g1 - g0), 0.0, 1.0)
    missing = rng.uniform(size=z.shape) < p_grazing
    missing |= edges & (rng.uniform(size=z.shape) < noise.edge_drop)
    missing |= rng.uniform(size=z.shape) < noise.dropout
    missing |= (noisy < noise.min_depth) | (noisy > noise.max_depth)
    q = np.round(noisy / noise.quantization) * noise.quantization
    return np.where(hit & ~missing, q, 0.0), extra


# ---------------------------------------------------------------------------
# Synthesis


@dataclass
class SynthResult:
    """What :func:`synthesize` wrote and drew.

    Attributes:
        folder: the output folder.
        ground_truth: the contents of ``ground_truth.json``.
        depth: ``(C, H, W)`` float64 noisy depth (metres, 0 = missing) as written.
        clean_depth: ``(C, H, W)`` float64 exact depth of the rendered scene (0 = nothing hit).
        instances: ``(C, H, W)`` uint8 instance ids as written.
        cameras: the views.
        object_verts: ``(V, 3)`` float64 true object mesh in world coordinates; ``object_tris (T, 3)``.
        points: ``(P, 3)`` the fused object points written to ``object_points.ply``.
    """

    folder: Path
    ground_truth: dict
    depth: np.ndarray
    clean_depth: np.ndarray
    instances: np.ndarray
    cameras: Cameras
    object_verts: torch.Tensor
    object_tris: torch.Tensor
    points: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 3))


def _occluder_boxes(center: np.ndarray, radius: float, cams: Cameras, count: int, rng: np.random.Generator) -> list[dict]:
    """Boxes on the floor between the object and a camera (the middle views first), tall enough
    to hide the object's lower part from that camera: their tops reach 70-100% of the height of
    the sight line from the camera to the object's centre."""
    boxes = []
    eyes = cams.centers.numpy()
    for k in range(count):
        eye = eyes[(len(eyes) // 2 + k * max(1, len(eyes) // (count + 1))) % len(eyes)]
        d = eye[:2] - center[:2]
        dist = float(np.linalg.norm(d))
        footprint = np.array([rng.uniform(0.3, 0.6), rng.uniform(0.2, 0.4)])
        half_diag = 0.5 * float(np.hypot(*footprint))
        at = max(radius + half_diag + 0.05, dist * float(rng.uniform(0.35, 0.6)))
        xy = center[:2] + d / dist * at + rng.normal(0, 0.05, 2)
        top = (center[2] + (eye[2] - center[2]) * at / dist) * float(rng.uniform(0.7, 1.0))
        yaw = float(rng.uniform(0, math.pi))
        if at > dist - half_diag - 0.3:
            continue  # the camera is too close to fit an occluder in between
        boxes.append({"center": [float(xy[0]), float(xy[1]), top / 2], "size": [*footprint.tolist(), top],
                      "yaw": yaw, "instance_id": OBJECT_ID + 1 + len(boxes)})
    return boxes


def _sha256(path: str) -> str | None:
    """The program file's SHA-256 (tells whether a scan still matches its program), None without a file."""
    import hashlib

    p = Path(path) if path else None
    return hashlib.sha256(p.read_bytes()).hexdigest() if p is not None and p.is_file() else None


def _shade(normals_cam: torch.Tensor, rays: torch.Tensor, albedo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lambertian shading with a light at the camera plus ambient light and a little sensor noise."""
    cos = (normals_cam * rays).sum(-1).abs().numpy()
    rgb = albedo * (0.3 + 0.7 * cos[..., None])
    rgb = rgb + rng.normal(0, 0.01, rgb.shape)
    return np.clip(rgb, 0, 1)


def synthesize(program: ShapeProgram, out_dir: str | Path, seed: int = 0, *, noise: NoiseSettings | None = None,
               capture: CaptureSettings | None = None, fixed: dict[str, Any] | None = None,
               yaw: float | None = None, translation_xy: tuple[float, float] | None = None) -> SynthResult:
    """Sample parameters and a pose, render and spoil RGB-D frames, and write them with the ground truth.

    ``fixed`` pins parameters by name; ``yaw`` / ``translation_xy`` pin the pose. Everything else is
    drawn from ``numpy.random.default_rng(seed)``, so equal arguments write equal files.
    """
    noise = noise or NoiseSettings()
    capture = capture or CaptureSettings()
    rng = np.random.default_rng(seed)
    discrete, continuous, how = sample_parameters(program.space, rng, fixed)
    mesh = _evaluate(program, discrete, continuous)
    verts, tris = mesh.verts[0].detach(), mesh.triangles()
    yaw = float(rng.uniform(0, 2 * math.pi)) if yaw is None else float(yaw)
    txy = rng.uniform(-1.0, 1.0, 2) if translation_xy is None else np.asarray(translation_xy, dtype=np.float64)
    tz = 0.0 - float(verts[:, 2].min())  # stand on the floor (0.0 - : no -0.0 in the files)
    world_from_object = _yaw_matrix(yaw, [float(txy[0]), float(txy[1]), tz])
    obj_w = verts @ world_from_object[:3, :3].T + world_from_object[:3, 3]
    lo, hi = obj_w.min(0).values, obj_w.max(0).values
    center = ((lo + hi) / 2).numpy()
    radius = float((hi - lo).norm() / 2)
    top = float(hi[2])
    front = yaw - math.pi / 2  # the program's front faces -Y
    footprint = float((obj_w[:, :2] - torch.as_tensor(center[:2])).norm(dim=1).max())
    cams, cam_info = sample_cameras(center, radius, top, capture, rng, front, noise.max_depth, footprint)
    boxes = _occluder_boxes(center, radius, cams, capture.occluders, rng)

    # the scene: object, floor, occluders (triangle ranges tell them apart)
    parts = [(obj_w, tris, OBJECT_ID)]
    parts.append((*floor_grid(center[:2], capture.floor_size, capture.floor_cell), 0))
    parts += [(*box_mesh(b["center"], b["size"], b["yaw"]), b["instance_id"]) for b in boxes]
    all_v, all_t, tri_ids, off = [], [], [], 0
    for v, t, ident in parts:
        all_v.append(v)
        all_t.append(t + off)
        tri_ids.append(torch.full((len(t),), ident, dtype=torch.long))
        off += len(v)
    scene_v, scene_t, tri_id = torch.cat(all_v), torch.cat(all_t), torch.cat(tri_ids)
    out = render(scene_v[None], scene_t, cams, RasterSettings(silhouette=False, znear=0.05))
    clean = out.depth[0].detach().numpy().astype(np.float64)  # (C, H, W)
    face = out.face_index[0]
    hit = face >= 0
    fidx = face.clamp(min=0)
    instances = torch.where(hit, tri_id[fidx], torch.zeros_like(fidx)).numpy().astype(np.uint8)
    if not (instances == OBJECT_ID).any():
        raise SynthError(f"{program.name}: the object is not visible in any view (seed {seed})")

    # incidence angles and shading need the visible triangle's normal in camera coordinates
    tv = scene_v[scene_t]
    nrm = torch.linalg.cross(tv[:, 1] - tv[:, 0], tv[:, 2] - tv[:, 0], dim=1)
    nrm = nrm / nrm.norm(dim=1, keepdim=True).clamp(min=1e-30)
    rays = cams.pixel_rays(torch.float64)
    rays = rays / rays.norm(dim=-1, keepdim=True)
    n_cam = torch.einsum("cji,chwj->chwi", cams.rotation, nrm[fidx])  # R^T n per pixel
    cos_inc = (n_cam * rays).sum(-1).abs().numpy()
    depth, (inst_moved,) = apply_depth_noise(clean, cos_inc, noise, rng, [instances])
    del inst_moved  # masks come from the clean render (annotations project the mesh, not the noisy depth)

    # colors: a pastel object, a checker floor, grey occluders, a pale wall behind
    palette = {0: None, OBJECT_ID: rng.uniform(0.35, 0.9, 3)}
    for b in boxes:
        palette[b["instance_id"]] = rng.uniform(0.3, 0.6) * np.ones(3)
    world, _ = cams.backproject(torch.from_numpy(clean))
    checker = ((torch.floor(world[..., 0] / 0.5) + torch.floor(world[..., 1] / 0.5)) % 2).numpy()
    albedo = np.empty(clean.shape + (3,))
    albedo[...] = np.array([0.85, 0.85, 0.8])
    floor = hit.numpy() & (instances == 0)
    albedo[floor] = np.where(checker[floor][:, None] > 0, [0.55, 0.45, 0.35], [0.7, 0.6, 0.5])
    for ident, col in palette.items():
        if col is not None:
            albedo[instances == ident] = col
    rgb = _shade(n_cam, rays, albedo, rng)
    rgb[~hit.numpy()] = np.array([0.85, 0.85, 0.8])

    folder = Path(out_dir)
    _write_frames(folder, cams, depth, rgb, instances)
    mask = torch.from_numpy((instances == OBJECT_ID) & (depth > 0))
    pts_all, _ = cams.backproject(torch.from_numpy(depth))
    points = pts_all[mask].float()
    colors = torch.from_numpy(rgb)[mask].float()
    write_point_cloud(folder / "object_points.ply", points, colors)
    write_ply(replace(mesh, verts=obj_w[None]), folder / "object_mesh.ply")

    gt = {
        "program": program.path,
        "program_name": program.name,
        "program_sha256": _sha256(program.path),
        "seed": int(seed),
        "parameters": {"discrete": discrete, "continuous": {k: list(v) if isinstance(v, tuple) else v for k, v in continuous.items()}},
        "sampling": how,
        "pose": {"world_from_object": world_from_object.tolist(), "yaw": yaw,
                 "translation": world_from_object[:3, 3].tolist()},
        "object_instance_id": OBJECT_ID,
        "floor_z": 0.0,
        "occluders": boxes,
        "noise": asdict(noise),
        "capture": {**asdict(capture), "intrinsics": capture.intrinsics(), **cam_info},
        "frames": capture.views,
        "object_mesh": {"file": "object_mesh.ply", "vertices": len(verts), "triangles": len(tris)},
        "object_points": {"file": "object_points.ply", "count": len(points)},
        "visible_fraction": float((instances == OBJECT_ID).mean()),
    }
    (folder / "ground_truth.json").write_text(json.dumps(gt, indent=1) + "\n")
    return SynthResult(folder, gt, depth, clean, instances, cams, obj_w, tris, points)


def _write_frames(folder: Path, cams: Cameras, depth: np.ndarray, rgb: np.ndarray, instances: np.ndarray) -> None:
    from PIL import Image

    for sub in ("color", "depth", "pose", "intrinsic", "instance-filt"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    fx, fy, cx, cy = cams.intrinsics[0].tolist()
    k = [[fx, 0, cx, 0], [0, fy, cy, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    write_matrix(folder / "intrinsic" / "intrinsic_depth.txt", k)
    write_matrix(folder / "intrinsic" / "intrinsic_color.txt", k)
    for i in range(len(cams)):
        mm = np.clip(np.round(depth[i] * 1000.0), 0, 65535).astype(np.uint16)
        Image.fromarray(mm).save(folder / "depth" / f"{i}.png")
        Image.fromarray(np.round(rgb[i] * 255).astype(np.uint8)).save(folder / "color" / f"{i}.jpg", quality=90)
        Image.fromarray(instances[i]).save(folder / "instance-filt" / f"{i}.png")
        write_matrix(folder / "pose" / f"{i}.txt", cams.cam_to_world[i].numpy())
