"""Benchmark: the cost of ``projection(k)``'s ``update`` and ``form`` per step (issue 10).

The projection guess pays only where forming it costs less than the iterations it saves.  This
times its two verbs on a sequence of nearly parallel solutions, old and new implementation taking
turns step by step in one process (one BLAS thread), at n = 32,513 (the FEM heat benchmark's
matrix) and n = 9,801 (Heat2D nx=100), k = 4 and 8, with the matrix unchanged (the same
fingerprint every step: one product a step) and changed (a new fingerprint every step: ``k``
products), and the minres variant with an unchanged matrix.  The window is full before timing
starts, so every step also drops the oldest solution.  The old implementation is
``seqsolve/guesses/projection.py`` at ``--base`` (default: the branch point of issue 10).

Usage::

    python benchmarks/projection_cost.py [--steps 200] [--base 0e65d3f]

Prints a table (medians, ms per step) and writes ``benchmarks/results/projection_cost.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's seqsolve

from seqsolve.atomic import write_json  # noqa: E402
from seqsolve.guesses import Projection  # noqa: E402
from seqsolve.guesses.projection import warmup  # noqa: E402
from seqsolve.problems import Heat2D, suite  # noqa: E402

from _revision import module_at  # noqa: E402

BASE = "0e65d3f"
OUT = Path(__file__).parent / "results" / "projection_cost.json"
#: (matrix, k, key changes every step, variant)
CASES = [(m, k, changed, "auto") for m in ("fem-heat", "heat2d-100") for k in (4, 8) for changed in (False, True)]
CASES += [(m, 8, False, "minres") for m in ("fem-heat", "heat2d-100")]


def matrices() -> dict:
    """The two operators: the FEM heat benchmark's first matrix and Heat2D's (nx=100)."""
    fem = suite()["fem-heat"].make("bench")
    fem.reset()
    return {"fem-heat": fem.system().A, "heat2d-100": Heat2D(nx=100, steps=2).system().A}


def solutions(n: int, steps: int, seed: int = 0) -> list[np.ndarray]:
    """Smooth in time plus a little noise: consecutive solutions nearly parallel, as in a sequence."""
    rng = np.random.default_rng(seed)
    s = np.linspace(0.0, 1.0, n)
    d = rng.standard_normal((3, n))
    return [np.sin(3 * s + 0.01 * t) + 0.01 * t * d[0] + np.sin(0.3 * t) * d[1] + 1e-4 * rng.standard_normal(n)
            for t in range(steps)]


def run_case(A, k: int, changed: bool, variant: str, steps: int, old_class: type) -> dict:
    """Median ms of ``update`` and ``form`` for the old and the new class, interleaved."""
    n = A.shape[0]
    guesses = {"old": old_class(k=k, variant=variant), "new": Projection(k=k, variant=variant)}
    xs = solutions(n, steps + k + 2)
    b = A @ xs[-1]
    times = {name: {"update": [], "form": []} for name in guesses}
    worst = 0.0
    for t, x in enumerate(xs):
        key = t if changed else "A"
        order = list(guesses) if t % 2 else list(guesses)[::-1]
        formed = {}
        for name in order:
            g = guesses[name]
            t0 = time.perf_counter()
            g.update(A, None, x, key=key)
            t1 = time.perf_counter()
            formed[name] = g.form(A, b, key=key)
            t2 = time.perf_counter()
            if t >= k + 2:  # the window is full: every step drops the oldest
                times[name]["update"].append(t1 - t0)
                times[name]["form"].append(t2 - t1)
        worst = max(worst, float(np.linalg.norm(formed["new"] - formed["old"]) / np.linalg.norm(formed["old"])))
    out = {"n": n, "k": k, "matrix": "changed" if changed else "unchanged", "variant": variant,
           "max_relative_difference": worst}
    for name, tt in times.items():
        u, f = np.median(tt["update"]) * 1e3, np.median(tt["form"]) * 1e3
        s = np.median(np.add(tt["update"], tt["form"])) * 1e3
        out[name] = {"update_ms": round(float(u), 4), "form_ms": round(float(f), 4), "step_ms": round(float(s), 4)}
    out["speedup"] = round(out["old"]["step_ms"] / out["new"]["step_ms"], 2)
    return out


def product_ms(A, k: int, repeats: int = 50) -> dict:
    """What one product and one block product of ``k`` columns cost here: the floor of a step."""
    n = A.shape[0]
    x, X = np.ones(n), np.ones((n, k))
    one, block = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        A @ x
        t1 = time.perf_counter()
        A @ X
        block.append(time.perf_counter() - t1)
        one.append(t1 - t0)
    return {"one_product_ms": round(float(np.median(one)) * 1e3, 4), "block_product_ms": round(float(np.median(block)) * 1e3, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200, help="timed steps per case (default 200)")
    ap.add_argument("--base", default=BASE, help=f"git revision of the old implementation (default {BASE})")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    old_class = module_at(args.base, "seqsolve/guesses/projection.py").Projection
    warmup()  # the compiled block product is loaded before anything is timed
    mats = matrices()
    rows = []
    print(f"| n | k | matrix | variant | old update | new update | old form | new form | old step | new step | ×faster "
          f"| 1 product | k-block product | max rel. diff |\n|{'---:|' * 14}")
    for name, k, changed, variant in CASES:
        A = mats[name]
        row = run_case(A, k, changed, variant, args.steps, old_class) | product_ms(A, k)
        rows.append(row)
        o, w = row["old"], row["new"]
        print(f"| {row['n']:,} | {k} | {row['matrix']} | {variant} | {o['update_ms']:.3f} | {w['update_ms']:.3f} "
              f"| {o['form_ms']:.3f} | {w['form_ms']:.3f} | {o['step_ms']:.3f} | {w['step_ms']:.3f} | {row['speedup']:.2f} "
              f"| {row['one_product_ms']:.3f} | {row['block_product_ms']:.3f} | {row['max_relative_difference']:.1e} |",
              flush=True)
    write_json(Path(args.out), {"base": args.base, "steps": args.steps, "unit": "ms per step (median)",
                                "machine": platform.processor() or platform.machine(), "cases": rows})


if __name__ == "__main__":
    main()
