"""Benchmark: compiled PCG (``seqsolve.solvers.compiled``) against SciPy CG per iteration.

Builds the Heat2D-like Crank-Nicolson matrix ``A = I - (c dt / 2) L`` (``L`` the 5-point
Laplacian / dx^2 on the interior of an ``nx x nx`` grid of the unit square, Dirichlet
boundary; ``nx = 100`` gives 99^2 = 9801 unknowns) for several ``c``, and a smooth
right-hand side ``b = (I + (c dt / 2) L) u0`` from a Gaussian bump ``u0``.  For each
solver it prints the median time per CG iteration over several repeats, the iteration
count, and that time divided by the time of ONE sparse matvec (SciPy ``A @ x`` and the
compiled ``csr_matvec``).  Results are written as JSON (atomic: temp file + os.replace).

Everything is single-threaded: BLAS/OpenMP/Numba thread counts are pinned to 1 before NumPy
is imported, and the compiled kernels are serial anyway.

Usage::

    python benchmarks/compiled_pcg.py [--out PATH] [--nx 100] [--c 1 10] [--repeats 7]
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from scipy.sparse.linalg import LinearOperator, cg  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numba  # noqa: E402
import pyamg  # noqa: E402
from pyamg import amg_core  # noqa: E402

from seqsolve.solvers.compiled import csr_matvec, pcg, prepare  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "compiled_pcg.json"


def heat_system(nx: int, c: float, dt: float) -> tuple[sp.csr_array, np.ndarray]:
    """Crank-Nicolson step matrix ``I - (c dt/2) L`` and a smooth rhs on ``(nx-1)^2`` nodes."""
    m = nx - 1
    dx = 1.0 / nx
    t = sp.diags_array([np.full(m - 1, 1.0), np.full(m, -2.0), np.full(m - 1, 1.0)],
                       offsets=[-1, 0, 1])
    eye = sp.eye_array(m)
    L = (sp.kron(eye, t) + sp.kron(t, eye)) / dx**2
    half = 0.5 * c * dt
    A = sp.csr_array(sp.eye_array(m * m) - half * L)
    A.sum_duplicates()
    g = np.arange(1, nx) * dx
    X, Y = np.meshgrid(g, g, indexing="ij")
    u0 = np.exp(-((X - 0.3) ** 2 + (Y - 0.6) ** 2) / 0.02) + X * (1 - X) * Y
    u0 = u0.ravel()
    b = u0 + half * (L @ u0)
    return A, b


def median_time(fn: Callable[[], object], repeats: int, inner: int = 1) -> float:
    """Median over ``repeats`` of the mean wall time of ``inner`` calls (seconds)."""
    fn()  # warm-up (JIT, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def scipy_iterations(A, b, M, rtol: float) -> tuple[int, int]:
    """Iteration count and info of SciPy cg (separate run: the callback costs time)."""
    count = [0]

    def cb(_x):
        count[0] += 1

    _, info = cg(A, b, rtol=rtol, atol=0.0, M=M, callback=cb)
    return count[0], info


def ssor_operator(A: sp.csr_array, omega: float) -> LinearOperator:
    """SSOR preconditioner: forward then backward ``pyamg.amg_core.sor_gauss_seidel`` from 0."""
    n = A.shape[0]
    indptr, indices, data = A.indptr, A.indices, A.data

    def apply(r: np.ndarray) -> np.ndarray:
        r = np.ascontiguousarray(r, dtype=np.float64).ravel()
        z = np.zeros(n)
        amg_core.sor_gauss_seidel(indptr, indices, data, z, r, 0, n, 1, omega)
        amg_core.sor_gauss_seidel(indptr, indices, data, z, r, n - 1, -1, -1, omega)
        return z

    return LinearOperator((n, n), matvec=apply, dtype=np.float64)


def run_case(nx: int, c: float, dt: float, rtol: float, omega: float, repeats: int) -> dict:
    """All solvers on one matrix; returns a JSON-ready record."""
    A, b = heat_system(nx, c, dt)
    n = A.shape[0]
    P = prepare(A)
    x = np.random.default_rng(0).standard_normal(n)
    out = np.empty(n)

    mv_scipy = median_time(lambda: A @ x, repeats, inner=200)
    mv_comp = median_time(lambda: csr_matvec(P, x, out), repeats, inner=200)
    assert np.allclose(out, A @ x)

    dinv = 1.0 / A.diagonal()
    jac = LinearOperator((n, n), matvec=lambda r: dinv * r.ravel(), dtype=np.float64)
    ssor = ssor_operator(A, omega)

    rows = []
    scipy_cases = [("scipy cg", None), ("scipy cg + jacobi", jac),
                   (f"scipy cg + ssor(pyamg, w={omega:g})", ssor)]
    for name, M in scipy_cases:
        its, info = scipy_iterations(A, b, M, rtol)
        t = median_time(lambda M=M: cg(A, b, rtol=rtol, atol=0.0, M=M), repeats)
        xs, _ = cg(A, b, rtol=rtol, atol=0.0, M=M)
        rows.append(dict(solver=name, iterations=its, info=int(info), solve_s=t,
                         rel_residual=float(np.linalg.norm(b - A @ xs) / np.linalg.norm(b))))
    for pc in ("none", "jacobi", "ssor"):
        name = f"compiled {pc}" + (f" (w={omega:g})" if pc == "ssor" else "")
        res = pcg(P, b, rtol=rtol, preconditioner=pc, omega=omega)
        t = median_time(lambda pc=pc: pcg(P, b, rtol=rtol, preconditioner=pc, omega=omega),
                        repeats)
        rows.append(dict(solver=name, iterations=res.iterations, status=res.status,
                         solve_s=t,
                         rel_residual=float(np.linalg.norm(b - A @ res.x) / np.linalg.norm(b))))
    for row in rows:
        it = max(row["iterations"], 1)
        row["us_per_iteration"] = 1e6 * row["solve_s"] / it
        row["per_scipy_matvec"] = row["solve_s"] / it / mv_scipy
        row["per_compiled_matvec"] = row["solve_s"] / it / mv_comp
    return dict(nx=nx, n=n, nnz=int(A.nnz), c=c, dt=dt, rtol=rtol, omega=omega,
                matvec_scipy_us=1e6 * mv_scipy, matvec_compiled_us=1e6 * mv_comp, rows=rows)


def print_case(case: dict) -> None:
    """Print one case as a fixed-width table."""
    print(f"\nc={case['c']:g} dt={case['dt']:g}  n={case['n']} nnz={case['nnz']} "
          f"rtol={case['rtol']:g}")
    print(f"one matvec: scipy A @ x {case['matvec_scipy_us']:.1f} us, "
          f"compiled csr_matvec {case['matvec_compiled_us']:.1f} us")
    hdr = f"{'solver':34s} {'iters':>5s} {'us/iter':>9s} {'/scipy mv':>9s} {'/comp mv':>9s}" \
          f" {'solve ms':>9s} {'rel res':>9s}"
    print(hdr)
    print("-" * len(hdr))
    for r in case["rows"]:
        print(f"{r['solver']:34s} {r['iterations']:5d} {r['us_per_iteration']:9.1f} "
              f"{r['per_scipy_matvec']:9.2f} {r['per_compiled_matvec']:9.2f} "
              f"{1e3 * r['solve_s']:9.3f} {r['rel_residual']:9.1e}")


def write_json(path: Path, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically (temp file in the same folder, os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    ap.add_argument("--nx", type=int, default=100)
    ap.add_argument("--c", type=float, nargs="+", default=[1.0, 10.0])
    ap.add_argument("--dt", type=float, default=1e-3)
    ap.add_argument("--rtol", type=float, default=1e-8)
    ap.add_argument("--omega", type=float, default=1.5, help="SSOR relaxation factor")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)

    cases = []
    for c in args.c:
        case = run_case(args.nx, c, args.dt, args.rtol, args.omega, args.repeats)
        print_case(case)
        cases.append(case)
    payload = dict(
        benchmark="compiled_pcg",
        timing="median over repeats of wall time per solve / iterations; single thread",
        repeats=args.repeats,
        versions=dict(python=platform.python_version(), numpy=np.__version__,
                      scipy=scipy.__version__, numba=numba.__version__,
                      pyamg=pyamg.__version__),
        machine=dict(platform=platform.platform(), processor=platform.processor(),
                     cpu_count=os.cpu_count()),
        cases=cases,
    )
    write_json(args.out, payload)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
