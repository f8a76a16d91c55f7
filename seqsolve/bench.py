"""Benchmark harness shared by ``seqsolve bench``/``demo`` and the scripts in ``benchmarks/``.

Runs one problem under several policies in the same process, measures the time of one sparse
matrix–vector product in the same run (so time per iteration can be quoted relative to it), and
writes a table, a JSON record and a cumulative-time plot.
"""

from __future__ import annotations

import os
import platform
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .atomic import write_json, write_text
from .configs import parse
from .errors import ConfigurationError
from .policies import POLICIES
from .problems.base import SequenceProblem
from .runner import RunResult, run
from .solver import SequenceSolver


def split_policies(text: str) -> list[str]:
    """Split ``"cg,ssor-cg(omega=1.5),tsallis-inf"`` at commas outside parentheses."""
    parts = [p.strip() for p in re.split(r",(?![^()]*\))", text)]
    return [p for p in parts if p]


def normalise_policy(spec: str) -> str:
    """Accept a bare configuration name (``"cg"``) as shorthand for ``"fixed:cg"``."""
    name = spec.partition(":")[0]
    if name in POLICIES:
        return spec
    try:
        return f"fixed:{parse(spec).name}"
    except ConfigurationError:
        raise ConfigurationError(
            f"{spec!r} is neither a policy ({', '.join(POLICIES)}) nor a configuration name"
        ) from None


def warm_up(backend: str = "scipy") -> None:
    """Load every kernel and library a configuration may use (Numba caches, PyAMG, SuperLU, ILU)
    on tiny systems, so no method's first *timed* solve pays a one-off process cost; with
    ``backend="petsc"`` also every PETSc configuration ``auto`` offers, and ``auto`` there."""
    import scipy.sparse as sp

    from .configs import portfolio
    from .errors import SeqsolveError

    n = 16
    spd = sp.csr_array(sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(n, n)))
    general = sp.csr_array(sp.diags([-1.5, 2.5, -0.5], [-1, 0, 1], shape=(n, n)))
    from .policies.auto import default_candidates

    configs = portfolio() + [c for c in default_candidates() if c not in set(portfolio())]
    for c in configs:  # (auto's candidates include kinds outside the portfolio: subdomain deflation)
        if c.kind == "dcdm":
            continue
        for A in (spd, general):
            solver = SequenceSolver(policy=f"fixed:{c.name}", fallback=False)
            for scale in (1.0, 1.01):  # a second matrix of the same pattern: the reuse paths too
                try:
                    solver.solve(A * scale, np.ones(n))
                except SeqsolveError:
                    pass
    solver = SequenceSolver(policy="auto")
    for k in range(4):
        solver.solve(spd * (1.0 + 0.01 * k), np.ones(n))
    # int64 indices (SciPy's sparse arrays built from int64 coordinates have them): the scan,
    # pattern, residual and grid-detection kernels are compiled per index width; unloaded, a first
    # solve on such a matrix paid 30-90 ms inside its timing
    solver = SequenceSolver(policy="auto")
    for k in range(4):
        solver.solve(_wide(spd * (1.0 + 0.01 * k)), np.ones(n))
    # a grid found in the pattern (fastdiag-cg: detection, projection, line solves, drift fit),
    # separable and not, and a second pattern on the same grid
    grid = sp.csr_array(sp.kron(sp.eye_array(5), spd[:6, :6]) + sp.kron(spd[:5, :5], sp.eye_array(6)))
    bumpy = grid.copy()
    bumpy.data = bumpy.data * (1.0 + 0.1 * np.cos(np.arange(bumpy.nnz)))
    bumpy = sp.csr_array((bumpy + bumpy.T) / 2)
    cut = grid.tolil()
    cut[0, 1] = cut[1, 0] = 0.0
    cut = sp.csr_array(cut)
    cut.eliminate_zeros()
    for A in (grid, bumpy, _wide(grid)):
        solver = SequenceSolver(policy="fixed:fastdiag-cg", fallback=False)
        for M in (A, A * 1.01 + sp.eye_array(30), cut):
            try:
                solver.solve(M, np.ones(30))
            except SeqsolveError:
                pass
    # a 3-D grid whose axes drift apart (fastdiag-cg's per-axis follow: its kernels for three axes)
    t = spd[:4, :4]
    axes = [sp.kron(sp.kron(*(t if d == a else sp.eye_array(4) for d in (0, 1))), sp.eye_array(4)) if a < 2
            else sp.kron(sp.eye_array(16), t) for a in range(3)]
    solver = SequenceSolver(policy="fixed:fastdiag-cg", fallback=False)
    for w in ((1.0, 1.0, 1.0), (1.1, 0.9, 1.3), (1.2, 0.8, 1.1)):
        try:
            solver.solve(sp.csr_array(sp.eye_array(64) + sum(c * X for c, X in zip(w, axes))), np.ones(64))
        except SeqsolveError:
            pass
    from .guesses.projection import warmup as guess_projection_warmup
    from .operators.structure import warmup as projection_warmup
    from .solvers.fastdiag import _fft

    projection_warmup()  # the compiled projection, both index widths (the grid above loads one)
    guess_projection_warmup()  # projection(k)'s block product (the initial guess), both index widths
    _fft()  # scipy.fft (~70 ms to import): the sine transforms of grids with lines of 128 or more
    if backend != "scipy":
        _warm_backend(backend, spd, general, grid)


def _warm_backend(backend: str, spd, general, grid) -> None:
    """The backend's own first calls (PETSc: its KSP/PC types, MUMPS, hypre, the Mat mirror's
    compiled passes), made on tiny systems, for every configuration ``auto`` offers there."""
    from .errors import SeqsolveError
    from .policies.auto import default_candidates

    for c in default_candidates(backend):
        for A in (spd, general, grid):
            solver = SequenceSolver(policy=f"fixed:{c.name}", backend=backend, fallback=False)
            for scale in (1.0, 1.01):
                try:
                    solver.solve(A * scale, np.ones(A.shape[0]))
                except SeqsolveError:
                    pass
    solver = SequenceSolver(policy="auto", backend=backend)
    for k in range(4):
        solver.solve(grid * (1.0 + 0.01 * k), np.ones(grid.shape[0]))


def _wide(A):
    """``A`` with int64 index arrays."""
    import scipy.sparse as sp

    return sp.csr_array((A.data, A.indices.astype(np.int64), A.indptr.astype(np.int64)), shape=A.shape)


def matvec_seconds(A, repeats: int = 200) -> float:
    """Median wall time of one ``A @ x`` (SciPy CSR), measured now."""
    x = np.random.default_rng(0).standard_normal(A.shape[0])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        A @ x
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


@dataclass
class BenchResult:
    """The runs of one benchmark and the reference timing measured alongside them."""

    problem: dict
    rtol: float
    matvec_seconds: float
    runs: dict[str, RunResult] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def rows(self) -> list[dict]:
        """One row per policy: totals, time per step and per iteration, ratio to the best."""
        rows = []
        for name, r in self.runs.items():
            s = r.summary()
            its = s["total_iterations"]
            per_it = s["solve_seconds"] / its if its else float("nan")
            rows.append({
                "policy": name,
                "total_seconds": s["total_seconds"],
                "setup_seconds": s["setup_seconds"],
                "total_iterations": its,
                "ms_per_step": 1e3 * s["total_seconds"] / max(1, s["solves"]),
                "us_per_iteration": 1e6 * per_it,
                "iteration_over_matvec": per_it / self.matvec_seconds if its else float("nan"),
                "fallbacks": s["fallbacks"],
                "policy_seconds": s["policy_seconds"],
                "max_residual": s["max_residual"],
                "wall_seconds": s["wall_seconds"],
            })
        best = min((row["total_seconds"] for row in rows), default=float("nan"))
        for row in rows:
            row["ratio_to_best"] = row["total_seconds"] / best if best > 0 else float("nan")
        return rows

    def to_json(self) -> dict:
        return {
            "problem": self.problem,
            "rtol": self.rtol,
            "matvec_seconds": self.matvec_seconds,
            "machine": {"platform": platform.platform(), "processor": platform.processor(),
                        "cpus": os.cpu_count(), "python": platform.python_version()},
            "rows": self.rows(),
            "errors": self.errors,
            "cumulative_seconds": {k: np.cumsum([h.seconds for h in r.history]).tolist()
                                   for k, r in self.runs.items()},
            "iterations": {k: [h.iterations for h in r.history] for k, r in self.runs.items()},
            "configurations": {k: [h.configuration for h in r.history] for k, r in self.runs.items()},
        }


def benchmark(make_problem: Callable[[], SequenceProblem], policies: Sequence[str], *,
              rtol: float = 1e-8, seed: int = 0, progress: bool = True,
              solver_options: dict | None = None) -> BenchResult:
    """Run ``make_problem()`` once per policy (fresh solver each) and collect the results."""
    policies = [normalise_policy(p) for p in policies]
    from .solvers.compiled import warmup

    warmup()  # load the compiled kernels now, so no policy is charged for the JIT cache
    problem = make_problem()
    first = problem.system()
    mv = matvec_seconds(first.A) if hasattr(first.A, "nnz") else float("nan")
    result = BenchResult(problem.describe(), rtol, mv)
    for spec in policies:
        solver = SequenceSolver(rtol=rtol, policy=spec, seed=seed, **(solver_options or {}))
        try:
            result.runs[spec] = run(problem, solver, progress=progress, description=spec)
        except Exception as exc:  # a failing policy is reported in the table, not fatal
            result.errors[spec] = f"{type(exc).__name__}: {exc}"
    return result


def format_table(result: BenchResult) -> str:
    """A plain-text table (also valid Markdown) of :meth:`BenchResult.rows`."""
    head = ("| policy | total s | setup s | iterations | ms/step | µs/iter | iter/matvec | fallbacks | × best |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in sorted(result.rows(), key=lambda r: r["total_seconds"]):
        lines.append(
            f"| {r['policy']} | {r['total_seconds']:.2f} | {r['setup_seconds']:.2f} | {r['total_iterations']:,} "
            f"| {r['ms_per_step']:.2f} | {r['us_per_iteration']:.1f} | {r['iteration_over_matvec']:.1f} "
            f"| {r['fallbacks']} | {r['ratio_to_best']:.2f} |"
        )
    for k, v in result.errors.items():
        lines.append(f"| {k} | failed: {v} | | | | | | | |")
    lines.append(f"\none sparse matvec: {1e6 * result.matvec_seconds:.1f} µs (median, same run)")
    return "\n".join(lines)


def save_outputs(result: BenchResult, out: str | os.PathLike, stem: str) -> dict[str, Path]:
    """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` into ``out``; return their paths."""
    from .plotting import plot_cumulative

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{stem}.json", "table": out / f"{stem}.md", "plot": out / f"{stem}.png"}
    write_json(paths["json"], result.to_json())
    write_text(paths["table"], format_table(result) + "\n")
    plot_cumulative(result, paths["plot"])
    return paths
