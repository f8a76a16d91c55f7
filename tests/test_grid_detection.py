"""A tensor grid is recognised in a stencil matrix's pattern, so fastdiag-cg needs no structure= hint."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import scipy.sparse.linalg as sla

import seqsolve
from seqsolve import solver as solver_module
from seqsolve.errors import SeqsolveError
from seqsolve.operators.grid import detect_grid


def _laplacian_1d(n: int, bandwidth: int = 1) -> sp.csr_array:
    diags = [np.full(n, 2.0 * bandwidth)] + [np.full(n - k, -1.0) for k in range(1, bandwidth + 1)] * 2
    offsets = [0] + list(range(1, bandwidth + 1)) + [-k for k in range(1, bandwidth + 1)]
    return sp.diags_array(diags, offsets=offsets, format="csr")


def _kron_sum(*factors: sp.csr_array) -> sp.csr_array:
    """``Σ_d I ⊗ A_d ⊗ I`` in C order (the last factor's index varies fastest)."""
    sizes = [f.shape[0] for f in factors]
    total = None
    for d, f in enumerate(factors):
        left = sp.eye_array(int(np.prod(sizes[:d])))
        right = sp.eye_array(int(np.prod(sizes[d + 1:])))
        term = sp.kron(sp.kron(left, f), right)
        total = term if total is None else total + term
    return sp.csr_array(total)


def test_two_dimensional_five_point_stencil_is_found_with_its_axis_order():
    A = _kron_sum(_laplacian_1d(5), _laplacian_1d(7))
    assert detect_grid(A) == (5, 7)


def test_three_dimensional_seven_point_stencil():
    A = _kron_sum(_laplacian_1d(3), _laplacian_1d(4), _laplacian_1d(6))
    assert detect_grid(A) == (3, 4, 6)


def test_higher_order_stencil_and_variable_coefficients_still_a_grid():
    A = _kron_sum(_laplacian_1d(6, bandwidth=2), _laplacian_1d(8, bandwidth=2))
    rng = np.random.default_rng(0)
    A.data *= 1 + rng.random(A.nnz)  # values do not matter, only which unknowns couple
    assert detect_grid(A) == (6, 8)


@pytest.mark.parametrize("make", [
    lambda: sp.eye_array(64, format="csr"),  # uncoupled: fits any shape
    lambda: _laplacian_1d(64),  # a chain: couplings cross the ends of every would-be grid line
    lambda: sp.csr_array(sp.random(200, 200, density=0.05, random_state=1) + sp.eye_array(200)),
])
def test_matrices_without_a_grid(make):
    assert detect_grid(make()) is None


def test_nine_point_stencil_couples_diagonally_and_is_no_axis_grid():
    T = _laplacian_1d(6)
    A = _kron_sum(T, T) + sp.kron(abs(T), abs(T))  # corner neighbours: two indices change at once
    assert detect_grid(sp.csr_array(A)) is None


def test_a_line_end_crossing_coupling_breaks_the_grid():
    A = _kron_sum(_laplacian_1d(5), _laplacian_1d(7)).tolil()
    A[6, 7] = A[7, 6] = -0.5  # (0, 6) ↔ (1, 0): neighbours in memory, not on one grid line
    assert detect_grid(sp.csr_array(A)) is None


def test_fastdiag_cg_runs_on_a_stencil_without_a_hint_and_detects_once_per_pattern(monkeypatch):
    calls = []
    real = solver_module.grid_structure
    monkeypatch.setattr(solver_module, "grid_structure", lambda A, *args: calls.append(1) or real(A, *args))
    T1, T2 = _laplacian_1d(9), _laplacian_1d(11)
    solver = seqsolve.SequenceSolver(rtol=1e-10, policy="fixed:fastdiag-cg")
    rng = np.random.default_rng(3)
    for step in range(4):
        A = _kron_sum(T1, T2) + (1.0 + step) * sp.eye_array(99)  # new values, one pattern
        A = sp.csr_array(A)
        A.data *= 1 + 0.2 * rng.random(A.nnz) * (A.indices != np.repeat(np.arange(99), np.diff(A.indptr)))
        A = sp.csr_array((A + A.T) / 2)
        b = rng.standard_normal(99)
        x = solver.solve(A, b)
        assert np.linalg.norm(A @ x - b) <= 1e-10 * np.linalg.norm(b)
        reference = sla.spsolve(sp.csc_array(A), b)
        assert np.linalg.norm(x - reference) <= 1e-8 * np.linalg.norm(reference)
    assert solver.history[-1].configuration == "fastdiag-cg"
    assert len(calls) == 1


def test_fastdiag_cg_without_a_grid_is_refused_clearly():
    A = sp.csr_array(sp.random(50, 50, density=0.1, random_state=2))
    A = sp.csr_array(A @ A.T + 50 * sp.eye_array(50))
    with pytest.raises(SeqsolveError, match="fastdiag-cg"):
        seqsolve.SequenceSolver(policy="fixed:fastdiag-cg").solve(A, np.ones(50))


def test_suite_grids_are_found_and_fem_meshes_are_not():
    from seqsolve.problems import Heat2D
    from seqsolve.problems.suite import suite

    assert detect_grid(Heat2D(nx=16, steps=2).system().A) == (15, 15)
    assert detect_grid(suite()["fem-heat"].make("test").system().A) is None


def test_auto_offers_fastdiag_cg_on_a_found_grid_but_tries_cheap_methods_first_where_a_margin_proves_it_easy():
    from seqsolve.policies.auto import default_candidates
    from seqsolve.policies.priors import prior_rank as _prior_rank
    from seqsolve.configs import parse

    names = [c.name for c in default_candidates()]
    assert "fastdiag-cg" in names
    # found in A's pattern, not handed over: ranked by its cost (a one-off setup), not first
    assert _prior_rank(parse("fastdiag-cg")) > _prior_rank(parse("numba-ssor-cg(omega=1.5)"))
    assert _prior_rank(parse("fast-diag")) < (0, 0)  # A's factors, handed over: tried first
    # a Crank-Nicolson-like I + c L: every row has a margin, Gershgorin bounds the difficulty
    L = _kron_sum(_laplacian_1d(12), _laplacian_1d(14))
    A = sp.csr_array(sp.eye_array(L.shape[0]) + 0.5 * L)
    solver = seqsolve.SequenceSolver(policy="auto")
    solver.solve(A, np.ones(A.shape[0]))
    assert solver.history[0].configuration != "fastdiag-cg"
    assert any(c.name == "fastdiag-cg" for c in solver._allowed(A, True))


def test_auto_buys_fastdiag_cg_at_once_on_a_hard_separable_matrix_but_not_on_a_variable_one():
    L = _kron_sum(_laplacian_1d(12), _laplacian_1d(14))  # no margin: a hard system is assumed
    solver = seqsolve.SequenceSolver(policy="auto")
    x = solver.solve(L, np.ones(L.shape[0]))
    assert solver.history[0].configuration == "fastdiag-cg"
    np.testing.assert_allclose(x, spla.spsolve(sp.csc_matrix(L), np.ones(L.shape[0])), rtol=1e-6)
    # the same grid with a coefficient jump: not separable, so the cheap methods go first
    V = L.tolil()
    V[5, 5] += 1e3
    solver = seqsolve.SequenceSolver(policy="auto")
    solver.solve(sp.csr_array(V), np.ones(L.shape[0]))
    assert solver.history[0].configuration != "fastdiag-cg"


def test_a_separable_grid_is_told_to_the_policy_and_a_variable_one_is_not():
    from seqsolve.operators.grid import grid_structure, separable

    T = _laplacian_1d(8)
    A = _kron_sum(T, _laplacian_1d(10))
    assert separable(A, grid_structure(A))[0]
    B = A.copy()
    B.data = B.data * (1 + 0.3 * np.random.default_rng(0).random(B.nnz))
    B = sp.csr_array((B + B.T) / 2)
    s = grid_structure(B)
    assert s.grid_shape == (8, 10) and not separable(B, s)[0]
    C = _kron_sum(_laplacian_1d(9), _laplacian_1d(11))
    C.data = C.data * (1 + 0.3 * np.random.default_rng(1).random(C.nnz))
    C = sp.csr_array((C + C.T) / 2)
    seen = []
    solver = seqsolve.SequenceSolver(policy="auto")
    real = solver.policy.observe
    solver.policy.observe = lambda facts: seen.append(facts.separable) or real(facts)
    for M in (A, B, C):
        solver.solve(M, np.ones(M.shape[0]))
    # judged on the first matrix of each pattern (B shares A's); the solve itself never trusts it
    assert seen == [True, True, False]


def test_a_known_grid_is_rechecked_on_a_new_pattern_and_replaced_when_it_no_longer_fits():
    from seqsolve.operators.grid import fits_grid, grid_structure

    A = _kron_sum(_laplacian_1d(6), _laplacian_1d(9))
    assert fits_grid(A, (6, 9)) and not fits_grid(A, (9, 6)) and not fits_grid(A, (3, 18))
    B = A.tolil()
    B[10, 11] = B[11, 10] = 0.0  # an obstacle cuts a coupling: another pattern, the same grid
    B = sp.csr_array(B)
    B.eliminate_zeros()
    assert grid_structure(B, last=(6, 9)).grid_shape == (6, 9)
    C = _kron_sum(_laplacian_1d(9), _laplacian_1d(6))  # the same size, the axes swapped
    assert grid_structure(C, last=(6, 9)).grid_shape == (9, 6)
    assert grid_structure(sp.csr_array(sp.random(54, 54, density=0.2, random_state=0)), last=(6, 9)) is None


def test_a_three_dimensional_stencil_sequence_is_solved_without_a_hint():
    L = _kron_sum(_laplacian_1d(5), _laplacian_1d(6), _laplacian_1d(7))
    n = L.shape[0]
    solver = seqsolve.SequenceSolver(rtol=1e-10, policy="fixed:fastdiag-cg")
    rng = np.random.default_rng(8)
    for c in (0.01, 0.05, 0.2):
        A = sp.csr_array(sp.eye_array(n) + c * L)
        b = rng.standard_normal(n)
        x = solver.solve(A, b)
        np.testing.assert_allclose(x, sla.spsolve(sp.csc_array(A), b), rtol=1e-9, atol=1e-12)
        assert solver.history[-1].iterations == 1  # separable: one exact step


def test_auto_has_one_subdomain_deflated_member_ranked_after_ssor():
    from seqsolve.configs import parse
    from seqsolve.policies.auto import default_candidates
    from seqsolve.policies.priors import prior_rank as _prior_rank

    members = [c for c in default_candidates() if c.kind == "subdomain-deflated-cg"]
    assert [c.name for c in members] == ["subdomain-deflated-cg(omega=1.3)"]
    assert _prior_rank(parse("numba-ssor-cg(omega=1.5)")) < _prior_rank(members[0]) < _prior_rank(parse("numba-cg"))


def test_a_moving_pattern_on_a_non_separable_grid_is_not_projected_every_step(monkeypatch):
    from seqsolve.operators import grid as grid_module

    calls = []
    real = solver_module.grid_separable
    monkeypatch.setattr(solver_module, "grid_separable", lambda A, s: calls.append(1) or real(A, s))
    base = _kron_sum(_laplacian_1d(8), _laplacian_1d(9))
    rng = np.random.default_rng(2)
    solver = seqsolve.SequenceSolver(policy="auto")
    for step in range(6):
        A = base.tolil()
        A[step, step + 1] = A[step + 1, step] = 0.0  # an obstacle moves: a new pattern each step
        A = sp.csr_array(A)
        A.eliminate_zeros()
        A.data = A.data * (1 + 0.2 * rng.random(A.nnz))
        A = sp.csr_array((A + A.T) / 2 + 2 * sp.eye_array(72))
        solver.solve(A, np.ones(72))
        assert solver._grid_separable(A) is False  # asked on each pattern, as auto does once fastdiag-cg ran
    assert grid_module.fits_grid(A, (8, 9))
    assert len(calls) == 1  # judged once (not separable), then carried along the moving pattern


def test_the_compiled_offset_pass_lists_the_distinct_offsets_or_gives_up_beyond_the_limit():
    """``distinct_offsets`` against NumPy on random patterns: the sorted distinct ``|j − i|`` of the
    off-diagonal entries, and nothing once there are more than the limit."""
    from seqsolve.operators._grid_kernels import distinct_offsets

    rng = np.random.default_rng(3)
    for k in range(30):
        n = int(rng.integers(2, 300))
        R = sp.csr_array(sp.random(n, n, density=float(rng.uniform(0.001, 0.05)), random_state=k) + sp.identity(n))
        rows = np.repeat(np.arange(n), np.diff(R.indptr))
        off = np.abs(R.indices.astype(np.int64) - rows)
        expected = np.unique(off[off != 0])
        for limit in (4, 24, 1000):
            got = distinct_offsets(R.indptr, R.indices, limit)
            if expected.size <= limit:
                assert np.array_equal(got, expected)
            else:
                assert got.size == 0
