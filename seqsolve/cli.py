"""The ``seqsolve`` command line: demo, bench, solve, sequence, report, train-precond, configs.

Every error prints one line ``seqsolve: error: …`` on stderr and exits with status 2 (never a
traceback; ``SEQSOLVE_DEBUG=1`` shows one for unexpected errors), with hints in command-line
syntax.  Output paths are checked before any work starts, so a mistyped ``--out`` costs nothing.
Every command that prints a table or summary takes ``--json`` (JSON on stdout instead; progress
and notes go to stderr), and every JSON file written carries a ``provenance`` block (versions,
seed, command line).  ``-v``/``-vv`` turn on the ``seqsolve`` logger.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from . import __version__

#: the Heat2D demo: SciPy's CG (what most users start with), the compiled CG and SSOR-PCG, AMG and
#: auto; 'direct' (17x slower here: a factorisation per step) and 'jacobi-cg' (CG's iterations at a
#: higher price) are left out to keep a first run short (add them with --policies)
DEMO_POLICIES = ["cg", "ssor-cg(omega=1.5)", "numba-cg", "numba-ssor-cg(omega=1.8)", "amg-cg(adaptive)", "auto"]
#: ``seqsolve demo --problem fluid2d``; ``dcdm`` is dropped (with a note) when no usable model exists
FLUID_DEMO_POLICIES = ["numba-cg", "numba-ssor-cg(omega=1.8)", "amg-cg(adaptive)", "dcdm", "auto"]


def _check_out(path: str | None, *, folder: bool = False) -> None:
    """Fail before the work, not after it: the output must be writable (and its folder exist)."""
    if path:
        from .atomic import check_output_folder
        from .errors import ConfigurationError

        check_output_folder(path, ConfigurationError, is_folder=folder)


#: the command line of this invocation, for the provenance of the files it writes
_COMMAND: list[str] = ["seqsolve"]


def _provenance(seed: int | None) -> dict:
    from .provenance import provenance

    return provenance(seed, _COMMAND)


def _note(args, text: str) -> None:
    """A line for the reader: stdout normally, stderr under ``--json`` (stdout is then pure JSON)."""
    print(text, file=sys.stderr if getattr(args, "json", False) else sys.stdout)


def _print_json(data) -> None:
    print(json.dumps(data, indent=1, default=_jsonable))


def _jsonable(o):
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def bench_rows(result) -> list[dict]:
    """The benchmark's rows, with fallbacks split into capped explorations and real fallbacks.

    A *capped exploration* is a system on which the policy tried a configuration under an
    iteration cap, the try stopped, and another configuration finished the system: the price of
    learning (its time is in the total), not a failure.  A *real fallback* repaired a choice the
    policy expected to work.
    """
    rows = result.rows()
    for row in rows:
        run = result.runs.get(row["policy"])
        history = run.history if run is not None else []
        row["capped_explorations"] = sum(1 for r in history if r.fallback and r.explored)
        row["real_fallbacks"] = sum(1 for r in history if r.fallback and not r.explored)
    return rows


def bench_table(result) -> str:
    """The table printed by ``demo``/``bench`` (also valid Markdown)."""
    lines = ["| policy | total s | setup s | iterations | ms/step | µs/iter | iter/matvec | capped explorations "
             "| real fallbacks | × best |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(bench_rows(result), key=lambda r: r["total_seconds"]):
        lines.append(f"| {r['policy']} | {r['total_seconds']:.2f} | {r['setup_seconds']:.2f} | {r['total_iterations']:,} "
                     f"| {r['ms_per_step']:.2f} | {r['us_per_iteration']:.1f} | {r['iteration_over_matvec']:.1f} "
                     f"| {r['capped_explorations']} | {r['real_fallbacks']} | {r['ratio_to_best']:.2f} |")
    for k, v in result.errors.items():
        lines.append(f"| {k} | failed: {v} | | | | | | | | |")
    lines += ["", f"one sparse matvec: {1e6 * result.matvec_seconds:.1f} µs (median, same run). Capped explorations: "
              "systems where a learning policy tried a configuration under an iteration cap, stopped it, and "
              "finished with another (their time is in total s); real fallbacks: a chosen configuration failed "
              "and a fallback repaired it."]
    return "\n".join(lines)


def _save_bench(result, out: str, stem: str, seed: int) -> tuple[dict, str | None]:
    """Write ``<stem>.json`` (with provenance), ``<stem>.md`` and, with matplotlib, ``<stem>.png``."""
    from .atomic import write_json, write_text

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"table": folder / f"{stem}.md", "json": folder / f"{stem}.json"}
    data = result.to_json()
    data["rows"] = bench_rows(result)
    data["provenance"] = _provenance(seed)
    write_json(paths["json"], data)
    write_text(paths["table"], bench_table(result) + "\n")
    if importlib.util.find_spec("matplotlib") is None:
        return paths, "no plot: matplotlib is not installed (pip install 'seqsolve[plot]')"
    from .plotting import plot_cumulative

    paths["plot"] = folder / f"{stem}.png"
    plot_cumulative(result, paths["plot"])
    return paths, None


def _run_bench(make_problem, policies: list[str], out: str, rtol: float, seed: int, progress: bool,
               stem: str, baselines: Sequence[str] = (), after=None, as_json: bool = False,
               backend: str = "scipy") -> int:
    """Benchmark ``policies`` on ``make_problem()``, print the table, write ``<stem>.json/.md/.png``.

    ``after(problem, out_dir)`` runs once the benchmark is done, with the problem object the runs
    used (in its final state) and returns extra paths it wrote.
    """
    from .bench import benchmark

    made: list = []

    def make():
        p = make_problem()
        made.append(p)
        return p

    result = benchmark(make, policies, rtol=rtol, seed=seed, progress=progress, solver_options={"backend": backend})
    if baselines:  # pseudo-policies best-fixed / instance-optimal over the ω grid (seqsolve.baselines)
        from .baselines import add_baselines

        add_baselines(result, make_problem, baselines, rtol=rtol, seed=seed, progress=progress)
    paths, missing = _save_bench(result, out, stem, seed)
    written = list(paths.values())
    if after is not None and made and missing is None:
        written += list(after(made[0], Path(out)) or [])
    if as_json:
        _print_json({"rows": bench_rows(result), "errors": result.errors, "problem": result.problem,
                     "matvec_seconds": result.matvec_seconds, "files": [str(p) for p in written]})
    else:
        print(bench_table(result))
        print(f"\nwrote {', '.join(str(p) for p in written[:-1])} and {written[-1]}")
    if missing:
        print(f"note: {missing}", file=sys.stderr)
    return 1 if result.errors and not result.runs else 0


def _bench_heat2d(nx: int, steps: int, policies: list[str], out: str, rtol: float, seed: int,
                  progress: bool, stem: str, baselines: Sequence[str] = (), as_json: bool = False,
                  backend: str = "scipy") -> int:
    from .problems import Heat2D

    return _run_bench(lambda: Heat2D(nx=nx, steps=steps), policies, out, rtol, seed, progress, stem,
                      baselines, as_json=as_json, backend=backend)


def _bench_heat3d(n: int, steps: int, policies: list[str], rtol: float, seed: int, as_json: bool) -> int:
    """Heat3D (``n³`` unknowns, assembled in parallel) with the PETSc backend; run under
    ``mpiexec -n P``.  Each policy runs the whole sequence; rank 0 prints whole-call seconds
    (the maximum over ranks) and iterations."""
    import json
    import time

    from .backends.petsc import petsc
    from .backends.petsc.distributed import DistributedSolver
    from .problems.heat3d import Heat3D

    comm = petsc().COMM_WORLD
    rows = []
    for spec in policies:
        problem = Heat3D(n=n, steps=steps)
        solver = DistributedSolver(rtol=rtol, policy=spec if spec.startswith(("auto", "fixed:")) else f"fixed:{spec}",
                                   seed=seed)
        comm.barrier()
        t0 = time.perf_counter()
        for _ in range(steps):
            A, b, ctx = problem.system()
            problem.accept(solver.solve(A, b, context=ctx))
        comm.barrier()
        rows.append({"policy": spec, "seconds": time.perf_counter() - t0,
                     "iterations": sum(r.iterations for r in solver.history),
                     "configurations": solver.summary()["configurations"]})
    if comm.getRank() == 0:
        head = {"problem": "heat3d", "n": n, "unknowns": n ** 3, "steps": steps, "ranks": comm.getSize()}
        if as_json:
            print(json.dumps({**head, "rows": rows}))
        else:
            print(f"Heat3D n={n} ({n ** 3:,} unknowns), {steps} steps, {comm.getSize()} rank(s), PETSc backend")
            for r in rows:
                print(f"  {r['policy']:28s} {r['seconds']:8.2f} s  {r['iterations']:6d} iterations  {r['configurations']}")
    return 0


def _bench_fluid2d(n: int, steps: int, policies: list[str], out: str, rtol: float, seed: int,
                   progress: bool, stem: str, baselines: Sequence[str] = (), *,
                   obstacles: str = "default", move_every: int = 1, as_json: bool = False) -> int:
    """Fluid2D (flow past moving obstacles) benchmark; also saves a PNG frame ``<stem>_flow.png``
    of the final flow (smoke and vorticity)."""
    from .errors import ConfigurationError
    from .problems.fluid2d import Fluid2D

    if any(p.removeprefix("fixed:").startswith("dcdm") for p in policies):
        why = dcdm_unavailable(n)
        if why is not None:  # asked for by name: an error, not a silently empty row
            raise ConfigurationError(f"dcdm cannot run: {why}")
    if any(_uses_torch(p) for p in policies):
        _one_torch_thread()

    def frame(problem, out_dir: Path):
        path = out_dir / f"{stem}_flow.png"
        problem.save_frame(path)
        return [path]

    return _run_bench(lambda: Fluid2D(n, steps, obstacles=obstacles, move_every=move_every), policies,
                      out, rtol, seed, progress, stem, baselines, after=frame, as_json=as_json)


def _uses_torch(policy: str) -> bool:
    """Whether a policy may run DCDM (``dcdm`` itself, or a learning policy whose portfolio has it)."""
    from .configs import neural_model_available

    name = policy.removeprefix("fixed:")
    return name.startswith("dcdm") or (":" not in policy and not _is_configuration(name)
                                        and neural_model_available())


def _is_configuration(name: str) -> bool:
    from .configs import parse
    from .errors import ConfigurationError

    try:
        parse(name)
    except ConfigurationError:
        return False
    return True


def _one_torch_thread() -> None:
    """DCDM runs its network on one thread, like every other method here (and torch's thread pool
    stalls badly on a shared 2-core machine)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def dcdm_unavailable(n: int) -> str | None:
    """Why the ``dcdm`` configuration cannot run on an ``n x n`` grid here, or ``None`` if it can."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed (pip install torch==2.13.0)"
    import os

    from .neural import dcdm
    from .neural.dcdm import MODEL_ENV, default_model_path
    from .neural.model_io import read_metadata

    if not os.environ.get(MODEL_ENV) and os.path.exists(os.path.join(dcdm.MODEL_DIR, dcdm.VCYCLE_NAME)):
        return None  # the packaged V-cycle serves every grid size
    path = default_model_path(n)
    if path is None:
        return (f"no packaged DCDM model for n={n} (train one with `seqsolve train-precond fluid2d "
                f"--n {n} --out MODEL.sqnn` and set ${MODEL_ENV}=MODEL.sqnn)")
    try:
        trained = int(read_metadata(path)["grid_size"])
    except Exception as exc:  # a damaged file: say so, do not crash the demo
        return f"the DCDM model {path} cannot be read ({exc})"
    if trained != n:
        return f"the DCDM model {path} was trained for n={trained}, not n={n}"
    return None


def cmd_demo(args) -> int:
    from .bench import split_policies

    _check_out(args.out, folder=True)
    if args.problem == "fluid2d":
        n = args.n
        steps = args.steps if args.steps is not None else 300
        _note(args, f"seqsolve demo: Fluid2D (flow past a moving disc and a rotating plate), n={n} "
                    f"({n * n:,} pressure unknowns), {steps} time steps, one pressure solve each, "
                    f"rtol={args.rtol:g}; output folder: {Path(args.out).resolve()}")
        if args.policies:
            policies = split_policies(args.policies)
        else:
            policies = list(FLUID_DEMO_POLICIES)
            why = dcdm_unavailable(n)
            if why is None:
                from .neural.dcdm import default_model_path

                _note(args, f"dcdm: the neural Deep Conjugate Direction Method with the model "
                            f"{default_model_path(n)} (torch on 1 thread)")
            else:
                policies.remove("dcdm")
                _note(args, f"note: skipping dcdm: {why}")
        return _bench_fluid2d(n, steps, policies, args.out, args.rtol, args.seed, _progress(args), "demo",
                              as_json=args.json)
    steps = args.steps if args.steps is not None else 2000
    _note(args, f"seqsolve demo: Heat2D (Learning to Relax), nx={args.nx} ({(args.nx - 1) ** 2:,} unknowns), "
                f"{steps} Crank–Nicolson steps, rtol={args.rtol:g}; output folder: {Path(args.out).resolve()}")
    policies = split_policies(args.policies) if args.policies else DEMO_POLICIES
    return _bench_heat2d(args.nx, steps, policies, args.out, args.rtol, args.seed, _progress(args), "demo",
                         as_json=args.json)


def _progress(args) -> bool:
    """Progress bars draw on stdout: none under ``--json``."""
    return not (args.no_progress or getattr(args, "json", False))


def cmd_bench(args) -> int:
    from .bench import split_policies

    from .baselines import split_baselines

    policies, baselines = split_baselines(split_policies(args.policies))
    _check_out(args.out, folder=True)
    if args.problem == "heat2d":
        steps = args.steps if args.steps is not None else 5000
        stem = f"heat2d_nx{args.nx}_T{steps}"
        return _bench_heat2d(args.nx, steps, policies, args.out, args.rtol, args.seed, _progress(args), stem,
                             baselines, as_json=args.json, backend=args.backend)
    if args.problem == "heat3d":
        if args.backend != "petsc":
            raise SystemExit("heat3d runs on the PETSc backend: add --backend petsc (and run under mpiexec -n P)")
        return _bench_heat3d(args.nx, args.steps if args.steps is not None else 10, policies, args.rtol, args.seed,
                             args.json)
    if args.problem == "fluid2d":
        steps = args.steps if args.steps is not None else 200
        stem = f"fluid2d_n{args.n}_T{steps}"
        return _bench_fluid2d(args.n, steps, policies, args.out, args.rtol, args.seed, _progress(args),
                              stem, baselines, obstacles=args.obstacles, move_every=args.move_every,
                              as_json=args.json)
    raise SystemExit(f"unknown problem {args.problem!r}")


def cmd_solve(args) -> int:
    from .problems.matrix_market import read_matrix, read_vector, write_atomic
    from .solver import SequenceSolver

    _check_out(args.out)
    A = read_matrix(args.A)
    b = read_vector(args.b)
    if args.policy == "default":
        from .solver import _default_single
        from .validation import as_operator

        policy = _default_single(as_operator(A))
    else:
        from .bench import normalise_policy

        policy = normalise_policy(args.policy)
    s = SequenceSolver(rtol=args.rtol, atol=args.atol, policy=policy)
    x = s.solve(A, b)
    h = s.history[-1]
    if args.out:
        write_atomic(args.out, x)
    if args.json:
        _print_json({"unknowns": A.shape[0], "record": h.to_dict(), "out": args.out})
        return 0
    print(f"solved {A.shape[0]:,} unknowns with {h.configuration}: {h.iterations} iterations, "
          f"setup {h.setup_seconds:.3f} s, solve {h.solve_seconds:.3f} s, relative residual {h.residual:.3e}")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def cmd_sequence(args) -> int:
    from .bench import normalise_policy, write_json
    from .problems import MatrixMarketSequence
    from .runner import run
    from .solver import SequenceSolver

    _check_out(args.out)
    problem = MatrixMarketSequence(args.directory)
    solver = SequenceSolver(rtol=args.rtol, atol=args.atol, policy=normalise_policy(args.policy), seed=args.seed,
                            initial_guess=args.initial_guess)
    result = run(problem, solver, progress=_progress(args))
    s = result.summary()
    if args.out:
        write_json(args.out, {"summary": s, "history": [h.to_dict() for h in result.history],
                              "provenance": _provenance(args.seed)})
    if args.json:
        _print_json({"summary": s, "out": args.out})
        return 0
    print(f"{s['solves']} systems from {args.directory}: {s['total_iterations']:,} iterations, "
          f"{s['total_seconds']:.3f} s solver time ({s['setup_seconds']:.3f} s setup), "
          f"{s['capped_explorations']} capped explorations, {s['fallbacks'] - s['capped_explorations']} real "
          f"fallbacks, max relative residual {s['max_residual']:.2e}")
    print("configurations used: " + ", ".join(f"{k} ×{v}" for k, v in s["configurations"].items()))
    if args.out:
        print(f"wrote {args.out}")
    return 0


def cmd_report(args) -> int:
    import json

    from .atomic import read_limited
    from .errors import InvalidSystemError
    from .report import history_from_dicts, report

    raw = read_limited(args.history, 256 * 2**20, InvalidSystemError, "history file")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidSystemError(f"{args.history} is not JSON: {exc}") from None
    rows = doc.get("history") if isinstance(doc, dict) else doc
    history = history_from_dicts(rows)
    if args.json:
        from .records import summarize
        from .report import per_configuration, segments, summary_by_role

        _print_json({"summary": summarize(history), "time_by_role": summary_by_role(history),
                     "configurations": per_configuration(history),
                     "segments": [{"first": f, "last": last, "configuration": name, "solves": n}
                                  for f, last, name, n in segments(history)],
                     "stopped_attempts": [r.to_dict() for r in history if r.projected_seconds is not None]})
        return 0
    print(report(history, title=f"seqsolve report — {args.history}"), end="")
    return 0


def cmd_train_precond(args) -> int:
    from .neural import require_torch

    torch = require_torch()
    from .neural.model_io import ensure_replaceable

    _check_out(str(Path(args.out).parent), folder=True)  # save_model creates the folder
    for path in (args.out, args.out + ".last"):  # checkpoints only replace model files
        ensure_replaceable(path)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.arch == "vcycle":
        from .neural.vcycle_training import train_vcycle

        sizes = [int(t) for t in args.sizes.split(",") if t.strip()]
        print(f"training a learned V-cycle for {args.problem} on sizes {sizes} for {args.minutes:g} minutes "
              f"(seed {args.seed}, device {args.device or 'auto'}, {torch.get_num_threads()} threads) -> {args.out}")
        report = train_vcycle(sizes=sizes, minutes=args.minutes, out=args.out, seed=args.seed, device=args.device)
        print(f"done: {report.steps} optimizer steps in {report.seconds:.0f} s, final loss {report.final_loss:.4f}; "
              f"held-out DCDM iterations (best checkpoint, all sizes) {report.best_mean_iterations:.1f}; wrote {args.out}")
        return 0
    from .neural.training import train

    print(f"training a DCDM network for {args.problem} n={args.n} for {args.minutes:g} minutes "
          f"(seed {args.seed}, device {args.device or 'auto'}, {torch.get_num_threads()} threads) -> {args.out}")
    report = train(args.n, minutes=args.minutes, out=args.out, seed=args.seed, device=args.device,
                   progress=not args.no_progress)
    last = report.validation[-1] if report.validation else {}
    print(f"done: {report.steps} optimizer steps in {report.seconds:.0f} s, final loss {report.final_loss:.4f}; "
          f"held-out DCDM iterations (best checkpoint) {report.best_mean_iterations} vs CG "
          f"{sum(report.cg_iterations) / max(1, len(report.cg_iterations)):.0f}; wrote {args.out}"
          + (f" (last validation: {last.get('mean_iterations')})" if last else ""))
    return 0


def cmd_configs(args) -> int:
    from .configs import KINDS, configs

    if args.json:
        if args.kinds:
            _print_json([{"kind": k.name, "summary": k.summary, "spd_only": k.spd_only,
                          "parameters": {p.name: p.default for p in k.params}} for k in KINDS.values()])
        else:
            _print_json(configs())
        return 0
    if args.kinds:
        for k in KINDS.values():
            params = ", ".join(f"{p.name}={p.default}" for p in k.params)
            print(f"{k.name:16s} {'SPD only' if k.spd_only else '        '}  {k.summary}" + (f"  [{params}]" if params else ""))
    else:
        print("\n".join(configs()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seqsolve", description="Solve sequences of related sparse linear systems, learning as they run.")
    p.add_argument("--version", action="version", version=f"seqsolve {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="log fallbacks, capped attempts and explorations (-vv: every solve)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp, rtol=1e-8):
        sp.add_argument("--rtol", type=float, default=rtol, help=f"relative tolerance on the true residual (default {rtol:g})")
        sp.add_argument("--seed", type=int, default=0, help="random seed for policies (default 0)")
        sp.add_argument("--no-progress", action="store_true", help="no progress bar")

    def output(sp):
        sp.add_argument("--json", action="store_true", help="print JSON on stdout instead of the table")
        sp.add_argument("-v", "--verbose", dest="sub_verbose", action="count", default=0,
                        help="log fallbacks, capped attempts and explorations (-vv: every solve)")

    d = sub.add_parser("demo", help="Heat2D or Fluid2D over several configurations: table, JSON and plot "
                                    "(about a minute)")
    d.add_argument("--problem", choices=["heat2d", "fluid2d"], default="heat2d",
                   help="heat2d (default): Learning to Relax; fluid2d: flow past moving obstacles, "
                        "with the neural DCDM solver when a packaged model exists (also saves a PNG frame)")
    d.add_argument("--nx", type=int, default=64, help="heat2d: grid intervals per side (default 64)")
    d.add_argument("--n", type=int, default=64, help="fluid2d: n×n pressure grid (default 64)")
    d.add_argument("--steps", type=int, default=None, help="time steps (default 2000 heat2d, 300 fluid2d)")
    d.add_argument("--policies", default="", help="comma-separated policies/configurations (default: a representative set)")
    d.add_argument("--out", default="seqsolve-out", help="output folder (default ./seqsolve-out)")
    common(d)
    output(d)
    d.set_defaults(func=cmd_demo)

    b = sub.add_parser("bench", help="benchmark policies on a workload")
    b.add_argument("problem", choices=["heat2d", "fluid2d", "heat3d"],
                   help="workload (heat3d: PETSc backend, distributed; run under mpiexec -n P)")
    b.add_argument("--backend", choices=["scipy", "petsc"], default="scipy",
                   help="engine that runs the configurations (default scipy; petsc needs petsc4py)")
    b.add_argument("--nx", type=int, default=100, help="heat2d: grid intervals per side (default 100)")
    b.add_argument("--n", type=int, default=64, help="fluid2d: n×n pressure grid (default 64)")
    b.add_argument("--obstacles", default="default", choices=["default", "disc", "plate", "random", "none"],
                   help="fluid2d: obstacle set (default: an oscillating disc and a rotating plate)")
    b.add_argument("--move-every", type=int, default=1,
                   help="fluid2d: obstacles move every this many steps (the matrix is constant in between; default 1)")
    b.add_argument("--steps", type=int, default=None, help="time steps (default 5000 heat2d, 200 fluid2d)")
    b.add_argument("--policies", required=True, help="comma-separated, e.g. cg,ssor-cg(omega=1.5),amg-cg(rebuild); "
                   "the baselines best-fixed and instance-optimal (over the numba-ssor-cg ω grid) are accepted too")
    b.add_argument("--out", default="seqsolve-out", help="output folder (default ./seqsolve-out)")
    common(b)
    output(b)
    b.set_defaults(func=cmd_bench)

    s = sub.add_parser("solve", help="solve one Matrix Market system")
    s.add_argument("A", help="matrix (.mtx)")
    s.add_argument("b", help="right-hand side (.mtx, n×1)")
    s.add_argument("--out", help="write x here (.mtx)")
    s.add_argument("--policy", default="default",
                   help="'default' (chosen from the matrix: direct when small, else AMG-CG or GMRES+ILU) "
                        "or a configuration, e.g. cg, gmres(ilu), direct")
    s.add_argument("--rtol", type=float, default=1e-8)
    s.add_argument("--atol", type=float, default=0.0)
    output(s)
    s.set_defaults(func=cmd_solve)

    q = sub.add_parser("sequence", help="solve a folder of A_0000.mtx, b_0000.mtx, … in order")
    q.add_argument("directory")
    q.add_argument("--policy", default="auto", help="policy or configuration (default auto)")
    q.add_argument("--atol", type=float, default=0.0)
    q.add_argument("--initial-guess", default=None, metavar="SPEC",
                   help="where each solve starts: previous, extrapolate(order=2), projection(k=8), pod(k=4) or "
                        "auto (default: auto under --policy auto, else previous)")
    q.add_argument("--out", help="write the summary and history here (.json)")
    common(q)
    output(q)
    q.set_defaults(func=cmd_sequence)

    r = sub.add_parser("report", help="what the policy did along a saved history (from 'sequence --out')")
    r.add_argument("history", help="JSON written by 'seqsolve sequence --out' (or a list of solve records)")
    output(r)
    r.set_defaults(func=cmd_report)

    t = sub.add_parser("train-precond", help="train a neural (DCDM) preconditioner without labels")
    t.add_argument("problem", choices=["fluid2d"], help="kind of system to train for")
    t.add_argument("--arch", choices=["vcycle", "unet"], default="vcycle",
                   help="vcycle: learned multigrid V-cycle for all sizes (default); unet: the per-size DCDM U-Net")
    t.add_argument("--sizes", default="32,64,128", help="vcycle: training grid sizes (default 32,64,128)")
    t.add_argument("--n", type=int, default=64, help="unet: grid size n (n×n pressure unknowns; default 64)")
    t.add_argument("--minutes", type=float, default=15.0, help="time budget (default 15)")
    t.add_argument("--out", required=True, help="model file to write (.sqnn); checkpoints go next to it")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_train_precond)

    c = sub.add_parser("configs", help="list the configurations of the portfolio")
    c.add_argument("--kinds", action="store_true", help="list configuration kinds with their parameters")
    output(c)
    c.set_defaults(func=cmd_configs)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import SeqsolveError

    parser = build_parser()
    args = parser.parse_args(argv)
    _COMMAND[1:] = sys.argv[1:] if argv is None else list(argv)
    handler = _verbosity(args.verbose + getattr(args, "sub_verbose", 0))
    try:
        return int(args.func(args) or 0)
    except (SeqsolveError, OSError, ImportError) as exc:
        print(f"seqsolve: error: {cli_syntax(_one_line(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seqsolve: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, or an input nobody foresaw: still one line, not a traceback
        if os.environ.get("SEQSOLVE_DEBUG"):
            raise
        print(f"seqsolve: error: {type(exc).__name__}: {_one_line(exc)} "
              f"(set SEQSOLVE_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2
    finally:
        if handler is not None:
            from .log import logger

            logger.removeHandler(handler)


def _verbosity(level: int) -> logging.Handler | None:
    """``-v``: the seqsolve logger at INFO on stderr; ``-vv``: DEBUG."""
    if level <= 0:
        return None
    from .log import enable

    return enable(logging.INFO if level == 1 else logging.DEBUG)


_PY_POLICY = re.compile(r"policy=(['\"])(?:fixed:)?([^'\"]+)\1")
_PY_FIXED = re.compile(r"(?<!policy )(['\"])fixed:([^'\"]+)\1")


def cli_syntax(message: str) -> str:
    """Library messages suggest Python (``policy='auto'``); on the command line say ``--policy auto``."""
    def option(m: re.Match) -> str:
        value = m.group(2)
        return f"--policy '{value}'" if re.search(r"[()]", value) else f"--policy {value}"

    return _PY_FIXED.sub(option, _PY_POLICY.sub(option, message))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
