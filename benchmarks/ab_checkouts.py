"""Benchmark: ``auto`` of this checkout against ``auto`` of another whole checkout, interleaved.

Why: ``auto_ab.py --baseline`` swaps only the learner (``policies/auto.py``); a change to how the
solver runs an attempt (``solver.py``: probes, budgets, fallbacks) needs the other revision's whole
package.  It is imported as ``seqsolve_baseline`` (its imports are relative), both solve their own
copy of each workload system by system in a seeded random order, and every kernel either uses is
loaded on a few test-size systems first (a cold Numba compile inside a timed solve read as 10x).

    git -C . archive REV | (mkdir -p /tmp/base && tar -x -C /tmp/base)
    NUMBA_CACHE_DIR=/tmp/nb-ab python benchmarks/ab_checkouts.py /tmp/base --size bench --steps 60

Prints ``new/base`` after 20, 50 and all systems per workload, and each side's three most used
configurations; ``--out`` writes the same as JSON.  One BLAS thread; read the ratios, not the seconds.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from _collector import untimed_collections  # noqa: E402

import seqsolve  # noqa: E402
from seqsolve.atomic import write_json  # noqa: E402
from seqsolve.problems import suite  # noqa: E402


def load_baseline(checkout: Path):
    """``checkout``'s seqsolve as the package ``seqsolve_baseline``."""
    spec = importlib.util.spec_from_file_location("seqsolve_baseline", checkout / "seqsolve" / "__init__.py",
                                                  submodule_search_locations=[str(checkout / "seqsolve")])
    module = importlib.util.module_from_spec(spec)
    sys.modules["seqsolve_baseline"] = module
    spec.loader.exec_module(module)
    return module


def _solve(solver, system):
    kw = {"near_nullspace": system.near_nullspace} if getattr(system, "near_nullspace", None) is not None else {}
    return solver.solve(system.A, system.b, context=system.context, **kw)


def interleave(name: str, packages: dict, size: str, steps: int, backend: str = "scipy",
               policy: str = "auto") -> tuple[dict, dict[str, list[float]]]:
    """Each package's ``SequenceSolver(policy)`` on its own copy of workload ``name``, system by
    system in a seeded random order, after an untimed warm-up on test-size systems (every kernel the
    workload uses loaded); returns the solvers and each one's whole-call seconds per system."""
    workload = suite()[name]
    for package in packages.values():  # load every kernel this workload uses, untimed
        problem, solver = workload.make("test"), package.SequenceSolver(policy=policy, backend=backend)
        for _ in range(min(8, problem.steps)):
            problem.accept(_solve(solver, problem.system()))
    solvers = {k: p.SequenceSolver(policy=policy, backend=backend) for k, p in packages.items()}
    problems = {k: workload.make(size) for k in packages}
    seconds: dict[str, list[float]] = {k: [] for k in packages}
    order = np.random.default_rng(0)
    keys = list(packages)
    with untimed_collections() as between:  # (the collector between systems, untimed: _collector.py)
        for step in range(min(steps, problems[keys[0]].steps)):
            between(step)
            for k in (keys[i] for i in order.permutation(len(keys))):
                system = problems[k].system()
                t0 = time.perf_counter()
                x = _solve(solvers[k], system)
                seconds[k].append(time.perf_counter() - t0)
                problems[k].accept(x)
    return solvers, seconds


def run_workload(name: str, packages: dict, size: str, steps: int, backend: str, trace: bool = False) -> dict:
    solvers, seconds = interleave(name, packages, size, steps, backend)
    total = len(seconds["new"])
    out = {"workload": name, "systems": total,
           "ratio": {str(h): sum(seconds["new"][:h]) / sum(seconds["base"][:h]) for h in (20, 50, total) if h <= total},
           "seconds": {k: sum(v) for k, v in seconds.items()},
           "most_used": {k: Counter(r.configuration for r in s.history).most_common(3) for k, s in solvers.items()}}
    if trace:  # per system: whole-call ms, the configuration, explored, the fallback (to find where two sides part)
        out["trace"] = {k: [[round(1e3 * t, 2), r.configuration, r.explored, r.fallback]
                            for t, r in zip(seconds[k], s.history)] for k, s in solvers.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baseline", type=Path, help="a checkout (a directory holding seqsolve/)")
    ap.add_argument("--size", default="bench")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--workloads", default=",".join(suite()))
    ap.add_argument("--backend", default="scipy")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--trace", action="store_true", help="also write each system's time and choice per side")
    args = ap.parse_args(argv)
    packages = {"new": seqsolve, "base": load_baseline(args.baseline.resolve())}
    results = []
    with threadpool_limits(1):
        for name in args.workloads.split(","):
            r = run_workload(name, packages, args.size, args.steps, args.backend, args.trace)
            results.append(r)
            ratios = "  ".join(f"@{h} {v:.3f}" for h, v in r["ratio"].items())
            print(f"{name:16s} new/base {ratios}   new {r['seconds']['new']:.2f} s, base {r['seconds']['base']:.2f} s")
            print(f"    new: {r['most_used']['new']}\n    base: {r['most_used']['base']}", flush=True)
    if args.out is not None:
        write_json(args.out, {"baseline": str(args.baseline), "size": args.size, "steps": args.steps,
                              "backend": args.backend, "workloads": results}, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
