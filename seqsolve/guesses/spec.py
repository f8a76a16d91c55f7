"""Guess specs such as ``"projection(k=8)"``: an explicit name → factory table, one clear error."""

from __future__ import annotations

import re
from typing import Any, Callable

from ..errors import ConfigurationError
from .base import Guess
from .deflation import Deflation
from .extrapolate import Extrapolate
from .pod import POD
from .previous import Previous, Zero
from .projection import Projection

#: name → (factory, parameters in positional order with their parsers)
STRATEGIES: dict[str, tuple[Callable[..., Guess], tuple[tuple[str, Callable[[str], Any]], ...]]] = {
    "previous": (Previous, ()),
    "zero": (Zero, ()),
    "extrapolate": (Extrapolate, (("order", int), ("alternating", int))),
    "projection": (Projection, (("k", int), ("variant", str))),
    "pod": (POD, (("k", int), ("window", int))),
    "deflation": (Deflation, (("k", int), ("every", int))),
}

_SPEC = re.compile(r"^\s*([a-z][a-z0-9_\-]*)\s*(?:\((.*)\))?\s*$")


def parse_guess(spec: str | Guess) -> Guess:
    """A fresh strategy from a spec like ``"previous"``, ``"extrapolate(order=2)"``,
    ``"projection(k=8)"``, ``"projection(8, variant=minres)"`` or ``"pod(k=4)"``."""
    if isinstance(spec, Guess):
        return spec
    if not isinstance(spec, str):
        raise ConfigurationError(f"an initial-guess spec must be a string, got {type(spec).__name__}")
    m = _SPEC.match(spec)
    if not m:
        raise ConfigurationError(f"malformed initial-guess spec {spec!r}; expected e.g. 'projection(k=8)'")
    name, args = m.group(1), m.group(2)
    if name not in STRATEGIES:
        raise ConfigurationError(f"unknown initial-guess strategy {name!r} in {spec!r}; valid: "
                                 f"{', '.join(sorted(STRATEGIES))}, or 'auto'")
    factory, params = STRATEGIES[name]
    kwargs: dict[str, Any] = {}
    positional = list(params)
    for item in (a.strip() for a in (args or "").split(",") if a.strip()):
        key, eq, text = (s.strip() for s in item.partition("="))
        if not eq:
            if not positional:
                raise ConfigurationError(f"{name!r} takes no more positional parameters (in {spec!r})")
            (key, parser), text = positional.pop(0), item
        else:
            match = [p for p in params if p[0] == key]
            if not match:
                valid = ", ".join(p[0] for p in params) or "none"
                raise ConfigurationError(f"{name!r} has no parameter {key!r} (in {spec!r}); valid: {valid}")
            parser = match[0][1]
            positional = [p for p in positional if p[0] != key]
        if key in kwargs:
            raise ConfigurationError(f"parameter {key!r} given twice in {spec!r}")
        try:
            kwargs[key] = parser(text)
        except ValueError:
            raise ConfigurationError(f"cannot read {key}={text!r} in {spec!r}") from None
    return factory(**kwargs)
