"""ChebCB: the contextual bandit of *Learning to Relax* for a scalar context.

Khodak, Chow, Balcan & Talwalkar (ICLR 2024, arXiv:2310.02246) show that, for systems
``A + c I`` with a scalar diagonal shift ``c`` (or, in their heat-equation experiment, the
diffusion coefficient), the cost of each relaxation factor is a well-behaved function of the
context, so it can be learned per arm by regression on Chebyshev polynomials of the context and
the arms explored with inverse-gap weighting.  Their MATLAB reference is ``learners/ChebCB.m`` in
``mkhodak/learning-to-relax``; this is a clean, incremental reimplementation.

What is implemented, and where it comes from
--------------------------------------------
* **Feature map** -- the context ``c`` is mapped affinely from ``[lo, hi]`` to ``z in [-1, 1]``
  (contexts outside ``[lo, hi]`` are *clipped* to it) and expanded as
  ``phi(c) = (T_0(z), ..., T_m-1(z))``, ``T_j`` the Chebyshev polynomials of the first kind
  (three-term recurrence).  Default ``degree = 5`` (``m = 6`` coefficients), the setting used by
  the paper's experiment scripts (``ChebCB(grid, T, 6, a, b)`` in ``scripts/contextual.m`` and
  ``scripts/h2d.m``; in ``ChebCB.m`` ``m`` counts coefficients, i.e. the top power is ``m - 1``).
* **Regression oracle** -- one least-squares fit per arm of its observed losses on ``phi``,
  constrained to the box ``|theta_0| <= 1``, ``|theta_j| <= coef_bound / j`` (``j >= 1``): the
  paper bounds the Chebyshev coefficients of a function of bounded variation like ``1/j``, and
  ``ChebCB.m`` fits by unconstrained least squares and, when that leaves the box, re-fits with
  ``lsqlin`` under these bounds.  In ``ChebCB.m`` the bounds work out (the loss range is computed
  over a zero-padded array, so it equals the largest loss seen) to ``|theta_0| <= 1`` and
  ``|theta_j| <= 2/j`` in units of the largest loss -- hence ``coef_bound = 2`` here, with losses
  already normalised to ``[0, 1]``.
  Incremental: each arm keeps its Gram matrix ``G = lambda I + sum phi phi^T``, the inverse
  ``G^{-1}`` updated by Sherman-Morrison, and ``sum loss * phi``, so an update costs
  ``O(m^2)`` (plus, only when the unconstrained solution leaves the box, a projected-Newton
  solve of the ``m``-dimensional box QP).  ``ridge = lambda = 1e-3`` stands in for MATLAB's
  minimum-norm solution (``lsqminnorm``, the ``lambda -> 0`` limit) and keeps ``G`` invertible;
  ``G^{-1}`` is recomputed from ``G`` every 256 updates of an arm to stop round-off drift.
* **Exploration** -- inverse-gap weighting (SquareCB, Foster & Rakhlin, ICML 2020, which ChebCB
  instantiates): with predictions ``yhat`` and leader ``a* = argmin yhat``,

      p_a = 1 / (K + eta * (yhat_a - yhat_a*))  for a != a*,   p_a* = 1 - sum_{a != a*} p_a.

* **Exploration schedule** -- by default the adaptive rate of ``ChebCB.m`` (its comment: "eta
  increases linearly in t"): after ``t`` rounds

      eta = 2 t sqrt(K t / (R_t + 2 alpha^2 t)),

  ``R_t`` the cumulative squared error of the pre-update predictions of the played arms (the
  online regression loss SquareCB's rate is tuned to) and ``alpha`` the Chebyshev approximation
  error bound ``(pi + (2/pi) log(2m + 1)) / (2 (m + 1))`` times the loss range (1 here), the
  misspecification term.  ``eta = 0`` (uniform play) before the first update.  ``ChebCB.m`` also
  subtracts the residual norm of its last ``lsqlin`` re-fit (a single arm's, and zero unless the
  box was active) from ``R_t``; that term is dropped here, which errs towards exploring a
  little more.  Pass ``eta=<float>`` for a constant rate instead (the older root-level
  ``ChebCB.m`` used ``sqrt(K m^2 T / (K m^3 + T))`` for a known horizon ``T``).

Losses
------
``update`` takes losses normalised to ``[0, 1]`` by the caller (e.g. ``iterations /
max_iterations``).  ``ChebCB.m`` takes raw iteration counts and rescales targets internally to
``(iterations - 1) / (K N)`` with ``K`` the largest count so far and ``N = 2 + 4 (1 + log m)``;
the exploration rule is invariant to that rescaling once ``eta`` is expressed in the same units,
so normalising outside gives the same algorithm with a fixed scale.  As there, the scale
matters: the coefficient box and ``alpha`` assume the losses span a good part of ``[0, 1]``;
normalising by a far-away hard iteration cap squeezes the gaps and makes ChebCB explore much
longer.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ..errors import ConfigurationError, StateFileError
from ._state_checks import as_float, as_int
from .tsallis_inf import (
    BanditInputError,
    _check_arm,
    _check_header,
    _check_loss,
    _check_n_arms,
    _check_positive_float,
    _check_seed,
    _float_array,
    _restore_rng,
    _rng_state,
    _sample,
    _STATE_VERSION,
)

__all__ = ["ChebCB", "chebyshev_features"]

_REINVERT_EVERY = 256
_ETA_MAX = 1e12
_DEFAULT_DEGREE = 5


def chebyshev_features(z: float, m: int) -> np.ndarray:
    """``(T_0(z), ..., T_{m-1}(z))`` by the recurrence ``T_{k+1} = 2 z T_k - T_{k-1}``."""
    out = np.empty(m)
    out[0] = 1.0
    if m > 1:
        out[1] = z
        a, b = 1.0, z
        for k in range(2, m):
            a, b = b, 2.0 * z * b - a
            out[k] = b
    return out


def _box_qp(
    G: np.ndarray, c: np.ndarray, lb: np.ndarray, ub: np.ndarray, x0: np.ndarray,
    *, max_iter: int = 100, tol: float = 1e-12,
) -> np.ndarray:
    """Minimise ``x'Gx/2 - c'x`` over ``lb <= x <= ub`` (``G`` symmetric positive definite).

    Bertsekas' projected Newton method (1982) with an Armijo search along the projection arc:
    Newton steps on the variables that are not held at a bound, gradient-scaled steps on those
    that are.  This is the least-squares re-fit that ``ChebCB.m`` delegates to ``lsqlin``
    (``G = Phi'Phi + lambda I``, ``c = Phi'y``).  Always returns a feasible point.
    """
    x = np.clip(x0, lb, ub)
    diag = np.diag(G).copy()

    def f(v: np.ndarray) -> float:
        return 0.5 * float(v @ (G @ v)) - float(c @ v)

    fx = f(x)
    scale = max(1.0, float(np.max(np.abs(c))), float(np.max(diag)))
    for _ in range(max_iter):
        g = G @ x - c
        pg = x - np.clip(x - g, lb, ub)  # projected-gradient residual; zero exactly at KKT
        res = float(np.max(np.abs(pg)))
        if res <= tol * scale:
            break
        eps = min(1e-8, res)
        held = ((x <= lb + eps) & (g > 0)) | ((x >= ub - eps) & (g < 0))
        free = ~held
        d = np.zeros_like(x)
        if free.any():
            idx = np.flatnonzero(free)
            d[idx] = -np.linalg.solve(G[np.ix_(idx, idx)], g[idx])
        d[held] = -g[held] / diag[held]
        alpha = 1.0
        while True:
            xn = np.clip(x + alpha * d, lb, ub)
            fn = f(xn)
            # Armijo test on the projection arc (Bertsekas 1982, eq. 32)
            if fn <= fx + 1e-4 * float(g @ (xn - x)) or alpha < 1e-12:
                break
            alpha *= 0.5
        if fn > fx:  # no progress possible at machine precision
            break
        x, fx = xn, fn
    return x


class ChebCB:
    """Chebyshev-regression contextual bandit over ``n_arms`` arms and a scalar context.

    Parameters
    ----------
    n_arms : int
        Number of arms ``K`` (>= 1).
    context_range : (float, float)
        Known interval ``[lo, hi]`` of the context (``lo < hi``); contexts outside are clipped.
    degree : int or None, default None
        Highest Chebyshev degree (``None``: 5, the paper's setting; ``degree + 1`` coefficients).
    seed : int or None, default 0
        Seed of the learner's own random generator (``None``: fresh OS entropy).
    ridge : float, default 1e-3
        ``lambda`` of the per-arm Gram matrices ``lambda I + sum phi phi^T`` (> 0).
    coef_bound : float or None, default 2.0
        Box on the coefficients: ``|theta_0| <= 1``, ``|theta_j| <= coef_bound / j``; ``None``
        disables it (plain ridge regression).
    approx_error : float or None, default None
        ``alpha`` of the adaptive rate; ``None``: ``(pi + (2/pi) log(2m+1)) / (2 (m+1))``.
    eta : float or None, default None
        Constant inverse-gap-weighting rate; ``None``: the adaptive schedule of ``ChebCB.m``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_arms, degree + 1)
        Per-arm Chebyshev coefficients (loss model ``yhat_a(c) = coef_[a] @ phi(c)``).
    counts_ : ndarray of shape (n_arms,)
        Updates per arm.
    t_ : int
        Rounds completed (updates).
    eta_ : float
        Exploration rate used by the next :meth:`select`.
    sq_error_ : float
        ``R_t``, cumulative squared error of the pre-update predictions of the played arms.
    probabilities_ : ndarray of shape (n_arms,)
        Distribution used by the last :meth:`select` (uniform before any).
    last_arm_ : int or None
        Arm returned by the last :meth:`select`.
    """

    def __init__(
        self,
        n_arms: int,
        *,
        context_range: tuple[float, float],
        degree: int | None = None,
        seed: int | None = 0,
        ridge: float = 1e-3,
        coef_bound: float | None = 2.0,
        approx_error: float | None = None,
        eta: float | None = None,
    ) -> None:
        self.n_arms = _check_n_arms(n_arms)
        try:
            lo, hi = context_range
            lo, hi = float(lo), float(hi)
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"context_range must be a pair (lo, hi) of finite numbers, got {context_range!r}"
            ) from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ConfigurationError(
                f"context_range must be finite with lo < hi, got ({lo!r}, {hi!r})"
            )
        self.context_range = (lo, hi)
        if degree is None:
            degree = _DEFAULT_DEGREE
        if isinstance(degree, bool) or not isinstance(degree, numbers.Integral) or degree < 0:
            raise ConfigurationError(f"degree must be None or an integer >= 0, got {degree!r}")
        self.degree = int(degree)
        self.seed = _check_seed(seed)
        self.ridge = _check_positive_float(ridge, "ridge")
        self.coef_bound = None if coef_bound is None else _check_positive_float(coef_bound, "coef_bound")
        m = self.degree + 1
        if approx_error is None:
            approx_error = (math.pi + 2.0 / math.pi * math.log(2 * m + 1)) / (2.0 * (m + 1))
        self.approx_error = _check_positive_float(approx_error, "approx_error", allow_zero=True)
        self.eta = None if eta is None else _check_positive_float(eta, "eta", allow_zero=True)

        if self.coef_bound is None:
            self._lb = self._ub = None
        else:
            self._ub = np.concatenate(([1.0], self.coef_bound / np.arange(1, m)))
            self._lb = -self._ub
        K = self.n_arms
        self._rng = np.random.default_rng(self.seed)
        self._gram = np.broadcast_to(self.ridge * np.eye(m), (K, m, m)).copy()
        self._gram_inv = np.broadcast_to(np.eye(m) / self.ridge, (K, m, m)).copy()
        self._xty = np.zeros((K, m))
        self.coef_ = np.zeros((K, m))
        self.counts_ = np.zeros(K, dtype=np.int64)
        self.t_ = 0
        self.sq_error_ = 0.0
        self.eta_ = 0.0 if self.eta is None else self.eta
        self.probabilities_ = np.full(K, 1.0 / K)
        self.last_arm_: int | None = None

    # ---------------------------------------------------------------------------------------

    def _features(self, context: Any) -> np.ndarray:
        if isinstance(context, bool) or not isinstance(context, numbers.Real):
            raise BanditInputError(f"context must be a finite real number, got {context!r}")
        c = float(context)
        if not math.isfinite(c):
            raise BanditInputError(f"context must be a finite real number, got {c!r}")
        lo, hi = self.context_range
        z = 2.0 * (c - lo) / (hi - lo) - 1.0
        z = -1.0 if z < -1.0 else (1.0 if z > 1.0 else z)  # clip to the known range
        return chebyshev_features(z, self.degree + 1)

    def predict(self, context: float) -> np.ndarray:
        """Estimated loss of every arm at ``context`` (shape ``(n_arms,)``, not clipped)."""
        return self.coef_ @ self._features(context)

    def _igw(self, yhat: np.ndarray) -> np.ndarray:
        K = self.n_arms
        best = int(np.argmin(yhat))
        p = 1.0 / (K + self.eta_ * (yhat - yhat[best]))
        p[best] = 0.0
        p[best] = max(0.0, 1.0 - float(p.sum()))
        return p

    def predict_proba(self, context: float) -> np.ndarray:
        """The inverse-gap-weighting distribution :meth:`select` would sample at ``context``."""
        return self._igw(self.predict(context))

    def select(self, context: float) -> int:
        """Sample an arm for ``context`` (inverse-gap weighting) and remember it."""
        p = self.predict_proba(context)
        arm = _sample(self._rng, p)
        self.probabilities_ = p
        self.last_arm_ = arm
        return arm

    def update(self, arm: int, context: float, loss: float) -> "ChebCB":
        """Record that ``arm`` incurred ``loss`` (in ``[0, 1]``) at ``context``; returns ``self``.

        Cost ``O(m^2)``, ``m = degree + 1`` (Sherman-Morrison), plus a small box-QP solve when
        the unconstrained fit leaves the coefficient box.
        """
        arm = _check_arm(arm, self.n_arms)
        phi = self._features(context)
        loss = _check_loss(loss)
        theta = self.coef_[arm]
        err = float(theta @ phi) - loss
        self.sq_error_ += err * err

        P = self._gram_inv[arm]
        Pphi = P @ phi
        P -= np.outer(Pphi, Pphi) / (1.0 + float(phi @ Pphi))
        self._gram[arm] += np.outer(phi, phi)
        self._xty[arm] += loss * phi
        self.counts_[arm] += 1
        if self.counts_[arm] % _REINVERT_EVERY == 0:
            inv = np.linalg.inv(self._gram[arm])
            P[...] = 0.5 * (inv + inv.T)
        theta = P @ self._xty[arm]
        if self._ub is not None and np.any(np.abs(theta) > self._ub):
            theta = _box_qp(self._gram[arm], self._xty[arm], self._lb, self._ub, theta)
        self.coef_[arm] = theta

        self.t_ += 1
        if self.eta is None:
            t = float(self.t_)
            denom = max(self.sq_error_ + 2.0 * self.approx_error**2 * t, 1e-300)
            self.eta_ = min(2.0 * t * math.sqrt(self.n_arms * t / denom), _ETA_MAX)
        return self

    # ---------------------------------------------------------------------------------------

    def _settings(self) -> dict:
        return {
            "n_arms": self.n_arms,
            "context_range": list(self.context_range),
            "degree": self.degree,
            "ridge": self.ridge,
            "coef_bound": self.coef_bound,
            "approx_error": self.approx_error,
            "eta": self.eta,
        }

    def state_dict(self) -> dict:
        """Everything needed to resume, as JSON-serialisable lists/floats/ints/strings."""
        return {
            "class": "ChebCB",
            "version": _STATE_VERSION,
            **self._settings(),
            "seed": self.seed,
            "t": self.t_,
            "sq_error": self.sq_error_,
            "eta_current": self.eta_,
            "counts": self.counts_.tolist(),
            "coef": self.coef_.tolist(),
            "gram": self._gram.tolist(),
            "gram_inv": self._gram_inv.tolist(),
            "xty": self._xty.tolist(),
            "probabilities": self.probabilities_.tolist(),
            "last_arm": self.last_arm_,
            "rng_state": _rng_state(self._rng),
        }

    def load_state_dict(self, d: dict) -> "ChebCB":
        """Restore a :meth:`state_dict`; raises :class:`~seqsolve.errors.StateFileError`
        (a ``ValueError``) if ``d`` is malformed or was made by a learner with other settings."""
        where = "ChebCB.load_state_dict"
        _check_header(d, "ChebCB")
        for key, mine in self._settings().items():
            theirs = d.get(key)
            if isinstance(theirs, tuple):
                theirs = list(theirs)
            if theirs != mine:
                raise StateFileError(
                    f"{where}: incompatible state, it has {key}={theirs!r} but this learner has "
                    f"{key}={mine!r}"
                )
        K, m = self.n_arms, self.degree + 1
        t = as_int(d.get("t"), f"{where}: 't'")
        # bounds that the update rule guarantees (losses in [0, 1], |phi| <= 1, G >= ridge I); a
        # value outside them is not a state this learner can reach, and may overflow later
        sq = as_float(d.get("sq_error"), f"{where}: 'sq_error'", lo=0.0, hi=1e200)
        eta_now = as_float(d.get("eta_current"), f"{where}: 'eta_current'", lo=0.0, hi=_ETA_MAX)
        counts = _float_array(d, "counts", (K,), where)
        if np.any(counts < 0) or np.any(counts > t) or np.any(counts != np.round(counts)) or counts.sum() != t:
            raise StateFileError(f"{where}: 'counts' must be non-negative integers summing to t={t}")
        coef = _float_array(d, "coef", (K, m), where)
        if self._ub is not None and np.any(np.abs(coef) > self._ub * (1 + 1e-9)):
            raise StateFileError(f"{where}: 'coef' lies outside the coefficient box")
        if np.any(np.abs(coef) > 1e150):
            raise StateFileError(f"{where}: 'coef' is out of range")
        gram = _float_array(d, "gram", (K, m, m), where)
        gram_inv = _float_array(d, "gram_inv", (K, m, m), where)
        xty = _float_array(d, "xty", (K, m), where)
        tol = 1e-9 * (1.0 + counts[:, None])
        if np.any(np.abs(xty) > counts[:, None] + tol):
            raise StateFileError(f"{where}: 'xty' exceeds what the counts allow")
        if (np.any(np.abs(gram) > self.ridge + counts[:, None, None] + tol[:, :, None])
                or np.any(np.abs(gram - gram.transpose(0, 2, 1)) > tol[:, :, None])
                or np.any(np.diagonal(gram, axis1=1, axis2=2) < self.ridge * (1 - 1e-9))):
            raise StateFileError(f"{where}: 'gram' is not a Gram matrix these counts can produce")
        try:
            np.linalg.cholesky(gram)  # positive definite, or the box-constrained re-fit fails
        except np.linalg.LinAlgError:
            raise StateFileError(f"{where}: 'gram' is not positive definite") from None
        if np.any(np.abs(gram_inv) > 10.0 / self.ridge):  # |G^-1| <= 1/ridge for G >= ridge I
            raise StateFileError(f"{where}: 'gram_inv' is out of range")
        probs = _float_array(d, "probabilities", (K,), where)
        if np.any(probs < 0) or np.any(probs > 1) or abs(probs.sum() - 1.0) > 1e-9:
            raise StateFileError(f"{where}: 'probabilities' is not a probability vector")
        last = d.get("last_arm")
        if last is not None:
            last = as_int(last, f"{where}: 'last_arm'", hi=K - 1)
        rng = _restore_rng(d.get("rng_state"), where)
        # all checks passed: commit
        self.t_, self.sq_error_, self.eta_ = t, sq, eta_now
        self.counts_ = counts.astype(np.int64)
        self.coef_, self._gram, self._gram_inv, self._xty = coef, gram, gram_inv, xty
        self.probabilities_, self.last_arm_, self._rng = probs, last, rng
        self.seed = d.get("seed") if isinstance(d.get("seed"), int) else None
        return self

    @classmethod
    def from_state_dict(cls, d: dict) -> "ChebCB":
        """Build a learner with the settings stored in ``d`` and restore its state."""
        if not isinstance(d, dict):
            raise StateFileError(f"ChebCB state must be a dict, got {type(d).__name__}")
        try:
            obj = cls(
                d.get("n_arms"), context_range=tuple(d.get("context_range") or ()),
                degree=d.get("degree"), ridge=d.get("ridge"), coef_bound=d.get("coef_bound"),
                approx_error=d.get("approx_error"), eta=d.get("eta"), seed=None,
            )
        except ConfigurationError as exc:
            raise StateFileError(f"ChebCB.from_state_dict: bad settings in state ({exc})") from None
        return obj.load_state_dict(d)

    def __repr__(self) -> str:
        lo, hi = self.context_range
        return (
            f"ChebCB(n_arms={self.n_arms}, context_range=({lo:g}, {hi:g}), degree={self.degree}, "
            f"t_={self.t_})"
        )
