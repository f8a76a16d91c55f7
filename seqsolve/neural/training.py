"""Unsupervised training of the DCDM network on pressure-Poisson matrices (no solutions needed).

Loss (Kaneda et al.): for a right-hand side ``b`` and the network's direction
``q = N(b)``, the best multiple ``alpha = q^T b / q^T A q`` of ``q`` is the one-step DCDM update,
and the loss is its relative residual ``||b - alpha A q||^2 / ||b||^2`` -- invariant to the
scale of ``q``, zero exactly when ``q`` is proportional to ``A^{-1} b``.

Data: training matrices are pressure matrices of :mod:`seqsolve.problems.fluid2d` -- random
obstacle masks (:func:`~seqsolve.problems.fluid2d.random_obstacle_mask`, plus the empty box)
and snapshots of :class:`~seqsolve.problems.fluid2d.Fluid2D` runs with moving obstacles.  For
each matrix a Lanczos run with full re-orthogonalisation yields Ritz vectors; right-hand sides
are random combinations of them with the low half of the spectrum weighted 9x (the paper's
recipe: DCDM's late residuals live there), mixed with white noise and with the simulations'
real right-hand sides.  ``A`` is applied in torch as a 5-point stencil whose coefficients are
stored as five images per matrix, so a batch may mix matrices.

Validation: DCDM iterations to ``rtol=1e-6`` on held-out Fluid2D systems (other seeds), next to
plain CG's on the same systems.

Reproducibility: the seed fixes the matrices, the Ritz vectors, the initial weights and the
sequence of batches, so two runs with the same seed and ``max_steps`` give identical weights on
the same device and thread count; a pure time budget stops after a machine-dependent number of
steps.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.linalg import cg as _scipy_cg, spsolve

from . import default_device, require_torch
from .model import DCDMNet, apply_network, grid_features, solid_rows
from .model_io import save_model

torch = require_torch()

__all__ = ["train", "TrainingReport", "TrainingSet", "build_training_set", "stencil_images",
           "apply_stencil", "lanczos_ritz", "scale_invariant_loss", "validation_systems",
           "evaluate"]


# --------------------------------------------------------------------------------------------
# A as a stencil in torch
# --------------------------------------------------------------------------------------------

#: order of the stencil images: centre, north (i-1), south (i+1), west (j-1), east (j+1)
STENCIL = ("centre", "north", "south", "west", "east")


def stencil_images(A: Any, n: int) -> np.ndarray:
    """The coefficients of a 5-point matrix on an ``n x n`` grid as ``(5, n, n)`` float32 images.

    Raises ValueError when ``A`` has an entry outside the 5-point pattern (including ones that
    would wrap around a grid row).
    """
    M = sp.csr_array(A)
    N = n * n
    if M.shape != (N, N):
        raise ValueError(f"matrix of shape {M.shape} does not fit an {n}x{n} grid")
    M.sum_duplicates()
    rows = np.repeat(np.arange(N), np.diff(M.indptr))
    cols = M.indices.astype(np.int64)
    off = cols - rows
    out = np.zeros((5, N), dtype=np.float64)
    j = rows % n
    kinds = [(0, off == 0), (1, off == -n), (2, off == n), (3, (off == -1) & (j > 0)),
             (4, (off == 1) & (j < n - 1))]
    used = np.zeros(off.size, dtype=bool)
    for k, sel in kinds:
        out[k, rows[sel]] = M.data[sel]
        used |= sel
    if not np.all(used | (M.data == 0)):
        raise ValueError("matrix is not a 5-point stencil on the given grid")
    return out.reshape(5, n, n).astype(np.float32)


def apply_stencil(coeffs, x):
    """``A x`` for stencil images ``coeffs`` ``(B, 5, H, W)`` and images ``x`` ``(B, H, W)``."""
    xp = torch.nn.functional.pad(x, (1, 1, 1, 1))
    return (coeffs[:, 0] * x
            + coeffs[:, 1] * xp[:, :-2, 1:-1]
            + coeffs[:, 2] * xp[:, 2:, 1:-1]
            + coeffs[:, 3] * xp[:, 1:-1, :-2]
            + coeffs[:, 4] * xp[:, 1:-1, 2:])


def scale_invariant_loss(q, b, coeffs, eps: float = 1e-30):
    """Mean over the batch of ``||b - alpha A q||^2 / ||b||^2``, ``alpha = q.b / q.Aq``."""
    Aq = apply_stencil(coeffs, q)
    qb = (q * b).flatten(1).sum(1)
    qAq = (q * Aq).flatten(1).sum(1)
    alpha = qb / torch.where(qAq.abs() > eps, qAq, torch.full_like(qAq, eps))
    res = b - alpha.view(-1, 1, 1) * Aq
    return ((res * res).flatten(1).sum(1) / (b * b).flatten(1).sum(1).clamp_min(eps)).mean()


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def lanczos_ritz(A: Any, v0: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``m`` Lanczos steps with full re-orthogonalisation from ``v0``.

    Returns the Ritz values (ascending) and Ritz vectors as rows ``(k, N)``, ``k <= m`` (fewer
    when an invariant subspace is found).
    """
    N = v0.size
    m = int(min(m, N))
    V = np.zeros((m, N))
    alpha = np.zeros(m)
    beta = np.zeros(m)
    v = v0 / np.linalg.norm(v0)
    k = 0
    for k in range(m):
        V[k] = v
        w = A @ v
        alpha[k] = v @ w
        w -= V[: k + 1].T @ (V[: k + 1] @ w)  # full re-orthogonalisation, twice is enough
        w -= V[: k + 1].T @ (V[: k + 1] @ w)
        beta[k] = np.linalg.norm(w)
        if beta[k] <= 1e-10 * max(abs(alpha[k]), 1.0) or k == m - 1:
            break
        v = w / beta[k]
    k += 1
    vals, S = sla.eigh_tridiagonal(alpha[:k], beta[: k - 1])
    return vals, S.T @ V[:k]


@dataclass
class _Matrix:
    coeffs: Any  # torch (5, n, n)
    features: Any  # torch (C-1, n, n)
    fluid: Any  # torch (n, n)
    ritz: Any  # torch (k, n*n)
    low: int  # how many of the lowest Ritz vectors get the larger weight
    real_rhs: Any  # torch (r, n*n) or None
    source: str


@dataclass
class TrainingSet:
    """Matrices (as stencil images), their Ritz vectors and real right-hand sides."""

    n: int
    matrices: list
    features: tuple

    def stack(self, mids):
        """``(coeffs, features, fluid)`` batches for the matrix indices ``mids`` (a list)."""
        cs = torch.stack([self.matrices[i].coeffs for i in mids])
        fs = torch.stack([self.matrices[i].features for i in mids])
        ms = torch.stack([self.matrices[i].fluid for i in mids])
        return cs, fs, ms

    def sample(self, batch: int, gen, *, mats_per_batch: int = 4, noise_fraction: float = 0.15,
               real_fraction: float = 0.15, low_weight: float = 9.0):
        """A batch ``(mids, b)``: matrix indices (list) and unit-norm right-hand-side images
        ``(B, n, n)`` drawn with the torch generator ``gen``."""
        n, N = self.n, self.n * self.n
        dev = self.matrices[0].coeffs.device
        k = max(1, min(mats_per_batch, batch))
        idx = torch.randint(len(self.matrices), (k,), generator=gen).tolist()
        per = [batch // k + (1 if i < batch % k else 0) for i in range(k)]
        mids, bs = [], []
        for mi, cnt in zip(idx, per):
            if cnt == 0:
                continue
            mat = self.matrices[mi]
            kind = torch.rand(cnt, generator=gen)
            kr = mat.ritz.shape[0]
            coef = torch.randn(cnt, kr, generator=gen)
            coef[:, : mat.low] *= low_weight
            b = coef.to(dev) @ mat.ritz
            noise = kind < noise_fraction
            if noise.any():
                w = torch.randn(int(noise.sum()), N, generator=gen).to(dev)
                b[noise.to(dev)] = w * mat.fluid.reshape(1, N)
            if mat.real_rhs is not None:
                real = (kind >= noise_fraction) & (kind < noise_fraction + real_fraction)
                if real.any():
                    pick = torch.randint(mat.real_rhs.shape[0], (int(real.sum()),), generator=gen)
                    b[real.to(dev)] = mat.real_rhs[pick.to(dev)]
            b = b / b.norm(dim=1, keepdim=True).clamp_min(1e-30)
            mids.extend([mi] * cnt)
            bs.append(b.reshape(cnt, n, n))
        return mids, torch.cat(bs)


def _fluid_module():
    from ..problems import fluid2d

    return fluid2d


def _trajectory(n: int, seed: int, steps: int, obstacles: str):
    """Systems of a Fluid2D run (solved exactly to advance)."""
    Fluid2D = _fluid_module().Fluid2D
    prob = Fluid2D(n, steps, seed=seed, obstacles=obstacles)
    out = []
    for _ in range(steps):
        s = prob.system()
        x = spsolve(sp.csc_matrix(s.A), s.b)
        out.append((s.A, s.b))
        prob.accept(x)
    return out


def _add_matrix(A, real_rhs, n, features, ritz_count, rng, device, source):
    coeffs = stencil_images(A, n)
    images, solid = grid_features(A, (n, n), features)
    fluid = ~solid
    v0 = rng.standard_normal(n * n) * fluid
    v0 = A @ v0
    v0[solid] = 0.0
    vals, vecs = lanczos_ritz(sp.csr_array(A), v0, ritz_count)
    vecs[:, solid] = 0.0
    low = int(math.ceil(0.55 * len(vals)))
    real = None
    if real_rhs:
        rb = np.stack([r / max(np.linalg.norm(r), 1e-300) for r in real_rhs])
        real = torch.from_numpy(rb.astype(np.float32)).to(device)
    return _Matrix(
        coeffs=torch.from_numpy(coeffs).to(device),
        features=torch.from_numpy(images).to(device),
        fluid=torch.from_numpy(fluid.reshape(n, n).astype(np.float32)).to(device),
        ritz=torch.from_numpy(vecs.astype(np.float32)).to(device),
        low=low, real_rhs=real, source=source)


def build_training_set(n: int, *, num_matrices: int = 16, ritz_vectors: int | None = None,
                       seed: int = 0, device: Any = None,
                       features: Sequence[str] = ("residual", "solid", "deficit"),
                       trajectory_fraction: float = 0.375, trajectory_steps: int = 24
                       ) -> TrainingSet:
    """Training matrices for an ``n x n`` grid, reproducible from ``seed``.

    One empty box, ``trajectory_fraction`` of the matrices from Fluid2D runs (alternating
    ``"default"`` and ``"random"`` obstacles, three snapshots spread over ``trajectory_steps``
    steps of each run, each with all the run's right-hand sides restricted to its fluid cells),
    the rest from random obstacle masks.  Needs ``n >= 8`` (Fluid2D's minimum).  ``ritz_vectors``
    defaults to ``min(192, n*n // 4)``.
    """
    f2d = _fluid_module()
    device = default_device(device)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7919]))
    m = int(ritz_vectors) if ritz_vectors else min(192, max(8, n * n // 4))
    features = tuple(features)
    mats = [_add_matrix(f2d.pressure_matrix(np.zeros((n, n), dtype=bool)), None, n, features, m,
                        rng, device, "empty")]
    n_traj = int(round(trajectory_fraction * num_matrices)) if n >= 8 else 0
    runs = max(1, math.ceil(n_traj / 3)) if n_traj else 0
    made = 0
    for run in range(runs):
        if made >= n_traj:
            break
        obstacles = ("default", "random")[run % 2]
        traj = _trajectory(n, int(rng.integers(1 << 30)), trajectory_steps, obstacles)
        picks = np.linspace(0, len(traj) - 1, min(3, n_traj - made)).round().astype(int)
        for p in picks:
            A, _ = traj[p]
            solid = solid_rows(A)
            # every right-hand side of the run, restricted to this snapshot's fluid cells
            real = [np.where(solid, 0.0, b) for (_, b) in traj]
            real = [b for b in real if np.any(b)]
            mats.append(_add_matrix(A, real, n, features, m, rng, device, f"fluid2d-{obstacles}"))
            made += 1
    while len(mats) < num_matrices:
        mask = f2d.random_obstacle_mask(n, rng)
        mats.append(_add_matrix(f2d.pressure_matrix(mask), None, n, features, m, rng, device,
                                "random-mask"))
    return TrainingSet(n=n, matrices=mats, features=features)


def validation_systems(n: int, count: int = 4, *, seed: int = 0, steps: int = 12
                       ) -> list[tuple[Any, np.ndarray]]:
    """Held-out ``(A, b)`` pairs: late steps of Fluid2D runs with seeds disjoint from training."""
    out = []
    base = 1_000_003 + 97 * int(seed)
    for i in range(count):
        obstacles = ("default", "random")[i % 2]
        traj = _trajectory(n, base + i, steps, obstacles)
        out.append(traj[-1])
    return out


def _cg_iterations(A, b, rtol: float, maxiter: int) -> int:
    it = [0]

    def cb(_):
        it[0] += 1

    _scipy_cg(A, b, rtol=rtol, atol=0.0, maxiter=maxiter, callback=cb)
    return it[0]


def evaluate(model, systems, *, rtol: float = 1e-6, maxiter: int = 300, variant: str = "dcdm",
             n_orth: int = 64) -> list[dict]:
    """Run DCDM with ``model`` on ``systems``; per system: iterations, status, true residual."""
    from .dcdm import dcdm, fcg

    solver = dcdm if variant == "dcdm" else fcg
    was_training = model.training
    model.eval()
    out = []
    try:
        for A, b in systems:
            n = math.isqrt(A.shape[0])
            kw = {"n_orth": n_orth} if variant == "dcdm" else {}
            res = solver(A, b, model=model, grid_shape=(n, n), rtol=rtol, maxiter=maxiter, **kw)
            rel = float(np.linalg.norm(b - A @ res.x) / max(np.linalg.norm(b), 1e-300))
            out.append({"iterations": int(res.iterations), "status": res.status,
                        "relative_residual": rel})
    finally:
        model.train(was_training)
    return out


# --------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------


@dataclass
class TrainingReport:
    """What :func:`train` did; ``asdict``-able and JSON-friendly."""

    out: str
    n: int
    seed: int
    device: str
    parameters: int
    steps: int = 0
    seconds: float = 0.0
    data_seconds: float = 0.0
    final_loss: float = float("nan")
    #: ``(step, seconds, loss)``: the loss averaged over the steps since the previous entry
    loss_curve: list = field(default_factory=list)
    #: per checkpoint: ``{"step", "seconds", "loss", "dcdm": [per system], "mean_iterations"}``;
    #: a system DCDM did not converge on counts as ``2 * validation_maxiter`` in the mean
    validation: list = field(default_factory=list)
    #: plain CG iterations on the same held-out systems
    cg_iterations: list = field(default_factory=list)
    best_step: int = -1
    best_mean_iterations: float = float("inf")
    #: files written (``out`` and ``out + ".last"``)
    checkpoints: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _progress(enabled: bool, total: float, n: int):
    if not enabled:
        return None
    from rich.progress import (BarColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    prog = Progress(TextColumn(f"[bold]DCDM n={n}"), BarColumn(), TimeElapsedColumn(),
                    TextColumn("/"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                    transient=False)
    return prog


def train(n: int, *, minutes: float, out: str, seed: int = 0, device: Any = None,
          progress: bool = True, checkpoint_every: float | None = 2.0,
          max_steps: int | None = None, batch_size: int = 16, lr: float = 1e-3,
          num_matrices: int = 16, ritz_vectors: int | None = None,
          validation_count: int = 4, validation_maxiter: int = 300,
          model_config: dict | None = None, model: Any = None) -> TrainingReport:
    """Train a DCDM network for ``n x n`` Fluid2D pressure systems within a time budget.

    Parameters
    ----------
    n : grid size.
    minutes : wall-clock budget for data generation plus training (a final validation and save
        follow it).
    out : model file to write (:func:`~seqsolve.neural.model_io.save_model` format).  At each
        checkpoint the latest weights go to ``out + ".last"`` and, when the validation iteration
        count improves (ties: lower loss), to ``out``; so ``out`` ends as the best validated
        model.  All writes are atomic.
    seed : fixes data, initial weights and batch order.
    device : torch device; default CUDA when available, else CPU.
    progress : show a rich progress bar.
    checkpoint_every : minutes between checkpoints (``None``: only at the end).
    max_steps : optional limit on optimizer steps (the budget still applies).
    batch_size, lr : Adam settings; the learning rate decays (cosine) to 5% over the time
        budget, or over ``max_steps`` when that is given (which makes runs reproducible).
    num_matrices, ritz_vectors : size of the training set (see :func:`build_training_set`).
    validation_count, validation_maxiter : held-out systems for the validation metric.
    model_config : keyword arguments for :class:`~seqsolve.neural.model.DCDMNet`.
    model : continue training this network instead of a fresh one.
    """
    t0 = time.perf_counter()
    budget = max(float(minutes), 0.0) * 60.0
    device = default_device(device)
    out = os.fspath(out)
    torch.manual_seed(int(seed))
    if model is None:
        model = DCDMNet(n, **(model_config or {}))
    model = model.to(device)
    settings = {"minutes": float(minutes), "seed": int(seed), "batch_size": int(batch_size),
                "lr": float(lr), "num_matrices": int(num_matrices),
                "ritz_vectors": ritz_vectors, "max_steps": max_steps,
                "validation_count": int(validation_count), "validation_n_orth": 64,
                "loss": "scale-invariant residual",
                "rhs": "Ritz vectors (low half x9) + 15% noise + 15% real Fluid2D rhs",
                "model_config": model.config()}
    report = TrainingReport(out=out, n=int(n), seed=int(seed), device=str(device),
                            parameters=model.num_parameters(), settings=settings)

    data = build_training_set(n, num_matrices=num_matrices, ritz_vectors=ritz_vectors,
                              seed=seed, device=device, features=model.features)
    val = validation_systems(n, validation_count, seed=seed) if validation_count else []
    report.cg_iterations = [_cg_iterations(A, b, 1e-6, 10 * A.shape[0]) for A, b in val]
    report.data_seconds = time.perf_counter() - t0

    gen = torch.Generator().manual_seed(int(seed) + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    ck_every = None if checkpoint_every is None else max(float(checkpoint_every), 0.0) * 60.0
    next_ck = (time.perf_counter() - t0) + ck_every if ck_every else math.inf
    best_key = (math.inf, math.inf)
    acc_loss, acc_n, last_loss = 0.0, 0, float("nan")
    curve_every = 25

    def checkpoint(step: int) -> None:
        nonlocal best_key
        elapsed = time.perf_counter() - t0
        results = evaluate(model, val, maxiter=validation_maxiter) if val else []
        iters = [r["iterations"] if r["status"] == "converged" else validation_maxiter * 2
                 for r in results]
        mean_it = float(np.mean(iters)) if iters else float("nan")
        entry = {"step": step, "seconds": round(elapsed, 2), "loss": last_loss,
                 "dcdm": results, "mean_iterations": mean_it}
        report.validation.append(entry)
        meta = {"problem": "fluid2d", "training": settings,
                "trained_steps": step, "training_loss": last_loss,
                "validation": {"mean_iterations": mean_it,
                               "iterations": [r["iterations"] for r in results],
                               "status": [r["status"] for r in results],
                               "cg_iterations": report.cg_iterations}}
        save_model(model, out + ".last", meta)
        if out + ".last" not in report.checkpoints:
            report.checkpoints.append(out + ".last")
        key = (mean_it if iters else 0.0, last_loss if math.isfinite(last_loss) else math.inf)
        if key < best_key or not os.path.exists(out):
            best_key = key
            save_model(model, out, meta)
            report.best_step = step
            report.best_mean_iterations = mean_it
            if out not in report.checkpoints:
                report.checkpoints.append(out)

    prog = _progress(progress, budget, n)
    task = None
    if prog is not None:
        prog.start()
        task = prog.add_task("train", total=max(budget, 1e-9), info="")
    step = 0
    try:
        while True:
            elapsed = time.perf_counter() - t0
            if (elapsed >= budget and step > 0) or (max_steps is not None and step >= max_steps):
                break
            if max_steps:  # step-based schedule: identical runs for identical seeds
                frac = step / max_steps
            else:
                frac = min(1.0, elapsed / budget) if budget > 0 else 1.0
            for g in opt.param_groups:
                g["lr"] = lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * frac)))
            mids, b = data.sample(batch_size, gen)
            coeffs, feats, fluid = data.stack(mids)
            q = apply_network(model, b, feats, fluid)
            loss = scale_invariant_loss(q, b, coeffs)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            lv = float(loss.detach())
            acc_loss += lv
            acc_n += 1
            if step % curve_every == 0:
                last_loss = acc_loss / acc_n
                report.loss_curve.append((step, round(time.perf_counter() - t0, 2), last_loss))
                acc_loss, acc_n = 0.0, 0
            if prog is not None:
                info = f"step {step}  loss {lv:.4f}"
                if report.validation:
                    info += f"  val it {report.validation[-1]['mean_iterations']:.1f}"
                prog.update(task, completed=min(time.perf_counter() - t0, budget), info=info)
            if time.perf_counter() - t0 >= next_ck:
                checkpoint(step)
                next_ck = (time.perf_counter() - t0) + ck_every
        if acc_n:
            last_loss = acc_loss / acc_n
            report.loss_curve.append((step, round(time.perf_counter() - t0, 2), last_loss))
        checkpoint(step)
    finally:
        if prog is not None:
            prog.stop()
    model.eval()
    report.steps = step
    report.final_loss = last_loss
    report.seconds = time.perf_counter() - t0
    return report
