"""Heat3D: Crank–Nicolson heat equation on the unit cube, assembled in parallel with PETSc.

The 3-D counterpart of Heat2D for the PETSc backend under MPI: ``n³`` interior unknowns of a
7-point Laplacian ``L`` (Dirichlet boundary), a diffusion coefficient ``c_k`` that varies with
the step (so every system differs and a learned configuration must track it) and a heat source.
System ``k``: ``(I + c_k Δt/2 · L) u_{k+1} = (I − c_k Δt/2 · L) u_k + Δt f``.

Rows are split into contiguous slabs of z-planes, one per rank (PETSc's default row
distribution of the natural ordering), and each rank builds its rows' CSR arrays with NumPy —
no per-entry Python calls, so 10⁶ unknowns assemble in about a second.  ``A`` keeps one ``Mat``
whose values are overwritten each step (same pattern, no re-allocation).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..backends.petsc._import import petsc


class Heat3D:
    """A sequence of distributed systems; ``system()`` → ``(A, b, context)``, ``accept(x)`` advances."""

    name = "heat3d"

    def __init__(self, n: int = 40, steps: int = 20, *, dt: float = 1e-3, comm=None) -> None:
        PETSc = petsc()
        self.n, self.steps, self.dt = n, steps, dt
        self.comm = comm if comm is not None else PETSc.COMM_WORLD
        N = n ** 3
        layout = PETSc.Vec().createMPI(N, comm=self.comm)
        lo, hi = layout.getOwnershipRange()
        self._L = _laplacian_rows(n, lo, hi)  # local rows, global columns
        self._diag = (self._L.indices == np.repeat(np.arange(lo, hi), np.diff(self._L.indptr)))
        L = self._L
        csr = (L.indptr.astype(PETSc.IntType), L.indices.astype(PETSc.IntType), L.data)
        self.L = PETSc.Mat().createAIJ(((hi - lo, N), (hi - lo, N)), csr=csr, comm=self.comm)
        self.A = PETSc.Mat().createAIJ(((hi - lo, N), (hi - lo, N)), csr=csr, comm=self.comm)
        self.u = layout.duplicate()
        self.u.set(0.0)
        self.f = layout.duplicate()
        idx = np.arange(lo, hi)
        k, j, i = idx // (n * n), (idx // n) % n, idx % n
        h = 1.0 / (n + 1)
        x, y, z = (i + 1) * h, (j + 1) * h, (k + 1) * h
        self.f.setArray(100.0 * np.exp(-((x - 0.3) ** 2 + (y - 0.6) ** 2 + (z - 0.5) ** 2) / 0.02))
        self.step = 0
        self._tmp = layout.duplicate()
        layout.destroy()

    def coefficient(self, k: int) -> float:
        """The diffusion coefficient at step ``k``: slow drift plus an oscillation, 0.5 … 2.1."""
        return 1.0 + 0.5 * math.sin(2 * math.pi * k / 40) + 0.6 * k / max(self.steps, 1)

    def system(self):
        a = self.coefficient(self.step) * self.dt / 2
        values = a * self._L.data + self._diag  # I + a L on L's pattern (the diagonal is in it)
        PETSc = petsc()
        L = self._L
        self.A.setValuesCSR(L.indptr.astype(PETSc.IntType), L.indices.astype(PETSc.IntType), values)
        self.A.assemble()
        b = self.u.duplicate()
        self.L.mult(self.u, self._tmp)
        self.u.copy(b)
        b.axpy(-a, self._tmp)
        b.axpy(self.dt, self.f)
        return self.A, b, {"c": self.coefficient(self.step)}

    def accept(self, x) -> None:
        x.copy(self.u)
        self.step += 1


def _laplacian_rows(n: int, lo: int, hi: int) -> sp.csr_array:
    """Rows ``lo:hi`` of the 7-point ``-Δ_h`` on ``n³`` interior points (global column indices)."""
    h2 = (n + 1.0) ** 2
    rows = np.arange(lo, hi)
    k, j, i = rows // (n * n), (rows // n) % n, rows % n
    r_list, c_list, v_list = [rows - lo], [rows], [np.full(rows.shape, 6.0 * h2)]
    for di, dj, dk in ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)):
        ok = (i + di >= 0) & (i + di < n) & (j + dj >= 0) & (j + dj < n) & (k + dk >= 0) & (k + dk < n)
        r_list.append(rows[ok] - lo)
        c_list.append(rows[ok] + di + dj * n + dk * n * n)
        v_list.append(np.full(int(ok.sum()), -h2))
    A = sp.csr_array((np.concatenate(v_list), (np.concatenate(r_list), np.concatenate(c_list))),
                     shape=(hi - lo, n ** 3))
    A.sort_indices()
    return A
