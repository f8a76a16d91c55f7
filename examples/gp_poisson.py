"""GP-HM on the paper's 2-D Poisson benchmark, u = sin(100x)·sin(100y), through SequenceSolver.

Usage::

    OMP_NUM_THREADS=1 python examples/gp_poisson.py [n] [out.png]

Each outer step (one kernel: frequency ω, length scale ℓ) is one Kronecker-sum system, solved by
``fast-diag`` (the policy ``auto`` would find it too, after trying a few Krylov methods); the
search keeps the kernel whose interpolant best satisfies the PDE at the cell centres.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import seqsolve
from seqsolve.problems.gppde import GPPoisson


def main(n: int = 200, out: str = "benchmarks/results/gphm_poisson.png") -> None:
    problem = GPPoisson(n, dim=2)
    solver = seqsolve.SequenceSolver(rtol=1e-10, policy="fixed:fast-diag")
    t0 = time.perf_counter()
    seqsolve.run(problem, solver, progress=False)
    wall = time.perf_counter() - t0
    best = min(problem.trials, key=lambda t: t.validation)
    print(f"{n}x{n} grid, {problem.steps} outer steps, {wall:.1f} s: relative L2 error {problem.error():.2e} "
          f"(kernel ω={best.frequency:.2f}, ℓ={best.lengthscale:g})")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    U = problem.state
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
    extent = (0, 1, 0, 1)
    err = np.log10(np.abs(U - problem.U_true) + 1e-16)
    for ax, data, title, cmap in ((axes[0], U, "GP-HM solution", "RdBu_r"),
                                  (axes[1], err, "log10 |error|", "viridis")):
        im = ax.imshow(data.T, origin="lower", extent=extent, cmap=cmap, vmin=max(data.min(), -12) if cmap == "viridis" else None)
        ax.set_title(title)
        fig.colorbar(im, ax=ax, shrink=0.8)
    ax = axes[2]
    trials = problem.trials
    ax.semilogy([t.validation for t in trials], "o-", ms=3, label="PDE residual at cell centres")
    ax.semilogy([t.error for t in trials], "s-", ms=3, label="true relative L2 error")
    ax.set_xlabel("outer step (one system each)")
    ax.legend(fontsize=7)
    ax.set_title(f"{n}×{n}: error {problem.error():.1e} in {wall:.0f} s")
    fig.tight_layout()
    fig.savefig(out, dpi=60)
    print("wrote", out)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200, *(sys.argv[2:3]))
