"""Benchmark: ``auto`` variants (learner settings changed) against each other and the fixed
configurations, interleaved system by system on the workload suite.

Why: a change to the learner helps some sequences and hurts others, and the machine's load moves
by more than the change.  Every variant here solves the same systems in one process, in a seeded random
order per system, so a load burst hits all alike; read the ratios between them, not the seconds.

    python benchmarks/auto_ab.py --size holdout --steps 60 \\
        --variant regret_budget=0.025 --variant explore_budget=0.025

A variant is ``name=value[,name=value]`` over :class:`~seqsolve.policies.AutoPolicy` attributes
(``auto`` with its defaults always runs); ``--baseline FILE`` adds ``auto-base``, the learner of
another revision (its ``seqsolve/policies/auto.py``, e.g. from ``git show REV:seqsolve/policies/auto.py``)
with the same candidates.  Prints a table per workload and writes JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from seqsolve import ConvergenceError, SeqsolveError, SequenceSolver  # noqa: E402
from seqsolve.atomic import write_json  # noqa: E402
from seqsolve.policies import make_policy  # noqa: E402
from seqsolve.problems import suite  # noqa: E402
from seqsolve.problems.suite import SIZES  # noqa: E402

SPD = ("numba-ssor-cg(omega=1.5)", "numba-cg", "subdomain-deflated-cg", "fastdiag-cg", "amg-cg(adaptive)")
GENERAL = ("bicgstab", "gmres(ilu)")


def parse_variant(text: str) -> dict[str, float]:
    """``"a=1,b=2"`` → ``{"a": 1.0, "b": 2.0}``."""
    out = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if not key.strip() or not value.strip():
            raise SystemExit(f"a variant is name=value[,name=value], got {text!r}")
        out[key.strip()] = float(value)
    return out


_BASELINE: list = []  # the other revision's AutoPolicy class, when given


def load_baseline(path: str) -> None:
    """Import another revision's ``auto.py`` as a module of this package (its relative imports
    resolve here: the learner is compared, not the rest)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("seqsolve.policies._auto_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    _BASELINE.append(module.AutoPolicy)


def make_auto(settings: dict[str, float]):
    policy = make_policy("auto", seed=0)
    if settings.get("baseline"):
        policy = _BASELINE[0](policy.candidates(), seed=0)
        settings = {k: v for k, v in settings.items() if k != "baseline"}
    for key, value in settings.items():
        if not hasattr(policy, key):
            raise SystemExit(f"AutoPolicy has no setting {key!r}")
        setattr(policy, key, type(getattr(policy, key))(value))
    return policy


def run(workload, size: str, steps: int, variants: dict[str, dict], rtol: float) -> dict:
    problem = workload.make(size)
    problem.reset()
    total = min(steps, problem.steps)
    fixed = workload.fixed_configurations(list(SPD), list(GENERAL))
    solvers = {f"fixed:{c}": SequenceSolver(rtol=rtol, policy=f"fixed:{c}") for c in fixed}
    solvers.update({name: SequenceSolver(rtol=rtol, policy=make_auto(s)) for name, s in variants.items()})
    seconds = {name: [] for name in solvers}
    modes = problem.near_nullspace() if hasattr(problem, "near_nullspace") else None
    shuffle = np.random.default_rng(0)
    for k in range(total):
        system = problem.system()
        names = list(solvers)
        # a seeded shuffle, not a rotation: in a rotation `auto-base` always ran right after `auto` on
        # the same system and found that code path warm (identical learners read 0.91 on Heat2D)
        order = [names[i] for i in shuffle.permutation(len(names))]
        reference = None
        for name in order:
            t0 = time.perf_counter()
            try:
                x = solvers[name].solve(system.A, system.b, context=system.context, near_nullspace=modes)
            except (ConvergenceError, SeqsolveError):
                if name.startswith("fixed:"):  # not applicable here, or failed: out of the comparison
                    del solvers[name], seconds[name]
                    continue
                raise
            seconds[name].append(time.perf_counter() - t0)
            if reference is None or name == "auto":
                reference = x
        problem.accept(reference)
        if k == 0:  # a method that failed on the first system is out
            for name in [n for n in seconds if not seconds[n]]:
                del solvers[name], seconds[name]
        # a fixed configuration past 20x the best so far cannot be the best: stop paying for it
        # (plain CG on topology optimisation runs 27,000 iterations)
        best = min(sum(v) for n, v in seconds.items() if n.startswith("fixed:"))
        for name in [n for n, v in seconds.items() if n.startswith("fixed:") and sum(v) > 20 * best]:
            del solvers[name], seconds[name]
    return {"workload": workload.name, "unknowns": system.A.shape[0], "systems": total, "seconds": seconds,
            "history": {n: [r.configuration for r in solvers[n].history] for n in variants if n in solvers}}


def table(result: dict, marks=(20, 50)) -> str:
    seconds, total = result["seconds"], result["systems"]
    fixed = [n for n in seconds if n.startswith("fixed:") and len(seconds[n]) == total]
    autos = [n for n in seconds if not n.startswith("fixed:")]
    heads = [f"÷ best @{m}" for m in marks if m < total] + ["÷ best all", "÷ auto all"]
    lines = [f"### {result['workload']} ({result['unknowns']:,} unknowns, {total} systems)", "",
             "| variant | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(heads)]
    for name in autos:
        cells = []
        for m in [m for m in marks if m < total] + [total]:
            best = min(sum(seconds[f][:m]) for f in fixed)
            cells.append(f"{sum(seconds[name][:m]) / best:.3f}")
        cells.append(f"{sum(seconds[name]) / sum(seconds['auto']):.3f}")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    best_name = min(fixed, key=lambda f: sum(seconds[f]))
    lines += ["", f"best fixed over all: `{best_name}` ({sum(seconds[best_name]):.3f} s)", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=SIZES, default="test")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--workloads", default=",".join(suite()))
    p.add_argument("--variant", action="append", default=[], help="name=value[,name=value]")
    p.add_argument("--baseline", default=None, help="another revision's seqsolve/policies/auto.py")
    p.add_argument("--rtol", type=float, default=1e-8)
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--stem", default=None)
    args = p.parse_args(argv)
    variants = {"auto": {}}
    if args.baseline:
        load_baseline(args.baseline)
        variants["auto-base"] = {"baseline": 1.0}
    variants.update({v: parse_variant(v) for v in args.variant})
    for settings in variants.values():
        make_auto(settings)  # a misspelt setting fails before anything runs
    from seqsolve.bench import warm_up

    warm_up()
    results = []
    with threadpool_limits(1):
        for name in args.workloads.split(","):
            result = run(suite()[name.strip()], args.size, args.steps, variants, args.rtol)
            print(table(result), flush=True)
            results.append(result)
    stem = args.stem or f"auto_ab_{args.size}_T{args.steps}"
    Path(args.out).mkdir(parents=True, exist_ok=True)
    write_json(Path(args.out) / f"{stem}.json", {"size": args.size, "steps": args.steps, "variants": variants,
                                                  "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
