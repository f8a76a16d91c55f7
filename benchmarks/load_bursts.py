"""Benchmark: does ``auto`` recover from a burst of machine load?  (Shared machines are noisy.)

    python benchmarks/load_bursts.py small --burst 0:400 --factor 8 --seeds 1,2,3
    python benchmarks/load_bursts.py suite:graph-diffusion:bench:300 --burst 0:150

Two ``auto`` solvers take the same systems, interleaved system by system in one process: one runs
on the quiet machine, the other sees a simulated burst of load — during the systems of ``--burst``,
each of its solves' method calls is, with probability ½, stretched to ``--factor`` times its
duration (a busy wait inside the call, so the policy measures it like real load).  Load only slows
a solve down, and a learner that believes a slow sample may leave a good method for good: what is
printed is the bursty solver's time ÷ the quiet one's over the systems *after* the burst, when both
run on the same quiet machine — 1.0 means it fully recovered — and what each used there.

Workloads: ``small``, ``constant``, … from ``unseen_sequences.py``, or ``suite:NAME:SIZE:STEPS``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import unseen_sequences  # noqa: E402  (puts this checkout's seqsolve first on the path)

from seqsolve import SequenceSolver  # noqa: E402
from seqsolve.atomic import write_json  # noqa: E402
from seqsolve.bench import warm_up  # noqa: E402
from seqsolve.solvers.base import Method  # noqa: E402

_LOAD = {"on": False, "rng": random.Random(0), "factor": 8.0}


def _stretched(call):
    def run(*args, **kwargs):
        t0 = time.perf_counter()
        out = call(*args, **kwargs)
        if _LOAD["on"] and _LOAD["rng"].random() < 0.5:
            end = time.perf_counter() + (_LOAD["factor"] - 1.0) * (time.perf_counter() - t0)
            while time.perf_counter() < end:
                pass
        return out
    return run


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def install_load() -> None:
    """Wrap every method's ``solve``/``run`` (the calls the solver times) so that they can be slowed."""
    import importlib
    import pkgutil

    import seqsolve.solvers
    for module in pkgutil.iter_modules(seqsolve.solvers.__path__):  # every method class, defined
        importlib.import_module(f"seqsolve.solvers.{module.name}")
    for cls in set(_subclasses(Method)):
        for name in ("solve", "run"):
            if name in cls.__dict__:
                setattr(cls, name, _stretched(cls.__dict__[name]))


def systems(workload: str):
    """``(A, b, accept)`` per system: ``accept(x)`` advances a suite problem with the quiet solution."""
    if workload.startswith("suite:"):
        from seqsolve.problems.suite import suite

        _, name, size, steps = workload.split(":")
        problem = suite()[name].make(size)
        problem.reset()
        for _ in range(min(int(steps), problem.steps)):
            s = problem.system()
            yield s.A, s.b, problem.accept
    else:
        for A, b in unseen_sequences.WORKLOADS[workload]():
            yield A, b, lambda x: None


def run(workload: str, lo: int, hi: int, seed: int) -> dict:
    _LOAD["rng"] = random.Random(seed)
    quiet, bursty = SequenceSolver(policy="auto", seed=0), SequenceSolver(policy="auto", seed=0)
    seconds = {"quiet": [], "bursty": []}
    for i, (A, b, accept) in enumerate(systems(workload)):
        context = {"t": float(i)}
        x = None
        for name in (("quiet", "bursty") if i % 2 else ("bursty", "quiet")):
            solver = quiet if name == "quiet" else bursty
            _LOAD["on"] = name == "bursty" and lo <= i < hi
            t0 = time.perf_counter()
            y = solver.solve(A, b, context=context)
            seconds[name].append(time.perf_counter() - t0)
            _LOAD["on"] = False
            if name == "quiet":
                x = y
        accept(x)
    after = slice(hi, None)
    ratio = float(np.sum(seconds["bursty"][after]) / np.sum(seconds["quiet"][after]))
    used = {name: Counter(r.configuration for r in s.history[after]).most_common(3)
            for name, s in (("quiet", quiet), ("bursty", bursty))}
    return {"seed": seed, "after_burst_ratio": ratio, "systems_after": len(seconds["quiet"][after]),
            "used_after": used}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload")
    ap.add_argument("--burst", default="0:400", help="systems LO:HI slowed (half of their method calls)")
    ap.add_argument("--factor", type=float, default=8.0, help="how many times longer a slowed call takes")
    ap.add_argument("--seeds", default="1,2,3", help="seeds of which calls are slowed, one run each")
    ap.add_argument("--out", type=Path, default=None, help="JSON summary path")
    args = ap.parse_args(argv)
    lo, hi = (int(v) for v in args.burst.split(":"))
    _LOAD["factor"] = args.factor
    warm_up()
    install_load()
    runs = []
    with threadpool_limits(1):
        for seed in (int(s) for s in args.seeds.split(",")):
            r = run(args.workload, lo, hi, seed)
            runs.append(r)
            print(f"seed {seed}: bursty ÷ quiet after the burst ({r['systems_after']} systems) "
                  f"{r['after_burst_ratio']:.3f}   bursty used {r['used_after']['bursty']}   "
                  f"quiet used {r['used_after']['quiet']}", flush=True)
    if args.out:
        write_json(args.out, {"workload": args.workload, "burst": [lo, hi], "factor": args.factor, "runs": runs})


if __name__ == "__main__":
    main()
