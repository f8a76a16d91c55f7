"""Initial-guess strategies, the online chooser and deflated CG, checked against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import cg as scipy_cg

from seqsolve import ConfigurationError, SeqsolveError, SequenceSolver
from seqsolve.configs import parse
from seqsolve.guesses import Guess, GuessChooser, Projection, parse_guess
from seqsolve.problems import ConvectionDiffusion, Heat2D
from seqsolve.solvers.deflated import DeflatedCG

from conftest import BrokenGuess, assert_contract, poisson2d, reference_solve

ALL_SPECS = ["previous", "zero", "extrapolate(order=1)", "extrapolate(order=2)", "projection(k=3)",
             "projection(k=3,variant=minres)", "pod(k=2)", "auto"]


def _rel_residual(A, b, x) -> float:
    return float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))


# ----------------------------------------------------------------------------- projection
def test_projection_is_exact_for_a_right_hand_side_in_the_span_of_earlier_ones():
    A = poisson2d(20)
    rng = np.random.default_rng(1)
    bs = [rng.standard_normal(A.shape[0]) for _ in range(3)]
    xs = [reference_solve(A, b) for b in bs]
    solver = SequenceSolver(rtol=1e-8, policy="fixed:cg", initial_guess="projection(k=4)")
    for b, x in zip(bs, xs):  # exact solutions as x0: the strategy learns them, CG has nothing to do
        solver.solve(A, b, x0=x)
        assert solver.history[-1].initial_guess == "x0"
    b = 0.5 * bs[0] - 2.0 * bs[1] + bs[2]
    x = solver.solve(A, b)
    rec = solver.history[-1]
    assert rec.initial_guess == "projection(k=4)"
    assert rec.iterations == 0
    assert np.linalg.norm(x - reference_solve(A, b)) <= 1e-9 * np.linalg.norm(x)
    # the plain warm start needs iterations on the same system
    prev = SequenceSolver(rtol=1e-8, policy="fixed:cg")
    for bi, xi in zip(bs, xs):
        prev.solve(A, bi, x0=xi)
    prev.solve(A, b)
    assert prev.history[-1].iterations > 10


@pytest.mark.parametrize("variant", ["galerkin", "minres"])
def test_projection_recovers_a_combination_of_stored_solutions(variant):
    A = poisson2d(15)
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal(A.shape[0]) for _ in range(4)]
    g = Projection(k=4, variant=variant)
    for x in xs:
        g.update(A, A @ x, x, key="A")
    target = xs[0] - 3.0 * xs[2] + 0.25 * xs[3]
    x0 = g.form(A, A @ target, key="A")
    assert np.linalg.norm(x0 - target) <= 1e-10 * np.linalg.norm(target)
    assert g.used_ == variant


def test_projection_is_the_a_norm_best_combination():
    """Galerkin projection: no other combination of the stored solutions has a smaller A-norm error."""
    A = poisson2d(12)
    rng = np.random.default_rng(3)
    g = Projection(k=3)
    X = rng.standard_normal((A.shape[0], 3))
    for j in range(3):
        g.update(A, A @ X[:, j], X[:, j])
    b = rng.standard_normal(A.shape[0])
    x_true = reference_solve(A, b)
    x0 = g.form(A, b)
    # independent reference: the normal equations of min ||X y - x_true||_A, dense
    y = np.linalg.solve(X.T @ (A @ X), X.T @ (A @ x_true))
    assert np.allclose(x0, X @ y, rtol=1e-8, atol=1e-10 * np.linalg.norm(x0))


def test_a_orthonormal_basis_stays_orthonormal_over_a_long_sequence():
    A0 = poisson2d(16)
    n = A0.shape[0]
    rng = np.random.default_rng(4)
    g = Projection(k=8)
    grid = np.linspace(0, 1, n)
    worst = 0.0
    for t in range(200):
        A = A0 + sp.diags_array(np.full(n, 0.1 + 0.05 * np.sin(0.1 * t)))  # the operator drifts
        # smooth in t, so consecutive solutions are nearly parallel: the hard case for orthonormalising
        x = np.sin(3 * grid + 0.01 * t) + 0.01 * t * grid + 1e-6 * rng.standard_normal(n)
        g.update(A, A @ x, x, key=("A", t))
        if t % 10 == 9:
            V, AV = g.basis(A, n, key=("A", t))
            assert np.allclose(AV, A @ V, atol=1e-10 * np.abs(AV).max())
            worst = max(worst, float(np.abs(V.T @ AV - np.eye(V.shape[1])).max()))
            assert V.shape[1] >= 2
    assert worst <= 1e-10


def test_projection_reuses_products_while_the_operator_is_unchanged():
    A = poisson2d(10)
    calls = []

    class Counting(sp.csr_array):
        def __matmul__(self, other):
            calls.append(np.shape(other))
            return super().__matmul__(other)

    C = Counting(A)
    g = Projection(k=4)
    for j in range(6):
        x = np.full(A.shape[0], 1.0 + j)
        g.update(C, C @ x, x, key="same")
        calls.clear()
        g.form(C, np.ones(A.shape[0]), key="same")
        assert sum(s[1] if len(s) == 2 else 1 for s in calls) <= 1  # only the newest solution's A·x


def _window_reference(A, b, X: np.ndarray, variant: str) -> np.ndarray:
    """The projection guess computed independently: an orthonormal basis of the solutions ``X``
    (numpy's QR), then dense Galerkin or dense least squares on it."""
    Q, _ = np.linalg.qr(X)
    AQ = np.asarray(A @ Q)
    if variant == "galerkin":
        return Q @ np.linalg.solve(Q.T @ AQ, Q.T @ b)
    return Q @ np.linalg.lstsq(AQ, b, rcond=None)[0]


def _drifting_solutions(n: int, steps: int, seed: int) -> list[np.ndarray]:
    """Smooth in time, so consecutive solutions are nearly parallel (the hard case)."""
    rng = np.random.default_rng(seed)
    s = np.linspace(0, 1, n)
    return [np.sin(3 * s + 0.02 * t) + 0.01 * t * s ** 2 + 1e-5 * rng.standard_normal(n) for t in range(steps)]


@pytest.mark.parametrize("k", [1, 4, 8])
def test_projection_matches_a_dense_reference_over_a_long_sequence(k):
    """The sliding window (reflections, products reused while the key holds, replayed updates
    without an operator) gives the guess a dense reference computes from the last k solutions."""
    A0 = poisson2d(14)
    n = A0.shape[0]
    rng = np.random.default_rng(5)
    xs = _drifting_solutions(n, 240, seed=6)
    g = Projection(k=k, variant="galerkin")
    worst = 0.0
    for t, x in enumerate(xs):
        epoch = t // 7  # the operator changes every 7 steps and stays the same in between
        A = A0 + sp.diags_array(np.full(n, 0.05 * (1 + epoch % 5)))
        if t % 11 == 5:  # a replayed update: no operator, no right-hand side
            g.update(None, None, x, key=epoch)
            continue
        g.update(A, A @ x, x, key=epoch)
        b = A @ (x + 0.1 * rng.standard_normal(n))
        x0 = g.form(A, b, key=epoch)
        ref = _window_reference(A, b, np.column_stack(xs[max(0, t + 1 - k):t + 1]), "galerkin")
        worst = max(worst, float(np.linalg.norm(x0 - ref) / np.linalg.norm(ref)))
    assert worst <= 1e-10


def test_projection_recovers_a_right_hand_side_in_the_span_after_many_drops():
    """Exactness survives a long sequence: after 40 solves (36 reflections), a right-hand side in the
    span of the last three is solved by the guess alone."""
    A = poisson2d(20)
    rng = np.random.default_rng(7)
    solver = SequenceSolver(rtol=1e-8, policy="fixed:cg", initial_guess="projection(k=4)")
    bs = [rng.standard_normal(A.shape[0]) for _ in range(40)]
    for b in bs:
        solver.solve(A, b, x0=reference_solve(A, b))
    b = 0.5 * bs[-3] - 2.0 * bs[-2] + bs[-1]
    x = solver.solve(A, b)
    assert solver.history[-1].initial_guess == "projection(k=4)"
    assert solver.history[-1].iterations == 0
    assert np.linalg.norm(x - reference_solve(A, b)) <= 1e-9 * np.linalg.norm(x)


def test_projection_basis_and_products_stay_accurate_over_a_long_sequence():
    """2000 nearly parallel solutions, the operator unchanged for 400 steps at a time: ``Q`` stays
    orthonormal and the reflected ``A Q`` and ``Qᵀ A Q`` stay those of the current operator."""
    A0 = poisson2d(12)
    n = A0.shape[0]
    g = Projection(k=8)
    for t, x in enumerate(_drifting_solutions(n, 2000, seed=8)):
        A = A0 + sp.diags_array(np.full(n, 0.1 * (1 + t // 400)))
        g.update(A, None, x, key=t // 400)
        g.form(A, np.ones(n), key=t // 400)
        if t % 100 == 99:
            m = g._m
            Q, AQ = g._q[:m], g._aq[:m]
            assert m == 8
            assert np.abs(Q @ Q.T - np.eye(m)).max() <= 1e-12
            assert np.abs(AQ - (A @ Q.T).T).max() <= 1e-11 * np.abs(AQ).max()
            assert np.abs(g._g[:m, :m] - Q @ AQ.T).max() <= 1e-11 * np.abs(AQ).max()


@pytest.mark.parametrize("spread", [1.0, 1e6])
def test_projection_minres_matches_a_dense_reference_for_a_nonsymmetric_operator(spread):
    """Minimal residual on a convection-dominated operator over 220 steps, both through the Gram
    matrix of ``A Q`` (well conditioned) and the dense fallback (a diagonal spread of 10⁶)."""
    L = poisson2d(14)
    n = L.shape[0]
    conv = sp.diags_array([np.full(n - 1, 1.5), np.full(n - 1, -1.5)], offsets=[1, -1])
    A = sp.csr_array(L + conv) @ sp.diags_array(np.geomspace(1.0, spread, n))
    rng = np.random.default_rng(9)
    xs = _drifting_solutions(n, 220, seed=10)
    g = Projection(k=6)
    worst = 0.0
    for t, x in enumerate(xs):
        g.update(A, A @ x, x, key="A")
        b = A @ (x + 0.1 * rng.standard_normal(n))
        x0 = g.form(A, b, key="A")
        assert g.used_ == ("minres" if t else "galerkin")  # one solution: Qᵀ A Q is 1×1, symmetric
        ref = _window_reference(A, b, np.column_stack(xs[max(0, t - 5):t + 1]), g.used_)
        worst = max(worst, float(np.linalg.norm(A @ (x0 - ref)) / np.linalg.norm(b)))
    assert worst <= 1e-10


# ----------------------------------------------------------------------------- the accuracy contract
@pytest.mark.parametrize("spec", ALL_SPECS)
def test_every_strategy_keeps_the_accuracy_contract_on_a_sequence(spec):
    problem = Heat2D(nx=12, steps=25)
    solver = SequenceSolver(rtol=1e-8, policy="fixed:cg", initial_guess=spec)
    for _ in range(problem.steps):
        s = problem.system()
        x = solver.solve(s.A, s.b)
        assert _rel_residual(s.A, s.b, x) <= 1e-8
        problem.accept(x)
    if spec not in ("auto", "zero"):
        assert {r.initial_guess for r in solver.history[1:]} == {parse_guess(spec).name}
    assert all(r.guess_seconds >= 0 and r.setup_seconds >= r.guess_seconds for r in solver.history)


@pytest.mark.parametrize("spec", ["projection(k=4)", "extrapolate(order=2)", "auto"])
def test_strategies_on_a_nonsymmetric_sequence(spec):
    problem = ConvectionDiffusion(n=12, steps=15, seed=0)
    problem.reset()
    solver = SequenceSolver(rtol=1e-8, policy="fixed:gmres(ilu)", initial_guess=spec)
    for _ in range(problem.steps):
        s = problem.system()
        x = solver.solve(s.A, s.b)
        assert _rel_residual(s.A, s.b, x) <= 1e-8
        problem.accept(x)


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e12, -3.0, "raise", "short"])
def test_a_garbage_guess_still_gives_a_correct_solution(value):
    A = poisson2d(12)
    b = np.random.default_rng(5).standard_normal(A.shape[0])
    solver = SequenceSolver(rtol=1e-8, policy="fixed:cg", initial_guess=BrokenGuess(value))
    x = solver.solve(A, b)
    assert _rel_residual(A, b, x) <= 1e-8
    assert np.allclose(x, reference_solve(A, b), rtol=1e-5, atol=1e-8)


def test_a_user_x0_always_wins_and_reset_forgets():
    A = poisson2d(10)
    b = np.ones(A.shape[0])
    solver = SequenceSolver(policy="fixed:cg", initial_guess="projection(k=2)")
    solver.solve(A, b)
    solver.solve(A, 2 * b, x0=np.zeros(A.shape[0]))
    assert [r.initial_guess for r in solver.history] == ["projection(k=2)", "x0"]
    solver.reset()
    assert solver._guesser.memory_vectors == 0


def test_report_names_the_strategies():
    problem = Heat2D(nx=10, steps=5)
    solver = SequenceSolver(policy="fixed:cg", initial_guess="extrapolate(order=1)")
    for _ in range(5):
        s = problem.system()
        problem.accept(solver.solve(s.A, s.b))
    text = solver.report()
    assert "Initial guesses" in text and "`extrapolate(order=1)`" in text


# ----------------------------------------------------------------------------- specs
@pytest.mark.parametrize("spec, words", [
    ("nope", ["unknown initial-guess strategy", "'nope'", "projection"]),
    ("projection(q=3)", ["no parameter 'q'", "k, variant"]),
    ("projection(k=0)", ["k must be a positive integer"]),
    ("projection(k=x)", ["cannot read k='x'"]),
    ("projection(k=2,k=3)", ["given twice"]),
    ("projection(k=2,variant=lsqr)", ["variant must be one of"]),
    ("extrapolate(order=5)", ["order must be 1 to 4"]),
    ("previous(1)", ["takes no more positional"]),
    ("pod(k=4,window=2)", ["window (2) must be at least k (4)"]),
    ("projection(k=2", ["malformed"]),
])
def test_bad_specs_raise_a_seqsolve_error_naming_the_problem(spec, words):
    with pytest.raises(ConfigurationError) as info:
        parse_guess(spec)
    assert isinstance(info.value, SeqsolveError)
    for w in words:
        assert w in str(info.value)
    with pytest.raises(ConfigurationError):
        SequenceSolver(initial_guess=spec)


def test_specs_parse_to_canonical_names():
    assert parse_guess("projection(8)").name == "projection(k=8)"
    assert parse_guess(" projection( k = 4 , variant = minres ) ").name == "projection(k=4,variant=minres)"
    assert parse_guess("extrapolate(2)").name == "extrapolate(order=2)"
    assert parse_guess("pod(3)").name == "pod(k=3)"


# ----------------------------------------------------------------------------- the chooser
def _drive(chooser: GuessChooser, cost_of, steps: int) -> list[str]:
    """Run ``chooser`` for ``steps`` solves; ``cost_of`` maps a strategy to its seconds, or is a
    function ``(name, step) -> (seconds, iterations, guess seconds)``."""
    A = poisson2d(4)
    x = np.ones(A.shape[0])
    chooser.update(A, A @ x, x, None)
    chooser.update(A, A @ x, x, None)
    chosen = []
    for step in range(steps):
        _, name = chooser.form(A, A @ x, None)
        chosen.append(name)
        chooser.learn(*(cost_of(name, step) if callable(cost_of) else (cost_of[name],)))
        chooser.update(A, A @ x, x, None)
    return chosen


def test_chooser_settles_on_a_clearly_cheaper_strategy_with_logarithmic_exploration():
    chooser = GuessChooser(["previous", "extrapolate(order=1)", "projection(k=2)"])
    costs = {"previous": 1.0, "extrapolate(order=1)": 1.2, "projection(k=2)": 0.6}
    chosen = _drive(chooser, costs, 600)
    assert chooser.arms[chooser.best_].name == "projection(k=2)"
    assert chosen[-100:].count("projection(k=2)") >= 95
    assert chosen.count("extrapolate(order=1)") <= 12  # one try per round, O(log T) rounds


def test_chooser_keeps_the_default_on_a_tie():
    chooser = GuessChooser(["previous", "projection(k=2)"])
    _drive(chooser, {"previous": 1.0, "projection(k=2)": 0.99}, 200)
    assert chooser.best_ == 0


def test_chooser_state_round_trips_and_exploits_what_was_learned_first():
    chooser = GuessChooser(["previous", "extrapolate(order=1)", "projection(k=2)"])
    _drive(chooser, {"previous": 1.0, "extrapolate(order=1)": 1.2, "projection(k=2)": 0.6}, 100)
    fresh = GuessChooser(["previous", "extrapolate(order=1)", "projection(k=2)"]).load_state_dict(
        chooser.state_dict())
    assert fresh.best_ == chooser.best_ and np.array_equal(fresh.scores_, chooser.scores_)
    # no new round of every strategy first: the learned best for an epoch
    chosen = _drive(fresh, {"previous": 1.0, "extrapolate(order=1)": 1.2, "projection(k=2)": 0.6}, 8)
    assert chosen == ["projection(k=2)"] * 8


def test_a_state_for_other_candidates_keeps_the_shared_scores():
    # another release changed auto's list: what both lists share is kept, the rest starts unscored
    old = GuessChooser(["previous", "extrapolate(order=2)", "projection(k=2)"])
    _drive(old, {"previous": 1.0, "extrapolate(order=2)": 1.2, "projection(k=2)": 0.6}, 100)
    new = GuessChooser(["previous", "extrapolate(order=4,alternating=1)", "projection(k=2)"])
    new.load_state_dict(old.state_dict())
    assert new.scores_[0] == old.scores_[0] and new.scores_[2] == old.scores_[2] and new.scores_[1] == 0.0
    assert new.arms[new.best_].name == "projection(k=2)"


@pytest.mark.parametrize("change", [
    {"candidates": ["previous", "previous", "projection(k=2)"]}, {"candidates": "previous"},
    {"scores": [0.0, float("nan"), 0.0]},
    {"scores": [0.0, 1.0]}, {"rounds": -1}, {"rounds": True}, {"best": 3}, {"extra": 1}])
def test_chooser_refuses_a_bad_state(change):
    chooser = GuessChooser(["previous", "extrapolate(order=1)", "projection(k=2)"])
    state = {**chooser.state_dict(), **change}
    with pytest.raises(ValueError):
        chooser.load_state_dict(state)


def test_the_guess_choice_is_saved_and_loaded_with_the_solver(tmp_path):
    from seqsolve import StateFileError
    from seqsolve.persistence import read_state, write_state

    problem = Heat2D(nx=12, steps=40)
    s = SequenceSolver(policy="fixed:numba-ssor-cg(omega=1.5)", initial_guess="auto")
    for _ in range(40):
        system = problem.system()
        problem.accept(s.solve(system.A, system.b))
    path = tmp_path / "state.json"
    s.save(path)
    loaded = SequenceSolver.load(path)
    assert loaded.initial_guess == "auto"
    assert loaded._guesser.state_dict() == s._guesser.state_dict()
    payload = read_state(path)
    payload["initial_guess"]["state"]["best"] = 99
    write_state(tmp_path / "bad.json", payload)
    with pytest.raises(StateFileError, match="best"):
        SequenceSolver.load(tmp_path / "bad.json")


# ----------------------------------------------------------------------------- deflated CG
def _outlier_spd(n: int = 400) -> sp.csr_array:
    """SPD, eigenvalues mostly in [1, 3] with four small outliers (about 1e-3), not diagonal."""
    d = np.linspace(1.0, 3.0, n) + 0.04
    off = np.full(n - 1, 0.02)
    for i, v in zip((7, 100, 233, 301), (1e-3, 2e-3, 3e-3, 5e-3)):
        d[i] = v
        off[i - 1] = off[i] = 1e-3  # weakly coupled: the outliers' eigenvectors are not unit vectors
    return sp.csr_array(sp.diags_array([off, d, off], offsets=[-1, 0, 1]))


def test_deflated_cg_needs_fewer_iterations_than_cg_on_small_outlying_eigenvalues():
    A = _outlier_spd()
    assert np.linalg.eigvalsh(A.toarray())[:5].tolist()[3] < 0.01
    rng = np.random.default_rng(6)
    method = DeflatedCG(k=6, preconditioner="none")
    prepared = method.setup(A, None)
    cg_iters, dcg_iters = [], []
    for _ in range(4):
        b = rng.standard_normal(A.shape[0])
        count = []
        x_ref, info = scipy_cg(A, b, rtol=1e-10, maxiter=5000, callback=lambda xk: count.append(1))
        assert info == 0
        cg_iters.append(len(count))
        res = method.solve(prepared, A, b, np.zeros_like(b), rtol=1e-10, atol=0.0, maxiter=5000)
        assert res.status == "converged"
        assert _rel_residual(A, b, res.x) <= 1.01e-10
        dcg_iters.append(res.iterations)
    # the first solve has nothing recycled yet; later ones deflate the outliers
    assert max(dcg_iters[1:]) <= 0.75 * min(cg_iters)
    W = method.W
    assert W is not None and W.shape[1] == 6
    # the recycled space holds the outlying eigenvectors: Ritz values near the small eigenvalues
    theta = np.linalg.eigvalsh(np.linalg.solve(W.T @ W, W.T @ (A @ W)))
    assert np.sum(theta < 0.01) >= 3


@pytest.mark.parametrize("config", ["deflated-cg(k=4,preconditioner=none)", "deflated-cg(k=4,preconditioner=jacobi)",
                                    "deflated-cg(k=6,preconditioner=ssor,omega=1.6)"])
def test_deflated_cg_configuration_keeps_the_contract_as_the_matrix_drifts(config):
    assert parse(parse(config).name) == parse(config)
    problem = Heat2D(nx=16, steps=20)
    solver = SequenceSolver(rtol=1e-8, policy=f"fixed:{config}", fallback=False)
    plain = SequenceSolver(rtol=1e-8, policy="fixed:cg", fallback=False)
    for _ in range(problem.steps):
        s = problem.system()
        x = solver.solve(s.A, s.b)
        plain.solve(s.A, s.b)
        assert _rel_residual(s.A, s.b, x) <= 1e-8
        problem.accept(x)
    assert all(r.configuration == parse(config).name and not r.fallback for r in solver.history)
    if "none" in config:
        assert sum(r.iterations for r in solver.history[5:]) < sum(r.iterations for r in plain.history[5:])


def test_deflated_cg_rejects_bad_parameters():
    for bad in ("deflated-cg(k=0)", "deflated-cg(preconditioner=amg)", "deflated-cg(omega=2.5)"):
        with pytest.raises(ConfigurationError):
            parse(bad)


def test_projection_window_slides_without_products_and_stays_exact():
    """After the oldest solutions leave (QR downdate, A·Q rotated rather than recomputed), the
    guess equals that of a fresh strategy holding only the newest ``k`` solutions."""
    A = poisson2d(12)
    rng = np.random.default_rng(8)
    xs = [rng.standard_normal(A.shape[0]) for _ in range(7)]
    sliding, fresh = Projection(k=3), Projection(k=3)
    for x in xs:
        sliding.update(A, A @ x, x, key="A")
        sliding.form(A, A @ x, key="A")
    for x in xs[-3:]:
        fresh.update(A, A @ x, x, key="A")
    target = 2.0 * xs[-1] - xs[-3]
    b = A @ target
    assert np.linalg.norm(sliding.form(A, b, key="A") - target) <= 1e-10 * np.linalg.norm(target)
    assert np.allclose(sliding.form(A, b, key="A"), fresh.form(A, b, key="A"), rtol=1e-10, atol=1e-12)


def test_stored_guesses_skip_the_floating_point_guard_others_keep_it():
    """``previous`` only hands back a stored vector; a strategy that computes keeps its guard, so
    an overflow in it costs a cold start, never the solve."""
    from seqsolve.guesses.previous import Previous, Zero

    assert not Previous.arithmetic and not Zero.arithmetic and Projection.arithmetic

    class Overflowing(Guess):
        name = "overflowing"

        def form(self, A, b, key=None):
            return np.full(b.shape, 1e308) * 10.0  # warns (overflow) unless guarded

        def update(self, A, b, x, key=None):
            pass

        def reset(self):
            pass

    A = poisson2d(6)
    b = np.ones(A.shape[0])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = SequenceSolver(initial_guess=Overflowing(), policy="fixed:numba-ssor-cg(omega=1.5)").solve(A, b)
    assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)


def test_configurations_that_ignore_x0_get_no_guess_and_teach_the_chooser_nothing():
    A = poisson2d(12)
    rng = np.random.default_rng(3)
    solver = SequenceSolver(rtol=1e-10, policy="fixed:direct", initial_guess="auto")
    for _ in range(4):
        b = rng.standard_normal(A.shape[0])
        x = solver.solve(A, b)
        assert _rel_residual(A, b, x) <= 1e-10
    assert {r.initial_guess for r in solver.history} == {"unused"}
    assert solver._guesser.rounds_ == 0 and not solver._guesser._round  # nothing scored
    # the certified solutions still reach the strategies, for a later iterative solve
    kept = solver._guesser._history
    assert len(kept) >= 1 and kept[-1][0] is not x and np.array_equal(kept[-1][0], x)
    assert solver._guesser._shown == [0] * len(solver._guesser.arms)  # each caught up when next chosen


def test_chooser_scores_iterations_so_a_burst_of_load_does_not_switch_it():
    # every other try of `previous` is slowed 3x by load, at the same iteration count as the other
    def outcome(name, step):
        slow = 3.0 if name == "previous" and step % 2 == 0 else 1.0
        return 1e-3 * 20 * slow, 19, 0.0
    chooser = GuessChooser(["previous", "extrapolate(order=1)"])
    _drive(chooser, outcome, 300)
    assert chooser.best_ == 0  # by seconds alone extrapolate would have looked ~2x cheaper


def test_chooser_follows_fewer_iterations_through_noisy_seconds():
    def outcome(name, step):
        its = 9 if name == "projection(k=2)" else 19
        noise = 2.0 if name == "projection(k=2)" and step % 3 == 0 else 1.0  # its tries often slowed
        return 1e-4 * (its + 1) * noise + 1e-5, its, 1e-5
    chooser = GuessChooser(["previous", "projection(k=2)"])
    chosen = _drive(chooser, outcome, 300)
    assert chooser.arms[chooser.best_].name == "projection(k=2)"
    assert chosen[-50:].count("projection(k=2)") >= 45


def test_a_clearly_dearer_strategy_sits_out_rounds():
    costs = {"previous": 1.0, "extrapolate(order=1)": 2.0, "projection(k=2)": 1.0}
    chooser = GuessChooser(["previous", "extrapolate(order=1)", "projection(k=2)"], max_epoch=16)
    chosen = _drive(chooser, costs, 800)
    rounds = chooser.rounds_
    assert rounds >= 40
    # tried in the first rounds, then resting 1, 2, 4, 8, 8 ... rounds between tries
    assert chosen.count("extrapolate(order=1)") <= 2 + rounds // 8 + 2
    assert chosen.count("projection(k=2)") >= rounds - 1  # a tie keeps being measured
    assert chooser.best_ == 0


def test_the_default_start_is_learned_under_auto_and_the_previous_solution_elsewhere(tmp_path):
    """policy="auto" learns the start with the configuration; a fixed policy (the user chose the
    method) and a reproducible cost="iterations" run keep the previous solution.  An explicit
    choice, the default's included, survives save and load."""
    from seqsolve.policies import AutoPolicy

    assert SequenceSolver().initial_guess == "auto"
    assert isinstance(SequenceSolver()._guesser, GuessChooser)
    assert SequenceSolver(policy="fixed:numba-cg").initial_guess == "previous"
    assert SequenceSolver(policy=AutoPolicy(cost="iterations")).initial_guess == "previous"
    assert SequenceSolver(initial_guess="previous").initial_guess == "previous"
    problem = Heat2D(nx=12, steps=30)
    s = SequenceSolver(initial_guess="previous")
    for _ in range(30):
        system = problem.system()
        x = s.solve(system.A, system.b)
        assert_contract(system.A, system.b, x, 1e-8)
        problem.accept(x)
    assert {r.initial_guess for r in s.history[1:]} == {"previous"}
    s.save(tmp_path / "s.json")
    assert SequenceSolver.load(tmp_path / "s.json").initial_guess == "previous"
