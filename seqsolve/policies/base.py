"""The policy seam: an online learner that picks a configuration per system and learns from costs.

Conventions follow scikit-learn's online learners: hyperparameters are stored unchanged by
``__init__``; learned state lives in trailing-underscore attributes; :meth:`Policy.update`
returns ``self``; ``state_dict``/``load_state_dict`` carry what was learned across runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Mapping, Sequence

from ..configs import Configuration
from ..records import SolveRecord


class Policy(ABC):
    """Chooses a configuration for each system of a sequence."""

    #: the policy string that recreates this policy, e.g. ``"fixed:cg"``
    spec: str = ""

    @abstractmethod
    def candidates(self) -> Sequence[Configuration]:
        """Every configuration this policy may return."""

    @abstractmethod
    def select(self, context: Mapping[str, float] | None = None, *,
               allowed: Sequence[Configuration] | None = None, n: int | None = None) -> Configuration:
        """Choose a configuration for the next system.

        ``allowed`` restricts the choice to configurations applicable to this system (e.g. no
        SPD-only method for a non-symmetric matrix); ``None`` means all candidates are allowed.
        ``n`` is the number of unknowns, for policies whose costs depend on size.
        """

    @abstractmethod
    def update(self, cost: float, info: SolveRecord) -> "Policy":
        """Learn from the measured cost (seconds) of the configuration last selected."""

    def attempt_limit(self) -> int | None:
        """Iteration cap for the configuration just selected (``None``: the solver's ``maxiter``).

        A learner exploring a configuration it does not trust yet caps it, so a bad choice costs
        a bounded amount before the solver falls back.
        """
        return None

    def explored(self) -> bool:
        """Whether the configuration just selected is an exploration (for the report)."""
        return False

    def fallback_hint(self) -> Configuration | None:
        """A configuration to try first if the selected one fails (e.g. the best one known)."""
        return None

    def state_dict(self) -> dict:
        """What was learned, as JSON-serialisable data."""
        return {}

    def load_state_dict(self, state: Mapping) -> "Policy":
        """Restore what :meth:`state_dict` returned."""
        return self
