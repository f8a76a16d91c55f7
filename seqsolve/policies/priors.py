"""What ``auto`` assumes before it has measured anything: rough costs by kind, per backend.

Why a module of its own: these are the learner's *priors* — the cost of an iteration, of a setup, of
a solve beyond its iterations, in sparse matrix–vector products, and how a family's iterations
follow a system's difficulty.  Each was measured on this project's workloads (the comments say
where), each is replaced by measurements after one solve, and none decides anything alone: the
policy (:mod:`seqsolve.policies.auto`) orders its first tries by them and predicts the families it
has not run yet.  A prior too low is corrected by the try it lets through; one too high never is,
so where the measurements spread, the low end is taken.
"""

from __future__ import annotations

from typing import Mapping

from ..configs import Configuration


#: rough cost of one iteration in sparse matrix-vector products (measured on the suite's Fluid2D,
#: FEM heat and elasticity systems; compiled SSOR-PCG uses Eisenstat's trick: 1.5-1.7 products;
#: SciPy's restarted GMRES orthogonalises against up to 20 vectors in Python: ~1.75x BiCGStab's)
ITERATION_COST = {"numba-cg": 1.1, "numba-jacobi-cg": 1.15, "numba-ssor-cg": 1.7, "cg": 2.0, "jacobi-cg": 2.1,
                  "ssor-cg": 11.0, "sor": 2.5, "amg-cg": 55.0, "icc-cg": 3.0, "hypre-cg": 40.0, "minres": 2.0, "gmres": 7.0, "bicgstab": 4.0, "dcdm": 180.0,
                  "fastdiag-cg": 8.0, "subdomain-deflated-cg": 3.0}


#: preconditioner applications per iteration (BiCGStab applies it twice, the others once): what
#: scales one Krylov method's measured iteration with a costly preconditioner (ILU) to another's
PRECONDITIONER_APPLIES = {"bicgstab": 2.0}


#: the kinds whose iteration is one product with A plus vector updates (no sweep, no V-cycle):
#: a timed product prices them better than another family's measured iteration
ONE_PRODUCT = ("numba-cg", "numba-jacobi-cg", "cg", "jacobi-cg", "minres")


#: rough cost of one setup: seconds of fixed overhead (Python, first calls) plus sparse
#: matrix-vector products (measured on the suite's 16k-33k-unknown systems: PyAMG smoothed
#: aggregation 150-900, SuperLU 600-2100, SciPy's ILU 750-1350 on 2-D convection-diffusion (550 on
#: an earlier machine; priced at 500, its screening try was the worst system of the suite's
#: convection-diffusion, 2.7x) and ~3900 on a 3-D one, where fill grows; fastdiag-cg's projection and line
#: decompositions ≈ 0.7 ms plus 10-25 products on 2-D and 3-D grids of 4k-216k unknowns, as they
#: are compiled: priced at 60 products, a 3-D heat sequence waited for it behind a capped plain-CG
#: try that cost 4x its whole build); a prior until the family's setup has been measured.
#: Keyed by :func:`setup_kind` (ILU is one setup whatever Krylov method uses it)
SETUP_COST = {"amg-cg": (5e-3, 400.0), "hypre-cg": (5e-3, 300.0), "direct": (2e-3, 1200.0),
              "cholesky": (2e-3, 800.0), "ilu": (2e-3, 1200.0), "fastdiag-cg": (7e-4, 15.0),
              "subdomain-deflated-cg": (1e-3, 20.0)}


#: work a method does once per instance, at its first build (``SolveRecord.one_off_seconds``), in
#: products: ``subdomain-deflated-cg``'s graph partition measured 19-275 (Fluid2D, a graph
#: Laplacian, 3-D heat, FEM heat, topology optimisation).  Left out, a first try looked as cheap
#: as a later build (3-D heat with 2.6 ms systems: a 10 ms try where 2 ms were foreseen)
ONE_OFF_COST = {"subdomain-deflated-cg": 50.0}


#: cost of one solve beyond its iterations, in matrix-vector products (triangular solves)
SOLVE_COST = {"direct": 50.0, "cholesky": 30.0}

#: the same in PETSc: its own Cholesky's triangular solves (compiled, no Python between them)
#: measured 12.3-18.3 products timed as the learner times them (FEM heat, p-Laplace, topology
#: optimisation, Fluid2D, `jump-repeat`, Heat2D: 0.7-3.8 ms), MUMPS's LU solves 37-107 (SciPy's
#: prior stands).  At SciPy's 30 a Cholesky solve on a constant 150² matrix was priced at 2.4 ms,
#: as dear as a whole exact solve of the separable preconditioner there; it costs 1.2
PETSC_SOLVE_COST = {"cholesky": 12.0}

#: an ILU's setup grows with the graph's dimension as an LU's to this power (SciPy's ILU, drop
#: tolerance 1e-4: ~1,200 products in 2-D, ~3,900 in 3-D, where an LU's grow ~18x)
ILU_GROWTH = 0.4


#: a factorisation serves every solve with the same matrix: its setup is a sunk cost once built
#: for the current matrix, and otherwise shared by the systems that repeat it
FACTORISATIONS = ("direct", "cholesky")


#: prior iterations relative to plain CG, for ordering the first tries before anything is measured
#: (textbook orders: SSOR with a good ω turns κ into O(√κ); AMG's count barely grows with size;
#: BiCGStab counts two products per iteration); the measured costs replace it after one solve
PRIOR_ITERATIONS = {"numba-ssor-cg": 0.25, "ssor-cg": 0.25, "icc-cg": 0.3, "sor": 2.0, "amg-cg": 0.03,
                    "subdomain-deflated-cg": 0.2,  # after SSOR-PCG: its first build on a new graph costs
                    "hypre-cg": 0.03, "bicgstab": 0.5, "fastdiag-cg": 0.1, "user-cg": 0.3, "user-gmres": 0.3}


#: iterations ≈ D ** exponent, where D is the system's difficulty in plain-CG iterations: a
#: preconditioner that turns κ into κ^e needs about (√κ)^e.  Textbook orders with measured
#: constants (suite, Heat2D, Fluid2D, p-Laplace: 0.77-0.80): SSOR-PCG needs about CG's count to
#: the power 0.8, AMG a near-constant 0.4 power.  A stronger family's measured iterations thus bound a weaker one's from
#: below, so a family that cannot win on this system is not screened at once (AutoPolicy._predicted)
DIFFICULTY_EXPONENT = {"numba-cg": 1.0, "cg": 1.0, "numba-jacobi-cg": 1.0, "jacobi-cg": 1.0,
                       "numba-ssor-cg": 0.8, "ssor-cg": 0.8, "icc-cg": 0.8, "amg-cg": 0.4,
                       # PETSc's BoomerAMG needed 6-7 iterations where SSOR-PCG needed 149-276 and
                       # GAMG 12-33 (FEM heat, p-Laplace, Fluid2D): CG's count to the power
                       # 0.26-0.29, where GAMG's follows 0.40-0.50.  Priced as equals, GAMG was
                       # screened first and lost to it on p-Laplace and Fluid2D
                       "hypre-cg": 0.28,
                       # a separable preconditioner is as strong as A is separable, which only its try
                       # shows: foreseen a little weaker than SSOR-PCG, so SSOR's count holds it back
                       # to the exploration budget (Fluid2D's obstacles: 220 iterations, not 20)
                       "fastdiag-cg": 0.85,
                       # a coarse space of subdomain-constant vectors removes the smooth modes SSOR
                       # leaves (measured: FEM heat 142 → 38 iterations, Fluid2D 98 → 55)
                       "subdomain-deflated-cg": 0.6}


#: a setup prior below this many products is not "expensive" (idea 5): no rationing, no late rank
HEAVY_SETUP = 50.0

#: families whose count barely follows the difficulty (the AMGs): one AMG's count predicts no other
#: AMG's (AutoPolicy._predicted), but one failing outright predicts the others to (_failed_alike)
MULTILEVEL = 0.4

#: the one equal-strength lower bound trusted when deciding whether a family may win (idea 3):
#: kind → (measured kind, share of its iterations at least needed).  ICC(0) needed 0.70-1.45x the
#: iterations of SSOR-PCG(ω=1.5) on PETSc's FEM heat, p-Laplace, Fluid2D and topology optimisation
#: (both are one-level, the same exponent); two AMGs are not bounded so (5x apart, _predicted)
EQUAL_STRENGTH_FLOOR = {"icc-cg": ("ssor-cg", 0.7)}


#: the same per iteration in PETSc (compiled everywhere: SSOR is Eisenstat's trick or a
#: compiled sweep, ILU/ICC(0) triangular solves, GAMG/BoomerAMG V-cycles); ICC(0)'s setup is cheap
#: GAMG's V-cycle measured 8-11 products (FEM heat, p-Laplace, Fluid2D), BoomerAMG's 11-54.
#: In products timed as the learner times them (SciPy's ``A @ x``): plain and Jacobi-PCG 1.6-2.3
#: (FEM heat, p-Laplace, Fluid2D: the vector updates weigh as much as a product at 5-11 nonzeros
#: per row), GMRES(30) and BiCGStab 4.3 (convection-diffusion).  At 1.2 a plain CG predicted at
#: 31 ms from SSOR-PCG's count (it costs 100 µs an iteration, not 60) looked a contender on
#: Fluid2D, and its capped try and that of Jacobi-PCG cost 2-3x a system each
PETSC_ITERATION_COST = {"cg": 2.0, "jacobi-cg": 2.0, "ssor-cg": 2.5, "icc-cg": 2.5, "amg-cg": 10.0,
                        "hypre-cg": 25.0, "minres": 2.0, "gmres": 4.0, "bicgstab": 4.0}


#: PETSc's ILU(0) is a compiled no-fill factorisation: a few products, not SciPy's spilu with fill.
#: MUMPS's numeric Cholesky of the suite's 2-D systems costs only ~400 products, but the first on
#: a sparsity pattern (the screening try, which this prior prices) adds a symbolic analysis of 1-4x
#: that (measured: FEM heat 0.6 s + 0.13 s), so SuperLU's priors stand for the first try; the
#: measured setups replace them from the second build on.  The AMGs' first builds, in products of
#: SSOR-PCG's speed: GAMG 180-370, BoomerAMG 75-360 (FEM heat, p-Laplace, Fluid2D, topology
#: optimisation) — not PyAMG's 150-900: with SciPy's priors BoomerAMG's try was ordered after
#: ICC(0)'s on Fluid2D, which lost its capped try there.  The low end, since a prior too low is
#: corrected by the try it lets through, one too high never is: at GAMG's 300, its build looked too
#: heavy to screen beside a MUMPS solve on topology optimisation, where GAMG is the best.
#: PETSc's own first Cholesky factorisation on a sparsity pattern (its analysis included), in
#: products *timed* as the learner times them (``A @ x``), not as an iteration implies them (PETSc
#: SSOR-PCG's first solve on `jump-repeat` implied a product 3.5x dearer than it is).  Measured on
#: planar graphs (session 12): 406-1474 products, 650-800 on 5-point grids (Heat2D, Fluid2D,
#: `jump-repeat` and four unseen sequences), 815-1335 at 11-22 nonzeros per row (p-Laplace, a plate,
#: plane elasticity, topology optimisation), 1474 on FEM heat's unstructured mesh: a flat prior
#: spreads 0.5-2x around their median (750) where one per unknown (6-8 µs, what MUMPS measured:
#: session 11's prior) spread 0.65-4.2x.  The median, not the low end as elsewhere here: at 650 a
#: first try predicted at 98 ms (it cost 260) came within a screening's reach on FEM heat, where
#: GAMG wins (1.10-1.28x over 20-60 systems, whole checkouts in one process).  Graphs beyond planar
#: are factorised by MUMPS (:mod:`seqsolve.backends.petsc.mapping`), priced with its fill growth
PETSC_SETUP_COST = {"ilu": (1e-3, 5.0), "amg-cg": (5e-3, 200.0), "hypre-cg": (5e-3, 100.0),
                    "cholesky": (2e-3, 750.0)}

#: the setup priors, per kind, calibrated in timed products on PETSc (the rest in products of
#: SSOR-PCG's speed): priced at the cheaper of the two units
PETSC_TIMED_SETUP = frozenset({"cholesky"})

#: the share of a factorisation's *first* measured setup that later builds repeat.  MUMPS's first
#: factorisation on a sparsity pattern includes its symbolic analysis (PORD ordering); later
#: builds on the same pattern are numeric only (measured, first → later: FEM heat 250 → 78 ms,
#: topology optimisation 128 → 82, p-Laplace 158 → 28-58, Fluid2D 157 → 22-43; PETSc's own
#: Cholesky 0.25-0.34 of its first on seven sequences, session 12).  The first sample
#: is believed at this share until a second build is measured, which then replaces it.  An
#: estimate too low is corrected by the very next build (the factorisation is run and measured);
#: one too high is never corrected (a family that looks too dear is not run again), hence the low
#: end of the measured range.  SciPy's SuperLU analyses with every build: 1
PETSC_FIRST_SETUP_SHARE = {"cholesky": 1.0 / 3.0, "direct": 1.0 / 3.0}

def on_scipy(backend) -> bool:
    """Whether ``backend`` (``None``: the default) runs in-process on SciPy, where the priors above
    without a ``PETSC_`` prefix were measured."""
    return backend is None or getattr(backend, "name", "scipy") == "scipy"


def iteration_costs(backend=None) -> dict[str, float]:
    """Rough cost of one iteration per kind, in matrix-vector products, on ``backend``."""
    if on_scipy(backend):
        return ITERATION_COST
    return {**ITERATION_COST, **PETSC_ITERATION_COST}


def timed_setups(backend=None) -> frozenset:
    """The kinds whose setup prior on ``backend`` is in timed products (none on SciPy)."""
    if on_scipy(backend):
        return frozenset()
    return PETSC_TIMED_SETUP


def setup_costs(backend=None) -> dict[str, tuple[float, float]]:
    """Rough cost of one setup per kind (seconds of overhead, matrix-vector products) on ``backend``."""
    if on_scipy(backend):
        return SETUP_COST
    return {**SETUP_COST, **PETSC_SETUP_COST}


def solve_costs(backend=None) -> dict[str, float]:
    """Rough cost of one factorisation's solve per kind, in matrix-vector products, on ``backend``."""
    if on_scipy(backend):
        return SOLVE_COST
    return {**SOLVE_COST, **PETSC_SOLVE_COST}


def first_setup_shares(backend=None) -> dict[str, float]:
    """Per kind, the share of a first measured setup that later builds repeat (1 where absent)."""
    if on_scipy(backend):
        return {}
    return PETSC_FIRST_SETUP_SHARE


def setup_kind(c: Configuration) -> str:
    """What a configuration builds before iterating: its kind, or ``"ilu"`` for any ILU-preconditioned method."""
    return "ilu" if c.get_or("preconditioner", None) == "ilu" else c.kind


def prior_rank(c: Configuration, per_iteration: Mapping[str, float] = ITERATION_COST,
                setups: Mapping[str, tuple[float, float]] = SETUP_COST,
                difficulty: float | None = None) -> tuple[float, float]:
    """Sort key of a never-measured configuration's first try: its expected cost, then the
    size-blind order (below) to break ties.

    Robust cheap methods go first (SSOR-PCG before plain CG: one capped try of CG after it costs
    little, a first uncapped CG on a hard system costs many times the SSOR solve); methods with a
    heavy one-off setup (AMG, factorisations, ILU, a grid's separable preconditioner) after every
    cheap one; an exact structured solve or the user's own preconditioner before anything.  Given
    the system's prior ``difficulty`` (:func:`~seqsolve.policies.base.prior_difficulty`, in CG
    iterations), a cheap family costs its iterations at that difficulty (``DIFFICULTY_EXPONENT``)
    in products, plus its light setup and one-off work: the subdomain coarse space (~70 products
    to build) goes before SSOR-PCG on a matrix without a diagonal margin (FEM heat, p-Laplace,
    Fluid2D: its first try cost 40 ms where SSOR-PCG's cost 80 and only showed that the coarse
    space wins).  Where Gershgorin proves a bound no difficulty is passed (:meth:`AutoPolicy._first_rank`)
    and the size-blind order stands (Heat2D's first steps need a few iterations, which that build
    would cost many times over)."""
    if c.spec.entries_free or c.spec.user_preconditioner:
        return (-1.0, -1.0)  # what the caller handed over (A's factors, an M) is tried first
    # (fastdiag-cg's grid may have been found in A's pattern, not handed over: ranked by cost)
    per = per_iteration.get(c.kind, 10.0)
    rank = per * PRIOR_ITERATIONS.get(c.kind, 1.0)
    if c.get_or("preconditioner", None) == "ilu":
        rank *= 0.3
    setup = setups.get(setup_kind(c), (0.0, 0.0))[1]
    if setup >= HEAVY_SETUP:
        return (1e12 + rank, rank)  # after every cheap family, whatever the difficulty
    exponent = DIFFICULTY_EXPONENT.get(c.kind)
    if difficulty is None or exponent is None:
        return (rank, rank)
    return (per * difficulty ** exponent + setup + ONE_OFF_COST.get(c.kind, 0.0), rank)
