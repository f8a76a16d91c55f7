"""Randomised run of the accuracy contract: every outcome is a certified x or a SeqsolveError.

    python benchmarks/contract_fuzz.py --systems 10000 --seed 0

Generates systems of the classes that broke the promise before — extreme magnitudes (1e-300 to
1e300), every SciPy sparse format and class, singular, near-singular and badly scaled matrices,
LinearOperators, odd contexts (huge, tiny, 400-digit integers), in-place mutation of ``A.data``
between solves, size changes — and solves them one-off and through long-lived solvers of every
policy.  Each returned ``x`` is checked against the *exact* residual (rational arithmetic);
prints counts of correct answers, clear errors, wrong answers, foreign exceptions and slow solves,
and writes ``benchmarks/results/contract_fuzz.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import exact_meets  # noqa: E402

import seqsolve  # noqa: E402
from seqsolve.accuracy import RTOL_MIN  # noqa: E402
from seqsolve.atomic import write_json  # noqa: E402
from seqsolve.provenance import provenance  # noqa: E402

FORMATS = ["csr", "csc", "coo", "bsr", "dia", "dok", "lil"]
POLICIES = ["auto", "fixed:cg", "fixed:numba-ssor-cg(omega=1.5)", "fixed:direct", "fixed:gmres(ilu)",
            "fixed:bicgstab", "tsallis-inf", "chebcb", None]
KINDS = ["random", "spd", "singular", "near-singular", "diag", "scaled", "poisson"]
SLOW = 10.0  # seconds: a solve slower than this counts as a hang


def make_system(rng: np.random.Generator, max_n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    n = int(rng.integers(1, max_n + 1))
    kind = KINDS[rng.integers(len(KINDS))]
    M = rng.standard_normal((n, n))
    M[rng.random((n, n)) < rng.uniform(0, 0.7)] = 0.0
    if kind == "spd":
        M = M @ M.T + n * np.eye(n)
    elif kind == "singular" and n > 1:
        M[:, 0] = 0.0
        M[0, :] = 0.0
    elif kind == "near-singular" and n > 1:
        M[1] = M[0] * (1 + 1e-13)
    elif kind == "diag":
        M = np.diag(rng.standard_normal(n))
    elif kind == "scaled":
        D = np.diag(10.0 ** rng.uniform(-12, 12, n))
        M = D @ (M + 3 * np.eye(n)) @ D
    elif kind == "poisson":
        M = (np.diag(np.full(n, 2.0)) - np.diag(np.ones(n - 1), 1) - np.diag(np.ones(n - 1), -1))
    with np.errstate(all="ignore"):
        M = M * 10.0 ** rng.integers(-300, 301)
        b = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 301)
        if rng.random() < 0.3:
            b = b * 10.0 ** rng.integers(-20, 21, n)
        M = np.where(np.isfinite(M), M, 0.0)
        b = np.where(np.isfinite(b), b, 1.0)
    return M, b


def as_input(M: np.ndarray, rng: np.random.Generator):
    r = rng.random()
    if r < 0.1:
        return LinearOperator(M.shape, matvec=lambda v: M @ v, dtype=np.float64)
    if r < 0.15:
        return M.copy()
    fmt = FORMATS[rng.integers(len(FORMATS))]
    return getattr(sp, f"{fmt}_{'matrix' if rng.random() < 0.5 else 'array'}")(M)


GUESSES = ["previous", "zero", "extrapolate", "extrapolate(order=2)", "projection(k=4)",
           "projection(k=8, variant=minres)", "pod(k=4)", "deflation(k=4)", "auto", None]
SEQUENCE_POLICIES = ["auto", "fixed:numba-cg", "fixed:numba-ssor-cg(omega=1.5)", "fixed:gmres(ilu)",
                     "fixed:direct", "fixed:bicgstab"]
#: the same roles in PETSc's vocabulary (``--backend petsc``)
PETSC_POLICIES = ["auto", "fixed:cg", "fixed:ssor-cg(omega=1.5)", "fixed:direct", "fixed:gmres(ilu)",
                  "fixed:bicgstab", "fixed:jacobi-cg", "fixed:icc-cg", "fixed:hypre-cg", "fixed:amg-cg(rebuild)",
                  "fixed:cholesky", "fixed:minres", None]


def related_sequence(rng: np.random.Generator, steps: int, max_n: int = 30):
    """A sequence of systems of one size that drift as a time loop's do — what the initial-guess
    strategies feed on — broken now and then: a scale jumping by 1e±200, a right-hand side in the
    span of earlier ones (a projection is exact there) or zero, a step made singular, a sign flip.
    In some, the matrix stays the same (setups kept while it repeats), and in some a second system
    of its own size takes every other turn (an operator splitting through one solver: setups kept
    for matrices that come back, a new sparsity pattern or size on every solve)."""
    M0, b0 = make_system(rng, max_n=max_n)
    n = b0.size
    constant = rng.random() < 0.3
    partner = make_system(rng, max_n=max_n) if rng.random() < 0.3 else None
    P = rng.standard_normal((n, n)) * (rng.random((n, n)) < 0.2)
    if rng.random() < 0.6:  # most time loops are symmetric, and the SPD methods must be reached
        with np.errstate(all="ignore"):
            M0, P = 0.5 * (M0 + M0.T), P + P.T
            if rng.random() < 0.7:
                M0 = M0 + np.diag(np.abs(M0).sum(axis=1) + 1e-300)  # diagonally dominant: SPD
    bs: list[np.ndarray] = []
    for t in range(steps):
        if partner is not None and t % 2 == 1:
            with np.errstate(all="ignore"):
                yield partner[0], partner[1] * (1.0 + 0.1 * t)
            continue
        with np.errstate(all="ignore"):
            M = M0 if constant else M0 * (1.0 + 0.05 * t) + 1e-3 * t * P * np.max(np.abs(M0))
            b = b0 + 0.1 * t * np.roll(b0, 1)
            r = rng.random()
            if r < 0.08:
                M, b = M * 10.0 ** rng.choice([-200, 200]), b * 10.0 ** rng.choice([-200, 200])
            elif r < 0.16 and len(bs) >= 2:
                b = 0.3 * bs[-1] - 2.0 * bs[-2]
            elif r < 0.2:
                b = np.zeros(n)
            elif r < 0.24 and n > 1:
                M = M.copy()
                M[:, -1] = 0.0
                M[-1, :] = 0.0
            elif r < 0.28:
                M = -M
            M = np.where(np.isfinite(M), M, 0.0)
            b = np.where(np.isfinite(b), b, 1.0)
        bs.append(b)
        yield M, b


def context(rng: np.random.Generator):
    r = rng.random()
    if r < 0.1:
        return {"c": 10 ** int(rng.integers(300, 500))}
    if r < 0.3:
        return {"c": float(rng.choice([1e300, -1e308, 5e-324, 0.0, 1e-300]))}
    return {"c": float(rng.uniform(0, 10))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sequences", type=int, default=0,
                    help="also this many related sequences (4-24 systems each) under every initial-guess strategy")
    ap.add_argument("--max-n", type=int, default=30, help="largest sequence system (dense while generated)")
    ap.add_argument("--backend", default="scipy", choices=["scipy", "petsc"],
                    help="the backend every solver runs on (petsc: PETSc's configurations)")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    counts: Counter = Counter()
    examples: dict[str, str] = {}
    slowest = 0.0
    t_start = time.perf_counter()
    warnings.simplefilter("ignore")
    petsc = args.backend == "petsc"
    policies = PETSC_POLICIES if petsc else POLICIES
    sequence_policies = PETSC_POLICIES[:-1] if petsc else SEQUENCE_POLICIES
    while counts.total() < args.systems:
        policy = policies[rng.integers(len(policies))]
        rtol = float(rng.choice([RTOL_MIN, 1e-14, 1e-10, 1e-8, 1e-3]))
        atol = float(rng.choice([0.0, 0.0, 1e-300, 1e-10, 1.0]))
        long_lived = rng.random() < 0.5
        solver = (seqsolve.SequenceSolver(policy=policy or "auto", rtol=rtol, atol=atol, backend=args.backend)
                  if long_lived or petsc else None)
        for _ in range(int(rng.integers(2, 9)) if long_lived else 1):
            M, b = make_system(rng)
            A = as_input(M, rng)
            for mutate in (False, True) if long_lived and sp.issparse(A) and A.format == "csr" else (False,):
                if mutate:
                    A.data *= -1.5
                    M = A.toarray()
                t0 = time.perf_counter()
                try:
                    if long_lived or petsc:
                        x = solver.solve(A, b, context=context(rng))
                    else:
                        x = seqsolve.solve(A, b, rtol=rtol, atol=atol, policy=policy)
                    ok = bool(np.all(np.isfinite(x))) and exact_meets(sp.csr_array(M), b, x, rtol, atol)
                    outcome = "correct x" if ok else "WRONG x"
                except seqsolve.SeqsolveError as exc:
                    outcome = f"SeqsolveError: {type(exc).__name__}"
                except Exception:  # noqa: BLE001 - counting what escapes is the point
                    outcome = "FOREIGN exception"
                    examples.setdefault(outcome, traceback.format_exc())
                dt = time.perf_counter() - t0
                slowest = max(slowest, dt)
                if dt > SLOW:
                    counts["SLOW (> 10 s)"] += 1
                counts[outcome] += 1
    for _ in range(args.sequences):
        policy = sequence_policies[rng.integers(len(sequence_policies))]
        guess = GUESSES[rng.integers(len(GUESSES))]
        rtol = float(rng.choice([1e-12, 1e-10, 1e-8, 1e-5]))
        atol = float(rng.choice([0.0, 0.0, 1e-300, 1e-10]))
        try:
            solver = seqsolve.SequenceSolver(policy=policy, rtol=rtol, atol=atol, initial_guess=guess,
                                             backend=args.backend)
        except seqsolve.SeqsolveError as exc:  # a strategy this policy cannot use: said so up front
            counts[f"sequence refused: {type(exc).__name__}"] += 1
            continue
        as_csr = rng.random() < 0.7
        for t, (M, b) in enumerate(related_sequence(rng, int(rng.integers(4, 25)), args.max_n)):
            A = sp.csr_array(M) if as_csr else as_input(M, rng)
            t0 = time.perf_counter()
            try:
                x = solver.solve(A, b, context={"t": float(t)})
                ok = bool(np.all(np.isfinite(x))) and exact_meets(sp.csr_array(M), b, x, rtol, atol)
                outcome = "sequence: correct x" if ok else "sequence: WRONG x"
            except seqsolve.SeqsolveError as exc:
                outcome = f"sequence: SeqsolveError: {type(exc).__name__}"
            except Exception:  # noqa: BLE001
                outcome = "sequence: FOREIGN exception"
                examples.setdefault(outcome, f"policy {policy}, guess {guess}, step {t}\n" + traceback.format_exc())
            dt = time.perf_counter() - t0
            slowest = max(slowest, dt)
            if dt > SLOW:
                counts["SLOW (> 10 s)"] += 1
            counts[outcome] += 1
            if outcome == "sequence: WRONG x":
                examples.setdefault(outcome, f"policy {policy}, guess {guess}, step {t}, n {b.size}")
    wall = time.perf_counter() - t_start
    print("| outcome | systems |\n|---|---:|")
    for k, v in sorted(counts.items()):
        print(f"| {k} | {v:,} |")
    print(f"\n{counts.total():,} solves in {wall:.0f} s (seed {args.seed}); slowest solve {slowest:.2f} s")
    for k, tb in examples.items():
        print(f"\nfirst {k}:\n{tb}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    write_json(Path(args.out) / ("contract_fuzz.json" if not petsc else "contract_fuzz_petsc.json"),
               {"systems": counts.total(), "sequences": args.sequences, "backend": args.backend, "seed": args.seed, "seconds": wall, "slowest_solve": slowest,
                "outcomes": dict(counts), "provenance": provenance(args.seed)})
    bad = sum(v for k, v in counts.items() if "WRONG" in k or "FOREIGN" in k or "SLOW" in k)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
