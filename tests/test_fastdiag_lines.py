"""fast-diag's line path (eigenbases on all axes but one, tridiagonal solves along it) and what
``auto`` does with an exact structured incumbent."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from seqsolve import SequenceSolver, SolveRecord
from seqsolve import errors as seqsolve_errors
from seqsolve.operators import KroneckerSum, as_structure
from seqsolve.policies import AutoPolicy
from seqsolve.policies.base import SystemFacts
from seqsolve.problems import Heat2D
from seqsolve.solvers import fastdiag
from seqsolve.solvers.fastdiag_lines import LinesPrepared

from test_structured import assembled_sum, spd, tridiag


def variable_tridiag(m: int, seed: int) -> sp.csr_array:
    """A symmetric tridiagonal factor with varying entries (a 1-D variable-coefficient operator)."""
    rng = np.random.default_rng(seed)
    e = -(0.5 + rng.random(m - 1))
    a = 2.5 + rng.random(m)
    return sp.csr_array(sp.diags_array([e, a, e], offsets=[-1, 0, 1]))


def prepared_for(K: KroneckerSum, A) -> object:
    return fastdiag.FastDiag().setup(A, None, structure=as_structure(K, A))


@pytest.mark.parametrize("factors, shift, scale", [
    (lambda: [tridiag(9), tridiag(7)], 1.0, 0.3),                       # sine bases, dense
    (lambda: [tridiag(130), tridiag(129, 3.0)], 0.5, 1.7),              # scipy.fft.dst on axis 1
    (lambda: [variable_tridiag(12, 1), spd(5, 2)], 0.0, 1.0),           # varying tridiagonal, eigh
    (lambda: [tridiag(6), spd(4, 3), tridiag(5)], 0.2, 0.9),            # 3-D
    (lambda: [tridiag(8), tridiag(8)], -1.0, -0.5),                     # negative definite
    (lambda: [tridiag(20), tridiag(20)], 1.0, 2.5e3),                   # Heat2D-like: I + large c·L
])
def test_line_path_equals_spsolve(factors, shift, scale):
    fs = factors()
    K = KroneckerSum(fs, shift=shift, scale=scale)
    A = assembled_sum(fs, shift, scale)
    b = np.random.default_rng(7).standard_normal(K.shape[0])
    ref = spsolve(sp.csc_matrix(A), b)
    prepared = prepared_for(K, A)
    assert isinstance(prepared, LinesPrepared)
    np.testing.assert_allclose(prepared.apply(b), ref, rtol=0, atol=1e-10 * np.abs(ref).max())
    x = SequenceSolver(policy="fixed:fast-diag", rtol=1e-12).solve(A, b, structure=K)
    np.testing.assert_allclose(x, ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def test_an_indefinite_sum_keeps_the_full_diagonalisation():
    # eigenvalues of tridiag(6) lie in (0, 4): shift −3 makes the sum indefinite (but nonsingular)
    fs = [tridiag(6), tridiag(5)]
    K = KroneckerSum(fs, shift=-3.0)
    A = assembled_sum(fs, -3.0, 1.0)
    prepared = prepared_for(K, A)
    assert not isinstance(prepared, LinesPrepared)
    b = np.random.default_rng(1).standard_normal(30)
    ref = spsolve(sp.csc_matrix(A), b)
    np.testing.assert_allclose(prepared.apply(b), ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def test_a_factor_that_is_not_tridiagonal_keeps_the_full_diagonalisation():
    K = KroneckerSum([spd(5, 1), tridiag(4)], shift=1.0)
    assert not isinstance(prepared_for(K, K.tocsr()), LinesPrepared)


def test_the_cached_line_form_is_rebuilt_when_the_factors_change():
    solver = SequenceSolver(policy="fixed:fast-diag", rtol=1e-12)
    b = np.random.default_rng(3).standard_normal(12 * 10)
    before = fastdiag.counters["eigendecompositions"]
    for seed in (1, 2, 1):  # new factors, other factors, the first ones again (cached)
        fs = [variable_tridiag(12, seed), tridiag(10)]
        K = KroneckerSum(fs, shift=0.5)
        A = K.tocsr()
        x = solver.solve(A, b, structure=K)
        ref = spsolve(sp.csc_matrix(A), b)
        np.testing.assert_allclose(x, ref, rtol=0, atol=1e-10 * np.abs(ref).max())
        assert solver.history[-1].fallback is None
    # factor 0's eigenvalues per distinct factor (2) and tridiag(10)'s sine basis once (shared)
    assert fastdiag.counters["eigendecompositions"] - before == 3


def test_heat2d_fast_diag_equals_spsolve_along_the_sequence():
    problem = Heat2D(nx=24, steps=4)
    solver = SequenceSolver(policy="fixed:fast-diag", rtol=1e-12)
    for _ in range(4):
        s = problem.system()
        x = solver.solve(s.A, s.b, context=s.context, structure=s.structure)
        ref = spsolve(sp.csc_matrix(s.A), s.b)
        np.testing.assert_allclose(x, ref, rtol=0, atol=1e-10 * np.abs(ref).max())
        problem.accept(x)
    assert [r.iterations for r in solver.history] == [1] * 4


FD, CG, AMG = "fast-diag", "numba-cg", "amg-cg(adaptive)"


def test_auto_commits_long_to_an_exact_structured_incumbent_and_does_not_screen_amg():
    # scripted costs: fast-diag 0.3 ms whatever the context; CG 20 µs per iteration, 30 iterations;
    # AMG 5 ms setup + 1 ms per V-cycle.  The context drifts across many bins.
    p = AutoPolicy(candidates=[FD, CG, AMG], seed=0)
    chosen, decisions = [], 0
    for t in range(3000):
        p.observe(SystemFacts(10_000, repeated=False, ready=frozenset()))
        committed = p._commit is not None and p._commit[1] > 0
        c = p.select({"c": 2.0 ** (-12 + (t % 600) / 25)}, n=10_000).name
        decisions += not committed
        its, setup, solve = {FD: (1, 0.0, 3e-4), CG: (30, 0.0, 6e-4 + 1e-5), AMG: (8, 5e-3, 8e-3)}[c]
        rec = SolveRecord(index=t, configuration=c, iterations=its, setup_seconds=setup, solve_seconds=solve,
                          residual=1e-9, converged=True, fallback=None, setup_reused=False)
        p.update(rec.seconds, rec)
        chosen.append(c)
    assert AMG not in chosen
    assert chosen[100:].count(FD) >= 0.98 * len(chosen[100:])
    assert decisions < 3000 / 20  # commitments of 64 systems, across bins


def test_the_committed_update_changes_the_state_as_the_full_update_does(monkeypatch):
    def run(lean: bool):
        p = AutoPolicy(candidates=[FD, CG], seed=0)
        if not lean:
            monkeypatch.setattr(p, "_update_committed", lambda *a: False)
        rng = np.random.default_rng(5)
        chosen = []
        for t in range(600):
            p.observe(SystemFacts(10_000, repeated=False, ready=frozenset()))
            c = p.select({"c": 2.0 ** (-8 + (t % 200) / 25)}, n=10_000).name
            noise = 1.0 + 0.3 * rng.random() + (2.0 if t % 97 == 0 else 0.0)  # spikes end commitments
            its, solve = {FD: (1, 3e-4), CG: (30, 6e-4)}[c]
            rec = SolveRecord(index=t, configuration=c, iterations=its, setup_seconds=2e-5, solve_seconds=solve * noise,
                              residual=1e-9, converged=True, fallback=None, setup_reused=False)
            p.update(rec.seconds, rec)
            chosen.append(c)
        return p, chosen

    (lean, a), (full, b) = run(True), run(False)
    assert a == b
    for attr in ("stats_", "per_iteration_", "_last_per", "_scale", "spent_total_", "setup_low_", "_samples",
                 "_last_run", "_commit", "_streak", "mean_run_", "fixed_"):
        assert getattr(lean, attr) == getattr(full, attr), attr


@pytest.mark.parametrize("m, shift, lifted", [(15, 1.0, False), (63, 0.0, True)])
def test_fastdiag_cg_preconditions_with_line_solves_of_the_lifted_nearest_sum(m, shift, lifted):
    from seqsolve.operators import Structure, nearest_kronecker_sum
    from test_structured import variable_diffusion

    A = sp.csr_array(shift * sp.eye_array(m * m) + 1e-3 * variable_diffusion(m))
    method = fastdiag.FastDiagCG()
    op = method.setup(A, None, structure=Structure((m, m)))
    K = fastdiag._canonical(nearest_kronecker_sum(A, (m, m), rowsums=True))
    assert isinstance(method.preconditioner(K), LinesPrepared)
    l1, l2 = (np.linalg.eigvalsh(f.dense()) for f in K.factors)  # K's eigenvalues: shift + scale·(l1 ⊕ l2)
    lo, hi = sorted([K.shift + K.scale * (l1[0] + l2[0]), K.shift + K.scale * (l1[-1] + l2[-1])])
    lift = max(0.0, fastdiag.CLAMP * hi - lo)  # the smallest eigenvalues lifted to CLAMP·largest
    assert (lift > 0) == lifted
    b = np.random.default_rng(2).standard_normal(m * m)
    ref = spsolve(sp.csc_matrix(K.with_scalars(K.shift + lift, K.scale).tocsr()), b)
    np.testing.assert_allclose(op.matvec(b), ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def run_with_a_burst(p: AutoPolicy, burst: range) -> list[str]:
    """fast-diag 0.3 ms (5 ms during ``burst``: machine load), CG 30 iterations in 0.6 ms."""
    chosen = []
    for t in range(600):
        p.observe(SystemFacts(10_000, repeated=False, ready=frozenset()))
        c = p.select({"c": 2.0 ** (-8 + t / 100)}, n=10_000).name
        its, solve = {FD: (1, 5e-3 if t in burst else 3e-4), CG: (30, 6e-4)}[c]
        rec = SolveRecord(index=t, configuration=c, iterations=its, setup_seconds=0.0, solve_seconds=solve,
                          residual=1e-9, converged=True, fallback=None, setup_reused=False)
        p.update(rec.seconds, rec)
        chosen.append(c)
    return chosen


def test_a_burst_of_load_does_not_price_fast_diag_out(monkeypatch):
    chosen = run_with_a_burst(AutoPolicy(candidates=[FD, CG], seed=0), range(200, 203))
    assert chosen[210:].count(FD) >= 0.95 * len(chosen[210:])
    # the lower of the last two samples alone (iterative families' rule) would have been priced out
    p = AutoPolicy(candidates=[FD, CG], seed=0)
    monkeypatch.setattr(p, "_low_per", lambda fam, size, per, last: min(per, last))
    chosen = run_with_a_burst(p, range(200, 203))
    assert chosen[210:].count(FD) < 0.5 * len(chosen[210:])


def test_a_commitment_to_fast_diag_does_not_carry_to_another_grid_size():
    p = AutoPolicy(candidates=[FD, CG], seed=0)
    for t in range(300):
        p.observe(SystemFacts(10_000, repeated=False, ready=frozenset()))
        c = p.select({"c": 2.0 ** (-8 + t / 50)}, n=10_000).name
        its, solve = {FD: (1, 3e-4), CG: (30, 6e-4)}[c]
        p.update(solve, SolveRecord(index=t, configuration=c, iterations=its, setup_seconds=0.0, solve_seconds=solve,
                                    residual=1e-9, converged=True, fallback=None, setup_reused=False))
    assert p._commit is not None and p._commit[2] == FD and p._commit[1] > 0
    p.observe(SystemFacts(40_000, repeated=False, ready=frozenset()))
    left = p._commit[1]
    p.select({"c": 1.0}, n=40_000)
    assert p._last[0][0] == 15  # decided in a bin of the new size ...
    assert p._commit is None or p._commit[1] != left - 1  # ... by a full decision, not the commitment


def palindromic_tridiag(m: int, seed: int) -> sp.csr_array:
    """A symmetric tridiagonal factor with varying entries that reads the same reversed (persymmetric)."""
    rng = np.random.default_rng(seed)
    a = 2.5 + rng.random(m)
    e = -(0.5 + rng.random(m - 1))
    a, e = 0.5 * (a + a[::-1]), 0.5 * (e + e[::-1])
    return sp.csr_array(sp.diags_array([e, a, e], offsets=[-1, 0, 1]))


@pytest.mark.parametrize("second, folds", [
    (lambda: tridiag(9), True),                     # the sine basis, odd n
    (lambda: tridiag(10), True),                    # even n
    (lambda: palindromic_tridiag(11, 4), True),     # eigh's basis of a persymmetric factor
    (lambda: variable_tridiag(11, 5), False),       # not persymmetric: the full product
])
def test_folded_transform_solves_exactly_and_only_for_persymmetric_factors(second, folds):
    T2 = second()
    K = KroneckerSum([tridiag(7), T2], shift=0.7, scale=1.3)
    A = assembled_sum([tridiag(7), T2], 0.7, 1.3)
    prep = prepared_for(K, A)
    assert isinstance(prep, LinesPrepared)
    assert (prep.lines.fold is not None) == folds
    b = np.random.default_rng(1).standard_normal(A.shape[0])
    x = prep.apply(b)
    assert np.linalg.norm(x - spsolve(sp.csc_matrix(A), b)) <= 1e-12 * np.linalg.norm(x)
    if folds:  # the same answer as the unfolded product, to rounding
        fold, prep.lines.fold = prep.lines.fold, None
        assert np.allclose(prep.apply(b), x, rtol=0, atol=1e-13 * np.abs(x).max())
        prep.lines.fold = fold


def test_the_solver_runs_a_stretch_without_asking_and_hands_it_over_on_access():
    seen, calls = [], []

    class Spy(AutoPolicy):
        def observe(self, facts):
            seen.append(facts)
            super().observe(facts)

        def select(self, *a, **k):
            calls.append(1)
            return super().select(*a, **k)

    problem, solver = Heat2D(64, 300), SequenceSolver(policy=Spy(seed=0))
    for _ in range(300):
        s = problem.system()
        x = solver.solve(s.A, s.b, context=s.context, structure=s.structure)
        assert np.linalg.norm(s.A @ x - s.b) <= 1e-8 * np.linalg.norm(s.b) * 1.01
        problem.accept(x)
    chosen = [r.configuration for r in solver.history]
    assert chosen[20:].count("fast-diag") >= 0.97 * len(chosen[20:])
    assert len(seen) < 300 / 4 and len(calls) < 300 / 4  # observed and asked only where a decision is made
    p = solver.policy  # the access handed the stretch's records over
    assert solver._stretch is None and p.t_ == 300
    count = sum(v[1] for b in p.stats_.values() for k, v in b.items() if k == "fast-diag")
    assert count == chosen.count("fast-diag")  # every committed solve learned from, once
    assert p.state_dict()["t"] == 300


def _heat_like(m: int, c: float):
    T = tridiag(m)
    K = KroneckerSum([T, T], shift=1.0, scale=c)
    return K, assembled_sum([T, T], 1.0, c)


def test_an_exact_hint_spares_the_scan_of_A_and_never_decides_the_answer(monkeypatch):
    import seqsolve.solver as solver_module

    scans = []
    real_scan = solver_module.scan_matrix
    monkeypatch.setattr(solver_module, "scan_matrix", lambda *a, **k: scans.append(1) or real_scan(*a, **k))
    rng = np.random.default_rng(0)
    s = SequenceSolver(policy="fixed:fast-diag", rtol=1e-10)
    for c in (0.5, 2.0, 30.0):
        K, A = _heat_like(9, c)
        b = rng.standard_normal(A.shape[0])
        x = s.solve(A, b, structure=K)
        assert np.linalg.norm(x - spsolve(sp.csc_matrix(A), b)) <= 1e-9 * np.linalg.norm(x)
    assert not scans  # the fingerprint, symmetry and magnitude came from the factors
    assert [r.matrix_repeated for r in s.history] == [False, False, False]

    # a wrong hint: the answer still solves A (the general path, after a failed lean attempt)
    K, A = _heat_like(9, 2.0)
    _, A2 = _heat_like(9, 3.0)
    x = s.solve(A2, b, structure=K)
    assert scans and np.linalg.norm(A2 @ x - b) <= 1e-10 * np.linalg.norm(b) * 1.01
    # entries that are not finite are still named as such
    A3 = A.copy()
    A3.data[5] = np.nan
    with pytest.raises(seqsolve_errors.InvalidSystemError):
        s.solve(A3, b, structure=K)
    # a system far outside the unscaled range takes the general path and is still certified
    x = s.solve(A * 2.0**200, b, structure=K.with_scalars(2.0**200, 2.0 * 2.0**200))
    assert np.linalg.norm(A @ x * 2.0**200 - b) <= 1e-10 * np.linalg.norm(b) * 1.01


def test_auto_with_an_exact_hint_runs_what_reads_entries_on_the_general_path(monkeypatch):
    # every configuration auto tries with the hint given is certified on A, whichever path it took
    problem, solver = Heat2D(24, 60), SequenceSolver(policy="auto", rtol=1e-9)
    for _ in range(60):
        s = problem.system()
        x = solver.solve(s.A, s.b, context=s.context, structure=s.structure)
        assert np.linalg.norm(s.A @ x - s.b) <= 1e-9 * np.linalg.norm(s.b) * 1.01
        problem.accept(x)
    assert len({r.configuration for r in solver.history}) >= 2  # iterative ones were tried too


@pytest.mark.parametrize("factors, shift, scale", [
    (lambda: [tridiag(5), tridiag(4)], 1.0, -0.3), (lambda: [spd(4, 1), tridiag(3, 2.0)], -2.0, 0.7),
    (lambda: [tridiag(3), spd(3, 2), tridiag(2)], 0.0, 1.0), (lambda: [np.array([[2.0]]), tridiag(3)], 0.5, 1.0)])
def test_the_largest_entry_of_a_sum_comes_from_its_factors(factors, shift, scale):
    from seqsolve.operators.structure import sum_max_abs

    fs = factors()
    assert sum_max_abs(KroneckerSum(fs, shift, scale)) == pytest.approx(abs(assembled_sum(fs, shift, scale)).max(), rel=1e-15)


def test_a_stretch_handed_to_the_solver_teaches_what_choosing_each_system_would():
    from test_stretches import LEARNED, replay

    def run(stretches: bool):
        p, rng = AutoPolicy(candidates=[FD, CG], seed=0), np.random.default_rng(5)

        def record(t, c, ctx):
            noise = 1.0 + 0.3 * rng.random() + (2.0 if t % 97 == 0 else 0.0)  # spikes end commitments
            its, solve = {FD: (1, 3e-4), CG: (30, 6e-4)}[c]
            return SolveRecord(index=t, configuration=c, iterations=its, setup_seconds=2e-5,
                               solve_seconds=solve * noise, residual=1e-9, converged=True, context=ctx)

        return p, replay(p, 10_000, 600, lambda t: {"c": 2.0 ** (-8 + (t % 200) / 25)}, record, stretches)

    (a, ca), (b, cb) = run(True), run(False)
    assert ca == cb and ca.count(FD) > 400
    for attr in LEARNED:
        assert getattr(a, attr) == getattr(b, attr), attr

