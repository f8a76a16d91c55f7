"""The trivial policy: one configuration for every system (the baseline users hand-tune)."""

from __future__ import annotations

from typing import Mapping, Sequence

from ..configs import Configuration, parse
from ..errors import ConfigurationError, NotSymmetricError
from ..records import SolveRecord
from .base import Policy


class FixedPolicy(Policy):
    """Always returns the same configuration."""

    def __init__(self, configuration: str | Configuration) -> None:
        self.configuration = parse(configuration)
        self.spec = f"fixed:{self.configuration.name}"
        self._candidates = (self.configuration,)

    def candidates(self) -> Sequence[Configuration]:
        return self._candidates

    def select(self, context: Mapping[str, float] | None = None, *,
               allowed: Sequence[Configuration] | None = None, n: int | None = None) -> Configuration:
        if allowed is not None and self.configuration not in allowed:
            spec = self.configuration.spec
            if spec.spd_only:
                raise NotSymmetricError(
                    f"configuration {self.configuration.name!r} needs a symmetric positive definite "
                    f"matrix, but A is not symmetric (or is a LinearOperator it cannot use); "
                    f"use e.g. policy='fixed:gmres(ilu)' or policy='auto'"
                )
            raise ConfigurationError(
                f"configuration {self.configuration.name!r} cannot be applied to this system "
                f"(it needs explicit matrix entries, not a LinearOperator); use 'fixed:cg' or 'fixed:gmres'"
            )
        return self.configuration

    def update(self, cost: float, info: SolveRecord) -> "FixedPolicy":
        return self

    def __repr__(self) -> str:
        return f"FixedPolicy({self.configuration.name!r})"
