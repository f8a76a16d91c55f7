"""Run by tests/test_petsc.py under ``mpiexec -n P``: a short Heat3D sequence with DistributedSolver;
rank 0 saves the last solution (gathered) to the path given as argv[1]; argv[2], argv[3]: the
policy and the initial guess.  :func:`solve_sequence` is shared with the single-rank tests."""

import sys

import numpy as np


def solve_sequence(problem, solver, rtol: float = 1e-10):
    """Solve every system of ``problem`` with ``solver``, checking each true residual; the last x."""
    x = None
    for _ in range(problem.steps):
        A, b, ctx = problem.system()
        x = solver.solve(A, b, context=ctx)
        r = b.duplicate()
        A.mult(x, r)
        r.aypx(-1.0, b)
        assert r.norm() <= rtol * b.norm() * (1 + 1e-9), (r.norm(), b.norm())
        problem.accept(x)
    return x


if __name__ == "__main__":
    from petsc4py import PETSc

    from seqsolve.backends.petsc.distributed import DistributedSolver
    from seqsolve.problems.heat3d import Heat3D

    solver = DistributedSolver(rtol=1e-10, policy=sys.argv[2] if len(sys.argv) > 2 else "auto",
                               initial_guess=sys.argv[3] if len(sys.argv) > 3 else "previous")
    x = solve_sequence(Heat3D(n=12, steps=6), solver)
    scatter, full = PETSc.Scatter.toZero(x)
    scatter.scatter(x, full, False, PETSc.Scatter.Mode.FORWARD)
    if PETSc.COMM_WORLD.getRank() == 0:
        np.save(sys.argv[1], full.getArray())
