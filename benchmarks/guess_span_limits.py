"""Cheaper or differently weighted starts from the same history: do any beat the Galerkin projection?

Companion to :mod:`guess_oracle` (issue 10).  There, the A-norm-optimal member of the span of the
last k solutions (``projection(k)``'s guess) is the best history-only start found; on a sequence
whose matrix changes every step it costs k products with the new ``A`` and a k×k×n Gram product.
This script measures, on the same sequence (advanced with the exact solution, sparse LU), starts
that would cost less or weigh the error differently:

- ``minres X_k`` / ``jacobi-minres X_k``: the member of the span with the smallest residual, in the
  2-norm or scaled by ``diag(A)^-1/2`` (what the stopping test measures), instead of the A-norm;
- ``stale(s) X_16``: the Galerkin projection computed with the operator of the system ``s`` steps
  back (no new products), alone and with a fresh Galerkin correction on ``{that, x_1, x_2}``;
- ``sub{...}``: the span of solutions subsampled in time (a longer memory for the same k);
- ``split``: the last ``k_r`` solutions with fresh products plus an archive of the ``k_o`` before
  them whose products are refreshed every ``R`` steps only.  ``ideal``: the archive orthogonalised
  against the recent block and its block of the Gram matrix taken with the operator of the refresh
  (not implementable: it needs products of the new basis with the old operator);
  ``stored``: the same block assembled from the products actually stored (old operator on the
  archive, new operator on the recent block), which is what an implementation would have;
  ``frozen``: the archive orthogonalised against the recent block only at the refresh, its Gram
  block exact then and kept, the cross and recent blocks fresh: implementable at ``k_r`` products a
  step (plus ``k_o`` every ``R``), the basis of the union no longer orthonormal in between.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/guess_span_limits.py --workload fem-heat --steps 80

Iteration counts of ``amg-cg(adaptive)`` move by a few percent between runs (its rebuild rule
weighs measured seconds), so compare rows of one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import scipy.linalg as la  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

from guess_oracle import WORKLOADS, galerkin  # noqa: E402
from seqsolve import SequenceSolver  # noqa: E402

SUBSAMPLED = {"sub{1,2,3,4,6,9,14,20}": (1, 2, 3, 4, 6, 9, 14, 20),
              "sub{1,2,3,4,6,8,12,16,24,32}": (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)}
SPLITS = ((4, 12, 2), (4, 12, 4), (8, 16, 4))  # (k_r, k_o, R)
KINDS = ("ideal", "stored", "frozen")


def orthonormal(V: np.ndarray) -> np.ndarray:
    """An orthonormal basis of ``range(V)``, nearly dependent columns dropped."""
    Q, R, _ = la.qr(V, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    return Q[:, d > 1e-11 * d[0]]


def solve_gram(G: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``G⁻¹ c`` on the clearly positive eigenvalues of the symmetric part of ``G``."""
    lam, U = np.linalg.eigh(0.5 * (G + G.T))
    good = lam > 1e-13 * lam.max()
    return U[:, good] @ ((U[:, good].T @ c) / lam[good])


def min_residual(A, b: np.ndarray, V: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """The member of ``span(V)`` with the smallest ``||w ∘ (b − A x)||``."""
    Q = orthonormal(V)
    AQ, bw = np.asarray(A @ Q), b
    if w is not None:
        AQ, bw = AQ * w[:, None], b * w
    y, *_ = np.linalg.lstsq(AQ, bw, rcond=1e-13)
    return Q @ y


class Split:
    """Recent solutions with fresh products, an archive refreshed every ``R`` steps."""

    def __init__(self, k_r: int, k_o: int, R: int) -> None:
        self.k_r, self.k_o, self.R = k_r, k_o, R
        self.archive: tuple[np.ndarray, np.ndarray, object, int] | None = None  # Q_o, A_s Q_o, A_s, step
        self.frozen: tuple[np.ndarray, np.ndarray] | None = None  # archive ⟂ recent at the refresh, its Gram block

    def guesses(self, A, b: np.ndarray, hist: list[np.ndarray], step: int) -> tuple[np.ndarray, ...]:
        if self.archive is None or step - self.archive[3] >= self.R:
            Qo = orthonormal(np.column_stack(hist[:self.k_o]))
            self.archive = (Qo, np.asarray(A @ Qo), A, step)
            Qr = orthonormal(np.column_stack(hist[:self.k_r]))
            Y = Qo - Qr @ (Qr.T @ Qo)
            Y -= Qr @ (Qr.T @ Y)
            Qf = orthonormal(Y) if len(hist) > self.k_r else np.zeros((b.shape[0], 0))
            self.frozen = (Qf, Qf.T @ np.asarray(A @ Qf))
        Qo0, AQo0, As, _ = self.archive
        Qr = orthonormal(np.column_stack(hist[:self.k_r]))
        AQr = np.asarray(A @ Qr)
        Y = Qo0 - Qr @ (Qr.T @ Qo0)
        Y -= Qr @ (Qr.T @ Y)
        Qo = orthonormal(Y)
        cross = Qo.T @ AQr
        out = []
        for stored in (False, True):
            if stored:  # G_oo from what is stored: A_s Q_o0 and the fresh A Q_r, through Y = Q_o T
                C = Qr.T @ (Qo0 - Y)  # Y = Q_o0 − Q_r C
                Ti = np.linalg.pinv(Qo.T @ Y)  # Q_o = Y Ti
                RA = AQr.T @ Qo0  # Q_rᵀ A Q_o0 from the fresh products (A symmetric)
                Gy = Qo0.T @ AQo0 - C.T @ RA - RA.T @ C + C.T @ (Qr.T @ AQr) @ C
                Goo = Ti.T @ Gy @ Ti
            else:
                Goo = Qo.T @ np.asarray(As @ Qo)
            G = np.block([[Goo, cross], [cross.T, Qr.T @ AQr]])
            Q = np.hstack((Qo, Qr))
            out.append(Q @ solve_gram(G, Q.T @ b))
        Qf, Gf = self.frozen
        cross = Qf.T @ AQr
        G = np.block([[Gf, cross], [cross.T, Qr.T @ AQr]])
        Q = np.hstack((Qf, Qr))
        out.append(Q @ solve_gram(G, Q.T @ b))
        return tuple(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="fem-heat", choices=sorted(WORKLOADS))
    ap.add_argument("--steps", type=int, default=80)
    args = ap.parse_args(argv)
    factory, config = WORKLOADS[args.workload]
    problem = factory(args.steps)
    problem.reset()
    total = min(args.steps, problem.steps)
    names = ["previous", "galerkin X_8", "galerkin X_16", "galerkin X_24",
             "minres X_8", "minres X_16", "jacobi-minres X_8", "jacobi-minres X_16",
             "stale(1) X_16", "stale(4) X_16", "stale(4) X_16 + fresh {it, x_1, x_2}", *SUBSAMPLED]
    splits = {s: Split(*s) for s in SPLITS}
    for k_r, k_o, R in SPLITS:
        names += [f"split k_r={k_r} k_o={k_o} R={R} {kind}" for kind in KINDS]
    solvers = {n: SequenceSolver(rtol=1e-8, policy=f"fixed:{config}") for n in names}
    iters = {n: 0 for n in names}
    logerr = {n: [] for n in names}
    logres = {n: [] for n in names}
    xs: list[np.ndarray] = []
    matrices: list = []
    t0 = time.perf_counter()
    for step in range(total):
        system = problem.system()
        A, b = system.A, system.b
        x = spla.splu(A.tocsc()).solve(b)
        if xs:
            hist = xs[::-1]
            X = lambda k: np.column_stack(hist[:k])  # noqa: E731
            g = {"previous": hist[0]}
            for k in (8, 16, 24):
                g[f"galerkin X_{k}"] = galerkin(A, b, X(k))
            w = 1.0 / np.sqrt(A.diagonal())
            for k in (8, 16):
                g[f"minres X_{k}"] = min_residual(A, b, X(k))
                g[f"jacobi-minres X_{k}"] = min_residual(A, b, X(k), w)
            g["stale(1) X_16"] = _stale_galerkin(matrices[-1], b, X(16))
            stale4 = _stale_galerkin(matrices[-min(4, len(matrices))], b, X(16))
            g["stale(4) X_16"] = stale4
            g["stale(4) X_16 + fresh {it, x_1, x_2}"] = galerkin(A, b, np.column_stack([stale4, *hist[:2]]))
            for name, lags in SUBSAMPLED.items():
                g[name] = galerkin(A, b, np.column_stack([hist[j - 1] for j in lags if j <= len(hist)]))
            for (k_r, k_o, R), split in splits.items():
                for kind, guess in zip(KINDS, split.guesses(A, b, hist, step)):
                    g[f"split k_r={k_r} k_o={k_o} R={R} {kind}"] = guess
            e_prev = x - hist[0]
            ref_err = np.sqrt(e_prev @ (A @ e_prev))
            ref_res = np.linalg.norm(b - A @ hist[0])
            for name in names:
                solvers[name].solve(A, b, x0=g[name], context=system.context)
                iters[name] += solvers[name].history[-1].iterations
                e = x - g[name]
                logerr[name].append(np.log10(np.sqrt(max(e @ (A @ e), 1e-300)) / ref_err))
                logres[name].append(np.log10(np.linalg.norm(b - A @ g[name]) / ref_res))
        xs.append(x)
        matrices.append(A)
        del xs[:-32], matrices[:-8]
        problem.accept(x)
        if (step + 1) % max(1, total // 5) == 0:
            print(f"  {step + 1}/{total} systems, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    base = iters["previous"]
    print(f"\n{args.workload}: {system.A.shape[0]:,} unknowns, {total - 1} systems counted, {config}, rtol 1e-8")
    print("| start | iterations | ÷ previous | A-norm error ÷ previous (geo. mean) | residual ÷ previous |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        print(f"| {name} | {iters[name]:,} | {iters[name] / base:.3f} | {10 ** np.mean(logerr[name]):.3g} | "
              f"{10 ** np.mean(logres[name]):.3g} |", flush=True)


def _stale_galerkin(A_old, b: np.ndarray, V: np.ndarray) -> np.ndarray:
    """The Galerkin projection onto ``span(V)`` computed with an earlier operator."""
    Q = orthonormal(V)
    return Q @ solve_gram(Q.T @ np.asarray(A_old @ Q), Q.T @ b)


if __name__ == "__main__":
    main()
