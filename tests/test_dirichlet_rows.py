"""Rows that only fix an unknown (Dirichlet conditions by row replacement) are eliminated, so the
symmetric rest is solved by the SPD methods (seqsolve.dirichlet_rows)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from seqsolve import ConvergenceError, NotSymmetricError, SequenceSolver
from seqsolve.dirichlet_rows import RowElimination


def _enforced(m: int = 20, shift: float = 0.05, diag: float = 1.0, fixed_step: int = 7):
    """A 2-D Laplacian (SPD) whose rows ``0, fixed_step, 2 fixed_step …`` are replaced by ``diag``
    on the diagonal (columns kept, as ``bc.apply``/``MatZeroRows``/``skfem.enforce`` do)."""
    T = sp.diags([-np.ones(m - 1), 2.0 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    A = sp.lil_matrix(sp.kronsum(T, T) + shift * sp.identity(m * m))
    fixed = np.arange(0, m * m, fixed_step)
    for i in fixed:
        cols = A.rows[i]
        A.data[i] = [diag if j == i else 0.0 for j in cols]  # stored zeros kept, as enforce leaves them
    return sp.csr_array(A.tocsr()), fixed


def test_the_reduced_system_gives_the_solution_exactly_on_a_small_case():
    """Exact rational arithmetic on a 4 x 4 system with one fixed row: the reduced system's
    solution put back together is the whole system's."""
    A = sp.csr_array(np.array([[4.0, -1.0, 0.0, 2.0], [0.0, 3.0, 0.0, 0.0], [0.0, -1.0, 5.0, -1.0],
                               [2.0, 0.0, -1.0, 6.0]]))
    b = np.array([1.0, 6.0, 2.0, -3.0])
    red = RowElimination().reduce(A, ("p",), b)
    assert red is not None and list(red.fixed) == [1] and list(red.rows) == [0, 2, 3]
    assert abs(red.A - red.A.T).max() == 0.0  # the rest is symmetric
    x = red.expand(np.linalg.solve(red.A.toarray(), red.b), 4)
    F = [[Fraction(v) for v in row] for row in A.toarray()]
    r = [Fraction(b[i]) - sum(F[i][j] * Fraction(x[j]) for j in range(4)) for i in range(4)]
    assert max(abs(float(v)) for v in r) < 1e-14
    assert x[1] == 2.0


@pytest.mark.parametrize("policy", ["fixed:numba-ssor-cg(omega=1.5)", "auto"])
def test_an_enforced_spd_system_is_solved_by_the_spd_methods(policy):
    A, fixed = _enforced(diag=7.0)
    assert abs(A - A.T).max() > 0  # not symmetric as handed over
    rng = np.random.default_rng(0)
    s = SequenceSolver(rtol=1e-9, policy=policy, seed=0)
    for k in range(5):
        b = rng.standard_normal(A.shape[0])
        b[fixed] = 7.0 * np.linspace(-1, 1, fixed.size)  # u = g on the fixed unknowns, g != 0
        x = s.solve(A, b)
        r = np.linalg.norm(b - A @ x) / np.linalg.norm(b)
        assert r <= 1e-9
        assert s.history[-1].residual == pytest.approx(r, rel=1e-3, abs=1e-15)
        np.testing.assert_allclose(x, splu(sp.csc_matrix(A)).solve(b), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(x[fixed], np.linspace(-1, 1, fixed.size), rtol=0, atol=1e-15)
    assert all(r.configuration.startswith(("numba", "subdomain", "fastdiag", "direct", "amg")) for r in s.history)


def test_a_fixed_spd_method_without_such_rows_still_refuses_an_unsymmetric_matrix():
    A, _ = _enforced()
    B = sp.csr_array(A + sp.diags([0.3 * np.ones(A.shape[0] - 1)], [1]))  # every row coupled: no fixed row
    with pytest.raises(NotSymmetricError):
        SequenceSolver(policy="fixed:numba-ssor-cg").solve(B, np.ones(B.shape[0]))


def test_a_row_that_stops_being_fixed_is_found_on_the_next_matrix():
    """The fixed rows are checked on every matrix of a pattern: one that gains a coupling value
    (its stored zeros filled) is solved for, not taken as fixed."""
    A, fixed = _enforced()
    s = SequenceSolver(policy="fixed:direct")
    b = np.ones(A.shape[0])
    s.solve(A, b)
    B = A.copy()
    i = fixed[3]
    lo, hi = B.indptr[i], B.indptr[i + 1]
    B.data[lo:hi][B.indices[lo:hi] != i] = -0.5  # the row coupled again
    x = s.solve(B, b)
    assert np.linalg.norm(b - B @ x) <= 1e-8 * np.linalg.norm(b)


def test_a_failure_reports_the_whole_systems_iterate():
    A, fixed = _enforced(m=30, shift=1e-6)
    s = SequenceSolver(rtol=1e-12, maxiter=2, fallback=False, policy="fixed:numba-cg")
    with pytest.raises(ConvergenceError) as info:
        s.solve(A, np.ones(A.shape[0]))
    assert info.value.best_x is not None and info.value.best_x.shape == (A.shape[0],)
    assert np.all(info.value.best_x[fixed] == 1.0)


def test_the_plan_of_a_pattern_is_kept_while_its_reduced_system_is_solved(monkeypatch):
    """The reduced system is a pattern of its own, and is searched for fixed rows too when it is
    not symmetric (a directed graph's rows of nodes nothing links to): each pattern keeps its own
    plan.  With one pattern remembered, the two evicted each other and every system rebuilt its
    plan and searched both patterns again (PageRank, 30k unknowns: 40 % of a BiCGStab solve)."""
    import seqsolve.dirichlet_rows as dr

    rng = np.random.default_rng(4)
    n = 300
    W = sp.random(n, n, density=0.02, random_state=5, format="csr")
    W.setdiag(0.0)
    W.eliminate_zeros()
    sources = rng.choice(n, 30, replace=False)
    W = sp.lil_matrix(W)
    for j in sources:  # nothing links to these: their rows of I - alpha W^T hold the diagonal alone
        W[:, j] = 0.0
    W = sp.csr_matrix(W)
    P = sp.csr_array(sp.diags(1.0 / np.maximum(np.asarray(W.sum(axis=1)).ravel(), 1.0)) @ W).T
    searched = []
    original = dr._fixed_rows
    monkeypatch.setattr(dr, "_fixed_rows", lambda A, rows: searched.append(A.shape[0]) or original(A, rows))
    s = SequenceSolver(rtol=1e-10, policy="fixed:gmres")
    for k in range(6):
        A = sp.csr_array(sp.identity(n) - (0.5 + 0.05 * k) * P)
        b = rng.random(n)
        x = s.solve(A, b)
        assert np.linalg.norm(b - A @ x) <= 1e-10 * np.linalg.norm(b)
        np.testing.assert_allclose(x, splu(sp.csc_matrix(A)).solve(b), rtol=1e-7, atol=1e-12)
    assert len(searched) == 2 and searched[0] == n and searched[1] < n  # each pattern once
