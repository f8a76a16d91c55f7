"""The default backend: SciPy Krylov methods, PyAMG relaxation/AMG, SuperLU, compiled PCG."""

from __future__ import annotations

from typing import Callable

from ..configs import Configuration
from ..errors import ConfigurationError
from ..solvers import krylov
from ..solvers.base import Method
from ..solvers.deflated import DeflatedCG
from ..solvers.direct import Direct
from ..solvers.stationary import SOR
from .base import Backend


_WARM: list = []


def _compiled(preconditioner: str) -> Callable[[Configuration], Method]:
    def make(c: Configuration) -> Method:
        from ..solvers.compiled import CompiledPCG, warmup  # numba import deferred: it costs ~0.5 s

        if not _WARM:  # load every kernel once, outside any timed solve (a policy times solves)
            warmup()
            _WARM.append(True)

        omega = dict(c.params).get("omega", 1.0)
        return CompiledPCG(preconditioner, omega)

    return make


#: configuration kind → factory; a new kind joins by adding a line here (or via ``register``)
FACTORIES: dict[str, Callable[[Configuration], Method]] = {
    "cg": lambda c: krylov.ScipyKrylov("cg", spd_only=True),
    "jacobi-cg": lambda c: krylov.jacobi_cg(),
    "ssor-cg": lambda c: krylov.ssor_cg(c.get("omega")),
    "sor": lambda c: SOR(c.get("omega")),
    "amg-cg": lambda c: krylov.amg_cg(c.get("setup")),
    "direct": lambda c: Direct(),
    "gmres": lambda c: krylov.ScipyKrylov("gmres", _ilu_or_none(c)),
    "bicgstab": lambda c: krylov.ScipyKrylov("bicgstab", _ilu_or_none(c)),
    "numba-cg": _compiled("none"),
    "numba-jacobi-cg": _compiled("jacobi"),
    "numba-ssor-cg": _compiled("ssor"),
    "dcdm": lambda c: _dcdm(c),
    "user-cg": lambda c: _user("cg"),
    "user-gmres": lambda c: _user("gmres"),
    "deflated-cg": lambda c: _deflated(c),
    "subdomain-deflated-cg": lambda c: _subdomain_deflated(c),
    "fast-diag": lambda c: _fastdiag(c),
    "fastdiag-cg": lambda c: _fastdiag(c),
}


def _deflated(c: Configuration) -> Method:
    """SSOR runs compiled (:mod:`..solvers.deflated_compiled`); none/Jacobi in the Python loop."""
    if c.get("preconditioner") == "ssor":
        from ..solvers.deflated_compiled import CompiledDeflatedCG, warmup

        warmup()  # kernels loaded outside any timed solve
        return CompiledDeflatedCG(c.get("k"), c.get("omega"))
    return DeflatedCG(c.get("k"), c.get("preconditioner"), c.get("omega"))


def _subdomain_deflated(c: Configuration) -> Method:
    from ..solvers.deflated_subdomains import SubdomainDeflatedCG, warmup

    warmup()  # kernels loaded outside any timed solve
    return SubdomainDeflatedCG(c.get("omega"), c.get("size"))


def _user(method: str) -> Method:
    from ..user_preconditioner import UserKrylov

    return UserKrylov(method)


def _fastdiag(c: Configuration) -> Method:
    from ..solvers.fastdiag import build

    return build(c)


def _dcdm(c: Configuration) -> Method:
    from ..neural.dcdm import DCDMMethod  # torch is imported only when a dcdm method is used

    return DCDMMethod(variant=c.get("variant"))


def _ilu_or_none(c: Configuration):
    from ..preconditioners import ilu

    return ilu if c.get("preconditioner") == "ilu" else None


class ScipyBackend(Backend):
    """Runs configurations in-process."""

    name = "scipy"
    structured = True

    def supports(self, config: Configuration) -> bool:
        return config.kind in FACTORIES

    def build(self, config: Configuration) -> Method:
        try:
            factory = FACTORIES[config.kind]
        except KeyError:
            raise ConfigurationError(
                f"the scipy backend cannot run {config.name!r}; it runs: {', '.join(sorted(FACTORIES))}"
            ) from None
        return factory(config)


def register(kind: str, factory: Callable[[Configuration], Method]) -> None:
    """Let an optional component (e.g. the neural preconditioner) add a configuration kind."""
    FACTORIES[kind] = factory
