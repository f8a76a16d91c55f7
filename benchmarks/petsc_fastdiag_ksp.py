"""fastdiag-cg on the PETSc backend: the shipped method (the SciPy backend's NumPy/Numba
``FastDiagCG``, whose CG is ``scipy.sparse.linalg.cg``) against a prototype whose CG is PETSc's
KSPCG with a PCSHELL applying the same preconditioner (option (a) of the task; not shipped).

    PETSC_DIR=... python benchmarks/petsc_fastdiag_ksp.py --m 48 128 --steps 60

On a separable matrix (Heat2D, Helmholtz, 3-D heat) both are one exact transform with no CG
iteration, so this compares them where CG does iterate: a variable-coefficient diffusion
``−∇·(k∇u) + c u`` on an m×m grid whose coefficient moves every step (not a Kronecker sum).
Both run ``fixed:fastdiag-cg`` (same setup schedule, same certified contract), interleaved system
by system in one process, one BLAS thread; the first two systems (builds, kernel loads) are not
counted.  Prints the whole-call seconds and iterations of each and the ratio (a)/(b).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from seqsolve import SequenceSolver
from seqsolve.backends.petsc import PetscBackend
from seqsolve.solvers.base import IterationResult
from seqsolve.solvers.fastdiag import FastDiagCG


class _Shell:
    """PCSHELL context: ``y = K⁻¹x`` by the preconditioner of the current setup."""

    def __init__(self) -> None:
        self.M = None

    def apply(self, pc, x, y) -> None:
        y.setArray(self.M.inverse.apply(x.getArray(readonly=True)))


class KspFastDiagCG(FastDiagCG):
    """FastDiagCG whose CG iterations are PETSc's (the true residual is certified by the solver)."""

    _mat = None

    def _cg(self, M, A, b, x0, *, rtol, atol, maxiter, callback):
        from petsc4py import PETSc

        n = b.shape[0]
        if self._mat is None or self._data.shape[0] != A.nnz:
            self._ai, self._aj = A.indptr.astype(PETSc.IntType), A.indices.astype(PETSc.IntType)
            self._data = np.array(A.data, dtype=float)
            self._mat = PETSc.Mat().createAIJWithArrays((n, n), (self._ai, self._aj, self._data), comm=PETSc.COMM_SELF)
            self._bv, self._xv = (PETSc.Vec().createSeq(n, comm=PETSc.COMM_SELF) for _ in range(2))
            ksp = self._ksp = PETSc.KSP().create(comm=PETSc.COMM_SELF)
            ksp.setType("cg")
            ksp.getPC().setType("python")
            self._shell = _Shell()
            ksp.getPC().setPythonContext(self._shell)
            ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)  # SciPy's cg tests the true-recursive norm too
            ksp.setInitialGuessNonzero(True)
        else:
            self._data[:] = A.data  # same pattern (this benchmark's): a value copy
        self._mat.assemble()
        self._shell.M = M
        self._ksp.setOperators(self._mat)
        self._ksp.setTolerances(rtol=rtol, atol=atol, max_it=maxiter)
        self._bv.setArray(b)
        self._xv.setArray(x0)
        self._ksp.solve(self._bv, self._xv)
        reason = self._ksp.getConvergedReason()
        status = "converged" if reason > 0 else "maxiter" if reason == -3 else "breakdown"
        return IterationResult(self._xv.getArray().copy(), self._ksp.getIterationNumber(), status)


def variable_diffusion(m: int, step: int) -> sp.csr_array:
    """5-point ``−∇·(k∇u) + c u`` on the unit square's m×m interior, k = 1 + 0.6 sin·cos, moving."""
    x = np.linspace(0, 1, m + 2)
    X, Y = np.meshgrid(x, x, indexing="ij")
    k = 1 + 0.6 * np.sin(2 * np.pi * (X + 0.01 * step)) * np.cos(3 * np.pi * Y)
    idx = np.arange(m * m).reshape(m, m)
    I, J = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    rows, cols, vals, diag = [], [], [], np.zeros((m, m))
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        kf = 0.5 * (k[1:-1, 1:-1] + k[1 + di:m + 1 + di, 1 + dj:m + 1 + dj])
        diag += kf
        ok = (I + di >= 0) & (I + di < m) & (J + dj >= 0) & (J + dj < m)
        rows.append(idx[ok])
        cols.append(idx[(I + di)[ok], (J + dj)[ok]])
        vals.append(-kf[ok])
    rows.append(idx.ravel())
    cols.append(idx.ravel())
    vals.append(diag.ravel() + 0.05 * m * m / 100)
    return sp.csr_array((np.concatenate(vals) * (m + 1) ** 2, (np.concatenate(rows), np.concatenate(cols))),
                        shape=(m * m, m * m))


def run(m: int, steps: int) -> dict:
    shipped = SequenceSolver(policy="fixed:fastdiag-cg", backend="petsc", rtol=1e-8)
    proto = SequenceSolver(policy="fixed:fastdiag-cg", backend="petsc", rtol=1e-8)
    config = proto.policy.candidates()[0]
    proto._methods[config] = KspFastDiagCG(config.get("setup"))
    solvers = {"a": proto, "b": shipped}
    seconds, iterations = {"a": 0.0, "b": 0.0}, {"a": 0, "b": 0}
    rng = np.random.default_rng(0)
    for s in range(steps):
        A, b = variable_diffusion(m, s), rng.standard_normal(m * m)
        for key in ("a", "b") if s % 2 else ("b", "a"):
            t0 = time.perf_counter()
            x = solvers[key].solve(A, b)
            dt = time.perf_counter() - t0
            assert np.linalg.norm(b - A @ x) <= 1.0001e-8 * np.linalg.norm(b)
            if s >= 2:
                seconds[key] += dt
                iterations[key] += solvers[key].history[-1].iterations
    assert all(r.configuration == "fastdiag-cg" and r.fallback is None for s in solvers.values() for r in s.history)
    return {"seconds": seconds, "iterations": iterations, "ratio": seconds["a"] / seconds["b"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, nargs="+", default=[48, 128])
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args(argv)
    PetscBackend()  # warm-up of the backend's kernels
    with threadpool_limits(1):
        for m in args.m:
            r = run(m, args.steps)
            print(f"m={m} ({m * m} unknowns), {args.steps - 2} systems: (a) KSPCG+PCSHELL {r['seconds']['a']:.3f} s "
                  f"{r['iterations']['a']} it; (b) shipped (SciPy cg) {r['seconds']['b']:.3f} s "
                  f"{r['iterations']['b']} it; (a)/(b) {r['ratio']:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
