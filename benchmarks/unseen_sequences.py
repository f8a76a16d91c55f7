"""Benchmark: ``auto`` on sequences outside the workload suite, against fixed configurations.

    python benchmarks/unseen_sequences.py constant --fixed "direct;fastdiag-cg;subdomain-deflated-cg"

Probes for what the suite never exercises, built here with SciPy alone (cell-centred 5-point
finite volumes): ``constant`` (one 2-D Poisson matrix, 150², a source moving over 100 systems: a
factorisation or an exact fast solve pays), ``constvar`` (one variable-coefficient matrix, 128²),
``varcoef`` (a ×100 inclusion moving through a 128² grid), ``convdiff-rot`` (upwind
convection–diffusion, 120², the wind turning), ``small`` (500 systems of 400 unknowns: per-call
overhead) and ``amr`` (sizes 64² … 128² changing every six systems, as a mesh refined and coarsened).
Every system is solved by every method in turn, each call timed whole, one process, one BLAS
thread; prints ``auto`` ÷ the best fixed configuration at 20, 50 and all systems, what ``auto``
chose, and writes a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seqsolve import SeqsolveError, SequenceSolver  # noqa: E402
from seqsolve.atomic import write_json  # noqa: E402
from seqsolve.bench import warm_up  # noqa: E402
from seqsolve.provenance import provenance  # noqa: E402


def diffusion2d(m: int, kx: np.ndarray | None = None, ky: np.ndarray | None = None) -> sp.csr_array:
    """Cell-centred 5-point diffusion on an m×m grid, Dirichlet walls; ``kx`` (m+1, m) and ``ky``
    (m, m+1) are the face coefficients (ones: the separable 2-D Poisson matrix)."""
    n = m * m
    kx = np.ones((m + 1, m)) if kx is None else kx
    ky = np.ones((m, m + 1)) if ky is None else ky
    idx = np.arange(n).reshape(m, m)
    rows, cols, vals = [], [], []
    for a, b, k in ((idx[:-1, :], idx[1:, :], kx[1:-1, :]), (idx[:, :-1], idx[:, 1:], ky[:, 1:-1])):
        rows += [a.ravel(), b.ravel()]
        cols += [b.ravel(), a.ravel()]
        vals += [-k.ravel(), -k.ravel()]
    rows.append(idx.ravel())
    cols.append(idx.ravel())
    vals.append((kx[:-1, :] + kx[1:, :] + ky[:, :-1] + ky[:, 1:]).ravel())
    return sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def inclusion(m: int, t: int, contrast: float = 100.0) -> tuple[sp.csr_array, np.ndarray]:
    """A ×``contrast`` circular inclusion at time ``t`` (it circles the centre), plus a small mass term."""
    faces, cells = np.arange(m + 1) / m, np.arange(m) / m
    cx, cy = 0.5 + 0.3 * np.cos(t / 15), 0.5 + 0.3 * np.sin(t / 15)

    def k(x, y):
        return 1 + contrast * (((x - cx) ** 2 + (y - cy) ** 2) < 0.02)

    X, Y = np.meshgrid(cells, faces)
    kx = k(Y, X)
    X, Y = np.meshgrid(faces, cells)
    ky = k(Y, X)
    A = diffusion2d(m, kx, ky) + sp.identity(m * m, format="csr") / m**2
    return sp.csr_array(A), np.ones(m * m) / m**2


def moving_source(m: int, t: int) -> np.ndarray:
    xs = np.linspace(0, 1, m)
    X, Y = np.meshgrid(xs, xs)
    return np.exp(-((X - 0.5 - 0.3 * np.cos(t / 10)) ** 2 + (Y - 0.5 - 0.3 * np.sin(t / 10)) ** 2) / 0.01).ravel()


def constant(steps: int = 100):
    A = diffusion2d(150)
    for t in range(steps):
        yield A, moving_source(150, t)


def constvar(steps: int = 100):
    A, _ = inclusion(128, 0)
    for t in range(steps):
        yield A, moving_source(128, t)


def varcoef(steps: int = 100):
    for t in range(steps):
        yield inclusion(128, t)


def convdiff_rot(steps: int = 80, m: int = 120, peclet: float = 200.0):
    h, e, I = 1.0 / (m + 1), np.ones(m), sp.identity(m)
    D2 = sp.diags([-e[:-1], 2 * e, -e[:-1]], [-1, 0, 1]) / h**2
    forward, backward = sp.diags([-e, e[:-1]], [0, 1]) / h, sp.diags([e, -e[:-1]], [0, -1]) / h
    L = sp.kron(I, D2) + sp.kron(D2, I)
    for t in range(steps):
        wx, wy = peclet * np.cos(t / 10), peclet * np.sin(t / 10)
        A = L + wx * sp.kron(I, backward if wx > 0 else forward) + wy * sp.kron(backward if wy > 0 else forward, I)
        yield sp.csr_array(A), np.ones(m * m)


def small(steps: int = 500, m: int = 20):
    A0, rng = diffusion2d(m), np.random.default_rng(1)
    n = m * m
    for t in range(steps):
        shift = (1.0 + 0.5 * np.sin(t / 20)) * np.ones(n) + 0.1 * rng.random(n)
        yield sp.csr_array(A0 + sp.diags(shift)), np.ones(n) + 0.1 * np.sin(t / 7)


def amr(steps: int = 60):
    sizes = (64, 80, 96, 112, 128, 112, 96, 80, 64, 128)
    for t in range(steps):
        yield inclusion(sizes[(t // 6) % len(sizes)], t)


WORKLOADS = {"constant": constant, "constvar": constvar, "varcoef": varcoef, "convdiff-rot": convdiff_rot,
             "small": small, "amr": amr}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload", choices=sorted(WORKLOADS))
    ap.add_argument("--fixed", default="numba-ssor-cg(omega=1.8);subdomain-deflated-cg;direct",
                    help="fixed configurations to compare with, ';'-separated")
    ap.add_argument("--out", default=None, help="JSON summary path")
    args = ap.parse_args(argv)
    warm_up()
    methods = ["auto"] + [f"fixed:{f}" for f in args.fixed.split(";") if f]
    solvers = {m: SequenceSolver(policy=m) for m in methods}
    seconds = {m: [] for m in methods}
    failed = Counter()
    for i, (A, b) in enumerate(WORKLOADS[args.workload]()):
        for m in methods[i % len(methods):] + methods[:i % len(methods)]:  # the order rotates
            t0 = time.perf_counter()
            try:
                solvers[m].solve(A, b, context={"t": float(i)})
            except SeqsolveError:
                failed[m] += 1
            seconds[m].append(time.perf_counter() - t0)
    best = min(methods[1:], key=lambda m: sum(seconds[m]))
    ratios = {}
    for m in methods:
        a, r = np.array(seconds[m]), np.array(seconds[best])
        ratios[m] = {k: float(a[:k].sum() / r[:k].sum()) for k in (20, 50, len(a))}
        print(f"{m:40s} {a.sum():8.3f} s  failed {failed[m]:3d}  ÷ best fixed ({best}): "
              + "  ".join(f"@{k} {v:.3f}" for k, v in ratios[m].items()))
    history = solvers["auto"].history
    choices = Counter(h.configuration for h in history).most_common()
    print("auto:", choices[:6], "explorations", sum(h.explored for h in history),
          "fallbacks", sum(bool(h.fallback) for h in history))
    if args.out:
        write_json(Path(args.out), {"workload": args.workload, "best_fixed": best, "ratios": ratios,
                                    "seconds": {m: sum(v) for m, v in seconds.items()}, "auto_choices": choices,
                                    "explorations": sum(h.explored for h in history),
                                    "fallbacks": sum(bool(h.fallback) for h in history),
                                    "provenance": provenance(None)})


if __name__ == "__main__":
    main()
