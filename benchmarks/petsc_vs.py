"""seqsolve on PETSc against PETSc's fixed configurations (and seqsolve's own), interleaved.

    PETSC_DIR=... python benchmarks/petsc_vs.py --nx 100 --steps 5000 [--fluid 0]

Every system is solved by every method in turn (in a seeded random order), each ``solve()`` call timed
whole (validation, policy, setup, iterations, true-residual check, fallback), one BLAS thread; the
problem advances with the first method's solution.  Each method reports its total time, its
ratio to ``auto`` on the PETSc backend, and the worst true relative residual it returned.
Writes ``benchmarks/results/petsc_vs_<workload>_T<steps>.json`` (summary only).

``--baseline FILE`` adds ``petsc auto (baseline)``: the learner of another revision (its
``seqsolve/policies/auto.py``, e.g. from ``git show REV:seqsolve/policies/auto.py``) on the PETSc
backend, run interleaved with this one, so a before/after comparison sees the same machine load.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

import seqsolve
from seqsolve.atomic import write_json
from seqsolve.bench import warm_up
from seqsolve.problems import Heat2D
from seqsolve.provenance import provenance

#: (label, backend, policy)
METHODS = [
    ("petsc auto", "petsc", "auto"),
    ("petsc cg+jacobi", "petsc", "fixed:jacobi-cg"),
    ("petsc cg+icc(0)", "petsc", "fixed:icc-cg"),
    ("petsc cg+ssor(1.8) [eisenstat]", "petsc", "fixed:ssor-cg(omega=1.8)"),
    ("petsc cg+gamg(adaptive)", "petsc", "fixed:amg-cg(adaptive)"),
    ("petsc cg+hypre(adaptive)", "petsc", "fixed:hypre-cg(adaptive)"),
    ("petsc cholesky", "petsc", "fixed:cholesky"),  # (PETSc's own, nested dissection; MUMPS before session 11)
    # (dropped, with a note, on a workload without a grid in A's pattern: it raises there)
    ("petsc fastdiag-cg", "petsc", "fixed:fastdiag-cg"),
    ("scipy numba-ssor-cg(1.8)", "scipy", "fixed:numba-ssor-cg(omega=1.8)"),
    ("scipy auto", "scipy", "auto"),
]


def baseline_policy(path: str):
    """A factory of ``AutoPolicy`` from another revision's ``auto.py``, imported as a module of this
    package (its relative imports resolve here: the learner is compared, not the rest)."""
    import importlib.util

    from seqsolve.backends.petsc import PetscBackend

    spec = importlib.util.spec_from_file_location("seqsolve.policies._auto_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)

    def make():
        policy = module.AutoPolicy(seed=0, backend=PetscBackend())
        policy.spec = "auto"
        return policy
    return make


def run(problem, steps: int, methods, symmetric: bool = True) -> dict:
    if not symmetric:  # CG-based rows cannot run: the general methods stand in
        methods = [m for m in methods if m[0].startswith("petsc auto") or m[2] == "auto"] + [
            ("petsc gmres+ilu", "petsc", "fixed:gmres(ilu)"), ("petsc bcgs+ilu", "petsc", "fixed:bicgstab(ilu)"),
            ("petsc lu(mumps)", "petsc", "fixed:direct"), ("scipy gmres+ilu", "scipy", "fixed:gmres(ilu)")]
    solvers = {label: seqsolve.SequenceSolver(rtol=1e-8, backend=be, policy=pol() if callable(pol) else pol, seed=0)
               for label, be, pol in methods}
    labels = list(solvers)
    times = {m: 0.0 for m in labels}
    worst = {m: 0.0 for m in labels}
    shuffle = np.random.default_rng(0)
    for k in range(steps):
        system = problem.system()
        x_ref = None
        # a seeded shuffle, not a rotation: in a rotation the baseline always ran right after `auto` on
        # the same system and found that code path warm (identical learners read 0.91 on Heat2D)
        for m in [labels[i] for i in shuffle.permutation(len(labels))]:
            t0 = time.perf_counter()
            try:
                x = solvers[m].solve(system.A, system.b, context=system.context, near_nullspace=system.near_nullspace)
            except seqsolve.SeqsolveError:
                if k or "fastdiag" not in m:
                    raise
                print(f"  ({m}: no grid in A's pattern, left out)")  # refused at once on FEM meshes
                labels.remove(m)
                del times[m], worst[m]
                continue
            times[m] += time.perf_counter() - t0
            r = np.linalg.norm(system.b - system.A @ x) / np.linalg.norm(system.b)
            worst[m] = max(worst[m], float(r))
            if m == labels[0]:
                x_ref = x
        problem.accept(x_ref)
    base = times["petsc auto"]
    fixed_petsc = [m for m, be, pol in methods if be == "petsc" and isinstance(pol, str) and pol.startswith("fixed:")
                   and m in times]
    best = min(fixed_petsc, key=times.get)
    out = {"seconds": times, "ratio_to_petsc_auto": {m: times[m] / base for m in labels},
           "worst_true_residual": worst, "best_fixed_petsc": best,
           "petsc_auto_over_best_fixed_petsc": base / times[best],
           "petsc_auto_choices": solvers["petsc auto"].summary()["configurations"]}
    if "petsc auto (baseline)" in times:
        out["baseline_petsc_auto_over_best_fixed_petsc"] = times["petsc auto (baseline)"] / times[best]
        out["baseline_petsc_auto_choices"] = solvers["petsc auto (baseline)"].summary()["configurations"]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nx", type=int, nargs="+", default=[100])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--suite", nargs="*", default=[], help="suite workloads (bench size) instead of Heat2D, "
                    "e.g. fluid2d fem-heat plaplace")
    ap.add_argument("--skip", nargs="*", default=[], help="labels to leave out (substring match), e.g. cholesky")
    ap.add_argument("--size", default="bench", help="suite size of --suite workloads (bench, holdout)")
    ap.add_argument("--baseline", default=None, help="another revision's seqsolve/policies/auto.py, run as "
                    "'petsc auto (baseline)'")
    args = ap.parse_args(argv)
    threadpool_limits(1)
    warm_up("petsc")
    methods = [m for m in METHODS if not any(k in m[0] for k in args.skip)]
    if args.baseline:
        methods.insert(1, ("petsc auto (baseline)", "petsc", baseline_policy(args.baseline)))
    if args.suite:
        from seqsolve.problems import suite

        workloads = suite()
        suffix = "" if args.size == "bench" else f"-{args.size}"
        jobs = [(name + suffix, workloads[name].make(args.size), workloads[name].symmetric) for name in args.suite]
    else:
        jobs = [(f"heat2d nx={nx}", Heat2D(nx=nx, steps=args.steps), True) for nx in args.nx]
    for label, problem, symmetric in jobs:
        steps = min(args.steps, problem.steps)
        result = run(problem, steps, methods, symmetric)
        print(f"\n{label}, {steps} steps (whole-call seconds, ratio to petsc auto, worst true residual)")
        for m, t in result["seconds"].items():
            print(f"  {m:32s} {t:8.2f} s  {result['ratio_to_petsc_auto'][m]:5.2f}  {result['worst_true_residual'][m]:.1e}")
        print(f"  petsc auto / best fixed PETSc ({result['best_fixed_petsc']}): "
              f"{result['petsc_auto_over_best_fixed_petsc']:.3f}"
              + (f"  (baseline {result['baseline_petsc_auto_over_best_fixed_petsc']:.3f})"
                 if "baseline_petsc_auto_over_best_fixed_petsc" in result else ""))
        stem = label.replace(" nx=", "_nx").replace(" ", "_")
        Path(args.out).mkdir(parents=True, exist_ok=True)
        write_json(f"{args.out}/petsc_vs_{stem}_T{steps}.json",
                   {"workload": label, "steps": steps, **result, "provenance": provenance()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
