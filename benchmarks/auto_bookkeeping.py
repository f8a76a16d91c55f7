"""Benchmark: ``auto``'s bookkeeping (its own Python per call) in this checkout against another,
on the *same* decisions.

Why: ``ab_checkouts.py`` times two learners that each read their own clock, so timing noise sends
them down different paths (another ω, another exploration) and a few µs of bookkeeping drown in
the difference.  Here the baseline runs each workload once with the real clock, every
``time.perf_counter`` value the library reads is recorded, and then both checkouts solve the
workload interleaved, each replaying that recording through its own stand-in clock: both make
exactly the recorded decisions (checked: the chosen configurations and iteration counts must
agree, and each side must read the clock as often), and only their code's speed differs.  Real
time is taken with ``time.monotonic``, which the library does not read: the whole call per system,
and the policy's own methods (``observe``, ``select``, ``update``, ``stretch`` and the solver's
questions to it), per system that asked the policy anything.

    git -C . archive REV | (mkdir -p /tmp/base && tar -x -C /tmp/base)
    NUMBA_CACHE_DIR=/tmp/nb python benchmarks/auto_bookkeeping.py /tmp/base --size small --steps 150

One BLAS thread; read the ratios, not the seconds.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import functools  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_checkouts import _solve, load_baseline  # noqa: E402

import seqsolve  # noqa: E402
from seqsolve.problems import suite  # noqa: E402

#: the policy methods the solver calls, timed (really) per system
POLICY_METHODS = ("observe", "select", "update", "stretch", "absorb", "attempt_limit", "attempt_budget",
                  "explored", "fallback_hint")


class Clock:
    """A stand-in for the ``time`` module in one package's modules: ``perf_counter`` records the
    real values (``values`` empty at the start) or replays ``values``; the rest is ``time``'s."""

    def __init__(self, values: list[float], record: bool) -> None:
        self.values, self.record, self.reads = values, record, 0

    def perf_counter(self) -> float:
        self.reads += 1
        if self.record:
            self.values.append(time.perf_counter())
            return self.values[-1]
        return self.values[self.reads - 1]

    def __getattr__(self, name: str):
        return getattr(time, name)


def use_clock(package: types.ModuleType, clock: Clock | None) -> None:
    """Point every module of ``package`` that imported ``time`` at ``clock`` (``None``: ``time``)."""
    for name, module in list(sys.modules.items()):
        if (name == package.__name__ or name.startswith(package.__name__ + ".")) and module is not None:
            current = getattr(module, "time", None)
            if current is time or isinstance(current, Clock):
                module.time = time if clock is None else clock


def time_policy(package: types.ModuleType, spent: list[float]) -> None:
    """Wrap the auto policy's methods of ``package`` to add their real seconds to ``spent[0]``
    (``spent[1]``: whether any was called for the current system)."""
    cls = package.policies.auto.AutoPolicy
    for name in POLICY_METHODS:
        method = cls.__dict__.get(name) or getattr(cls, name)

        @functools.wraps(method)
        def timed(*args, _method=method, **kwargs):
            if spent[2]:  # called by a timed method (absorb calls update): already counted
                return _method(*args, **kwargs)
            spent[2] = True
            t0 = time.monotonic()
            try:
                return _method(*args, **kwargs)
            finally:
                spent[0] += time.monotonic() - t0
                spent[1], spent[2] = True, False
        setattr(cls, name, timed)


def run_workload(name: str, packages: dict, size: str, steps: int, spent: dict) -> dict:
    workload = suite()[name]
    for package in packages.values():  # load every kernel this workload uses, untimed
        problem, solver = workload.make("test"), package.SequenceSolver(policy="auto")
        for _ in range(min(8, problem.steps)):
            problem.accept(_solve(solver, problem.system()))
    values: list[float] = []

    def start(k: str, record: bool):
        # pyamg's adaptive setup draws from NumPy's global generator: each run has its own state,
        # swapped in around each of its systems (the interleaved runs must not share the draws)
        np.random.seed(12345)
        clock = Clock(values, record)
        return workload.make(size), packages[k].SequenceSolver(policy="auto", seed=1), clock, np.random.get_state()

    problem, solver, clock, _ = start("base", True)  # the recording: decisions made on the real clock
    use_clock(packages["base"], clock)
    try:
        for _ in range(min(steps, problem.steps)):
            problem.accept(_solve(solver, problem.system()))
    finally:
        use_clock(packages["base"], None)
    recorded = [(r.configuration, r.iterations) for r in solver.history]
    runs = {k: start(k, False) for k in packages}
    wall = {k: [] for k in packages}
    policy = {k: [] for k in packages}
    order = np.random.default_rng(0)
    keys = list(packages)
    for _ in range(len(recorded)):
        for k in (keys[i] for i in order.permutation(len(keys))):
            problem, solver, clock, state = runs[k]
            np.random.set_state(state)
            system = problem.system()
            use_clock(packages[k], clock)
            spent[k][:] = [0.0, False, False]
            try:
                t0 = time.monotonic()
                x = _solve(solver, system)
                wall[k].append(time.monotonic() - t0)
            finally:
                use_clock(packages[k], None)
            if spent[k][1]:
                policy[k].append(spent[k][0])
            problem.accept(x)
            runs[k] = (problem, solver, clock, np.random.get_state())
    for k, (_, solver, clock, _) in runs.items():
        made = [(r.configuration, r.iterations) for r in solver.history]
        if made != recorded or clock.reads != len(values):
            raise SystemExit(f"{name}: {k} did not replay the recorded decisions (clock reads "
                             f"{clock.reads} of {len(values)}): the comparison would be void")
    return {"workload": name, "systems": len(recorded), "asked": len(policy["new"]),
            "policy_us": {k: 1e6 * float(np.mean(v)) if v else 0.0 for k, v in policy.items()},
            "policy_median_us": {k: 1e6 * float(np.median(v)) if v else 0.0 for k, v in policy.items()},
            "ms_per_system": {k: 1e3 * float(np.mean(v)) for k, v in wall.items()},
            "ratio": float(np.sum(wall["new"]) / np.sum(wall["base"]))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baseline", type=Path, help="a checkout (a directory holding seqsolve/)")
    ap.add_argument("--size", default="small")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--workloads", default=",".join(suite()))
    args = ap.parse_args(argv)
    packages = {"new": seqsolve, "base": load_baseline(args.baseline.resolve())}
    spent = {k: [0.0, False, False] for k in packages}  # seconds, asked, inside a timed method
    for k, package in packages.items():
        time_policy(package, spent[k])
    with threadpool_limits(1):
        for name in args.workloads.split(","):
            r = run_workload(name, packages, args.size, args.steps, spent)
            print(f"{name:16s} {r['systems']:4d} systems ({r['asked']:3d} asking the policy): policy "
                  f"{r['policy_us']['base']:6.1f} -> {r['policy_us']['new']:6.1f} us/system (median "
                  f"{r['policy_median_us']['base']:5.1f} -> {r['policy_median_us']['new']:5.1f});  whole call "
                  f"{r['ms_per_system']['base']:6.3f} -> {r['ms_per_system']['new']:6.3f} ms, new/base "
                  f"{r['ratio']:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
