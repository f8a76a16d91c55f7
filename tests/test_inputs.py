"""Every bad input raises a clear seqsolve error that is also the fitting built-in exception.

Decisions taken from the code (``seqsolve/validation.py``): ``A`` must be a SciPy sparse
matrix/array, a 2-D NumPy array or a ``LinearOperator`` — a list of lists is *not* accepted
(``UnsupportedTypeError``); ``b`` and ``x0`` may be arrays, lists or tuples (or an ``n x 1`` column).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

import seqsolve
from seqsolve import (ConfigurationError, InvalidSystemError, SeqsolveError, SequenceSolver,
                      UnsupportedTypeError)

from conftest import assert_contract, poisson2d

A0 = poisson2d(4)  # 16 unknowns
N = A0.shape[0]
B0 = np.ones(N)


def expect(exc_type, builtin, fragment, fn, *args, **kwargs):
    """``fn`` raises ``exc_type`` (a SeqsolveError and a ``builtin``) whose message has ``fragment``."""
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    err = info.value
    assert isinstance(err, SeqsolveError), type(err)
    assert isinstance(err, builtin), type(err)
    assert fragment.lower() in str(err).lower(), str(err)
    return err


def solve(A, b=B0, **kw):
    return SequenceSolver().solve(A, b, **kw)


# ----------------------------------------------------------------------------- the matrix
@pytest.mark.parametrize("A, what", [
    ([[2.0, 0.0], [0.0, 2.0]], "list"),
    ("A.mtx", "str"),
    ({"data": [1.0]}, "dict"),
    (None, "NoneType"),
    (3.0, "float"),
], ids=["list-of-lists", "string", "dict", "None", "scalar"])
def test_unsupported_matrix_types(A, what):
    err = expect(UnsupportedTypeError, TypeError, what, solve, A, [1.0, 1.0])
    assert "sparse" in str(err)  # says what is accepted


@pytest.mark.parametrize("A, fragment", [
    (sp.csr_array((3, 4)), "square"),
    (np.ones((3, 4)), "square"),
    (aslinearoperator(np.ones((3, 4))), "square"),
    (np.ones((2, 2, 2)), "2-d"),
    (np.ones(4), "2-d"),
    (sp.csr_array((0, 0)), "empty"),
    (np.zeros((0, 0)), "empty"),
], ids=["sparse-nonsquare", "dense-nonsquare", "linop-nonsquare", "3d", "1d", "empty-sparse", "empty-dense"])
def test_bad_matrix_shapes(A, fragment):
    n = A.shape[0] if len(A.shape) else 1
    expect(InvalidSystemError, ValueError, fragment, solve, A, np.ones(max(n, 1)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dense", [False, True], ids=["sparse", "dense"])
def test_non_finite_matrix_entries(bad, dense):
    M = A0.toarray()
    M[3, 3] = bad
    A = M if dense else sp.csr_array(M)
    expect(InvalidSystemError, ValueError, "NaN", solve, A)


@pytest.mark.parametrize("A", [sp.csr_array(A0, dtype=complex) * 1j, A0.toarray().astype(complex),
                               sp.csr_array(A0, dtype=np.complex128)],
                         ids=["complex-sparse", "complex-dense", "complex-dtype-real-values"])
def test_complex_matrix(A):
    expect(UnsupportedTypeError, TypeError, "complex", solve, A)


@pytest.mark.parametrize("A", [np.array([["a", "b"], ["c", "d"]]), np.array([[1, None], [None, 1]], dtype=object)],
                         ids=["str-dtype", "object-dtype"])
def test_unsupported_matrix_dtype(A):
    expect(UnsupportedTypeError, TypeError, "dtype", solve, A, [1.0, 1.0])


# ----------------------------------------------------------------------------- right-hand side and x0
@pytest.mark.parametrize("name", ["b", "x0"])
def test_vector_length_mismatch(name):
    short = np.ones(N - 1)
    kw = {"b": short} if name == "b" else {"x0": short}
    err = expect(InvalidSystemError, ValueError, "shape", solve, A0, **kw)
    assert name in str(err) and str(N) in str(err)


@pytest.mark.parametrize("name", ["b", "x0"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_vector_non_finite(name, bad):
    v = np.ones(N)
    v[5] = bad
    kw = {"b": v} if name == "b" else {"x0": v}
    err = expect(InvalidSystemError, ValueError, "NaN", solve, A0, **kw)
    assert name in str(err)


@pytest.mark.parametrize("name", ["b", "x0"])
def test_vector_complex(name):
    v = np.ones(N) * (1 + 1j)
    kw = {"b": v} if name == "b" else {"x0": v}
    expect(UnsupportedTypeError, TypeError, "complex", solve, A0, **kw)


@pytest.mark.parametrize("v, builtin, exc", [
    ("1 2 3", TypeError, UnsupportedTypeError),
    ({"0": 1.0}, TypeError, UnsupportedTypeError),
    (None, TypeError, UnsupportedTypeError),
    (1.0, TypeError, UnsupportedTypeError),
    (["a"] * N, TypeError, UnsupportedTypeError),
    (np.ones((N, 2, 2)), ValueError, InvalidSystemError),
    ([[1.0], [1.0, 2.0]] + [[1.0]] * (N - 2), ValueError, InvalidSystemError),
], ids=["string", "dict", "None", "scalar", "strings", "three-dimensional", "ragged-list"])
def test_bad_rhs_values(v, builtin, exc):
    expect(exc, builtin, "b", solve, A0, v)


def test_bad_x0_type():
    expect(UnsupportedTypeError, TypeError, "x0", solve, A0, B0, x0="zeros")


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_accepted_vector_forms():
    for b in (list(B0), tuple(B0), B0.reshape(-1, 1), np.asmatrix(B0).T, sp.csr_array(B0.reshape(-1, 1)),
              B0.astype(np.float32), B0.astype(int)):
        x = SequenceSolver(rtol=1e-10).solve(A0, b)
        assert_contract(A0, B0, x, 1e-10)


def test_bad_input_leaves_no_trace():
    s = SequenceSolver()
    s.solve(A0, B0)
    with pytest.raises(InvalidSystemError):
        s.solve(A0, np.full(N, np.nan))
    assert len(s.history) == 1


# ----------------------------------------------------------------------------- solver options
@pytest.mark.parametrize("kw", [dict(rtol=-1e-8), dict(atol=-1.0), dict(rtol=np.nan), dict(rtol=np.inf),
                                dict(atol=np.nan), dict(rtol=0.0, atol=0.0)],
                         ids=["rtol<0", "atol<0", "rtol-nan", "rtol-inf", "atol-nan", "both-zero"])
def test_bad_tolerances(kw):
    expect(InvalidSystemError, ValueError, "tol", SequenceSolver, **kw)
    expect(InvalidSystemError, ValueError, "tol", seqsolve.solve, A0, B0, **kw)


@pytest.mark.parametrize("kw", [dict(rtol="1e-8"), dict(rtol=None), dict(atol="0")], ids=["rtol-str", "rtol-None", "atol-str"])
def test_non_numeric_tolerances(kw):
    expect(SeqsolveError, (TypeError, ValueError), "tol", SequenceSolver, **kw)


@pytest.mark.parametrize("maxiter", [0, -5, 2.5], ids=["zero", "negative", "fractional"])
def test_bad_maxiter(maxiter):
    expect(InvalidSystemError, ValueError, "maxiter", SequenceSolver, maxiter=maxiter)


@pytest.mark.parametrize("maxiter", ["abc", float("nan"), float("inf")], ids=["string", "nan", "inf"])
def test_non_integer_maxiter(maxiter):
    expect(SeqsolveError, (TypeError, ValueError), "maxiter", SequenceSolver, maxiter=maxiter)


@pytest.mark.parametrize("context, fragment", [
    ([("c", 1.0)], "mapping"),
    ("c=1", "mapping"),
    ({"c": "large"}, "number"),
    ({"c": None}, "number"),
    ({"c": [1.0]}, "number"),
    ({"c": np.nan}, "finite"),
    ({"c": np.inf}, "finite"),
], ids=["list", "string", "str-value", "None-value", "list-value", "nan", "inf"])
def test_bad_context(context, fragment):
    err = expect(InvalidSystemError, ValueError, fragment, solve, A0, context=context)
    assert "context" in str(err)


def test_numeric_context_values_are_accepted():
    s = SequenceSolver()
    s.solve(A0, B0, context={"c": np.float32(2.5), "k": 3, "flag": True})
    assert s.history[-1].context == {"c": 2.5, "k": 3.0, "flag": 1.0}


# ----------------------------------------------------------------------------- names
@pytest.mark.parametrize("policy, fragments", [
    ("nonsense", ["unknown policy", "fixed"]),
    ("tsallis_inf_typo", ["unknown policy"]),
    ("fixed:conjugate-gradient", ["unknown configuration", "cg", "ssor-cg", "gmres"]),
    ("fixed:ssor-cg(omega=1.6", ["malformed"]),
    ("fixed:SSOR-CG", ["malformed"]),
    ("fixed:ssor-cg(omega=abc)", ["omega"]),
    ("fixed:ssor-cg(omega=2.5)", ["omega", "0 < omega < 2"]),
    ("fixed:sor(omega=0)", ["omega"]),
    ("fixed:cg(omega=1.5)", ["no parameter", "omega"]),
    ("fixed:amg-cg(sometimes)", ["setup"]),
    ("fixed:gmres(jacobi)", ["preconditioner"]),
    ("fixed:direct(1)", ["direct"]),
])
def test_bad_policy_and_configuration_names(policy, fragments):
    err = expect(ConfigurationError, ValueError, fragments[0], SequenceSolver, policy=policy)
    for f in fragments[1:]:
        assert f in str(err), str(err)
    expect(ConfigurationError, ValueError, fragments[0], seqsolve.solve, A0, B0, policy=policy)


@pytest.mark.parametrize("policy", [3, None, ["fixed:cg"]])
def test_policy_of_wrong_type(policy):
    expect(ConfigurationError, ValueError, "policy", SequenceSolver, policy=policy)


def test_unknown_backend():
    expect(ConfigurationError, ValueError, "backend", SequenceSolver, backend="petsc-typo")


def test_one_off_solve_validates_too():
    expect(UnsupportedTypeError, TypeError, "A", seqsolve.solve, "A", B0)
    expect(InvalidSystemError, ValueError, "shape", seqsolve.solve, A0, np.ones(3))
    expect(InvalidSystemError, ValueError, "NaN", seqsolve.solve, A0, B0, x0=np.full(N, np.nan))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_b_is_rejected_at_any_position(bad):
    from seqsolve.validation import as_vector

    for i in (0, 5, 99):
        b = np.ones(100)
        b[i] = bad
        with pytest.raises(seqsolve.InvalidSystemError, match="NaN or Inf"):
            as_vector(b, 100)
    assert as_vector(np.full(100, 1e308), 100).shape == (100,)  # huge but finite: accepted


def test_symmetry_blocks_cover_every_entry():
    from seqsolve.validation import symmetric_by_entries, transpose_permutation

    A = sp.csr_array(poisson2d(12))
    perm = transpose_permutation(A)
    assert all(symmetric_by_entries(A, perm, 4.0, part=(i, 16)) for i in range(16))
    for k in range(0, A.nnz, 37):  # an asymmetry anywhere is seen by exactly the block holding it
        B = A.copy()
        if perm[k] == k:
            continue
        B.data[k] += 0.5
        seen = [not symmetric_by_entries(B, perm, 4.0, part=(i, 16)) for i in range(16)]
        assert sum(seen) in (1, 2)  # its own block, and its transpose partner's when elsewhere
        assert not symmetric_by_entries(B, perm, 4.0)


def test_asymmetry_along_a_sequence_is_found_within_sixteen_matrices():
    """Between full checks each matrix has another block checked: a matrix of the same pattern
    that turns unsymmetric in one entry is found within 16 solves (the choice of method, never
    the accuracy, depends on it)."""
    A = sp.csr_array(poisson2d(10))
    b = np.ones(A.shape[0])
    s = SequenceSolver(policy="auto")
    for _ in range(3):
        s.solve(A, b)
    B = A.copy()
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    k = next(k for k in range(A.nnz // 2, A.nnz) if A.indices[k] != rows[k])  # off the diagonal
    B.data[k] += 0.3
    found = []
    for k in range(16):
        M = B * (1.0 + 1e-3 * k)  # new values each time: the symmetry is checked again
        s.solve(M, b)
        found.append(not s._sym_cache[1])
    assert any(found)


# ---------------------------------------------------------------- per-call fast paths (issue 9)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 1001])
def test_rhs_check_and_norm_in_one_pass(n):
    from seqsolve.accuracy import norm
    from seqsolve.validation import as_rhs

    b = np.random.default_rng(n).standard_normal(n)
    v, bnorm = as_rhs(b, n)
    assert v is b and bnorm == pytest.approx(norm(b), rel=1e-14)
    for scale in (1e-200, 1e200, 0.0):  # sums of squares outside the safe range: scaled norm
        assert as_rhs(b * scale, n)[1] == pytest.approx(norm(b * scale), rel=1e-14)
    for bad in (np.nan, np.inf, -np.inf):
        c = b.copy()
        c[-1] = bad
        with pytest.raises(InvalidSystemError, match="NaN or Inf"):
            as_rhs(c, n)
    v, bnorm = as_rhs(list(b), n)  # other inputs go through as_vector
    assert v.dtype == np.float64 and bnorm == pytest.approx(norm(b), rel=1e-14)



def test_rhs_checked_inside_the_matrix_scan():
    """``scan_matrix(A, b=b)`` checks ``b`` in the matrix's compiled pass: the same norm and the same
    errors as :func:`as_rhs` on its own (``A``'s first), and any other ``b`` is left to ``as_rhs``."""
    from seqsolve.accuracy import norm
    from seqsolve.validation import as_rhs, scan_matrix

    A = sp.csr_array(poisson2d(9))
    n = A.shape[0]
    b = np.random.default_rng(3).standard_normal(n)
    for scale in (1.0, 1e-200, 1e200, 0.0):
        c = b * scale
        scan = scan_matrix(A, b=c)
        assert scan.b is c and scan.fingerprint == scan_matrix(A).fingerprint
        v, cnorm = as_rhs(c, n, scan)
        assert v is c and cnorm == pytest.approx(norm(c), rel=1e-14)
    for bad in (np.nan, np.inf, -np.inf):
        c = b.copy()
        c[n // 2] = bad
        with pytest.raises(InvalidSystemError, match="b contains NaN or Inf"):
            scan_matrix(A, b=c)
        B = A.copy()
        B.data[3] = bad
        with pytest.raises(InvalidSystemError, match="A contains NaN or Inf"):
            scan_matrix(B, b=c)
    for other in (list(b), b[::-1][::-1].astype(np.float32), b[:-1], np.stack([b, b], 1)[:, 0], None):
        assert scan_matrix(A, b=other).b is None  # converted, or refused, by as_rhs as before
    with pytest.raises(InvalidSystemError, match="shape mismatch"):
        as_rhs(b[:-1], n, scan_matrix(A, b=b[:-1]))


@pytest.mark.parametrize("where", ["A", "b"])
def test_non_finite_input_rejected_along_a_sequence(where):
    """Along a sequence on the per-call fast path (fixed pattern, b checked inside the scan), a NaN
    in ``A`` or ``b`` is still refused with the error naming it, and the solver goes on after."""
    A = sp.csr_array(poisson2d(12))
    rng = np.random.default_rng(0)
    solver = SequenceSolver(policy="fixed:numba-ssor-cg(omega=1.5)")
    for _ in range(3):
        solver.solve(A, rng.standard_normal(A.shape[0]))
    B, b = A.copy(), rng.standard_normal(A.shape[0])
    (B.data if where == "A" else b)[5] = np.nan
    with pytest.raises(InvalidSystemError, match=f"{where} contains NaN or Inf"):
        solver.solve(B, b)
    b[5] = 1.0
    x = solver.solve(A, b)
    assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)

def test_blas_threads_limits_and_restores_every_library():
    from threadpoolctl import threadpool_info, threadpool_limits

    from seqsolve.solver import blas_threads

    def counts():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    with threadpool_limits(2, user_api="blas"):
        before = counts()
        with blas_threads(1):
            assert all(c == 1 for c in counts())
        assert counts() == before
        with threadpool_limits(1, user_api="blas"):
            with blas_threads(1):  # nothing to change
                assert all(c == 1 for c in counts())
            assert all(c == 1 for c in counts())
        with blas_threads(None):
            assert counts() == before



def test_blas_limit_waits_for_blas_work_under_a_compiled_fixed_policy():
    """A fixed compiled-PCG policy reads no BLAS thread counts while nothing calls BLAS, and still
    limits them for a fallback that may (here: direct, after numba-cg stopped at maxiter)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from seqsolve.configs import parse

    def counts():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    def spy(solver, name, seen):  # record the thread counts when the method's setup starts
        method = solver._method(parse(name))
        setup = method.setup
        method.setup = lambda *a, **k: (seen.setdefault(name, counts()), setup(*a, **k))[1]

    A = sp.csr_array(poisson2d(10))
    b = np.ones(A.shape[0])
    with threadpool_limits(2, user_api="blas"):
        before, seen = counts(), {}
        solver = SequenceSolver(policy="fixed:numba-cg", maxiter=2)
        spy(solver, "numba-cg", seen)
        spy(solver, "direct", seen)
        x = solver.solve(A, b)
        assert solver.history[-1].fallback == "direct"
        assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)
        assert seen["numba-cg"] == before and all(c == 1 for c in seen["direct"])
        assert counts() == before  # restored after the solve
        solver = SequenceSolver(policy="fixed:gmres(ilu)")  # a NumPy method: limited up front
        spy(solver, "gmres(ilu)", seen)
        solver.solve(A, b)
        assert all(c == 1 for c in seen["gmres(ilu)"]) and counts() == before

def test_fingerprint_sees_any_single_change():
    """The scan's value hash must never call changed values unchanged (setups, the scaled matrix
    and symmetry verdicts are reused while it is equal): one ulp, a sign, a swap of two entries."""
    from seqsolve.validation import scan_matrix

    A = sp.csr_array(poisson2d(7))
    base = scan_matrix(A)
    seen = {base.fingerprint}
    for k in range(A.nnz):
        for new in (np.nextafter(A.data[k], np.inf), -A.data[k], 0.0):
            B = A.copy()
            B.data[k] = new
            s = scan_matrix(B)
            assert s.pattern == base.pattern and s.fingerprint != base.fingerprint
            seen.add(s.fingerprint)
    B = A.copy()
    B.data[[0, 1]] = B.data[[1, 0]]  # same values, other places
    assert B.data[0] != A.data[0] and scan_matrix(B).fingerprint != base.fingerprint
    B = A.copy()
    B.indices[1], B.indices[2] = B.indices[2], B.indices[1]  # same values, another pattern
    assert scan_matrix(B).pattern != base.pattern


def test_fingerprint_sees_sign_flips_and_a_doubled_matrix():
    """Times an odd weight the sign bit alone adds 2^63 whatever the weight, so any two sign flips
    cancelled: ``-A`` with an even number of entries hashed as ``A``, and a solver answered ``-x``
    for ``-A`` (the scaled copy of ``A`` reused, its check passed on that copy: the contract fuzz).
    Changes in the upper bits of every entry cancelled the same way."""
    from seqsolve.validation import scan_matrix

    A = sp.csr_array(poisson2d(6))
    assert A.nnz % 2 == 0
    base = scan_matrix(A).fingerprint
    assert scan_matrix(-A).fingerprint != base
    rng = np.random.default_rng(4)
    for flips in (2, 3, 4, 8):
        for _ in range(20):
            B = A.copy()
            B.data[rng.choice(A.nnz, flips, replace=False)] *= -1.0
            assert scan_matrix(B).fingerprint != base
    # weights in arithmetic progression (w0 + w3 = w1 + w2): values swapped symmetrically cancelled,
    # so this matrix hashed as its negative even with each entry's halves folded (the fuzz, seed 146)
    M = sp.csr_array(np.array([[2e180, -1e180], [-1e180, 2e180]]))
    assert scan_matrix(-M).fingerprint != scan_matrix(M).fingerprint
    # no two of the 4-entry matrices over eleven values hash alike (12 % did with folded halves)
    values = [1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, 1e180, -1e180, 2e180, -2e180]
    seen = set()
    for entries in itertools.product(values, repeat=4):
        seen.add(scan_matrix(sp.csr_array(np.array(entries).reshape(2, 2))).fingerprint)
    assert len(seen) == len(values) ** 4
    # a whole matrix doubled (every exponent + 1: 2^52 more per entry) summed to a multiple of 2^64
    # for one even nnz in 4,096 before the fold, e.g. 3,268
    D = sp.csr_array(sp.diags(np.random.default_rng(0).uniform(1.0, 1.9, 3268)))
    assert scan_matrix(2.0 * D).fingerprint != scan_matrix(D).fingerprint
    # end to end: entries so large that the solver works on a scaled copy, kept per fingerprint
    big = sp.csr_array(A * 1e300)
    b = np.ones(A.shape[0])
    solver = SequenceSolver(policy="fixed:direct")
    for sign in (1.0, -1.0, 1.0):
        x = solver.solve(sign * big, b)
        np.testing.assert_allclose(sign * big @ x, b, rtol=1e-10)
    big, b = sp.csr_array(D * 1e300), np.ones(3268)
    for scale in (1.0, 2.0):
        x = solver.solve(scale * big, b)
        np.testing.assert_allclose(scale * big @ x, b, rtol=1e-10)


def test_pattern_hash_sees_index_changes_whatever_the_index_width_and_layout():
    """The pattern hash reads int32 indices two a word: each index, the odd one out and the row
    pointers must still count, for int64 and strided index arrays too."""
    from seqsolve.validation import scan_matrix

    A = sp.csr_array(poisson2d(5))
    assert A.nnz % 2 == 1  # an odd one out
    rng = np.random.default_rng(7)

    def layouts(indices, indptr):
        for dtype in (np.int32, np.int64):
            yield indices.astype(dtype), indptr.astype(dtype)
            wide = np.zeros(2 * indices.size, dtype=dtype)
            wide[::2] = indices
            yield wide[::2], indptr.astype(dtype)  # strided column indices

    for indices, indptr in layouts(A.indices, A.indptr):
        base = sp.csr_array((A.data, indices, indptr), shape=A.shape)
        # (SciPy keeps the arrays as given: each layout reaches the kernel as it is)
        assert base.indices.dtype == indices.dtype and base.indices.flags.c_contiguous == indices.flags.c_contiguous
        pattern = scan_matrix(base).pattern
        assert scan_matrix(sp.csr_array((A.data.copy(), indices.copy(), indptr.copy()), shape=A.shape)).pattern == pattern
        for k in list(rng.choice(A.nnz - 1, 12, replace=False)) + [A.nnz - 1]:
            moved = indices.copy()
            moved[k] = (moved[k] + 1 + rng.integers(A.shape[0] - 1)) % A.shape[0]
            assert scan_matrix(sp.csr_array((A.data, moved, indptr), shape=A.shape)).pattern != pattern
            swapped = indices.copy()
            j = (k + 1) % A.nnz
            swapped[k], swapped[j] = indices[j], indices[k]
            if swapped[k] != indices[k]:
                assert scan_matrix(sp.csr_array((A.data, swapped, indptr), shape=A.shape)).pattern != pattern
        shifted = indptr.copy()
        shifted[3] += 1  # one entry moved from row 3 to row 2
        assert scan_matrix(sp.csr_array((A.data, indices, shifted), shape=A.shape)).pattern != pattern


def test_symmetry_folded_into_the_scan_matches_the_separate_check():
    """``scan_matrix(A, (pattern, perm, lo, hi))`` gives the verdict of ``symmetric_by_entries``
    on entries lo:hi, and none at all when ``A`` does not have the expected pattern."""
    from seqsolve.validation import scan_matrix, symmetric_by_entries, transpose_permutation

    A = sp.csr_array(poisson2d(9))
    perm = transpose_permutation(A)
    pattern = scan_matrix(A).pattern
    m = 16
    blocks = [(i * A.nnz // m, (i + 1) * A.nnz // m) for i in range(m)] + [(0, A.nnz)]
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    for k in [k for k in range(A.nnz) if A.indices[k] != rows[k]][::11]:
        B = A.copy()
        B.data[k] *= 1 + 1e-6
        for (lo, hi), part in zip(blocks, [(i, m) for i in range(m)] + [None]):
            got = scan_matrix(B, (pattern, perm, lo, hi)).symmetric
            assert got == symmetric_by_entries(B, perm, float(abs(B.data).max()), part=part)
            assert scan_matrix(A, (pattern, perm, lo, hi)).symmetric is True
    C = sp.csr_array(poisson2d(9) + sp.eye(81, k=3))  # another pattern: no verdict
    assert scan_matrix(C, (pattern, perm, 0, A.nnz)).symmetric is None
    assert scan_matrix(A).symmetric is None and scan_matrix(A, (pattern, perm, 5, 5)).symmetric is None


def test_symmetry_tests_go_on_after_a_pattern_change():
    """The transpose permutation and the sampling schedule belong to one pattern: after a change
    of pattern the first matrix is checked in full (right at once), and within one pattern an
    asymmetry that appears is found within 16 matrices."""
    A = sp.csr_array(poisson2d(8))
    U = A.copy()
    U.data[3] += 0.5  # same pattern, unsymmetric
    C = sp.csr_array(poisson2d(8) + 0.1 * sp.eye(64, k=2) + 0.1 * sp.eye(64, k=-2))  # another pattern
    b = np.ones(64)
    s = SequenceSolver(policy="auto")
    step = 0
    for M, runs, expect in [(A, 20, True), (C, 3, True), (U, 3, False), (C, 2, True), (A, 20, True)]:
        for _ in range(runs):
            step += 1
            s.solve(M * (1 + 1e-4 * step), b)  # new values each time
            assert s._sym_cache[1] is expect, step
    found = []
    for _ in range(16):
        step += 1
        s.solve(U * (1 + 1e-4 * step), b)
        found.append(not s._sym_cache[1])
    assert any(found) and found[-1]  # once seen, checked in full until symmetric again


def test_record_of_is_the_same_record():
    import dataclasses

    from seqsolve.records import SolveRecord

    r = SolveRecord(3, "cg", 7, 0.1, 0.2, 1e-9, True, context={"c": 1.0}, explored=True)
    assert SolveRecord.of(dict(r.__dict__)) == r and SolveRecord.of(dict(r.__dict__)).to_dict() == r.to_dict()
    d = dict(r.__dict__)
    with pytest.raises(dataclasses.FrozenInstanceError):
        SolveRecord.of(dict(d)).status = "x"
    with pytest.raises(TypeError, match="missing"):
        SolveRecord.of({k: v for k, v in d.items() if k != "status"})
    with pytest.raises(TypeError, match="unknown"):
        SolveRecord.of({**d, "statuss": "x"})


def test_solver_records_have_exactly_the_record_fields():
    """SolveRecord.of checks only the count: the solver's own dictionary must name every field."""
    from dataclasses import fields

    from seqsolve.records import SolveRecord

    s = SequenceSolver(policy="fixed:numba-ssor-cg")
    A = sp.csr_array(poisson2d(6))
    s.solve(A, np.ones(36))
    s.solve(A, np.zeros(36))  # the zero right-hand side's record
    for r in s.history:
        assert set(vars(r)) == {f.name for f in fields(SolveRecord)}
        assert r == SolveRecord(**vars(r))


def _reference_transpose_permutation(A):
    """SciPy's transpose of the entries' positions (the kernel's independent reference)."""
    P = sp.csr_array((np.arange(A.nnz, dtype=np.float64), A.indices, A.indptr), shape=A.shape)
    T = P.T.tocsr()
    T.sort_indices()
    if not (np.array_equal(T.indptr, A.indptr) and np.array_equal(T.indices, A.indices)):
        return None
    return T.data.astype(np.int64)


@pytest.mark.parametrize("seed", range(6))
def test_transpose_permutation_matches_scipys_transpose(seed):
    from seqsolve.validation import transpose_permutation

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    R = sp.random(n, n, density=float(rng.uniform(0.0, 0.3)), random_state=seed, format="csr")
    for M in (R + R.T, R, R + R.T + sp.eye(n), sp.csr_array((n, n))):  # symmetric patterns, and not
        A = sp.csr_array(M)
        A.sum_duplicates()
        got, want = transpose_permutation(A), _reference_transpose_permutation(A)
        assert (got is None) == (want is None)
        if want is not None:
            assert np.array_equal(got, want)
            rows = np.repeat(np.arange(n), np.diff(A.indptr))
            assert np.array_equal(rows[got], A.indices) and np.array_equal(A.indices[got], rows)


def test_transpose_permutation_refuses_unsorted_or_out_of_range_rows():
    from seqsolve.validation import transpose_permutation

    A = sp.csr_array(poisson2d(5))
    U = A.copy()
    U.indices[U.indptr[3]:U.indptr[4]] = U.indices[U.indptr[3]:U.indptr[4]][::-1].copy()  # row 3 reversed
    assert transpose_permutation(U) is None
    B = sp.csr_array((A.data.copy(), A.indices.copy(), A.indptr.copy()), shape=A.shape)
    B.indices[-1] = A.shape[0] + 7  # a column past the end: refused, never read out of bounds
    assert transpose_permutation(B) is None


def test_the_residual_kernels_of_the_matrix_index_width_load_before_the_first_attempt(monkeypatch):
    """Each CSR index width is its own compiled kernel signature; a first solve on int64 indices
    had the residual kernels' load timed inside the first configuration's attempt, and the learner
    believed that speed (SSOR-PCG's first solve read 7 ms for 2.5).  The width is loaded first."""
    import seqsolve.accuracy as accuracy

    monkeypatch.setattr(accuracy, "_LOADED_WIDTHS", set())
    A = sp.csr_array(sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(50, 50)))
    wide = sp.csr_array((A.data, A.indices.astype(np.int64), A.indptr.astype(np.int64)), shape=A.shape)
    assert wide.indices.dtype == np.int64
    loaded_at_attempt = []
    attempt = SequenceSolver._attempt

    def spy(self, *args, **kwargs):
        loaded_at_attempt.append(set(accuracy._LOADED_WIDTHS))
        return attempt(self, *args, **kwargs)

    monkeypatch.setattr(SequenceSolver, "_attempt", spy)
    s = SequenceSolver(policy="auto")
    for k in range(3):  # the same solver meets int64, then int32, then int64 indices again
        M = wide if k != 1 else A
        x = s.solve(M * (1 + 0.1 * k), np.ones(50))
        assert np.linalg.norm(np.ones(50) - (M * (1 + 0.1 * k)) @ x) <= 1e-8 * np.sqrt(50)
        assert np.dtype(M.indices.dtype) in loaded_at_attempt[-1]
