"""Committed stretches of iterative configurations (issue 8, "cheap when settled"): the policy hands
a commitment to the solver, which runs it without asking, on the lean compiled path where it can,
and hands the records back in one batch that teaches what choosing each system would have."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from seqsolve import SequenceSolver, SolveRecord
from seqsolve.errors import InvalidSystemError
from seqsolve.policies import AutoPolicy
from seqsolve.policies.base import Stretch, SystemFacts

CG, SSOR = "numba-cg", "numba-ssor-cg(omega=1.2)"


def _laplacian(m: int, shift: float) -> sp.csr_array:
    T = sp.diags([-np.ones(m - 1), 2.0 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    I = sp.identity(m)
    return sp.csr_array(sp.kron(I, T) + sp.kron(T, I) + shift * sp.identity(m * m))


class _Spy(AutoPolicy):
    """Counts the decisions the solver asks for."""

    def __init__(self, *a, **k) -> None:
        super().__init__(*a, **k)
        self.selects = 0

    def select(self, *a, **k):
        self.selects += 1
        return super().select(*a, **k)


def test_a_settled_iterative_choice_runs_without_asking_and_every_solve_is_learned_once():
    m, steps = 24, 300
    rng = np.random.default_rng(0)
    policy = _Spy(candidates=[CG, SSOR], seed=0)
    solver = SequenceSolver(policy=policy, rtol=1e-9)
    for t in range(steps):
        A = _laplacian(m, 0.5 + 0.1 * np.sin(t / 30))
        b = np.ones(m * m) + 0.01 * rng.standard_normal(m * m)
        x = solver.solve(A, b)
        assert np.linalg.norm(b - A @ x) <= 1e-9 * np.linalg.norm(b) * (1 + 1e-12)  # certified, stretch or not
    p = solver.policy  # the access hands the last stretch's records over
    assert solver._stretch is None and p.t_ == steps
    assert policy.selects < 0.7 * steps  # asked only where a decision is made (~1/4 on a quiet machine)
    counted = sum(v[1] for b in p.stats_.values() for v in b.values())
    assert counted == steps  # every solve learned from, once
    # the lean path ran the committed solves: no policy time was spent on them
    lean = [r for r in solver.history if r.policy_seconds == 0.0 or r.policy_seconds < 1e-6]
    assert len(lean) > steps / 10  # (~2/3 on a quiet machine; commitments end on slow solves under load)


def test_a_context_outside_the_commitment_ends_the_stretch_before_it_is_solved():
    m = 16
    policy = _Spy(candidates=[CG, SSOR], seed=0)
    solver = SequenceSolver(policy=policy, rtol=1e-9)
    A, b = _laplacian(m, 1.0), np.ones(m * m)
    t = 0
    while solver._stretch is None and t < 200:  # a settled run in the bin of c = 1
        solver.solve(A, b + 1e-3 * t, context={"c": 1.0})
        t += 1
    st = solver._stretch
    assert st is not None and st.admits is not None and st.admits({"c": 1.0})
    assert not st.admits({"c": 1e6})  # a bin no full decision there covered
    for bad in ({"c": "x"}, {"c": float("nan")}, ["c"]):  # named as on any path, the stretch kept
        with pytest.raises(InvalidSystemError):
            solver.solve(A, b, context=bad)
    assert solver._stretch is st
    before = policy.selects
    solver.solve(A, b, context={"c": 1e6})
    assert policy.selects == before + 1  # decided, not run on the commitment
    assert policy.t_ == len(solver.history)


#: the policy state a stretch's batch must leave as per-system updates would
LEARNED = ("stats_", "per_iteration_", "_last_per", "_scale", "spent_total_", "setup_low_", "_samples",
           "_last_run", "_commit", "_streak", "mean_run_", "fixed_", "t_")


def replay(policy: AutoPolicy, n: int, steps: int, context_of, record_of, stretches: bool) -> list[str]:
    """Drive ``policy`` over ``steps`` systems of size ``n`` as the solver does: a stretch it hands
    over runs without select/update, ends on a context it does not admit (handed back first) or a
    record it must see, and is absorbed in one batch; ``stretches=False`` decides every system.
    ``record_of(t, configuration, context)`` makes each solve's record.  Returns the choices."""
    chosen, st = [], None
    for t in range(steps):
        ctx = context_of(t)
        if st is not None and st.admits is not None and not st.admits(ctx):
            policy.absorb(st.records)
            st = None
        if st is None:
            policy.observe(SystemFacts(n, repeated=False, ready=frozenset()))
            c = policy.select(ctx, n=n).name
        else:
            c, st.left = st.config.name, st.left - 1
        rec = record_of(t, c, ctx)
        if st is not None:
            st.records.append(rec)
            if st.ends_after(rec):
                policy.absorb(st.records)
                st = None
        else:
            policy.update(rec.seconds, rec)
            st = policy.stretch() if stretches else None
            assert st is None or isinstance(st, Stretch)
        chosen.append(c)
    if st is not None:
        policy.absorb(st.records)
    return chosen


def test_a_stretch_of_an_iterative_choice_teaches_what_choosing_each_system_would():
    def run(stretches: bool):
        p, rng = AutoPolicy(candidates=[CG, SSOR], seed=0), np.random.default_rng(3)

        def record(t, c, ctx):
            noise = 1.0 + 0.3 * rng.random() + (1.5 if t % 53 == 0 else 0.0)  # spikes end commitments
            its = int({CG: 40, SSOR: 22}[c] * (1.0 + (t % 300) / 100))  # the iterations grow with the context
            return SolveRecord(index=t, configuration=c, iterations=its, setup_seconds=3e-5 * rng.random(),
                               solve_seconds=its * {CG: 1e-5, SSOR: 2e-5}[c] * noise, residual=1e-9,
                               converged=True, context=ctx)

        return p, replay(p, 4096, 800, lambda t: {"c": 2.0 ** (-6 + (t % 300) / 40)}, record, stretches)

    (a, ca), (b, cb) = run(True), run(False)
    assert ca == cb
    for attr in LEARNED:
        assert getattr(a, attr) == getattr(b, attr), attr


def test_a_streak_survives_an_exploration_and_a_new_omega_of_the_same_family():
    p = AutoPolicy(candidates=[CG, SSOR, "numba-ssor-cg(omega=1.5)"], seed=0)
    b = (10, None)
    p._streak = [b, SSOR, 3]
    p._commit_to(b, None, exploring=True)  # an optional try in between
    assert p._streak == [b, SSOR, 3]
    p._commit_to(b, "numba-ssor-cg(omega=1.5)")  # another ω became best
    assert p._streak == [b, "numba-ssor-cg(omega=1.5)", 4] and p._commit[1] == 4
    p._commit_to(b, CG)  # another family: a fresh streak, no commitment yet
    assert p._streak == [b, CG, 1]
    p._commit_to(b, None)  # a stale switch or a non-best choice ends it
    assert p._streak is None


@pytest.mark.parametrize("policy", ["auto", "fixed"])
def test_a_dormant_extrapolation_is_formed_on_the_lean_path_under_the_blas_limit(monkeypatch, policy):
    """In a stretch of ``auto``, and for a fixed compiled policy with ``initial_guess="auto"``."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import seqsolve.solver as solver_module
    from seqsolve.guesses.extrapolate import Extrapolate

    seen = []
    real_form = Extrapolate.form

    def form(self, A, b, key=None):  # (the solver's own readers: a µs, not threadpoolctl's ms)
        seen.append({get() for get, _ in solver_module._BLAS[0]} if solver_module._BLAS else None)
        return real_form(self, A, b, key)

    monkeypatch.setattr(Extrapolate, "form", form)
    m, steps = 40, 240  # (at 400 unknowns the start saves too little for the chooser to keep it)
    A = _laplacian(m, 0.3)
    rng = np.random.default_rng(1)
    u, w = rng.standard_normal(m * m), rng.standard_normal(m * m)
    solver = SequenceSolver(policy=AutoPolicy(candidates=[CG, SSOR], seed=0) if policy == "auto" else f"fixed:{SSOR}",
                            rtol=1e-10, initial_guess=["previous", "extrapolate(order=4,alternating=1)"])
    chooser = solver._guesser
    chooser.best_, chooser._sleep = 1, 10**6  # dormant on the extrapolation (which it wins: not what is tested)
    with threadpool_limits(2, user_api="blas"):
        before = {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
        for t in range(steps):  # a smooth solution in time: extrapolation pays
            b = A @ (u * np.cos(t / 40) + w * np.sin(t / 40))
            x = solver.solve(A, b)
            assert np.linalg.norm(b - A @ x) <= 1e-10 * np.linalg.norm(b) * (1 + 1e-12)
        after = {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
    assert after == before  # the solver's limit is lifted after every call
    lean = [r for r in solver.history if r.initial_guess.startswith("extrapolate") and r.policy_seconds < 1e-6]
    assert len(lean) > steps / 10  # stretches ran on the lean path with the extrapolation
    seen = [s for s in seen if s is not None]
    assert seen and all(s == {1} for s in seen)  # every extrapolation formed under one BLAS thread


def test_a_factorisation_is_committed_to_while_its_matrix_repeats_and_decided_afresh_on_a_new_one():
    m, runs, per_run = 30, 6, 12
    rng = np.random.default_rng(2)
    decided = []

    class Spy(AutoPolicy):
        def select(self, *a, **k):
            decided.append(self.t_)  # the index of the system it decides for
            return super().select(*a, **k)

    solver = SequenceSolver(policy=Spy(candidates=["direct", CG], seed=0), rtol=1e-10)
    for r in range(runs):
        k = np.exp(rng.uniform(0, np.log(1e4), size=m * m))  # jumps of four decades: CG is slow
        A = sp.csr_array(sp.diags(k) @ _laplacian(m, 0.01))
        A = sp.csr_array(0.5 * (A + A.T))
        for j in range(per_run):
            b = rng.standard_normal(m * m)
            x = solver.solve(A, b)
            assert np.linalg.norm(b - A @ x) <= 1e-10 * np.linalg.norm(b) * (1 + 1e-12)
    history = solver.history
    late = history[per_run:]
    assert sum(r.configuration == "direct" for r in late) >= 0.9 * len(late)
    new = [r.index for r in history if not r.matrix_repeated]
    assert set(new) <= set(decided)  # every new matrix: its build charged in a full decision
    assert len(decided) < 0.5 * len(history)  # within a run: committed, not decided


def test_a_stretch_handed_back_on_a_slow_solve_resumes_without_a_decision_where_the_commitment_survives():
    m, resumed = 16, 0
    A, b = _laplacian(m, 1.0), np.ones(m * m)
    for seed in range(4):
        policy = _Spy(candidates=[CG, SSOR], seed=seed)
        solver = SequenceSolver(policy=policy, rtol=1e-9)
        t = 0
        while (solver._stretch is None or solver._stretch.left < 2) and t < 300:
            solver.solve(A, b + 1e-3 * t)
            t += 1
        st = solver._stretch
        assert st is not None
        st.ceiling = 0.0  # every solve now looks slow in seconds: handed back to the policy at once
        before, commit = policy.selects, list(policy._commit)
        x = solver.solve(A, b + 1e-3 * t)
        assert np.linalg.norm(b + 1e-3 * t - A @ x) <= 1e-9 * np.linalg.norm(b + 1e-3 * t) * (1 + 1e-12)
        assert policy.selects == before  # not decided again: the policy learned the record ...
        assert policy.t_ == len(solver.history)
        if policy._commit is None:  # (a commitment ended by the record's iterations: decided next)
            assert solver._stretch is None
            continue
        # ... and, its commitment intact, handed over the rest of it at once
        resumed += 1
        assert solver._stretch is not None and solver._stretch is not st
        assert solver._stretch.left == commit[1] - 1 and solver._stretch.config.name == commit[2]
        solver.solve(A, b + 1e-3 * (t + 1))
        assert policy.selects == before
    assert resumed >= 2  # (the same iterations every system: a commitment survives a slow solve)
