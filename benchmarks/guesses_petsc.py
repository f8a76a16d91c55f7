"""Initial guesses on the PETSc backend: PETSc's own ``KSPGuess`` against seqsolve's NumPy guesses.

    PETSC_DIR=... python benchmarks/guesses_petsc.py [--workloads heat2d-100,fem-heat] [--steps N]

Rows, each its own :class:`~seqsolve.SequenceSolver` on ``backend="petsc"`` with one fixed
configuration per workload:

- ``previous`` and ``projection(k=8)``: the guess formed in NumPy by :mod:`seqsolve.guesses` and
  handed to the KSP as ``x0`` (what the backend does today);
- ``petsc fischer(model=2,k=8)``: PETSc's ``KSPGUESSFISCHER`` (model 2: the Galerkin projection
  onto the last solutions in the A-norm, the SPD variant of ``projection(k=8)``), switched on
  through the options database under the KSP's own prefix (``-ksp_guess_type fischer
  -ksp_guess_fischer_model 2,8``), with ``initial_guess="zero"`` so that seqsolve forms nothing
  and the KSP starts from the guess PETSc forms inside ``KSPSolve``;
- ``zero``: no guess, for reference.

Every system is handed to every row in turn (the order rotates per system), each charged the wall
time of its whole ``solve()`` call, one BLAS thread; the problem advances with ``previous``'s
solution.  Writes ``benchmarks/results/guesses_petsc.json`` (totals only).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's seqsolve

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from seqsolve import SequenceSolver  # noqa: E402
from seqsolve.atomic import write_json  # noqa: E402
from seqsolve.bench import warm_up  # noqa: E402
from seqsolve.configs import parse  # noqa: E402
from seqsolve.problems import Heat2D, suite  # noqa: E402
from seqsolve.provenance import provenance  # noqa: E402

#: name → (problem factory, fixed configuration, default steps): the best fixed PETSc configuration
#: of benchmarks/petsc_vs.py on each (Eisenstat SSOR-PCG on Heat2D, GAMG on FEM heat); the two
#: workloads whose matrix repeats are the case where PETSc's guess keeps its basis (see the README)
WORKLOADS = {
    "heat2d-100": (lambda: Heat2D(nx=100, steps=1000), "ssor-cg(omega=1.8)", 1000),
    "fem-heat": (lambda: suite()["fem-heat"].make("bench"), "amg-cg(adaptive)", 400),
    "fem-heat-reuse": (lambda: suite()["fem-heat-reuse"].make("bench"), "amg-cg(adaptive)", 400),
    # one matrix per 15 right-hand sides: where PETSc keeps its basis (BoomerAMG: PETSc auto's choice)
    "jump-repeat": (lambda: suite()["jump-repeat"].make("bench"), "hypre-cg(adaptive)", 400),
}

#: label → (seqsolve initial_guess, PETSc Fischer model or None)
ROWS = {
    "previous": ("previous", None),
    "projection(k=8)": ("projection(k=8)", None),
    "petsc fischer(model=2,k=8)": ("zero", 2),
    "zero": ("zero", None),
}
K = 8


def solver_for(config: str, guess: str, fischer: int | None) -> SequenceSolver:
    """A solver for one row; with ``fischer``, its KSP gets PETSc's Fischer guess (model ``fischer``,
    ``K`` vectors) through the options under the KSP's prefix, as the backend sets its other options."""
    solver = SequenceSolver(rtol=1e-8, backend="petsc", policy=f"fixed:{config}", initial_guess=guess, seed=0)
    if fischer is not None:
        method = solver._method(parse(config))
        extra = {"ksp_guess_type": "fischer", "ksp_guess_fischer_model": f"{fischer},{K}"}
        method.options = {**method.options, **extra}  # the KSPs are made at the first solve, from these
        if method._fast is not None:
            method._fast = {**method._fast, **extra}
    return solver


def run_workload(name: str, steps: int | None) -> dict:
    factory, config, default_steps = WORKLOADS[name]
    problem = factory()
    total = min(steps or default_steps, problem.steps)
    labels = list(ROWS)
    solvers = [solver_for(config, *ROWS[label]) for label in labels]
    seconds = np.zeros(len(labels))
    worst = np.zeros(len(labels))
    t_start = time.perf_counter()
    for k in range(total):
        system = problem.system()
        solutions = {}
        for i in [(j + k) % len(labels) for j in range(len(labels))]:
            t0 = time.perf_counter()
            x = solvers[i].solve(system.A, system.b, context=system.context)
            seconds[i] += time.perf_counter() - t0
            worst[i] = max(worst[i], np.linalg.norm(system.b - system.A @ x) / np.linalg.norm(system.b))
            solutions[i] = x
        problem.accept(solutions[0])
        if (k + 1) % max(1, total // 5) == 0:
            print(f"  {name}: {k + 1}/{total} systems, {time.perf_counter() - t_start:.0f} s", file=sys.stderr,
                  flush=True)
    base_s, base_it = seconds[0], sum(r.iterations for r in solvers[0].history)
    rows = []
    for label, s, sec, w in zip(labels, solvers, seconds, worst):
        it = sum(r.iterations for r in s.history)
        rows.append({"row": label, "seconds": round(float(sec), 3), "time_ratio": round(float(sec / base_s), 3),
                     "iterations": int(it), "iteration_ratio": round(it / base_it, 3),
                     "fallbacks": sum(r.fallback is not None for r in s.history),
                     "worst_true_residual": float(w)})
    return {"workload": name, "configuration": config, "unknowns": int(system.A.shape[0]), "systems": total,
            "wall_seconds": round(time.perf_counter() - t_start, 1), "rows": rows}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="heat2d-100,fem-heat,fem-heat-reuse,jump-repeat")
    ap.add_argument("--steps", type=int, default=None, help="systems per workload (default: per workload)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "guesses_petsc"))
    args = ap.parse_args(argv)
    threadpool_limits(1)
    warm_up("petsc")
    results = []
    for name in args.workloads.split(","):
        res = run_workload(name, args.steps)
        results.append(res)
        print(f"\n{name} ({res['unknowns']:,} unknowns, {res['systems']} systems, {res['configuration']})")
        print("| row | seconds | ×time | iterations | ×iter | fallbacks | worst residual |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in res["rows"]:
            print(f"| {r['row']} | {r['seconds']:.2f} | {r['time_ratio']:.3f} | {r['iterations']:,} | "
                  f"{r['iteration_ratio']:.3f} | {r['fallbacks']} | {r['worst_true_residual']:.1e} |", flush=True)
        write_json(args.out + ".json", {"blas_threads": 1, "rtol": 1e-8, "workloads": results,
                                        "provenance": provenance()}, indent=1)


if __name__ == "__main__":
    main()
