"""Batched gradient refinement: Adam on the continuous parameters and the pose, with locks.

Continuous parameters are optimised in logit space (``z = sigmoid(u)`` keeps them
inside their ranges); yaw, translation and a log-scale slack directly. Locked or
inactive parameters get no updates (their gradients are masked). Each candidate
keeps the best state it reached, not merely the last.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["RefineSettings", "logit", "refine_batch"]


@dataclass
class RefineSettings:
    lr_params: float = 0.4
    """Adam learning rate of the continuous parameters in logit space (at the first step)."""
    lr_yaw: float = 0.04
    """Adam learning rate of the yaw (radians, at the first step)."""
    lr_translation: float = 0.015
    """Adam learning rate of the translation (metres, at the first step)."""
    lr_scale: float = 0.01
    """Adam learning rate of the log-scale slack (at the first step)."""
    lr_final: float = 0.3
    """The learning rates fall on a cosine from their values to this fraction of them at the last step
    (fast moves first, then fine ones)."""
    optimize_yaw: bool = True
    optimize_translation: bool = True
    optimize_scale: bool = False


def logit(z: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    z = z.clamp(eps, 1 - eps)
    return torch.log(z) - torch.log1p(-z)


EvalFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]


def refine_batch(
    eval_fn: EvalFn,
    z0: torch.Tensor,
    yaw0: torch.Tensor,
    t0: torch.Tensor,
    ls0: torch.Tensor,
    free: torch.Tensor,
    steps: int,
    settings: RefineSettings,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Refine K candidates that share one discrete configuration.

    Args:
        eval_fn: ``(z (K, D), yaw (K,), t (K, 3), log_scale (K,)) -> (loss (K,), terms {name: (K,)})``.
        z0: ``(K, D)`` normalised continuous values in [0, 1].
        yaw0, t0, ls0: ``(K,)``, ``(K, 3)``, ``(K,)`` initial pose.
        free: ``(D,)`` bool, which continuous dimensions may change.
        steps: Adam steps (0 evaluates the initial state only).

    Returns:
        The best ``z, yaw, t, log_scale`` per candidate, its ``loss (K,)`` and ``terms``.
    """
    u = logit(z0.detach().clone()).requires_grad_(True)
    yaw = yaw0.detach().clone().requires_grad_(settings.optimize_yaw)
    t = t0.detach().clone().requires_grad_(settings.optimize_translation)
    ls = ls0.detach().clone().requires_grad_(settings.optimize_scale)
    groups = [{"params": [u], "lr": settings.lr_params}]
    if settings.optimize_yaw:
        groups.append({"params": [yaw], "lr": settings.lr_yaw})
    if settings.optimize_translation:
        groups.append({"params": [t], "lr": settings.lr_translation})
    if settings.optimize_scale:
        groups.append({"params": [ls], "lr": settings.lr_scale})
    opt = torch.optim.Adam(groups)
    for g in opt.param_groups:
        g["lr0"] = g["lr"]
    mask = free.to(u.dtype).unsqueeze(0)
    best_loss = torch.full((z0.shape[0],), float("inf"), dtype=z0.dtype)
    best = [z0.detach().clone(), yaw0.detach().clone(), t0.detach().clone(), ls0.detach().clone()]
    best_terms: dict[str, torch.Tensor] = {}
    for step in range(steps + 1):
        z = torch.sigmoid(u)
        loss, terms = eval_fn(z, yaw, t, ls)
        with torch.no_grad():
            lv = loss.detach()
            better = lv < best_loss
            if bool(better.any()):
                best_loss = torch.where(better, lv, best_loss)
                best[0][better] = z.detach()[better]
                best[1][better] = yaw.detach()[better]
                best[2][better] = t.detach()[better]
                best[3][better] = ls.detach()[better]
                for k, v in terms.items():
                    cur = best_terms.get(k)
                    v = v.detach()
                    best_terms[k] = v.clone() if cur is None else torch.where(better, v, cur)
        if step == steps:
            break
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        if u.grad is not None:
            u.grad.mul_(mask)
            u.grad.nan_to_num_(0.0)
        for p in (yaw, t, ls):
            if p.grad is not None:
                p.grad.nan_to_num_(0.0)
        f = settings.lr_final + (1 - settings.lr_final) * 0.5 * (1 + math.cos(math.pi * step / max(1, steps - 1)))
        for g in opt.param_groups:
            g["lr"] = g["lr0"] * f
        opt.step()
    return best[0], best[1], best[2], best[3], best_loss, best_terms
