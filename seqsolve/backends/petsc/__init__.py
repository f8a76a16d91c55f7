"""``backend="petsc"``: seqsolve's policies driving PETSc's KSP/PC (petsc4py, imported lazily).

Configuration names map one-to-one onto PETSc options (:mod:`.mapping`); matrices are mirrored
into a PETSc ``Mat`` without re-allocation (:mod:`.matrices`); each configuration is a KSP whose
preconditioner is rebuilt, reused or rebuilt by rent-or-buy (:mod:`.method`).  The accuracy
contract is enforced by SequenceSolver exactly as for the SciPy backend.
"""

from __future__ import annotations


from ...configs import OMEGA_GRID, Configuration, parse
from ...solvers.base import Method
from ..base import Backend
from ._import import BackendUnavailableError, available, petsc
from .mapping import OPTIONS, describe


#: kinds run by the SciPy backend's own methods: ``fast-diag`` (an exact solve of a Kronecker sum)
#: and ``fastdiag-cg`` (CG preconditioned by the nearest Kronecker sum of a grid found in A's
#: pattern, or handed over).  On a separable matrix (Heat2D, Helmholtz, 3-D heat) ``fastdiag-cg`` is
#: one exact transform, no iteration, so a KSP would add a Mat copy and nothing else; the same
#: method also keeps the configuration's meaning, learned state and setup schedule identical on
#: both backends (benchmarks/results/petsc_fastdiag.md)
_SCIPY_METHODS = ("fast-diag", "fastdiag-cg")


class PetscBackend(Backend):
    """Runs configurations as PETSc KSP solves (sequential; see :mod:`.distributed` for MPI)."""

    name = "petsc"
    #: ``fast-diag`` and ``fastdiag-cg`` run as on the SciPy backend (the same NumPy/Numba methods:
    #: their transforms need no KSP, and a separable system is one exact step): sequential only
    structured = True

    def __init__(self) -> None:
        petsc()  # fail here, with an install hint, rather than at the first solve
        from ...accuracy import warmup as residual_warmup
        from ._kernels import warmup
        from .matrices import MatCache

        warmup()  # this backend's compiled passes and the certified check's, loaded before any timed solve
        residual_warmup()
        self.mats = MatCache()

    def supports(self, config: Configuration) -> bool:
        return config.kind in OPTIONS or config.kind in _SCIPY_METHODS

    def build(self, config: Configuration) -> Method:
        if config.kind in _SCIPY_METHODS:  # a structured solve: the same NumPy method as on SciPy
            from ..scipy_backend import ScipyBackend

            return ScipyBackend().build(config)
        from .method import PetscKSP

        return PetscKSP(config, self.mats)

    def portfolio(self) -> list[Configuration]:
        out = [parse(n) for n in ("cg", "jacobi-cg", "icc-cg")]
        out += [Configuration("ssor-cg", (("omega", w),)) for w in OMEGA_GRID]
        out += [parse(n) for n in ("amg-cg(rebuild)", "amg-cg(reuse)", "amg-cg(adaptive)", "hypre-cg(rebuild)",
                                   "hypre-cg(reuse)", "hypre-cg(adaptive)", "direct", "cholesky", "gmres",
                                   "gmres(ilu)", "bicgstab", "bicgstab(ilu)", "minres")]
        return out


__all__ = ["PetscBackend", "BackendUnavailableError", "available", "describe"]
