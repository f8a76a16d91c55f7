"""Initial-guess strategies and recycling against ``previous``, interleaved system by system.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/guesses.py                      # every workload
    OMP_NUM_THREADS=1 python benchmarks/guesses.py --workloads fem-heat --steps 100

Each workload runs with one good fixed configuration.  Every strategy has its own
:class:`~seqsolve.SequenceSolver`; each system is built once and handed to every strategy in turn
(the order rotates per system), each charged the wall time of its whole ``solve()`` call, so a
noisy neighbour hits all alike.  The problem advances with ``previous``'s solution.  Recycling
(deflated CG with Ritz vectors, subdomain deflation) is a configuration, so it appears as rows
with their own configuration and the ``previous`` guess (the last subdomain row also with the
guess chooser, ``auto``).  Writes ``benchmarks/results/guesses.{json,png}`` (totals only, no
traces); ``--out`` names another pair, e.g. ``results/guesses_recycling_<workload>``.

Besides the whole-call seconds, each row reports its configuration's setup seconds (AMG builds,
factorisations: what no start can save) and ``×time, guess free``: its time less the seconds spent
forming and updating its guess, over ``previous``'s, the best a start of that quality could do.
A noise diagnostic: ``×CPU time``, the ratio of the process's CPU seconds in the rows' solves
(``time.process_time``), which leaves out the time slices lost to other processes on a loaded
machine (on Heat2D nx=100, 1.4 ms solves, each row lost ~40 slices of ~4 ms in 300 solves, a
third of its total, at random, and ×time moved by ±5 % between identical runs).  ``×time`` stays
the measurement.

A strategy ``auto@<git revision>`` is the ``auto`` chooser of that revision (its
``seqsolve/guesses/chooser.py``, on this checkout's strategies), so an old and a new chooser
run interleaved in one process: ``--strategies 'previous;auto@cfdb80d;auto'``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's seqsolve

import numpy as np  # noqa: E402

from seqsolve import ConvergenceError, SequenceSolver  # noqa: E402
from seqsolve.atomic import write_json  # noqa: E402
from seqsolve.plotting import _figure, save_figure  # noqa: E402
from seqsolve.problems import Heat2D, suite  # noqa: E402

from _revision import module_at  # noqa: E402

SSOR = "numba-ssor-cg(omega=1.8)"
AMG = "amg-cg(adaptive)"

#: name → (problem factory taking steps, fixed configuration, default steps, recycling configurations)
#: The recycling rows run with the ``previous`` guess: deflated CG recycling Ritz vectors (SSOR,
#: compiled) and SSOR-PCG deflating subdomain-constant vectors; FEM heat and p-Laplace also get
#: the plain SSOR-PCG row, the other good fixed configuration there.
WORKLOADS = {
    "heat2d-100": (lambda s: Heat2D(nx=100, steps=s), SSOR, 5000,
                   ("deflated-cg(k=8,preconditioner=ssor,omega=1.8)", "subdomain-deflated-cg(omega=1.8)")),
    "heat2d-200": (lambda s: Heat2D(nx=200, steps=s), SSOR, 1500,
                   ("deflated-cg(k=8,preconditioner=ssor,omega=1.8)", "subdomain-deflated-cg(omega=1.8)")),
    "fluid2d": (lambda s: suite()["fluid2d"].make("bench"), SSOR, 300,
                ("deflated-cg(k=16,preconditioner=ssor,omega=1.8)", "subdomain-deflated-cg(omega=1.8)",
                 "subdomain-deflated-cg(omega=1.4)")),
    "fem-heat": (lambda s: suite()["fem-heat"].make("bench"), AMG, 400,
                 ("numba-ssor-cg(omega=1.5)", "numba-ssor-cg(omega=1.25)", "deflated-cg(k=16,preconditioner=ssor,omega=1.5)",
                  "subdomain-deflated-cg(omega=1.5)", "subdomain-deflated-cg(omega=1.3)")),
    "fem-heat-reuse": (lambda s: suite()["fem-heat-reuse"].make("bench"), AMG, 400,
                       ("numba-ssor-cg(omega=1.5)", "subdomain-deflated-cg(omega=1.5)")),
    "plaplace": (lambda s: suite()["plaplace"].make("bench"), AMG, 100,
                 ("numba-ssor-cg(omega=1.5)", "subdomain-deflated-cg(omega=1.5)")),
    # the rest of the suite, each with its best fixed configuration of the suite benchmark
    # (benchmarks/results/suite_bench_T60.md): does a guess strategy pay, and does ``auto`` stay
    # out of the way where none does?
    "topopt": (lambda s: suite()["topopt"].make("bench"), "numba-ssor-cg(omega=1.5)", 100, ()),
    "fem-heat-reuse": (lambda s: suite()["fem-heat-reuse"].make("bench"), "subdomain-deflated-cg(omega=1.3)", 200, ()),
    "convdiff": (lambda s: suite()["convdiff"].make("bench"), "bicgstab", 200, ()),
    "graph-diffusion": (lambda s: suite()["graph-diffusion"].make("bench"), "numba-jacobi-cg", 200, ()),
    "jump-repeat": (lambda s: suite()["jump-repeat"].make("bench"), "subdomain-deflated-cg(omega=1.3)", 200, ()),
    "heat3d-aniso": (lambda s: suite()["heat3d-aniso"].make("bench"), "fastdiag-cg", 200, ()),
    "helmholtz": (lambda s: suite()["helmholtz"].make("bench"), "fastdiag-cg", 200, ()),
}
#: the workloads run when none is named (issue 10's list; the rest of the suite on request)
DEFAULT_WORKLOADS = ("heat2d-100", "heat2d-200", "fluid2d", "fem-heat", "plaplace")
STRATEGIES = ("previous", "extrapolate(order=2)", "extrapolate(order=3)", "extrapolate(order=4,alternating=1)", "projection(k=4)", "projection(k=8)", "pod(k=4)", "deflation(k=8)", "auto")


def warm_up(configs: list[str]) -> None:
    """Compile kernels and load libraries once, outside any timed solve."""
    from seqsolve.guesses.projection import warmup as projection_warmup

    small = Heat2D(nx=8, steps=2).system()
    for c in configs:
        SequenceSolver(policy=f"fixed:{c}").solve(small.A, small.b)
    projection_warmup()  # projection(k)'s compiled block product
    # the chooser's first solves in a process load what only it uses (~9 ms, timed on the first
    # ``auto`` row otherwise: 2 % of a 300-step Heat2D nx=100 run); 12 steps reach its first try
    sequence = Heat2D(nx=8, steps=12)
    sequence.reset()
    solver = SequenceSolver(policy=f"fixed:{configs[0]}", initial_guess="auto")
    for _ in range(12):
        system = sequence.system()
        sequence.accept(solver.solve(system.A, system.b, context=system.context))


def run_workload(name: str, steps: int | None, strategies: list[str], deflated: bool) -> dict:
    factory, config, default_steps, recycling = WORKLOADS[name]
    problem = factory(steps or default_steps)
    problem.reset()
    total = min(steps or default_steps, problem.steps)
    rows = [(s, config, s) for s in strategies]
    if deflated:
        rows += [(f"{c} + previous", c, "previous") for c in recycling]
        # the best deflated configuration with the guess chooser on top: the two axes together
        rows += [(f"{c} + auto", c, "auto") for c in recycling[-1:] if c.startswith("subdomain")]
    warm_up(sorted({r[1] for r in rows}))
    solvers = [_solver(c, g) for _, c, g in rows]
    seconds = np.zeros(len(rows))
    cpu = np.zeros(len(rows))  # the process's CPU seconds in each row's solves
    memory = np.zeros(len(rows), dtype=int)
    failed: list[str | None] = [None] * len(rows)
    t_start = time.perf_counter()
    shuffle = np.random.default_rng(0)
    for k in range(total):
        system = problem.system()
        # a seeded shuffle, not a rotation: in a rotation each row always follows the same one,
        # whose data it finds in the cache (or evicted)
        order = [int(i) for i in shuffle.permutation(len(rows))]
        solutions = {}
        for i in order:
            if failed[i]:
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                solutions[i] = solvers[i].solve(system.A, system.b, context=system.context)
            except ConvergenceError:
                failed[i] = f"failed at system {k}"
                continue
            seconds[i] += time.perf_counter() - t0
            cpu[i] += time.process_time() - c0
            memory[i] = max(memory[i], _memory(solvers[i]))
        problem.accept(solutions.get(0, next(iter(solutions.values()))))
        if (k + 1) % max(1, total // 5) == 0:
            print(f"  {name}: {k + 1}/{total} systems, {time.perf_counter() - t_start:.0f} s", file=sys.stderr,
                  flush=True)
    base_s, base_it = seconds[0], sum(r.iterations for r in solvers[0].history)
    out = []
    for (label, c, g), s, sec, mem, f, cpu_s in zip(rows, solvers, seconds, memory, failed, cpu):
        it = sum(r.iterations for r in s.history)
        guess_s = sum(r.guess_seconds for r in s.history)
        setup_s = sum(r.setup_seconds for r in s.history) - guess_s  # (setup_seconds includes the guess)
        chosen = {}
        for r in s.history:
            chosen[r.initial_guess] = chosen.get(r.initial_guess, 0) + 1
        out.append({"strategy": label, "configuration": c, "initial_guess": g, "seconds": round(float(sec), 3),
                    "iterations": int(it), "time_ratio": round(float(sec / base_s), 3),
                    "iteration_ratio": round(it / base_it, 3) if base_it else None,
                    "guess_ms_per_step": round(1e3 * guess_s / max(1, len(s.history)), 4),
                    # what the row would cost if its guess were free: the most any start of its
                    # quality could gain; the setup (e.g. AMG builds) is what no start can save
                    "free_guess_time_ratio": round(float((sec - guess_s) / base_s), 3),
                    "setup_seconds": round(float(setup_s), 3),
                    # a noise diagnostic, not the measurement: time slices lost to other processes
                    # count in the seconds, not in the CPU seconds
                    "cpu_seconds": round(float(cpu_s), 3), "cpu_ratio": round(float(cpu_s / cpu[0]), 3),
                    "extra_vectors": int(mem), "failed": f,
                    "guesses_used": dict(sorted(chosen.items(), key=lambda kv: -kv[1])) if g.startswith("auto") else None})
    return {"workload": name, "configuration": config, "unknowns": int(system.A.shape[0]), "systems": total,
            "wall_seconds": round(time.perf_counter() - t_start, 1), "strategies": out}


def _solver(config: str, guess: str) -> SequenceSolver:
    """A solver for one row; ``auto@<rev>`` gets the chooser of that git revision."""
    if "@" not in guess:
        return SequenceSolver(rtol=1e-8, policy=f"fixed:{config}", initial_guess=guess)
    spec, rev = guess.split("@", 1)
    if spec != "auto":
        raise SystemExit(f"only auto@<revision> names another revision's code, not {guess!r}")
    solver = SequenceSolver(rtol=1e-8, policy=f"fixed:{config}", initial_guess="auto")
    solver._guesser = _chooser_at(rev)()
    return solver


def _chooser_at(rev: str) -> type:
    """``GuessChooser`` from ``seqsolve/guesses/chooser.py`` at git revision ``rev``, loaded as a
    module of this checkout's ``seqsolve.guesses`` (its relative imports resolve here)."""
    return module_at(rev, "seqsolve/guesses/chooser.py").GuessChooser


def _memory(solver: SequenceSolver) -> int:
    """Length-n vectors held beyond ``previous``'s one: the guess strategy's and a recycling method's."""
    held = solver._guesser.memory_vectors
    for method in solver._methods.values():
        held += getattr(method, "memory_vectors", 0)
    return held


def _label(strategy: str) -> str:
    """Rows with a workload-specific configuration share one label in the figure."""
    for kind in ("deflated-cg", "subdomain-deflated-cg", "numba-ssor-cg"):
        if strategy.startswith(kind + "(") and " + " in strategy:
            return f"{kind} + {strategy.rsplit(' + ', 1)[1]}"
    return strategy


def plot(results: list[dict], path: Path) -> None:
    plt = _figure()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    label = _label
    if any(len({_label(r["strategy"]) for r in res["strategies"]}) < len(res["strategies"]) for res in results):
        label = str  # two rows of one kind in a workload: keep the full names apart
    labels = [label(r["strategy"]) for r in results[0]["strategies"]]
    width = 0.8 / len(results)
    for j, res in enumerate(results):
        ratios = {label(r["strategy"]): r for r in res["strategies"]}
        for ax, key in zip(axes, ("time_ratio", "iteration_ratio")):
            vals = [ratios[l][key] if l in ratios and ratios[l][key] is not None else np.nan for l in labels]
            ax.barh(np.arange(len(labels)) + j * width, vals, height=width, label=res["workload"])
    for ax, title in zip(axes, ("total time ÷ previous", "iterations ÷ previous")):
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xlim(0, 2)  # deflated CG with SSOR against an AMG baseline runs off the scale
        ax.set_title(title)
        ax.set_yticks(np.arange(len(labels)) + 0.4 - width / 2, labels, fontsize=8)
    axes[1].legend(fontsize=8)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS), help=f"any of {', '.join(WORKLOADS)}")
    ap.add_argument("--steps", type=int, default=None, help="systems per workload (default: per workload)")
    ap.add_argument("--strategies", default=",".join(STRATEGIES), help="';'-separated guess specs")
    ap.add_argument("--no-deflated", action="store_true", help="leave out the recycling (configuration) rows")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "guesses"))
    ap.add_argument("--replot", action="store_true", help="only redraw the PNG from the JSON")
    args = ap.parse_args(argv)
    if args.replot:
        import json

        plot(json.loads(Path(args.out + ".json").read_text())["workloads"], Path(args.out + ".png"))
        return
    strategies = args.strategies.split(";") if ";" in args.strategies else _split(args.strategies)
    results = []
    for name in args.workloads.split(","):
        res = run_workload(name, args.steps, strategies, not args.no_deflated)
        results.append(res)
        print(f"\n{name} ({res['unknowns']:,} unknowns, {res['systems']} systems, {res['configuration']})")
        print("| strategy | seconds | ×time | iterations | ×iter | guess ms/step | ×time, guess free | setup s "
              "| ×CPU time | extra vectors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in res["strategies"]:
            print(f"| {r['strategy']} | {r['seconds']:.2f} | {r['time_ratio']:.3f} | {r['iterations']:,} | "
                  f"{r['iteration_ratio']} | {r['guess_ms_per_step']:.3f} | {r['free_guess_time_ratio']:.3f} | "
                  f"{r['setup_seconds']:.2f} | {r['cpu_ratio']:.3f} | {r['extra_vectors']} |"
                  + (f" {r['failed']}" if r["failed"] else "") + (f" {r['guesses_used']}" if r["guesses_used"] else ""),
                  flush=True)
        payload = {"machine": platform.processor() or platform.machine(), "blas_threads": 1, "rtol": 1e-8,
                   "workloads": results}
        write_json(args.out + ".json", payload, indent=1)
        plot(results, Path(args.out + ".png"))


def _split(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return out + [cur.strip()] if cur.strip() else out


if __name__ == "__main__":
    main()
