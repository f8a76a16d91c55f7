"""Benchmark: DCDM (neural conjugate directions) against classical PCG on Fluid2D pressure solves.

For each grid size ``n`` (``n x n`` pressure unknowns) a Fluid2D simulation (default obstacles:
an oscillating disc and a rotating plate, seed ``--seed``) is run for a warm-up of
``ceil(--warmup-time / dt)`` steps (the same physical time at every ``n``), then ``--steps``
consecutive pressure systems ``(A_k, b_k)`` are collected.  The simulation is advanced with a
reference solve (SuperLU), so every configuration sees exactly the same systems, and each
system is solved from ``x0 = p_{k-1}``, the previous step's pressure, as a simulation would.

Configurations (each through :class:`seqsolve.SequenceSolver` with ``fallback=False``, so a
failure is recorded, never repaired by another method), by default:

``numba-cg``                 the compiled (Numba) CG loop of seqsolve, no preconditioner
``numba-ssor-cg(omega=w)``   compiled SSOR-PCG (``--omega``, or ``sweep``: best over
                             ``seqsolve.configs.OMEGA_GRID`` on the first system of each ``n``)
``amg-cg(rebuild)``          PyAMG smoothed-aggregation V-cycle as CG preconditioner, hierarchy
                             rebuilt whenever the matrix changes (almost every step here)
``dcdm``                     DCDM with the model ``--model`` (default: the packaged learned
                             V-cycle) applied at every ``n`` (``DCDMMethod(any_size=True)``)

and on request ``cg``, ``jacobi-cg``, ``amg-cg(reuse)`` (the first hierarchy kept).

Recorded per solve: iterations, setup seconds, solve seconds (iterations plus the true-residual
check), true relative residual, converged.  Per ``n`` also: the median time of one DCDM network
application (the whole ``r -> d`` call: normalisation, float32 conversion, network, copy back;
and the network's forward pass alone) and of one SciPy CSR matvec; for a learned V-cycle also its setup per matrix (hierarchy and
smoother weights), which is part of every DCDM solve here since the matrix changes each step.  Everything runs on one
thread (BLAS, Numba, torch), so the comparison is fair to the single-threaded classical
methods; the first solve of every configuration is preceded by an untimed warm-up on a small
system (Numba compilation, torch start-up).

Outputs (``--out``, default ``benchmarks/results``): ``<stem>.md`` (the Markdown table),
``<stem>.json`` (settings, machine, summaries; per-solve records with ``--records``; written
atomically) and
``<stem>.png`` (iterations per solve and ms per solve against ``n``, log scales, one line per
configuration).  Time: about 4-5 minutes for the defaults on a 2-core machine (estimated from
partial runs: at n = 256 one network application costs ~15-30 ms and a whole DCDM iteration
~25-35 ms, against ~0.15 ms for a matvec, and the warm-up simulation takes ~15 s).
``--budget`` (default 60 s) caps each (n, rtol, configuration) cell: once a cell has spent it,
its remaining systems are skipped and the table says how many; with ``--dcdm-maxiter 1000``
this keeps even a DCDM that never converges under about 8 minutes in total.

Usage::

    python benchmarks/fluid2d_dcdm.py [--sizes 64,128,256] [--rtols 1e-6,1e-8] [--steps 16]
        [--model PATH] [--out benchmarks/results]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from scipy.sparse.linalg import spsolve  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seqsolve.atomic import write_text  # noqa: E402
from seqsolve.backends.scipy_backend import ScipyBackend  # noqa: E402
from seqsolve.bench import matvec_seconds, write_json  # noqa: E402
from seqsolve.configs import OMEGA_GRID, Configuration, parse  # noqa: E402
from seqsolve.errors import ConvergenceError  # noqa: E402
from seqsolve.problems.fluid2d import Fluid2D  # noqa: E402
from seqsolve.solver import SequenceSolver  # noqa: E402

DEFAULT_CONFIGS = ("numba-cg", "numba-ssor-cg", "amg-cg(rebuild)", "dcdm")
DESCRIPTIONS = {
    "cg": "SciPy CG, no preconditioner",
    "numba-cg": "compiled (Numba) CG loop, no preconditioner",
    "jacobi-cg": "SciPy CG + Jacobi (diagonal) preconditioner",
    "numba-jacobi-cg": "compiled (Numba) Jacobi-PCG",
    "numba-ssor-cg": "compiled (Numba) SSOR-PCG",
    "ssor-cg": "SciPy CG + SSOR sweeps (PyAMG)",
    "amg-cg(rebuild)": "PyAMG smoothed-aggregation PCG, hierarchy rebuilt for every new matrix",
    "amg-cg(reuse)": "PyAMG smoothed-aggregation PCG, first hierarchy reused for all steps",
    "amg-cg(adaptive)": "PyAMG SA-PCG, rebuilt by the rent-or-buy rule",
    "dcdm": "DCDM with one model applied at every n (DCDMMethod(any_size=True))",
}


def default_model() -> str:
    """The packaged learned V-cycle when present, else the n=64 U-Net."""
    from seqsolve.neural.dcdm import MODEL_DIR, VCYCLE_MODEL

    return VCYCLE_MODEL if os.path.exists(VCYCLE_MODEL) else os.path.join(MODEL_DIR, "dcdm_fluid2d_n64.sqnn")


def _floats(text: str) -> list[float]:
    return [float(t) for t in text.split(",") if t.strip()]


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


# ------------------------------------------------------------------------------------------
# systems
# ------------------------------------------------------------------------------------------


def collect_systems(n: int, steps: int, warmup_time: float, seed: int) -> dict:
    """Run Fluid2D(n) through the warm-up, then collect ``steps`` systems with ``x0 = p_{k-1}``."""
    dt = 0.8 / n  # Fluid2D's default at inflow 1
    warm = max(1, math.ceil(warmup_time / dt - 1e-9))
    prob = Fluid2D(n, warm + steps, seed=seed)
    t0 = time.perf_counter()
    x_prev = np.zeros(n * n)
    systems = []
    for k in range(warm + steps):
        s = prob.system()
        x = spsolve(sp.csc_matrix(s.A), s.b)
        if k >= warm:
            systems.append({"A": s.A, "b": s.b.copy(), "x0": x_prev.copy(), "step": k,
                            "solid_fraction": s.context["solid_fraction"]})
        prob.accept(x)
        x_prev = x
    distinct = len({id(s["A"]) for s in systems})
    return {"systems": systems, "warmup_steps": warm, "dt": prob.dt, "distinct_matrices": distinct,
            "simulation_seconds": time.perf_counter() - t0,
            "max_divergence_after": prob.velocity_divergence()}


# ------------------------------------------------------------------------------------------
# the solvers
# ------------------------------------------------------------------------------------------


class BenchBackend(ScipyBackend):
    """The SciPy backend, with ``dcdm`` bound to one model file and ``any_size=True``."""

    name = "scipy+dcdm-any-size"

    def __init__(self, model_path: str | None):
        self.model_path = model_path

    def build(self, config: Configuration):
        if config.kind == "dcdm":
            from seqsolve.neural.dcdm import DCDMMethod

            return DCDMMethod(self.model_path, config.get("variant"), any_size=True)
        return super().build(config)


def run_config(config: Configuration, systems: list[dict], *, rtol: float, backend, maxiter: int,
               budget: float) -> dict:
    """Solve every system with a fresh fixed-policy solver; per-solve records."""
    solver = SequenceSolver(rtol=rtol, policy=f"fixed:{config.name}", fallback=False,
                            backend=backend, maxiter=maxiter, blas_threads=1)
    recs = []
    spent = 0.0
    for s in systems:
        if spent > budget:
            break
        try:
            solver.solve(s["A"], s["b"], x0=s["x0"])
        except ConvergenceError:
            pass  # recorded in the history as not converged
        h = solver.history[-1]
        spent += h.seconds
        recs.append({"step": s["step"], "iterations": h.iterations, "setup_seconds": h.setup_seconds,
                     "solve_seconds": h.solve_seconds, "residual": h.residual,
                     "converged": bool(h.converged), "status": h.status,
                     "setup_reused": bool(h.setup_reused)})
    return {"records": recs, "skipped": len(systems) - len(recs)}


def summarise(recs: list[dict]) -> dict:
    its = np.array([r["iterations"] for r in recs], dtype=float)
    tot = np.array([r["setup_seconds"] + r["solve_seconds"] for r in recs])
    setup = np.array([r["setup_seconds"] for r in recs])
    solve = np.array([r["solve_seconds"] for r in recs])
    nan = float("nan")
    return {
        "solves": len(recs),
        "converged": int(sum(r["converged"] for r in recs)),
        "median_iterations": float(np.median(its)) if len(its) else nan,
        "mean_iterations": float(its.mean()) if len(its) else nan,
        "median_ms": 1e3 * float(np.median(tot)) if len(tot) else nan,
        "mean_ms": 1e3 * float(tot.mean()) if len(tot) else nan,
        "median_setup_ms": 1e3 * float(np.median(setup)) if len(setup) else nan,
        "total_setup_ms": 1e3 * float(setup.sum()),
        "ms_per_iteration": 1e3 * float(solve.sum() / its.sum()) if its.sum() else nan,
        "max_residual": float(max((r["residual"] for r in recs), default=nan)),
    }


def warm_up(configs: list[Configuration], backend) -> None:
    """Untimed: Numba compilation, PyAMG/torch first calls, on a 16 x 16 Fluid2D system."""
    prob = Fluid2D(16, 2, seed=0)
    s = prob.system()
    for c in configs:
        solver = SequenceSolver(rtol=1e-6, policy=f"fixed:{c.name}", fallback=False,
                                backend=backend, maxiter=2000)
        try:
            solver.solve(s.A, s.b)
        except ConvergenceError:
            pass


def sweep_omega(systems: list[dict], rtol: float, backend, maxiter: int) -> tuple[float, dict]:
    """Best ω for numba-ssor-cg by solve time on the first system (median of 3)."""
    s = systems[0]
    times = {}
    for w in OMEGA_GRID:
        if w < 1.3:
            continue
        c = Configuration("numba-ssor-cg", (("omega", w),))
        ts = []
        for _ in range(3):
            solver = SequenceSolver(rtol=rtol, policy=f"fixed:{c.name}", fallback=False,
                                    backend=backend, maxiter=maxiter)
            try:
                solver.solve(s["A"], s["b"], x0=s["x0"])
            except ConvergenceError:
                pass
            h = solver.history[-1]
            ts.append(h.seconds if h.converged else float("inf"))
        times[w] = float(np.median(ts))
    best = min(times, key=times.get)
    return best, times


def inference_cost(model_path: str, systems: list[dict], n: int, repeats: int) -> dict:
    """Median seconds of one network application ``r -> d`` and of the forward pass alone."""
    import torch

    from seqsolve.neural.dcdm import NetworkDirection, _cached_model

    model = _cached_model(model_path, torch.device("cpu"))
    s = systems[0]
    A = s["A"]
    direction = NetworkDirection(model, A, (n, n))
    r = s["b"] - A @ s["x0"]
    for _ in range(3):
        direction(r)
    full = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        direction(r)
        full.append(time.perf_counter() - t0)
    fwd = []
    if hasattr(model, "bind"):  # VCycleNet: "forward" is the V-cycle alone; also time its setup
        bound = direction._bound
        rr = r.astype(np.float32)
        for _ in range(repeats):
            t0 = time.perf_counter()
            bound(rr)
            fwd.append(time.perf_counter() - t0)
        binds = []
        for _ in range(5):
            t0 = time.perf_counter()
            model.bind(A, (n, n))
            binds.append(time.perf_counter() - t0)
        extra = {"bind_seconds": float(np.median(binds))}
    else:
        x = torch.randn(1, model.in_channels, n, n)
        extra = {}
        with torch.inference_mode():
            model(x)
            for _ in range(repeats):
                t0 = time.perf_counter()
                model(x)
                fwd.append(time.perf_counter() - t0)
    return {**extra,"application_seconds": float(np.median(full)), "application_min_seconds": float(min(full)),
            "forward_seconds": float(np.median(fwd)), "repeats": repeats}


# ------------------------------------------------------------------------------------------
# reporting
# ------------------------------------------------------------------------------------------


def _finite(obj):
    """``obj`` with NaN/Infinity replaced by ``None`` (strict JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _fmt(v: float, digits: int = 1) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v:,.{digits}f}"


def format_table(payload: dict) -> str:
    sizes = payload["settings"]["sizes"]
    n0 = sizes[0]
    lines = [
        f"| n | rtol | configuration | converged | median it/solve | it growth vs n={n0} "
        "| median ms/solve | mean ms/solve | median setup ms | ms/iteration | DCDM ms/application |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in payload["rows"]:
        s = row["summary"]
        app = payload["per_size"][str(row["n"])].get("dcdm_inference")
        app_ms = _fmt(1e3 * app["application_seconds"], 2) if (row["kind"] == "dcdm" and app) else ""
        conv = f"{s['converged']}/{s['solves']}" + (f" (+{row['skipped']} skipped)" if row["skipped"] else "")
        lines.append(
            f"| {row['n']} | {row['rtol']:g} | {row['configuration']} | {conv} "
            f"| {_fmt(s['median_iterations'], 0)} | {_fmt(row.get('growth'), 2)}× "
            f"| {_fmt(s['median_ms'], 2)} | {_fmt(s['mean_ms'], 2)} | {_fmt(s['median_setup_ms'], 2)} "
            f"| {_fmt(s['ms_per_iteration'], 3)} | {app_ms} |")
    lines.append("")
    lines.append("| n | unknowns | warm-up steps | distinct matrices | SciPy matvec µs "
                 "| DCDM application ms (median) | DCDM forward only ms | application / matvec "
                 "| network setup per matrix ms |")
    lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        ps = payload["per_size"][str(n)]
        inf = ps.get("dcdm_inference")
        mv = ps["matvec_seconds"]
        lines.append(
            f"| {n} | {n * n:,} | {ps['warmup_steps']} | {ps['distinct_matrices']}/{ps['systems']} "
            f"| {_fmt(1e6 * mv, 1)} | {_fmt(1e3 * inf['application_seconds'], 2) if inf else '–'} "
            f"| {_fmt(1e3 * inf['forward_seconds'], 2) if inf else '–'} "
            f"| {_fmt(inf['application_seconds'] / mv, 0) if inf else '–'} "
            f"| {_fmt(1e3 * inf['bind_seconds'], 2) if inf and 'bind_seconds' in inf else '–'} |")
    lines.append("")
    lines.append("Configurations: " + "; ".join(
        f"`{k}`: {v}" for k, v in payload["descriptions"].items()) + ".")
    if payload.get("omega_sweep"):
        lines.append("SSOR ω chosen per n by a sweep: " + ", ".join(
            f"n={n}: ω={w}" for n, w in payload["omega_sweep"].items()) + ".")
    model = (f"DCDM model: `{payload['settings']['model']}` ({payload['settings'].get('model_desc')}). "
             if payload["settings"]["model"] else "")
    lines.append(f"{model}One thread everywhere (BLAS, Numba, torch); "
                 f"x0 = previous step's pressure; fallback disabled; "
                 f"{payload['settings']['steps']} consecutive steps per n after "
                 f"{payload['settings']['warmup_time']:g} time units of warm-up.")
    lines.append("")
    lines.extend(payload["verdicts"])
    return "\n".join(lines)


def verdicts(payload: dict) -> list[str]:
    """Plain statements about the targets, from the measured numbers: DCDM's convergence at every
    n, then growth and speed at every n >= 256 (the issue's target size) or else the largest."""
    sizes = payload["settings"]["sizes"]
    out = []
    for rtol in payload["settings"]["rtols"]:
        for n in sizes:
            r = next((r for r in payload["rows"] if (r["n"], r["rtol"], r["kind_name"]) == (n, rtol, "dcdm")), None)
            if r:
                s = r["summary"]
                out.append(f"- rtol {rtol:g}, n={n}: DCDM converged on {s['converged']}/{s['solves']} systems"
                           + (f" (+{r['skipped']} skipped)" if r["skipped"] else "") + ".")
    for n1 in [n for n in sizes[1:] if n >= 256] or sizes[-1:]:
        out.extend(_verdicts_at(payload, n1))
    return out


def _verdicts_at(payload: dict, n1: int) -> list[str]:
    sizes = payload["settings"]["sizes"]
    n0 = sizes[0]
    out = []
    by = {(r["n"], r["rtol"], r["kind_name"]): r for r in payload["rows"]}
    for rtol in payload["settings"]["rtols"]:
        def med(n, name, key="median_iterations"):
            r = by.get((n, rtol, name))
            return r["summary"][key] if r else float("nan")

        def growth(name):
            return med(n1, name) / med(n0, name)

        def all_conv(n, name):
            r = by.get((n, rtol, name))
            return bool(r) and r["summary"]["converged"] == r["summary"]["solves"] > 0

        if len(sizes) > 1:
            if "dcdm" in payload["kinds"]:
                g = growth("dcdm")
                conv = all_conv(n0, "dcdm") and all_conv(n1, "dcdm")
                ok = conv and g <= 1.5
                out.append(f"- rtol {rtol:g}: DCDM iterations grow {_fmt(g, 2)}× from n={n0} to n={n1} "
                           f"(target ≤ 1.5×): {'met' if ok else 'NOT met'}"
                           + ("" if conv else " (DCDM did not converge on every system)") + ".")
            for cg in ("numba-cg", "cg"):
                if cg in payload["kinds"]:
                    out.append(f"- rtol {rtol:g}: CG ({cg}) iterations grow {_fmt(growth(cg), 2)}× "
                               f"(paper: about {n1 / n0:g}× for n={n0}→{n1}).")
                    break
        if "dcdm" in payload["kinds"]:
            d = med(n1, "dcdm", "median_ms")
            app = payload["per_size"][str(n1)].get("dcdm_inference")
            its = med(n1, "dcdm")
            for amg in ("amg-cg(rebuild)", "amg-cg(reuse)", "numba-ssor-cg"):
                if amg not in payload["kinds"]:
                    continue
                a = med(n1, amg, "median_ms")
                am = med(n1, amg, "mean_ms")
                if not (math.isfinite(a) and math.isfinite(d)):
                    continue
                faster = all_conv(n1, "dcdm") and d < a
                msg = (f"- rtol {rtol:g}, n={n1}: DCDM {_fmt(d, 1)} ms/solve vs {amg} {_fmt(a, 1)} ms "
                       f"(median; mean {_fmt(am, 1)} ms): DCDM is "
                       + (f"faster ({_fmt(a / d, 2)}×)" if faster else f"NOT faster ({_fmt(d / a, 2)}× slower)"))
                if app and math.isfinite(its):
                    share = its * app["application_seconds"] * 1e3
                    msg += (f"; the network alone costs {_fmt(1e3 * app['application_seconds'], 2)} ms per "
                            f"application × {_fmt(its, 0)} iterations ≈ {_fmt(share, 0)} ms per solve")
                out.append(msg + ".")
    return out


def plot(payload: dict, path: Path) -> None:
    from seqsolve.plotting import _figure, save_figure

    plt = _figure()
    rtols = payload["settings"]["rtols"]
    sizes = payload["settings"]["sizes"]
    fig, axes = plt.subplots(len(rtols), 2, figsize=(12, 4.2 * len(rtols)), squeeze=False)
    colours = plt.get_cmap("tab10").colors
    kinds = payload["kinds"]
    for i, rtol in enumerate(rtols):
        for j, (key, label) in enumerate((("median_iterations", "iterations per solve (median)"),
                                          ("median_ms", "ms per solve incl. setup (median)"))):
            ax = axes[i][j]
            for c, name in enumerate(kinds):
                rows = [r for r in payload["rows"] if r["rtol"] == rtol and r["kind_name"] == name]
                rows.sort(key=lambda r: r["n"])
                xs = [r["n"] for r in rows]
                ys = [r["summary"][key] for r in rows]
                lab = rows[0]["configuration"] if rows else name
                if name == "numba-ssor-cg" and payload.get("omega_sweep"):
                    lab = "numba-ssor-cg (ω swept per n)"
                ax.plot(xs, ys, marker="o", color=colours[c % 10], label=lab,
                        linewidth=2.4 if name == "dcdm" else 1.4)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(sizes)
            ax.set_xticklabels([str(s) for s in sizes])
            ax.set_xlabel("n (n×n grid)")
            ax.set_ylabel(label)
            ax.set_title(f"Fluid2D, rtol {rtol:g}")
            ax.grid(True, which="both", alpha=0.3)
    axes[0][1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.suptitle(f"DCDM vs PCG on Fluid2D pressure solves ({payload['settings'].get('model_desc')}, "
                 "1 thread)")
    fig.tight_layout()
    save_figure(fig, path)


# ------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="64,128,256,512", help="grid sizes n (default 64,128,256,512)")
    ap.add_argument("--rtols", default="1e-6,1e-8", help="relative tolerances (default 1e-6,1e-8)")
    ap.add_argument("--steps", type=int, default=8, help="consecutive systems per n (default 8)")
    ap.add_argument("--warmup-time", type=float, default=0.1,
                    help="simulated time before collecting (default 0.1, i.e. n/8 steps)")
    ap.add_argument("--model", default=None,
                    help="DCDM model file (default: the packaged learned V-cycle, else the n=64 U-Net)")
    ap.add_argument("--configs", default=",".join(DEFAULT_CONFIGS),
                    help=f"comma-separated (default {','.join(DEFAULT_CONFIGS)}); "
                         "numba-ssor-cg takes its ω from --omega")
    ap.add_argument("--omega", default="1.8", help="SSOR ω, or 'sweep' (best per n; default 1.8)")
    ap.add_argument("--maxiter", type=int, default=5000, help="iteration limit per solve (default 5000)")
    ap.add_argument("--dcdm-maxiter", type=int, default=1000, help="DCDM iteration limit (default 1000)")
    ap.add_argument("--budget", type=float, default=40.0,
                    help="seconds per (n, rtol, configuration); later systems are skipped (default 40)")
    ap.add_argument("--repeats", type=int, default=30, help="repeats of the inference timing (default 30)")
    ap.add_argument("--seed", type=int, default=0, help="Fluid2D seed (obstacle motion; default 0)")
    ap.add_argument("--out", default="benchmarks/results", help="output folder")
    ap.add_argument("--records", action="store_true", help="keep per-solve records in the JSON")
    ap.add_argument("--stem", default="fluid2d_dcdm", help="output file stem (default fluid2d_dcdm)")
    args = ap.parse_args(argv)

    sizes = _ints(args.sizes)
    rtols = _floats(args.rtols)
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    if not sizes or not rtols or not names or args.steps < 1:
        ap.error("need at least one size, rtol, configuration and step")
    sweep = args.omega == "sweep"
    omega = None if sweep else float(args.omega)

    model_path = None
    model_n = None
    model_desc = None
    if "dcdm" in names:
        model_path = args.model or default_model()
        if not os.path.exists(model_path):
            print(f"fluid2d_dcdm: model {model_path!r} not found; train one with "
                  f"`python -m seqsolve train-precond fluid2d --n 64 --out {model_path}` or pass "
                  f"--model (or leave dcdm out of --configs)", file=sys.stderr)
            return 2
        import torch

        torch.set_num_threads(1)
        from seqsolve.neural.model_io import read_metadata

        meta = read_metadata(model_path)
        model_n = int(meta["grid_size"])
        if meta["architecture"]["class"] == "VCycleNet":
            sizes_trained = meta.get("training", {}).get("sizes", [model_n])
            model_desc = "learned V-cycle, trained on n=" + "/".join(str(t) for t in sizes_trained)
        else:
            model_desc = f"U-Net trained at n={model_n}"
    backend = BenchBackend(model_path)

    def config_for(name: str, w: float | None) -> Configuration:
        if name in ("numba-ssor-cg", "ssor-cg") and "(" not in name:
            return Configuration(name, (("omega", w if w is not None else 1.8),))
        return parse(name)

    t_start = time.perf_counter()
    warm_up([config_for(nm, omega) for nm in names], backend)

    descriptions = {nm: DESCRIPTIONS.get(nm, nm) for nm in names}
    if "dcdm" in descriptions and model_n is not None:
        descriptions["dcdm"] += f", {model_desc}"
    payload = {
        "benchmark": "fluid2d_dcdm",
        "settings": {"sizes": sizes, "rtols": rtols, "steps": args.steps, "warmup_time": args.warmup_time,
                     "model": model_path, "model_n": model_n, "model_desc": model_desc, "configs": names, "omega": args.omega,
                     "maxiter": args.maxiter, "dcdm_maxiter": args.dcdm_maxiter, "budget": args.budget,
                     "seed": args.seed, "threads": 1, "x0": "previous step's pressure",
                     "fallback": False},
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__},
        "descriptions": descriptions,
        "kinds": names,
        "per_size": {},
        "rows": [],
        "omega_sweep": {},
    }
    if model_path:
        import torch

        payload["machine"]["torch"] = torch.__version__

    for n in sizes:
        t0 = time.perf_counter()
        col = collect_systems(n, args.steps, args.warmup_time, args.seed)
        systems = col["systems"]
        ps = {"unknowns": n * n, "systems": len(systems), "warmup_steps": col["warmup_steps"],
              "dt": col["dt"], "distinct_matrices": col["distinct_matrices"],
              "simulation_seconds": col["simulation_seconds"],
              "matvec_seconds": matvec_seconds(systems[0]["A"]),
              "solid_fraction": [s["solid_fraction"] for s in systems]}
        print(f"n={n}: {n * n:,} unknowns, {col['warmup_steps']} warm-up steps + {len(systems)} collected "
              f"({col['distinct_matrices']} distinct matrices) in {col['simulation_seconds']:.1f} s; "
              f"matvec {1e6 * ps['matvec_seconds']:.1f} µs", flush=True)
        if model_path:
            ps["dcdm_inference"] = inference_cost(model_path, systems, n, args.repeats)
            inf = ps["dcdm_inference"]
            print(f"  DCDM network application: {1e3 * inf['application_seconds']:.2f} ms "
                  f"(forward only {1e3 * inf['forward_seconds']:.2f} ms) = "
                  f"{inf['application_seconds'] / ps['matvec_seconds']:.0f} matvecs", flush=True)
        w = omega
        if sweep and any(nm == "numba-ssor-cg" for nm in names):
            w, times = sweep_omega(systems, rtols[0], backend, args.maxiter)
            payload["omega_sweep"][str(n)] = w
            ps["omega_sweep_seconds"] = {str(k): v for k, v in times.items()}
            print(f"  SSOR ω sweep: best ω = {w}", flush=True)
        payload["per_size"][str(n)] = ps
        for rtol in rtols:
            for nm in names:
                c = config_for(nm, w)
                maxiter = args.dcdm_maxiter if c.kind == "dcdm" else args.maxiter
                res = run_config(c, systems, rtol=rtol, backend=backend, maxiter=maxiter, budget=args.budget)
                s = summarise(res["records"])
                label = c.name if c.kind != "dcdm" else f"dcdm ({model_desc})"
                payload["rows"].append({"n": n, "rtol": rtol, "configuration": label, "kind_name": nm,
                                        "kind": c.kind, "summary": s, "skipped": res["skipped"],
                                        "records": res["records"]})
                print(f"  rtol {rtol:g} {label:28s} {s['converged']}/{s['solves']} converged, "
                      f"median {s['median_iterations']:.0f} it, {s['median_ms']:.2f} ms/solve "
                      f"(mean {s['mean_ms']:.2f})", flush=True)
        print(f"  n={n} done in {time.perf_counter() - t0:.1f} s", flush=True)

    first = {(r["rtol"], r["kind_name"]): r["summary"]["median_iterations"]
             for r in payload["rows"] if r["n"] == sizes[0]}
    for r in payload["rows"]:
        base = first.get((r["rtol"], r["kind_name"]))
        r["growth"] = r["summary"]["median_iterations"] / base if base else float("nan")
    payload["verdicts"] = verdicts(payload)
    payload["total_seconds"] = time.perf_counter() - t_start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = format_table(payload)
    print()
    print(table)
    from seqsolve.provenance import provenance

    if not args.records:  # a small summary for git; per-solve records only on request
        for r in payload["rows"]:
            r.pop("records", None)
    write_json(out / f"{args.stem}.json", {**_finite(payload), "provenance": provenance(args.seed)})
    write_text(out / f"{args.stem}.md", table + "\n")
    plot(payload, out / f"{args.stem}.png")
    print(f"\nwrote {out / (args.stem + '.md')}, {out / (args.stem + '.json')} and "
          f"{out / (args.stem + '.png')} in {payload['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
