"""Hindsight baselines for benchmarks: the best fixed configuration and the instance-optimal one.

Why: a learning policy can only be judged against what was achievable, and the two natural
yardsticks both need knowledge no online policy has (*Learning to Relax*, §6):

* **best fixed in hindsight** -- every candidate run over the whole sequence on its own, the
  cheapest total taken (:func:`fixed_runs`, :func:`omega_sweep`, :func:`best_fixed`).  A policy
  that cannot beat this is no better than tuning one parameter offline.
* **instance-optimal** -- per system, every candidate started from the *same* ``x0`` and the
  cheapest taken (:func:`instance_optimal`).  To make the candidates comparable the simulation is
  advanced with a reference solution, not with any candidate's answer, exactly as the paper's
  ``scripts/h2d.m`` does (``pde.update(A \\ b)``).  Its total is a lower bound that no single
  sequence of choices made before seeing the costs can beat.

:func:`add_baselines` turns both into rows of a :class:`~seqsolve.bench.BenchResult` for
``seqsolve bench --policies …,best-fixed,instance-optimal``.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .configs import OMEGA_GRID, Configuration, parse
from .errors import ConfigurationError, ConvergenceError
from .policies.fixed import FixedPolicy
from .problems.base import SequenceProblem
from .records import SolveRecord
from .runner import RunResult
from .solver import SequenceSolver

#: pseudo-policies understood by ``seqsolve bench --policies``
BASELINE_NAMES: tuple[str, ...] = ("best-fixed", "instance-optimal")

StepHook = Callable[[SolveRecord], None] | None


def omega_configurations(omegas: Iterable[float] = OMEGA_GRID, kind: str = "numba-ssor-cg") -> list[Configuration]:
    """``kind(omega=w)`` for each ``w``: the arms of the paper's ω study."""
    return [Configuration(kind, (("omega", round(float(w), 6)),)) for w in omegas]


# ---------------------------------------------------------------------------------------- runs
def run_tracked(problem: SequenceProblem, solver: SequenceSolver, *, steps: int | None = None,
                on_step: StepHook = None, budget_seconds: float | None = None) -> RunResult:
    """:func:`seqsolve.run` with a per-step hook and an optional budget (no progress bar of its own).

    Why: benchmark scripts drive one progress bar over many runs, and a best-in-hindsight search
    can stop a candidate as soon as its cumulative solver time exceeds the best total so far (it
    can no longer win).  A stopped run has ``extra["aborted_at"]`` set to the step it stopped at.
    """
    problem.reset()
    total = problem.steps if steps is None else min(int(steps), problem.steps)
    start = len(solver.history)
    spent = 0.0
    aborted: int | None = None
    t0 = time.perf_counter()
    for k in range(total):
        system = problem.system()
        x = solver.solve(system.A, system.b, context=system.context)
        problem.accept(x)
        rec = solver.history[-1]
        spent += rec.seconds
        if on_step is not None:
            on_step(rec)
        if budget_seconds is not None and spent > budget_seconds and k + 1 < total:
            aborted = k + 1
            break
    wall = time.perf_counter() - t0
    result = RunResult(problem.describe(), solver.policy.spec, solver.history[start:], problem.state, wall)
    if aborted is not None:
        result.extra["aborted_at"] = aborted
    return result


def fixed_runs(problem_factory: Callable[[], SequenceProblem], configurations: Sequence[str | Configuration], *,
               rtol: float = 1e-8, seed: int = 0, steps: int | None = None, on_step: StepHook = None,
               prune: bool = False, prune_above: float = math.inf,
               solver_options: Mapping[str, Any] | None = None) -> dict[str, RunResult | str]:
    """Run each configuration over the whole sequence with a fresh solver; name → result.

    ``prune=True`` stops a run once its solver seconds exceed the cheapest completed total, or
    ``prune_above`` seconds if that is smaller (a best-fixed search needs only the minimum, so a
    run past it can no longer win; pruned runs carry ``extra["aborted_at"]``).  A run that raises
    maps to the error text instead of a :class:`~seqsolve.RunResult`.
    """
    out: dict[str, RunResult | str] = {}
    best = float(prune_above)
    for c in (parse(c) for c in configurations):
        solver = SequenceSolver(rtol=rtol, policy=FixedPolicy(c), seed=seed, **dict(solver_options or {}))
        try:
            r = run_tracked(problem_factory(), solver, steps=steps, on_step=on_step,
                            budget_seconds=best if prune and math.isfinite(best) else None)
        except Exception as exc:  # a failing candidate is a result, not a crash
            out[c.name] = f"{type(exc).__name__}: {exc}"
            continue
        out[c.name] = r
        if "aborted_at" not in r.extra:
            best = min(best, sum(h.seconds for h in r.history))
    return out


def best_fixed(results_by_config: Mapping[str, Any], by: str = "iterations") -> tuple[str, float]:
    """The configuration with the smallest total cost, and that total.

    Values may be a total (number), per-step costs (a sequence), a :class:`~seqsolve.RunResult`
    or a summary-like mapping with ``total_iterations``/``total_seconds``.  ``by`` is
    ``"iterations"`` (the paper's cost) or ``"seconds"`` (solver seconds: setup + solve).  Failed
    entries (strings, ``None``), pruned runs and runs with unconverged solves are skipped.
    """
    if by not in ("iterations", "seconds"):
        raise ValueError(f"by must be 'iterations' or 'seconds', got {by!r}")
    totals: dict[str, float] = {}
    for name, v in results_by_config.items():
        if v is None or isinstance(v, str):
            continue
        if isinstance(v, RunResult):
            if "aborted_at" in v.extra or any(not h.converged for h in v.history):
                continue
            s = v.summary()
            total = s["total_iterations"] if by == "iterations" else s["total_seconds"]
        elif isinstance(v, Mapping):
            total = v[f"total_{by}"] if f"total_{by}" in v else v[by]
        elif isinstance(v, (int, float, np.integer, np.floating)):
            total = v
        else:
            total = float(np.sum(np.asarray(v, dtype=float)))
        total = float(total)
        if math.isfinite(total):
            totals[name] = total
    if not totals:
        raise ValueError("best_fixed: no complete result to choose from")
    name = min(totals, key=lambda k: (totals[k], k))
    return name, totals[name]


def omega_sweep(problem_factory: Callable[[], SequenceProblem], omegas: Iterable[float] = OMEGA_GRID, *,
                kind: str = "numba-ssor-cg", rtol: float = 1e-8, seed: int = 0, steps: int | None = None,
                on_step: StepHook = None, keep_runs: bool = False) -> dict:
    """Run each fixed ω over the whole sequence: per-step iterations per ω (the contour data).

    Why: the paper's figure draws iterations against (step, ω) and the best fixed ω in hindsight
    is the ω with the least total.  Each ω gets its own trajectory (warm start from its own
    previous solution), as a user fixing ω would.  Returns JSON-ready lists; ``keep_runs`` adds
    the :class:`~seqsolve.RunResult` objects under ``"runs"``.
    """
    configs = omega_configurations(omegas, kind)
    runs = fixed_runs(problem_factory, configs, rtol=rtol, seed=seed, steps=steps, on_step=on_step)
    ok = {k: v for k, v in runs.items() if isinstance(v, RunResult)}
    out: dict[str, Any] = {
        "kind": kind,
        "omegas": [c.get("omega") for c in configs],
        "configurations": [c.name for c in configs],
        "iterations": [[h.iterations for h in ok[c.name].history] if c.name in ok else None for c in configs],
        "seconds": [[h.seconds for h in ok[c.name].history] if c.name in ok else None for c in configs],
        "summaries": {k: v.summary() for k, v in ok.items()},
        "errors": {k: v for k, v in runs.items() if isinstance(v, str)},
    }
    if ok:
        out["best_by_iterations"] = list(best_fixed(ok, "iterations"))
        out["best_by_seconds"] = list(best_fixed(ok, "seconds"))
    if keep_runs:
        out["runs"] = ok
    return out


# ------------------------------------------------------------------------------ instance-optimal
def _reference_solve(A, b: np.ndarray, x0: np.ndarray, rtol: float, reference: str) -> np.ndarray:
    """Sparse LU (``"direct"``) or a compiled SSOR-PCG solve 1000× tighter than ``rtol`` (``"tight"``)."""
    import scipy.sparse as sp

    if reference == "tight":
        from .solvers.compiled import pcg

        res = pcg(A, b, x0, rtol=rtol * 1e-3, preconditioner="ssor", omega=1.5)
        if res.converged:
            return res.x
        # stagnation at rounding level: the direct solve below is the reference then
    from scipy.sparse.linalg import splu

    return splu(sp.csc_matrix(A)).solve(np.asarray(b, dtype=np.float64))


def instance_optimal(problem: SequenceProblem, configurations: Sequence[str | Configuration], *,
                     rtol: float = 1e-8, reference: str = "direct", steps: int | None = None,
                     maxiter: int | None = None, progress: bool = False, on_step: Callable[[int], None] | None = None
                     ) -> dict:
    """Per step, run every configuration from the same ``x0`` and take the cheapest.

    ``x0`` is the previous reference solution (the problem's initial state at step 0, as in the
    paper); after all candidates ran, the problem advances with a reference solution of the
    system (``reference="direct"``: SciPy ``splu``; ``"tight"``: compiled SSOR-PCG to
    ``rtol/1000``, much cheaper for large grids).  Each configuration keeps its own
    :class:`~seqsolve.SequenceSolver` (so setup reuse behaves as in a fixed run), with fallbacks
    off: a candidate that misses the tolerance counts as unavailable at that step.

    Returns a JSON-ready dict: ``iterations``/``seconds``/``converged`` per configuration and
    step, ``best_by_iterations``/``best_by_seconds`` (per-step argmin names, first on ties),
    ``iterations_min``/``seconds_min`` per step, ``total_iterations``/``total_seconds`` (their
    sums: the instance-optimal totals), ``totals_by_configuration`` (same-``x0`` totals of each
    candidate) and ``unsolved_steps`` (steps no candidate solved; there the cheapest attempt is
    counted).
    """
    configs = [parse(c) for c in configurations]
    if not configs:
        raise ConfigurationError("instance_optimal needs at least one configuration")
    if reference not in ("direct", "tight"):
        raise ConfigurationError(f"reference must be 'direct' or 'tight', got {reference!r}")
    names = [c.name for c in configs]
    solvers = [SequenceSolver(rtol=rtol, policy=FixedPolicy(c), fallback=False, warm_start=False, maxiter=maxiter)
               for c in configs]
    problem.reset()
    T = problem.steps if steps is None else min(int(steps), problem.steps)
    K = len(configs)
    its = np.zeros((K, T), dtype=np.int64)
    secs = np.zeros((K, T))
    conv = np.zeros((K, T), dtype=bool)
    max_res = np.zeros(K)
    state = problem.state
    x_ref = None if state is None else np.array(state, dtype=np.float64, copy=True)
    ref_seconds = 0.0
    bar = _Bar(f"instance-optimal · {K} configurations", T) if progress else None
    t_start = time.perf_counter()
    try:
        for t in range(T):
            system = problem.system()
            A, b = system.A, system.b
            x0 = x_ref if x_ref is not None and x_ref.shape == b.shape else np.zeros(b.shape[0])
            for k, solver in enumerate(solvers):
                try:
                    solver.solve(A, b, x0=x0, context=system.context)
                except ConvergenceError:
                    pass
                rec = solver.history[-1]
                solver.history.clear()  # keep memory flat over long sequences
                its[k, t], secs[k, t], conv[k, t] = rec.iterations, rec.seconds, rec.converged
                if rec.converged:
                    max_res[k] = max(max_res[k], rec.residual)
            t0 = time.perf_counter()
            x_ref = _reference_solve(A, b, x0, rtol, reference)
            ref_seconds += time.perf_counter() - t0
            problem.accept(x_ref)
            if bar is not None:
                bar.advance(1)
            if on_step is not None:
                on_step(t)
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t_start

    unsolved = np.flatnonzero(~conv.any(axis=0))
    its_ok = np.where(conv, its, np.iinfo(np.int64).max)
    secs_ok = np.where(conv, secs, np.inf)
    its_ok[:, unsolved] = its[:, unsolved]
    secs_ok[:, unsolved] = secs[:, unsolved]
    arg_its = np.argmin(its_ok, axis=0)
    arg_secs = np.argmin(secs_ok, axis=0)
    cols = np.arange(T)
    its_min = its[arg_its, cols]
    secs_min = secs[arg_secs, cols]
    return {
        "configurations": names,
        "steps": T,
        "rtol": rtol,
        "reference": reference,
        "problem": problem.describe(),
        "iterations": {n: its[k].tolist() for k, n in enumerate(names)},
        "seconds": {n: secs[k].tolist() for k, n in enumerate(names)},
        "converged": {n: conv[k].tolist() for k, n in enumerate(names)},
        "best_by_iterations": [names[i] for i in arg_its],
        "best_by_seconds": [names[i] for i in arg_secs],
        "iterations_min": its_min.tolist(),
        "seconds_min": secs_min.tolist(),
        "seconds_of_best_by_iterations": secs[arg_its, cols].tolist(),
        "total_iterations": int(its_min.sum()),
        "total_seconds": float(secs_min.sum()),
        "totals_by_configuration": {
            n: {"total_iterations": int(its[k].sum()), "total_seconds": float(secs[k].sum()),
                "failures": int((~conv[k]).sum()), "max_residual": float(max_res[k])}
            for k, n in enumerate(names)},
        "unsolved_steps": unsolved.tolist(),
        "reference_seconds": ref_seconds,
        "wall_seconds": wall,
    }


def instance_optimal_run(io: Mapping[str, Any], by: str = "iterations") -> RunResult:
    """A synthetic :class:`~seqsolve.RunResult` replaying the per-step argmin of :func:`instance_optimal`.

    Why: it lets the instance-optimal baseline sit in the same tables and plots as real runs.
    Its ``wall_seconds`` is the sum of the chosen solver seconds (no such run happened), and
    ``extra["synthetic"]`` is True.
    """
    if by not in ("iterations", "seconds"):
        raise ValueError(f"by must be 'iterations' or 'seconds', got {by!r}")
    chosen = io["best_by_iterations"] if by == "iterations" else io["best_by_seconds"]
    history = []
    for t, name in enumerate(chosen):
        history.append(SolveRecord(
            index=t, configuration=name, iterations=int(io["iterations"][name][t]), setup_seconds=0.0,
            solve_seconds=float(io["seconds"][name][t]), residual=float(io["totals_by_configuration"][name]["max_residual"]),
            converged=bool(io["converged"][name][t])))
    wall = sum(h.seconds for h in history)
    return RunResult(dict(io.get("problem", {})), "instance-optimal", history, None, wall,
                     extra={"synthetic": True, "by": by, "reference": io.get("reference")})


# ------------------------------------------------------------------------------------ CLI glue
def split_baselines(policies: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate the pseudo-policies ``best-fixed``/``instance-optimal`` from real policies."""
    real = [p for p in policies if p.strip() not in BASELINE_NAMES]
    pseudo = [p.strip() for p in policies if p.strip() in BASELINE_NAMES]
    return real, list(dict.fromkeys(pseudo))


def add_baselines(result, make_problem: Callable[[], SequenceProblem], names: Sequence[str], *,
                  rtol: float = 1e-8, seed: int = 0, omegas: Iterable[float] = OMEGA_GRID,
                  kind: str = "numba-ssor-cg", reference: str = "direct", progress: bool = False) -> None:
    """Add ``best-fixed:<configuration>`` and/or ``instance-optimal`` rows over the ω grid to a BenchResult."""
    omegas = list(omegas)
    for name in names:
        try:
            if name == "best-fixed":
                bar = _Bar(f"best fixed ω · {len(omegas)} runs", len(omegas) * make_problem().steps) if progress else None
                try:
                    sweep = omega_sweep(make_problem, omegas, kind=kind, rtol=rtol, seed=seed, keep_runs=True,
                                        on_step=(lambda rec: bar.advance(1)) if bar else None)
                finally:
                    if bar is not None:
                        bar.close()
                best, _ = sweep["best_by_iterations"]
                result.runs[f"best-fixed:{best}"] = sweep["runs"][best]
            elif name == "instance-optimal":
                io = instance_optimal(make_problem(), omega_configurations(omegas, kind), rtol=rtol,
                                      reference=reference, progress=progress)
                result.runs["instance-optimal"] = instance_optimal_run(io)
            else:
                raise ConfigurationError(f"unknown baseline {name!r}; valid: {', '.join(BASELINE_NAMES)}")
        except ConfigurationError:
            raise
        except Exception as exc:  # reported in the table like a failing policy
            result.errors[name] = f"{type(exc).__name__}: {exc}"


class _Bar:
    """One rich progress task (steps), used when no caller-provided progress display exists."""

    def __init__(self, description: str, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        self._task = self._p.add_task(description, total=total)
        self._p.start()

    def advance(self, n: int = 1) -> None:
        self._p.update(self._task, advance=n)

    def close(self) -> None:
        self._p.stop()


__all__ = ["BASELINE_NAMES", "omega_configurations", "run_tracked", "fixed_runs", "best_fixed", "omega_sweep",
           "instance_optimal", "instance_optimal_run", "split_baselines", "add_baselines"]
