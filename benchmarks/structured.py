"""Structured solves on tensor grids: fast-diag on Heat2D, fastdiag-cg on a variable coefficient.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/structured.py --sizes 100 200 --steps 5000

Part 1 (Heat2D, ``shared/workloads.md``): every policy advances its own copy of the sequence and the
policies take turns system by system in one process (in a new random order each step: a rotation
keeps each policy behind the same one, and a solve right after AMG's runs on cold caches), so
machine load hits all alike; each solve is timed as the whole ``SequenceSolver.solve`` call with one
BLAS thread, after every policy has loaded its kernels on a tiny throwaway system (process-wide
one-off loads would otherwise fall on whichever policy goes first; setups for the benchmark's own
grid are timed). Every policy gets the system's structure hint (iterative configurations ignore it);
``auto (no hint)`` is today's behaviour.  Part 2: Crank–Nicolson for ``u_t = c(t)·∇·(k∇u)`` with
``k = 1 + 0.5·sin(2πx)·sin(2πy) + 0.3·cos(6πxy)`` (not separable), solved by ``fastdiag-cg`` given
only the grid shape; its iteration counts across ``nx``, and its three setup schedules (``adaptive``,
the default, ``reuse``, ``rebuild``) against SSOR-PCG, all taking turns in one process.  Consecutive
matrices differ by ``c(t)`` alone there (reuse follows them exactly), so a second sequence moves a
conductivity front across the grid (``--drift-sizes``), where a reused projection goes stale.
``--sizes`` with no values runs part 2 alone and keeps part 1's results; ``--var-sizes`` with none, part 1 alone.  Writes ``structured.{json,png}``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from seqsolve import SequenceSolver
from seqsolve.problems import Heat2D
from seqsolve.problems.heat2d import bump, diffusion, variable_diffusion

HEAT_POLICIES = {
    "fast-diag": "fixed:fast-diag",
    "numba-ssor-cg(omega=1.8)": "fixed:numba-ssor-cg(omega=1.8)",
    "amg-cg(adaptive)": "fixed:amg-cg(adaptive)",
    "auto": "auto",
    "auto (no hint)": "auto",
}
ITERATIVE = ("numba-ssor-cg(omega=1.8)", "amg-cg(adaptive)")


def warm(names: list[str]) -> None:
    """Load every kernel the policies use (Numba caches, lazy imports) on a tiny throwaway Heat2D, so
    that these one-off process costs fall on no timed policy (else on whichever goes first)."""
    import scipy.fft  # noqa: F401 (fast-diag's sine transforms from n=128; the tiny grid uses dense ones)

    for name in names:
        problem, solver = Heat2D(8, 3), SequenceSolver(policy=HEAT_POLICIES[name])
        for _ in range(3):
            s = problem.system()
            problem.accept(solver.solve(s.A, s.b, context=s.context, structure=s.structure))


def heat2d(nx: int, steps: int, names: list[str]) -> dict:
    warm(names)
    problems = {n: Heat2D(nx, steps) for n in names}
    solvers = {n: SequenceSolver(policy=HEAT_POLICIES[n]) for n in names}
    seconds = {n: np.zeros(steps) for n in names}
    order = np.random.default_rng(0)
    for k in range(steps):
        for name in (names[i] for i in order.permutation(len(names))):
            s = problems[name].system()
            hint = None if name == "auto (no hint)" else s.structure
            t0 = time.perf_counter()
            x = solvers[name].solve(s.A, s.b, context=s.context, structure=hint)
            seconds[name][k] = time.perf_counter() - t0
            problems[name].accept(x)
    out = {}
    for n in names:
        configs: dict[str, int] = {}
        for r in solvers[n].history:
            configs[r.configuration] = configs.get(r.configuration, 0) + 1
        out[n] = {"total_s": float(seconds[n].sum()), "ms_per_step": float(1e3 * seconds[n].mean()),
                  "iterations": int(sum(r.iterations for r in solvers[n].history)),
                  "fallbacks": int(sum(r.fallback is not None for r in solvers[n].history)),
                  "configurations": dict(sorted(configs.items(), key=lambda kv: -kv[1])[:4]),
                  "cumulative_s": np.cumsum(seconds[n])[:: max(1, steps // 200)].round(4).tolist()}
    best_it = min((n for n in names if n in ITERATIVE), key=lambda n: out[n]["total_s"])
    fd = out["fast-diag"]["total_s"]
    return {"nx": nx, "steps": steps, "policies": out, "best_iterative": best_it,
            "fast_diag_vs_best_iterative": fd / out[best_it]["total_s"],
            "auto_vs_fast_diag": out["auto"]["total_s"] / fd if "auto" in out else None,
            "median_segment_ratios": segment_ratios(out, best_it)}


def segment_ratios(out: dict, best_it: str) -> dict:
    """The same ratios as medians over the 200 stretches of the cumulative curves: robust to bursts
    of load from other processes on a shared machine, which the totals are not."""
    seg = {n: np.diff(r["cumulative_s"], prepend=0.0) for n, r in out.items()}
    ratio = lambda a, b: float(np.median(seg[a] / seg[b]))
    return {"fast_diag_vs_best_iterative": ratio("fast-diag", best_it),
            **({"auto_vs_fast_diag": ratio("auto", "fast-diag")} if "auto" in seg else {})}


def bumpy(x, y):
    """The fixed coefficient ``k = 1 + 0.5·sin2πx·sin2πy + 0.3·cos6πxy`` (not separable)."""
    return 1 + 0.5 * np.sin(2 * np.pi * x) * np.sin(2 * np.pi * y) + 0.3 * np.cos(6 * np.pi * x * y)


def front(s: float):
    """A conductivity front, ``k`` from 1 to 10 across ``x = 0.2 + 0.6·s``: moving it makes a projected
    nearest sum stale (the case where only rent-or-buy, not an exact rescale, can reuse it)."""
    return lambda x, y: 1 + 9 / (1 + np.exp(-(x - 0.2 - 0.6 * s) / 0.05))


def variable_operator(nx: int, k=bumpy) -> sp.csr_array:
    """``−∇·(k∇·)`` on the ``(nx−1)²`` interior points (spacing 1/nx), 5-point, ``k`` at the cell faces."""
    return variable_diffusion(nx - 1, k)


#: fastdiag-cg's setup schedules (``fastdiag-cg`` is ``adaptive``, the default) and the iterative reference
VARIABLE_POLICIES = ("fastdiag-cg", "fastdiag-cg(reuse)", "fastdiag-cg(rebuild)", "numba-ssor-cg(omega=1.8)")


def crank_nicolson(nx: int, steps: int, t0: float, dt: float, names: tuple[str, ...], coefficient) -> dict:
    """Crank–Nicolson steps of ``u_t = c(t)·∇·(k∇u) + f``, ``k = coefficient(step)`` (``None``: fixed
    ``bumpy``), every policy on its own copy of ``u``, taking turns in a new random order each step;
    each solve timed as the whole ``SequenceSolver.solve`` call."""
    m = nx - 1
    g = np.arange(1, nx) / nx
    px, py = (a.ravel() for a in np.meshgrid(g, g, indexing="ij"))
    I = sp.eye_array(m * m, format="csr")
    solvers = {n: SequenceSolver(policy=f"fixed:{n}") for n in names}
    u = {n: bump(px, py, (0.5, 0.5), 0.25) for n in names}
    secs = {n: 0.0 for n in names}
    order = np.random.default_rng(1)
    Lk, t = variable_operator(nx), t0
    for step in range(steps):
        if coefficient is not None:
            Lk = variable_operator(nx, coefficient(step))
        h = t + dt / 2
        K = (diffusion(h) * dt / 2) * Lk
        A = sp.csr_array(I + K)
        f = 32.0 * bump(px, py, (0.5 + np.cos(16 * np.pi * h) / 4, 0.5 + np.sin(16 * np.pi * h) / 4), 0.125)
        for name in (names[i] for i in order.permutation(len(names))):
            b = u[name] - K @ u[name] + dt * f
            hint = (m, m) if name.startswith("fastdiag") else None
            c0 = time.perf_counter()
            u[name] = solvers[name].solve(A, b, structure=hint)
            secs[name] += time.perf_counter() - c0
        t += dt
    res = {}
    for name in names:
        hist = solvers[name].history
        its = [r.iterations for r in hist]
        res[name] = {"mean_iterations": float(np.mean(its)), "max_iterations": int(max(its)),
                     "total_s": secs[name], "setup_s": float(sum(r.setup_seconds for r in hist)),
                     "setups_reused": int(sum(r.setup_reused for r in hist))}
    return res


def warm_variable(names: tuple[str, ...]) -> None:
    """Load the kernels every policy uses (line solves, drift fit, SSOR) on a tiny grid, untimed."""
    crank_nicolson(8, 3, 0.6, 1e-3, names, None)
    crank_nicolson(8, 3, 0.6, 1e-3, names, lambda step: front(step / 2))


def variable_coefficient(sizes: list[int], steps: int, t0: float = 0.6, dt: float = 1e-3,
                         drift_sizes: list[int] | None = None) -> dict:
    """Crank–Nicolson steps of the variable-coefficient heat equation from ``t0`` (c ≈ 9.5 there).

    ``results``: the fixed coefficient ``bumpy``, where consecutive matrices differ by ``c(t)`` alone
    (``A = α·A₀ + β·I``: reuse follows them exactly); ``drifting``: the moving front, projected nearest
    sums go stale (``reuse`` keeps the first, ``adaptive`` projects again when that pays)."""
    warm_variable(VARIABLE_POLICIES)
    out = {}
    for nx in sizes:
        out[str(nx)] = res = crank_nicolson(nx, steps, t0, dt, VARIABLE_POLICIES, None)
        print(f"variable coefficient nx={nx}: " + ", ".join(
            f"{k} {v['mean_iterations']:.1f} it, {v['total_s']:.2f} s (setup {v['setup_s']:.2f})"
            for k, v in res.items()), flush=True)
    drifting = {}
    for nx in drift_sizes or []:
        names = VARIABLE_POLICIES[:3]
        drifting[str(nx)] = res = crank_nicolson(nx, steps, t0, dt, names, lambda step: front(step / max(1, steps - 1)))
        print(f"drifting front nx={nx}: " + ", ".join(
            f"{k} {v['mean_iterations']:.1f} it, {v['total_s']:.2f} s (setup {v['setup_s']:.2f}, "
            f"{v['setups_reused']} reused)" for k, v in res.items()), flush=True)
    its = [out[str(n)]["fastdiag-cg"]["mean_iterations"] for n in sizes]
    return {"sizes": sizes, "steps": steps, "t0": t0, "results": out, "fastdiag_cg_iteration_ratio": max(its) / min(its),
            "drifting": drifting}


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heat = summary["heat2d"]
    var = summary.get("variable_coefficient")
    panels = len(heat) + (2 if var else 1)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.4), squeeze=False)
    axes = axes[0]
    for ax, run in zip(axes, heat):
        steps = run["steps"]
        for name, r in run["policies"].items():
            cum = r["cumulative_s"]
            ax.plot(np.linspace(0, steps, len(cum)), cum, label=f"{name} ({r['total_s']:.1f} s)")
        ax.set_title(f"Heat2D nx={run['nx']}, {steps} steps")
        ax.set_xlabel("step")
        ax.set_ylabel("cumulative solve time [s]")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    ax = axes[len(heat)]
    if var:
        for name in VARIABLE_POLICIES:
            ax.plot(var["sizes"], [var["results"][str(n)][name]["mean_iterations"] for n in var["sizes"]], "o-", label=name)
        ax.set_yscale("log")
        ax.set_xlabel("nx")
        ax.set_ylabel("mean CG iterations per step")
        ax.set_title("variable coefficient k(x,y)")
        ax.legend(fontsize=7)
        ax = axes[-1]  # the setup schedules' wall time, fixed k (solid) and the drifting front (dashed)
        for i, name in enumerate(VARIABLE_POLICIES):
            ax.plot(var["sizes"], [var["results"][str(n)][name]["total_s"] for n in var["sizes"]], "o-",
                    color=f"C{i}", label=name)
            drift = sorted(var.get("drifting", {}), key=int)
            if drift and name in var["drifting"][drift[0]]:
                ax.plot([int(n) for n in drift], [var["drifting"][n][name]["total_s"] for n in drift], "s--",
                        color=f"C{i}", label=f"{name}, drifting front")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("nx")
        ax.set_ylabel(f"total time, {var['steps']} steps [s]")
        ax.set_title("fastdiag-cg setup schedules")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def write_json(summary: dict, path: Path) -> None:
    """Indented JSON with each list of numbers on one line (the cumulative-time curves)."""
    text = json.dumps(summary, indent=1)
    path.write_text(re.sub(r"\[\s*([-0-9.e,\s]+?)\s*\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="*", default=[100, 200],
                   help="Heat2D sizes (part 1); none: keep part 1's results already in the JSON")
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--amg-max-nx", type=int, default=100, help="amg-cg(adaptive) only up to this nx (it is slow)")
    p.add_argument("--var-sizes", type=int, nargs="*", default=[100, 200, 300, 400],
                   help="variable-coefficient sizes (part 2); none: keep part 2's results already in the JSON")
    p.add_argument("--var-steps", type=int, default=50)
    p.add_argument("--drift-sizes", type=int, nargs="*", default=[100, 200],
                   help="grid sizes of the drifting-coefficient sequence (fastdiag-cg's setup schedules)")
    p.add_argument("--out", default="benchmarks/results")
    a = p.parse_args(argv)
    from seqsolve.solvers.compiled import warmup

    warmup()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"heat2d": [], "blas_threads": 1}
    before = json.loads((out / "structured.json").read_text()) if (out / "structured.json").exists() else {}
    if not a.sizes:  # part 2 alone: part 1's results stay
        summary["heat2d"] = before.get("heat2d", [])
    if not a.var_sizes:  # part 1 alone: part 2's results stay
        summary.update({k: v for k, v in before.items() if k.startswith("variable_coefficient")})
    for nx in a.sizes:
        names = [n for n in HEAT_POLICIES if n != "amg-cg(adaptive)" or nx <= a.amg_max_nx]
        t0 = time.perf_counter()
        run = heat2d(nx, a.steps, names)
        summary["heat2d"].append(run)
        print(f"Heat2D nx={nx} ({time.perf_counter() - t0:.0f} s wall): " + ", ".join(
            f"{k} {v['total_s']:.2f} s" for k, v in run["policies"].items())
            + f"; fast-diag/best iterative {run['fast_diag_vs_best_iterative']:.3f}, auto/fast-diag "
            f"{run['auto_vs_fast_diag']:.3f} (medians over stretches: "
            + ", ".join(f"{v:.3f}" for v in run["median_segment_ratios"].values()) + ")", flush=True)
        write_json(summary, out / "structured.json")
    if a.var_sizes:
        summary["variable_coefficient"] = variable_coefficient(a.var_sizes, a.var_steps, drift_sizes=a.drift_sizes)
    write_json(summary, out / "structured.json")
    plot(summary, out / "structured.png")
    print("wrote", out / "structured.json", out / "structured.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
