"""Batched gradient refinement: Adam on the continuous parameters and the pose, with locks.

Continuous parameters are optimised in logit space (``z = sigmoid(u)`` keeps them
inside their ranges); yaw, translation and a log-scale slack directly. Locked or
inactive parameters get no updates (their gradients are masked). Each candidate
keeps the best state it reached, not merely the last.

A candidate's Adam moments and step count travel with its state
(:class:`~backend.search.base.Moments`), so refining it again continues the same
run: the learning rate follows one schedule over all of a candidate's steps, and
a revisit does not begin with the full-size first step of a fresh Adam (which
throws a converged candidate out of its basin, so that short revisits never
improve it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from .base import Moments

__all__ = ["RefineSettings", "Refined", "logit", "refine_batch", "still_falling"]

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


@dataclass
class RefineSettings:
    lr_params: float = 0.4
    """Adam learning rate of the continuous parameters in logit space (at a candidate's first step)."""
    lr_yaw: float = 0.04
    """Adam learning rate of the yaw (radians, at a candidate's first step)."""
    lr_translation: float = 0.015
    """Adam learning rate of the translation (metres, at a candidate's first step)."""
    lr_scale: float = 0.01
    """Adam learning rate of the log-scale slack (at a candidate's first step)."""
    lr_final: float = 0.3
    """The learning rates fall on a cosine from their values to this fraction of them over a candidate's
    first ``horizon`` Adam steps (fast moves first, then fine ones) and stay there."""
    horizon: int = 120
    """Adam steps, all of a candidate's refinements together, over which the learning rates fall."""
    optimize_yaw: bool = True
    """Refine the yaw."""
    optimize_translation: bool = True
    """Refine the translation."""
    settle: bool = True
    """Before every step, lift each candidate that sinks into the floor out of it (the objective's floor term's
    bound, in closed form) instead of leaving its height to the translation's small Adam steps while its parts
    grow."""
    optimize_scale: bool = field(default=False, metadata={"cli": False})
    """Refine the log-scale slack (set from the fit's scale slack: on when it is above 0)."""


def logit(z: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    z = z.clamp(eps, 1 - eps)
    return torch.log(z) - torch.log1p(-z)


EvalFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], tuple]
"""``(z, yaw, t, log_scale) -> (loss (K,), terms {name: (K,)})``, or ``(loss, terms, moved (K, 3))`` where the
evaluation moved each candidate's translation by ``moved`` first (a projection onto the pose's bounds, taken
into the candidate's state)."""


class Refined(NamedTuple):
    """What :func:`refine_batch` returns for K candidates: the best state each reached, its loss and
    terms, and the Adam moments at the end of the run (to continue it later)."""

    z: torch.Tensor  # (K, D)
    yaw: torch.Tensor  # (K,)
    translation: torch.Tensor  # (K, 3)
    log_scale: torch.Tensor  # (K,)
    loss: torch.Tensor  # (K,)
    terms: dict[str, torch.Tensor]  # {name: (K,)}
    moments: list[Moments]
    steps: int
    """Adam steps taken (fewer than asked for when ``should_stop`` ended the run)."""
    falling: torch.Tensor  # (K,)
    """How fast each candidate's loss still fell at the end: its best loss a third of the steps before the
    end over its best at the end, minus 1 (0 for a converged candidate; see :func:`still_falling`)."""


def schedule(steps_done: torch.Tensor, settings: RefineSettings) -> torch.Tensor:
    """Learning-rate factor of each candidate's next step, given its Adam steps so far ``(K,)``."""
    frac = (steps_done.to(torch.float64) / max(1, settings.horizon - 1)).clamp(max=1.0)
    return settings.lr_final + (1 - settings.lr_final) * 0.5 * (1 + torch.cos(math.pi * frac))


def refine_batch(
    eval_fn: EvalFn,
    z0: torch.Tensor,
    yaw0: torch.Tensor,
    t0: torch.Tensor,
    ls0: torch.Tensor,
    free: torch.Tensor,
    steps: int,
    settings: RefineSettings,
    moments: Sequence[Moments | None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Refined:
    """Refine K candidates (of one discrete configuration, or of several through ``eval_fn``).

    Args:
        eval_fn: ``(z (K, D), yaw (K,), t (K, 3), log_scale (K,)) -> (loss (K,), terms {name: (K,)})``, or with a
            third item ``moved (K, 3)``: the evaluation was of the translation ``t + moved``, which the candidate
            takes (recorded as its state and stepped from).
        z0: ``(K, D)`` normalised continuous values in [0, 1].
        yaw0, t0, ls0: ``(K,)``, ``(K, 3)``, ``(K,)`` initial pose.
        free: ``(D,)`` or ``(K, D)`` bool, which continuous dimensions may change (of every candidate, or of each:
            candidates of several discrete configurations refined together).
        steps: Adam steps (0 evaluates the initial state only).
        moments: per candidate, the Adam state of an earlier run to continue (None: a fresh run).
        should_stop: asked before every Adam step; True ends the run there (a deadline, a cancel), with
            the best state reached so far.

    Returns:
        The best ``z, yaw, t, log_scale`` per candidate, its ``loss (K,)``, ``terms`` and the moments.
    """
    k, d = z0.shape
    dtype, device = z0.dtype, z0.device
    moments = list(moments) if moments is not None else [None] * k
    # one leaf (K, P): logits of the parameters, yaw, translation, log scale
    x = torch.cat([logit(z0.detach()), yaw0.detach().reshape(k, 1).to(dtype), t0.detach().reshape(k, 3).to(dtype),
                   ls0.detach().reshape(k, 1).to(dtype)], 1).clone().requires_grad_(True)
    p = d + 5
    lr0 = torch.tensor([settings.lr_params] * d + [settings.lr_yaw] + [settings.lr_translation] * 3 + [settings.lr_scale],
                       dtype=dtype, device=device)
    pose_free = torch.tensor([settings.optimize_yaw] + [settings.optimize_translation] * 3 + [settings.optimize_scale],
                             dtype=dtype, device=device)
    mask = torch.cat([free.to(device, dtype).expand(k, d), pose_free.expand(k, 5)], 1)  # (K, P)
    done = torch.tensor([m.step if m is not None else 0 for m in moments], dtype=torch.long, device=device)
    zeros = torch.zeros(p, dtype=dtype, device=device)
    m1 = torch.stack([m.m.to(device, dtype) if m is not None else zeros for m in moments])
    m2 = torch.stack([m.v.to(device, dtype) if m is not None else zeros for m in moments])

    best_loss = torch.full((k,), float("inf"), dtype=dtype, device=device)
    best_x = x.detach().clone()
    best_terms: dict[str, torch.Tensor] = {}
    trace: list[torch.Tensor] = []  # the best loss after each evaluation
    for step in range(steps + 1):
        z = torch.sigmoid(x[:, :d])
        loss, terms, *rest = eval_fn(z, x[:, d], x[:, d + 1:d + 4], x[:, d + 4])
        moved = torch.zeros_like(x.detach())
        if rest:
            moved[:, d + 1:d + 4] = rest[0].detach().to(dtype)
        with torch.no_grad():
            lv = loss.detach()
            better = lv < best_loss
            if bool(better.any()):
                best_loss = torch.where(better, lv, best_loss)
                best_x[better] = (x.detach() + moved)[better]
                for name, v in terms.items():
                    cur = best_terms.get(name)
                    v = v.detach()
                    best_terms[name] = v.clone() if cur is None else torch.where(better, v, cur)
            trace.append(best_loss.clone())
        if step == steps or (should_stop is not None and should_stop()):
            break
        (g,) = torch.autograd.grad(loss.sum(), x)
        with torch.no_grad():
            g = g.nan_to_num(0.0) * mask
            rate = lr0 * schedule(done, settings).to(dtype).unsqueeze(1)  # (K, P)
            done = done + 1
            m1.mul_(BETA1).add_(g, alpha=1 - BETA1)
            m2.mul_(BETA2).addcmul_(g, g, value=1 - BETA2)
            c1 = (1 - BETA1 ** done.to(dtype)).unsqueeze(1)
            c2 = (1 - BETA2 ** done.to(dtype)).unsqueeze(1)
            x += moved - rate * (m1 / c1) / ((m2 / c2).sqrt() + EPS)
    out = [Moments(int(done[i]), m1[i].clone(), m2[i].clone()) for i in range(k)]
    return Refined(torch.sigmoid(best_x[:, :d]), best_x[:, d], best_x[:, d + 1:d + 4],
                   best_x[:, d + 4], best_loss, best_terms, out, step, still_falling(trace))


def still_falling(trace: Sequence[torch.Tensor]) -> torch.Tensor:
    """How fast a refinement's best loss still fell at its end, from the best loss after each evaluation
    (``trace``: steps + 1 tensors ``(K,)``, non-increasing): the best a third of the steps before the end over the
    best at the end, minus 1, per candidate ``(K,)``; 0 where either is not finite or positive, or without steps."""
    last = trace[-1]
    before = trace[max(0, len(trace) - 1 - max(1, (len(trace) - 1) // 3))]
    ok = torch.isfinite(before) & torch.isfinite(last) & (last > 0) & (before > 0)
    return torch.where(ok, before / torch.where(ok, last, torch.ones_like(last)) - 1, torch.zeros_like(last))
