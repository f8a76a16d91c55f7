"""Policies choose a configuration per system: ``fixed:<name>`` now, learners plug in here."""

from __future__ import annotations

from typing import Callable

from ..configs import parse
from ..errors import ConfigurationError
from .auto import AutoPolicy, default_candidates
from .bandit import ChebCBPolicy, TsallisINFPolicy
from .base import Policy
from .fixed import FixedPolicy


def _chebcb(arg: str | None, seed: int | None) -> Policy:
    """``chebcb`` or ``chebcb:KEY`` or ``chebcb:KEY=LO..HI`` (context key and its known interval)."""
    key, lo, hi = "c", 0.0, 10.0
    if arg:
        key, _, rng = arg.partition("=")
        if rng:
            try:
                lo, hi = (float(v) for v in rng.split(".."))
            except ValueError:
                raise ConfigurationError(f"chebcb: expected 'chebcb:KEY=LO..HI', got 'chebcb:{arg}'") from None
    return ChebCBPolicy(context_key=key.strip() or "c", context_range=(lo, hi), seed=seed)

def _auto(arg: str | None, seed: int | None, backend=None) -> Policy:
    """``auto``, ``auto:KEY`` (the context value that sets the bins), ``auto:cost=iterations``
    (deterministic costs: same seed, same choices) or ``auto:KEY,cost=iterations``."""
    key, cost = None, "seconds"
    for part in (arg or "").split(","):
        part = part.strip()
        if part.startswith("cost="):
            cost = part[5:].strip()
        elif part:
            key = part
    # the user's preconditioner (solve(..., M=M)) is one more family; without M it is never applicable
    candidates = default_candidates(backend)
    if backend is None or backend.supports(parse("user-cg")):
        candidates += [parse("user-cg"), parse("user-gmres")]
    return AutoPolicy(candidates, context_key=key, seed=seed, cost=cost, backend=backend)


#: policy name → factory(argument after ':', seed)
POLICIES: dict[str, Callable[[str | None, int | None], Policy]] = {
    "fixed": lambda arg, seed: FixedPolicy(arg or "cg"),
    "auto": _auto,
    "tsallis-inf": lambda arg, seed: TsallisINFPolicy(seed=seed),
    "chebcb": _chebcb,
}


def make_policy(spec: str | Policy, seed: int | None = 0, backend=None) -> Policy:
    """Build a policy from a string such as ``"fixed:ssor-cg(omega=1.6)"`` (or pass one through);
    ``backend`` sets the default candidates of ``auto`` (what that backend can run)."""
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
    policy = factory(arg.strip() or None, seed, backend) if factory is _auto else factory(arg.strip() or None, seed)
    policy.spec = spec
    return policy


__all__ = ["Policy", "FixedPolicy", "AutoPolicy", "TsallisINFPolicy", "ChebCBPolicy", "make_policy", "POLICIES"]
