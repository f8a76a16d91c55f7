"""Benchmark: compiled PCG (``seqsolve.solvers.compiled``) against SciPy CG per iteration.

Builds the Heat2D Crank-Nicolson matrix ``A = I - (c dt / 2) L`` (``L`` the 5-point Laplacian
/ dx^2 on the interior of an ``nx x nx`` grid of the unit square, Dirichlet boundary, from
``seqsolve.problems.heat2d``; ``nx = 100`` gives 99^2 = 9801 unknowns) for several ``c``, and a
smooth right-hand side ``b = (I + (c dt / 2) L) u0`` from two bumps (Heat2D's initial one and
an off-centre one).  Solvers: SciPy ``cg`` alone and with the library's SciPy-path Jacobi and
SSOR operators (``seqsolve.preconditioners``; SSOR is ``pyamg.amg_core.sor_gauss_seidel``
forward + backward), and the compiled ``pcg`` with none / jacobi / ssor.

All timed callables are interleaved in every repeat (so a load change on a shared machine hits
all alike); the table gives, per solver, the median and the min over repeats of the time per
CG iteration (solve time / iterations, per-call overhead included), the iteration count, and
that time divided by the time of ONE sparse matvec (SciPy ``A @ x`` and compiled
``csr_matvec``; median/median and min/min).  Results go to JSON (temp file + os.replace).

Everything is single-threaded: BLAS/OpenMP/Numba thread counts are pinned to 1 before NumPy
is imported, and the compiled kernels are serial anyway.

Usage::

    python benchmarks/compiled_pcg.py [--out PATH] [--nx 100] [--c 1 10] [--repeats 15]
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
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from scipy.sparse.linalg import cg  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numba  # noqa: E402
import pyamg  # noqa: E402

from seqsolve.atomic import write_text  # noqa: E402
from seqsolve.preconditioners.jacobi import jacobi  # noqa: E402
from seqsolve.preconditioners.ssor import ssor  # noqa: E402
from seqsolve.problems.heat2d import bump, laplacian_2d  # noqa: E402
from seqsolve.solvers.compiled import csr_matvec, pcg, prepare, warmup  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "compiled_pcg.json"


def heat_system(nx: int, c: float, dt: float) -> tuple[sp.csr_array, np.ndarray]:
    """Heat2D's Crank-Nicolson matrix ``I - (c dt/2) L`` and rhs ``(I + (c dt/2) L) u0`` for
    Heat2D's initial bump ``u0`` plus an off-centre bump (smooth, not an eigenvector)."""
    L = laplacian_2d(nx)
    half = 0.5 * c * dt
    A = sp.csr_array(sp.eye_array(L.shape[0], format="csr") - half * L)
    A.sum_duplicates()
    g = np.arange(1, nx) / nx
    px, py = (a.ravel() for a in np.meshgrid(g, g, indexing="ij"))
    u0 = bump(px, py, (0.5, 0.5), 0.25) + 0.5 * bump(px, py, (0.3, 0.65), 0.2)
    b = u0 + half * (L @ u0)
    return A, b


def interleaved_times(
    fns: dict[str, tuple[Callable[[], object], int]], repeats: int
) -> dict[str, list[float]]:
    """Per-call wall times (seconds) of each ``name: (fn, inner)``, ``repeats`` samples each.

    Every repeat times every function once (``inner`` back-to-back calls, averaged), in turn,
    so a load change on a shared machine hits all solvers alike instead of a few.
    """
    for fn, _ in fns.values():
        fn()  # warm-up (JIT cache, allocator, CPU caches)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, (fn, inner) in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[name].append((time.perf_counter() - t0) / inner)
    return samples


def scipy_iterations(A, b, M, rtol: float) -> tuple[int, int]:
    """Iteration count and info of SciPy cg (separate run: the callback costs time)."""
    count = [0]

    def cb(_x):
        count[0] += 1

    _, info = cg(A, b, rtol=rtol, atol=0.0, M=M, callback=cb)
    return count[0], info


def run_case(nx: int, c: float, dt: float, rtol: float, omega: float, repeats: int) -> dict:
    """All solvers on one matrix; returns a JSON-ready record."""
    A, b = heat_system(nx, c, dt)
    n = A.shape[0]
    P = prepare(A)
    x = np.random.default_rng(0).standard_normal(n)
    out = np.empty(n)

    # the library's SciPy-path preconditioners (SSOR: amg_core.sor_gauss_seidel fwd + bwd)
    scipy_cases = {"scipy cg": None, "scipy cg + jacobi": jacobi(A),
                   f"scipy cg + ssor(pyamg, w={omega:g})": ssor(A, omega)}
    compiled_cases = {f"compiled {pc}" + (f" (w={omega:g})" if pc == "ssor" else ""): pc
                      for pc in ("none", "jacobi", "ssor")}

    fns: dict[str, tuple[Callable[[], object], int]] = {
        "matvec scipy": (lambda: A @ x, 200),
        "matvec compiled": (lambda: csr_matvec(P, x, out), 200),
    }
    rows = []
    for name, M in scipy_cases.items():
        its, info = scipy_iterations(A, b, M, rtol)
        xs, _ = cg(A, b, rtol=rtol, atol=0.0, M=M)
        fns[name] = (lambda M=M: cg(A, b, rtol=rtol, atol=0.0, M=M), 1)
        rows.append(dict(solver=name, iterations=its, info=int(info),
                         rel_residual=float(np.linalg.norm(b - A @ xs) / np.linalg.norm(b))))
    for name, pc in compiled_cases.items():
        res = pcg(P, b, rtol=rtol, preconditioner=pc, omega=omega)
        fns[name] = (lambda pc=pc: pcg(P, b, rtol=rtol, preconditioner=pc, omega=omega), 1)
        rows.append(dict(solver=name, iterations=res.iterations, status=res.status,
                         restarts=res.restarts,
                         rel_residual=float(np.linalg.norm(b - A @ res.x) / np.linalg.norm(b))))
    csr_matvec(P, x, out)
    assert np.allclose(out, A @ x)

    samples = interleaved_times(fns, repeats)
    med = {k: statistics.median(v) for k, v in samples.items()}
    mv_scipy, mv_comp = med["matvec scipy"], med["matvec compiled"]
    mv_scipy_min, mv_comp_min = min(samples["matvec scipy"]), min(samples["matvec compiled"])
    for row in rows:
        it = max(row["iterations"], 1)
        row["solve_s"] = med[row["solver"]]
        row["solve_s_min"] = min(samples[row["solver"]])
        row["us_per_iteration"] = 1e6 * row["solve_s"] / it
        row["us_per_iteration_min"] = 1e6 * row["solve_s_min"] / it
        # ratios: median/median and min/min (the min is the less load-sensitive statistic)
        row["per_scipy_matvec"] = row["solve_s"] / it / mv_scipy
        row["per_compiled_matvec"] = row["solve_s"] / it / mv_comp
        row["per_scipy_matvec_min"] = row["solve_s_min"] / it / mv_scipy_min
        row["per_compiled_matvec_min"] = row["solve_s_min"] / it / mv_comp_min
    return dict(nx=nx, n=n, nnz=int(A.nnz), c=c, dt=dt, rtol=rtol, omega=omega,
                matvec_scipy_us=1e6 * mv_scipy, matvec_compiled_us=1e6 * mv_comp,
                matvec_scipy_us_min=1e6 * min(samples["matvec scipy"]),
                matvec_compiled_us_min=1e6 * min(samples["matvec compiled"]),
                load_average=list(os.getloadavg()), rows=rows)


def print_case(case: dict) -> None:
    """Print one case as a fixed-width table (each timing as median / min over repeats)."""
    print(f"\nc={case['c']:g} dt={case['dt']:g}  n={case['n']} nnz={case['nnz']} "
          f"rtol={case['rtol']:g}  load average {case['load_average'][0]:.2f}")
    print(f"one matvec (median / min): scipy A @ x {case['matvec_scipy_us']:.1f} / "
          f"{case['matvec_scipy_us_min']:.1f} us, compiled csr_matvec "
          f"{case['matvec_compiled_us']:.1f} / {case['matvec_compiled_us_min']:.1f} us")
    hdr = (f"{'solver':30s} {'iters':>5s} {'us/iter med/min':>16s} "
           f"{'/scipy mv med/min':>18s} {'/comp mv med/min':>17s} {'solve ms':>9s} {'rel res':>8s}")
    print(hdr)
    print("-" * len(hdr))
    for r in case["rows"]:
        print(f"{r['solver']:30s} {r['iterations']:5d} "
              f"{r['us_per_iteration']:8.1f}/{r['us_per_iteration_min']:<7.1f} "
              f"{r['per_scipy_matvec']:9.2f}/{r['per_scipy_matvec_min']:<8.2f} "
              f"{r['per_compiled_matvec']:8.2f}/{r['per_compiled_matvec_min']:<8.2f} "
              f"{1e3 * r['solve_s']:9.3f} {r['rel_residual']:8.1e}")


def write_json(path: Path, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically."""
    write_text(path, json.dumps(payload, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    ap.add_argument("--nx", type=int, default=100)
    ap.add_argument("--c", type=float, nargs="+", default=[1.0, 10.0])
    ap.add_argument("--dt", type=float, default=1e-3)
    ap.add_argument("--rtol", type=float, default=1e-8)
    ap.add_argument("--omega", type=float, default=1.5, help="SSOR relaxation factor")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)

    # first compiled call of the process: loads the Numba on-disk cache (or compiles, cold)
    t0 = time.perf_counter()
    warm = warmup()
    first_call_s = time.perf_counter() - t0
    print(f"first compiled call (Numba cache load or compile): {first_call_s:.3f} s "
          f"(warmup() itself: {warm:.3f} s)")
    cases = []
    for c in args.c:
        case = run_case(args.nx, c, args.dt, args.rtol, args.omega, args.repeats)
        print_case(case)
        cases.append(case)
    payload = dict(
        benchmark="compiled_pcg",
        timing=("median (and min) over interleaved repeats of wall time per solve, divided by "
                "the iteration count; matvec: mean of 200 back-to-back calls per repeat"),
        repeats=args.repeats,
        first_compiled_call_s=first_call_s,
        threads="OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS=1; compiled kernels are serial",
        versions=dict(python=platform.python_version(), numpy=np.__version__,
                      scipy=scipy.__version__, numba=numba.__version__,
                      pyamg=pyamg.__version__),
        machine=dict(platform=platform.platform(), processor=platform.processor(),
                     cpu_count=os.cpu_count()),
        cases=cases,
    )
    from seqsolve.provenance import provenance

    write_json(args.out, {**payload, "provenance": provenance()})
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
