"""The workload suite under every fixed configuration and ``auto``, interleaved system by system.

Usage::

    python benchmarks/suite.py --size test
    python benchmarks/suite.py --size bench --steps 200 --workloads fem-heat,topopt

Why interleaved: every method must see the *same* systems, and a slow neighbour (another
process, thermal state) must hit every method alike.  So the script holds one
:class:`~seqsolve.SequenceSolver` per method, builds each system once, hands it to every method
in turn (in a seeded random order per system), and advances the problem with one reference solution:
that of the first method in the list that met the tolerance.  Each method is charged the wall
time of its whole ``solve()`` call (entry to return: validation, policy, setup, iterations,
residual check, fallback), BLAS limited to one thread.

Fixed configurations get an iteration budget per system (``--maxiter``, a tenth of it for AMG)
and no fallback: a ``ConvergenceError`` marks the configuration *failed* (cost ∞ from that
system on).  A fixed
configuration whose cumulative time exceeds ``--drop-factor`` (20) times that of the best fixed
configuration so far, and ``--drop-floor`` seconds, is *dropped*: it stops running and counts as
∞ for every later horizon.  The rule is cumulative so that a configuration whose expensive setup
pays off later (``direct`` on a matrix that stays constant) is not dropped on its first system.
Tables report both honestly ("failed at system k", "dropped after system k").

Per workload the script prints a Markdown table (total time, iterations, worst true relative
residual), ``auto`` ÷ best fixed configuration in hindsight over the first 20, 50, 200 and all
systems, and ``auto``'s explorations, fallbacks and switches; it writes ``suite_<size>_<steps>.{md,json,png}``
(the PNG: cumulative regret of ``auto`` against the best fixed configuration, one panel per
workload).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from _collector import untimed_collections  # noqa: E402

from seqsolve.provenance import provenance  # noqa: E402
from seqsolve import ConvergenceError, SeqsolveError, SequenceSolver  # noqa: E402
from seqsolve.atomic import write_json, write_text  # noqa: E402
from seqsolve.bench import split_policies  # noqa: E402
from seqsolve.configs import parse  # noqa: E402
from seqsolve.plotting import save_figure  # noqa: E402
from seqsolve.problems import suite  # noqa: E402
from seqsolve.problems.suite import SIZES, Workload  # noqa: E402

SPD_CONFIGS = ("numba-cg,numba-jacobi-cg,numba-ssor-cg(omega=1.5),numba-ssor-cg(omega=1.8),"
               "amg-cg(adaptive),amg-cg(rebuild),direct,fastdiag-cg,subdomain-deflated-cg")  # fastdiag-cg: where a grid is found
GENERAL_CONFIGS = "gmres(ilu),bicgstab(ilu),gmres,bicgstab,direct"
HORIZONS = (20, 50, 200)
#: the row of ``auto`` with the previous solution as every start (as the fixed configurations)
AUTO_PREVIOUS = "auto, previous start"


@dataclass
class Method:
    """One method's solver and what it cost on each system it ran."""

    name: str
    solver: SequenceSolver
    fixed: bool
    seconds: list[float] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)
    residuals: list[float] = field(default_factory=list)
    stopped: str | None = None  # "failed at system k" / "dropped after system k"

    def cumulative(self, k: int) -> float:
        """Time over the first ``k`` systems; ∞ if it did not run on all of them."""
        return float(sum(self.seconds[:k])) if len(self.seconds) >= k else float("inf")


def iteration_budget(config: str, maxiter: int) -> int:
    """Iterations a fixed configuration may spend per system.

    One AMG-preconditioned iteration costs ~50 matvecs, so AMG gets a tenth of the budget: an
    AMG-PCG solve that needs more has a broken hierarchy, and 5000 such iterations on a 26k-unknown
    elasticity system take over a minute.
    """
    return max(1, maxiter // 10) if parse(config).kind == "amg-cg" else maxiter


def make_methods(configs: list[str], rtol: float, maxiter: int) -> list[Method]:
    methods = [Method(c, SequenceSolver(rtol=rtol, policy=f"fixed:{c}", maxiter=iteration_budget(c, maxiter),
                                        fallback=False), True)
               for c in configs]
    # auto as a user gets it (learning the start too), and, to show what that adds, auto with the
    # previous solution as every start, as the fixed configurations have it
    return methods + [Method(AUTO_PREVIOUS, SequenceSolver(rtol=rtol, policy="auto", seed=0, initial_guess="previous"),
                             False),
                      Method("auto", SequenceSolver(rtol=rtol, policy="auto", seed=0), False)]


def run_workload(workload: Workload, size: str, steps: int | None, configs: list[str], *, rtol: float,
                 maxiter: int, drop_factor: float, drop_floor: float, use_modes: bool, progress: bool) -> dict:
    """Run every method on every system of one workload; return the raw per-system costs.

    A problem that knows its near-null space (elasticity: the rigid-body modes) hands it to every
    method unless ``use_modes`` is false; only AMG uses it.
    """
    problem = workload.make(size)
    problem.reset()
    total = problem.steps if steps is None else min(steps, problem.steps)
    methods = make_methods(configs, rtol, maxiter)
    modes = problem.near_nullspace() if use_modes and hasattr(problem, "near_nullspace") else None
    t_start = time.perf_counter()
    shuffle = np.random.default_rng(0)
    no_reference, unknowns, not_applicable = 0, 0, []
    with untimed_collections() as between:  # (the collector between systems, untimed: _collector.py)
        for k in range(total):
            between(k)
            system = problem.system()
            A, b = system.A, system.b
            unknowns = A.shape[0]
            bnorm = float(np.linalg.norm(b)) or 1.0
            active = [m for m in methods if m.stopped is None]
            # a seeded shuffle, not a rotation: in a rotation each method always follows the same one,
            # and the second of two runs of one code path on one system finds it warm (8 % on 1 ms solves)
            order = [active[i] for i in shuffle.permutation(len(active))]
            solutions: dict[str, np.ndarray] = {}
            for m in order:
                t0 = time.perf_counter()
                try:
                    x = m.solver.solve(A, b, context=system.context, near_nullspace=modes)
                except ConvergenceError:
                    m.stopped = f"failed at system {k}"
                    continue
                except SeqsolveError:  # not applicable here (fastdiag-cg without a grid in the pattern)
                    if not m.fixed or k > 0:
                        raise
                    not_applicable.append(m.name)
                    continue
                m.seconds.append(time.perf_counter() - t0)
                m.iterations.append(m.solver.history[-1].iterations)
                m.residuals.append(float(np.linalg.norm(b - A @ x)) / bnorm)
                solutions[m.name] = x
            methods = [m for m in methods if m.name not in not_applicable]  # (auto stays last)
            _drop_expensive(methods, k + 1, drop_factor, drop_floor)
            reference = next((solutions[m.name] for m in methods if m.name in solutions), None)
            if reference is None:  # nothing met the tolerance: advance with SciPy's direct solve, say so
                from scipy.sparse.linalg import spsolve

                reference, no_reference = np.asarray(spsolve(A.tocsc(), b)).ravel(), no_reference + 1
            problem.accept(reference)
            if progress and (k + 1) % max(1, total // 4) == 0:
                print(f"  {workload.name}: {k + 1}/{total} systems, {time.perf_counter() - t_start:.1f} s",
                      file=sys.stderr, flush=True)
    return {"workload": workload.name, "description": workload.description, "problem": problem.describe(),
            "unknowns": unknowns, "systems": total, "methods": methods, "no_reference": no_reference,
            "near_nullspace": modes is not None, "not_applicable": not_applicable,
            "wall_seconds": time.perf_counter() - t_start}


def _drop_expensive(methods: list[Method], k: int, factor: float, floor: float) -> None:
    """Stop fixed configurations whose time over the first ``k`` systems is > ``factor`` × the best's."""
    best = min((m.cumulative(k) for m in methods if m.fixed), default=float("inf"))
    for m in methods:
        cost = m.cumulative(k)
        if m.fixed and m.stopped is None and np.isfinite(best) and cost > max(factor * best, floor):
            m.stopped = f"dropped after system {k - 1} ({cost / best:.0f}× the best so far)"


def best_fixed(methods: list[Method], k: int) -> tuple[str | None, float]:
    """The fixed configuration cheapest over the first ``k`` systems, and its time."""
    costs = [(m.cumulative(k), m.name) for m in methods if m.fixed]
    cost, name = min(costs, default=(float("inf"), None))
    return (name, cost) if np.isfinite(cost) else (None, cost)


def auto_stats(auto: Method) -> dict:
    """What ``auto`` did, from its SolveRecords: explorations, configurations, switches, fallbacks."""
    hist = auto.solver.history
    used = Counter(r.configuration for r in hist)
    total = sum(auto.seconds)
    return {
        "explorations": sum(1 for r in hist if r.explored),
        "exploration_share": sum(t for r, t in zip(hist, auto.seconds) if r.explored) / total if total else 0.0,
        "configurations_tried": len(used),
        "switches": sum(1 for a, b in pairwise(hist) if a.configuration != b.configuration),
        "fallbacks": sum(1 for r in hist if r.fallback),
        "capped_or_failed_first_attempts": sum(1 for r in hist if r.status != "converged"),
        "most_used": dict(used.most_common(3)),
    }


def exploration_excess(methods: list[Method], total: int) -> dict:
    """What exploring cost ``auto`` beyond the best fixed configuration (in hindsight), on the
    systems where it explored or fell back, as a share of its total time.

    "Exploration share" counts the *whole* time of those systems; most of a try of a close
    alternative (another ω) is a solve that had to be done anyway, so this is the waste."""
    auto = methods[-1]
    name, _ = best_fixed(methods, total)
    ref = next((m for m in methods if m.name == name), None)
    total_auto = sum(auto.seconds)
    if ref is None or not total_auto:
        return {"exploration_excess_share": None}
    hist = auto.solver.history
    excess = sum(max(0.0, t - r) for rec, t, r in zip(hist, auto.seconds, ref.seconds)
                 if rec.explored or rec.fallback)
    return {"exploration_excess_share": excess / total_auto}


def worst_system(methods: list[Method]) -> dict:
    """The system where ``auto`` cost most relative to the configuration leading at that moment
    (the fixed one cheapest over the systems before it): issue 8's "no single system costs more
    than 3x what the best configuration known at that moment costs on it"."""
    auto = methods[-1]
    fixed = [m for m in methods if m.fixed]
    worst = (0.0, None, None)
    for k in range(1, len(auto.seconds)):
        alive = [m for m in fixed if len(m.seconds) > k]
        if not alive:
            break
        leader = min(alive, key=lambda m: (m.cumulative(k), m.name))
        if leader.seconds[k] > 0 and auto.seconds[k] / leader.seconds[k] > worst[0]:
            worst = (auto.seconds[k] / leader.seconds[k], k, leader.name)
    return {"worst_system_ratio": _finite(worst[0]) if worst[1] is not None else None,
            "worst_system": worst[1], "worst_system_leader": worst[2]}


def summarise(result: dict) -> dict:
    """The JSON-able summary of one workload: totals, ratios at the horizons, auto's behaviour."""
    methods: list[Method] = result["methods"]
    auto = methods[-1]
    total = result["systems"]
    ratios = {}
    for k in [h for h in HORIZONS if h < total] + [total]:
        name, cost = best_fixed(methods, k)
        mine = auto.cumulative(k)
        plain = methods[-2].cumulative(k)
        ratios["all" if k == total else str(k)] = {
            "systems": k, "best_fixed": name, "best_fixed_seconds": _finite(cost),
            "auto_seconds": _finite(mine), "ratio": _finite(mine / cost) if name else None,
            "auto_previous_seconds": _finite(plain), "ratio_previous": _finite(plain / cost) if name else None}
    rows = [{"method": m.name, "fixed": m.fixed, "systems_solved": len(m.seconds), "total_seconds": float(sum(m.seconds)),
             "iterations": int(sum(m.iterations)), "worst_residual": max(m.residuals, default=None),
             "stopped": m.stopped, "seconds": [float(f"{s:.4g}") for s in m.seconds]} for m in methods]
    return {"workload": result["workload"], "description": result["description"], "problem": result["problem"],
            "unknowns": result["unknowns"], "systems": total, "near_nullspace": result["near_nullspace"], "not_applicable": result["not_applicable"], "wall_seconds": result["wall_seconds"], "no_reference_systems": result["no_reference"],
            "ratios": ratios, "auto": {**auto_stats(auto), **exploration_excess(methods, total), **worst_system(methods)}, "methods": rows}


def _finite(x: float) -> float | None:
    """``x``, or ``None`` for ∞/NaN (JSON has no infinity)."""
    return float(x) if np.isfinite(x) else None


def _seconds(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def format_workload(s: dict) -> str:
    """One workload as Markdown: the per-method table, the hindsight ratios and auto's behaviour."""
    lines = [f"### {s['workload']} — {s['description']}", "",
             f"{s['systems']} systems of {s['unknowns']:,} unknowns.", "",
             "| method | total s | ms/system | iterations | worst rel. residual | note |",
             "|---|---:|---:|---:|---:|---|"]
    for r in sorted(s["methods"], key=lambda r: (r["systems_solved"] < s["systems"], r["total_seconds"])):
        done = r["systems_solved"]
        per = 1e3 * r["total_seconds"] / done if done else float("nan")
        worst = f"{r['worst_residual']:.1e}" if r["worst_residual"] is not None else "—"
        name = f"**{r['method']}**" if r["method"] == "auto" else f"`{r['method']}`"
        note = r["stopped"] or ""
        if r["stopped"]:
            note += f" ({done} solved)"
        lines.append(f"| {name} | {r['total_seconds']:.3f} | {per:.2f} | {r['iterations']:,} | {worst} | {note} |")
    lines += ["", "| first k systems | best fixed in hindsight | its s | auto s | auto ÷ best "
              f"| {AUTO_PREVIOUS} ÷ best |", "|---|---|---:|---:|---:|---:|"]
    for key, v in s["ratios"].items():
        ratio = f"{v['ratio']:.2f}" if v["ratio"] is not None else "—"
        plain = f"{v['ratio_previous']:.2f}" if v.get("ratio_previous") is not None else "—"
        best = f"`{v['best_fixed']}`" if v["best_fixed"] else "none finished"
        lines.append(f"| {key} ({v['systems']}) | {best} | {_seconds(v['best_fixed_seconds'])} | "
                     f"{_seconds(v['auto_seconds'])} | {ratio} | {plain} |")
    a = s["auto"]
    used = ", ".join(f"`{c}` ×{k}" for c, k in a["most_used"].items())
    waste = a.get("exploration_excess_share")
    waste = f"; beyond the best fixed on those systems: {100 * waste:.0f} %" if waste is not None else ""
    lines += ["", (f"`auto`: explorations {a['explorations']} ({100 * a['exploration_share']:.0f} % of its time{waste}), "
                   f"configurations tried {a['configurations_tried']}, switches {a['switches']}, "
                   f"fallbacks {a['fallbacks']}, capped/failed first attempts "
                   f"{a['capped_or_failed_first_attempts']}; most used: {used}.")]
    if a.get("worst_system_ratio") is not None:
        lines.append(f"Worst single system: {a['worst_system_ratio']:.1f}× what the configuration leading at that "
                     f"moment (`{a['worst_system_leader']}`) cost on it (system {a['worst_system']}).")
    if s["near_nullspace"]:
        lines.append("Every method was given the problem's rigid-body modes as `near_nullspace` (used by AMG).")
    if s.get("not_applicable"):
        lines.append("Not applicable here (left out): " + ", ".join(f"`{n}`" for n in s["not_applicable"])
                     + " (`fastdiag-cg` needs a grid in the matrix pattern).")
    if s["no_reference_systems"]:
        lines.append(f"On {s['no_reference_systems']} systems no method met the tolerance; "
                     "the problem advanced with SciPy's spsolve.")
    return "\n".join(lines) + "\n"


def format_overview(summaries: list[dict]) -> str:
    """One line per workload: auto ÷ best fixed in hindsight at every horizon."""
    keys = [str(h) for h in HORIZONS] + ["all"]
    lines = ["| workload | unknowns | systems | " + " | ".join(f"auto ÷ best @{k}" for k in keys)
             + " | previous start ÷ best @all | exploring beyond best | worst system | best fixed (all) |",
             "|---|---:|---:|" + "---:|" * len(keys) + "---:|---:|---:|---|"]
    for s in summaries:
        cells = []
        for k in keys:
            v = s["ratios"].get(k)
            cells.append(f"{v['ratio']:.2f}" if v and v["ratio"] is not None else "—")
        best = s["ratios"]["all"]["best_fixed"]
        plain = s["ratios"]["all"].get("ratio_previous")
        a = s["auto"]
        waste = a.get("exploration_excess_share")
        worst = a.get("worst_system_ratio")
        lines.append(f"| {s['workload']} | {s['unknowns']:,} | {s['systems']} | " + " | ".join(cells)
                     + f" | {'—' if plain is None else f'{plain:.2f}'}"
                     + f" | {'—' if waste is None else f'{100 * waste:.0f} %'}"
                     + f" | {'—' if worst is None else f'{worst:.1f}×'} | `{best}` |")
    return "\n".join(lines) + "\n"


def regret_curve(s: dict) -> np.ndarray:
    """Cumulative auto time minus the best fixed configuration's cumulative time, after each system."""
    auto = next(np.cumsum(r["seconds"]) for r in s["methods"] if r["method"] == "auto")
    rows = {r["method"]: np.cumsum(r["seconds"]) for r in s["methods"]
            if r.get("fixed", r["method"] not in ("auto", AUTO_PREVIOUS))}
    best = np.full(s["systems"], np.inf)
    for cum in rows.values():
        best[:len(cum)] = np.minimum(best[:len(cum)], cum)
    return auto[:len(best)] - best[:len(auto)]


def plot_regret(summaries: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, len(summaries))
    rows = -(-len(summaries) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.7 * rows), squeeze=False)
    for ax, s in zip(axes.ravel(), summaries):
        regret = regret_curve(s)
        ax.plot(np.arange(1, len(regret) + 1), regret, color="tab:red")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ratio = s["ratios"]["all"]["ratio"]
        ax.set_title(f"{s['workload']} (auto ÷ best: {'—' if ratio is None else f'{ratio:.2f}'})", fontsize=9)
        ax.set_xlabel("system")
        ax.set_ylabel("auto − best fixed [s]")
        ax.grid(True, alpha=0.3)
    for ax in axes.ravel()[len(summaries):]:
        ax.set_visible(False)
    fig.suptitle("cumulative regret of auto against the best fixed configuration in hindsight")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    workloads = suite()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=SIZES, default="test")
    p.add_argument("--workloads", default=",".join(workloads), help="comma-separated subset")
    p.add_argument("--steps", type=int, default=None, help="run only the first STEPS systems of each workload")
    p.add_argument("--spd-configs", default=SPD_CONFIGS, help="fixed configurations for symmetric workloads (indefinite ones: both lists)")
    p.add_argument("--general-configs", default=GENERAL_CONFIGS, help="... for workloads that are not SPD")
    p.add_argument("--rtol", type=float, default=1e-8)
    p.add_argument("--maxiter", type=int, default=5000,
                   help="iteration budget per system of a fixed configuration (AMG: a tenth)")
    p.add_argument("--drop-factor", type=float, default=20.0)
    p.add_argument("--drop-floor", type=float, default=0.5, help="seconds a configuration may always spend")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--stem", default=None, help="output file name without extension (default suite_<size>_T<steps>)")
    p.add_argument("--no-near-nullspace", action="store_true",
                   help="do not pass a problem's near-null space (rigid-body modes) to the solvers")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    chosen = [w.strip() for w in a.workloads.split(",") if w.strip()]
    unknown = [w for w in chosen if w not in workloads]
    if unknown:
        p.error(f"unknown workloads {unknown}; choose from {', '.join(workloads)}")
    spd, general = split_policies(a.spd_configs), split_policies(a.general_configs)
    for c in spd + general:
        parse(c)  # a typo fails now, not after an hour

    from seqsolve.bench import warm_up

    warm_up()  # kernels and libraries loaded before anything is timed
    summaries, text = [], []
    with threadpool_limits(limits=1, user_api="blas"):
        for name in chosen:
            w = workloads[name]
            result = run_workload(w, a.size, a.steps, w.fixed_configurations(spd, general), rtol=a.rtol,
                                  maxiter=a.maxiter, drop_factor=a.drop_factor, drop_floor=a.drop_floor,
                                  use_modes=not a.no_near_nullspace, progress=not a.quiet)
            s = summarise(result)
            summaries.append(s)
            text.append(format_workload(s))
            print(text[-1], flush=True)
    overview = format_overview(summaries)
    print(overview)
    stem = a.stem or f"suite_{a.size}_" + (f"T{a.steps}" if a.steps else "full")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    header = (f"# Workload suite, size `{a.size}`" + (f", first {a.steps} systems" if a.steps else "") + "\n\n"
              f"`python benchmarks/suite.py {' '.join(sys.argv[1:] if argv is None else argv)}`; "
              f"rtol {a.rtol:g}, fixed configurations: iteration budget {a.maxiter} (AMG {a.maxiter // 10}), "
              f"no fallback, dropped at "
              f"{a.drop_factor:g}× the best; whole-call wall time, 1 BLAS thread; {platform.node()}, "
              f"{os.cpu_count()} cores.\n\n")
    write_text(out / f"{stem}.md", header + overview + "\n" + "\n".join(text))
    write_json(out / f"{stem}.json", {"size": a.size, "steps": a.steps, "rtol": a.rtol, "maxiter": a.maxiter,
                                      "drop_factor": a.drop_factor, "drop_floor": a.drop_floor,
                                      "workloads": summaries, "provenance": provenance()}, indent=None)
    plot_regret(summaries, out / f"{stem}.png")
    print("wrote", *(out / f"{stem}.{ext}" for ext in ("md", "json", "png")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
