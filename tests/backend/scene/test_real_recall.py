"""Recall on real segments (issue #14): in a scene the fitting objective's ``mesh_to_scan`` term is the mean
over the surface the sensor could have seen, as the recall metric (backend/scan_metrics.py) counts it, so that
hidden surface (a back against a wall, the underside on the floor, the inside of a cabinet) does not dilute the
cost of seen surface the scan does not show. The real-scan test reads a ScanNet segment where it lies
(research-only data) and is skipped with a reason when ../shared is absent."""

from __future__ import annotations

import pytest
import torch

from backend.losses import robust_penalty
from backend.object_frame import observations_from_points
from backend.objective import Objective, ObjectiveConfig
from backend.ops.sampling import face_normals, sample_surface
from backend.structures import SceneContext
from tests.backend.test_occlusion import box_mesh
from tests.fixtures import ROOT

REAL = ROOT.parent / "shared" / "real_scans"


def _scene_objective(points: torch.Tensor, cfg: ObjectiveConfig) -> Objective:
    """The objective of a scan ``points (P, 3)`` of an object against a wall at y = 1, on a floor at z = 0."""
    wall_pts = torch.stack(torch.meshgrid(torch.linspace(-0.5, 1.5, 21), torch.tensor([1.0]), torch.linspace(0.0, 2.0, 21),
                                          indexing="ij"), -1).reshape(-1, 3)
    obs = observations_from_points(points, floor_z=0.0)
    obs.context = SceneContext(wall_pts, torch.tensor([[0.0, -1.0, 0.0, 1.0]], dtype=torch.float64), floor_z=0.0)
    return Objective(obs, torch.eye(4, dtype=torch.float64), cfg)


def _half_scanned_box() -> torch.Tensor:
    """A 1 m box against the wall whose scan shows only its upper half: ``(P, 3)`` points."""
    true = box_mesh([0, 0, 0], [1, 1, 1])
    s = sample_surface(true.verts.double(), true.triangles(), 4000, 0).points[0]
    return s[(s[:, 1] < 0.99) & (s[:, 2] > 0.5)].float()


def test_scene_mesh_to_scan_is_the_mean_over_the_seen_samples():
    cfg = ObjectiveConfig(scan_points=0, surface_samples=3000)
    scan = _half_scanned_box()
    obj = _scene_objective(scan, cfg)
    box = box_mesh([0, 0, 0], [1, 1, 1])
    verts, tris = box.verts, box.triangles()
    got = float(obj(verts, box.triangles())[1]["mesh_to_scan"][0])
    # the slow reference: every sample's distance to every scan point, the seen ones averaged
    s = sample_surface(verts, tris, cfg.surface_samples, obj.seed)
    d = torch.cdist(s.points[0].double(), scan.double()).min(1).values
    rho = robust_penalty(d.clamp_max(cfg.truncate), "huber", cfg.huber)
    sur = obj.surroundings
    seen = sur.visible_faces(verts[0], tris)[s.face[0]] & ~sur.hidden(s.points, face_normals(verts, tris, s.face))[0]
    assert 0.2 < float(seen.double().mean()) < 0.9  # the back and the bottom are hidden, not all the rest is scanned
    assert abs(got - float(rho[seen].mean())) <= 1e-4 * max(1.0, abs(got))


def test_hidden_surface_does_not_dilute_the_cost_of_the_unscanned_front():
    cfg = ObjectiveConfig(scan_points=0, surface_samples=20000)
    obj = _scene_objective(_half_scanned_box(), cfg)
    box = box_mesh([0, 0, 0], [1, 1, 1])
    # a thin hidden slab glued behind the box's back (between it and the wall): surface nobody sees
    slab = box_mesh([0, 0.955, 0.0], [1, 0.999, 1])
    both = torch.cat([box.verts, slab.verts], 1)
    tris = torch.cat([box.triangles(), slab.triangles() + box.verts.shape[1]])
    merged = type(box)(both, tris.reshape(-1), torch.arange(0, 3 * len(tris) + 1, 3))
    alone = float(obj(box.verts, box.triangles())[1]["mesh_to_scan"][0])
    with_slab = float(obj(merged.verts, merged.triangles())[1]["mesh_to_scan"][0])
    assert alone > 0.005  # the unscanned lower front costs something
    assert abs(with_slab - alone) < 0.05 * alone


WIDE = {"Front Style": "Open Shelves", "Base Style": "Plinth", "Has Handles": True, "Double Doors": False, "Drawer Count": 3,
        "Shelf Count": 5, "Width": 1.0541, "Depth": 0.6375, "Height": 0.6727, "Panel Thickness": 0.03, "Base Height": 0.04,
        "Top Overhang": 0.0001, "Drawer Row Height": 0.16}
WIDE_POSE = [[0.0065, -1.0, 0.0, 2.9072], [1.0, 0.0065, 0.0, 1.332], [0.0, 0.0, 1.0, 1.7], [0.0, 0.0, 0.0, 1.0]]
"""scene0000_01 #62 (a wall cabinet 1.7 m up) as ``shapeprog bench real`` fitted it on main at 3f25052 (mcts, 45 s): 25 cm
wider than its scan and open, its shelves unscanned (F@5cm 0.439)."""
NARROW = {**WIDE, "Front Style": "Drawers", "Shelf Count": 2, "Width": 0.8048, "Depth": 0.617, "Height": 0.6739,
          "Panel Thickness": 0.0298, "Base Height": 0.0413, "Top Overhang": 0.0084}
NARROW_POSE = [[-0.034, -0.9994, 0.0, 2.9043], [0.9994, -0.034, 0.0, 1.3138], [0.0, 0.0, 1.0, 1.7028], [0.0, 0.0, 0.0, 1.0]]
"""The same segment fitted with this objective (fit-scene --only 62, mcts, --max-evaluations 300, seed 0): its scan's
width, closed (F@5cm 0.703)."""


@pytest.mark.skipif(not (REAL / "scene0000_01" / "scene0000_01_points.ply").is_file(),
                    reason=f"the real ScanNet captures are not in {REAL} (../shared is absent)")
def test_a_real_wall_cabinet_whose_fit_recalls_more_of_it_scores_better():
    from backend.fit.config import FitConfig
    from backend.library import resolve_program
    from backend.scan_metrics import observation_metrics
    from backend.scene.readers import load_scene
    from backend.scene.segments import prepare_object
    from backend.scene.structure import estimate
    from translator.codegen import compile_program
    from translator.loading import load_any
    from translator.runtime import eval_context

    scene = load_scene(REAL / "scene0000_01" / "scene0000_01_points.ply")
    obs = prepare_object(scene, estimate(scene), scene.objects[62]).observations
    module = compile_program(load_any(resolve_program("cabinet")))
    objective = Objective(obs, torch.eye(4, dtype=torch.float64), FitConfig().objective)  # candidates in the world
    scores, f5 = [], []
    for values, pose in ((WIDE, WIDE_POSE), (NARROW, NARROW_POSE)):
        discrete = {k: v for k, v in values.items() if not isinstance(v, float)}
        with eval_context(trace=False):
            mesh = module.program(discrete, {k: torch.tensor([v]) for k, v in values.items() if isinstance(v, float)})
        m = torch.tensor(pose, dtype=torch.float64)
        verts = (mesh.verts.double() @ m[:3, :3].T + m[:3, 3]).float()
        scores.append(float(objective(verts, mesh.triangles())[0][0]))
        f5.append(observation_metrics(verts[0], mesh.triangles(), obs)["f_5cm"])
    assert f5[1] > f5[0] + 0.2  # the narrow closed fit recalls much more of the segment
    # ... and the objective agrees: the wide open cabinet's unscanned inside is seen surface, not diluted by the
    # hidden rest of it (with mesh_to_scan over all samples it scored 0.016 against the narrow fit's 0.029)
    assert scores[1] < scores[0]
