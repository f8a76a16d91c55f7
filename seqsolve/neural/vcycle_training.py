"""Training the learned V-cycle (:class:`~seqsolve.neural.multigrid.VCycleNet`) on mixed grid sizes.

Loss: preconditioned steepest descent in the energy norm.  From a random error ``e`` (white noise
on fluid cells) take ``steps`` steps ``e <- e - alpha M A e`` with the exact line search; the
loss is the mean log energy reduction of the last two steps.  Early steps remove what the
smoother handles easily, so the last ones measure the worst-conditioned part of ``M A`` -- the
quantity that sets CG's iteration count -- and the line search makes the loss blind to a scale
of ``M`` (which CG ignores too).  No solutions and no eigenvectors are needed, so a training
matrix costs nothing but its stencil images.

Data: for every size, the empty box, random obstacle masks and snapshots of Fluid2D runs; each
optimizer step uses one matrix, the sizes taking turns, so one set of weights is fitted to all
of them.  Validation: DCDM iterations on held-out Fluid2D systems at several sizes next to CG's.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Sequence

import numpy as np

from . import default_device, require_torch
from .model_io import save_model
from .multigrid import VCycleNet, apply_stencil, stencil_from_matrix
from .training import TrainingReport, _cg_iterations, _trajectory, validation_systems

torch = require_torch()

__all__ = ["train_vcycle", "vcycle_loss", "training_matrices", "evaluate_vcycle"]


def training_matrices(sizes: Sequence[int], per_size: int, seed: int, device: Any) -> list[tuple]:
    """``(n, centre, east, south)`` stencil images (float32 torch) for every size, from ``seed``."""
    from ..problems import fluid2d as f2d

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 4241]))
    out = []
    for n in sizes:
        mats = [f2d.pressure_matrix(np.zeros((n, n), dtype=bool))]
        traj = _trajectory(n, int(rng.integers(1 << 30)), max(4, n // 4), "random")
        mats += [traj[i][0] for i in np.linspace(0, len(traj) - 1, max(1, per_size // 3)).astype(int)]
        while len(mats) < per_size:
            mats.append(f2d.pressure_matrix(f2d.random_obstacle_mask(n, rng)))
        for A in mats:
            imgs = stencil_from_matrix(A, (n, n))
            out.append((n,) + tuple(torch.from_numpy(a.astype(np.float32)).to(device) for a in imgs))
    return out


def vcycle_loss(model: VCycleNet, centre, east, south, *, batch: int = 4, steps: int = 4, gen=None):
    """Mean log energy reduction of the last two preconditioned steepest-descent steps."""
    levels = model.hierarchy(centre, east, south)
    fine = levels[0]
    e = torch.randn((batch,) + tuple(centre.shape), generator=gen).to(centre.device) * fine["fluid"]
    logs = []

    def energy(v):
        return (v * apply_stencil(fine, v)).flatten(1).sum(1)

    en = energy(e)
    for _ in range(steps):
        r = apply_stencil(fine, e)
        q = model.vcycle(levels, r)
        Aq = apply_stencil(fine, q)
        alpha = (q * r).flatten(1).sum(1) / (q * Aq).flatten(1).sum(1).clamp_min(1e-30)
        e = e - alpha.view(-1, 1, 1) * q
        en_new = energy(e)
        logs.append(torch.log(en_new.clamp_min(1e-30) / en.clamp_min(1e-30)))
        en = en_new
    return torch.stack(logs[-2:]).mean()


def evaluate_vcycle(model: VCycleNet, systems, *, rtol: float = 1e-6, maxiter: int = 300) -> list[dict]:
    """DCDM with ``model`` on ``systems``: iterations, status and true residual per system."""
    from .dcdm import dcdm

    out = []
    for A, b in systems:
        n = math.isqrt(A.shape[0])
        res = dcdm(A, b, model=model, grid_shape=(n, n), rtol=rtol, maxiter=maxiter,
                   n_orth=model.recommended_n_orth)
        rel = float(np.linalg.norm(b - A @ res.x) / max(np.linalg.norm(b), 1e-300))
        out.append({"n": n, "iterations": int(res.iterations), "status": res.status,
                    "relative_residual": rel})
    return out


def train_vcycle(*, sizes: Sequence[int] = (32, 64, 128), minutes: float, out: str, seed: int = 0,
                 device: Any = None, max_steps: int | None = None, lr: float = 3e-3,
                 per_size: int = 8, batch: int = 4, validation_sizes: Sequence[int] = (64, 128, 256),
                 validation_count: int = 2, validation_maxiter: int = 300,
                 model_config: dict | None = None, log: Any = print) -> TrainingReport:
    """Train a :class:`VCycleNet` on Fluid2D pressure matrices of all ``sizes`` within ``minutes``.

    Writes ``out`` (the weights with the best held-out iteration count, checked at the start and
    end of training and every ~quarter of the budget) and ``out + ".last"``.  ``log`` receives a
    line per validation (``None``: silent).  ``max_steps`` makes runs reproducible.
    """
    t0 = time.perf_counter()
    budget = max(float(minutes), 0.0) * 60.0
    device = default_device(device)
    out = os.fspath(out)
    torch.manual_seed(int(seed))
    model = VCycleNet(max(sizes), **(model_config or {})).to(device)
    settings = {"arch": "VCycleNet", "sizes": [int(s) for s in sizes], "minutes": float(minutes),
                "seed": int(seed), "lr": float(lr), "per_size": int(per_size), "batch": int(batch),
                "max_steps": max_steps, "loss": "log energy reduction of preconditioned steepest descent",
                "model_config": model.config()}
    report = TrainingReport(out=out, n=int(max(sizes)), seed=int(seed), device=str(device),
                            parameters=model.num_parameters(), settings=settings)
    data = training_matrices(sizes, per_size, seed, device)
    val = [s for n in validation_sizes for s in validation_systems(n, validation_count, seed=seed)]
    report.cg_iterations = [_cg_iterations(A, b, 1e-6, 10 * A.shape[0]) for A, b in val]
    report.data_seconds = time.perf_counter() - t0
    gen = torch.Generator().manual_seed(int(seed) + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    best = [math.inf]

    def checkpoint(step: int, loss: float) -> None:
        model.eval()
        with torch.no_grad():
            results = evaluate_vcycle(model, val, maxiter=validation_maxiter)
        iters = [r["iterations"] if r["status"] == "converged" else 2 * validation_maxiter for r in results]
        mean_it = float(np.mean(iters)) if iters else 0.0
        per_n = {}
        for r, it in zip(results, iters):
            per_n.setdefault(r["n"], []).append(it)
        cg_n = {}
        for r, it in zip(results, report.cg_iterations):
            cg_n.setdefault(r["n"], []).append(it)
        report.validation.append({"step": step, "seconds": round(time.perf_counter() - t0, 2), "loss": loss,
                                  "dcdm": results, "mean_iterations": mean_it})
        meta = {"problem": "fluid2d", "training": settings, "trained_steps": step, "training_loss": loss,
                "validation": {"sizes": list(validation_sizes), "iterations": [r["iterations"] for r in results],
                               "status": [r["status"] for r in results], "cg_iterations": report.cg_iterations}}
        save_model(model, out + ".last", meta)
        if out + ".last" not in report.checkpoints:
            report.checkpoints.append(out + ".last")
        if mean_it <= best[0] or not os.path.exists(out):
            best[0] = mean_it
            save_model(model, out, meta)
            report.best_step, report.best_mean_iterations = step, mean_it
            if out not in report.checkpoints:
                report.checkpoints.append(out)
        if log is not None:
            log(f"  step {step:5d}  {time.perf_counter() - t0:6.0f} s  loss {loss:8.4f}  held-out DCDM "
                "iterations " + ", ".join(f"n={n}: {np.mean(v):.1f} (CG {np.mean(cg_n[n]):.0f})"
                                          for n, v in per_n.items()))
        model.train()

    checkpoint(0, float("nan"))
    every = budget / 4 if budget > 0 else math.inf
    next_ck = time.perf_counter() - t0 + every
    step, acc, cnt, last = 0, 0.0, 0, float("nan")
    while True:
        elapsed = time.perf_counter() - t0
        if (elapsed >= budget and step > 0) or (max_steps is not None and step >= max_steps):
            break
        frac = step / max_steps if max_steps else min(1.0, elapsed / budget) if budget > 0 else 1.0
        for g in opt.param_groups:
            g["lr"] = lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * frac)))
        i = int(torch.randint(len(data), (1,), generator=gen))
        _, c, e, s = data[i]
        loss = vcycle_loss(model, c, e, s, batch=batch, gen=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        acc += float(loss.detach())
        cnt += 1
        if step % 20 == 0:
            last = acc / cnt
            report.loss_curve.append((step, round(time.perf_counter() - t0, 2), last))
            acc, cnt = 0.0, 0
        if time.perf_counter() - t0 >= next_ck:
            checkpoint(step, last)
            next_ck = time.perf_counter() - t0 + every
    if cnt:
        last = acc / cnt
        report.loss_curve.append((step, round(time.perf_counter() - t0, 2), last))
    checkpoint(step, last)
    model.eval()
    report.steps, report.final_loss = step, last
    report.seconds = time.perf_counter() - t0
    return report
