"""The accuracy contract: every returned x meets ||b - A x|| <= max(rtol ||b||, atol) on the TRUE
residual, agrees with spsolve within a condition-number bound, and the history tells the truth."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator, aslinearoperator

import seqsolve
from seqsolve import ConfigurationError, NotSymmetricError, SeqsolveError, SequenceSolver

from conftest import (assert_contract, compiled_available, elasticity2d, poisson2d, random_nonsymmetric,
                      random_spd, reference_solve, true_residual)

NEEDS_COMPILED = pytest.mark.skipif(
    not compiled_available(), reason="seqsolve/solvers/compiled.py defines no CompiledPCG yet (numba-* kinds unbuilt)"
)

SPD_ONLY = ["cg", "jacobi-cg", "ssor-cg(omega=1.3)", "sor(omega=1.5)", "amg-cg(rebuild)", "amg-cg(reuse)"]
GENERAL = ["direct", "gmres", "gmres(ilu)", "bicgstab", "bicgstab(ilu)"]
COMPILED = ["numba-cg", "numba-jacobi-cg", "numba-ssor-cg(omega=1.3)"]
TABLE = ([pytest.param(c, id=c) for c in SPD_ONLY + GENERAL]
         + [pytest.param(c, id=c, marks=NEEDS_COMPILED) for c in COMPILED])
SPD_KINDS = ("random-spd", "poisson2d", "elasticity2d")


def make_system(kind: str, size: int, seed: int):
    rng = np.random.default_rng(seed + 1000)
    if kind == "random-spd":
        A = random_spd(size, seed=seed, density=min(1.0, 4.0 / size), shift=rng.uniform(0.1, 2.0))
    elif kind == "poisson2d":
        k = max(2, int(round(np.sqrt(size))))
        A = poisson2d(k)
    elif kind == "elasticity2d":
        A = elasticity2d(max(2, int(round(np.sqrt(size / 2)))))
    elif kind == "nonsymmetric":
        A = random_nonsymmetric(size, seed=seed, density=min(1.0, 4.0 / size))
    else:  # pragma: no cover
        raise AssertionError(kind)
    b = rng.standard_normal(A.shape[0]) * 10.0 ** rng.uniform(-3, 3)
    return A, b


def is_spd_only(name: str) -> bool:
    return seqsolve.parse_configuration(name).spec.spd_only


tolerances = st.tuples(st.sampled_from([1e-6, 1e-8, 1e-10]), st.sampled_from([0.0, 1e-12, 1e-3]))


# ----------------------------------------------------------------------------- the contract
@pytest.mark.parametrize("name", TABLE)
@settings(max_examples=25)
@given(data=st.data(), size=st.integers(4, 80), seed=st.integers(0, 2**16), tol=tolerances)
def test_contract_true_residual_and_agreement(name, data, size, seed, tol):
    kinds = SPD_KINDS if is_spd_only(name) else SPD_KINDS + ("nonsymmetric",)
    kind = data.draw(st.sampled_from(kinds), label="kind")
    A, b = make_system(kind, size, seed)
    rtol, atol_rel = tol
    atol = atol_rel * float(np.linalg.norm(b))
    # SOR needs more than SciPy's default 10 n sweeps on the tiniest systems at rtol 1e-10
    s = SequenceSolver(rtol=rtol, atol=atol, policy=f"fixed:{name}", maxiter=max(10 * A.shape[0], 500))
    x = s.solve(A, b)
    assert_contract(A, b, x, rtol, atol)
    rec = s.history[-1]
    assert rec.converged
    assert rec.configuration == seqsolve.parse_configuration(name).name
    # an easy, well-posed system: the chosen configuration itself must do the job (a fallback
    # here would hide a broken method behind the robust chain)
    assert rec.fallback is None, f"{name} needed fallback {rec.fallback} (status {rec.status})"
    assert rec.residual == pytest.approx(true_residual(A, b, x) / np.linalg.norm(b), rel=1e-6, abs=1e-300)


@pytest.mark.parametrize("name", TABLE)
def test_contract_on_a_sequence_of_changing_systems(name):
    """Matrices and right-hand sides change along the sequence; setup caches must not go stale."""
    s = SequenceSolver(rtol=1e-9, policy=f"fixed:{name}")
    rng = np.random.default_rng(11)
    base = poisson2d(7)
    for k in range(4):
        A = sp.csr_array(base + (0.5 * k) * sp.eye_array(base.shape[0])) if k != 2 else base
        b = rng.standard_normal(A.shape[0])
        x = s.solve(A, b, context={"k": k})
        assert_contract(A, b, x, 1e-9)
    assert [h.index for h in s.history] == [0, 1, 2, 3]
    assert all(h.converged for h in s.history)


def test_nonsymmetric_general_methods_are_correct(nonsym_system):
    A, b = nonsym_system
    for name in GENERAL:
        x = SequenceSolver(rtol=1e-10, policy=f"fixed:{name}").solve(A, b)
        assert_contract(A, b, x, 1e-10)


def test_dense_and_coo_and_integer_inputs_are_accepted(poisson_system):
    A, b = poisson_system
    for given_A in (A.toarray(), sp.coo_array(A), sp.csr_matrix(A), sp.csc_array(A)):
        x = SequenceSolver(rtol=1e-10).solve(given_A, b)
        assert_contract(A, b, x, 1e-10)
    Ai = sp.csr_array(np.array([[4, 1, 0], [1, 4, 1], [0, 1, 4]]))
    x = SequenceSolver(rtol=1e-12).solve(Ai, [1, 2, 3])
    assert_contract(Ai.astype(float), np.array([1.0, 2.0, 3.0]), x, 1e-12)


@pytest.mark.parametrize("name", ["sor(omega=1.5)", "ssor-cg(omega=1.5)", "jacobi-cg", "amg-cg(rebuild)"])
def test_non_canonical_csr_with_duplicate_entries(name, poisson_system):
    """A CSR array whose diagonal is stored as two duplicate entries means the same matrix.

    Sweeps that read 'the' diagonal entry must see the summed value, so the configuration
    itself converges (no fallback) and as fast as on the canonical matrix.
    """
    A, b = poisson_system
    n = A.shape[0]
    coo = sp.coo_array(A)
    on = coo.row == coo.col
    rows = np.concatenate([coo.row, np.arange(n)])
    cols = np.concatenate([coo.col, np.arange(n)])
    vals = np.concatenate([np.where(on, coo.data - 1.5, coo.data), np.full(n, 1.5)])
    order = np.argsort(rows, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
    D = sp.csr_array((vals[order], cols[order], indptr), shape=(n, n))
    assert not D.has_canonical_format
    assert abs(D - A).max() < 1e-14
    s_ref = SequenceSolver(rtol=1e-10, policy=f"fixed:{name}")
    s_ref.solve(A, b)
    s = SequenceSolver(rtol=1e-10, policy=f"fixed:{name}")
    x = s.solve(D, b)
    assert_contract(A, b, x, 1e-10)
    assert s.history[-1].fallback is None
    assert s.history[-1].iterations <= s_ref.history[-1].iterations + 1


def test_zero_rhs_gives_zero_without_iterations(poisson_system):
    A, _ = poisson_system
    s = SequenceSolver(policy="fixed:cg", warm_start=False)
    x = s.solve(A, np.zeros(A.shape[0]))
    assert np.array_equal(x, np.zeros(A.shape[0]))
    assert s.history[-1].iterations == 0


# ----------------------------------------------------------------------------- history
def test_history_records_are_sensible(poisson_system):
    A, b0 = poisson_system
    s = SequenceSolver(rtol=1e-8, policy="fixed:ssor-cg(omega=1.3)")
    rng = np.random.default_rng(0)
    contexts = [{"c": 0.5}, {"c": 1.5, "t": 2}, None]
    xs = []
    for ctx in contexts:
        b = b0 + rng.standard_normal(b0.shape[0])
        xs.append((b, s.solve(A, b, context=ctx)))
    assert len(s.history) == 3
    for k, (rec, ctx, (b, x)) in enumerate(zip(s.history, contexts, xs)):
        assert rec.index == k
        assert rec.configuration == "ssor-cg(omega=1.3)"
        assert isinstance(rec.iterations, int) and rec.iterations > 0
        assert rec.setup_seconds >= 0.0 and rec.solve_seconds > 0.0
        assert rec.seconds == pytest.approx(rec.setup_seconds + rec.solve_seconds)
        assert rec.residual == pytest.approx(np.linalg.norm(b - A @ x) / np.linalg.norm(b), rel=1e-6)
        assert rec.residual <= 1e-8
        assert rec.converged is True
        assert rec.fallback is None
        assert rec.status == "converged"
        assert dict(rec.context) == {k2: float(v) for k2, v in (ctx or {}).items()}
        assert rec.to_dict()["configuration"] == rec.configuration
    # same matrix: the SSOR setup is built once and reused afterwards
    assert [h.setup_reused for h in s.history] == [False, True, True]


def test_setup_reuse_flags_follow_the_configuration():
    A1, A2 = poisson2d(8), sp.csr_array(poisson2d(8) + 0.3 * sp.eye_array(64))
    b = np.ones(64)
    flags = {}
    for name in ("amg-cg(rebuild)", "amg-cg(reuse)", "direct"):
        s = SequenceSolver(rtol=1e-9, policy=f"fixed:{name}")
        for A in (A1, A1, A2):
            assert_contract(A, b, s.solve(A, b), 1e-9)
        flags[name] = [h.setup_reused for h in s.history]
    assert flags["amg-cg(rebuild)"] == [False, True, False]
    assert flags["amg-cg(reuse)"] == [False, True, True]
    assert flags["direct"] == [False, True, False]


def _same_values_other_pattern():
    """Two tridiagonal-like matrices with identical data and indptr arrays, different columns
    (rows >= 40 couple to i+2 instead of i+1): the first symmetric, the second not."""
    n = 61
    A = sp.csr_array(sp.diags_array([np.ones(n - 1), 3 * np.ones(n), np.ones(n - 1)], offsets=[-1, 0, 1]))
    M = A.tolil()
    for i in range(40, n - 2):
        M[i, i + 1] = 0.0
        M[i, i + 2] = 1.0
    M = sp.csr_array(M)
    M.eliminate_zeros()
    assert np.array_equal(A.data, M.data) and np.array_equal(A.indptr, M.indptr)
    return A, M


def test_matrix_with_same_values_but_other_pattern_is_a_new_matrix():
    A, M = _same_values_other_pattern()
    b = np.ones(A.shape[0])
    s = SequenceSolver(rtol=1e-10, policy="fixed:direct")
    s.solve(A, b)
    x = s.solve(M, b)
    assert_contract(M, b, x, 1e-10)
    # the LU of A must not be reused for M
    assert [h.setup_reused for h in s.history] == [False, False]
    assert s.history[-1].fallback is None and s.history[-1].iterations == 0


def test_symmetry_verdict_is_not_reused_for_another_pattern():
    A, M = _same_values_other_pattern()
    b = np.ones(A.shape[0])
    s = SequenceSolver(policy="fixed:cg")
    s.solve(A, b)
    with pytest.raises(NotSymmetricError):
        s.solve(M, b)


def test_summary_totals_equal_sums_over_history(spd_system):
    A, b = spd_system
    s = SequenceSolver(rtol=1e-8, policy="fixed:jacobi-cg")
    for k in range(4):
        s.solve(A, b * (k + 1) + k, context={"k": k})
    s2 = SequenceSolver(rtol=1e-8, policy="fixed:sor(omega=1)", maxiter=2)
    s2.solve(A, b)  # falls back
    for solver in (s, s2):
        h = solver.history
        summ = solver.summary()
        assert summ["solves"] == len(h)
        assert summ["total_iterations"] == sum(r.iterations for r in h)
        assert summ["setup_seconds"] == pytest.approx(sum(r.setup_seconds for r in h))
        assert summ["solve_seconds"] == pytest.approx(sum(r.solve_seconds for r in h))
        assert summ["total_seconds"] == pytest.approx(sum(r.seconds for r in h))
        assert summ["policy_seconds"] == pytest.approx(sum(r.policy_seconds for r in h))
        assert summ["fallbacks"] == sum(1 for r in h if r.fallback is not None)
        assert summ["failures"] == sum(1 for r in h if not r.converged)
        assert summ["max_residual"] == max(r.residual for r in h)
        assert summ["configurations"] == {c: sum(r.configuration == c for r in h) for c in {r.configuration for r in h}}
    assert s2.summary()["fallbacks"] == 1


def test_reset_forgets_history_and_warm_start(poisson_system):
    A, b = poisson_system
    s = SequenceSolver(policy="fixed:cg")
    s.solve(A, b)
    first = s.history[-1].iterations
    s.reset()
    assert s.history == [] and s.summary()["solves"] == 0
    s.solve(A, b)
    assert s.history[-1].iterations == first > 0


# ----------------------------------------------------------------------------- SciPy-style arguments
def test_x0_is_used(poisson_system):
    A, b = poisson_system
    exact = reference_solve(A, b)
    s = SequenceSolver(rtol=1e-8, policy="fixed:cg")
    s.solve(A, np.ones_like(b))  # a warm start that is not the answer ...
    x = s.solve(A, b, x0=exact)  # ... is overridden by the explicit x0
    assert s.history[-1].iterations == 0
    assert_contract(A, b, x, 1e-8)
    # x0 accepted as a list and as a column
    for x0 in (list(exact), exact.reshape(-1, 1)):
        x = SequenceSolver(rtol=1e-8, policy="fixed:cg").solve(A, b, x0=x0)
        assert_contract(A, b, x, 1e-8)


def test_x0_is_not_modified(poisson_system):
    A, b = poisson_system
    x0 = np.zeros_like(b)
    for name in ("cg", "sor(omega=1.5)", "gmres", "direct"):
        SequenceSolver(policy=f"fixed:{name}").solve(A, b, x0=x0)
        assert np.array_equal(x0, np.zeros_like(b)), name


def test_maxiter_limits_each_attempt(poisson_system):
    A, b = poisson_system
    s = SequenceSolver(rtol=1e-10, policy="fixed:cg", maxiter=3, fallback=False)
    with pytest.raises(seqsolve.ConvergenceError):
        s.solve(A, b)
    assert s.history[-1].iterations == 3
    assert s.history[-1].status == "maxiter"
    # enough iterations: fine
    s = SequenceSolver(rtol=1e-10, policy="fixed:cg", maxiter=500, fallback=False)
    assert_contract(A, b, s.solve(A, b), 1e-10)


@pytest.mark.parametrize("name", ["cg", "jacobi-cg", "ssor-cg(omega=1.3)", "sor(omega=1.5)", "amg-cg(rebuild)",
                                  "gmres", "gmres(ilu)", "bicgstab", "bicgstab(ilu)"]
                         + [pytest.param(c, marks=NEEDS_COMPILED) for c in COMPILED])
@pytest.mark.parametrize("maxiter", [1, 3, 7])
def test_maxiter_is_an_iteration_limit_for_every_method(name, maxiter):
    """maxiter bounds the iterations of an attempt (GMRES: inner iterations, not restart cycles)."""
    A = poisson2d(12)
    b = np.random.default_rng(2).standard_normal(A.shape[0])
    s = SequenceSolver(rtol=1e-12, policy=f"fixed:{name}", maxiter=maxiter, fallback=False)
    try:
        x = s.solve(A, b)
    except seqsolve.ConvergenceError:
        pass
    else:
        assert_contract(A, b, x, 1e-12)
    assert s.history[-1].iterations <= maxiter


def test_callback_is_called_per_iteration_with_the_iterate(poisson_system):
    A, b = poisson_system
    for name in ("cg", "ssor-cg(omega=1.3)", "sor(omega=1.5)", "bicgstab"):
        seen = []
        s = SequenceSolver(rtol=1e-8, policy=f"fixed:{name}", warm_start=False)
        x = s.solve(A, b, callback=lambda xk: seen.append(np.array(xk, copy=True)))
        assert len(seen) == s.history[-1].iterations > 0, name
        assert all(v.shape == (A.shape[0],) for v in seen)
        # the last iterate reported is the solution (CG/SOR report the current x)
        if name != "bicgstab":
            assert np.allclose(seen[-1], x, rtol=1e-12, atol=1e-14 * np.abs(x).max()), name
    seen = []
    SequenceSolver(policy="fixed:gmres").solve(A, b, callback=lambda xk: seen.append(xk))
    assert len(seen) >= 1 and np.shape(seen[-1]) == (A.shape[0],)


def test_exception_in_user_callback_propagates(poisson_system):
    A, b = poisson_system

    def abort(xk):
        raise ValueError("user abort")

    with pytest.raises(ValueError, match="user abort"):
        SequenceSolver(policy="fixed:cg").solve(A, b, callback=abort)


def test_custom_exception_in_user_callback_propagates(poisson_system):
    A, b = poisson_system

    class Abort(Exception):
        pass

    def abort(xk):
        raise Abort()

    with pytest.raises(Abort):
        SequenceSolver(policy="fixed:cg").solve(A, b, callback=abort)


def test_warm_start_uses_previous_solution(poisson_system):
    A, b = poisson_system
    s = SequenceSolver(rtol=1e-8, policy="fixed:cg")
    x1 = s.solve(A, b)
    x2 = s.solve(A, b)
    assert s.history[0].iterations > 0
    assert s.history[1].iterations == 0
    assert np.array_equal(x1, x2)
    # the returned arrays are copies: changing one does not change the next warm start
    x2[:] = 0.0
    s.solve(A, b)
    assert s.history[2].iterations == 0
    # without warm start the second solve repeats the work
    c = SequenceSolver(rtol=1e-8, policy="fixed:cg", warm_start=False)
    c.solve(A, b)
    c.solve(A, b)
    assert c.history[0].iterations == c.history[1].iterations > 0


def test_warm_start_ignores_previous_solution_of_another_size():
    s = SequenceSolver(rtol=1e-9, policy="fixed:cg")
    for k in (5, 7, 5):
        A = poisson2d(k)
        b = np.arange(1.0, A.shape[0] + 1)
        assert_contract(A, b, s.solve(A, b), 1e-9)


# ----------------------------------------------------------------------------- LinearOperator input
def _matrix_free(A) -> LinearOperator:
    A = sp.csr_array(A)
    n = A.shape[0]
    return LinearOperator((n, n), matvec=lambda v: A @ np.ravel(v), rmatvec=lambda v: A.T @ np.ravel(v),
                          dtype=np.float64)


@pytest.mark.parametrize("name", ["cg", "gmres", "bicgstab"])
@pytest.mark.parametrize("wrap", [aslinearoperator, _matrix_free], ids=["aslinearoperator", "matrix-free"])
def test_linear_operator_with_matrix_free_configurations(name, wrap, poisson_system):
    A, b = poisson_system
    s = SequenceSolver(rtol=1e-9, policy=f"fixed:{name}")
    x = s.solve(wrap(A), b)
    assert_contract(A, b, x, 1e-9)
    assert s.history[-1].fallback is None


def test_linear_operator_nonsymmetric_gmres(nonsym_system):
    A, b = nonsym_system
    x = SequenceSolver(rtol=1e-9, policy="fixed:gmres").solve(_matrix_free(A), b)
    assert_contract(A, b, x, 1e-9)


@pytest.mark.parametrize("name", ["jacobi-cg", "ssor-cg(omega=1.3)", "sor(omega=1.5)", "amg-cg(rebuild)",
                                  "gmres(ilu)", "bicgstab(ilu)"])
def test_linear_operator_rejected_by_matrix_needing_configurations(name, poisson_system):
    A, b = poisson_system
    s = SequenceSolver(policy=f"fixed:{name}")
    with pytest.raises(SeqsolveError) as info:
        s.solve(aslinearoperator(A), b)
    assert isinstance(info.value, ValueError)
    assert "LinearOperator" in str(info.value)
    assert name in str(info.value)


# ----------------------------------------------------------------------------- one-off solve
def test_one_off_solve(poisson_system, nonsym_system):
    for A, b in (poisson_system, nonsym_system):
        x = seqsolve.solve(A, b)
        assert_contract(A, b, x, 1e-8)
        x = seqsolve.solve(A, b, rtol=1e-12)
        assert_contract(A, b, x, 1e-12)
        x = seqsolve.solve(_matrix_free(A), b, rtol=1e-9)
        assert_contract(A, b, x, 1e-9)
        x = seqsolve.solve(A, b, policy="fixed:gmres", atol=1e-6 * np.linalg.norm(b), rtol=0.0)
        assert_contract(A, b, x, 0.0, 1e-6 * np.linalg.norm(b))
    A, b = poisson_system
    seen = []
    x = seqsolve.solve(A, b, x0=np.ones_like(b), policy="fixed:cg", maxiter=1000, callback=seen.append)
    assert_contract(A, b, x, 1e-8)
    assert len(seen) > 0


# ----------------------------------------------------------------------------- symmetry
@pytest.mark.parametrize("name", SPD_ONLY)
def test_spd_only_configuration_on_nonsymmetric_matrix_raises(name, nonsym_system):
    A, b = nonsym_system
    with pytest.raises(NotSymmetricError) as info:
        SequenceSolver(policy=f"fixed:{name}").solve(A, b)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, SeqsolveError)
    assert "symmetric" in str(info.value)


def test_slightly_nonsymmetric_matrix_is_detected():
    A = poisson2d(6).tolil()
    A[0, 1] += 1e-3
    with pytest.raises(NotSymmetricError):
        SequenceSolver(policy="fixed:cg").solve(sp.csr_array(A), np.ones(36))


def test_direct_on_linear_operator_is_dense_when_small_and_refused_when_large(poisson_system):
    A, b = poisson_system
    small = sp.csr_array(A)[:50, :50]
    x = SequenceSolver(policy="fixed:direct").solve(aslinearoperator(small), b[:50])
    assert_contract(small, b[:50], x, 1e-8)
    big = sp.block_diag([A] * (1 + 1000 // A.shape[0])).tocsr()
    with pytest.raises(ConfigurationError, match="LinearOperator"):
        SequenceSolver(policy="fixed:direct").solve(aslinearoperator(big), np.ones(big.shape[0]))


def test_an_unpartnered_entry_proves_asymmetry_and_stored_zeros_do_not():
    """On a pattern that is not structurally symmetric, an entry whose transpose is not stored and
    holds a value proves ``A`` unsymmetric without a product (seqsolve.validation.unpartnered_entries);
    where every such entry is a stored zero, the matrix may be symmetric, and the product test decides."""
    from seqsolve.validation import unpartnered_entries

    A = sp.csr_array(poisson2d(6))
    rows = np.repeat(np.arange(36), np.diff(A.indptr))
    lone = sp.csr_array((np.r_[A.data, 0.0, 0.0], (np.r_[rows, 0, 7], np.r_[A.indices, 20, 30])), shape=(36, 36))
    lone.sum_duplicates()
    assert lone.nnz == A.nnz + 2  # two stored zeros without a partner: still symmetric in value
    assert sorted(lone.indices[unpartnered_entries(lone)].tolist()) == [20, 30]
    b = np.ones(36)
    s = SequenceSolver(rtol=1e-10, policy="fixed:cg")
    x = s.solve(lone, b)
    assert_contract(lone, b, x, 1e-10)
    for k in range(3):  # the same pattern, the lone entries now holding values: refused each time
        valued = lone.copy()
        valued.data[unpartnered_entries(lone)] = 1e-3 * (k + 1)
        with pytest.raises(NotSymmetricError):
            s.solve(valued, b)
