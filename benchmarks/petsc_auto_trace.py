"""Where PETSc ``auto`` loses time against the best fixed PETSc configuration: a per-system trace.

    PETSC_DIR=... python benchmarks/petsc_auto_trace.py fem-heat plaplace --steps 60 [--size holdout]

Every system is solved by ``auto`` and by each fixed PETSc configuration in turn (interleaved, the
order rotating, one BLAS thread, whole-call wall time), as in ``petsc_vs.py``.  For ``auto`` each
system's record is kept (configuration, iterations, setup, solve, fallback, whether it explored);
the excess over the best fixed configuration is then split by cause: screening tries (first tries
of a family), other explorations, fallbacks, exploitation of another configuration than the
best fixed one, and per-call overhead (whole-call time outside the record's setup + solve).
Prints the split, the systems that cost most beyond the best fixed, and auto's first 25 choices
(nothing is written: it is a diagnosis, the measured ratios come from ``petsc_vs.py``).
"""

from __future__ import annotations

import argparse
import time

from threadpoolctl import threadpool_limits

import seqsolve
from seqsolve.bench import warm_up

#: the fixed PETSc configurations auto is compared with (per symmetry of the workload)
FIXED_SPD = ["icc-cg", "ssor-cg(omega=1.8)", "amg-cg(adaptive)", "hypre-cg(adaptive)", "cholesky"]
FIXED_GENERAL = ["gmres(ilu)", "bicgstab(ilu)", "direct"]


def trace(problem, steps: int, fixed: list[str], auto_kwargs: dict | None = None) -> dict:
    """Run ``auto`` and ``fixed`` interleaved on ``steps`` systems; per-system rows for auto."""
    solvers = {"auto": seqsolve.SequenceSolver(rtol=1e-8, backend="petsc", policy="auto", seed=0,
                                               **(auto_kwargs or {}))}
    for name in fixed:
        solvers[name] = seqsolve.SequenceSolver(rtol=1e-8, backend="petsc", policy=f"fixed:{name}", seed=0)
    labels = list(solvers)
    walls = {m: [] for m in labels}
    for k in range(steps):
        system = problem.system()
        x_ref = None
        for m in labels[k % len(labels):] + labels[:k % len(labels)]:
            t0 = time.perf_counter()
            x = solvers[m].solve(system.A, system.b, context=system.context, near_nullspace=system.near_nullspace)
            walls[m].append(time.perf_counter() - t0)
            if m == labels[0]:
                x_ref = x
        problem.accept(x_ref)
    totals = {m: sum(w) for m, w in walls.items()}
    best = min(fixed, key=totals.get)
    rows = []
    for i, r in enumerate(solvers["auto"].history):
        rows.append({"i": i, "config": r.configuration, "its": r.iterations, "setup": r.setup_seconds,
                     "solve": r.solve_seconds, "wall": walls["auto"][i], "best_wall": walls[best][i],
                     "fallback": r.fallback, "explored": r.explored, "reused": r.setup_reused,
                     "status": r.status, "best_its": solvers[best].history[i].iterations})
    return {"totals": totals, "best": best, "rows": rows,
            "fixed_rows": {m: [(h.iterations, h.setup_seconds, h.solve_seconds, w)
                               for h, w in zip(solvers[m].history, walls[m])] for m in fixed}}


def causes(result: dict) -> dict[str, float]:
    """auto's excess over the best fixed, in seconds, split by what auto did on each system."""
    best = result["best"]
    out: dict[str, float] = {}
    seen: set[str] = set()
    for r in result["rows"]:
        excess = r["wall"] - r["best_wall"]
        fam = r["config"].split("(omega")[0]
        if r["fallback"]:
            key = "fallback (capped try + fallback)"
        elif r["explored"] and fam not in seen:
            key = "first try of a family"
        elif r["explored"]:
            key = "other exploration (ω, re-validation)"
        elif r["config"] != best:
            key = f"exploiting {r['config']}"
        else:
            key = "exploiting the best fixed"
        seen.add(fam)
        out[key] = out.get(key, 0.0) + excess
    out["per-call overhead (wall - setup - solve), all systems"] = sum(
        r["wall"] - r["setup"] - r["solve"] for r in result["rows"])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workloads", nargs="+")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--size", default="bench")
    ap.add_argument("--fixed", nargs="*", default=None)
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args(argv)
    threadpool_limits(1)
    warm_up("petsc")
    from seqsolve.problems import suite

    workloads = suite()
    for name in args.workloads:
        w = workloads[name]
        problem = w.make(args.size)
        fixed = args.fixed if args.fixed is not None else (FIXED_SPD if w.symmetric else FIXED_GENERAL)
        steps = min(args.steps, problem.steps)
        res = trace(problem, steps, fixed)
        t = res["totals"]
        print(f"\n== {name} ({args.size}), {steps} systems: auto {t['auto']:.3f} s, best fixed {res['best']} "
              f"{t[res['best']]:.3f} s, ratio {t['auto'] / t[res['best']]:.3f}")
        print("   fixed:", ", ".join(f"{m} {t[m]:.3f}" for m in res["fixed_rows"]))
        print("   per-call overhead:", ", ".join(
            f"{m} {sum(w - su - so for _, su, so, w in rows) * 1e3:.0f} ms" for m, rows in res["fixed_rows"].items()))
        for key, v in causes(res).items():
            print(f"   {key:55s} {v:+.3f} s")
        worst = sorted(res["rows"], key=lambda r: r["wall"] - r["best_wall"], reverse=True)[:args.top]
        for r in sorted(worst, key=lambda r: r["i"]):
            print(f"   #{r['i']:3d} {r['config']:22s} its {r['its']:4d} (best {r['best_its']:4d}) setup {r['setup']*1e3:7.1f} "
                  f"solve {r['solve']*1e3:7.1f} wall {r['wall']*1e3:7.1f} best {r['best_wall']*1e3:7.1f} ms "
                  f"{'explore ' if r['explored'] else ''}{'reused ' if r['reused'] else ''}"
                  f"{'fb=' + r['fallback'] if r['fallback'] else ''} {r['status']}")
        seq = [(r["config"], r["its"]) for r in res["rows"][:25]]
        print("   first 25:", " ".join(f"{c}:{i}" for c, i in seq))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
