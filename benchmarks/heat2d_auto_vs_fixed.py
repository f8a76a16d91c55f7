"""`auto` against the compiled iterative configurations on Heat2D, interleaved system by system.

    python benchmarks/heat2d_auto_vs_fixed.py --nx 100 --steps 5000

``fastdiag-cg`` needs no ``structure=`` hint: seqsolve finds the 5-point grid in the pattern, and
``auto`` may choose it too; the ratios are given against the best of all fixed configurations and
against the best *unstructured* one (CG, Jacobi-PCG, SSOR-PCG: issue 8's "iterative only" target).

After a warm-up on a tiny system (kernels and libraries loaded), every system is solved by
every method in turn (in a new random order each step, seeded: a rotation keeps each method
behind the same one, whose solve left its data in the caches), each ``solve()`` call timed whole (validation, policy, setup, iterations, residual check, fallback), one BLAS thread; the
problem advances with the first method's solution.  Prints each method's total and ``auto`` ÷ the
best fixed configuration in hindsight over the first 50, 500 and all systems, and writes
``benchmarks/results/heat2d_auto_vs_fixed_nx<nx>_T<steps>.{md,json}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import seqsolve
from seqsolve.atomic import write_json, write_text
from seqsolve.provenance import provenance
from seqsolve.bench import warm_up
from seqsolve.problems import Heat2D
from seqsolve.report import summary_by_role

#: the compiled Krylov configurations a user would pick for an SPD matrix with no structure in mind
UNSTRUCTURED = ["numba-cg", "numba-jacobi-cg"] + [f"numba-ssor-cg(omega={w})" for w in (1.6, 1.7, 1.75, 1.8, 1.85, 1.9)]
#: plus CG preconditioned by the separable part of the grid seqsolve finds in the pattern (no hint)
FIXED = UNSTRUCTURED + ["fastdiag-cg"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nx", type=int, default=100)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args(argv)
    threadpool_limits(1)
    warm_up()
    names = ["auto"] + FIXED
    solvers = {m: seqsolve.SequenceSolver(rtol=1e-8, policy="auto" if m == "auto" else f"fixed:{m}", seed=0)
               for m in names}
    times = {m: np.zeros(args.steps) for m in names}
    problem = Heat2D(nx=args.nx, steps=args.steps)
    rng = np.random.default_rng(0)
    for k in range(args.steps):
        system = problem.system()
        x_ref = None
        for m in rng.permutation(names):
            t0 = time.perf_counter()
            x = solvers[m].solve(system.A, system.b, context=system.context)
            times[m][k] = time.perf_counter() - t0
            if m == "auto":
                x_ref = x
        problem.accept(x_ref)
    horizons = [h for h in (50, 500, args.steps) if h <= args.steps]
    rows, ratios, plain = [], {}, {}
    for h in horizons:
        best = min(FIXED, key=lambda m: times[m][:h].sum())
        ratios[h] = (best, float(times["auto"][:h].sum() / times[best][:h].sum()))
        best = min(UNSTRUCTURED, key=lambda m: times[m][:h].sum())
        plain[h] = (best, float(times["auto"][:h].sum() / times[best][:h].sum()))
    lines = [f"# Heat2D nx={args.nx}, {args.steps} steps: auto against compiled fixed configurations", "",
             f"`python benchmarks/heat2d_auto_vs_fixed.py --nx {args.nx} --steps {args.steps}`; whole-call wall "
             "time, interleaved system by system, one BLAS thread, one run on a shared 2-core machine.", "",
             "| method | total s | iterations | fallbacks |", "|---|---:|---:|---:|"]
    for m in sorted(names, key=lambda m: times[m].sum()):
        s = solvers[m].summary()
        label = "**auto**" if m == "auto" else f"`{m}`"
        lines.append(f"| {label} | {times[m].sum():.2f} | {s['total_iterations']:,} | {s['fallbacks']} |")
        rows.append({"method": m, "seconds": float(times[m].sum()), "iterations": s["total_iterations"]})
    # the per-system oracle (the fastest fixed configuration on each system, timings as measured):
    # what a selector over this portfolio could at most reach; biased low, as a minimum of noisy times
    oracle = np.min(np.vstack([times[m] for m in FIXED]), axis=0)
    lines += ["", "| first k systems | best fixed in hindsight | auto ÷ best | per-system oracle ÷ best "
              "| best unstructured fixed | auto ÷ it |", "|---:|---|---:|---:|---|---:|"]
    for h, (best, r) in ratios.items():
        lines.append(f"| {h} | `{best}` | {r:.2f} | {oracle[:h].sum() / times[best][:h].sum():.2f} "
                     f"| `{plain[h][0]}` | {plain[h][1]:.2f} |")
    used = {}
    for rec in solvers["auto"].history:
        used[rec.configuration] = used.get(rec.configuration, 0) + 1
    lines += ["", "auto's choices: " + ", ".join(f"`{c}` ×{k}" for c, k in sorted(used.items(), key=lambda kv: -kv[1])[:6])
              + "."]
    roles = summary_by_role(solvers["auto"].history)
    share = {k: v["seconds"] / max(1e-12, sum(r.seconds for r in solvers["auto"].history)) for k, v in roles.items()}
    lines += ["", f"auto's solver time: exploring {100 * share['explore']:.1f} %, fallbacks "
              f"{100 * share['fallback']:.1f} %."]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"heat2d_auto_vs_fixed_nx{args.nx}_T{args.steps}"
    write_text(out / f"{stem}.md", text)
    write_json(out / f"{stem}.json", {"nx": args.nx, "steps": args.steps, "methods": rows,
                                       "ratios": {str(h): {"best": b, "ratio": r,
                                                           "oracle_ratio": float(oracle[:h].sum() / times[b][:h].sum()),
                                                           "best_unstructured": plain[h][0],
                                                           "ratio_unstructured": plain[h][1]}
                                                  for h, (b, r) in ratios.items()},
                                       "auto_time_share": share, "provenance": provenance()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
