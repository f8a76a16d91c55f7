"""A start that already meets the tolerance (a converged Picard/Newton loop, a transient at its
steady state) is returned without building any setup, once the previous system's start met it too."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from seqsolve import SequenceSolver


def _poisson(m: int, shift: float) -> sp.csr_array:
    T = sp.diags([-np.ones(m - 1), 2.0 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    I = sp.identity(m)
    return sp.csr_array(sp.kron(I, T) + sp.kron(T, I) + shift * sp.identity(m * m))


@pytest.mark.parametrize("policy", ["fixed:amg-cg(rebuild)", "fixed:numba-ssor-cg(omega=1.5)", "auto"])
def test_a_start_that_solved_the_last_system_is_checked_before_any_setup(policy):
    m, rtol = 20, 1e-8
    b = np.ones(m * m)
    solver = SequenceSolver(policy=policy, rtol=rtol)
    # the matrix changes a little every system (a new setup key each time), its solution hardly at all
    systems = [_poisson(m, 1.0 + 1e-14 * k) for k in range(6)]
    for k, A in enumerate(systems):
        x = solver.solve(A, b)
        assert np.linalg.norm(b - A @ x) <= rtol * np.linalg.norm(b) * (1 + 1e-12)  # the true residual
        r = solver.history[-1]
        if k == 0:
            assert r.iterations > 0
        elif k == 1:  # the start (the previous solution) meets it, found by the method after its setup
            assert r.iterations == 0 and r.status == "converged"
        else:  # checked first: nothing built, nothing iterated
            assert r.iterations == 0 and r.setup_reused and r.status == "start" and r.attempt_seconds < 5e-3
            assert r.setup_seconds == pytest.approx(r.guess_seconds)
    if policy != "auto":  # (auto may explore another configuration on the last system)
        config = next(c for c in solver._setups if c.name == solver.history[-1].configuration)
        assert solver._setups[config][2] == 1  # the last setup built was for system 1
    # a right-hand side the start does not solve: the usual path, from that start
    b2 = b + 0.5 * np.sin(np.arange(m * m))
    x = solver.solve(systems[-1], b2)
    assert np.linalg.norm(b2 - systems[-1] @ x) <= rtol * np.linalg.norm(b2) * (1 + 1e-12)
    assert solver.history[-1].iterations > 0 and not solver._start_solved


def test_a_cold_start_is_never_taken_for_a_solution():
    A, b = _poisson(8, 1.0), np.zeros(64)
    b[3] = 1.0
    solver = SequenceSolver(policy="fixed:numba-cg", rtol=1e-8, warm_start=False)
    for _ in range(3):
        x = solver.solve(A, b)
        assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b) * (1 + 1e-12)
        assert solver.history[-1].iterations > 0


def test_auto_learns_nothing_about_a_configuration_from_a_start_that_solved_the_system():
    m = 16
    b = np.ones(m * m)
    solver = SequenceSolver(policy="auto", rtol=1e-8, seed=0)
    for k in range(3):
        solver.solve(_poisson(m, 1.0 + 1e-14 * k), b)
    p = solver.policy
    before = {k: {n: list(v) for n, v in bins.items()} for k, bins in p.stats_.items()}
    spent = p.spent_total_
    solver.solve(_poisson(m, 1.0 + 3e-14), b)
    r = solver.history[-1]
    assert r.status == "start"
    p = solver.policy
    assert {k: {n: list(v) for n, v in bins.items()} for k, bins in p.stats_.items()} == before
    assert p.spent_total_ > spent and p.t_ == len(solver.history)


def test_a_zero_iteration_solve_of_an_iterative_configuration_teaches_auto_nothing_about_it():
    from seqsolve import SolveRecord
    from seqsolve.policies import AutoPolicy

    p = AutoPolicy(candidates=["numba-cg", "numba-ssor-cg(omega=1.5)"], seed=0)
    c = p.select(None, n=400)
    p.update(1e-3, SolveRecord(index=0, configuration=c.name, iterations=20, setup_seconds=1e-5,
                               solve_seconds=1e-3, residual=1e-9, converged=True))
    c = p.select(None, n=400)
    learned = {k: {n: list(v) for n, v in bins.items()} for k, bins in p.stats_.items()}
    per = dict(p.per_iteration_)
    # a setup and a check, no iteration: what the configuration would need is not shown
    p.update(2e-5, SolveRecord(index=1, configuration=c.name, iterations=0, setup_seconds=1e-5,
                               solve_seconds=1e-5, residual=1e-9, converged=True))
    assert {k: {n: list(v) for n, v in bins.items()} for k, bins in p.stats_.items()} == learned
    assert p.per_iteration_ == per and p.spent_total_ == pytest.approx(1e-3 + 2e-5)


def test_a_settled_sequence_starts_from_the_previous_solution_before_forming_a_dearer_guess():
    m, rtol = 20, 1e-8
    b = np.ones(m * m)
    solver = SequenceSolver(policy="fixed:numba-ssor-cg(omega=1.5)", rtol=rtol, initial_guess="projection(k=4)")
    for k in range(6):
        A = _poisson(m, 1.0 + 1e-14 * k)
        x = solver.solve(A, b)
        assert np.linalg.norm(b - A @ x) <= rtol * np.linalg.norm(b) * (1 + 1e-12)
    tail = solver.history[2:]
    assert all(r.status == "start" and r.initial_guess == "previous" for r in tail)


def test_where_the_previous_solution_does_not_solve_it_the_strategy_start_is_checked_next():
    m, rtol = 20, 1e-8
    x_star = np.sin(np.arange(m * m) / 7.0)
    solver = SequenceSolver(policy="fixed:numba-ssor-cg(omega=1.5)", rtol=rtol,
                            initial_guess="extrapolate(order=1)")
    for k in range(1, 7):  # solutions k x*: the linear extrapolation is exact, the previous one is not
        A = _poisson(m, 1.0 + 1e-14 * k)
        b = A @ (k * x_star)
        x = solver.solve(A, b)
        assert np.linalg.norm(b - A @ x) <= rtol * np.linalg.norm(b) * (1 + 1e-12)
    last = solver.history[-1]
    assert last.status == "start" and last.initial_guess.startswith("extrapolate") and last.iterations == 0


def test_after_a_settled_system_the_smaller_residual_of_the_two_starts_checked_is_used():
    m, rtol = 20, 1e-8
    rng = np.random.default_rng(1)
    x_star = np.sin(np.arange(m * m) / 7.0)
    delta = 1e-4 * rng.standard_normal(m * m)
    solver = SequenceSolver(policy="fixed:numba-ssor-cg(omega=1.5)", rtol=rtol, initial_guess="extrapolate(order=1)")
    # solutions x*, 2x*, 3x* (the linear extrapolation meets the last at once), then 3x* + δ: the
    # extrapolation overshoots to 4x*, the previous solution is off by δ only
    for k, x in enumerate((x_star, 2 * x_star, 3 * x_star, 3 * x_star + delta)):
        A = _poisson(m, 1.0 + 1e-14 * k)
        b = A @ x
        out = solver.solve(A, b)
        assert np.linalg.norm(b - A @ out) <= rtol * np.linalg.norm(b) * (1 + 1e-12)
    assert solver.history[2].iterations == 0  # the settled system
    last = solver.history[-1]
    assert last.initial_guess == "previous" and last.iterations > 0
