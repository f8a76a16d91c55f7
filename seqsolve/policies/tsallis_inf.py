"""Tsallis-INF: the non-contextual bandit learner of *Learning to Relax*.

Khodak, Chow, Balcan & Talwalkar (ICLR 2024, arXiv:2310.02246) pick the SOR / SSOR relaxation
factor ``omega`` from a fixed grid (``linspace(1, 1.95, 20)`` in their experiments) by running
Tsallis-INF (Zimmert & Seldin, *Tsallis-INF: An Optimal Algorithm for Stochastic and Adversarial
Bandits*, JMLR 2021) on the number of iterations each solve took.  Their MATLAB reference is
``learners/TsallisINF.m`` in ``mkhodak/learning-to-relax``; this is a clean reimplementation.

What is implemented, and where it comes from
--------------------------------------------
* **Regulariser and weights** -- Zimmert & Seldin, Algorithm 1 with the 1/2-Tsallis entropy
  (``alpha = 1/2``).  The sampling distribution for round ``t`` is

      p_{t,i} = 4 / (eta_t * (Lhat_{t-1,i} - x_t))**2,

  with the normalisation constant ``x_t < min_i Lhat_{t-1,i}`` chosen so that ``sum_i p_{t,i} = 1``.
* **Normalisation constant** -- Zimmert & Seldin, Algorithm 2 (Newton's method on
  ``f(x) = sum_i p_i(x) - 1``, step ``x <- x - f(x) / (eta * sum_i p_i(x)**1.5)``).  ``f`` is convex
  and increasing on ``x < min Lhat``; we start from the previous round's ``x`` (warm start, as
  Zimmert & Seldin suggest) but never to the right of ``min Lhat - 2/eta`` (where ``f >= 0`` is
  guaranteed), so every iterate after the first lies right of the root and Newton converges
  monotonically -- no pole crossing, no NaN.  The MATLAB code instead runs 20 unguarded Newton
  steps from ``x = -1`` and falls back to uniform sampling if they produce garbage.
* **Learning rate** -- ``eta_t = eta0 / sqrt(t)`` with ``eta0 = 2`` (``t`` = 1, 2, ... is the round
  being played).  This is the rate Zimmert & Seldin's Theorem 1 pairs with the importance-weighted
  estimator and the rate hard-coded in the paper's ``TsallisINF.m`` ("time-varying setting of
  eta = 2 / sqrt(t)"), and the one seqsolve's issue asks for.  (For the reduced-variance estimator
  Zimmert & Seldin's theorem uses ``eta0 = 4``; pass ``eta0=4.0`` to get that.)
* **Loss estimates** -- ``estimator="iw"`` (default): plain importance weighting,
  ``Lhat_i += loss / p_i`` for the played arm only.  This is what the paper's MATLAB code does (it
  accumulates ``(iterations - 1) / p``; it does *not* use Zimmert & Seldin's reduced-variance
  estimator).  ``estimator="rv"`` gives Zimmert & Seldin's reduced-variance estimator
  ``Lhat_i += 1[I_t = i] (loss - B_i) / p_i + B_i`` with ``B_i = 1/2 * 1[p_i >= eta_t**2]``.

Losses
------
``update`` takes a loss already normalised to ``[0, 1]`` by the caller (for a solver: e.g.
``iterations / max_iterations``).  The MATLAB code instead feeds raw iteration counts and rescales
them on the fly by ``(iterations - 1) / (running mean of iterations - 1)``; that is not bounded and
changes the scale of past estimates retroactively, so we leave normalisation to the caller.
The scale matters: dividing all losses by ``s`` is the same as dividing ``eta0`` by ``s``, so
normalise by a realistic bound on the cost (e.g. a few times the typical iteration count), not by
a far-away hard iteration cap, or learning slows down by that factor.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ..errors import ConfigurationError, SeqsolveError, StateFileError
from ._state_checks import as_float, as_int

__all__ = ["TsallisINF", "BanditInputError"]

_STATE_VERSION = 1
_NEWTON_MAX_ITER = 100
_NEWTON_TOL = 1e-13
#: bound on loaded loss estimates: keeps (eta * (L - x))**2 finite and the weights positive
_MAX_ESTIMATE = 1e150


class BanditInputError(SeqsolveError, ValueError):
    """A bandit learner was given a bad per-round input (arm index, loss or context)."""


# --------------------------------------------------------------------------------------------
# small validation helpers shared with :mod:`seqsolve.policies.chebcb`
# --------------------------------------------------------------------------------------------


def _check_n_arms(n_arms: Any) -> int:
    if isinstance(n_arms, bool) or not isinstance(n_arms, numbers.Integral) or int(n_arms) < 1:
        raise ConfigurationError(f"n_arms must be an integer >= 1, got {n_arms!r}")
    return int(n_arms)


def _check_seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise ConfigurationError(f"seed must be None or a non-negative integer, got {seed!r}")
    return int(seed)


def _check_arm(arm: Any, n_arms: int) -> int:
    if isinstance(arm, bool) or not isinstance(arm, numbers.Integral):
        raise BanditInputError(f"arm must be an integer in [0, {n_arms}), got {arm!r}")
    a = int(arm)
    if not 0 <= a < n_arms:
        raise BanditInputError(f"arm must be an integer in [0, {n_arms}), got {a}")
    return a


def _check_loss(loss: Any) -> float:
    if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
        raise BanditInputError(f"loss must be a finite real number in [0, 1], got {loss!r}")
    v = float(loss)
    if not (math.isfinite(v) and 0.0 <= v <= 1.0):
        raise BanditInputError(
            f"loss must be a finite real number in [0, 1] (normalise it first, e.g. "
            f"iterations / max_iterations), got {v!r}"
        )
    return v


def _check_positive_float(value: Any, name: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigurationError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0.0 or (v == 0.0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigurationError(f"{name} must be finite and {bound}, got {v!r}")
    return v


def _sample(rng: np.random.Generator, probs: np.ndarray) -> int:
    """Draw an index from ``probs`` with one uniform variate (inverse-CDF; reproducible)."""
    cdf = np.cumsum(probs)
    u = rng.random() * cdf[-1]
    return int(min(np.searchsorted(cdf, u, side="right"), probs.shape[0] - 1))


def _rng_state(rng: np.random.Generator) -> dict:
    st = rng.bit_generator.state
    return {
        "bit_generator": st["bit_generator"],
        "state": {"state": int(st["state"]["state"]), "inc": int(st["state"]["inc"])},
        "has_uint32": int(st["has_uint32"]),
        "uinteger": int(st["uinteger"]),
    }


def _restore_rng(state: Any, where: str) -> np.random.Generator:
    try:
        if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
            raise TypeError("expected a PCG64 state dict")
        bg = np.random.PCG64()
        bg.state = {
            "bit_generator": "PCG64",
            "state": {"state": int(state["state"]["state"]), "inc": int(state["state"]["inc"])},
            "has_uint32": int(state["has_uint32"]),
            "uinteger": int(state["uinteger"]),
        }
    except (TypeError, KeyError, ValueError, OverflowError) as exc:
        raise StateFileError(f"{where}: bad 'rng_state' entry ({exc})") from None
    return np.random.Generator(bg)


def _float_array(d: dict, key: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    if key not in d:
        raise StateFileError(f"{where}: state dict has no {key!r} entry")
    try:
        arr = np.asarray(d[key], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StateFileError(f"{where}: {key!r} is not numeric ({exc})") from None
    if arr.shape != shape:
        raise StateFileError(f"{where}: {key!r} has shape {arr.shape}, expected {shape}")
    if not np.all(np.isfinite(arr)):
        raise StateFileError(f"{where}: {key!r} contains NaN or Inf")
    return arr.copy()


def _int_entry(d: dict, key: str, where: str, *, minimum: int = 0) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or int(v) < minimum:
        raise StateFileError(f"{where}: {key!r} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _float_entry(d: dict, key: str, where: str) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
        raise StateFileError(f"{where}: {key!r} must be a finite number, got {v!r}")
    return float(v)


def _check_header(d: Any, cls: str) -> None:
    if not isinstance(d, dict):
        raise StateFileError(f"{cls} state must be a dict, got {type(d).__name__}")
    if d.get("class") != cls:
        raise StateFileError(f"state dict is for {d.get('class')!r}, not {cls!r}")
    if d.get("version") != _STATE_VERSION:
        raise StateFileError(
            f"{cls} state dict has version {d.get('version')!r}; this seqsolve reads version "
            f"{_STATE_VERSION}"
        )


# --------------------------------------------------------------------------------------------


def tsallis_weights(
    cum_loss: np.ndarray, eta: float, x0: float | None = None
) -> tuple[np.ndarray, float]:
    """1/2-Tsallis-INF weights ``p_i = 4 / (eta (L_i - x))**2`` with ``sum p = 1``.

    Zimmert & Seldin (2021), Algorithm 2: Newton's method on the normalisation constant ``x``.
    Returns ``(p, x)``; ``x0`` is an optional warm start (the previous round's ``x``).
    """
    lmin = float(cum_loss.min())
    s = cum_loss - lmin  # shifted so min is 0: keeps (L - x) accurate when L is large
    y_hi = -2.0 / eta  # at y_hi the leading arm alone has weight 1, so f(y_hi) >= 0
    y = y_hi if x0 is None else min(float(x0) - lmin, y_hi)
    for _ in range(_NEWTON_MAX_ITER):
        w = 4.0 / (eta * (s - y)) ** 2
        total = float(w.sum())
        f = total - 1.0
        if abs(f) <= _NEWTON_TOL:
            break
        step = f / (eta * float(np.sum(w**1.5)))
        y_new = min(y - step, y_hi)
        if y_new == y:
            break
        y = y_new
    w = 4.0 / (eta * (s - y)) ** 2
    return w / w.sum(), y + lmin


class TsallisINF:
    """Tsallis-INF bandit (1/2-Tsallis entropy, ``eta_t = eta0 / sqrt(t)``) over ``n_arms`` arms.

    Parameters
    ----------
    n_arms : int
        Number of arms (>= 1).
    seed : int or None, default 0
        Seed of the learner's own random generator (``None``: fresh OS entropy).
    eta0 : float, default 2.0
        Learning-rate constant: round ``t`` uses ``eta_t = eta0 / sqrt(t)`` (paper code: 2).
    estimator : {"iw", "rv"}, default "iw"
        Loss estimator: importance weighting (paper code) or Zimmert & Seldin's reduced-variance
        one.

    Attributes
    ----------
    probabilities_ : ndarray of shape (n_arms,)
        Distribution the next :meth:`select` samples from.
    t_ : int
        Number of :meth:`update` calls (rounds completed).
    cumulative_loss_estimates_ : ndarray of shape (n_arms,)
        Cumulative loss estimates ``Lhat`` (unbiased for the arms' cumulative losses).
    counts_ : ndarray of shape (n_arms,)
        Number of updates per arm.
    cumulative_loss_ : float
        Sum of all observed losses.
    last_arm_ : int or None
        Arm returned by the last :meth:`select`.

    Usage
    -----
    ``arm = learner.select(); ...; learner.update(arm, loss_in_0_1)``.  The estimate uses the
    probability ``probabilities_[arm]`` at update time, which is the probability ``arm`` was drawn
    with provided nothing was updated in between; updating an arm that was not drawn from
    ``probabilities_`` is allowed but makes the estimates biased.
    """

    def __init__(
        self,
        n_arms: int,
        *,
        seed: int | None = 0,
        eta0: float = 2.0,
        estimator: str = "iw",
    ) -> None:
        self.n_arms = _check_n_arms(n_arms)
        self.seed = _check_seed(seed)
        self.eta0 = _check_positive_float(eta0, "eta0")
        if estimator not in ("iw", "rv"):
            raise ConfigurationError(f"estimator must be 'iw' or 'rv', got {estimator!r}")
        self.estimator = estimator
        self._rng = np.random.default_rng(self.seed)
        self.t_ = 0
        self.cumulative_loss_estimates_ = np.zeros(self.n_arms)
        self.counts_ = np.zeros(self.n_arms, dtype=np.int64)
        self.cumulative_loss_ = 0.0
        self.last_arm_: int | None = None
        self._x: float | None = None
        self._refresh()

    # ---------------------------------------------------------------------------------------

    @property
    def eta_(self) -> float:
        """Learning rate of the next round, ``eta0 / sqrt(t_ + 1)``."""
        return self.eta0 / math.sqrt(self.t_ + 1)

    def _refresh(self) -> None:
        self.probabilities_, self._x = tsallis_weights(
            self.cumulative_loss_estimates_, self.eta_, self._x
        )

    def select(self) -> int:
        """Sample an arm from :attr:`probabilities_` and remember it (:attr:`last_arm_`)."""
        arm = _sample(self._rng, self.probabilities_)
        self.last_arm_ = arm
        return arm

    def update(self, arm: int, loss: float) -> "TsallisINF":
        """Record that ``arm`` incurred ``loss`` (in ``[0, 1]``) this round; returns ``self``."""
        arm = _check_arm(arm, self.n_arms)
        loss = _check_loss(loss)
        p = self.probabilities_
        if self.estimator == "iw":
            self.cumulative_loss_estimates_[arm] += loss / p[arm]
        else:  # Zimmert & Seldin's reduced-variance estimator, B_i = 1/2 * 1[p_i >= eta_t^2]
            eta = self.eta_
            base = np.where(p >= eta * eta, 0.5, 0.0)
            self.cumulative_loss_estimates_ += base
            self.cumulative_loss_estimates_[arm] += (loss - base[arm]) / p[arm]
        self.counts_[arm] += 1
        self.cumulative_loss_ += loss
        self.t_ += 1
        self._refresh()
        return self

    # ---------------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to resume, as JSON-serialisable lists/floats/ints/strings."""
        return {
            "class": "TsallisINF",
            "version": _STATE_VERSION,
            "n_arms": self.n_arms,
            "eta0": self.eta0,
            "estimator": self.estimator,
            "seed": self.seed,
            "t": self.t_,
            "cumulative_loss_estimates": self.cumulative_loss_estimates_.tolist(),
            "counts": self.counts_.tolist(),
            "cumulative_loss": self.cumulative_loss_,
            "last_arm": self.last_arm_,
            "newton_x": self._x,
            "probabilities": self.probabilities_.tolist(),
            "rng_state": _rng_state(self._rng),
        }

    def load_state_dict(self, d: dict) -> "TsallisINF":
        """Restore a :meth:`state_dict`; raises :class:`~seqsolve.errors.StateFileError`
        (a ``ValueError``) if ``d`` is malformed or was made by a learner with other settings."""
        where = "TsallisINF.load_state_dict"
        _check_header(d, "TsallisINF")
        for key, mine in (("n_arms", self.n_arms), ("eta0", self.eta0), ("estimator", self.estimator)):
            if d.get(key) != mine:
                raise StateFileError(
                    f"{where}: incompatible state, it has {key}={d.get(key)!r} but this learner "
                    f"has {key}={mine!r}"
                )
        t = as_int(d.get("t"), f"{where}: 't'")
        cum = _float_array(d, "cumulative_loss_estimates", (self.n_arms,), where)
        if np.any(np.abs(cum) > _MAX_ESTIMATE):
            raise StateFileError(f"{where}: 'cumulative_loss_estimates' exceed {_MAX_ESTIMATE:g}")
        counts = _float_array(d, "counts", (self.n_arms,), where)
        if np.any(counts < 0) or np.any(counts > t) or np.any(counts != np.round(counts)) or counts.sum() != t:
            raise StateFileError(f"{where}: 'counts' must be non-negative integers summing to t={t}")
        cl = as_float(d.get("cumulative_loss"), f"{where}: 'cumulative_loss'", lo=0.0, hi=t * (1 + 1e-9) + 1e-9)
        last = d.get("last_arm")
        if last is not None:
            last = as_int(last, f"{where}: 'last_arm'", hi=self.n_arms - 1)
        # the sampling distribution at round t + 1, from x as a warm start: x must lie where the
        # weights make sense (Newton's method diverges, or divides by zero, from far away), and
        # the stored probabilities must be those weights
        eta = self.eta0 / math.sqrt(t + 1)
        lmin = float(cum.min())
        x = d.get("newton_x")
        if x is not None:
            x = _float_entry(d, "newton_x", where)
            slack = 1e-9 * (abs(lmin) + 2.0 / eta)
            if not 2.0 / eta - slack <= lmin - x <= 4.0 * math.sqrt(self.n_arms) / eta + slack:
                raise StateFileError(f"{where}: 'newton_x' = {x!r} is inconsistent with the loss estimates")
        probs = _float_array(d, "probabilities", (self.n_arms,), where)
        if np.any(probs <= 0) or np.any(probs > 1) or abs(probs.sum() - 1.0) > 1e-9:
            raise StateFileError(f"{where}: 'probabilities' is not a positive probability vector")
        expected, _ = tsallis_weights(cum, eta, x)
        if not np.allclose(probs, expected, rtol=1e-6, atol=1e-9):
            raise StateFileError(f"{where}: 'probabilities' do not match the loss estimates")
        rng = _restore_rng(d.get("rng_state"), where)
        # all checks passed: commit
        self.t_ = t
        self.cumulative_loss_estimates_ = cum
        self.counts_ = counts.astype(np.int64)
        self.cumulative_loss_ = cl
        self.last_arm_ = last
        self._x = x
        self._rng = rng
        self.seed = d.get("seed") if isinstance(d.get("seed"), int) else None
        # stored rather than recomputed, so a resumed learner is bit-identical
        self.probabilities_ = probs
        return self

    @classmethod
    def from_state_dict(cls, d: dict) -> "TsallisINF":
        """Build a learner with the settings stored in ``d`` and restore its state."""
        if not isinstance(d, dict):
            raise StateFileError(f"TsallisINF state must be a dict, got {type(d).__name__}")
        try:
            obj = cls(d.get("n_arms"), eta0=d.get("eta0"), estimator=d.get("estimator"), seed=None)
        except ConfigurationError as exc:
            raise StateFileError(f"TsallisINF.from_state_dict: bad settings in state ({exc})") from None
        return obj.load_state_dict(d)

    def __repr__(self) -> str:
        return (
            f"TsallisINF(n_arms={self.n_arms}, eta0={self.eta0:g}, estimator={self.estimator!r}, "
            f"t_={self.t_})"
        )
