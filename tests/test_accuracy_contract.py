"""The accuracy contract, verified with exact rational arithmetic.

Every outcome of a solve must be either an ``x`` whose *exact* residual (computed with
``fractions.Fraction`` from the float64 values) meets ``‖b − A x‖ ≤ max(rtol‖b‖, atol)``, or a
:class:`~seqsolve.SeqsolveError`.  The property tests generate the classes of inputs that broke
the promise before: extreme magnitudes, every sparse format, singular and near-singular
matrices, in-place mutation of ``A.data`` between solves, size changes, odd contexts, every
policy.  ``-m fuzz`` runs the same properties with many more examples.
"""

from __future__ import annotations

import math
import time
import warnings
from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator, aslinearoperator, splu

import seqsolve
from seqsolve import ConvergenceError, SeqsolveError
from conftest import exact_meets
from seqsolve.accuracy import RTOL_MIN, check_residual, norm, scale_system

FORMATS = ["csr", "csc", "coo", "bsr", "dia", "dok", "lil"]
POLICIES = ["auto", "fixed:cg", "fixed:numba-ssor-cg(omega=1.5)", "fixed:direct", "fixed:gmres(ilu)",
            "fixed:bicgstab", "tsallis-inf", "chebcb", None]


def outcome(A_in, A_csr, b, rtol, atol, run):
    """Run ``run()``; assert it returned a certified x or raised a SeqsolveError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = run()
    except SeqsolveError:
        return None
    assert np.all(np.isfinite(x)), "a non-finite x was returned"
    assert exact_meets(A_csr, b, x, rtol, atol), "the exact residual misses the tolerance"
    return x


def as_format(M: np.ndarray, fmt: str, matrix_class: bool):
    cls = getattr(sp, f"{fmt}_{'matrix' if matrix_class else 'array'}")
    return cls(M)


# ---------------------------------------------------------------- the reproducers of the issue

def test_tiny_right_hand_side_is_solved_not_returned_as_zero():
    b = np.full(4, 1e-200)
    x = seqsolve.solve(sp.identity(4, format="csr"), b)
    assert exact_meets(sp.identity(4), b, x, 1e-8, 0.0)
    assert np.all(x > 0)


def test_huge_right_hand_side_on_singular_matrix_raises_instead_of_returning_zeros():
    A = sp.csr_array(np.diag([1.0, 1, 1, 0]))
    with pytest.raises(ConvergenceError):
        seqsolve.solve(A, np.full(4, 1e200))


def test_huge_right_hand_side_with_one_cg_iteration_never_returns_nan():
    A = sp.csr_array(np.diag([1.0, 2, 3, 4]))
    b = np.full(4, 1e200)
    x = seqsolve.solve(A, b, policy="fixed:cg", maxiter=1)
    assert np.all(np.isfinite(x)) and exact_meets(A, b, x, 1e-8, 0.0)


def test_rtol_below_four_epsilon_is_refused_up_front():
    with pytest.raises(seqsolve.InvalidSystemError, match="cannot certify"):
        seqsolve.solve(sp.csr_array([[3.0]]), np.array([1.0]), rtol=1e-300)
    # at the limit itself the promise is kept
    x = seqsolve.solve(sp.csr_array([[3.0]]), np.array([1.0]), rtol=RTOL_MIN)
    assert exact_meets(sp.csr_array([[3.0]]), [1.0], x, RTOL_MIN, 0.0)


def test_an_absolute_tolerance_no_float_can_meet_says_it_is_unattainable():
    # the exact residual of the best float64 x = fl(1/3) is 1 - 3 fl(1/3) = 5.55e-17 > 1e-300,
    # although the float64 product 3 * fl(1/3) rounds to exactly 1
    with pytest.raises(ConvergenceError, match="attainable"):
        seqsolve.solve(sp.csr_array([[3.0]]), np.array([1.0]), rtol=0.0, atol=1e-300)


def test_float64_residual_that_looks_met_is_not_trusted():
    # row scalings over 12 orders of magnitude: the float64 residual of the rounded solution can be
    # orders of magnitude below the exact one; the certified check must see the exact one
    rng = np.random.default_rng(3)
    n = 6
    D = np.diag(10.0 ** rng.uniform(-6, 6, n))
    M = D @ (np.eye(n) * 4 + rng.standard_normal((n, n))) @ D
    A = sp.csr_array(M)
    b = A @ rng.standard_normal(n)
    for rtol in (1e-15, 1e-14, 1e-12):
        outcome(A, A, b, rtol, 0.0, lambda: seqsolve.solve(A, b, rtol=rtol))


def test_certified_bound_is_never_below_the_exact_residual():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 7))
        M = rng.standard_normal((n, n)) * 10.0 ** rng.integers(-100, 100, (n, n))
        M[rng.random((n, n)) < 0.4] = 0.0
        A = sp.csr_array(M)
        x = rng.standard_normal(n) * 10.0 ** rng.integers(-50, 50, n)
        b = A @ x + rng.standard_normal(n) * 10.0 ** rng.integers(-60, 60, n) * 1e-16
        v = check_residual(A, b, x, norm(b), 0.0)
        if not math.isfinite(v.upper):
            continue
        xb = [Fraction(float(t)) for t in x]
        exact = sum((Fraction(float(b[i])) - sum(Fraction(float(M[i, j])) * xb[j] for j in range(n))) ** 2
                    for i in range(n))
        assert Fraction(v.upper) ** 2 >= exact


def test_norm_neither_overflows_nor_underflows():
    assert norm(np.full(4, 1e-200)) == pytest.approx(2e-200)
    assert norm(np.full(4, 1e200)) == pytest.approx(2e200)
    assert norm(np.array([3e-320, 4e-320])) == pytest.approx(5e-320, rel=1e-3)
    assert norm(np.zeros(3)) == 0.0
    assert math.isnan(norm(np.array([1.0, np.nan])))


def test_power_of_two_scaling_is_exact_and_skipped_when_it_would_lose_bits():
    A = sp.csr_array(np.diag([1.0, 2.0]))
    b = np.array([3e-250, 1e-250])
    s = scale_system(A, A, 0, b, norm(b))
    assert s.beta < 0 and np.array_equal(np.ldexp(s.b, s.beta), b)
    wide = np.array([1e300, 1e-300])  # 2^-β b would make 1e-300 subnormal: not scaled
    assert scale_system(A, A, 0, wide, norm(wide)).beta == 0


def test_every_sparse_format_and_class_is_accepted():
    M = np.array([[4.0, 1, 0], [1, 3, 0], [0, 0, 2]])
    b = np.array([1.0, 2, 3])
    for fmt in FORMATS:
        for cls in (False, True):
            x = seqsolve.solve(as_format(M, fmt, cls), b)
            assert exact_meets(M, b, x, 1e-8, 0.0), fmt


def test_context_at_the_edge_of_float_range_does_not_poison_a_learner():
    A = sp.csr_array(sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(30, 30)))
    b = np.ones(30)
    for policy in ("auto", "chebcb", "tsallis-inf"):
        s = seqsolve.SequenceSolver(policy=policy)
        for c in (1e300, -1e308, 5e-324, 1e300):
            outcome(A, A, b, 1e-8, 0.0, lambda: s.solve(A, b, context={"c": c}))
        with pytest.raises(seqsolve.InvalidSystemError, match="context"):
            s.solve(A, b, context={"c": 10**400})
        x = s.solve(A, b, context={"c": 1.0})  # still healthy afterwards
        assert exact_meets(A, b, x, 1e-8, 0.0)


@pytest.mark.parametrize("value", [10**400, 1e-8 + 0j, float("nan"), -1.0, "1e-8", True])
def test_bad_tolerances_are_seqsolve_errors(value):
    with pytest.raises(seqsolve.InvalidSystemError, match="rtol"):
        seqsolve.SequenceSolver(rtol=value)


def test_singular_system_fails_fast_with_a_clear_error():
    n = 100
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    P = (sp.kron(sp.identity(n), T) + sp.kron(T, sp.identity(n))).tolil()
    P[5, :] = 0
    P[:, 5] = 0
    P = sp.csr_array(P)
    t0 = time.perf_counter()
    with pytest.raises(ConvergenceError) as info:
        seqsolve.solve(P, np.ones(n * n))
    assert time.perf_counter() - t0 < 10.0
    assert "singular" in str(info.value)


def test_stagnating_fixed_configuration_is_stopped_long_before_maxiter():
    # inconsistent singular system under plain CG: the chunked run sees no progress and stops
    n = 400
    A = sp.csr_array(sp.diags([np.r_[np.ones(n - 1), 0.0]], [0]))
    s = seqsolve.SequenceSolver(policy="fixed:cg", fallback=False)
    with pytest.raises(ConvergenceError):
        s.solve(A, np.ones(n))
    assert s.history[-1].iterations < 10 * n


def test_user_maxiter_bounds_every_attempt_fallbacks_included():
    A = sp.csr_array(sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(400, 400)))
    b = np.ones(400)
    s = seqsolve.SequenceSolver(policy="fixed:cg", maxiter=7)
    x = s.solve(A, b)  # CG cannot converge in 7 iterations; direct can (refinement steps <= 7)
    assert exact_meets(A, b, x, 1e-8, 0.0)
    assert s.history[-1].fallback == "direct"


def test_small_linear_operator_gets_a_dense_factorisation_as_last_resort():
    # convection-dominated: GMRES(30) and BiCGStab struggle, a dense LU does not
    n = 60
    A = sp.csr_array(sp.diags([-1.0 - 40, 2.0, -1.0 + 40], [-1, 0, 1], shape=(n, n)))
    op = aslinearoperator(A)
    b = np.linspace(1, 2, n)
    x = seqsolve.solve(op, b, rtol=1e-12)
    assert exact_meets(A, b, x, 1e-12, 0.0)


def test_direct_solve_is_exact_enough_on_extreme_but_well_conditioned_matrices():
    for M in ([[1e300, 1e300], [-1e300, 1e300]], [[1e-200, 1e-200], [-1e-200, 1e-200]],
              [[1e-310, 0.0], [0.0, 1e-310]], [[0.0, 1.0], [1.0, 0.0]]):
        A = sp.csr_array(np.array(M))
        b = np.array([1.0, 1.0])
        outcome(A, A, b, 1e-10, 0.0, lambda: seqsolve.solve(A, b, rtol=1e-10))


def _exact_residual(A: sp.csr_array, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``b − A x`` computed exactly (rational arithmetic), rounded once to float64."""
    xf = [Fraction(float(v)) for v in x]
    return np.array([float(Fraction(float(b[i])) - sum(Fraction(float(A.data[k])) * xf[A.indices[k]]
                                                       for k in range(A.indptr[i], A.indptr[i + 1])))
                     for i in range(A.shape[0])])


@pytest.mark.parametrize("seed, n, digits", [(0, 30, 8), (1, 30, 8), (2, 60, 10), (3, 60, 10)])
def test_direct_refinement_reaches_a_tolerance_at_the_edge_of_what_float64_allows(seed, n, digits):
    """Ill-conditioned (cond 10^digits), a random right-hand side, so |A||x| ≫ |b|: refinement with
    a float64 residual stalls at n·u·|A||x|; with the residual in twice the working precision it
    reaches what refinement with an *exact* residual reaches.  The tolerance lies between the two
    (their geometric mean), so it is one a float64 x meets and float64 refinement misses (both
    checked here: the random matrix, made by LAPACK's QR, differs bitwise between BLAS builds, and
    so does where a fixed tolerance falls; exact check of seqsolve's answer in rational arithmetic)."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = sp.csr_array((U * np.logspace(0, -digits, n)) @ V.T)
    b = rng.standard_normal(n)
    lu = splu(sp.csc_matrix(A))
    x64, xex = lu.solve(b), lu.solve(b)
    for _ in range(6):
        x64 = x64 + lu.solve(b - A @ x64)
        xex = xex + lu.solve(_exact_residual(A, b, xex))
    bnorm = np.linalg.norm(b)
    floor64 = np.linalg.norm(_exact_residual(A, b, x64)) / bnorm
    reachable = np.linalg.norm(_exact_residual(A, b, xex)) / bnorm
    assert floor64 > 1.5 * reachable  # the premise: a float64 residual leaves digits behind
    rtol = math.sqrt(floor64 * reachable)
    assert not exact_meets(A, b, x64, rtol, 0.0) and exact_meets(A, b, xex, rtol, 0.0)
    x = seqsolve.solve(A, b, rtol=rtol, policy="fixed:direct")
    assert exact_meets(A, b, x, rtol, 0.0)


def test_in_place_mutation_of_A_data_between_solves_is_seen():
    n = 50
    A = sp.csr_array(sp.diags([-1.0, 4.0, -1.0], [-1, 0, 1], shape=(n, n)))
    b = np.ones(n)
    for policy in ("fixed:direct", "auto", "fixed:amg-cg(reuse)", "fixed:numba-ssor-cg(omega=1.8)",
                   "fixed:numba-jacobi-cg"):
        s = seqsolve.SequenceSolver(policy=policy)
        M = A.copy()
        for k in range(4):
            x = s.solve(M, b)
            assert exact_meets(M, b, x, 1e-8, 0.0), (policy, k)
            M.data *= 1.7  # same object, new values: a reused factorisation would be wrong
            M.data[::3] += 0.5


# ---------------------------------------------------------------- properties (hypothesis)

magnitudes = st.integers(-300, 300)


@st.composite
def systems(draw, max_n=6):
    n = draw(st.integers(1, max_n))
    kind = draw(st.sampled_from(["random", "spd", "singular", "near-singular", "diag", "scaled"]))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    M[rng.random((n, n)) < draw(st.floats(0, 0.7))] = 0.0
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
    scale_M, scale_b, spread = draw(magnitudes), draw(magnitudes), draw(st.booleans())
    with warnings.catch_warnings():  # extreme draws overflow here on purpose: replaced below
        warnings.simplefilter("ignore")
        M = M * 10.0 ** scale_M
        b = rng.standard_normal(n) * 10.0 ** scale_b
        if spread:
            b = b * 10.0 ** rng.integers(-20, 20, n)
        M = np.where(np.isfinite(M), M, 0.0)
        b = np.where(np.isfinite(b), b, 1.0)
    return M, b


tolerances = st.tuples(st.sampled_from([RTOL_MIN, 1e-14, 1e-10, 1e-8, 1e-3, 0.5]),
                       st.sampled_from([0.0, 0.0, 1e-300, 1e-10, 1.0]))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(systems(), tolerances, st.sampled_from(FORMATS), st.booleans(), st.sampled_from(POLICIES))
def test_one_off_solve_is_correct_or_a_seqsolve_error(system, tol, fmt, cls, policy):
    M, b = system
    rtol, atol = tol
    A = as_format(M, fmt, cls)
    outcome(A, M, b, rtol, atol, lambda: seqsolve.solve(A, b, rtol=rtol, atol=atol, policy=policy))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(systems(max_n=5), min_size=2, max_size=6), st.sampled_from(POLICIES[:-1]),
       st.lists(st.one_of(st.floats(allow_nan=False), st.integers(-10**30, 10**30)), min_size=6, max_size=6),
       st.booleans())
def test_long_lived_solver_is_correct_or_a_seqsolve_error(seq, policy, contexts, mutate):
    run_long_lived(seq, policy, contexts, mutate)


def run_long_lived(seq, policy, contexts, mutate):
    """One solver through ``seq``; with ``mutate`` each matrix object is solved again, changed in place."""
    s = seqsolve.SequenceSolver(policy=policy, rtol=1e-8)
    for k, (M, b) in enumerate(seq):
        A = sp.csr_array(M)
        outcome(A, M, b, 1e-8, 0.0, lambda: s.solve(A, b, context={"c": contexts[k]}))
        if mutate and A.nnz:
            with np.errstate(over="ignore"):  # an entry near the float range may overflow: a matrix to reject
                A.data *= -1.5
            outcome(A, A.toarray(), b, 1e-8, 0.0, lambda: s.solve(A, b))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(systems(max_n=5), tolerances)
def test_linear_operator_solve_is_correct_or_a_seqsolve_error(system, tol):
    M, b = system
    rtol, atol = tol
    op = LinearOperator(M.shape, matvec=lambda v: M @ v, dtype=np.float64)
    outcome(op, M, b, max(rtol, 1e-12), atol,
            lambda: seqsolve.solve(op, b, rtol=max(rtol, 1e-12), atol=atol))


@pytest.mark.fuzz
@settings(max_examples=4000, deadline=None, suppress_health_check=list(HealthCheck))
@given(systems(max_n=8), tolerances, st.sampled_from(FORMATS), st.booleans(), st.sampled_from(POLICIES))
def test_fuzz_one_off_solves(system, tol, fmt, cls, policy):
    test_one_off_solve_is_correct_or_a_seqsolve_error.hypothesis.inner_test(system, tol, fmt, cls, policy)


@pytest.mark.fuzz
@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(systems(max_n=6), min_size=2, max_size=8), st.sampled_from(POLICIES[:-1]),
       st.lists(st.one_of(st.floats(allow_nan=False), st.integers(-10**400, 10**400)), min_size=8, max_size=8),
       st.booleans())
def test_fuzz_long_lived_solvers(seq, policy, contexts, mutate):
    run_long_lived(seq, policy, contexts, mutate)


def test_in_place_mutation_to_non_finite_is_rejected_along_a_sequence():
    """Caching per pattern never skips the finiteness check of the values."""
    n = 30
    A = sp.csr_array(sp.diags([-1.0, 4.0, -1.0], [-1, 0, 1], shape=(n, n)))
    s = seqsolve.SequenceSolver(policy="fixed:numba-ssor-cg(omega=1.8)")
    s.solve(A, np.ones(n))
    A.data[7] = np.inf
    with pytest.raises(seqsolve.InvalidSystemError, match="NaN or Inf"):
        s.solve(A, np.ones(n))
    A.data[7] = -1.0
    B = A.copy()
    B.data[4] = np.nan  # a new object with the same pattern
    with pytest.raises(seqsolve.InvalidSystemError, match="NaN or Inf"):
        s.solve(B, np.ones(n))


def test_fixed_compiled_policy_keeps_every_guarantee_on_its_short_path():
    """A fixed policy skips its no-op select/limits/update calls and its timed learning step: the
    guarantees stay — a changed matrix is seen (values changed in place, and the same matrix again
    is reported as repeated), NaN in ``b`` is a SeqsolveError, the returned ``x`` is the caller's
    own, the record says what it said before."""
    n = 40
    A = sp.csr_array(sp.diags([-1.0, 4.0, -1.0], [-1, 0, 1], shape=(n, n)))
    b = np.linspace(1.0, 2.0, n)
    s = seqsolve.SequenceSolver(policy="fixed:numba-ssor-cg(omega=1.8)")
    x1 = s.solve(A, b)
    x2 = s.solve(A, b)
    assert s.history[-1].matrix_repeated and s.history[-1].setup_reused
    assert not np.shares_memory(x1, x2) and not np.shares_memory(x2, s._x_prev)
    x2[:] = 1e300  # the caller's array: the solver's warm start must not see it
    A.data *= 1.5  # same object and arrays, new values
    x3 = s.solve(A, b)
    assert exact_meets(A, b, x3, 1e-8, 0.0)
    rec = s.history[-1]
    assert not rec.matrix_repeated and not rec.setup_reused and rec.iterations < 40
    assert rec.policy_seconds > 0 and not rec.explored and rec.initial_guess == "previous"
    bad = b.copy()
    bad[3] = np.nan
    with pytest.raises(seqsolve.InvalidSystemError, match="NaN or Inf"):
        s.solve(A, bad)
    assert len(s.history) == 3


def test_fixed_policy_subclass_still_learns():
    """Only the exact FixedPolicy class has its update and stretch calls skipped."""
    from seqsolve.policies.fixed import FixedPolicy

    class Counting(FixedPolicy):
        updates = 0

        def update(self, cost, info):
            type(self).updates += 1
            return self

    n = 20
    A = sp.csr_array(sp.diags([-1.0, 4.0, -1.0], [-1, 0, 1], shape=(n, n)))
    s = seqsolve.SequenceSolver(policy=Counting("numba-ssor-cg(omega=1.5)"))
    for _ in range(3):
        s.solve(A, np.ones(n))
    assert Counting.updates == 3


def test_non_native_float64_takes_the_general_path():
    """The fast input checks compare dtypes by identity; a big-endian float64 ``A`` or ``b`` is
    converted and checked on the general path, NaN included."""
    n = 30
    A = sp.csr_array(sp.diags([-1.0, 4.0, -1.0], [-1, 0, 1], shape=(n, n)))
    A_be = sp.csr_array((A.data.astype(">f8"), A.indices, A.indptr), shape=A.shape)
    b_be = np.linspace(1.0, 2.0, n).astype(">f8")
    s = seqsolve.SequenceSolver(policy="fixed:numba-ssor-cg(omega=1.5)")
    x = s.solve(A_be, b_be)
    assert exact_meets(A, b_be.astype(np.float64), x, 1e-8, 0.0)
    b_be[2] = np.nan
    with pytest.raises(seqsolve.InvalidSystemError, match="NaN or Inf"):
        s.solve(A_be, b_be)


def test_small_operator_with_cancellation_is_certified_on_its_entries():
    """Row 3 sums terms of ±1.8e13 to 0.09: the operator's own product cannot see its rounding
    (hypothesis found x with float residual 3.6e-4 but exact residual 8.1e-3 at rtol 1e-3). A small
    operator is now certified on the entries it reveals column by column: correct, or an error."""
    M = np.array([[3.1276669466365247e+11, 0.0, 0.0],
                  [8.6778294587425620e+01, 2.8164516191909264e-07, 6.7441536891853601e+07],
                  [0.0, -5.7813599571102440e+07, 4.3241658133048829e+23]])
    b = np.array([-0.03939662512791543, 0.09094295771567025, 0.08904018349711185])
    op = LinearOperator(M.shape, matvec=lambda v: M @ v, dtype=np.float64)
    outcome(op, M, b, 1e-3, 0.0, lambda: seqsolve.solve(op, b, rtol=1e-3))


def test_a_solution_that_overflows_when_unscaled_is_not_returned():
    # hypothesis: A has entries ~1e153 (scaled by 2^-α), an empty column and an inconsistent zero
    # row; CG met the tolerance on the scaled system, but unscaling sent the free component (the
    # empty column, which no residual sees) to inf
    M = np.array([[0, 1.18226869e+153, 1.02187735e+154, 0], [-1.87338611e+153, 0, -9.90949665e+153, 0],
                  [0, 0, 0, 0], [0, -5.35703604e+153, 8.83507879e+153, 0]])
    b = np.array([1.0, 1.0, 1.0, -4.59345919e+305])
    s = seqsolve.SequenceSolver(policy="fixed:cg", rtol=1e-8)
    s.solve(sp.csr_array([[0.12573022]]), np.array([0.64042265]))
    A = sp.csr_array(M)
    outcome(A, M, b, 1e-8, 0.0, lambda: s.solve(A, b))


@pytest.mark.parametrize("policy", ["fixed:numba-ssor-cg(omega=1.5)", "fixed:direct", "auto"])
def test_a_right_hand_side_whose_norm_overflows_is_refused_not_solved(policy):
    """Every b_i is finite, but ‖b‖ is not: rtol·‖b‖ read as infinite accepted any x (the contract
    fuzz's sequences found a 26-unknown system "solved" with a relative residual of 2.2)."""
    n = 26
    A = sp.csr_array(sp.diags([-1.0, 4.0, -1.0], [-1, 0, 1], shape=(n, n)) * 1e132)
    b = np.full(n, 1.5e308)
    with pytest.raises(seqsolve.InvalidSystemError, match="overflows"):
        seqsolve.SequenceSolver(policy=policy).solve(A, b)
    x = seqsolve.solve(A, b / 8.0, policy=policy)  # ‖b‖ ≈ 9.6e307: representable, and solved
    assert exact_meets(A, b / 8.0, x, 1e-8, 0.0)


@pytest.mark.parametrize("A", [sp.lil_matrix((3, 3)), sp.csr_array(np.zeros((3, 3))), sp.diags([0.0, 0.0, 0.0])],
                         ids=["no-entries", "stored-zeros", "zero-diagonal"])
def test_the_zero_matrix_has_no_solution_and_says_so_at_once(A):
    """A = 0, b ≠ 0: a ConvergenceError before any method runs (no fallback chain to exhaust);
    b = 0 still has the exact answer x = 0."""
    with pytest.raises(seqsolve.ConvergenceError, match="zero matrix") as info:
        seqsolve.SequenceSolver(policy="auto").solve(A, np.array([1.0, 0.0, 2.0]))
    assert info.value.attempts == [] and info.value.best_residual == 1.0
    assert np.array_equal(seqsolve.solve(A, np.zeros(3)), np.zeros(3))


@pytest.mark.parametrize("scale", [1e237, 1e-290, 1.0])
def test_symmetry_is_judged_right_at_any_magnitude(scale):
    """Two products decide symmetry for an unsymmetric pattern: at entries near 1e237 their norms
    overflowed, the tolerance became infinite, and a non-symmetric matrix passed as symmetric (on
    the PETSc backend it reached hypre, which crashed the process)."""
    from seqsolve.validation import is_symmetric

    M = np.array([[5.3, 0.0, -4.3, 11.6], [5.3, 0.0, -4.3, 11.6], [0.0, 0.0, 8.4, 0.0], [14.7, 0.0, -10.8, 0.0]])
    S = np.array([[4.0, 1.0, 0.0], [1.0, 4.0, 0.0], [0.0, 0.0, 2.0]])
    assert not is_symmetric(sp.csr_array(M * scale))
    assert is_symmetric(sp.csr_array(S * scale))
    with pytest.raises(seqsolve.NotSymmetricError):
        seqsolve.SequenceSolver(policy="fixed:numba-cg").solve(sp.csr_array(M * scale), np.ones(4))
