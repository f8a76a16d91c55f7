"""How well does a history-only guess's error predict its iterations?  (calibrates ``KAPPA``)

The ``auto`` chooser judges ``previous`` and the extrapolations in hindsight: after each solve it
knows the error each would have started from, and :func:`seqsolve.guesses.hindsight.predicted_iterations`
turns errors into iterations.  This runs ``previous`` and two extrapolations as fixed strategies on
one workload, each its own solver, interleaved system by system (the problem advances with
``previous``'s solution), and compares the change in iterations each extrapolation really made
with what the uniform-rate model (``kappa = 1``) predicts from the errors on ``previous``'s solves:
their ratio is the ``kappa`` that would have been right, per half of the run.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/guess_hindsight.py --workload fem-heat --steps 120
    OMP_NUM_THREADS=1 python benchmarks/guess_hindsight.py --workload heat2d-100 --steps 1000
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from seqsolve import SequenceSolver  # noqa: E402
from seqsolve.guesses import parse_guess  # noqa: E402
from seqsolve.guesses.hindsight import Hindsight, predicted_iterations  # noqa: E402
from seqsolve.problems import Heat2D, suite  # noqa: E402

SSOR, AMG = "numba-ssor-cg(omega=1.8)", "amg-cg(adaptive)"
WORKLOADS = {
    "heat2d-100": (lambda s: Heat2D(nx=100, steps=s), SSOR),
    "fluid2d": (lambda s: suite()["fluid2d"].make("bench"), SSOR),
    "fem-heat": (lambda s: suite()["fem-heat"].make("bench"), AMG),
    "plaplace": (lambda s: suite()["plaplace"].make("bench"), AMG),
}
GUESSES = ("previous", "extrapolate(order=4,alternating=1)", "extrapolate(order=2)")
RTOL = 1e-8


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="fem-heat", choices=sorted(WORKLOADS))
    ap.add_argument("--steps", type=int, default=120)
    args = ap.parse_args(argv)
    factory, config = WORKLOADS[args.workload]
    problem = factory(args.steps)
    problem.reset()
    solvers = [SequenceSolver(rtol=RTOL, policy=f"fixed:{config}", initial_guess=g) for g in GUESSES]
    judge = Hindsight([parse_guess(g) for g in GUESSES])
    rows = []  # per system: iterations per strategy, hindsight errors per strategy
    for _ in range(min(args.steps, problem.steps)):
        system = problem.system()
        xs = [s.solve(system.A, system.b, context=system.context) for s in solvers]
        seen = judge.judge(xs[0])
        if seen is not None and len(judge.history) == judge.depth:  # every strategy's full window
            rows.append(([s.history[-1].iterations for s in solvers], [e for e, _ in seen]))
        problem.accept(xs[0])
    its = np.array([r[0] for r in rows], dtype=float)
    errs = np.array([r[1] for r in rows])
    print(f"{args.workload}: {len(rows)} systems judged, {config}, rtol {RTOL:g}")
    print("| strategy | iterations ÷ previous | error ÷ previous (geo. mean) | kappa, 1st half | kappa, 2nd half |")
    print("|---|---:|---:|---:|---:|")
    halves = np.array_split(np.arange(len(rows)), 2)
    for j, name in enumerate(GUESSES[1:], start=1):
        uniform = np.array([predicted_iterations(its[t, 0], errs[t, 0], errs[t, j], RTOL, kappa=1.0)
                            for t in range(len(rows))])
        kappas = []
        for h in halves:
            predicted, real = (its[h, 0] - uniform[h]).sum(), (its[h, 0] - its[h, j]).sum()
            kappas.append(real / predicted if predicted else float("nan"))
        ratio = float(np.exp(np.mean(np.log(errs[:, j] / errs[:, 0]))))
        print(f"| {name} | {its[:, j].sum() / its[:, 0].sum():.3f} | {ratio:.3g} | {kappas[0]:.2f} | {kappas[1]:.2f} |")


if __name__ == "__main__":
    main()
