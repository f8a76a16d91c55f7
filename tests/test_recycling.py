"""Compiled deflated CG and the ``deflation(k)`` guess, checked against direct solves and the Python path."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from seqsolve import SequenceSolver
from seqsolve.guesses import Deflation, GuessChooser, parse_guess
from seqsolve.problems import Heat2D
from seqsolve.solvers import compiled
from seqsolve.solvers.deflated import DeflatedCG
from seqsolve.solvers.deflated_compiled import CompiledDeflatedCG

from conftest import poisson2d, reference_solve


def _rel(A, b, x) -> float:
    return float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))


def _drifting(step: int, k: int = 20) -> sp.csr_array:
    """Poisson plus a slowly growing random diagonal: a new matrix every step."""
    rng = np.random.default_rng(step)
    return sp.csr_array(poisson2d(k) + sp.diags_array(0.01 * (1 + step) * rng.random(k * k)))


def test_compiled_deflated_cg_equals_a_direct_solve_and_beats_plain_pcg_on_outliers():
    # SSOR-preconditioned Poisson: a few small, well separated eigenvalues (the smoothest modes)
    A = poisson2d(24)
    rng = np.random.default_rng(3)
    method = CompiledDeflatedCG(k=8, omega=1.2)
    prepared = method.setup(A, None)
    plain, deflated = [], []
    for _ in range(4):
        b = rng.standard_normal(A.shape[0])
        res = method.solve(prepared, A, b, np.zeros_like(b), rtol=1e-10, atol=0.0, maxiter=5000)
        assert res.status == "converged"
        assert _rel(A, b, res.x) <= 1.01e-10
        x_ref = reference_solve(A, b)
        assert np.linalg.norm(res.x - x_ref) <= 1e-6 * np.linalg.norm(x_ref)
        deflated.append(res.iterations)
        plain.append(compiled.pcg(A, b, rtol=1e-10, preconditioner="ssor", omega=1.2).iterations)
    # the first solve has nothing recycled yet; each later one refines the Ritz vectors
    assert max(deflated[1:]) < min(plain) and deflated[-1] <= 0.75 * min(plain)
    assert method.W is not None and method.W.shape == (A.shape[0], 8)


def test_compiled_and_python_deflated_cg_agree_as_the_matrix_drifts():
    fast, slow = CompiledDeflatedCG(k=8, omega=1.5), DeflatedCG(k=8, preconditioner="ssor", omega=1.5)
    x_fast = x_slow = np.zeros(400)
    rng = np.random.default_rng(0)
    for step in range(6):
        A, b = _drifting(step), rng.standard_normal(400)
        r1 = fast.solve(fast.setup(A, None), A, b, x_fast, rtol=1e-10, atol=0.0, maxiter=2000)
        r2 = slow.solve(slow.setup(A, None), A, b, x_slow, rtol=1e-10, atol=0.0, maxiter=2000)
        assert r1.status == r2.status == "converged"
        assert abs(r1.iterations - r2.iterations) <= 1
        x_ref = reference_solve(A, b)
        assert np.linalg.norm(r1.x - x_ref) <= 1e-7 * np.linalg.norm(x_ref)
        assert _rel(A, b, r1.x) <= 1.01e-10
        x_fast, x_slow = r1.x, r2.x


def _assert_kernel_statuses(m, A, rtol: float, short: int) -> None:
    """The plain kernel's statuses: ``maxiter`` when ``short`` iterations cannot reach ``rtol``, an
    exact zero for b = 0 from any x0, ``nan`` for a non-finite b."""
    P = m.setup(A, None)
    n = A.shape[0]
    assert m.solve(P, A, np.ones(n), np.zeros(n), rtol=rtol, atol=0.0, maxiter=short).status == "maxiter"
    zero = m.solve(P, A, np.zeros(n), np.ones(n), rtol=1e-8, atol=0.0, maxiter=50)
    assert zero.status == "converged" and not zero.x.any()
    assert m.solve(P, A, np.full(n, np.nan), np.zeros(n), rtol=1e-8, atol=0.0, maxiter=50).status == "nan"


def test_compiled_deflated_cg_keeps_the_statuses_of_the_plain_kernel():
    A = poisson2d(10)
    m = CompiledDeflatedCG(k=4, omega=1.5)
    _assert_kernel_statuses(m, A, rtol=1e-12, short=3)
    b = np.ones(100)
    bad = sp.csr_array(-poisson2d(10))  # negative diagonal: SSOR-PCG sees an indefinite preconditioner
    assert m.solve(m.setup(bad, None), bad, b, np.zeros(100), rtol=1e-8, atol=0.0, maxiter=50).status == "indefinite"


def _keeps_the_contract_on_heat2d(solver: SequenceSolver, nx: int, steps: int) -> None:
    """Every solve of a short Heat2D sequence meets rtol=1e-8 on the true residual."""
    problem = Heat2D(nx=nx, steps=steps)
    for _ in range(problem.steps):
        s = problem.system()
        x = solver.solve(s.A, s.b)
        assert _rel(s.A, s.b, x) <= 1e-8
        problem.accept(x)


def test_deflated_cg_configuration_with_ssor_runs_compiled_and_keeps_the_contract():
    solver = SequenceSolver(rtol=1e-8, policy="fixed:deflated-cg(k=6,preconditioner=ssor,omega=1.6)", fallback=False)
    _keeps_the_contract_on_heat2d(solver, nx=16, steps=12)
    assert any(isinstance(m, CompiledDeflatedCG) for m in solver._methods.values())


# ----------------------------------------------------------------------------- the deflation guess
def test_deflation_guess_is_the_a_norm_best_correction_of_the_warm_start():
    A = poisson2d(12)
    n = A.shape[0]
    rng = np.random.default_rng(1)
    g = Deflation(k=4, every=1)
    x = np.zeros(n)
    for step in range(8):  # right-hand sides that drift along smooth modes: the errors share them
        b = np.sin(np.linspace(0, 3, n) * (1 + 0.1 * step)) + 0.01 * rng.standard_normal(n)
        x0 = g.form(A, b, key="A")
        x = reference_solve(A, b)
        if x0 is not None and g.W is not None:
            W = g.W.T
            prev = g._last.items[-1]
            # Galerkin: the start's residual is orthogonal to span(W), and the A-norm error no larger
            assert np.abs(W.T @ (b - A @ x0)).max() <= 1e-8 * np.linalg.norm(b)
            e0, e_prev = x - x0, x - prev
            assert e0 @ (A @ e0) <= e_prev @ (A @ e_prev) * (1 + 1e-12)
        g.update(A, b, x, key="A")
    assert g.W is not None and g.W.shape[0] <= 4
    assert g.memory_vectors > 0


def test_deflation_guess_registered_chosen_by_auto_and_keeps_the_contract():
    assert parse_guess("deflation(k=8)").name == "deflation(k=8)"
    assert parse_guess("deflation(4, every=1)").name == "deflation(k=4,every=1)"
    # not a default candidate of the guess 'auto' (it never paid), but one it can be given
    assert "deflation(k=8)" not in [a.name for a in GuessChooser().arms]
    assert "deflation(k=8)" in [a.name for a in GuessChooser(["previous", "deflation(k=8)"]).arms]
    for spec in ("deflation(k=4)", "auto"):
        solver = SequenceSolver(rtol=1e-8, policy="fixed:numba-ssor-cg(omega=1.5)", initial_guess=spec)
        _keeps_the_contract_on_heat2d(solver, nx=14, steps=30)


@pytest.mark.parametrize("bad", ["deflation(k=0)", "deflation(k=2,every=0)"])
def test_deflation_guess_rejects_bad_parameters(bad):
    from seqsolve import ConfigurationError

    with pytest.raises(ConfigurationError):
        parse_guess(bad)


def test_deflation_guess_forgets_a_start_it_did_not_see_solved():
    g = Deflation(k=2, every=1)
    A = poisson2d(6)
    b = np.ones(36)
    g.update(A, b, reference_solve(A, b))
    g.form(A, b)
    g.missed()
    g.update(None, None, np.zeros(36))  # not the solution of that start: no error is learned
    assert len(g._errors) == 0


# ----------------------------------------------------------------------------- few outlying eigenvalues
def _clusters(k: int = 12, count: int = 4, link: float = 1e-3) -> sp.csr_array:
    """``count`` Poisson blocks (k × k each, Neumann-like: a tiny shift) joined by weak links: the
    ``count`` cluster-constant vectors are eigenvectors of eigenvalues far below the rest, which
    SSOR's local sweeps cannot see (a few outlying small eigenvalues)."""
    block = poisson2d(k)
    block = block - sp.diags_array(np.asarray(block.sum(axis=1)).ravel())  # zero row sums: a Neumann Laplacian
    A = sp.block_diag([block] * count, format="lil")
    n = k * k
    for c in range(count - 1):  # one weak link between consecutive clusters
        i, j = c * n + n - 1, (c + 1) * n
        A[i, j] = A[j, i] = -link
        A[i, i] += link
        A[j, j] += link
    return sp.csr_array(A + 1e-6 * sp.eye_array(count * n))


def test_ritz_deflation_removes_a_few_outlying_small_eigenvalues():
    A = _clusters()
    lam = np.linalg.eigvalsh(A.toarray())
    assert lam[3] < 1e-2 * lam[4]  # the premise: four outliers
    rng = np.random.default_rng(0)
    method = CompiledDeflatedCG(k=4, omega=1.5)
    prepared = method.setup(A, None)
    plain, deflated = [], []
    for _ in range(8):
        b = rng.standard_normal(A.shape[0])
        res = method.solve(prepared, A, b, np.zeros_like(b), rtol=1e-8, atol=0.0, maxiter=5000)
        assert res.status == "converged" and _rel(A, b, res.x) <= 1e-8
        deflated.append(res.iterations)
        plain.append(compiled.pcg(A, b, rtol=1e-8, preconditioner="ssor", omega=1.5).iterations)
    # the first solve harvests; each later one refines the Ritz vectors of the outliers
    assert max(deflated[1:]) < min(plain) and deflated[-1] <= 0.5 * min(plain), (deflated, plain)


def test_subdomain_deflation_removes_cluster_constant_modes():
    from seqsolve.solvers.deflated_subdomains import SubdomainDeflatedCG

    A = _clusters()
    method = SubdomainDeflatedCG(omega=1.5, size=144)  # grown breadth-first: exactly the four clusters
    prepared = method.setup(A, None)
    b = np.random.default_rng(1).standard_normal(A.shape[0])
    res = method.solve(prepared, A, b, np.zeros_like(b), rtol=1e-8, atol=0.0, maxiter=5000)
    assert res.status == "converged" and _rel(A, b, res.x) <= 1e-8
    x_ref = reference_solve(A, b)
    assert np.linalg.norm(res.x - x_ref) <= 1e-4 * np.linalg.norm(x_ref)  # κ ~ 1e6: the error bound
    plain = compiled.pcg(A, b, rtol=1e-8, preconditioner="ssor", omega=1.5).iterations
    assert method.subdomains == 4
    assert res.iterations <= 0.5 * plain, (res.iterations, plain)  # 22 against 62


# ----------------------------------------------------------------------------- a stale recycled space
def test_ritz_deflation_stays_correct_and_useful_with_a_stale_space():
    A1 = sp.csr_array(poisson2d(20) + 0.01 * sp.eye_array(400))
    method = CompiledDeflatedCG(k=8, omega=1.5, every=10**9)  # harvest once, then never refresh W
    rng = np.random.default_rng(2)
    for _ in range(2):
        b = rng.standard_normal(400)
        method.solve(method.setup(A1, None), A1, b, np.zeros(400), rtol=1e-8, atol=0.0, maxiter=2000)
    W = method.W.copy()
    for step in range(1, 6):  # new matrices, W harvested on A1 only: AW and WᵀAW follow, W does not
        A = _drifting(step)
        b = rng.standard_normal(400)
        res = method.solve(method.setup(A, None), A, b, np.zeros(400), rtol=1e-10, atol=0.0, maxiter=2000)
        assert np.array_equal(method.W, W)
        assert res.status == "converged" and _rel(A, b, res.x) <= 1e-10
        assert np.linalg.norm(res.x - reference_solve(A, b)) <= 1e-7 * np.linalg.norm(reference_solve(A, b))
        plain = compiled.pcg(A, b, rtol=1e-10, preconditioner="ssor", omega=1.5).iterations
        assert res.iterations < plain


def test_ritz_deflation_with_a_useless_space_still_meets_the_tolerance():
    A = _drifting(3)
    method = CompiledDeflatedCG(k=6, omega=1.5, every=10**9)
    method._ws = None
    b = np.random.default_rng(4).standard_normal(400)
    method.solve(method.setup(A, None), A, b, np.zeros(400), rtol=1e-8, atol=0.0, maxiter=2000)  # sets up scratch
    W = method._ws.space(6)
    W[:] = np.random.default_rng(5).standard_normal(W.shape)  # random, nothing like eigenvectors
    method.W, method._space = W, None
    res = method.solve(method.setup(A, None), A, b, np.zeros(400), rtol=1e-10, atol=0.0, maxiter=2000)
    assert res.status == "converged" and _rel(A, b, res.x) <= 1e-10


def test_compiled_deflated_cg_hands_its_last_residual_to_the_check():
    from seqsolve.accuracy import check_residual

    A = poisson2d(12)
    m = CompiledDeflatedCG(k=4, omega=1.5)
    b = np.ones(144)
    res = m.solve(m.setup(A, None), A, b, np.zeros(144), rtol=1e-8, atol=0.0, maxiter=500)
    assert res.residual_pass is not None
    assert np.allclose(res.residual_pass.r, b - A @ res.x, atol=1e-12)
    assert check_residual(A, b, res.x, np.linalg.norm(b), 1e-8 * np.linalg.norm(b), res.residual_pass).meets(
        1e-8 * np.linalg.norm(b))


# ----------------------------------------------------------------------------- subdomain deflation
def test_subdomain_deflated_cg_matches_a_direct_solve_and_needs_fewer_iterations():
    from seqsolve.solvers.deflated_subdomains import SubdomainDeflatedCG

    A = poisson2d(64)  # 64 subdomains; SSOR-PCG alone needs ~49 iterations
    method = SubdomainDeflatedCG(omega=1.6, size=64)
    rng = np.random.default_rng(6)
    for _ in range(3):
        b = rng.standard_normal(A.shape[0])
        res = method.solve(method.setup(A, None), A, b, np.zeros_like(b), rtol=1e-10, atol=0.0, maxiter=5000)
        assert res.status == "converged" and _rel(A, b, res.x) <= 1e-10
        x_ref = reference_solve(A, b)
        assert np.linalg.norm(res.x - x_ref) <= 1e-7 * np.linalg.norm(x_ref)
        plain = compiled.pcg(A, b, rtol=1e-10, preconditioner="ssor", omega=1.6).iterations
        assert res.iterations <= 0.8 * plain, (res.iterations, plain)
    assert 20 <= method.subdomains <= 200


def test_subdomain_partition_is_a_one_off_the_solver_records_and_the_learner_leaves_out():
    """The partition (and the scratch sized once) is made on the first setup only: the method says
    how long it took, the record carries it, and ``auto`` prices later builds without it — on FEM
    heat it was 13 ms of a 15 ms first setup, and the method's first try looked no better than SSOR-PCG."""
    from seqsolve.solvers.deflated_subdomains import SubdomainDeflatedCG

    A = poisson2d(48)
    method = SubdomainDeflatedCG(omega=1.3)
    first = method.setup(A, None)
    partition, once = method.agg, method.one_off_seconds
    assert once > 0.0
    method.setup(sp.csr_array(A * 2.0), first)
    assert method.agg is partition  # not made again: only A W and WᵀAW follow the new matrix
    assert method.one_off_seconds < once

    solver = SequenceSolver(policy="fixed:subdomain-deflated-cg(omega=1.3)")
    b = np.ones(A.shape[0])
    for k in range(3):
        solver.solve(A * (1.0 + 0.1 * k), b)
    records = solver.history
    assert 0.0 < records[0].one_off_seconds <= records[0].setup_seconds
    assert all(r.one_off_seconds < records[0].one_off_seconds for r in records[1:])


def test_subdomains_cover_every_coupled_unknown_and_give_a_banded_coarse_matrix():
    from seqsolve.solvers.deflated_subdomains import aggregate

    A = sp.lil_array(poisson2d(30))
    for i in (5, 77):  # two decoupled rows (like Fluid2D's solid cells)
        A[i, :] = 0.0
        A[:, i] = 0.0
        A[i, i] = 1.0
    A = sp.csr_array(A)
    agg = aggregate(A, 16)
    assert agg[5] == agg[77] == -1
    inside = np.delete(np.arange(900), [5, 77])
    assert np.all(agg[inside] >= 0)
    m = agg.max() + 1
    assert set(np.unique(agg[inside])) == set(range(m))  # numbered 0..m-1, none empty
    R = sp.csr_array((np.ones(inside.size), (inside, agg[inside])), shape=(900, m))
    E = (R.T @ A @ R).toarray()
    rows, cols = np.nonzero(E)
    assert np.abs(rows - cols).max() <= m // 2  # reverse Cuthill–McKee keeps the coupling near the diagonal


def test_the_subdomain_coupling_pattern_is_that_of_the_sparse_products():
    """The compiled coupling pattern (which orders the subdomains) against ``Rᵀ|A|R`` from SciPy's
    sparse products, on a random symmetric pattern with unknowns in no subdomain and stored zeros
    (which couple nothing)."""
    from seqsolve.solvers import _deflated_kernels as K

    rng = np.random.default_rng(11)
    n, m = 400, 23
    S = sp.random(n, n, density=0.02, random_state=rng, format="csr")
    A = sp.csr_array(S + S.T + sp.identity(n))
    A.data[rng.random(A.nnz) < 0.1] = 0.0  # stored zeros
    agg = rng.integers(-1, m, n)
    agg[:m] = np.arange(m)  # every subdomain holds an unknown
    ptr, idx = K.coupling_pattern(A.indptr.astype(np.int64), A.indices.astype(np.int64), A.data, agg, m)
    inside = np.flatnonzero(agg >= 0)
    R = sp.csr_array((np.ones(inside.size), (inside, agg[inside])), shape=(n, m))
    expected = sp.csr_array(R.T @ (abs(A) @ R))
    expected.eliminate_zeros()
    got = sp.csr_array((np.ones(idx.size), idx, ptr), shape=(m, m))
    assert set(zip(*got.nonzero())) == set(zip(*expected.nonzero()))
    assert got.nnz == expected.nnz  # each coupling once


def test_skyline_cholesky_agrees_with_dense_and_rejects_an_indefinite_matrix():
    from seqsolve.solvers import _deflated_kernels as K

    rng = np.random.default_rng(7)
    B = np.triu(rng.random((12, 12)), -2) * np.tri(12, 12, 2)  # banded
    E = B @ B.T + 12 * np.eye(12)
    L, first = np.zeros((12, 12)), np.empty(12, dtype=np.int64)
    assert K.skyline_cholesky(E, L, first)
    assert np.allclose(L, np.linalg.cholesky(E)) and first.max() > 0 and np.all(first >= np.arange(12) - 4)
    c = rng.random(12)
    y = c.copy()
    K.skyline_solve(L, first, y)
    assert np.allclose(E @ y, c)
    assert not K.skyline_cholesky(-E, L, first)


def test_a_singular_pure_neumann_matrix_is_deflated_with_the_coarse_pseudo_inverse():
    """The pure-Neumann Laplacian (rows summing to zero, a varying coefficient) with consistent
    right-hand sides: the subdomains' indicators span its null space, so ``WᵀAW`` is singular and
    its last pivot is rounding about zero.  That null direction is dropped (the coarse system is
    consistent); before, a negative rounding failed the build on some of these matrices and every
    one of them went to a fallback.  Each solve must converge without one, to the minimum-norm
    solution's residual, and the skyline factor of a singular ``E`` solves its consistent systems."""
    from seqsolve.solvers import _deflated_kernels as K

    rng = np.random.default_rng(11)
    k = 40
    for step in range(6):
        P = sp.csr_array(poisson2d(k))
        off = sp.csr_array(P - sp.diags_array(P.diagonal()))
        off.data *= 1.0 + 9.0 * rng.random(off.nnz)
        off = sp.csr_array((off + off.T) / 2)  # a varying coefficient, symmetric
        A = sp.csr_array(off - sp.diags_array(off.sum(axis=1)))  # rows sum to zero: the constants
        assert abs(A @ np.ones(k * k)).max() < 1e-9 * abs(A).max()
        b = rng.standard_normal(k * k)
        b -= b.mean()
        solver = SequenceSolver(rtol=1e-8, policy="fixed:subdomain-deflated-cg(omega=1.3)", fallback=False)
        x = solver.solve(A, b)
        assert _rel(A, b, x) <= 1e-8 and solver.history[-1].fallback is None
    # the factor itself: a singular E (a 1-D Neumann Laplacian), consistent right-hand sides
    m = 9
    E = np.diag(np.full(m, 2.0)) - np.eye(m, k=1) - np.eye(m, k=-1)
    E[0, 0] = E[-1, -1] = 1.0
    L, first = np.zeros((m, m)), np.empty(m, dtype=np.int64)
    assert K.skyline_cholesky(E, L, first)
    c = rng.standard_normal(m)
    c -= c.mean()
    y = c.copy()
    K.skyline_solve(L, first, y)
    assert np.allclose(E @ y, c, atol=1e-10)


def test_subdomain_deflated_cg_statuses_and_a_non_spd_matrix():
    from seqsolve import InvalidSystemError
    from seqsolve.solvers.deflated_subdomains import SubdomainDeflatedCG

    _assert_kernel_statuses(SubdomainDeflatedCG(omega=1.5, size=16), poisson2d(10), rtol=1e-14, short=2)
    with pytest.raises(InvalidSystemError):
        SubdomainDeflatedCG(omega=1.5).setup(sp.csr_array(-poisson2d(10)), None)


def test_subdomain_deflated_cg_configuration_keeps_the_contract_and_falls_back():
    from seqsolve.configs import parse

    assert parse("subdomain-deflated-cg(omega=1.6)").name == "subdomain-deflated-cg(omega=1.6)"
    solver = SequenceSolver(rtol=1e-8, policy="fixed:subdomain-deflated-cg(omega=1.6)", fallback=False)
    _keeps_the_contract_on_heat2d(solver, nx=16, steps=12)
    # a matrix it cannot take (not positive definite): the solver's fallback still certifies x
    bad = sp.csr_array(-poisson2d(8))
    b = np.ones(64)
    x = SequenceSolver(rtol=1e-8, policy="fixed:subdomain-deflated-cg(omega=1.6)").solve(bad, b)
    assert _rel(bad, b, x) <= 1e-8


def test_a_large_matrix_gets_larger_subdomains_not_a_huge_dense_coarse_matrix():
    # 140,000 unknowns would be 2,188 subdomains of 64: the coarse blocks are dense m x m, so the
    # subdomains grow instead (at a million unknowns, 64 each would have asked for 5.8 GB)
    from seqsolve.solvers.deflated_subdomains import MAX_SUBDOMAINS, SubdomainDeflatedCG

    n = 140_000
    A = sp.csr_array(sp.diags([-np.ones(n - 1), 2.0 + 1e-4 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]))
    method = SubdomainDeflatedCG(omega=1.3)
    prepared = method.setup(A, None)
    assert 0.9 * MAX_SUBDOMAINS <= method.subdomains <= MAX_SUBDOMAINS
    b = np.random.default_rng(0).standard_normal(n)
    res = method.solve(prepared, A, b, np.zeros(n), rtol=1e-8, atol=0.0, maxiter=5000)
    assert res.status == "converged" and np.linalg.norm(b - A @ res.x) <= 1e-8 * np.linalg.norm(b) * 1.01
