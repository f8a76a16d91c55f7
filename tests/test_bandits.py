"""Tests of the pure online learners of *Learning to Relax*: TsallisINF and ChebCB."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqsolve.errors import StateFileError
from seqsolve.policies.chebcb import ChebCB, _box_qp, chebyshev_features
from seqsolve.policies.tsallis_inf import TsallisINF, tsallis_weights


# ------------------------------------------------------------------------------------------
# synthetic environments
# ------------------------------------------------------------------------------------------

def _bernoulli_means(n_arms: int = 10, best: int = 3) -> np.ndarray:
    mu = np.linspace(0.45, 0.7, n_arms)
    mu[best] = 0.25
    return mu


def _run_tsallis(learner: TsallisINF, mu: np.ndarray, T: int, env_seed: int):
    """Play T rounds of Bernoulli(mu) losses; return per-round expected pseudo-regret and arms."""
    rng = np.random.default_rng(env_seed)
    gaps = mu - mu.min()
    inst_regret = np.empty(T)
    arms = np.empty(T, dtype=int)
    for t in range(T):
        inst_regret[t] = learner.probabilities_ @ gaps  # E[mu_{I_t}] - mu*
        a = learner.select()
        arms[t] = a
        learner.update(a, float(rng.random() < mu[a]))
    return inst_regret, arms


N_CTX_ARMS = 20
_OMEGAS = np.linspace(0.0, 1.0, N_CTX_ARMS)


def _best_param(c):
    return 0.5 + 0.35 * np.sin(np.pi * (c - 0.5))


def _ctx_mean_loss(c: float) -> np.ndarray:
    """Smooth loss surface: arm w is best near _best_param(c); values in [0.1, 1]."""
    return np.minimum(1.0, 0.1 + 2.0 * (_OMEGAS - _best_param(c)) ** 2)


def _run_chebcb(learner: ChebCB, T: int, env_seed: int):
    rng = np.random.default_rng(env_seed)
    incurred = np.empty(T)
    optimum = np.empty(T)
    table = np.empty((T, N_CTX_ARMS))
    arms = np.empty(T, dtype=int)
    for t in range(T):
        c = rng.random()
        mu = _ctx_mean_loss(c)
        a = learner.select(c)
        loss = float(np.clip(mu[a] + rng.uniform(-0.05, 0.05), 0.0, 1.0))
        learner.update(a, c, loss)
        incurred[t], optimum[t], table[t], arms[t] = mu[a], mu.min(), mu, a
    return incurred, optimum, table, arms


# ------------------------------------------------------------------------------------------
# TsallisINF
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tsallis_regret_sublinear_and_concentrates(seed):
    n_arms, best, T = 10, 3, 4000
    mu = _bernoulli_means(n_arms, best)
    learner = TsallisINF(n_arms, seed=seed)
    inst, arms = _run_tsallis(learner, mu, T, env_seed=100 + seed)
    regret = np.cumsum(inst)
    rate_250, rate_T = regret[249] / 250, regret[-1] / T
    # uniform play would cost mean(gaps) ~ 0.32 per round
    assert rate_T < 0.4 * rate_250, (rate_250, rate_T)
    assert rate_T < 0.08
    # Zimmert & Seldin (2021), Thm 1: E[regret] <= 4 sqrt(K T) + 1 for the IW estimator
    assert regret[-1] < 4 * math.sqrt(n_arms * T) + 1
    assert np.argmax(learner.counts_) == best
    assert np.mean(arms[-1000:] == best) > 0.85
    assert learner.probabilities_[best] > 0.85
    assert learner.t_ == T and learner.counts_.sum() == T


def test_tsallis_reduced_variance_estimator_learns():
    mu = _bernoulli_means(10, 7)
    learner = TsallisINF(10, seed=4, estimator="rv")
    inst, arms = _run_tsallis(learner, mu, 3000, env_seed=9)
    regret = np.cumsum(inst)
    assert regret[-1] / 3000 < 0.4 * regret[249] / 250
    assert np.mean(arms[-1000:] == 7) > 0.8


def test_tsallis_learning_rate_and_initial_state():
    learner = TsallisINF(5, seed=0)
    np.testing.assert_allclose(learner.probabilities_, np.full(5, 0.2), rtol=0, atol=1e-14)
    assert learner.eta_ == pytest.approx(2.0)  # eta_1 = 2 / sqrt(1)
    for _ in range(3):
        learner.update(learner.select(), 0.5)
    assert learner.eta_ == pytest.approx(2.0 / math.sqrt(4))
    assert np.isclose(learner.cumulative_loss_, 1.5)


def test_tsallis_importance_weighted_estimate():
    learner = TsallisINF(4, seed=0)
    p = learner.probabilities_.copy()
    learner.update(2, 0.7)
    expected = np.zeros(4)
    expected[2] = 0.7 / p[2]
    np.testing.assert_allclose(learner.cumulative_loss_estimates_, expected)


def test_tsallis_weights_match_bisection():
    rng = np.random.default_rng(3)
    for _ in range(50):
        K = int(rng.integers(1, 40))
        L = rng.exponential(rng.uniform(0.1, 500), K)
        eta = rng.uniform(0.01, 3)
        p, x = tsallis_weights(L, eta)
        # bisection for sum 4/(eta (L - x))^2 = 1 on [min L - 2 sqrt(K)/eta, min L - 2/eta]
        lo, hi = L.min() - 2 * math.sqrt(K) / eta, L.min() - 2 / eta
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if np.sum(4 / (eta * (L - mid)) ** 2) > 1:
                hi = mid
            else:
                lo = mid
        ref = 4 / (eta * (L - lo)) ** 2
        np.testing.assert_allclose(p, ref / ref.sum(), rtol=1e-8, atol=1e-12)
        assert abs(np.sum(4 / (eta * (L - x)) ** 2) - 1) < 1e-9
        # warm start from a far-off point still converges
        p2, _ = tsallis_weights(L, eta, x0=x - 1e3)
        np.testing.assert_allclose(p2, p, rtol=1e-9, atol=1e-14)


def test_tsallis_single_arm():
    learner = TsallisINF(1, seed=0)
    for _ in range(20):
        a = learner.select()
        assert a == 0
        learner.update(a, 1.0)
    assert learner.probabilities_.tolist() == [1.0]


@settings(max_examples=60, deadline=None)
@given(
    n_arms=st.integers(1, 12),
    estimator=st.sampled_from(["iw", "rv"]),
    steps=st.lists(
        st.tuples(st.integers(0, 10**6), st.floats(0.0, 1.0, allow_nan=False), st.booleans()),
        max_size=60,
    ),
)
def test_tsallis_probabilities_always_a_distribution(n_arms, estimator, steps):
    learner = TsallisINF(n_arms, seed=1, estimator=estimator)
    for raw_arm, loss, use_select in steps:
        # arms either drawn by the learner or forced (worst case for importance weights)
        arm = learner.select() if use_select else raw_arm % n_arms
        learner.update(arm, loss)
        p = learner.probabilities_
        assert p.shape == (n_arms,)
        assert np.all(np.isfinite(p)) and np.all(p >= 0)
        assert abs(p.sum() - 1.0) < 1e-9
        assert np.all(np.isfinite(learner.cumulative_loss_estimates_))


def test_tsallis_seed_reproducibility():
    def choices(seed):
        learner = TsallisINF(8, seed=seed)
        out = []
        for t in range(400):
            a = learner.select()
            out.append(a)
            learner.update(a, ((a * 7 + t) % 11) / 10.0)  # deterministic loss sequence
        return out, learner.probabilities_.copy()

    a1, p1 = choices(5)
    a2, p2 = choices(5)
    a3, _ = choices(6)
    assert a1 == a2 and np.array_equal(p1, p2)
    assert a1 != a3


def test_tsallis_state_dict_json_round_trip():
    mu = _bernoulli_means(10, 2)
    rng = np.random.default_rng(0)
    losses = rng.random((600, 10)) < mu  # fixed loss table, shared by both runs

    ref = TsallisINF(10, seed=11)
    ref_choices = []
    for t in range(600):
        a = ref.select()
        ref_choices.append(a)
        ref.update(a, float(losses[t, a]))

    first = TsallisINF(10, seed=11)
    choices = []
    for t in range(300):
        a = first.select()
        choices.append(a)
        first.update(a, float(losses[t, a]))
    blob = json.dumps(first.state_dict())
    resumed = TsallisINF.from_state_dict(json.loads(blob))
    other = TsallisINF(10, seed=999).load_state_dict(json.loads(blob))
    for learner in (resumed, other):
        np.testing.assert_array_equal(learner.probabilities_, first.probabilities_)
        assert learner.t_ == 300
    rest_other = []
    for t in range(300, 600):
        a = resumed.select()
        choices.append(a)
        resumed.update(a, float(losses[t, a]))
        b = other.select()
        rest_other.append(b)
        other.update(b, float(losses[t, b]))
    assert choices == ref_choices
    assert rest_other == ref_choices[300:]
    np.testing.assert_array_equal(resumed.cumulative_loss_estimates_, ref.cumulative_loss_estimates_)
    np.testing.assert_array_equal(resumed.probabilities_, ref.probabilities_)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_arms": 0}, "n_arms"),
        ({"n_arms": -3}, "n_arms"),
        ({"n_arms": 2.5}, "n_arms"),
        ({"n_arms": True}, "n_arms"),
        ({"n_arms": 3, "seed": -1}, "seed"),
        ({"n_arms": 3, "eta0": 0.0}, "eta0"),
        ({"n_arms": 3, "eta0": float("nan")}, "eta0"),
        ({"n_arms": 3, "estimator": "exp3"}, "estimator"),
    ],
)
def test_tsallis_bad_construction(kwargs, match):
    n = kwargs.pop("n_arms")
    with pytest.raises(ValueError, match=match):
        TsallisINF(n, **kwargs)


@pytest.mark.parametrize("arm", [-1, 4, 1.0, True, "0", None])
def test_tsallis_bad_arm(arm):
    learner = TsallisINF(4)
    with pytest.raises(ValueError, match="arm"):
        learner.update(arm, 0.5)
    assert learner.t_ == 0


@pytest.mark.parametrize("loss", [-0.01, 1.01, float("nan"), float("inf"), "0.5", None, 37])
def test_tsallis_bad_loss(loss):
    learner = TsallisINF(4)
    with pytest.raises(ValueError, match="loss"):
        learner.update(0, loss)
    assert learner.t_ == 0 and np.all(learner.cumulative_loss_estimates_ == 0)


def test_tsallis_accepts_numpy_scalars():
    learner = TsallisINF(4)
    learner.update(np.int64(2), np.float32(0.25))
    learner.update(np.int32(1), 1)
    assert learner.t_ == 2


def _tsallis_state():
    learner = TsallisINF(4, seed=0)
    for _ in range(10):
        learner.update(learner.select(), 0.3)
    return json.loads(json.dumps(learner.state_dict()))


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.update({"class": "ChebCB"}), "ChebCB"),
        (lambda d: d.update({"version": 99}), "version"),
        (lambda d: d.update({"n_arms": 5}), "n_arms"),
        (lambda d: d.update({"estimator": "rv"}), "estimator"),
        (lambda d: d.update({"cumulative_loss_estimates": [0.0, 1.0]}), "shape"),
        (lambda d: d.update({"cumulative_loss_estimates": [0.0, float("nan"), 1.0, 2.0]}), "NaN"),
        (lambda d: d.pop("cumulative_loss_estimates"), "cumulative_loss_estimates"),
        (lambda d: d.update({"t": -1}), "'t'"),
        (lambda d: d.update({"counts": [1, 1, 1, 1]}), "counts"),
        (lambda d: d.update({"rng_state": {"bit_generator": "MT19937"}}), "rng_state"),
        (lambda d: d.update({"last_arm": 9}), "last_arm"),
        (lambda d: d.update({"probabilities": [0.5, 0.5, 0.5, 0.5]}), "probabilities"),
    ],
)
def test_tsallis_bad_state_dict(mutate, match):
    d = _tsallis_state()
    mutate(d)
    learner = TsallisINF(4, seed=0)
    before = learner.state_dict()
    with pytest.raises(StateFileError, match=match):
        learner.load_state_dict(d)
    assert learner.state_dict() == before  # a failed load leaves the learner untouched
    with pytest.raises(ValueError):
        TsallisINF(4).load_state_dict("not a dict")


# ------------------------------------------------------------------------------------------
# ChebCB
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_chebcb_tracks_context_dependent_best_arm(seed):
    T = 3000
    learner = ChebCB(N_CTX_ARMS, context_range=(0.0, 1.0), seed=seed)
    incurred, optimum, table, arms = _run_chebcb(learner, T, env_seed=50 + seed)
    last = slice(T - 1000, T)
    learner_avg = incurred[last].mean()
    opt_avg = optimum[last].mean()
    best_fixed_avg = table[last].mean(axis=0).min()
    assert best_fixed_avg - opt_avg > 0.08  # the problem is genuinely contextual
    assert learner_avg < opt_avg + 0.015, (learner_avg, opt_avg)
    assert learner_avg < best_fixed_avg - 0.06, (learner_avg, best_fixed_avg)
    # regret against the per-context optimum grows sublinearly
    regret = np.cumsum(incurred - optimum)
    assert regret[-1] / T < 0.4 * regret[249] / 250
    # the learned per-arm models put the greedy arm within ~2 grid steps of the best one
    for c in (0.1, 0.5, 0.9):
        mu = _ctx_mean_loss(c)
        chosen = int(np.argmin(learner.predict(c)))
        assert mu[chosen] < mu.min() + 0.025


def test_chebcb_beats_tsallis_on_contextual_problem():
    T = 2000
    cb = ChebCB(N_CTX_ARMS, context_range=(0.0, 1.0), seed=3)
    incurred_cb, _, table, _ = _run_chebcb(cb, T, env_seed=7)
    tinf = TsallisINF(N_CTX_ARMS, seed=3)
    rng = np.random.default_rng(7)
    incurred_t = np.empty(T)
    for t in range(T):
        c = rng.random()
        mu = _ctx_mean_loss(c)
        a = tinf.select()
        tinf.update(a, float(np.clip(mu[a] + rng.uniform(-0.05, 0.05), 0, 1)))
        incurred_t[t] = mu[a]
    assert incurred_cb[-500:].mean() < incurred_t[-500:].mean() - 0.05


def test_chebcb_regression_matches_direct_ridge_solve():
    rng = np.random.default_rng(1)
    learner = ChebCB(3, context_range=(-2.0, 3.0), degree=4, coef_bound=None, ridge=1e-3)
    feats = {a: [] for a in range(3)}
    ys = {a: [] for a in range(3)}
    for _ in range(700):  # > 256 updates per arm exercises the periodic re-inversion
        a = int(rng.integers(3))
        c = rng.uniform(-2.5, 3.5)  # some outside the range: clipped
        y = float(rng.random())
        learner.update(a, c, y)
        z = np.clip(2 * (c + 2.0) / 5.0 - 1.0, -1, 1)
        feats[a].append(np.polynomial.chebyshev.chebvander(z, 4)[0])
        ys[a].append(y)
    for a in range(3):
        Phi, y = np.array(feats[a]), np.array(ys[a])
        theta = np.linalg.solve(Phi.T @ Phi + 1e-3 * np.eye(5), Phi.T @ y)
        np.testing.assert_allclose(learner.coef_[a], theta, rtol=1e-7, atol=1e-9)
    assert learner.sq_error_ > 0 and learner.t_ == 700


def test_chebcb_coefficient_box_is_respected():
    # a step-shaped loss has large Chebyshev coefficients: the box must bind
    learner = ChebCB(2, context_range=(0.0, 1.0), degree=5, coef_bound=0.5)
    rng = np.random.default_rng(2)
    for _ in range(300):
        c = rng.random()
        learner.update(0, c, 1.0 if c > 0.5 else 0.0)
    ub = np.concatenate(([1.0], 0.5 / np.arange(1, 6)))
    assert np.all(np.abs(learner.coef_[0]) <= ub + 1e-12)
    assert np.any(np.isclose(np.abs(learner.coef_[0]), ub))


def test_box_qp_matches_scipy():
    from scipy.optimize import lsq_linear

    rng = np.random.default_rng(0)
    for _ in range(40):
        m, n = int(rng.integers(1, 8)), int(rng.integers(1, 25))
        Phi = rng.standard_normal((n, m))
        y = 3 * rng.standard_normal(n)
        G, c = Phi.T @ Phi + 1e-3 * np.eye(m), Phi.T @ y
        ub = rng.uniform(0.05, 1.0, m)
        x = _box_qp(G, c, -ub, ub, np.linalg.solve(G, c))
        A = np.vstack([Phi, math.sqrt(1e-3) * np.eye(m)])
        ref = lsq_linear(A, np.concatenate([y, np.zeros(m)]), bounds=(-ub, ub), method="bvls").x
        f = lambda v: 0.5 * v @ G @ v - c @ v  # noqa: E731
        assert np.all(np.abs(x) <= ub + 1e-15)
        assert f(x) <= f(ref) + 1e-9


def test_chebyshev_features():
    z = np.linspace(-1, 1, 11)
    for m in (1, 2, 6, 10):
        got = np.array([chebyshev_features(v, m) for v in z])
        np.testing.assert_allclose(got, np.polynomial.chebyshev.chebvander(z, m - 1), atol=1e-13)


def test_chebcb_clips_contexts_and_starts_uniform():
    learner = ChebCB(5, context_range=(1.0, 2.0), seed=0)
    assert learner.degree == 5 and learner.eta_ == 0.0
    np.testing.assert_allclose(learner.predict_proba(1.5), np.full(5, 0.2))
    rng = np.random.default_rng(0)
    for _ in range(50):
        c = rng.uniform(0.5, 2.5)
        learner.update(learner.select(c), c, float(rng.random()))
    np.testing.assert_array_equal(learner.predict(7.0), learner.predict(2.0))
    np.testing.assert_array_equal(learner.predict(-3.0), learner.predict(1.0))
    assert learner.eta_ > 0


@settings(max_examples=60, deadline=None)
@given(
    n_arms=st.integers(1, 8),
    degree=st.integers(0, 7),
    eta=st.one_of(st.none(), st.floats(0.0, 1e6)),
    steps=st.lists(
        st.tuples(
            st.integers(0, 10**6),
            st.floats(-1e6, 1e6, allow_nan=False),
            st.floats(0.0, 1.0, allow_nan=False),
            st.booleans(),
        ),
        max_size=40,
    ),
)
def test_chebcb_probabilities_always_a_distribution(n_arms, degree, eta, steps):
    learner = ChebCB(n_arms, context_range=(-1.0, 4.0), degree=degree, eta=eta, seed=0)
    for raw_arm, context, loss, use_select in steps:
        arm = learner.select(context) if use_select else raw_arm % n_arms
        learner.update(arm, context, loss)
        p = learner.predict_proba(context)
        assert p.shape == (n_arms,)
        assert np.all(np.isfinite(p)) and np.all(p >= 0)
        assert abs(p.sum() - 1.0) < 1e-9
        assert np.all(np.isfinite(learner.coef_))
        assert math.isfinite(learner.eta_)


def test_chebcb_seed_reproducibility():
    def choices(seed):
        learner = ChebCB(6, context_range=(0.0, 1.0), seed=seed)
        out = []
        for t in range(300):
            c = (t * 0.37) % 1.0
            a = learner.select(c)
            out.append(a)
            learner.update(a, c, abs(a / 5.0 - c))
        return out

    assert choices(2) == choices(2)
    assert choices(2) != choices(3)


def test_chebcb_state_dict_json_round_trip():
    T, half = 600, 300
    rng = np.random.default_rng(4)
    contexts = rng.random(T)
    noise = rng.uniform(-0.05, 0.05, T)

    def loss(a, t):
        return float(np.clip(_ctx_mean_loss(contexts[t])[a] + noise[t], 0, 1))

    ref = ChebCB(N_CTX_ARMS, context_range=(0.0, 1.0), seed=8)
    ref_choices = []
    for t in range(T):
        a = ref.select(contexts[t])
        ref_choices.append(a)
        ref.update(a, contexts[t], loss(a, t))

    first = ChebCB(N_CTX_ARMS, context_range=(0.0, 1.0), seed=8)
    choices = []
    for t in range(half):
        a = first.select(contexts[t])
        choices.append(a)
        first.update(a, contexts[t], loss(a, t))
    blob = json.dumps(first.state_dict())
    resumed = ChebCB.from_state_dict(json.loads(blob))
    other = ChebCB(N_CTX_ARMS, context_range=(0.0, 1.0), seed=123).load_state_dict(json.loads(blob))
    rest_other = []
    for t in range(half, T):
        a = resumed.select(contexts[t])
        choices.append(a)
        resumed.update(a, contexts[t], loss(a, t))
        b = other.select(contexts[t])
        rest_other.append(b)
        other.update(b, contexts[t], loss(b, t))
    assert choices == ref_choices
    assert rest_other == ref_choices[half:]
    np.testing.assert_array_equal(resumed.coef_, ref.coef_)
    assert resumed.eta_ == ref.eta_


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_arms": 0, "context_range": (0, 1)}, "n_arms"),
        ({"n_arms": 3, "context_range": (1, 1)}, "context_range"),
        ({"n_arms": 3, "context_range": (2, 1)}, "context_range"),
        ({"n_arms": 3, "context_range": (0, float("inf"))}, "context_range"),
        ({"n_arms": 3, "context_range": None}, "context_range"),
        ({"n_arms": 3, "context_range": (0, 1, 2)}, "context_range"),
        ({"n_arms": 3, "context_range": (0, 1), "degree": -1}, "degree"),
        ({"n_arms": 3, "context_range": (0, 1), "degree": 2.0}, "degree"),
        ({"n_arms": 3, "context_range": (0, 1), "ridge": 0.0}, "ridge"),
        ({"n_arms": 3, "context_range": (0, 1), "coef_bound": -1.0}, "coef_bound"),
        ({"n_arms": 3, "context_range": (0, 1), "eta": -1.0}, "eta"),
        ({"n_arms": 3, "context_range": (0, 1), "approx_error": float("nan")}, "approx_error"),
    ],
)
def test_chebcb_bad_construction(kwargs, match):
    n = kwargs.pop("n_arms")
    with pytest.raises(ValueError, match=match):
        ChebCB(n, **kwargs)


@pytest.mark.parametrize(
    "args, match",
    [
        ((3, 0.5, 0.5), "arm"),
        ((-1, 0.5, 0.5), "arm"),
        ((0.0, 0.5, 0.5), "arm"),
        ((0, float("nan"), 0.5), "context"),
        ((0, float("inf"), 0.5), "context"),
        ((0, "0.5", 0.5), "context"),
        ((0, 0.5, 1.5), "loss"),
        ((0, 0.5, -0.5), "loss"),
        ((0, 0.5, float("nan")), "loss"),
    ],
)
def test_chebcb_bad_update(args, match):
    learner = ChebCB(3, context_range=(0.0, 1.0))
    before = learner.state_dict()
    with pytest.raises(ValueError, match=match):
        learner.update(*args)
    assert learner.state_dict() == before
    with pytest.raises(ValueError, match="context"):
        learner.select(float("nan"))


def _chebcb_state():
    learner = ChebCB(3, context_range=(0.0, 1.0), seed=0)
    for t in range(20):
        c = t / 20
        learner.update(learner.select(c), c, 0.4)
    return json.loads(json.dumps(learner.state_dict()))


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.update({"class": "TsallisINF"}), "TsallisINF"),
        (lambda d: d.update({"degree": 3}), "degree"),
        (lambda d: d.update({"context_range": [0.0, 2.0]}), "context_range"),
        (lambda d: d.update({"coef": [[0.0] * 6] * 2}), "shape"),
        (lambda d: d.update({"gram": "nope"}), "gram"),
        (lambda d: d.pop("gram_inv"), "gram_inv"),
        (lambda d: d.update({"counts": [0, 0, 1]}), "counts"),
        (lambda d: d.update({"probabilities": [1.0, 1.0, 1.0]}), "probabilities"),
        (lambda d: d.update({"sq_error": float("inf")}), "sq_error"),
        (lambda d: d.update({"rng_state": None}), "rng_state"),
    ],
)
def test_chebcb_bad_state_dict(mutate, match):
    d = _chebcb_state()
    mutate(d)
    learner = ChebCB(3, context_range=(0.0, 1.0), seed=0)
    before = learner.state_dict()
    with pytest.raises(StateFileError, match=match):
        learner.load_state_dict(d)
    assert learner.state_dict() == before
