"""Benchmark: seqsolve's per-call overhead around the backend (issue 9, "kernel and call parity").

``SequenceSolver.solve(A, b)`` validates, fingerprints, tests symmetry, asks the policy, runs the
backend and certifies the true residual.  Everything but the backend's own work is overhead, and
on a small system (Heat2D nx=100: 9,801 unknowns, ~1 ms per solve) it must stay a few percent.

Per call three times are measured:

* ``wall``: the whole ``solve()`` call;
* ``record``: what the solve record charges (``record.seconds``: guess, setup, iterations and the
  certified residual check);
* ``kernel``: the compiled PCG kernel alone (the Numba function is wrapped by a timer; ~0.2 µs).

and the overhead is reported as ``wall − record`` and ``wall − kernel`` (the latter also holds
``prepare`` and the residual check), in µs per call and in % of the whole call; the last column
is the median ``wall − record`` over the median ``wall``: on a shared machine a 4 ms time slice
given to another process lands in a few calls in a thousand, and moves a mean by more than the
changes measured, where medians are robust to it.  The solvers
compared run interleaved step by step, each on its own copy of the sequence, so a change of load
on a shared machine hits all alike.  One BLAS thread.  Before/after numbers come from running this
same script on two checkouts (``PYTHONPATH`` pointing at each).

Usage::

    python benchmarks/call_overhead.py [--nx 100 200] [--steps 2000] [--label after]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import seqsolve  # noqa: E402
from seqsolve.problems import Heat2D  # noqa: E402
from seqsolve.solvers import compiled  # noqa: E402

POLICIES = ("fixed:numba-ssor-cg(omega=1.8)", "auto")
WARMUP = 20  # first calls load kernels and (auto) explore: not counted
OUT = ROOT / "benchmarks" / "results"


class _KernelTimer:
    """Wraps a seqsolve copy's compiled kernels so the seconds spent inside them can be summed."""

    def __init__(self, compiled_module) -> None:
        self.seconds = 0.0
        for name in ("_eisenstat_kernel", "_pcg_kernel"):
            setattr(compiled_module, name, self._timed(getattr(compiled_module, name)))

    def _timed(self, kernel):
        def run(*args):
            t0 = time.perf_counter()
            out = kernel(*args)
            self.seconds += time.perf_counter() - t0
            return out
        return run


def load_baseline(checkout: Path):
    """Import ``checkout``'s seqsolve as the package ``seqsolve_baseline`` (its imports are relative)."""
    spec = importlib.util.spec_from_file_location(
        "seqsolve_baseline", checkout / "seqsolve" / "__init__.py",
        submodule_search_locations=[str(checkout / "seqsolve")])
    module = importlib.util.module_from_spec(spec)
    sys.modules["seqsolve_baseline"] = module
    spec.loader.exec_module(module)
    return module


def run(nx: int, steps: int, variants: dict) -> dict:
    """Interleave one solver per (variant, policy), each along its own copy of Heat2D(nx)."""
    runs = {(v, p): (package.SequenceSolver(rtol=1e-8, policy=p), Heat2D(nx=nx, steps=steps), timer)
            for v, (package, timer) in variants.items() for p in POLICIES}
    rows = {key: {"wall": [], "record": [], "kernel": []} for key in runs}
    for step in range(steps):
        for key, (solver, problem, timer) in runs.items():
            s = problem.system()
            k0 = timer.seconds
            t0 = time.perf_counter()
            x = solver.solve(s.A, s.b)
            wall = time.perf_counter() - t0
            problem.accept(x)
            if step >= WARMUP:
                rows[key]["wall"].append(wall)
                rows[key]["record"].append(solver.history[-1].seconds)
                rows[key]["kernel"].append(timer.seconds - k0)
    out = {}
    for (v, p), r in rows.items():
        wall, rec, ker = (np.array(r[k]) for k in ("wall", "record", "kernel"))
        out[f"{v} {p}"] = {
            "variant": v,
            "policy": p,
            "calls": int(wall.size),
            "configurations": runs[v, p][0].summary()["configurations"],
            "wall_us": 1e6 * wall.mean(),
            "record_us": 1e6 * rec.mean(),
            "kernel_us": 1e6 * ker.mean(),
            "over_record_us": 1e6 * (wall - rec).mean(),
            "over_record_pct": 100 * (wall - rec).sum() / wall.sum(),
            "over_kernel_us": 1e6 * (wall - ker).mean(),
            "over_kernel_pct": 100 * (wall - ker).sum() / wall.sum(),
            # medians per call: robust to the odd preempted call on a shared machine
            "median_over_record_us": 1e6 * statistics.median(wall - rec),
            "median_over_kernel_us": 1e6 * statistics.median(wall - ker),
            "median_wall_us": 1e6 * statistics.median(wall),
            # robust to the OS's preemptions (another process given a 4 ms time slice: a slice that
            # lands outside the record moves the mean by ~4 µs per 1000 calls, more than the changes
            # measured here), as a share of the call
            "median_over_record_pct": 100 * statistics.median(wall - rec) / statistics.median(wall),
        }
    return out


def table(results: dict, label: str) -> str:
    lines = [f"### {label}", "",
             "| nx | variant | policy | calls | wall µs/call | record µs | kernel µs | wall−record µs (%) | "
             "wall−kernel µs (%) | median wall−record / wall−kernel µs | median wall−record ÷ median wall |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for nx, per in results.items():
        for r in per.values():
            lines.append(
                f"| {nx} | {r['variant']} | `{r['policy']}` | {r['calls']} | {r['wall_us']:.0f} | {r['record_us']:.0f} | {r['kernel_us']:.0f} | "
                f"{r['over_record_us']:.0f} ({r['over_record_pct']:.1f} %) | "
                f"{r['over_kernel_us']:.0f} ({r['over_kernel_pct']:.1f} %) | "
                f"{r['median_over_record_us']:.0f} / {r['median_over_kernel_us']:.0f} | "
                f"{r['median_over_record_pct']:.1f} % |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nx", type=int, nargs="+", default=[100])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--label", default="after")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another checkout (e.g. a git worktree of the base commit) run interleaved as 'base'")
    ap.add_argument("--note", default="", help="a sentence saying what the run compares (goes to the .md)")
    args = ap.parse_args()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    variants = {"this": (seqsolve, _KernelTimer(compiled))}
    if args.baseline is not None:
        base = load_baseline(args.baseline.resolve())
        variants["base"] = (base, _KernelTimer(importlib.import_module("seqsolve_baseline.solvers.compiled")))
    results = {}
    with threadpool_limits(1):
        for nx in args.nx:
            results[nx] = run(nx, args.steps, variants)
    label = f"{args.label} (commit {commit}, {args.steps} steps, first {WARMUP} not counted)"
    text = table(results, label)
    print(text)
    payload = {"label": args.label, "commit": commit, "steps": args.steps, "warmup": WARMUP,
               "seqsolve": str(Path(seqsolve.__file__).parent), "python": platform.python_version(),
               "machine": platform.processor() or platform.machine(), "results": results, "table": text}
    if args.note:
        payload["note"] = args.note
    write(args.out, args.label, payload)


HEADER = """# Per-call overhead of SequenceSolver.solve (benchmarks/call_overhead.py)

wall: the whole solve() call; record: record.seconds (guess, setup, iterations, certified residual
check); kernel: the compiled PCG kernel alone (since this branch it also makes the certified check's
residual pass, which before was a separate pass inside record).  Means per call over the calls after
the first 20 unless marked median.  Heat2D, rtol=1e-8, one BLAS thread, a shared 2-core machine:
compare numbers within one table (same run, same load) rather than across tables.
"""


def write(out: Path, label: str, payload: dict) -> None:
    """Add (or replace) ``label``'s run in call_overhead.json and re-render call_overhead.md."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "call_overhead.json"
    runs = json.loads(path.read_text()) if path.exists() else {}
    runs[label] = payload
    path.write_text(json.dumps(runs, indent=2) + "\n")
    parts = [HEADER] + [r["table"] + (f"\n{r['note']}\n" if r.get("note") else "") for r in runs.values()]
    (out / "call_overhead.md").write_text("\n".join(parts))


if __name__ == "__main__":
    main()
