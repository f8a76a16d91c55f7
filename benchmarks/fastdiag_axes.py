"""Benchmark: one fixed configuration (and ``auto``) of this checkout against another checkout, interleaved.

Why: ``ab_checkouts.py`` compares ``auto`` only; the per-axis follow of ``fastdiag-cg``
(:mod:`seqsolve.solvers.fastdiag_reuse`) is judged first on the fixed configuration.  Both sides
solve their own copy of each workload system by system in a seeded random order, after a warm-up on
test-size systems (kernels loaded, untimed).

    git -C /work/main archive HEAD | (mkdir -p /tmp/base && tar -x -C /tmp/base)
    NUMBA_CACHE_DIR=/tmp/nb python benchmarks/fastdiag_axes.py /tmp/base --steps 60 \
        --policies fixed:fastdiag-cg,auto --workloads heat3d-aniso

Prints ``new/base`` per policy and workload, with mean iterations and setups reused.  One BLAS thread.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seqsolve  # noqa: E402
from ab_checkouts import interleave, load_baseline  # noqa: E402


def run(name: str, policy: str, packages: dict, size: str, steps: int) -> dict:
    solvers, seconds = interleave(name, packages, size, steps, policy=policy)
    out = {"workload": name, "policy": policy, "systems": len(seconds["new"]),
           "ratio": sum(seconds["new"]) / sum(seconds["base"])}
    for k, s in solvers.items():
        h = s.history
        out[k] = {"seconds": sum(seconds[k]), "ms_per_system": 1e3 * sum(seconds[k]) / len(h),
                  "iterations": float(np.mean([r.iterations for r in h])),
                  "reused": sum(r.setup_reused for r in h), "converged": all(r.converged for r in h),
                  "most_used": Counter(r.configuration for r in h).most_common(2)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baseline", type=Path)
    ap.add_argument("--size", default="bench")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--policies", default="fixed:fastdiag-cg,auto")
    ap.add_argument("--workloads", default="heat3d-aniso")
    args = ap.parse_args(argv)
    packages = {"new": seqsolve, "base": load_baseline(args.baseline.resolve())}
    with threadpool_limits(1):
        for name in args.workloads.split(","):
            for policy in args.policies.split(","):
                r = run(name, policy, packages, args.size, args.steps)
                print(f"{name} {policy} T={r['systems']}: new/base {r['ratio']:.3f}", flush=True)
                for k in ("new", "base"):
                    v = r[k]
                    print(f"    {k:4s} {v['ms_per_system']:.2f} ms/system, {v['iterations']:.2f} it, "
                          f"{v['reused']} reused, converged {v['converged']}, {v['most_used']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
