"""The lean solve of a fixed compiled-PCG policy (``seqsolve.fixed_path``): every guarantee of the
general path holds on it, and it writes the records the general path writes."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import scipy.sparse as sp

from seqsolve import ConvergenceError, InvalidSystemError, NotSymmetricError, SequenceSolver
from seqsolve.problems import Heat2D
from seqsolve.solvers.compiled import CompiledPCG, prepare

POLICY = "fixed:numba-ssor-cg(omega=1.8)"
#: the record fields that are timings (they differ between any two runs)
TIMES = {"setup_seconds", "solve_seconds", "policy_seconds", "attempt_seconds", "guess_seconds", "one_off_seconds",
         "projected_seconds"}


def general(solver: SequenceSolver) -> SequenceSolver:
    """``solver`` made to take the general path on every solve (its lean path switched off)."""
    solver._fixed_path_for, solver._fixed_path = solver._policy, None
    return solver


def counting(monkeypatch) -> list:
    """Count the solves that reach the general path (``SequenceSolver._solve``) from ``solve``."""
    calls: list = []
    real = SequenceSolver._solve

    def spy(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SequenceSolver, "_solve", spy)
    return calls


def facts(record) -> dict:
    """A record without its timings."""
    return {k: v for k, v in dataclasses.asdict(record).items() if k not in TIMES}


def relative_residual(A, b, x) -> float:
    return float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))


def heat_systems(steps: int = 6, nx: int = 20) -> list:
    problem = Heat2D(nx=nx, steps=steps)
    out = []
    for _ in range(steps):
        s = problem.system()
        out.append((s.A, s.b, s.context))
        problem.accept(np.zeros_like(s.b))
    return out


def poisson(m: int = 12) -> sp.csr_array:
    T = sp.diags_array([-np.ones(m - 1), 4 * np.ones(m), -np.ones(m - 1)], offsets=[-1, 0, 1])
    S = sp.diags_array([-np.ones(m - 1), -np.ones(m - 1)], offsets=[-1, 1])
    return sp.csr_array(sp.kron(sp.eye_array(m), T) + sp.kron(S, sp.eye_array(m)))


@pytest.mark.parametrize("policy", [POLICY, "fixed:numba-jacobi-cg", "fixed:numba-cg"])
@pytest.mark.parametrize("guess", ["previous", "zero"])
def test_lean_path_gives_the_general_paths_answers_and_records(policy, guess, monkeypatch):
    lean = SequenceSolver(rtol=1e-9, policy=policy, initial_guess=guess)
    full = general(SequenceSolver(rtol=1e-9, policy=policy, initial_guess=guess))
    calls = counting(monkeypatch)
    systems = heat_systems()
    systems.append(systems[-1])  # the same matrix again: its setup is reused
    for A, b, context in systems:
        before = len(calls)
        x = lean.solve(A, b, context=context)
        lean_general = len(calls) - before
        y = full.solve(A, b, context=context)
        assert np.array_equal(x, y)  # the same kernel from the same start
        assert relative_residual(A, b, x) <= 1e-9
        assert facts(lean.history[-1]) == facts(full.history[-1])
        assert lean_general == (1 if len(lean.history) == 1 else 0)  # the first solve loads kernels
    assert lean.history[-1].matrix_repeated and lean.history[-1].setup_reused
    assert lean._fixed_path is not None


def test_the_returned_x_is_not_the_solvers_own():
    solver = SequenceSolver(policy=POLICY)
    (A, b, _), (A2, b2, _) = heat_systems(2)
    x = solver.solve(A, b)
    x = solver.solve(A2, b2)
    assert x is not solver._x_prev and not np.shares_memory(x, solver._x_prev)
    kept = solver._x_prev.copy()
    x[:] = np.nan  # the caller's array is theirs: the next warm start is unaffected
    assert np.array_equal(solver._x_prev, kept)
    assert relative_residual(A2, b2, solver.solve(A2, b2)) <= 1e-8


def test_values_changed_in_place_are_a_new_matrix(monkeypatch):
    solver = SequenceSolver(rtol=1e-10, policy=POLICY)
    A, b = poisson(), np.ones(144)
    solver.solve(A, b)
    solver.solve(A, 2.0 * b)  # (not b again: a start that solved its system is checked on the general path)
    assert solver.history[-1].matrix_repeated and solver.history[-1].setup_reused
    calls = counting(monkeypatch)
    A.data[A.indices == np.repeat(np.arange(144), np.diff(A.indptr))] *= 2.0  # the diagonal, in place
    x = solver.solve(A, b)
    assert not calls  # the lean path saw it
    record = solver.history[-1]
    assert not record.matrix_repeated and not record.setup_reused
    assert relative_residual(A, b, x) <= 1e-10


def test_a_pattern_change_is_seen_and_the_symmetry_tested_again():
    solver = SequenceSolver(rtol=1e-10, policy=POLICY)
    A, b = poisson(), np.ones(144)
    solver.solve(A, b)
    B = A.tolil()
    B[0, 50] = B[50, 0] = -0.5  # a new pattern, still symmetric and diagonally dominant
    B = sp.csr_array(B)
    x = solver.solve(B, b)
    assert relative_residual(B, b, x) <= 1e-10
    assert solver._canonical.last()[1] == A.nnz + 2 and not solver.history[-1].setup_reused
    for entries in ({(0, 60): -0.25}, {(0, 60): -0.25, (60, 0): -0.5}):  # new patterns, each tested in full
        C = B.tolil()
        for (i, j), v in entries.items():
            C[i, j] = v
        with pytest.raises(NotSymmetricError):
            solver.solve(sp.csr_array(C), b)
    assert len(solver.history) == 2


def test_symmetry_samples_follow_the_general_path():
    """Along one pattern the symmetry is sampled (a 16th of the entries per matrix, all of them every
    16th): the lean path samples the same blocks, so it misses or sees an asymmetry when the general
    path does."""
    A, b = poisson(), np.ones(144)
    outcomes = []
    for solver in (SequenceSolver(policy=POLICY), general(SequenceSolver(policy=POLICY))):
        seen = []
        for k in range(20):
            C = A.copy()
            C.data[(37 * k) % C.nnz] += 1e-3 if k % 3 == 2 else 0.0  # every third matrix unsymmetric
            try:
                solver.solve(C, b)
                seen.append("solved")
            except NotSymmetricError:
                seen.append("unsymmetric")
        outcomes.append(seen)
    assert outcomes[0] == outcomes[1] and "unsymmetric" in outcomes[0]


@pytest.mark.parametrize("where", ["A", "b"])
def test_non_finite_input_is_rejected(where):
    solver = SequenceSolver(policy=POLICY)
    A, b = poisson(), np.ones(144)
    solver.solve(A, b)
    A2, b2 = A.copy(), b.copy()
    if where == "A":
        A2.data[7] = np.nan
    else:
        b2[3] = np.inf
    with pytest.raises(InvalidSystemError, match=f"{where} contains NaN or Inf"):
        solver.solve(A2, b2)
    assert len(solver.history) == 1


def test_a_non_finite_value_written_in_place_is_rejected():
    solver = SequenceSolver(policy=POLICY)
    A, b = poisson(), np.ones(144)
    solver.solve(A, b)
    A.data[11] = np.inf  # the same object as before
    with pytest.raises(InvalidSystemError, match="A contains NaN or Inf"):
        solver.solve(A, b)


def test_an_unsymmetric_matrix_raises_as_on_the_general_path():
    A, b = poisson(), np.ones(144)
    U = A.tolil()
    U[0, 1] = -2.0  # (a new pattern, so its symmetry is tested in full)
    U[0, 60] = -0.5
    U = sp.csr_array(U)
    messages = []
    for solver in (SequenceSolver(policy=POLICY), general(SequenceSolver(policy=POLICY))):
        solver.solve(A, b)
        with pytest.raises(NotSymmetricError) as err:
            solver.solve(U, b)
        messages.append(str(err.value))
        assert len(solver.history) == 1
    assert messages[0] == messages[1]


def test_too_few_iterations_still_raise_convergence_error_with_the_same_record():
    A, b = poisson(), np.ones(144)
    records = []
    for solver in (SequenceSolver(policy=POLICY, maxiter=3, fallback=False),
                   general(SequenceSolver(policy=POLICY, maxiter=3, fallback=False))):
        solver.maxiter = None
        solver.solve(A, b)  # loads the kernels; the next ones take the lean path first
        solver.maxiter = 3
        with pytest.raises(ConvergenceError) as err:
            solver.solve(A, 2 * b + 1)
        assert err.value.best_x is not None
        records.append(facts(solver.history[-1]))
    assert records[0] == records[1]
    assert not records[0]["converged"] and records[0]["iterations"] == 3


def test_a_failed_first_attempt_falls_back_as_on_the_general_path():
    A, b = poisson(), np.ones(144)
    records = []
    for solver in (SequenceSolver(policy=POLICY), general(SequenceSolver(policy=POLICY))):
        solver.solve(A, b)
        solver.maxiter = 2
        x = solver.solve(A, 3 * b - 1)
        assert relative_residual(A, 3 * b - 1, x) <= 1e-8
        records.append(facts(solver.history[-1]))
    assert records[0] == records[1] and records[0]["fallback"] is not None


def test_cases_the_lean_path_leaves_to_the_general_path(monkeypatch):
    solver = SequenceSolver(policy=POLICY)
    A, b = poisson(), np.ones(144)
    solver.solve(A, b)
    calls = counting(monkeypatch)
    assert np.array_equal(solver.solve(A, np.zeros(144)), np.zeros(144))  # b = 0
    tiny = sp.csr_array(A * 1e-200)
    x = solver.solve(tiny, b * 1e-200)  # a system to rescale
    assert relative_residual(A, b, x) <= 1e-8  # (the same system, times 1e200)
    duplicated = sp.csr_array((np.r_[A.data, 0.0], np.r_[A.indices, 0], np.r_[A.indptr[:-1], A.indptr[-1] + 1]),
                              shape=A.shape)  # row 143 holds a duplicate (0.0 at column 0)
    duplicated.has_canonical_format = False
    x = solver.solve(duplicated, b)
    assert relative_residual(A, b, x) <= 1e-8
    solver.solve(A, b, x0=np.ones(144))  # an x0 of the caller's
    solver.solve(A.astype(np.float32), b)  # a matrix to convert
    assert len(calls) == 5
    assert [r.initial_guess for r in solver.history[-2:]] == ["x0", "previous"]


def test_context_is_checked_and_recorded():
    solver = SequenceSolver(policy=POLICY)
    A, b = poisson(), np.ones(144)
    solver.solve(A, b)
    solver.solve(A, b, context={"c": 0.5})
    assert solver.history[-1].context == {"c": 0.5}
    with pytest.raises(InvalidSystemError, match="context"):
        solver.solve(A, b, context={"c": math.nan})


def test_the_lean_path_is_for_fixed_compiled_policies_only():
    assert SequenceSolver(policy=POLICY)._lean_path() is not None
    assert SequenceSolver(policy="auto")._lean_path() is None
    assert SequenceSolver(policy="fixed:ssor-cg(omega=1.5)")._lean_path() is None
    assert SequenceSolver(policy=POLICY, initial_guess="extrapolate(order=2)")._lean_path() is None


def test_prepare_refresh_matches_a_full_conversion():
    A = poisson()
    first = prepare(A, finite=True)
    B = sp.csr_array(A * 1.5)
    again = prepare(B, first, finite=True)  # the kernels' form already: B's own arrays
    full = prepare(B)
    assert again.data is B.data and again.indices is B.indices and again.indptr is B.indptr
    assert again.diag_pos is first.diag_pos
    for name in ("inv_diag", "diag_pos", "data", "indices", "indptr"):
        assert np.array_equal(getattr(again, name), getattr(full, name))
    B.data.flags.writeable = False  # not the kernels' form: converted (copied) as before
    copied = prepare(B, first, finite=True)
    assert copied.data is not B.data and np.array_equal(copied.inv_diag, full.inv_diag)


@pytest.mark.parametrize("kind", ["none", "jacobi", "ssor"])
def test_compiled_run_is_solve_without_its_objects(kind):
    A, b = poisson(), np.linspace(1.0, 2.0, 144)
    method = CompiledPCG(kind, omega=1.5)
    P = method.setup(A, None)
    x0 = np.full(144, 0.1)
    res = method.solve(P, A, b, x0, rtol=1e-10, atol=0.0, maxiter=500)
    x, iterations, status, done = method.run(P, A, b, x0, 1e-10, 0.0, 500)
    assert np.array_equal(x, res.x) and iterations == res.iterations and status == res.status
    assert np.array_equal(done.r, res.residual_pass.r) and done.terms == res.residual_pass.terms
    assert np.array_equal(x0, np.full(144, 0.1))  # the start is copied


@pytest.mark.parametrize("scale", [1e-40, 2.0**-100, 1.0, 2.0**100, 1e40])
def test_moderate_norm_is_the_general_paths_norm_where_nothing_is_rescaled(scale):
    from seqsolve.accuracy import moderate, moderate_norm, norm_from_squares

    b = np.full(100, scale) * np.linspace(0.5, 1.5, 100)
    squares = float(np.dot(b, b))
    bnorm = norm_from_squares(squares, b)
    for max_abs in (1e-40, 1.0, 1e40):
        lean = moderate_norm(squares, max_abs)
        if lean:
            assert lean == bnorm and moderate(max_abs, bnorm)
        else:  # declined: only outside the range, or at its very edge (the general path then runs)
            assert not (2.0**-99 <= bnorm <= 2.0**99 and moderate(max_abs, bnorm))
    assert moderate_norm(0.0, 1.0) == 0.0
