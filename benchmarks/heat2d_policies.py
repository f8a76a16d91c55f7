"""Heat2D study of *Learning to Relax* (Khodak et al., ICLR 2024) under seqsolve's policies.

Reproduces the paper's Heat2D experiment (``scripts/h2d.m``; definitions in shared/workloads.md)
in one process per grid size, so every number in a table was measured in the same run:

* fixed baselines: CG, SSOR-PCG at every ω of ``linspace(1, 1.95, 20)`` (so ω = 1 and 1.5 and the
  best fixed ω in hindsight), and a few other fixed configurations (AMG, direct, Jacobi) for the
  best fixed *configuration* in hindsight that ``auto`` is compared with (pruned: a run stops as
  soon as its solver time exceeds the best completed total, since it can no longer win);
* instance-optimal ω: per step every ω from the same ``x0`` (the previous reference solution),
  the simulation advanced with a reference solution (:func:`seqsolve.baselines.instance_optimal`);
* Tsallis-INF and ChebCB (context ``c(t)``) over the ω grid, one run per seed;
* ``auto`` (all applicable configurations, least measured wall time), then its state saved,
  loaded into a new solver and the sequence run again.

The ω grid and CG use the compiled kernels ``numba-ssor-cg`` / ``numba-cg``: the same iteration
counts as SciPy's ``ssor-cg`` / ``cg`` (up to rounding) at a fraction of the time per iteration;
the tables say so.  Outputs in ``--out``: ``heat2d_policies_T{T}.md`` (tables), ``.json`` (all
numbers, per-step data for the plots; rewritten after each nx), ``heat2d_policies_nx{N}_T{T}_omega.png``
(ω chosen per step over the iteration contour, as the paper's figure) and
``heat2d_policies_T{T}_cost.png`` (total cost against problem size).

Usage::

    python benchmarks/heat2d_policies.py --nx 25,50,100 --steps 5000 --seeds 0,1,2 --out benchmarks/results
    python benchmarks/heat2d_policies.py --nx 25 --steps 300 --seeds 0 --out /tmp/quick   # smoke run
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # sparse iterative solves gain nothing from threads (see solver.py)

import argparse  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Sequence  # noqa: E402

import numpy as np  # noqa: E402

from seqsolve.atomic import write_text  # noqa: E402
from seqsolve import SequenceSolver, __version__  # noqa: E402
from seqsolve.baselines import (fixed_runs, instance_optimal, omega_configurations, omega_sweep,  # noqa: E402
                                run_tracked)
from seqsolve.bench import matvec_seconds, split_policies, write_json  # noqa: E402
from seqsolve.configs import OMEGA_GRID  # noqa: E402
from seqsolve.problems import Heat2D  # noqa: E402
from seqsolve.runner import RunResult  # noqa: E402
from seqsolve.solvers.compiled import warmup  # noqa: E402
from seqsolve.provenance import provenance  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _traces.py sits next to this script
import _traces  # noqa: E402

DEFAULT_HINDSIGHT = "numba-jacobi-cg,amg-cg(adaptive),amg-cg(rebuild),amg-cg(reuse),direct"
IMPL_NOTE = ("CG and the SSOR-PCG ω grid (fixed ω, best fixed ω, instance-optimal, Tsallis-INF, ChebCB) run the "
             "compiled kernels `numba-cg` / `numba-ssor-cg(omega=…)`: same iteration counts as SciPy's `cg` / "
             "`ssor-cg` up to rounding, less time per iteration.")


# ------------------------------------------------------------------------------------ progress
class Tracker:
    """One rich progress bar per grid size, counting solved systems over all runs (on stderr)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._p = None

    def start(self, nx: int, runs: int, steps: int) -> None:
        self.steps, self.done_runs = steps, 0
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self._p = Progress(TextColumn("nx={task.fields[nx]} {task.description:<34}"), BarColumn(),
                           MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                           console=Console(stderr=True))
        self._task = self._p.add_task("", total=runs * steps, nx=nx)
        self._p.start()

    def phase(self, description: str) -> None:
        if self._p is not None:
            self._p.update(self._task, description=description)

    def step(self, *_: Any) -> None:
        if self._p is not None:
            self._p.update(self._task, advance=1)

    def runs_done(self, n: int = 1) -> None:
        """Mark ``n`` more runs complete (catches up on runs that stopped early)."""
        self.done_runs += n
        if self._p is not None:
            self._p.update(self._task, completed=self.done_runs * self.steps)

    def stop(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None


# ------------------------------------------------------------------------------------ numbers
def _run_row(method: str, impl: str, r: RunResult, key: str | None = None) -> dict:
    s = r.summary()
    return {"key": key or method, "method": method, "implementation": impl, "iterations": s["total_iterations"],
            "solver_seconds": s["total_seconds"], "wall_seconds": r.wall_seconds,
            "policy_seconds": s["policy_seconds"], "fallbacks": s["fallbacks"], "failures": s["failures"],
            "max_residual": s["max_residual"], "configurations": s["configurations"]}


def _seed_row(method: str, impl: str, runs: dict[int, RunResult], key: str) -> dict:
    rows = [_run_row(method, impl, r) for r in runs.values()]
    out = {"key": key, "method": method, "implementation": impl, "seeds": list(runs)}
    for key in ("iterations", "solver_seconds", "wall_seconds", "policy_seconds"):
        v = np.array([row[key] for row in rows], dtype=float)
        out[key] = float(v.mean())
        out[f"{key}_sd"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        out[f"{key}_min"], out[f"{key}_max"] = float(v.min()), float(v.max())
        out[f"{key}_per_seed"] = v.tolist()
    out["fallbacks"] = sum(row["fallbacks"] for row in rows)
    out["failures"] = sum(row["failures"] for row in rows)
    out["max_residual"] = max(row["max_residual"] for row in rows)
    return out


def _complete(r: RunResult | str) -> bool:
    return isinstance(r, RunResult) and "aborted_at" not in r.extra and all(h.converged for h in r.history)


def _omega_of(name: str) -> float:
    return float(name.rsplit("=", 1)[1].rstrip(")"))


def _instance_optimal_omegas(io: dict, omegas: Sequence[float]) -> list[float]:
    """Per step, the midpoint of the ω values tied at the least iteration count (as h2d.m)."""
    names = io["configurations"]
    its = np.array([io["iterations"][n] for n in names], dtype=float)
    conv = np.array([io["converged"][n] for n in names], dtype=bool)
    its = np.where(conv, its, np.inf)
    w = np.asarray(omegas, dtype=float)[:, None]
    tied = its == its.min(axis=0)
    lo = np.where(tied, w, np.inf).min(axis=0)
    hi = np.where(tied, w, -np.inf).max(axis=0)
    return (0.5 * (lo + hi)).tolist()


def study(nx: int, a: argparse.Namespace, tracker: Tracker) -> dict:
    """Everything for one grid size; returns the JSON record."""
    make = lambda: Heat2D(nx=nx, steps=a.steps)  # noqa: E731
    T = make().steps
    grid = omega_configurations(OMEGA_GRID)
    if a.hindsight.strip() == "all":  # everything auto may choose (SOR and GMRES/BiCGStab are slow here)
        from seqsolve.policies.auto import default_candidates

        hindsight = [c.name for c in default_candidates() if c.kind != "numba-ssor-cg" and c.name != "numba-cg"]
    else:
        hindsight = [h for h in split_policies(a.hindsight) if h]
    n_runs = len(grid) + 1 + len(hindsight) + 1 + 2 * len(a.seeds) + 2
    warmup_s = warmup()  # numba kernels loaded before anything is timed
    mv = matvec_seconds(make().system().A)
    tracker.start(nx, n_runs, T)
    try:
        # 1. every fixed ω over the whole sequence: the contour and the best fixed ω
        tracker.phase(f"fixed ω grid ({len(grid)} runs)")
        sweep = omega_sweep(make, OMEGA_GRID, rtol=a.rtol, on_step=tracker.step, keep_runs=True)
        tracker.runs_done(len(grid))
        fixed: dict[str, RunResult | str] = dict(sweep.pop("runs"))
        fixed.update(sweep["errors"])
        # 2. CG, then the other fixed configurations, pruned above the best total so far
        for name in ["numba-cg"] + hindsight:
            tracker.phase(f"fixed {name}")
            best_so_far = min((sum(h.seconds for h in r.history) for r in fixed.values() if _complete(r)),
                              default=math.inf)
            fixed.update(fixed_runs(make, [name], rtol=a.rtol, on_step=tracker.step,
                                    prune=name != "numba-cg", prune_above=best_so_far))
            tracker.runs_done()
        # 3. instance-optimal ω
        tracker.phase(f"instance-optimal ω ({a.reference} reference)")
        io = instance_optimal(make(), grid, rtol=a.rtol, reference=a.reference, on_step=tracker.step)
        tracker.runs_done()
        # 4. the bandits, one run per seed
        bandits: dict[str, dict[int, RunResult]] = {"tsallis-inf": {}, "chebcb": {}}
        for spec in bandits:
            for seed in a.seeds:
                tracker.phase(f"{spec} seed {seed}")
                solver = SequenceSolver(rtol=a.rtol, policy=spec, seed=seed)
                bandits[spec][seed] = run_tracked(make(), solver, on_step=tracker.step)
                tracker.runs_done()
        # 5. auto, then auto again from its saved state
        tracker.phase("auto (run 1)")
        solver = SequenceSolver(rtol=a.rtol, policy="auto", seed=a.seeds[0])
        auto1 = run_tracked(make(), solver, on_step=tracker.step)
        tracker.runs_done()
        state_path = Path(a.out) / f"heat2d_policies_nx{nx}_T{a.steps}_auto_state.json"
        t0 = time.perf_counter()
        solver.save(state_path)
        save_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        solver2 = SequenceSolver.load(state_path)
        load_s = time.perf_counter() - t0
        tracker.phase("auto (run 2, loaded state)")
        auto2 = run_tracked(make(), solver2, on_step=tracker.step)
        tracker.runs_done()
    finally:
        tracker.stop()

    # ---------------------------------------------------------------- rows
    complete = {k: v for k, v in fixed.items() if _complete(v)}
    omega_runs = {c.name: complete[c.name] for c in grid if c.name in complete}
    best_w_name = min(omega_runs, key=lambda k: (omega_runs[k].summary()["total_iterations"], k))
    best_cfg_name = min(complete, key=lambda k: (complete[k].wall_seconds, k))
    rows = []
    if "numba-cg" in complete:
        rows.append(_run_row("CG", "numba-cg", complete["numba-cg"], "CG"))
    for w in (1.0, 1.5):
        name = grid[OMEGA_GRID.index(w)].name
        if name in complete:
            rows.append(_run_row(f"SSOR-PCG ω={w:g}", name, complete[name]))
    rows.append(_run_row(f"best fixed ω (ω={_omega_of(best_w_name):g})", best_w_name, omega_runs[best_w_name],
                         "best fixed ω"))
    rows.append(_run_row("best fixed configuration (wall)", best_cfg_name, complete[best_cfg_name],
                         "best fixed configuration"))
    io_omegas = _instance_optimal_omegas(io, OMEGA_GRID)
    rows.append({"key": "instance-optimal ω", "method": "instance-optimal ω (by iterations)", "implementation": "per-step argmin, same x0",
                 "iterations": io["total_iterations"], "solver_seconds": float(sum(io["seconds_of_best_by_iterations"])),
                 "wall_seconds": None, "policy_seconds": 0.0})
    rows.append({"key": "instance-optimal ω (by solver s)", "method": "instance-optimal ω (by solver s)", "implementation": "per-step argmin, same x0",
                 "iterations": int(sum(io["iterations"][n][t] for t, n in enumerate(io["best_by_seconds"]))),
                 "solver_seconds": io["total_seconds"], "wall_seconds": None, "policy_seconds": 0.0})
    nseeds = f"{len(a.seeds)} seed{'s' if len(a.seeds) > 1 else ''}"
    rows.append(_seed_row(f"Tsallis-INF ({nseeds})", "tsallis-inf over the ω grid", bandits["tsallis-inf"], "Tsallis-INF"))
    rows.append(_seed_row(f"ChebCB, context c(t) ({nseeds})", "chebcb over the ω grid", bandits["chebcb"], "ChebCB"))
    rows.append(_run_row("auto (run 1)", "auto, all applicable configurations", auto1, "auto"))
    rows.append(_run_row("auto (run 2, saved state loaded)", "auto", auto2, "auto, run 2 from saved state"))
    base_its = omega_runs[best_w_name].summary()["total_iterations"]
    base_wall = complete[best_cfg_name].wall_seconds
    for r in rows:
        r["its_over_best_fixed_omega"] = r["iterations"] / base_its if base_its else None
        r["wall_over_best_fixed_config"] = r["wall_seconds"] / base_wall if r["wall_seconds"] else None
        r["bookkeeping_share"] = (r["policy_seconds"] / r["wall_seconds"]) if r["wall_seconds"] else None

    tsal, cheb = rows[-4], rows[-3]
    targets = {
        "chebcb_its_over_instance_optimal": cheb["iterations"] / io["total_iterations"],
        "chebcb_its_over_best_fixed_omega": cheb["iterations"] / base_its,
        "tsallis_its_over_best_fixed_omega": tsal["iterations"] / base_its,
        "auto_wall_over_best_fixed_config": auto1.wall_seconds / base_wall,
        "max_bookkeeping_share": max(r["bookkeeping_share"] or 0.0 for r in rows),
        "auto_run2_wall_over_run1": auto2.wall_seconds / auto1.wall_seconds,
        "auto_run2_solver_over_run1": auto2.summary()["total_seconds"] / max(auto1.summary()["total_seconds"], 1e-300),
    }
    first = bandits["tsallis-inf"][a.seeds[0]]
    return {
        "nx": nx, "n": (nx - 1) ** 2, "steps": T, "rtol": a.rtol, "matvec_seconds": mv, "warmup_seconds": warmup_s,
        "rows": rows, "targets": targets, "best_fixed_omega": best_w_name, "best_fixed_configuration": best_cfg_name,
        "fixed": {k: ({"aborted_at": v.extra["aborted_at"], "solver_seconds": sum(h.seconds for h in v.history)}
                      if isinstance(v, RunResult) and "aborted_at" in v.extra else
                      _run_row(k, k, v) if isinstance(v, RunResult) else {"error": v}) for k, v in fixed.items()},
        "context_c": [h.context.get("c") for h in first.history],
        "sweep": {"omegas": sweep["omegas"], "iterations": sweep["iterations"]},
        "instance_optimal": {k: io[k] for k in ("total_iterations", "total_seconds", "iterations_min", "unsolved_steps",
                                                "reference", "reference_seconds", "wall_seconds", "iterations")}
                            | {"omega_by_iterations": io_omegas},
        "actions": {spec: {str(s): [_omega_of(h.configuration) for h in r.history] for s, r in runs.items()}
                    for spec, runs in bandits.items()},
        "auto": {"save_seconds": save_s, "load_seconds": load_s, "state_file": str(state_path),
                 "run1_configurations": auto1.summary()["configurations"],
                 "run2_configurations": auto2.summary()["configurations"]},
    }


# ------------------------------------------------------------------------------------ output
def _fmt(v, spec: str, sd=None) -> str:
    if v is None:
        return "—"
    text = format(v, spec)
    return f"{text} ± {format(sd, spec)}" if sd is not None else text


def table(rec: dict) -> str:
    lines = [f"### Heat2D nx={rec['nx']} ({rec['n']:,} unknowns), T={rec['steps']}, rtol={rec['rtol']:g}", "",
             "| method | configuration(s) | total iterations | solver s | wall s | its ÷ best fixed ω "
             "| wall ÷ best fixed config | bookkeeping |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rec["rows"]:
        seeds = "seeds" in r
        sd = (lambda k: r.get(f"{k}_sd")) if seeds else (lambda k: None)
        lines.append(
            f"| {r['method']} | `{r['implementation']}` | {_fmt(r['iterations'], ',.0f', sd('iterations'))} "
            f"| {_fmt(r['solver_seconds'], '.2f', sd('solver_seconds'))} | {_fmt(r['wall_seconds'], '.2f', sd('wall_seconds'))} "
            f"| {_fmt(r['its_over_best_fixed_omega'], '.3f')} | {_fmt(r['wall_over_best_fixed_config'], '.2f')} "
            f"| {_fmt(None if r['bookkeeping_share'] is None else 100 * r['bookkeeping_share'], '.2f')}{'' if r['bookkeeping_share'] is None else ' %'} |")
    t = rec["targets"]
    ok = lambda c: "✓" if c else "✗"  # noqa: E731
    lines += [
        "",
        f"Bandit rows: mean ± sample sd over seeds {rec['rows'][-4]['seeds']} (per-seed values and min/max in the JSON). "
        "Instance-optimal rows are per-step minima over the ω grid from the same x0 (the previous reference "
        f"solution, {rec['instance_optimal']['reference']}), not a run, so they have no wall time. "
        "Solver s = setup + iterations + true-residual checks; wall s = the whole run (system assembly and "
        "policy included); bookkeeping = policy select/update time ÷ wall.",
        "",
        IMPL_NOTE,
        "",
        f"Targets: ChebCB its ÷ instance-optimal = {t['chebcb_its_over_instance_optimal']:.3f} (≤ 1.10 "
        f"{ok(t['chebcb_its_over_instance_optimal'] <= 1.10)}), ÷ best fixed ω = {t['chebcb_its_over_best_fixed_omega']:.3f} "
        f"(< 1 {ok(t['chebcb_its_over_best_fixed_omega'] < 1)}); Tsallis-INF its ÷ best fixed ω = "
        f"{t['tsallis_its_over_best_fixed_omega']:.3f} (≤ 1.15 {ok(t['tsallis_its_over_best_fixed_omega'] <= 1.15)}); "
        f"auto wall ÷ best fixed configuration `{rec['best_fixed_configuration']}` = {t['auto_wall_over_best_fixed_config']:.2f} "
        f"(≤ 0.8 at nx ≥ 100 {ok(t['auto_wall_over_best_fixed_config'] <= 0.8)}); largest bookkeeping share "
        f"{100 * t['max_bookkeeping_share']:.2f} % (< 2 % {ok(t['max_bookkeeping_share'] < 0.02)}); auto run 2 ÷ run 1: "
        f"wall {t['auto_run2_wall_over_run1']:.2f}, solver {t['auto_run2_solver_over_run1']:.2f} "
        f"(≤ 1 {ok(t['auto_run2_wall_over_run1'] <= 1.0)}).",
        "",
        "Best fixed configuration searched over the ω grid, `numba-cg` and: "
        + (", ".join(f"`{k}`" + (f" (stopped at step {v['aborted_at']}: already slower than the best total)"
                                 if "aborted_at" in v else " (failed)" if "error" in v else "")
                     for k, v in rec["fixed"].items() if not k.startswith("numba-ssor") and k != "numba-cg")
           or "nothing else") + ".",
        f"One sparse matvec: {1e6 * rec['matvec_seconds']:.1f} µs (median, same run).",
    ]
    return "\n".join(lines)


def _moving(x: np.ndarray, w: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Centred moving mean and standard deviation (window ``w``, shrunk at the ends), as MATLAB movmean/movstd."""
    x = np.asarray(x, dtype=float)
    k = np.ones(min(w, len(x)))
    cnt = np.convolve(np.ones_like(x), k, "same")
    m = np.convolve(x, k, "same") / cnt
    v = np.maximum(np.convolve(x * x, k, "same") / cnt - m * m, 0.0)
    return m, np.sqrt(v)


def plot_omega(rec: dict, path: Path) -> None:
    """The paper's figure: iterations over (step, ω), the ω each learner chose, best fixed and instance-optimal."""
    from matplotlib.colors import LogNorm

    from seqsolve.plotting import _figure, save_figure

    plt = _figure()
    omegas = np.array(rec["sweep"]["omegas"])
    its = np.array([row if row is not None else [np.nan] * rec["steps"] for row in rec["sweep"]["iterations"]], float)
    steps = np.arange(1, its.shape[1] + 1)
    fig, ax = plt.subplots(figsize=(11, 5.5))
    lo, hi = max(1.0, np.nanmin(its)), max(2.0, np.nanmax(its))
    levels = np.unique(np.geomspace(lo, hi * 1.0001, 14))
    cs = ax.contourf(steps, omegas, np.clip(its, lo, hi), levels=levels, norm=LogNorm(lo, hi), cmap="Greys", alpha=0.75)
    cb = fig.colorbar(cs, ax=ax, pad=0.01)
    cb.set_ticks(levels[::2])
    cb.set_ticklabels([f"{v:.0f}" if hi > 20 else f"{v:.2g}" for v in levels[::2]])
    cb.minorticks_off()
    cb.set_label("iterations per step (fixed-ω run)")
    ax.axhline(_omega_of(rec["best_fixed_omega"]), color="k", ls=":", lw=2.5, label="best fixed ω")
    m, _ = _moving(rec["instance_optimal"]["omega_by_iterations"])
    ax.plot(steps, m, color="k", lw=2.2, label="instance-optimal ω (moving mean)")
    for spec, colour, label in (("tsallis-inf", "#77AC30", "Tsallis-INF"), ("chebcb", "#A2142F", "ChebCB, context c(t)")):
        seed, acts = next(iter(rec["actions"][spec].items()))
        m, s = _moving(acts)
        ax.plot(steps, m, color=colour, lw=2.2, label=f"{label} (seed {seed}, moving mean ± σ)")
        ax.fill_between(steps, m - s, m + s, color=colour, alpha=0.3, lw=0)
    ax.set_ylim(omegas[0], omegas[-1])
    ax.set_xlim(1, steps[-1])
    ax.set_xlabel("simulation step")
    ax.set_ylabel("ω")
    ax.set_title(f"Heat2D nx={rec['nx']} ({rec['n']:,} unknowns): SSOR-PCG ω chosen per step (window 25)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    save_figure(fig, path)


def plot_cost(records: list[dict], path: Path) -> None:
    """Total iterations and wall time against problem size, one line per method."""
    from seqsolve.plotting import _figure, save_figure

    plt = _figure()
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    n = np.array([r["n"] for r in records])
    methods = [row["key"] for row in records[0]["rows"] if row["key"] != "instance-optimal ω (by solver s)"]
    for key, ax, label in (("iterations", axes[0], "total iterations"), ("wall_seconds", axes[1], "wall time [s]")):
        for i, method in enumerate(methods):
            rows = [next((row for row in r["rows"] if row["key"] == method), None) for r in records]
            if any(row is None or row.get(key) is None for row in rows):
                continue
            y = np.array([row[key] for row in rows], float)
            # one colour and marker per method, the same in both panels
            style = dict(marker="os^vD<>ph*x"[i % 11], lw=1.8, label=method, color=plt.get_cmap("tab20")(i % 20))
            if "seeds" in rows[0]:
                err = np.array([[row[key] - row[f"{key}_min"], row[f"{key}_max"] - row[key]] for row in rows]).T
                ax.errorbar(n, y, yerr=err, capsize=3, **style)
            else:
                ax.plot(n, y, ls="--" if method.startswith("instance") else "-", **style)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("unknowns (nx−1)²")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()  # the left panel has every method
    axes[1].legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.suptitle(f"Heat2D, T={records[0]['steps']}, rtol={records[0]['rtol']:g} (bandits: mean, bars min–max over seeds)")
    save_figure(fig, path)


def _write_text(path: Path, text: str) -> None:
    write_text(path, text)


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nx", type=_ints, default=[25, 50, 100], help="grid sizes, e.g. 25,50,100 (default)")
    p.add_argument("--steps", type=int, default=5000, help="time steps (default 5000, the paper's)")
    p.add_argument("--seeds", type=_ints, default=[0, 1, 2], help="seeds of the bandits (default 0,1,2)")
    p.add_argument("--rtol", type=float, default=1e-8)
    p.add_argument("--reference", choices=["direct", "tight"], default="direct",
                   help="instance-optimal's reference solve: splu (the paper's A\\b) or SSOR-PCG to rtol/1000 (faster "
                        "at nx ≥ 200)")
    p.add_argument("--hindsight", default=DEFAULT_HINDSIGHT,
                   help="fixed configurations besides the ω grid and numba-cg for the best fixed configuration "
                        f"(default {DEFAULT_HINDSIGHT}; 'all' for every configuration auto may choose; '' for none). "
                        "Each stops once slower than the best completed total.")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--traces", action="store_true", help="also keep per-step traces (benchmarks/traces/, gzipped)")
    a = p.parse_args(argv)
    if not a.nx or not a.seeds:
        p.error("--nx and --seeds need at least one value")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"heat2d_policies_T{a.steps}"
    meta = {"seqsolve": __version__, "python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "argv": list(sys.argv[1:] if argv is None else argv), "note": IMPL_NOTE}
    tracker = Tracker(not a.no_progress)
    records: list[dict] = []
    tables: list[str] = []
    t_start = time.perf_counter()
    for nx in a.nx:
        rec = study(nx, a, tracker)
        records.append(rec)
        tables.append(table(rec))
        print(tables[-1] + "\n", flush=True)
        _traces.save({"meta": meta, "provenance": provenance(), "nx": {str(r["nx"]): r for r in records}},
                     out, stem, a.traces)
        _write_text(out / f"{stem}.md", "\n\n".join(tables) + "\n")
        plot_omega(rec, out / f"heat2d_policies_nx{nx}_T{a.steps}_omega.png")
        _traces.shrink_png(out / f"heat2d_policies_nx{nx}_T{a.steps}_omega.png")
    plot_cost(records, out / f"{stem}_cost.png")
    _traces.shrink_png(out / f"{stem}_cost.png")
    print(f"wrote {out / stem}.md, .json, _cost.png and heat2d_policies_nx*_T{a.steps}_omega.png "
          f"({time.perf_counter() - t_start:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
