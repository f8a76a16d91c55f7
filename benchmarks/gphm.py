"""GP-HM Poisson benchmarks on the paper's grids: error and wall time of the structured solver.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/gphm.py

Cases: 2-D ``sin(100x)·sin(100y)`` on 200² and 300² grids (the paper's logs: 7.4e-2 after
1,373 s and 1.5e-4 after 2,546 s), 1-D ``sin(100x)`` and the 1-D multi-scale
``sin(x) + 0.1·sin(20x) + 0.05·cos(100x)``.  Writes ``gphm.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import seqsolve
from seqsolve.problems.gppde import GPPoisson, sin_solution

MULTISCALE = (lambda x: np.sin(x) + 0.1 * np.sin(20 * x) + 0.05 * np.cos(100 * x),
              lambda x: -np.sin(x) - 40 * np.sin(20 * x) - 500 * np.cos(100 * x))

CASES = [
    ("2d sin(100x)sin(100y)", 200, 2, None),
    ("2d sin(100x)sin(100y)", 300, 2, None),
    ("1d sin(100x)", 200, 1, sin_solution(100.0, 1)),
    ("1d sin(x)+0.1sin(20x)+0.05cos(100x)", 200, 1, MULTISCALE),
]


def main(out: str = "benchmarks/results") -> int:
    rows = []
    for name, n, dim, solution in CASES:
        with threadpool_limits(1):  # one BLAS thread: threaded OpenBLAS stalls on 2 shared cores
            problem = GPPoisson(n, dim, solution)
            solver = seqsolve.SequenceSolver(rtol=1e-10, policy="fixed:fast-diag", blas_threads=1)
            t0 = time.perf_counter()
            seqsolve.run(problem, solver, progress=False)
            wall = time.perf_counter() - t0
        best = min(problem.trials, key=lambda t: t.validation)
        rows.append({"case": name, "n": n, "dim": dim, "outer_steps": problem.steps, "wall_s": round(wall, 2),
                     "solver_s": round(sum(r.seconds for r in solver.history), 2),
                     "relative_l2_error": problem.error(), "frequency": best.frequency,
                     "lengthscale": best.lengthscale, "fallbacks": sum(r.fallback is not None for r in solver.history)})
        print(rows[-1], flush=True)
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "gphm.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
