"""Policies choose a configuration per system: ``fixed:<name>`` now, learners plug in here."""

from __future__ import annotations

from typing import Callable

from ..errors import ConfigurationError
from .base import Policy
from .fixed import FixedPolicy

#: policy name → factory(argument after ':', seed)
POLICIES: dict[str, Callable[[str | None, int | None], Policy]] = {
    "fixed": lambda arg, seed: FixedPolicy(arg or "cg"),
}


def make_policy(spec: str | Policy, seed: int | None = 0) -> Policy:
    """Build a policy from a string such as ``"fixed:ssor-cg(omega=1.6)"`` (or pass one through)."""
    if isinstance(spec, Policy):
        return spec
    if not isinstance(spec, str):
        raise ConfigurationError(f"policy must be a string or a Policy, got {type(spec).__name__}")
    name, _, arg = spec.partition(":")
    factory = POLICIES.get(name.strip())
    if factory is None:
        raise ConfigurationError(
            f"unknown policy {spec!r}; valid: {', '.join(f'{k}:<configuration>' if k == 'fixed' else k for k in POLICIES)}"
        )
    policy = factory(arg.strip() or None, seed)
    policy.spec = spec
    return policy


__all__ = ["Policy", "FixedPolicy", "make_policy", "POLICIES"]
