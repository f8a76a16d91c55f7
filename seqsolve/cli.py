"""The ``seqsolve`` command line: demo, bench, solve, sequence, train-precond, configs.

Every error prints one line ``seqsolve: error: …`` on stderr and exits with status 2 (never a
traceback; ``SEQSOLVE_DEBUG=1`` shows one for unexpected errors).  Output paths are checked before
any work starts, so a mistyped ``--out`` costs nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from . import __version__

DEMO_POLICIES = ["cg", "jacobi-cg", "ssor-cg(omega=1.5)", "numba-cg", "numba-ssor-cg(omega=1.8)",
                 "amg-cg(adaptive)", "direct", "auto"]
#: ``seqsolve demo --problem fluid2d``; ``dcdm`` is dropped (with a note) when no usable model exists
FLUID_DEMO_POLICIES = ["numba-cg", "numba-ssor-cg(omega=1.8)", "amg-cg(adaptive)", "dcdm", "auto"]


def _check_out(path: str | None, *, folder: bool = False) -> None:
    """Fail before the work, not after it: the output must be writable (and its folder exist)."""
    if path:
        from .atomic import check_output_folder
        from .errors import ConfigurationError

        check_output_folder(path, ConfigurationError, is_folder=folder)


def _console():
    from rich.console import Console

    return Console()


def _run_bench(make_problem, policies: list[str], out: str, rtol: float, seed: int, progress: bool,
               stem: str, baselines: Sequence[str] = (), after=None) -> int:
    """Benchmark ``policies`` on ``make_problem()``, print the table, write ``<stem>.json/.md/.png``.

    ``after(problem, out_dir)`` runs once the benchmark is done, with the problem object the runs
    used (in its final state) and returns extra paths it wrote.
    """
    from .bench import benchmark, format_table, save_outputs

    made: list = []

    def make():
        p = make_problem()
        made.append(p)
        return p

    result = benchmark(make, policies, rtol=rtol, seed=seed, progress=progress)
    if baselines:  # pseudo-policies best-fixed / instance-optimal over the ω grid (seqsolve.baselines)
        from .baselines import add_baselines

        add_baselines(result, make_problem, baselines, rtol=rtol, seed=seed, progress=progress)
    print(format_table(result))
    paths = save_outputs(result, out, stem)
    written = [paths["table"], paths["json"], paths["plot"]]
    if after is not None and made:
        written += list(after(made[0], Path(out)) or [])
    print(f"\nwrote {', '.join(str(p) for p in written[:-1])} and {written[-1]}")
    return 1 if result.errors and not result.runs else 0


def _bench_heat2d(nx: int, steps: int, policies: list[str], out: str, rtol: float, seed: int,
                  progress: bool, stem: str, baselines: Sequence[str] = ()) -> int:
    from .problems import Heat2D

    return _run_bench(lambda: Heat2D(nx=nx, steps=steps), policies, out, rtol, seed, progress, stem,
                      baselines)


def _bench_fluid2d(n: int, steps: int, policies: list[str], out: str, rtol: float, seed: int,
                   progress: bool, stem: str, baselines: Sequence[str] = (), *,
                   obstacles: str = "default", move_every: int = 1) -> int:
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
                      out, rtol, seed, progress, stem, baselines, after=frame)


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
    from .neural.dcdm import MODEL_ENV, default_model_path
    from .neural.model_io import read_metadata

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
        print(f"seqsolve demo: Fluid2D (flow past a moving disc and a rotating plate), n={n} "
              f"({n * n:,} pressure unknowns), {steps} time steps, one pressure solve each, "
              f"rtol={args.rtol:g}; output folder: {Path(args.out).resolve()}")
        if args.policies:
            policies = split_policies(args.policies)
        else:
            policies = list(FLUID_DEMO_POLICIES)
            why = dcdm_unavailable(n)
            if why is None:
                from .neural.dcdm import default_model_path

                print(f"dcdm: the neural Deep Conjugate Direction Method with the model "
                      f"{default_model_path(n)} (torch on 1 thread)")
            else:
                policies.remove("dcdm")
                print(f"note: skipping dcdm: {why}")
        return _bench_fluid2d(n, steps, policies, args.out, args.rtol, args.seed, not args.no_progress, "demo")
    steps = args.steps if args.steps is not None else 2000
    print(f"seqsolve demo: Heat2D (Learning to Relax), nx={args.nx} ({(args.nx - 1) ** 2:,} unknowns), "
          f"{steps} Crank–Nicolson steps, rtol={args.rtol:g}; output folder: {Path(args.out).resolve()}")
    policies = split_policies(args.policies) if args.policies else DEMO_POLICIES
    return _bench_heat2d(args.nx, steps, policies, args.out, args.rtol, args.seed, not args.no_progress, "demo")


def cmd_bench(args) -> int:
    from .bench import split_policies

    from .baselines import split_baselines

    policies, baselines = split_baselines(split_policies(args.policies))
    _check_out(args.out, folder=True)
    if args.problem == "heat2d":
        steps = args.steps if args.steps is not None else 5000
        stem = f"heat2d_nx{args.nx}_T{steps}"
        return _bench_heat2d(args.nx, steps, policies, args.out, args.rtol, args.seed, not args.no_progress, stem,
                             baselines)
    if args.problem == "fluid2d":
        steps = args.steps if args.steps is not None else 200
        stem = f"fluid2d_n{args.n}_T{steps}"
        return _bench_fluid2d(args.n, steps, policies, args.out, args.rtol, args.seed, not args.no_progress,
                              stem, baselines, obstacles=args.obstacles, move_every=args.move_every)
    raise SystemExit(f"unknown problem {args.problem!r}")


def cmd_solve(args) -> int:
    from .problems.matrix_market import read_matrix, read_vector, write_atomic
    from .solver import SequenceSolver, solve

    _check_out(args.out)
    A = read_matrix(args.A)
    b = read_vector(args.b)
    if args.policy == "default":
        x = solve(A, b, rtol=args.rtol, atol=args.atol)
        res = np.linalg.norm(b - A @ x) / max(np.linalg.norm(b), np.finfo(float).tiny)
        print(f"solved {A.shape[0]:,} unknowns: relative residual {res:.3e}")
    else:
        from .bench import normalise_policy

        s = SequenceSolver(rtol=args.rtol, atol=args.atol, policy=normalise_policy(args.policy))
        x = s.solve(A, b)
        h = s.history[-1]
        print(f"solved {A.shape[0]:,} unknowns with {h.configuration}: {h.iterations} iterations, "
              f"setup {h.setup_seconds:.3f} s, solve {h.solve_seconds:.3f} s, relative residual {h.residual:.3e}")
    if args.out:
        write_atomic(args.out, x)
        print(f"wrote {args.out}")
    return 0


def cmd_sequence(args) -> int:
    from .bench import normalise_policy, write_json
    from .problems import MatrixMarketSequence
    from .runner import run
    from .solver import SequenceSolver

    _check_out(args.out)
    problem = MatrixMarketSequence(args.directory)
    solver = SequenceSolver(rtol=args.rtol, atol=args.atol, policy=normalise_policy(args.policy), seed=args.seed)
    result = run(problem, solver, progress=not args.no_progress)
    s = result.summary()
    print(f"{s['solves']} systems from {args.directory}: {s['total_iterations']:,} iterations, "
          f"{s['total_seconds']:.3f} s solver time ({s['setup_seconds']:.3f} s setup), "
          f"{s['fallbacks']} fallbacks, max relative residual {s['max_residual']:.2e}")
    print("configurations used: " + ", ".join(f"{k} ×{v}" for k, v in s["configurations"].items()))
    if args.out:
        write_json(args.out, {"summary": s, "history": [h.to_dict() for h in result.history]})
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
    print(report(history_from_dicts(rows), title=f"seqsolve report — {args.history}"), end="")
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
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp, rtol=1e-8):
        sp.add_argument("--rtol", type=float, default=rtol, help=f"relative tolerance on the true residual (default {rtol:g})")
        sp.add_argument("--seed", type=int, default=0, help="random seed for policies (default 0)")
        sp.add_argument("--no-progress", action="store_true", help="no progress bar")

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
    d.set_defaults(func=cmd_demo)

    b = sub.add_parser("bench", help="benchmark policies on a workload")
    b.add_argument("problem", choices=["heat2d", "fluid2d"], help="workload")
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
    s.set_defaults(func=cmd_solve)

    q = sub.add_parser("sequence", help="solve a folder of A_0000.mtx, b_0000.mtx, … in order")
    q.add_argument("directory")
    q.add_argument("--policy", default="auto", help="policy or configuration (default auto)")
    q.add_argument("--atol", type=float, default=0.0)
    q.add_argument("--out", help="write the summary and history here (.json)")
    common(q)
    q.set_defaults(func=cmd_sequence)

    r = sub.add_parser("report", help="what the policy did along a saved history (from 'sequence --out')")
    r.add_argument("history", help="JSON written by 'seqsolve sequence --out' (or a list of solve records)")
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
    c.set_defaults(func=cmd_configs)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import SeqsolveError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (SeqsolveError, OSError, ImportError) as exc:
        print(f"seqsolve: error: {_one_line(exc)}", file=sys.stderr)
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


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
