"""Benchmark: ``auto`` of this checkout against another checkout's, and both against one fixed
configuration, on a sequence of ``benchmarks/unseen_sequences.py``, interleaved in one process.

Why: ``ab_checkouts.py`` takes the suite's workloads; the unseen sequences are where this
release's changes show (400-unknown systems where the policy's own work is the cost, a
pseudo-transient whose late systems are solved by their start).  Every system is solved by the
three in a seeded random order, each call timed whole, after an untimed pass over the whole
sequence by each (every kernel either checkout uses loaded: a baseline's cold compile inside a
timed solve read as seconds).

    git -C . archive REV | (mkdir -p /tmp/base && tar -x -C /tmp/base)
    NUMBA_CACHE_DIR=/tmp/nb-ab python benchmarks/ab_unseen.py /tmp/base small --fixed "numba-ssor-cg(omega=1.2)"
    PETSC_DIR=... python benchmarks/ab_unseen.py /tmp/base biharmonic --fixed cholesky --backend petsc

Prints new ÷ base and each ÷ the fixed configuration over the first k systems, the full decisions
each ``auto`` made (records with policy time over 20 µs) and its explorations.  One BLAS thread;
read the ratios, not the seconds.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_checkouts import load_baseline  # noqa: E402
from unseen_sequences import WORKLOADS  # noqa: E402

import seqsolve  # noqa: E402
from seqsolve.atomic import write_json  # noqa: E402


def run(workload: str, base, fixed: str, rtol: float = 1e-8, backend: str = "scipy") -> dict:
    systems = [(s[0], s[1]) for s in WORKLOADS[workload]()]
    makers = {"new": lambda: seqsolve.SequenceSolver(rtol=rtol, policy="auto", seed=0, backend=backend),
              "base": lambda: base.SequenceSolver(rtol=rtol, policy="auto", seed=0, backend=backend),
              "fixed": lambda: seqsolve.SequenceSolver(rtol=rtol, policy=f"fixed:{fixed}", backend=backend)}
    for make in makers.values():  # untimed: every kernel loaded
        solver = make()
        for A, b in systems:
            solver.solve(A, b)
    solvers = {k: make() for k, make in makers.items()}
    seconds: dict[str, list[float]] = {k: [] for k in solvers}
    order, keys = np.random.default_rng(0), list(solvers)
    for A, b in systems:
        for k in (keys[i] for i in order.permutation(len(keys))):
            t0 = time.perf_counter()
            solvers[k].solve(A, b)
            seconds[k].append(time.perf_counter() - t0)
    total = len(systems)
    horizons = [h for h in (20, 50, 100, 200) if h < total] + [total]

    def ratio(a: str, b: str, h: int) -> float:
        return sum(seconds[a][:h]) / sum(seconds[b][:h])

    return {"workload": workload, "backend": backend, "systems": total, "fixed": fixed,
            "new_over_base": {str(h): ratio("new", "base", h) for h in horizons},
            "new_over_fixed": {str(h): ratio("new", "fixed", h) for h in horizons},
            "base_over_fixed": {str(h): ratio("base", "fixed", h) for h in horizons},
            "seconds": {k: sum(v) for k, v in seconds.items()},
            "full_decisions": {k: sum(r.policy_seconds > 20e-6 for r in solvers[k].history) for k in ("new", "base")},
            "explorations": {k: sum(r.explored for r in solvers[k].history) for k in ("new", "base")},
            "most_used": {k: Counter(r.configuration for r in solvers[k].history).most_common(3) for k in ("new", "base")}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baseline", type=Path, help="a checkout (a directory holding seqsolve/)")
    ap.add_argument("workload", choices=sorted(WORKLOADS))
    ap.add_argument("--fixed", default="subdomain-deflated-cg", help="the fixed configuration to compare with")
    ap.add_argument("--backend", default="scipy", choices=("scipy", "petsc"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    base = load_baseline(args.baseline.resolve())
    with threadpool_limits(1):
        r = run(args.workload, base, args.fixed, backend=args.backend)
    for key in ("new_over_base", "new_over_fixed", "base_over_fixed"):
        print(f"{args.workload:16s} {key:15s} " + "  ".join(f"@{h} {v:.3f}" for h, v in r[key].items()))
    print(f"    full decisions {r['full_decisions']}, explorations {r['explorations']}")
    print(f"    new: {r['most_used']['new']}\n    base: {r['most_used']['base']}", flush=True)
    if args.out is not None:
        write_json(args.out, {"baseline": str(args.baseline), **r}, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
