"""The bandits of *Learning to Relax* as policies over SSOR-PCG's ω grid.

:class:`~seqsolve.policies.tsallis_inf.TsallisINF` and :class:`~seqsolve.policies.chebcb.ChebCB`
are pure learners over arm indices with losses in ``[0, 1]``; this module maps arms to
configurations and costs to losses.  As in the paper the loss is the iteration count (wall time
is what ``auto`` minimises); it is normalised by twice the largest count seen so far, a scale that
is learned online because the sequence's iteration counts are not known in advance.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..configs import OMEGA_GRID, Configuration
from ..errors import ConfigurationError, NotSymmetricError, StateFileError
from ..records import SolveRecord
from ._state_checks import MAX_COUNT, as_dict, as_float
from .base import Policy
from .chebcb import ChebCB
from .tsallis_inf import TsallisINF


def omega_arms(kind: str = "numba-ssor-cg", omegas: Sequence[float] = OMEGA_GRID) -> list[Configuration]:
    """SSOR-PCG configurations on an ω grid (compiled by default: same iterations, less overhead)."""
    if kind not in ("numba-ssor-cg", "ssor-cg"):
        raise ConfigurationError(f"bandit arms must be 'numba-ssor-cg' or 'ssor-cg', got {kind!r}")
    return [Configuration(kind, (("omega", float(w)),)) for w in omegas]


class _OmegaBandit(Policy):
    """Shared plumbing: arms, loss normalisation, SPD check, persistence."""

    def __init__(self, arms: Sequence[Configuration], seed: int | None) -> None:
        self.arms = list(arms)
        self.seed = seed
        self.scale_ = 0.0  # largest iteration count seen so far
        self._last: int | None = None
        self._allowed_ok: object = None

    def candidates(self) -> Sequence[Configuration]:
        return self.arms

    def _check_allowed(self, allowed) -> None:
        if allowed is None or allowed is self._allowed_ok:
            return
        if set(self.arms) <= set(allowed):
            self._allowed_ok = allowed  # the solver passes the same list while the system kind is unchanged
            return
        raise NotSymmetricError(
            f"{self.spec or type(self).__name__} chooses among SSOR-PCG configurations, which need a "
            f"symmetric positive definite matrix; this matrix is not symmetric — use policy='auto'"
        )

    def _loss(self, info: SolveRecord) -> float:
        self.scale_ = max(self.scale_, float(info.iterations))
        return min(1.0, info.iterations / (2.0 * self.scale_)) if self.scale_ > 0 else 0.0

    def _arm_of(self, info: SolveRecord) -> int | None:
        if self._last is None or self.arms[self._last].name != info.configuration:
            return None
        return self._last

    def state_dict(self) -> dict:
        return {"kind": self.kind, "arms": [a.name for a in self.arms], "scale": self.scale_,
                "learner": self.learner_.state_dict()}

    def load_state_dict(self, state: Mapping) -> "_OmegaBandit":
        state = as_dict(state, f"{self.kind} state")
        if state.get("kind") != self.kind:
            raise StateFileError(f"state is for policy {state.get('kind')!r}, not {self.kind!r}")
        if state.get("arms") != [a.name for a in self.arms]:
            raise StateFileError("saved bandit arms differ from this policy's arms")
        # the largest iteration count seen: a NaN or negative scale would make every later loss invalid
        scale = as_float(state.get("scale"), f"{self.kind} state 'scale'", lo=0.0, hi=float(MAX_COUNT))
        try:
            self.learner_.load_state_dict(as_dict(state.get("learner"), f"{self.kind} state 'learner'"))
        except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
            if isinstance(exc, StateFileError):
                raise
            raise StateFileError(f"{self.kind} state is malformed: {exc}") from None
        self.scale_ = scale
        return self


class TsallisINFPolicy(_OmegaBandit):
    """Tsallis-INF over the ω grid, fed the iteration count (no context).

    ``eta0`` sets the learning rate ``eta0/√t`` (the paper's 2 by default).  Our losses are
    iterations / (2 × the largest count so far), several times smaller than the paper's
    mean-normalised ones, so the same ``eta0`` learns more slowly here: on Heat2D nx=100 (3 seeds)
    ``eta0=8`` gave 1.13× the best fixed ω's iterations against 1.26× for ``eta0=2``.
    """

    kind = "tsallis-inf"

    def __init__(self, arms: Sequence[Configuration] | None = None, *, seed: int | None = 0,
                 eta0: float = 2.0) -> None:
        super().__init__(arms if arms is not None else omega_arms(), seed)
        self.spec = "tsallis-inf"
        self.eta0 = eta0
        self.learner_ = TsallisINF(len(self.arms), seed=seed, eta0=eta0)

    def select(self, context=None, *, allowed=None, n=None) -> Configuration:
        self._check_allowed(allowed)
        self._last = self.learner_.select()
        return self.arms[self._last]

    def update(self, cost: float, info: SolveRecord) -> "TsallisINFPolicy":
        arm = self._arm_of(info)
        if arm is not None:
            self.learner_.update(arm, self._loss(info))
        return self


class ChebCBPolicy(_OmegaBandit):
    """ChebCB over the ω grid: a Chebyshev regression of iterations on one context value per arm."""

    kind = "chebcb"

    def __init__(self, arms: Sequence[Configuration] | None = None, *, context_key: str = "c",
                 context_range: tuple[float, float] = (0.0, 10.0), seed: int | None = 0, **learner_options) -> None:
        super().__init__(arms if arms is not None else omega_arms(), seed)
        self.context_key = context_key
        self.context_range = tuple(context_range)
        self.spec = f"chebcb:{context_key}"
        self.learner_ = ChebCB(len(self.arms), context_range=self.context_range, seed=seed, **learner_options)
        self._context: float | None = None

    def _value(self, context: Mapping[str, float] | None) -> float:
        if not context or self.context_key not in context:
            raise ConfigurationError(
                f"chebcb needs the context value {self.context_key!r} with every system "
                f"(solve(..., context={{{self.context_key!r}: value}})); got {dict(context or {})}"
            )
        return float(context[self.context_key])

    def select(self, context=None, *, allowed=None, n=None) -> Configuration:
        self._check_allowed(allowed)
        self._context = self._value(context)
        self._last = self.learner_.select(self._context)
        return self.arms[self._last]

    def update(self, cost: float, info: SolveRecord) -> "ChebCBPolicy":
        arm = self._arm_of(info)
        if arm is not None and self._context is not None:
            self.learner_.update(arm, self._context, self._loss(info))
        return self
