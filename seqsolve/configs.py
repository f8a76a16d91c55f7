"""Configurations: hashable, named descriptions of a solve strategy (a bandit's arm).

A configuration is pure data — a *kind* (``"ssor-cg"``) plus parameters (``omega=1.6``) — with a
stable name such as ``ssor-cg(omega=1.6)``.  Policies choose configurations; a backend turns one
into a runnable :class:`~seqsolve.solvers.base.Method`.  Keeping the description separate from
the implementation (as PyAMG's ``blackbox`` separates choosing from building) is what lets the
same policy later drive a PETSc backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from .errors import ConfigurationError

#: the ω grid of *Learning to Relax*: ``linspace(1.0, 1.95, 20)``
OMEGA_GRID: tuple[float, ...] = tuple(round(float(w), 4) for w in np.linspace(1.0, 1.95, 20))


@dataclass(frozen=True)
class Param:
    """One parameter of a kind: its default, how to parse it, and how the name shows it."""

    name: str
    default: Any
    parse: Callable[[str], Any]
    check: Callable[[Any], bool] = lambda v: True
    describe: str = ""
    #: written without ``key=`` in names, e.g. ``amg-cg(reuse)``
    positional: bool = False
    #: left out of the canonical name when equal to the default
    hide_default: bool = False


@dataclass(frozen=True)
class Kind:
    """A family of configurations sharing an implementation."""

    name: str
    summary: str
    params: tuple[Param, ...] = ()
    spd_only: bool = False
    needs_matrix: bool = True
    #: runs the preconditioner passed as ``solve(..., M=M)``; applicable only when one is given
    user_preconditioner: bool = False
    #: uses the structure passed as ``solve(..., structure=...)``; applicable only when one is given
    needs_structure: bool = False
    #: solves from that structure alone: ``A``'s entries are read only by the certified residual
    #: check, so the solver takes the matrix's scan from the structure too (SequenceSolver._lean_scan)
    entries_free: bool = False


def _omega(v: str | float) -> float:
    return round(float(v), 6)


def _format(v) -> str:
    """Floats with up to 6 decimals and no trailing zeros, so names parse back exactly."""
    if isinstance(v, float):
        return f"{v:.6f}".rstrip("0").rstrip(".")
    return str(v)


def _choice(*options: str) -> Callable[[Any], bool]:
    return lambda v: v in options


_OMEGA = Param("omega", 1.0, _omega, lambda w: 0.0 < w < 2.0, "relaxation factor, 0 < omega < 2")

KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind) -> Kind:
    """Add a kind to the registry (used by optional parts such as the neural preconditioner)."""
    KINDS[kind.name] = kind
    return kind


for _k in (
    Kind("cg", "conjugate gradient, no preconditioner (SciPy)", spd_only=True, needs_matrix=False),
    Kind("jacobi-cg", "Jacobi-preconditioned CG (SciPy)", spd_only=True),
    Kind("ssor-cg", "SSOR-preconditioned CG, true forward+backward SOR sweeps", (_OMEGA,), spd_only=True),
    Kind("sor", "SOR as a stand-alone iterative solver (PyAMG sweeps)", (_OMEGA,), spd_only=True),
    Kind(
        "amg-cg",
        "PyAMG smoothed-aggregation V-cycle as CG preconditioner",
        (Param("setup", "rebuild", str, _choice("rebuild", "reuse", "adaptive"),
               "rebuild: new hierarchy for each new matrix; reuse: keep the first one; "
               "adaptive: reuse until the rent-or-buy rule says it is stale", positional=True),),
        spd_only=True,
    ),
    Kind("direct", "sparse LU factorisation (SciPy SuperLU), reused while A is unchanged"),
    Kind("gmres", "restarted GMRES(30) (SciPy)",
         (Param("preconditioner", "none", str, _choice("none", "ilu"), positional=True, hide_default=True),),
         needs_matrix=False),
    Kind("bicgstab", "BiCGStab (SciPy)",
         (Param("preconditioner", "none", str, _choice("none", "ilu"), positional=True, hide_default=True),),
         needs_matrix=False),
    Kind("numba-cg", "compiled CG loop with fused updates (Numba)", spd_only=True),
    Kind("numba-jacobi-cg", "compiled Jacobi-PCG (Numba)", spd_only=True),
    Kind("numba-ssor-cg", "compiled SSOR-PCG with in-loop sweeps (Numba)", (_OMEGA,), spd_only=True),
    Kind("icc-cg", "CG with incomplete Cholesky ICC(0) (PETSc backend)", spd_only=True),
    Kind("hypre-cg", "CG with hypre BoomerAMG (PETSc backend)",
         (Param("setup", "rebuild", str, _choice("rebuild", "reuse", "adaptive"),
                "rebuild, reuse or adaptive, as for amg-cg", positional=True),),
         spd_only=True),
    Kind("cholesky", "sparse Cholesky factorisation (PETSc backend: its own on planar graphs, MUMPS beyond), "
         "reused while A is unchanged",
         spd_only=True),
    Kind("minres", "MINRES for symmetric (possibly indefinite) systems (PETSc backend)"),
    Kind("user-cg", "CG with your preconditioner M (solve(..., M=M))", spd_only=True, needs_matrix=False,
         user_preconditioner=True),
    Kind("user-gmres", "restarted GMRES(30) with your preconditioner M (solve(..., M=M))", needs_matrix=False,
         user_preconditioner=True),
    Kind("deflated-cg", "CG deflating k approximate slowest eigenvectors recycled from earlier solves",
         (Param("k", 8, int, lambda v: 1 <= v <= 64, "recycled vectors, 1..64"),
          Param("preconditioner", "ssor", str, _choice("none", "jacobi", "ssor")),
          Param("omega", 1.5, _omega, lambda w: 0.0 < w < 2.0, "SSOR relaxation factor, 0 < omega < 2")),
         spd_only=True),
    Kind("subdomain-deflated-cg", "compiled SSOR-PCG deflating vectors constant on graph aggregates (Nicolaides)",
         (Param("omega", 1.3, _omega, lambda w: 0.0 < w < 2.0,
                "SSOR relaxation factor, 0 < omega < 2 (deflated, the best was 1.3-1.4: FEM heat, Fluid2D)"),
          Param("size", 64, int, lambda v: 4 <= v <= 100000, "unknowns per subdomain, >= 4", hide_default=True)),
         spd_only=True),
    Kind("fast-diag", "exact solve of a Kronecker sum by fast diagonalisation (needs the structure)",
         needs_matrix=False, needs_structure=True, entries_free=True),
    Kind("fastdiag-cg", "CG preconditioned by the nearest Kronecker sum (needs the grid shape)",
         (Param("setup", "adaptive", str, _choice("rebuild", "reuse", "adaptive"),
                "rebuild: project each new matrix; reuse: follow its scale and shift; adaptive: "
                "follow until the rent-or-buy rule says project", positional=True, hide_default=True),),
         spd_only=True, needs_matrix=False, needs_structure=True),
    Kind("dcdm", "Deep Conjugate Direction Method: a CNN proposes directions (needs torch and a model)",
         (Param("variant", "dcdm", str, _choice("dcdm", "fcg"), "dcdm or flexible CG", positional=True,
                hide_default=True),),
         spd_only=True),
):
    register_kind(_k)


@dataclass(frozen=True, order=True)
class Configuration:
    """A kind with concrete parameter values; hashable and ordered, usable as a dict key or arm."""

    kind: str
    params: tuple[tuple[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        spec = KINDS.get(self.kind)
        if spec is None:
            raise ConfigurationError(
                f"unknown configuration kind {self.kind!r}; valid kinds: {', '.join(sorted(KINDS))}"
            )
        given = dict(self.params)
        known = {p.name for p in spec.params}
        extra = set(given) - known
        if extra:
            raise ConfigurationError(
                f"{self.kind!r} has no parameter(s) {sorted(extra)}; it takes {sorted(known) or 'none'}"
            )
        full = []
        for p in spec.params:
            v = given.get(p.name, p.default)
            if isinstance(p.default, float):
                try:
                    v = p.parse(v)
                except (TypeError, ValueError):
                    raise ConfigurationError(f"{self.kind}: {p.name} must be a number, got {v!r}") from None
            if not p.check(v):
                raise ConfigurationError(f"{self.kind}: invalid {p.name}={v!r} ({p.describe})")
            full.append((p.name, v))
        object.__setattr__(self, "params", tuple(full))
        object.__setattr__(self, "_name", self._format_name())
        object.__setattr__(self, "_hash", hash((self.kind, self.params)))

    def __hash__(self) -> int:  # cached: configurations are dict keys on the per-solve hot path
        return self._hash  # type: ignore[attr-defined]

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    def get(self, key: str) -> Any:
        return dict(self.params)[key]

    def get_or(self, key: str, default: Any = None) -> Any:
        """The parameter ``key``, or ``default`` when this kind has no such parameter (a scan of the
        few pairs, not a dict built per call: the learner asks on every decision)."""
        for k, v in self.params:
            if k == key:
                return v
        return default

    @property
    def name(self) -> str:
        """The stable, parseable name, e.g. ``ssor-cg(omega=1.6)`` or ``amg-cg(reuse)``."""
        return self._name  # type: ignore[attr-defined]

    def _format_name(self) -> str:
        parts = []
        for p, (_, v) in zip(self.spec.params, self.params):
            if p.hide_default and v == p.default:
                continue
            text = _format(v)
            parts.append(text if p.positional else f"{p.name}={text}")
        return self.kind + (f"({','.join(parts)})" if parts else "")

    def __str__(self) -> str:
        return self.name


_NAME = re.compile(r"^\s*([a-z][a-z0-9\-]*)\s*(?:\((.*)\))?\s*$")


def parse(name: str | Configuration) -> Configuration:
    """Parse a configuration name such as ``"ssor-cg(omega=1.6)"`` (or pass one through)."""
    if isinstance(name, Configuration):
        return name
    if not isinstance(name, str):
        raise ConfigurationError(f"a configuration name must be a string, got {type(name).__name__}")
    m = _NAME.match(name)
    if not m:
        raise ConfigurationError(f"malformed configuration name {name!r}; expected e.g. 'ssor-cg(omega=1.6)'")
    kind_name, args = m.group(1), m.group(2)
    spec = KINDS.get(kind_name)
    if spec is None:
        raise ConfigurationError(
            f"unknown configuration {kind_name!r}; valid kinds: {', '.join(sorted(KINDS))}"
        )
    params: dict[str, Any] = {}
    if args and args.strip():
        positional = [p for p in spec.params if p.positional] or list(spec.params[:1])
        for item in (a.strip() for a in args.split(",")):
            if "=" in item:
                key, _, text = (s.strip() for s in item.partition("="))
                match = [p for p in spec.params if p.name == key]
                if not match:
                    valid = ", ".join(p.name for p in spec.params) or "none"
                    raise ConfigurationError(
                        f"{kind_name!r} has no parameter {key!r} (in {name!r}); valid parameters: {valid}")
                p = match[0]
            else:
                if not positional:
                    raise ConfigurationError(f"{kind_name!r} takes no parameters (in {name!r})")
                p, text = positional.pop(0), item
            if p.name in params:
                raise ConfigurationError(f"parameter {p.name!r} given twice in {name!r}")
            try:
                params[p.name] = p.parse(text)
            except ValueError as exc:
                raise ConfigurationError(f"cannot read {p.name}={text!r} in {name!r}: {exc}") from None
    return Configuration(kind_name, tuple(params.items()))


def portfolio(*, omegas: Iterable[float] = OMEGA_GRID, compiled: bool = True) -> list[Configuration]:
    """The default set of configurations a learning policy chooses among."""
    out = [parse("cg"), parse("jacobi-cg")]
    out += [Configuration("ssor-cg", (("omega", w),)) for w in omegas]
    out += [Configuration("sor", (("omega", w),)) for w in omegas]
    out += [parse("amg-cg(rebuild)"), parse("amg-cg(reuse)"), parse("amg-cg(adaptive)"), parse("direct")]
    out += [parse(n) for n in ("gmres", "gmres(ilu)", "bicgstab", "bicgstab(ilu)")]
    if compiled:
        out += [parse("numba-cg"), parse("numba-jacobi-cg")]
        out += [Configuration("numba-ssor-cg", (("omega", w),)) for w in omegas]
    if neural_model_available():
        out.append(parse("dcdm"))
    return out


def neural_model_available() -> bool:
    """True when torch is installed and a DCDM model is packaged or named by ``$SEQSOLVE_DCDM_MODEL``.

    Checked without importing torch (importing it costs seconds).
    """
    import importlib.util
    import os
    from pathlib import Path

    if importlib.util.find_spec("torch") is None:
        return False
    if os.environ.get("SEQSOLVE_DCDM_MODEL"):
        return True
    return any((Path(__file__).parent / "neural" / "pretrained").glob("dcdm_fluid2d_*.sqnn"))


def configs() -> list[str]:
    """Names of the available configurations (the default portfolio)."""
    return [c.name for c in portfolio()]
