"""How good can a guess built from the sequence's history be?  (issue 10, the oracle bound)

For every system of a workload this forms candidate starts from the *history* only (earlier
solutions, their products with the current ``A``, earlier right-hand sides) and counts the
iterations the fixed configuration needs from each, against ``previous``.  The Galerkin starts
are the A-norm-optimal members of their span (the best any combination of those vectors can do
in the A-norm; computed from ``b``, so they are also implementable, at a price).  The problem
advances with the exact solution (sparse LU), so every row sees the same sequence.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/guess_oracle.py --workload heat2d-100 --steps 300
    OMP_NUM_THREADS=1 python benchmarks/guess_oracle.py --workload fem-heat --steps 100

Prints, per candidate: total iterations ÷ ``previous``, the geometric mean of the start's
relative residual and A-norm error ÷ ``previous``'s, and the extra vectors it needs.
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

from seqsolve import SequenceSolver  # noqa: E402
from seqsolve.problems import Heat2D, suite  # noqa: E402

WORKLOADS = {
    "heat2d-100": (lambda s: Heat2D(nx=100, steps=s), "numba-ssor-cg(omega=1.8)"),
    "heat2d-200": (lambda s: Heat2D(nx=200, steps=s), "numba-ssor-cg(omega=1.8)"),
    "fem-heat": (lambda s: suite()["fem-heat"].make("bench"), "amg-cg(adaptive)"),
    "fluid2d": (lambda s: suite()["fluid2d"].make("bench"), "numba-ssor-cg(omega=1.8)"),
}

#: fixed recurrences on the newest solutions (newest first): characteristic roots at +1 and -1
RECURRENCES = {
    "extrapolate(2)": (3.0, -3.0, 1.0),
    "alt(1,1,-1)": (1.0, 1.0, -1.0),  # (z-1)^2 (z+1): linear drift + a sign-flipping constant
    "alt(2,0,-2,1)": (2.0, 0.0, -2.0, 1.0),  # (z-1)^3 (z+1)
    "alt(0,2,0,-1)": (0.0, 2.0, 0.0, -1.0),  # (z-1)^2 (z+1)^2
}


def galerkin(A, b: np.ndarray, V: np.ndarray) -> np.ndarray:
    """The A-norm-optimal (SPD ``A``) member of ``span(V)``; nearly dependent columns dropped."""
    Q, R, _ = la.qr(V, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    Q = Q[:, d > 1e-13 * d[0]]
    AQ = np.asarray(A @ Q)
    G = Q.T @ AQ
    lam, U = np.linalg.eigh(0.5 * (G + G.T))
    good = lam > 1e-13 * lam.max()
    y = U[:, good] @ ((U[:, good].T @ (Q.T @ b)) / lam[good])
    return Q @ y


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="heat2d-100", choices=sorted(WORKLOADS))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--skip", type=int, default=0, help="systems solved (exactly) before counting")
    ap.add_argument("--ks", default="2,4,8,16,32")
    ap.add_argument("--aug-ks", default="2,4,8,16")
    args = ap.parse_args(argv)
    factory, config = WORKLOADS[args.workload]
    problem = factory(args.steps + args.skip)
    problem.reset()
    total = min(args.steps + args.skip, problem.steps)
    ks = [int(k) for k in args.ks.split(",")]
    aug = [int(k) for k in args.aug_ks.split(",") if k]
    kmax = max(ks + aug + [4])
    names = ["zero", "previous", *RECURRENCES]
    names += [f"span X_{k}" for k in ks]
    names += [f"span X_{k} + A X_{k}" for k in aug]
    names += [f"span X_{k} + B_{k}" for k in aug if k <= 8]  # with the current and earlier b
    names += [f"span X_{k} + A X_{k} + A^2 X_{k}" for k in aug if k <= 8]
    scales = (0.5, 0.1, 1e-2, 1e-3, 1e-4)
    names += [f"previous's error × {f:g} (reference)" for f in scales]
    solvers = {n: SequenceSolver(rtol=1e-8, policy=f"fixed:{config}") for n in names}
    iters = {n: 0 for n in names}
    logres = {n: [] for n in names}
    logerr = {n: [] for n in names}
    xs: list[np.ndarray] = []
    bs: list[np.ndarray] = []
    t0 = time.perf_counter()
    for step in range(total):
        system = problem.system()
        A, b = system.A, system.b
        x = spla.splu(A.tocsc()).solve(b)
        count = step >= args.skip and len(xs) >= 1
        if count:
            hist = xs[::-1]  # newest first
            X = lambda k: np.column_stack(hist[:k])  # noqa: E731
            guesses: dict[str, np.ndarray | None] = {"zero": None, "previous": hist[0]}
            for name, w in RECURRENCES.items():
                guesses[name] = (sum(wi * h for wi, h in zip(w, hist) if wi) if len(hist) >= len(w)
                                 else hist[0])
            for k in ks:
                guesses[f"span X_{k}"] = galerkin(A, b, X(k))
            for k in aug:
                Xk = X(k)
                AX = np.asarray(A @ Xk)
                guesses[f"span X_{k} + A X_{k}"] = galerkin(A, b, np.hstack((Xk, AX)))
                if k <= 8:
                    B = np.column_stack([b] + bs[::-1][:k - 1])
                    guesses[f"span X_{k} + B_{k}"] = galerkin(A, b, np.hstack((Xk, B)))
                    guesses[f"span X_{k} + A X_{k} + A^2 X_{k}"] = galerkin(A, b, np.hstack((Xk, AX, np.asarray(A @ AX))))
            # not implementable: how iterations respond to previous's error scaled down in every mode
            for f in scales:
                guesses[f"previous's error × {f:g} (reference)"] = x - f * (x - hist[0])
            e_prev = x - hist[0]
            nb = np.linalg.norm(b)
            ref_res = np.linalg.norm(b - A @ hist[0]) / nb
            ref_err = np.sqrt(e_prev @ (A @ e_prev))
            for name in names:
                g = guesses[name]
                s = solvers[name]
                s.solve(A, b, x0=g, context=system.context)
                iters[name] += s.history[-1].iterations
                g0 = np.zeros_like(b) if g is None else g
                e = x - g0
                logres[name].append(np.log10(np.linalg.norm(b - A @ g0) / nb / ref_res))
                logerr[name].append(np.log10(np.sqrt(max(e @ (A @ e), 1e-300)) / ref_err))
        xs.append(x)
        bs.append(np.asarray(b).copy())
        if len(xs) > kmax:
            del xs[0], bs[0]
        problem.accept(x)
        if (step + 1) % max(1, total // 5) == 0:
            print(f"  {step + 1}/{total} systems, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    base = iters["previous"]
    print(f"\n{args.workload}: {system.A.shape[0]:,} unknowns, {total - args.skip} systems counted "
          f"(after {args.skip}), {config}, rtol 1e-8")
    print("| start | iterations | ÷ previous | start residual ÷ previous (geo. mean) | A-norm error ÷ previous |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        print(f"| {name} | {iters[name]:,} | {iters[name] / base:.3f} | {10 ** np.mean(logres[name]):.3g} | "
              f"{10 ** np.mean(logerr[name]):.3g} |", flush=True)


if __name__ == "__main__":
    main()
