"""Cold and warm start: the first solve of a fresh process, with and without Numba's cache.

Usage::

    python benchmarks/first_solve.py [--nx 64] [--out benchmarks/results/first_solve.json]

Runs, each in a fresh interpreter: ``import seqsolve`` alone; then ``import seqsolve`` plus one
``SequenceSolver(policy="auto").solve`` of a Heat2D system, first with an empty
``NUMBA_CACHE_DIR`` (cold: every kernel compiles), then twice more with that same folder
(warm: kernels load from the cache).  Times are wall seconds measured inside the child, and the
first solve's CPU seconds (which other jobs on a shared machine do not inflate).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import seqsolve
t_import = time.perf_counter() - t0
out = {"import_seconds": t_import}
if sys.argv[1] == "solve":
    from seqsolve.problems import Heat2D
    problem = Heat2D(nx=int(sys.argv[2]), steps=50)
    for _ in range(30):  # a system from the hard part of the sequence, not the trivial first one
        system = problem.system()
        problem.accept(system.b)
    t1, c1 = time.perf_counter(), time.process_time()
    solver = seqsolve.SequenceSolver(policy="auto")
    problem.accept(solver.solve(system.A, system.b, context=system.context))
    out["first_solve_seconds"] = time.perf_counter() - t1
    out["first_solve_cpu_seconds"] = time.process_time() - c1
    out["configuration"] = solver.history[-1].configuration
    system = problem.system()
    t2 = time.perf_counter()
    solver.solve(system.A, system.b, context=system.context)
    out["second_solve_seconds"] = time.perf_counter() - t2
out["total_seconds"] = time.perf_counter() - t0
print(json.dumps(out))
"""


def child(mode: str, nx: int, cache: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    done = subprocess.run([sys.executable, "-c", CHILD, mode, str(nx)], env=env, capture_output=True,
                          text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nx", type=int, default=64)
    ap.add_argument("--out", default=None, help="write the measurements here (.json)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        rows = {"import only": child("import", a.nx, cache),
                "cold (empty Numba cache)": child("solve", a.nx, cache),
                "warm (cache filled)": child("solve", a.nx, cache),
                "warm, again": child("solve", a.nx, cache)}
    print(f"| process (Heat2D nx={a.nx}) | import s | first solve s (CPU s) | second solve s | whole s |")
    print("|---|---:|---:|---:|---:|")
    nan = float("nan")
    for name, r in rows.items():
        print(f"| {name} | {r['import_seconds']:.2f} | {r.get('first_solve_seconds', nan):.2f} "
              f"({r.get('first_solve_cpu_seconds', nan):.2f}) | {r.get('second_solve_seconds', nan):.3f} "
              f"| {r['total_seconds']:.2f} |")
    if a.out:
        from seqsolve.atomic import write_json
        from seqsolve.provenance import provenance

        write_json(a.out, {"nx": a.nx, "rows": rows, "provenance": provenance()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
