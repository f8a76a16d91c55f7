"""Configuration → PETSc options: the whole PETSc vocabulary of seqsolve, in one readable table.

Names stay backend-neutral where the method is the same (``ssor-cg(omega=1.8)`` is CG with the
SSOR preconditioner on either backend — PETSc applies it through Eisenstat's trick, half the
triangular-solve work), so what a policy learned on one backend transfers to the other.  Every
configuration reads as the options a PETSc user would type, e.g.
``-ksp_type cg -pc_type eisenstat -pc_eisenstat_omega 1.8``.
"""

from __future__ import annotations

from ...configs import Configuration
from ...errors import ConfigurationError

#: GAMG's default Chebyshev/Jacobi smoother broke down (KSP_DIVERGED_INDEFINITE_PC) on Heat2D's
#: near-identity early systems; an SSOR smoother did not
_GAMG = {"pc_type": "gamg", "pc_gamg_type": "agg", "mg_levels_ksp_type": "richardson",
         "mg_levels_pc_type": "sor", "mg_levels_ksp_max_it": "1"}
_HYPRE = {"pc_type": "hypre", "pc_hypre_type": "boomeramg"}


def _krylov(c: Configuration) -> dict[str, str]:
    pc = c.get_or("preconditioner", "none")
    # right preconditioning: the KSP then monitors the true (unpreconditioned) residual
    return {"ksp_type": {"gmres": "gmres", "bicgstab": "bcgs"}[c.kind], "ksp_pc_side": "right",
            "pc_type": {"none": "none", "ilu": "ilu"}[pc], **({"ksp_gmres_restart": "30"} if c.kind == "gmres" else {})}


def mumps(kind: str) -> dict[str, str]:
    """A factorisation by MUMPS (``lu`` or ``cholesky``): it pivots, and it runs in parallel."""
    return {"ksp_type": "preonly", "pc_type": kind, "pc_factor_mat_solver_type": "mumps"}


#: a sequential Cholesky factorisation by PETSc's own, in a nested-dissection ordering, not MUMPS:
#: measured on the suite's SPD workloads (first factorisation / a new matrix of the pattern / a
#: solve), FEM heat 248 / 78 / 2.5 ms against MUMPS's 359 / 117 / 13.5, p-Laplace 91 / 26 / 1.2
#: against 159 / 43 / 5.8, topology optimisation 339 / 106 / 3.6 against 177 / 107 / 8.3: MUMPS's
#: solves cost 2-5x, a run of one matrix pays that at every system.  It does not pivot: where it
#: meets a zero pivot MUMPS takes over (``PetscKSP``), and the distributed solver keeps MUMPS.
#: Nor does it fill like MUMPS on a volume graph: on scikit-fem's tetrahedral ball it took 57 s
#: (Poisson, 41,727 unknowns) and 19 s (elasticity, 14,973) where MUMPS took 7.6 and 2.3, and on
#: 3-D grids 1.3-1.4x MUMPS's build.  So it is used only on a graph at most planar
#: (``MatCache.planar``); MUMPS factorises the rest
CHOLESKY = {"ksp_type": "preonly", "pc_type": "cholesky", "pc_factor_mat_solver_type": "petsc",
            "pc_factor_mat_ordering_type": "nd"}


#: a factorisation of a matrix with a narrow band (:mod:`seqsolve.band`: a 1-D problem) uses PETSc's
#: own, in the natural ordering, instead of MUMPS: fill stays in the band.  On 200,000 unknowns
#: (tridiagonal) MUMPS took 2.2 s to factorise and 0.1 s to solve (its analysis and per-unknown
#: overhead, at every band width tried), PETSc's own 27 ms and 3 ms.  PETSc's own does not pivot:
#: where it meets a zero pivot, MUMPS takes over (``pivoting``)
BANDED_FACTOR = {"pc_factor_mat_solver_type": "petsc", "pc_factor_mat_ordering_type": "natural"}


def pivoting(opts: dict[str, str]) -> dict[str, str]:
    """``opts`` with MUMPS, which pivots, for a factorisation PETSc's own could not finish."""
    return {**{k: v for k, v in opts.items() if k != "pc_factor_mat_ordering_type"},
            "pc_factor_mat_solver_type": "mumps"}


#: configuration kind → options (as a function of the configuration's parameters)
OPTIONS = {
    "cg": lambda c: {"ksp_type": "cg", "pc_type": "none"},
    "jacobi-cg": lambda c: {"ksp_type": "cg", "pc_type": "jacobi"},
    # Eisenstat's trick when the matrix is strictly diagonally dominant (see EISENSTAT_SAFE), else
    # symmetric SOR sweeps: the same preconditioner
    "ssor-cg": lambda c: {"ksp_type": "cg", "pc_type": "sor", "pc_sor_symmetric": "", "pc_sor_omega": repr(c.get("omega"))},
    "sor": lambda c: {"ksp_type": "richardson", "pc_type": "sor", "pc_sor_omega": repr(c.get("omega")),
                      "pc_sor_symmetric": ""},
    "icc-cg": lambda c: {"ksp_type": "cg", "pc_type": "icc"},
    "amg-cg": lambda c: {"ksp_type": "cg", **_GAMG,
                         # a rebuild of a reused hierarchy keeps GAMG's interpolation (cheap Galerkin update)
                         **({"pc_gamg_reuse_interpolation": "true"} if c.get("setup") == "adaptive" else {})},
    "hypre-cg": lambda c: {"ksp_type": "cg", **_HYPRE},
    "direct": lambda c: mumps("lu"),
    "cholesky": lambda c: CHOLESKY,
    "gmres": _krylov,
    "bicgstab": _krylov,
    "minres": lambda c: {"ksp_type": "minres", "pc_type": "none"},
}



def eisenstat(config: Configuration) -> dict[str, str]:
    """``ssor-cg(ω)`` through Eisenstat's trick: half the triangular-solve work per iteration.

    Used only on strictly diagonally dominant matrices: PETSc 3.18's PCEISENSTAT with ω ≠ 1
    crashed the process (SIGSEGV, measured) on singular and indefinite symmetric matrices, where
    CG breaks down; a symmetric, strictly dominant matrix with a positive diagonal is SPD.
    """
    return {"ksp_type": "cg", "pc_type": "eisenstat", "pc_eisenstat_omega": repr(config.get("omega"))}


def options(config: Configuration) -> dict[str, str]:
    """The PETSc options (without leading ``-``) that run ``config``."""
    try:
        return OPTIONS[config.kind](config)
    except KeyError:
        raise ConfigurationError(
            f"the petsc backend cannot run {config.name!r}; it runs: {', '.join(sorted(OPTIONS))}") from None


def describe(config: Configuration) -> str:
    """``config`` as a PETSc command line, e.g. ``-ksp_type cg -pc_type eisenstat ...``."""
    return " ".join(f"-{k} {v}".rstrip() for k, v in options(config).items())
