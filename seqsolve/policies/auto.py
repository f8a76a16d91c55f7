"""``auto``: choose, per system, the configuration with the least measured wall time.

Why this design
---------------
The portfolio has dozens of configurations whose costs differ by orders of magnitude, drift along
the sequence (Heat2D's first steps are nearly free, later ones are hard) and depend on the system
(context).  A plain bandit over all of them would waste many expensive solves exploring, so
``auto`` combines six cheap ideas and a regret budget:

1. **Context bins.**  Costs are compared only between systems that look alike: the bin of a
   system is ``(round(log2 n), floor(log2 |context value| / bin_width))`` (half octaves by
   default).  Without a context there is one bin per size, and drift is handled by (2).  A new
   bin inherits the estimates of the nearest bin as priors (no evidence, fresh), so a context
   that drifts (a time, a step counter) does not trigger a re-screening per bin; only the
   leading member of each other family within 1.5× of the inherited best is run there once.
2. **Forgetful, de-noised estimates.**  Per (configuration, bin) an exponentially weighted mean
   of the cost with weight ``max(1/count, 1-discount)``, so a configuration that got slower (a
   reused AMG hierarchy gone stale, larger diffusion) is noticed within a few solves.  Wall
   times on a shared machine are noisy but iteration counts are exact, so a clean solve is
   charged ``fixed + iterations × (low estimate of its family's seconds per iteration) + (low
   estimate of its family's setup, or 0 when the setup was reused)``, where ``fixed`` (kernel
   entry, the certified residual check) comes from a forgetful least-squares fit of seconds on
   iterations per family — without it a speed measured on hard systems prices easy ones too
   cheaply; a solve that failed or fell back is charged its measured time.  What moves one ω's
   iteration estimate between two of its solves is the system's difficulty, which all ω of the
   family share: their estimates in the bin move by the same ratio (:meth:`_share_drift`), so under
   drift a sibling measured on easier systems does not undercut the incumbent by being older.
3. **Families, then parameters.**  Configurations are grouped into families (``numba-ssor-cg``,
   ``amg-cg(adaptive)``, ``direct`` …).  In a new bin, each *contending* family is tried once
   through its best member known from the nearest bin (a family more than ``contender`` times the
   best cost there is skipped — ``revalidate_within`` times for a family whose one-off setup
   alone exceeds the best solve — with a threshold that doubles per bin beyond ``reach``, so old
   evidence from distant contexts cannot exclude a family forever); then, within the winning
   family, the ω grid is searched locally (the neighbours of the best ω), not exhaustively, and
   never beyond a neighbour known to lose (SSOR-PCG's iterations are unimodal in ω).
   Never-measured families are tried in the order of a prior cost (``PRIOR_ITERATIONS`` ×
   ``ITERATION_COST``: SSOR-PCG before plain CG, every setup-heavy family last, a structured solve
   or the user's ``M`` first), so the first, uncapped solve is a robust one and every later try
   is capped by it.  A cheap feature of the first matrix refines that order: where its diagonal
   margin (Gershgorin) bounds nothing (a stiffness or pressure matrix), a 2-D elliptic difficulty
   is assumed, families are priced at it, and a light coarse space goes before SSOR-PCG
   (:func:`prior_rank`).  Once one family has run, the system's difficulty is known: its iteration
   count predicts the others' (``DIFFICULTY_EXPONENT``: CG needs about SSOR-PCG's count to the
   power 1/0.8, AMG a 0.4 power of CG's), and a family predicted to lose is first tried only
   when its capped try and the fallback after it fit in ``explore_budget`` of the time spent
   (all such tries together), asked for that many times over as it is foreseen beyond the
   prediction's slack (a wrong prediction is less likely the further off it would have to be) —
   so CG is tried at once on Heat2D's easy steps, but on Fluid2D,
   where SSOR-PCG needs a hundred iterations, only after about 45 systems — and then as a probe,
   capped at ``_PROBE_SHARE`` (half) of the best cost rather than ``explore_cap`` times it: its rate
   projects what it would cost, and the prediction already said it loses.  Unpreconditioned Krylov
   methods predict each other (:meth:`_failed_alike`).  The same count also
   orders the remaining first tries: once a family has run on the system, never-measured ones go
   in the order of their predicted first-try cost (:meth:`_first_try_estimate`: predicted
   iterations of any strength, amortised setup, a factorisation's setup and solve) rather than
   the size-blind prior (on PETSc's FEM heat and p-Laplace, SSOR-PCG's 180-280 iterations put the
   AMGs ahead of ICC(0); measured 1.13 vs 1.21 on p-Laplace, 60 systems).  That guess only orders
   tries; it never holds one back.  GMRES/BiCGStab (and
   LU where a Cholesky factorisation is offered) are left out on symmetric systems unless SPD
   methods break down there.
4. **Every attempt is capped, and a capped attempt is believed.**  An exploratory attempt gets
   an iteration cap worth ``explore_cap`` (1.25) times the best known cost in the bin — an
   exploration only needs to finish if it beats the incumbent, the 25 % absorb timing noise;
   exploiting the incumbent gets ``exploit_cap`` times its own mean iterations (a stale
   incumbent cannot run away: the 27,000-iteration CG solve that an early, easy system made look
   best is stopped at a few times its usual count); with nothing known yet, a prior cap of
   ``30·√n`` iterations, and the sequence's very first try is *rented* against the factorisation
   the solver falls back to (``_FIRST_RENT``): stopped once it has cost that factorisation's
   price, it runs on only where its measured rate projects the rest to cost less than that (on a
   plate, a 4th-order problem nothing in the matrix announces, PETSc's SSOR-PCG ran 1,001
   iterations before its LU, and a first system cost 3.6x the fixed Cholesky's).  What such a
   try showed is a floor for the families it bounds (those weaker than it, and the SSOR-PCG a
   coarse space is built on; a try that made no progress: at least the iterations it ran), which
   then wait as predicted losers beside the factorisation.  Where that first try would build a
   setup (the coarse space's partition and coarse matrix) on a system whose difficulty nothing
   bounds, a cheap probe goes before it (:meth:`_first_probe`, ``first_probe``): the cheapest
   one-product CG family, capped at as many iterations as that setup is priced at — a ski rental
   on the first system.  An easy system is solved by it (a mass matrix: ~10 Jacobi-PCG
   iterations where the coarse space's first build cost ~10x the whole solve); on a hard one the
   first try continues from the probe's iterate as its fallback, rented as above, and is learned
   from that solve as if it had been chosen.  A cap priced
   with a guessed speed (a family never run) is only as
   good as the guess, so such an exploration also gets the same budget in seconds
   (:meth:`attempt_budget`): the solver runs a short first chunk and stops it as soon as its
   measured speed projects its iterations past the budget.  An attempt that hits its cap is not retried with a larger cap: the
   solver extrapolates the convergence rate the attempt showed into a *projected* cost
   (``SolveRecord.projected_seconds``, ``inf`` when it made no progress), and that projection —
   its projected iterations priced like a clean solve's, and never below the cap it failed to
   meet (a censored observation) — is recorded as the configuration's cost.  The solver then falls back to the best *other* known
   configuration (the hint), starting from the capped attempt's iterate.  Such a capped loss is
   believed across bins too: a new bin that inherited it does not check it again with a real solve
   (only its doubling re-validation, idea 6, retries it) — on convection-diffusion, whose context
   opens a bin per step early on, plain GMRES was re-tried in bin after bin.  Its projected
   count still measures the system's difficulty: weaker families are predicted from it (idea 3).
5. **Setups are costed as what they are.**  A factorisation's estimate is its solve alone; its
   setup is added when choosing — nothing if it is already built for the matrix at hand (a sunk
   cost: the solver says so through :meth:`observe`), else ``setup / sharing``, where *sharing* is
   the number of systems expected to use it: the rest of the current run of one matrix, learned
   from the lengths of past runs (a sequence that changes ``A`` every ten steps shares one
   factorisation ten ways).  A family whose setup alone, so amortised, costs more than the best
   solve of the bin — AMG, a factorisation, ILU — is first screened only once it is at most
   ``explore_budget`` (5%) of all solver time so far, so a short sequence never pays for it and a
   long one tries it early enough to profit (these tries and those of predicted losers share one
   budget); one whose setup, rebuilt for every matrix, would cost more than ``_HOPELESS_SETUP``
   (3) solves of the best here is not tried at all (it cannot win, and its try would cost that
   system as much) until runs of one matrix share it; re-screening such a family judged hopeless
   elsewhere also waits until screening has cost at most that fraction.  On a repeated matrix a
   never-tried factorisation is bought as a skier buys skis, ahead of every other untried family,
   once the run's solves so far and the next have cost its build beyond what its own solves would
   (:meth:`_rent_paid_for`): whatever the run's length, within twice renting on or buying at once.
   Cheap-setup families and the ω local search are not rationed (their attempts are capped,
   idea 4).  Setup priors follow the backend: PETSc's ILU(0) costs a few products, SciPy's ILU
   with fill hundreds.
   Optional exploration waits while the incumbent is a factorisation not yet built for the
   matrix at hand, where runs of one matrix share it: a try there would leave the rest of the run
   without it.  A factorisation that rescued a failed try is measured there (:meth:`rescued`).
   The budget is charged the amortised setup only while the family, so amortised, is predicted
   within ``explore_cap`` of the best; one predicted to lose even when shared is charged its whole
   setup — what its try pays on its system — so it is screened only once that is 5 % of the time
   spent (on FEM heat with runs of ten, LU predicted at 1.8x was tried at system 11 for 13x that
   system's best); unless it is a factorisation, the budget must also hold its capped solve and
   the fallback after it.  So is every never-measured family beside a factorisation built for the
   repeating matrix at hand, which is then the best here at its solve alone
   (:meth:`_lowest_now`): a try builds a setup of its own that serves the run only if it wins.
   A setup that runs of one matrix would share is first tried where a run starts.
   Work a method does once per instance (``SolveRecord.one_off_seconds``: a graph partition) is
   left out of what later builds are expected to cost, and put into its first try's (a prior,
   ``ONE_OFF_COST``, until it ran).  Priors in products are priced at the product's cost implied
   by a family that ran; where its solves took a few iterations only, never above one timed
   product with the matrix at hand: such a solve is mostly its fixed part (Heat2D's first steps
   priced ``fastdiag-cg``'s setup at 14 ms instead of 3, and its purchase waited 16 systems).
   Two exceptions make factorisations cheaper to discover.  A never-measured factorisation whose
   first try (its whole setup plus one solve of ``SOLVE_COST`` products) is predicted to cost
   at most ``explore_cap + 1`` times the best here — what a capped try of any family and its
   fallback may cost — and that is predicted within ``_BOUNDED_RIVAL`` (2) times the best solve
   is screened without that rationing: it cannot overrun, so its try is no
   riskier than any other screening (:meth:`_bounded_first_try`; on PETSc's topology
   optimisation MUMPS at 90-130 ms beat SSOR-PCG's 300 ms but was held back 16 systems).  And a
   backend whose first factorisation on a sparsity pattern pays a one-off analysis (MUMPS: 1-4x a
   numeric factorisation) has that first sample believed at ``PETSC_FIRST_SETUP_SHARE`` until the
   next build is measured and replaces it: an estimate too low is corrected by the very next build,
   one too high never would be (the family would not run again).

6. **Evidence ages.**  The leading configuration of another family, if within
   ``revalidate_within`` (1.5×) of the best of its bin and its evidence is older than its
   re-validation period (``revalidate_after`` = 8 systems at first; ages and periods are global,
   not per bin), is tried again under the exploration cap; the period doubles with every
   re-try, so re-validation costs at most ``log2(T/8)`` capped attempts per configuration over
   ``T`` systems, however many bins the context spreads them over.  An estimate that is not re-run
   also ages when the incumbent's cost moves past it: a switch to another family whose evidence
   is older than ``revalidate_after`` is a re-validation capped at ``explore_cap`` times the
   incumbent it would replace (:meth:`_stale_switch`), not an exploitation.  A configuration whose
   latest evidence is a capped loss (idea 4) is first re-validated after ``_LOST_PERIOD`` (4) times
   the period: a censored loss is believed.  The ω neighbours of the best
   are re-validated too, from a period ``_NEIGHBOUR_PERIOD`` (4) times longer: they compare with it
   by exact iteration counts, so only drift ages their evidence.  A leader *beyond*
   ``revalidate_within`` is re-validated only where its family's speed now is slower than the best
   it measured at this size, by enough that at that speed it would be close (a burst of load that
   spanned its last solves, :meth:`_far_retry`): from ``_FAR_PERIOD`` (8) periods on, doubling,
   bounded in seconds by the exploration cap — without it, such a family was never run again.
   These tries are not rationed by the regret budget (the load that spoiled the estimate also
   inflated what every exploration under it cost): at most ``log2(T/64)`` per family over ``T``
   systems, each at most ``explore_cap`` times the incumbent plus the fallback after it.
7. **Cheap when settled.**  Once an incumbent (or another ω of its family) has been exploited a
   few times in a row, the next ``min(commit, 2**(streak-2))`` systems of its bin take it directly
   (no exploration bookkeeping; explorations in between do not break the streak; ``commit`` grows
   to keep the full decisions within ``_DECISION_SHARE`` of the time where a decision costs as much
   as a solve); a fallback, a capped solve or another bin ends that at once, a cost above its
   estimate ends it and halves the next (:meth:`_surprised`).  An
   exact structured solve (``_CONTEXT_FREE``) is committed to for 128 systems of its size in any
   bin.  Every commitment is handed to the solver (:meth:`stretch`), which runs it without asking
   (a compiled PCG on the lean path of :mod:`seqsolve.fixed_path`) and returns the records in one
   batch (:meth:`absorb`): on ~0.2 ms solves, the calls and the state an update touches were 8 %
   of the time.  The batch teaches what per-system updates would (a solve slow enough to end the
   commitment, or one in a bin it does not cover, is handed back at once).

Regret, as far as it can be argued: every attempt costs at most its cap plus one fallback (which
continues from the capped iterate) — the very first, at most ``_FIRST_RENT`` factorisations plus
the factorisation, or its own solve and a restart, as far as the factorisation's prior holds, plus
a probe costing at most the setup it went before (so at most twice the first try's setup where the
probe cannot finish, and the probe alone where it can) — the
cap being ``explore_cap``× (exploration) or
``exploit_cap``× (exploitation) the best cost known in the bin — and a switch of family on stale
evidence is capped as an exploration against the configuration it replaces (idea 6).  A capped
exploitation runs on instead (:meth:`resume`) only where its measured rate projects a finish
cheaper than a whole solve by the best other configuration known, and at most twice that far, so
it adds at most twice that other's cost; an exploration falls back to the incumbent it left.
Exploration is of two kinds.
*Screening* tries each family once where it was never measured (a new bin inherits every estimate
measured nearby, so a drifting context does not re-screen): ``K`` families cost at most
``K · explore_cap · c*`` once.  Everything else — the ω search, re-validation of aged evidence,
checks of inherited estimates, random refreshes — is *optional* and runs only while its cost beyond
the incumbent's estimate is at most ``regret_budget`` (5 %) of all time spent plus two incumbent
solves (so the first ω steps run at once, when they are worth most), and not on the system right
after one that lost a capped try (the incumbent is re-measured first, so that under drift the next
try is compared with its cost on a current system): over ``T`` systems it adds at
most ``regret_budget · T · c̄ + 2c*`` plus one attempt.  Families predicted to lose (idea 3) are
first tried within ``explore_budget`` of the time spent, the same kind of bound.  So the cost above
always running the
best-in-hindsight configuration is ``O(K · explore_cap · c*) + regret_budget · (total)`` plus what
drift (a change of the best configuration) costs until the incumbent overruns its cap — each such
change is detected within one capped solve.  Setup-heavy families (AMG, direct, ILU) are the exception: their one-off setup
is not capped; it is bounded instead by the budget of idea 5 (all first screenings of such families
together cost at most ``explore_budget`` of the time spent, plus one setup each), which is why
``amg-cg`` enters only as ``amg-cg(adaptive)`` (setup reuse is a schedule of one preconditioner,
not three families) and ``direct`` reuses its factorisation while ``A`` is unchanged.  A
factorisation screened without that budget (idea 5: its first try predicted within
``(explore_cap + 1) c*``) is one of the ``K`` screenings above, as long as its setup prior holds;
where it is several times too low the bound is off by that try, once.

The priors all of this starts from — costs per iteration, per setup, per solve, and how each
family's iterations follow a system's difficulty, per backend — live in :mod:`.priors`.

AMG staleness is handled by ``amg-cg(adaptive)``'s rent-or-buy rule inside its method, which also
stops reusing a hierarchy whose first reuse after a build already cost more than the build (a
fast drift: Fluid2D under BoomerAMG), probing again at doubling intervals
(:mod:`seqsolve.solvers.reuse`).  The learner charges such a losing probe what a rebuild would have
cost (the schedule's long-run cost, :meth:`_learn_reuse`), and where one AMG's reuse lost, another
AMG's first build is not followed by a confirming reuse (the drift defeats any hierarchy).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
import random
import time
from typing import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from ..band import narrow_band
from ..configs import Configuration, parse, portfolio
from ..errors import ConfigurationError, StateFileError
from ..records import SolveRecord
from .base import Policy, Stretch, SystemFacts, diagonal_verdict, prior_difficulty
from .graph_dimension import graph_dimension, lu_products
from .priors import (DIFFICULTY_EXPONENT, EQUAL_STRENGTH_FLOOR, FACTORISATIONS, ILU_GROWTH, MULTILEVEL,
                     ONE_OFF_COST, ONE_PRODUCT, PRECONDITIONER_APPLIES, first_setup_shares, iteration_costs,
                     on_scipy, prior_rank, setup_costs, setup_kind, solve_costs, timed_setups)


_MAX_PERIOD = 1 << 20  # re-validation periods stop doubling here (about a million systems)


@functools.lru_cache(maxsize=4096)
def _family(c: Configuration) -> str:
    """Configuration name without its ω: the unit of the family search (idea 3)."""
    if all(k != "omega" for k, _ in c.params):
        return c.name
    return Configuration(c.kind, tuple((k, v) for k, v in c.params if k != "omega")).name


#: a prediction from another family's count (DIFFICULTY_EXPONENT) holds a family back only beyond
#: this factor of what a capped try may cost: the exponents are fits, 0.05 off at 66 SSOR-PCG
#: iterations is 1.4x.  On the random graph Jacobi-PCG, predicted at 188 iterations from SSOR-PCG's
#: 66, needed 133 and ties the best configuration; held back at 1.1x the cap, it was never tried
_PREDICTION_SLACK = 1.5

#: a family whose count predicts nothing of the one it is built on: the subdomain coarse space
#: removes as much of SSOR-PCG's work as subdomain-constant vectors span A's near-kernel, which no
#: exponent knows (SSOR-PCG needed 4.1x its count on FEM heat, 1.8x on Fluid2D and on elasticity,
#: whose rigid-body modes it misses; the exponents say 3.3x at 35 iterations, 5.7x at 180, and held
#: back SSOR-PCG, the winner on elasticity)
_BUILT_ON = {"subdomain-deflated-cg": "numba-ssor-cg"}

#: a step of one in a bin's size (log2 of the unknowns) counts as this many context bins when a new
#: bin inherits estimates (AutoPolicy._inherit): the same size always first
_SIZE_STEP = 1000

#: kinds whose "indefinite" proves ``A`` is not positive definite: ``pᵀAp ≤ 0`` in plain CG, or a
#: Jacobi or SSOR preconditioner that is not SPD, which happens only where a diagonal entry of
#: ``A`` is not positive.  An AMG or a coarse space may fail so on an SPD matrix: no proof there
_PROVES_INDEFINITE = frozenset({"numba-cg", "cg", "numba-jacobi-cg", "jacobi-cg", "numba-ssor-cg", "ssor-cg"})

#: exact structured solves (and ``fastdiag-cg`` on a separable matrix: one exact step, see
#: AutoPolicy.observe): their cost depends on the grid, not on the system's context or
#: difficulty, so a commitment to one (idea 7) is _CONTEXT_FREE_COMMIT times longer and carries
#: across the bins of its size (its statistics stay in the bin where it began), and a streak of
#: choices of it runs across bins too — what it delays (a check of an iterative family in a new
#: bin) waits at most that long.  A full decision costs about one such solve (a fifth of a
#: millisecond, on cold caches), so one per 128 systems costs under 1 %
_CONTEXT_FREE = ("fast-diag",)
_CONTEXT_FREE_COMMIT = 16

#: a commitment is made long enough that the full decisions between commitments cost at most this
#: share of the time (the decision's measured seconds over the incumbent's cost), up to
#: ``_LONGEST_COMMIT`` times ``commit``: on 400 unknowns (0.1 ms solves) a full decision and the
#: solver's per-decision steps cost ~0.1 ms, and one per 8 systems was 12 % of the time
_DECISION_SHARE = 0.02
_LONGEST_COMMIT = 16

#: a family's low speed estimate is the least of this many recent samples at one size
#: (AutoPolicy._low_per); twice as many for a context-free one, whose solves are the shortest
_SPEED_WINDOW = 3

#: solves of fewer iterations than this (on average) imply no product's cost: their time is mostly
#: the fixed part (kernel entry, the certified check), so a timed product bounds it (_matvec_seconds)
_FEW_ITERATIONS = 10

#: statuses of an attempt that failed outright (not merely capped): it is no fallback (fallback_hint)
_FAILED = frozenset({"stagnated", "breakdown", "indefinite", "nan"})

#: a never-measured family whose setup, rebuilt per matrix, is expected to cost more than this many
#: solves of the best configuration here is not tried (issue 8: no system should cost more than 3x
#: the best known); setups reused across matrices (AMG's schedules) are exempt
_HOPELESS_SETUP = 3.0

#: the first try of a family predicted to lose (idea 3) is a probe: capped at this share of the
#: best cost here, not at ``explore_cap`` times it.  It need not finish to be judged: its
#: convergence rate projects its cost (idea 4), which the prediction already put at 1.9x the
#: best or more, so a try that runs to 1.25x and falls back mostly pays for a confirmation.  On
#: Fluid2D the capped tries of plain CG and Jacobi-PCG (900 iterations each, BoomerAMG's 6 best)
#: cost 2.2-2.6x a system each; a probe and its fallback cost about 1.5x.  What it then believes is
#: what a capped try's loss would have taught (censored at ``explore_cap`` times the best)
_PROBE_SHARE = 0.5

#: a factorisation whose first try is bounded (at most ``explore_cap + 1`` solves) is screened at
#: once only if predicted within this many times the best solve: beyond it, it can win only if its
#: setup prior is more than twice too high, and it waits for the exploration budget like the rest
_BOUNDED_RIVAL = 2.0

#: the sequence's very first try, of a family never measured on a system never seen, is rented
#: against the factorisation the solver falls back to: after this many times that factorisation's
#: price (its prior, priced as a 2-D graph with a timed product) it stops, and runs on only where
#: its measured rate projects the rest to cost less than this many times the factorisation (now
#: priced with the graph's measured dimension).  A ski-rental: the first system then costs at
#: most about (2 x this) factorisations when the factorisation is the cheaper route, and the
#: iterative solve's own cost (plus a restart) when it is not.  Uncapped but by 30√n iterations, a
#: plate (4th order, condition ~n²) cost PETSc's SSOR-PCG 1,001 iterations (420-600 ms) before
#: its LU (150 ms), 3.2x the fixed Cholesky over 40 systems.  At 2 (the rest run on where it cost
#: under twice the factorisation) a first system cost up to 5 factorisations: plane-strain
#: elasticity's coarse-space SSOR-PCG ran 834 iterations (2.7 s) before its 1.1 s LU, and a plate's
#: ran on to 477 ms beside a 190 ms LU; the textbook rent (1) bounds it at 2
_FIRST_RENT = 1.0
#: where the sequence's first try would build a setup (the coarse space's graph partition and
#: coarse matrix, ~70 products) on a system whose difficulty nothing bounds, the cheapest CG family
#: goes first, for as many iterations as that setup is priced at: a ski rental on the first
#: system.  An easy system (a mass matrix: ~10 Jacobi-PCG iterations, where the coarse space's
#: first try cost 10x the whole solve) is then solved by it; a hard one pays the setup's price
#: once more, and the setup's family continues from the probe's iterate, rented as a first try.
#: Only kinds whose iteration is one product, and only where that setup buys this many of them
_PROBE_KINDS = ("numba-jacobi-cg", "numba-cg", "jacobi-cg", "cg")
_PROBE_MIN_ITERATIONS = 10
#: the fewest iterations a Krylov method with an inexact preconditioner is credited with (a
#: one-iteration solve needs the exact inverse): see AutoPolicy._applied_floor
_FEW_APPLIED = 2
_CHOLESKY = parse("cholesky")


#: an ω neighbour of the best is first re-validated after this many times ``revalidate_after``
#: systems (then at doubling periods, like any re-validation).  It is compared with the best by
#: iteration counts, which are exact: its evidence is not spoiled by a noisy timing, only aged by
#: drift of the best ω, which is slow within a bin.  With the base period, near-equal neighbours
#: were re-run 7 times in 50 FEM heat systems (each a near-free "exploration", but a seventh of the
#: systems, and a churn of the incumbent between ω values 1-2 % apart)
_NEIGHBOUR_PERIOD = 4

#: a configuration whose latest evidence is a capped try that lost (a censored observation: it
#: costs at least its cap) is first re-validated after this many times ``revalidate_after``
#: systems: its loss is believed (issue 8: "what an abandoned attempt revealed is believed, not
#: retried blindly"), and each re-try is again a capped loss and a fallback (convection-diffusion:
#: plain GMRES re-tried at systems 18 and 39 of 60, 1.3-2.9x the leader each time)
_LOST_PERIOD = 4

#: a family's best member whose estimate is *far* from the best (beyond ``revalidate_within``) is
#: re-validated too, first after this many times ``revalidate_after`` systems, then at doubling
#: periods: noise only slows a solve down, and a burst of machine load that spans a family's few
#: solves prices it out for good otherwise — no longer re-run, its estimate never recovers.  On 1,000
#: tiny systems with half of the solves of systems 0-400 slowed 8x, ``auto`` settled on a deflated
#: SSOR-PCG at 1.3x plain CG's cost and never tried CG again.  The try is bounded in seconds by the
#: exploration cap (its own speed estimate is the suspect), on its own doubling schedule rather than
#: the regret budget's (:meth:`AutoPolicy._far_due`)
_FAR_PERIOD = 8


#: families whose rough work per iteration (``ITERATION_COST``) is within this factor price each
#: other's first samples (:meth:`AutoPolicy._cap_first_samples`)
_SIMILAR_WORK = 4.0


def _unpreconditioned(c: Configuration) -> bool:
    """Whether ``c`` is a Krylov method on A itself: plain CG, MINRES, GMRES or BiCGStab."""
    return c.kind in ("cg", "numba-cg", "minres") or (
        c.kind in ("gmres", "bicgstab") and c.get_or("preconditioner", "none") == "none")


def default_candidates(backend=None) -> list[Configuration]:
    """The backend's portfolio, less what is dominated: SciPy variants of compiled methods (same
    iterations, slower; plain CG stays, for operators), stand-alone SOR (SSOR-PCG), AMG's fixed
    schedules (its adaptive one), dcdm and MINRES (for symmetric indefinite systems, which the SPD
    methods' breakdowns reveal anyway).
    ``backend``: a :class:`~seqsolve.backends.Backend` or its name (``"scipy"``, ``"petsc"``)."""
    if isinstance(backend, str):
        from ..backends import get_backend

        backend = get_backend(backend)
    if backend is not None and backend.name != "scipy":
        pool, compiled = backend.portfolio(), False
    else:
        try:
            import numba  # noqa: F401

            compiled = True
        except ImportError:  # pragma: no cover - numba is a dependency
            compiled = False
        pool = portfolio(compiled=compiled)
    # dcdm is left out: on a CPU one network application costs 130-180 matvecs and loading torch
    # about a second, so it never paid in our measurements; pass candidates=[..., "dcdm"] to try it
    # stand-alone SOR is dominated by SSOR-PCG (the same sweeps, Krylov-accelerated) on every SPD
    # system: trying it costs a capped attempt per sequence and never pays
    # (SciPy's plain CG stays: the compiled one needs a matrix, and on a LinearOperator it is the one
    # SPD method — without it an SPD operator got GMRES(30) and BiCGStab: 151,455 GMRES iterations,
    # 56 s, where CG takes ~4,500.  Where the compiled twin runs, the solver leaves it out:
    # seqsolve.solver.TWINS)
    dominated = {"dcdm", "sor", "minres"} | ({"jacobi-cg", "ssor-cg"} if compiled else set())
    # one member per AMG: 'adaptive' reuses its hierarchy while A is unchanged or barely drifts and
    # rebuilds by rent-or-buy, so 'rebuild' and 'reuse' are two of its schedules, not rivals
    structured = [parse("fast-diag")] if backend is None or getattr(backend, "structured", False) else []
    if backend is None or (getattr(backend, "structured", False) and backend.supports(parse("fastdiag-cg"))):
        # a grid found in A's pattern (or handed over) preconditions CG by fast diagonalisation: on
        # SciPy and on sequential PETSc (the same NumPy method there); the distributed solver has no grid
        structured.append(parse("fastdiag-cg"))
    if (backend is None or backend.name == "scipy") and compiled:
        # SSOR-PCG with a subdomain coarse space: one ω (its optimum moves little), not a grid
        structured.append(parse("subdomain-deflated-cg"))
    return [c for c in pool if c.kind not in dominated and c.get_or("setup", "adaptive") == "adaptive"] + structured


def _keep(memo: dict, key, value, most: int = 32) -> None:
    """``memo[key] = value``, forgetting the oldest entry beyond ``most`` (a per-size memo)."""
    if len(memo) >= most:
        del memo[next(iter(memo))]
    memo[key] = value


class AutoPolicy(Policy):
    """Least-measured-cost selection with context bins, forgetting, family search and capped exploration."""

    def __init__(self, candidates: Sequence[str | Configuration] | None = None, *, context_key: str | None = None,
                 seed: int | None = 0, discount: float = 0.8, explore: float = 0.03,
                 explore_cap: float = 1.25, exploit_cap: float = 3.0, contender: float = 4.0,
                 bin_width: float = 0.5, reach: int = 4, explore_budget: float = 0.05,
                 revalidate_after: int = 8, revalidate_within: float = 1.5, regret_budget: float = 0.05,
                 commit: int = 8, cost: str = "seconds", first_probe: bool = True,
                 backend=None) -> None:
        if cost not in ("seconds", "iterations"):
            raise ConfigurationError(f"auto: cost must be 'seconds' or 'iterations', got {cost!r}")
        self.cost = cost
        self._backend = backend
        self._iter_cost = iteration_costs(backend)
        self._setup_cost = setup_costs(backend)
        self._solve_cost = solve_costs(backend)
        self._first_share = first_setup_shares(backend)
        self._timed_setup = timed_setups(backend)
        #: SciPy's ILU has fill (a drop tolerance), PETSc's ILU(0) none
        self._ilu_fills = on_scipy(backend)
        self.candidates_list = [parse(c) for c in candidates] if candidates is not None else default_candidates(backend)
        self.context_key = context_key
        self.seed = seed
        self.discount = discount
        self.explore = explore
        self.explore_cap = explore_cap
        self.contender = contender
        self.bin_width = bin_width
        self.exploit_cap = exploit_cap
        self.revalidate_after = revalidate_after
        self.revalidate_within = revalidate_within
        self.regret_budget = regret_budget
        self.commit = commit
        self.first_probe = first_probe  # a cheap CG probe before a first try that builds a setup
        self._commit: list | None = None  # [bin, systems left, name, incumbent cost, limit] (_commit_to)
        self._streak: list | None = None  # [bin, name, consecutive exploitations]
        self._decision_s: float | None = None  # a full decision's seconds, smoothed (_commit_length)
        self._full = False  # whether the last choice was a full decision (not a committed one)
        self._bin_best: dict[tuple, str] = {}  # bin → its best at the last full decision there
        self.reach = reach
        self.explore_budget = explore_budget
        self.spec = "auto"
        self._by_name = {c.name: c for c in self.candidates_list}
        self._factor_names = frozenset(c.name for c in self.candidates_list if c.kind in FACTORISATIONS)
        self._context_free = self._exact_structured = frozenset(
            c.name for c in self.candidates_list if c.kind in _CONTEXT_FREE)
        # fastdiag-cg is one exact step, context-free like fast-diag, while the systems are separable
        self._separable_exact = frozenset(c.name for c in self.candidates_list if c.kind == "fastdiag-cg")
        self._recent_per: dict[tuple[str, int], collections.deque] = {}  # (family, size) → samples (_low_per)
        self._rng = random.Random(seed)
        self.t_ = 0
        self.spent_total_ = 0.0  # seconds charged to all solves
        self.spent_explore_ = 0.0  # of which screening
        self.spent_excess_ = 0.0  # what explorations cost beyond the incumbent's estimate (regret)
        self.spent_deferred_ = 0.0  # what first tries of families predicted to lose cost
        self._deferred = False  # the current choice is such a try
        self._probing = False  # ... and one predicted to lose by its iterations: a probe (_PROBE_SHARE)
        self._share = explore_cap  # the share of the best cost the current exploration was capped at
        self._confirm: str | None = None  # a setup-reusing configuration to run once more (update)
        self._exploited: str | None = None  # the configuration last chosen as the best (_stale_switch)
        self._after_loss = False  # the last system's optional exploration was capped (_explore_choice)
        self._prefer: str | None = None  # the fallback of a stale switch: the incumbent it would replace
        self._incumbent_cost: float | None = None
        #: bin → {configuration name → [mean cost, count, last step, mean iterations]}; the mean is
        #: stored in units of its family's speed scale (see _rescale): read it through _mean
        self.stats_: dict[tuple, dict[str, list]] = {}
        self._scale: dict[tuple[str, int], float] = {}  # (family, size) → speed scale of stored means
        self._fam_of = {c.name: _family(c) for c in self.candidates_list}
        # name → what its configuration alone fixes, read on every decision and update (a dict
        # lookup, not an attribute chain or a parameter scan per call; the candidates never change)
        self._kind_of = {c.name: c.kind for c in self.candidates_list}
        self._setup_kind_of = {c.name: setup_kind(c) for c in self.candidates_list}
        self._setup_of = {c.name: c.get_or("setup") for c in self.candidates_list}
        members: dict[str, list[str]] = {}
        for c in self.candidates_list:
            members.setdefault(self._fam_of[c.name], []).append(c.name)
        #: name → the other members of its family (its ω siblings), for _share_drift
        self._siblings = {k: [o for o in members[f] if o != k] for k, f in self._fam_of.items() if len(members[f]) > 1}
        self._grids: dict[str, tuple] = {}  # family → its ω grid among the current arms (_omega_grid)
        #: family → seconds per iteration (a low estimate)
        self.per_iteration_: dict[str, float] = {}
        #: family → seconds a solve costs whatever its iterations (kernel entry, the certified
        #: residual check, the backend's calls), from a forgetful least-squares fit (_learn_fixed)
        self.fixed_: dict[str, float] = {}
        self._fit: dict[str, list[float]] = {}  # family → weighted sums [w, x, xx, y, xy] of (iterations, s)
        self._last: tuple | None = None  # (bin, name, exploring)
        self._screened: dict[tuple, set] = {}  # families already tried or skipped, per bin
        self._period: dict[str, int] = {}  # name → steps before its evidence is re-validated
        self._last_run: dict[str, int] = {}  # name → step it last ran (in any bin)
        self._bin_now: tuple | None = None
        self._screening = False  # the current choice screens a family (counts against the budget)
        self._revalidating = False  # the current choice re-validates aged evidence
        self._reval_base = revalidate_after  # the base period of that re-validation (_aged's factor)
        self._far_check = False  # it re-validates an estimate far from the best (_FAR_PERIOD)
        # (family, size) → the lowest seconds per iteration it ever measured there: what tells a
        # speed estimate spoiled by load (_far_retry)
        self._best_per: dict[tuple, float] = {}
        self._last_per: dict[str, float] = {}  # family → last seconds-per-iteration sample
        #: family → setup seconds when built (a low estimate)
        self.setup_low_: dict[str, float] = {}
        self._last_setup: dict[str, float] = {}
        #: a preconditioner with a setup of its own (ILU) → (the family that last applied it, its
        #: seconds per iteration there, capped tries included): see _prior_per_iteration
        self._applied: dict[str, tuple[str, float]] = {}
        self._bins_of: dict[str, list[tuple]] = {}  # configuration name → bins where it ran
        self._wait: dict[tuple, int] = {}  # (bin, family) → step before which it is not re-screened
        self._factor_due: dict[tuple, int] = {}  # bin → step a held-back factorisation may pay (_factor_due_at)
        self._arms_ref: object = None
        self._arm_names: set[str] = set()
        self._arm_families: dict[str, list[Configuration]] = {}
        self._arm_family_names: dict[str, frozenset] = {}
        self._spd_families: set[str] = set()
        self._general_families: set[str] = set()
        self._spd_arm_families: dict[str, list[Configuration]] = {}
        self._spd_trouble: dict[tuple, int] = {}  # bin → SPD-method breakdowns seen
        # bins where a method whose breakdown is a proof found A not positive definite
        # (_PROVES_INDEFINITE; not saved: a hint, relearned in one solve)
        self._indefinite: set[tuple] = set()
        self._limit: int | None = None
        self._budget: float | None = None  # seconds an exploration of unmeasured speed may cost
        # seconds the sequence's first try is rented for, against the fallback factorisation
        # (_FIRST_RENT, attempt_rent); None for every other try
        self._rent_s: float | None = None
        #: the sequence's first try where a cheap probe went before it (_first_probe): it is the
        #: probe's fallback and keeps the rent (and its iteration limit) a first try gets
        self._successor: Configuration | None = None
        self._successor_limit: int | None = None
        self._after_probe: Configuration | None = None  # the successor, between update and rescued
        self._quiet = False  # an update that counts no time (_learn_successor)
        self._lowest_memo: dict[tuple, float | None] = {}
        self._size_memo: tuple = (None, 0)  # (n, its size class) of the last _bin
        # measured once per size, and kept per size (a mesh refined and coarsened comes back to
        # earlier sizes; re-measured at each change, the dimension cost 4-7 ms a time): n → value
        self._dimension: dict[int, tuple[float, float]] = {}  # (the graph dimension, nnz per row) (_fill_growth)
        self._hint: tuple[str, dict] | None = None
        self._recent_cost: float | None = None  # seconds of the last solve
        #: runs of one matrix: mean length of the finished ones (0: none finished), and the
        #: current run's length; a setup built now is shared by the rest of the run (_sharing)
        self.mean_run_ = 0.0
        self._product: dict[int, float] = {}  # seconds of one product with a matrix of that size
        self._difficulty: dict[int, float | None] = {}  # its unproved prior difficulty, or None
        self._diagonal: dict[int, tuple[bool, bool]] = {}  # size → its first matrix's diagonal_verdict
        self._band: dict[int, bool] = {}  # size → whether its first matrix has a narrow band (seqsolve.band)
        self._runs = 0
        self._run_len = 0
        self._run_spent = 0.0  # seconds charged to the systems of the current run of one matrix
        self._observed = False  # observe() counted the coming system's run already
        self._samples: dict[str, int] = {}  # family → clean solves measured
        self._unchecked: dict[tuple, set] = {}  # bin → inherited estimates not yet run there
        # name → [checks in a row that found it still losing, new bins it sits out] (_inherit_checks)
        self._check_backoff: dict[str, list[int]] = {}
        self._checking: str | None = None  # the inherited estimate the current try checks
        self._facts: SystemFacts | None = None
        self._lost: set[str] = set()  # configurations whose latest evidence is a capped try (a projection)
        # a capped try's projected iterations (finite ones): still a measure of the system's difficulty
        self._lost_its: dict[str, float] = {}
        # a capped loss with no rate to project from: the iterations it ran, only a floor (_predicted)
        self._floor_its: dict[str, float] = {}
        # configurations whose latest attempt failed outright (stagnated, broke down, proved A
        # indefinite): no fallback for another's failure (not saved: a hint, relearned in one solve)
        self._failed: set[str] = set()
        # rent-or-buy AMGs whose reused hierarchy lost to a rebuild on the latest such solve (a
        # fast drift), and the iterations of each one's latest fresh build (_learn_reuse; not saved)
        self._reuse_lost: set[str] = set()
        self._fresh_its: dict[str, int] = {}

    # ------------------------------------------------------------------ Policy API
    def candidates(self) -> Sequence[Configuration]:
        return self.candidates_list

    def observe(self, facts: SystemFacts) -> None:
        self._facts = facts  # its ``ready`` is read only when a factorisation's charge is needed
        if self._separable_exact and not self._separable_exact.isdisjoint(self._last_run):
            # (asked only once fastdiag-cg ran: the verdict costs a projection the first time)
            self._context_free = (self._exact_structured | self._separable_exact if facts.separable
                                  else self._exact_structured)
        # a run of one matrix is over as soon as a new matrix arrives: learn its length before
        # choosing, so the first system of the next run is already costed with it
        self._count_run(facts.repeated)
        self._observed = True

    def stretch(self) -> Stretch | None:
        """The rest of a committed stretch (see _commit_to), for the solver to run without asking;
        it hands back every solve whose time could end the commitment (see update) at once.

        An exact structured configuration's commitment holds in every bin of its size; an iterative
        one's in the bins where select would keep it (its own, and those whose best at the last
        full decision was the same configuration).  On 0.1–0.4 ms solves the committed select and
        the solver's per-decision steps (facts, limits) were a fifth of the call."""
        commit = self._commit
        if (commit is None or commit[1] <= 0 or self.cost != "seconds" or not commit[3] or self._last is None
                or self._last[1] != commit[2]):
            return None
        name = commit[2]
        fixed = self.fixed_.get(self._fam_of[name], 0.0)
        c = 1.25 * commit[3]  # a cost above this gives a sample above 1.25x the incumbent (update)
        ceiling = c if c >= 2.0 * fixed else 2.0 * (c - fixed)
        if name in self._context_free:
            return Stretch(self._by_name[name], commit[1], ceiling, commit[4])
        home, size = commit[0], commit[0][0]
        bins = frozenset([home, *(b for b, best in self._bin_best.items() if best == name and b[0] == size)])
        n = self._size_memo[0]
        return Stretch(self._by_name[name], commit[1], ceiling, commit[4],
                       admits=lambda context: self._bin(context, n) in bins,
                       new_matrix_ends=bool(self._factor_names) and (self.mean_run_ > 1.5 or name in self._factor_names),
                       # (update charges a build not reused: a setup slow enough counts too)
                       charge_setup=True)

    def absorb(self, records: list[SolveRecord]) -> None:
        n = self._size_memo[0]  # (a stretch never changes size)
        for record in records:  # what select's committed path and update would have done, in order
            self.t_ += 1
            commit = self._commit
            if commit is not None and commit[1] > 0 and commit[2] == record.configuration:
                self._facts = None
                # an exact structured solve learns in the bin it began in; any other in its own
                self._committed(commit, commit[0] if commit[2] in self._context_free
                                else self._bin(record.context or None, n))
            self.update(record.seconds, record)

    def _ready(self) -> frozenset:
        """The configurations whose setup is built for the coming matrix (a sunk cost)."""
        return self._facts.ready if self._facts is not None else frozenset()

    def attempt_limit(self) -> int | None:
        return self._limit

    def attempt_budget(self) -> float | None:
        return self._budget

    def attempt_rent(self) -> float | None:
        return None if self._successor is not None else self._rent_s

    def fallback_first_try(self, config: Configuration) -> tuple[int, float | None] | None:
        successor = self._successor
        if successor is None or config.name != successor.name or self._successor_limit is None:
            return None
        return self._successor_limit, self._rent_s

    def fallback_hint(self) -> Configuration | None:
        """If the choice fails or overruns its cap: the best *other* configuration known here,
        but none whose latest attempt failed outright (``None`` then: the solver's own order,
        sparse LU first).  On Helmholtz, plain BiCGStab, which had stagnated two systems earlier
        (its censored cost still looked cheap), was the fallback of a failed try and ran 3,000
        iterations before LU, which had rescued every system so far, got its turn.

        An exploration falls back to the incumbent it stepped away from, whose estimate the
        exploitation kept checking, not to a cheaper-looking one seen once: on p-Laplace with
        projected starts, plain CG measured once on a system its start left 1 iteration to do;
        the next exploration failed and fell back to it, uncapped, for 573 iterations (62 ms,
        where the incumbent needed 11)."""
        if self._hint is None:
            return None
        chosen, known = self._hint
        if self._successor is not None and chosen != self._successor.name:
            return self._successor  # a first probe falls back to the first try it went before
        if self._prefer is not None and self._prefer != chosen:
            return self._by_name[self._prefer]  # a stale switch falls back to the incumbent it would replace
        if known is None:  # a committed choice: the estimates are read only now, when needed
            known = self._known(self._bin_now, self._arm_names)
        incumbent = self._exploited
        if self._last is not None and self._last[2] and incumbent is not None and incumbent != chosen \
                and incumbent in known and incumbent not in self._failed:
            return self._by_name[incumbent]
        others = [k for k in known if k != chosen and k in self._by_name and k not in self._failed]
        return self._by_name[min(others, key=lambda k: (known[k][0], k))] if others else None

    def resume(self, config: Configuration, remaining_seconds: float) -> bool:
        """An exploited incumbent stopped at its cap runs on when finishing, at the rate it
        measured, costs less than a whole solve by the best other configuration known here (which
        would also start from the capped iterate, but pays its setup and restarts its Krylov
        space).  The cap is there to stop a stale estimate, and such a one projects a finish
        costlier than that; a system merely harder than the last few does not.  An exploration
        is never resumed: it was capped against the incumbent on purpose."""
        last = self._last
        rented = self._successor.name if self._successor is not None else (last[1] if last is not None else None)
        if self._rent_s is not None and rented == config.name:
            # the first try ran past its rent (_FIRST_RENT): on, unless the factorisation is cheaper
            factor = self._factor_route(measured=True)
            return factor is not None and math.isfinite(remaining_seconds) \
                and remaining_seconds <= _FIRST_RENT * factor
        if last is None or last[2] or last[1] != config.name or self.cost != "seconds" \
                or not (remaining_seconds >= 0.0 and math.isfinite(remaining_seconds)):
            return False
        known = self._known(self._bin_now, self._arm_names)
        others = [v[0] for k, v in known.items() if k != config.name and k not in self._failed]
        if others:
            return remaining_seconds < min(others)
        own = known.get(config.name)  # nothing else known: on while it costs at most one more solve
        return own is not None and remaining_seconds < own[0]

    def explored(self) -> bool:
        return bool(self._last and self._last[2])

    def _rent(self, choice: Configuration) -> float | None:
        """Seconds the sequence's first try (``choice``) may cost before it is stopped and asked
        whether to run on (:meth:`resume`): ``_FIRST_RENT`` times the price of the factorisation
        the solver falls back to, priced as on a 2-D graph (measuring the graph's dimension waits
        until a try runs that long).  ``None`` where no such factorisation follows (an operator, a
        matrix too large for the fallback's LU), ``choice`` is one, or costs are not in seconds."""
        from ..solver import DIRECT_MAX_SIZE

        if choice.kind in FACTORISATIONS or choice.spec.entries_free or choice.spec.user_preconditioner \
                or self.cost != "seconds" or self._facts is None or not sp.issparse(self._facts.A) \
                or self._facts.A.shape[0] > DIRECT_MAX_SIZE:
            return None
        factor = self._factor_route(measured=False)
        return None if factor is None else _FIRST_RENT * factor

    def _factor_route(self, measured: bool) -> float | None:
        """Seconds the factorisation the solver falls back to is expected to cost on the matrix at
        hand, its setup and one solve, from the priors priced with a timed product: the backend's
        Cholesky on a symmetric matrix where it has one (PETSc), else its LU.  ``measured``: with
        the fill growth of the graph's measured dimension (else as a 2-D graph)."""
        per = self._product_seconds()
        kind = "cholesky" if self._spd_families and self._backend is not None \
            and self._backend.supports(_CHOLESKY) else "direct"
        if per is None or kind not in self._setup_cost:
            return None
        fixed, products = self._setup_cost[kind]
        growth = self._fill_growth(force=True) if measured else 1.0
        return fixed + (products * growth + self._solve_cost.get(kind, 0.0) * math.sqrt(growth)) * per

    def _learn_setup(self, fam: str, kind: str, sample: float) -> None:
        """A measured build of ``fam``, de-noised like its speed (a setup depends on neither ω nor
        the context): the lower of its last two samples."""
        share = self._first_share.get(kind, 1.0) if fam not in self._last_setup else 1.0
        if share < 1.0 and self.cost == "seconds":
            # a first factorisation paid a one-off analysis: believed at the share later builds
            # repeat, until the next build is measured and replaces it (PETSC_FIRST_SETUP_SHARE)
            # (the next build's sample replaces it: min(that build, this whole first one))
            self.setup_low_[fam] = share * sample
            self._last_setup[fam] = sample
        else:
            last = self._last_setup.get(fam, sample)
            self._last_setup[fam] = sample
            self.setup_low_[fam] = min(sample, last)

    def rescued(self, config: Configuration, setup_seconds: float, solve_seconds: float, *,
                iterations: int = 0, one_off_seconds: float = 0.0) -> None:
        """A factorisation that rescued a failed try measured its cost on this very system (it
        ignores the start, so the number is what its own try would have cost): believed like a
        solve of its own.  On PETSc's Helmholtz the SPD methods' failures fell back to an LU for
        ~90 ms a system, yet, unmeasured, the factorisations waited for the exploration budget
        while six Krylov families were screened at up to 1.25x the failed tries' inflated costs;
        measured, Cholesky is predicted from it and tried at once (it costs 25 ms there)."""
        name = config.name
        successor, self._after_probe = self._after_probe, None
        if successor is not None and name == successor.name and config.kind not in FACTORISATIONS:
            self._learn_successor(config, setup_seconds, solve_seconds, iterations, one_off_seconds)
            return
        if self._last is None or name not in self._by_name or config.kind not in FACTORISATIONS \
                or self.cost != "seconds" or not (solve_seconds > 0 and math.isfinite(solve_seconds)):
            return
        b, fam = self._last[0], self._fam_of[name]
        if setup_seconds > 0 and math.isfinite(setup_seconds):
            self._learn_setup(fam, config.kind, setup_seconds)
        here = self.stats_.setdefault(b, {})
        if name not in here:
            self._bins_of.setdefault(name, []).append(b)
        entry = here.setdefault(name, [solve_seconds, 0, self.t_, 0.0])
        entry[1] += 1
        w = max(1.0 / entry[1], 1.0 - self.discount)
        observed = solve_seconds / self._scale.get((fam, b[0]), 1.0)
        entry[0] = observed if entry[1] == 1 else entry[0] + w * (observed - entry[0])
        entry[2] = self.t_
        self._last_run[name] = self.t_
        self._failed.discard(name)
        self._lost.discard(name)
        self._unchecked.get(b, set()).discard(name)

    def _learn_successor(self, config: Configuration, setup_seconds: float, solve_seconds: float,
                         iterations: int, one_off_seconds: float) -> None:
        """The first try a probe went before solved the system as its fallback: learned as its own
        try would have been (a clean exploration, from the probe's iterate), through :meth:`update`,
        without counting the time again (the probe's record held the whole system's).  Unlearned,
        the next system knew only the probe's projected cost, and its screening of SSOR-PCG, capped
        against that, ran to the end on `varcoef`: 2.3x the coarse space's solve."""
        if self._last is None or iterations <= 0 or config.name not in self._by_name:
            return
        last = self._last
        record = SolveRecord(index=self.t_, configuration=config.name, iterations=iterations,
                             setup_seconds=setup_seconds, solve_seconds=solve_seconds, residual=0.0,
                             converged=True, attempt_seconds=setup_seconds + solve_seconds, explored=True,
                             one_off_seconds=one_off_seconds)
        self._last, self._quiet = (last[0], config.name, True), True
        try:
            self.update(setup_seconds + solve_seconds, record)
        finally:
            self._last, self._quiet = last, False

    def select(self, context: Mapping[str, float] | None = None, *,
               allowed: Sequence[Configuration] | None = None, n: int | None = None) -> Configuration:
        self.t_ += 1
        self._successor = self._after_probe = None
        arms = allowed if allowed is not None else self.candidates_list
        if not arms:
            raise ConfigurationError("auto: no candidate configuration is applicable to this system")
        commit = self._commit
        if (commit is not None and commit[1] > 0 and commit[2] in self._context_free and arms is self._arms_ref
                and commit[2] in self._arm_names and commit[0][0] == (int(round(math.log2(n))) if n else 0)):
            return self._committed(commit, commit[0])  # the same grid: any context, no bin to compute
        names = self._names_of(arms)
        b = self._bin(context, n)
        if commit is not None and self._factor_names and self._observed and self._run_len == 1 \
                and (self.mean_run_ > 1.5 or commit[2] in self._factor_names):
            # a new matrix where runs repeat: a factorisation may now pay; or one committed to must
            # now be charged its build
            commit = self._commit = None
        if commit is not None and commit[1] > 0 and commit[2] in names and (
                commit[0] == b or self._bin_best.get(b) == commit[2]):
            return self._committed(commit, b)
        self._commit = None
        here = self.stats_.get(b)
        if here is None:
            here = self.stats_[b] = self._inherit(b)
            self._unchecked[b] = self._to_check(here)
        self._checking = None
        known = self._known(b, names)
        best_name = min(known, key=lambda k: (known[k][0], k)) if known else None  # ties: by name
        self._screening = self._revalidating = self._deferred = self._probing = self._far_check = False
        self._reval_base = self.revalidate_after
        self._lowest_memo = {}  # estimates change only in update(): one memo per decision
        reference = best_name  # what an exploration's cap is measured against
        stale = self._stale_switch(known, best_name)
        if stale is not None:
            # settled first: an optional try measured against a stale best (and falling back to it)
            # would only add a second capped attempt
            choice, exploring, reference, self._revalidating = self._by_name[best_name], True, stale, True
        else:
            choice, exploring = self._explore_choice(b, arms, names, known, best_name)
        self._lowest_memo = {}
        if choice is None:
            choice = self._by_name.get(best_name) or arms[0]
        probe_its = None
        if exploring and reference is None and n and not any(self.stats_.values()):
            probe = self._first_probe(choice, arms, b)
            if probe is not None:
                self._successor = choice
                choice, probe_its = probe
        if not exploring:
            self._exploited = choice.name
        self._last = (b, choice.name, exploring)
        self._full = True
        self._bin_now = b
        self._hint = (choice.name, known)  # resolved only if the solver asks (a fallback)
        self._prefer = stale
        self._incumbent_cost = known[reference][0] if reference is not None else None
        self._budget = None
        self._share = _PROBE_SHARE if exploring and self._probing else self.explore_cap
        if exploring:
            self._limit = self._cap(choice, known, reference, self._share)
            if reference is not None and self.cost == "seconds" \
                    and (self._fam_of.get(choice.name) or _family(choice)) not in self.per_iteration_ \
                    and choice.kind not in FACTORISATIONS:
                # its cap was priced with a guessed speed: the solver also stops it once its
                # measured speed projects iterations costing more than the cap's budget in seconds
                self._budget = self._share * known[reference][0]
            if self._far_check and reference is not None and choice.name in known and known[choice.name][3] > 0:
                # its speed estimate is what is doubted: its own iterations may run, the seconds bind
                self._limit = max(20, int(self.exploit_cap * known[choice.name][3]) + 10)
                self._budget = self._share * known[reference][0]
        elif choice.name in known:
            self._limit = max(20, int(self.exploit_cap * known[choice.name][3]) + 10)
        else:
            self._limit = None
        self._rent_s = None
        if self._limit is None and n:
            self._limit = max(200, int(30 * math.sqrt(n)))  # nothing known: a prior cap
            if reference is None and exploring and not any(self.stats_.values()):
                first = self._successor or choice
                self._rent_s = self._rent(first)  # the sequence's first try: rented against a factorisation
                per = self._iter_cost.get(first.kind)
                if self._rent_s is not None and per:  # its first chunk: what the rent buys at a prior speed
                    self._limit = min(self._limit, max(50, int(self._rent_s / (per * self._product_seconds()))))
                if probe_its is not None:
                    self._successor_limit, self._limit = self._limit, probe_its
                elif self._rent_s is None and choice.spec.spd_only and _unpreconditioned(choice) \
                        and all(_unpreconditioned(c) and not c.spec.spd_only for c in arms if c is not choice):
                    # nothing to hand over to but GMRES and BiCGStab on A itself, which CG dominates
                    # on a symmetric system (an SPD LinearOperator): a cap would only give the system
                    # to them — capped at 30√n on a ×100 inclusion, CG's first try handed over to
                    # GMRES(30), which ran 66,811 iterations (25 s) where CG needs ~4,500
                    self._limit = None
        if best_name is not None:
            self._bin_best[b] = best_name
        self._commit_to(b, choice.name if not exploring and choice.name == best_name else None, exploring)
        return choice

    def _stale_switch(self, known: dict, best_name: str | None) -> str | None:
        """The configuration exploited until now, if the best estimate now belongs to another
        family whose evidence is older than ``revalidate_after`` systems: the switch is then a
        re-validation, capped at ``explore_cap`` times the one it would replace (returned), not an
        exploitation capped only at ``exploit_cap`` times its own old iteration count.

        An estimate that is not re-run does not age by itself: when the incumbent's cost rises
        (harder systems, or a burst of machine load that slows every solve measured meanwhile),
        an old estimate of another family — an AMG measured on system 9 of a topology optimisation,
        a factorisation — comes to look best and was exploited at full price (3.6x the leader on
        one system).  Factorisations are exempt: their cost (setup and triangular solves) cannot be
        capped, and is what was measured.  A configuration whose latest evidence is a capped loss
        (idea 4) is switched to under the same cap however recent that evidence: its estimate is a
        lower bound, not a cost (on convection–diffusion, GMRES stopped at 1.25x BiCGStab's cost;
        seven systems later BiCGStab's count had grown past that bound, and GMRES, exploited, ran
        265 iterations for 3x BiCGStab's solve)."""
        prev = self._exploited
        if prev is None or best_name is None or prev == best_name or prev not in known:
            return None
        if self._fam_of.get(prev) == self._fam_of.get(best_name) or best_name in self._factor_names:
            return None
        if best_name not in self._lost and \
                self.t_ - self._last_run.get(best_name, known[best_name][2]) < self.revalidate_after:
            return None
        return prev

    def _committed(self, commit: list, b: tuple) -> Configuration:
        """A committed stretch of exploitation (see _commit_to): the incumbent, without the
        exploration bookkeeping that would find nothing due."""
        commit[1] -= 1
        self._full = False
        self._screening = self._revalidating = self._deferred = self._probing = self._far_check = False
        self._last, self._bin_now, self._hint, self._prefer = (b, commit[2], False), b, (commit[2], None), None
        self._incumbent_cost, self._limit, self._budget = commit[3], commit[4], None
        self._rent_s = None
        return self._by_name[commit[2]]

    def _known(self, b: tuple, names: set[str]) -> dict[str, list]:
        """The estimates of bin ``b`` for the configurations ``names``, as costs now:
        ``[mean, count, last step, mean iterations]`` (a factorisation is charged its setup
        unless it is already built for this matrix)."""
        scale, fam_of, size = self._scale, self._fam_of, b[0]
        known, scales = {}, {}  # scales: family → its scale at this size, looked up once (20 ω share one)
        for k, v in self.stats_.get(b, {}).items():
            if k in names:
                fam = fam_of[k]
                s = scales.get(fam)
                if s is None:
                    s = scales[fam] = scale.get((fam, size), 1.0)
                known[k] = [v[0] * s, v[1], v[2], v[3]]
        for k in self._factor_names:  # (charged apart: one or two names, not a test per entry)
            if k in known:
                known[k][0] = self._charged(k, known[k][0], k in self._ready())
        return known

    def _factor_due_at(self, b: tuple, full: float, solve: float, lo: float) -> None:
        """Note when a factorisation held back on a repeated matrix becomes a contender in bin
        ``b``: each repeat shares its build ``full`` one more way, and once ``full / sharing``
        plus its ``solve`` is within ``explore_cap`` of ``lo`` (and the share within ``lo``) its try
        is no longer heavy.  A commitment to a context-free incumbent (64 systems of its one exact
        step) stops there: on a constant matrix, PETSc's Cholesky (63 ms, then 1 ms a solve) beside
        ``fastdiag-cg``'s 2.5 ms solves came into contention at the 32nd system, and the next full
        decision came after the 70th."""
        room = self.explore_cap * lo - solve
        if room <= 0:
            return
        due = self.t_ + max(1, math.ceil(max(full / room, full / lo) - self._sharing()))
        self._factor_due[b] = min(self._factor_due.get(b, due), due)

    def _commit_to(self, b: tuple, name: str | None, exploring: bool = False) -> None:
        """Exploit ``name`` in bin ``b`` for the next few systems without re-deciding.

        Once the same incumbent has been exploited twice in a row, the next
        ``min(commit, 2**(streak - 2))`` systems of its bin take it directly: choosing costs a few
        microseconds instead of tens — a tenth of a millisecond solve on Heat2D nx=100.  A
        drifting context keeps the commitment into a bin whose best, at the last full decision
        there, was the same configuration.  What a commitment delays (a re-validation, an ω step)
        comes at most ``commit`` systems later; it ends at once on any other bin, a fallback, a
        capped solve, a cost 25 % above its estimate (update) or, where matrices repeat in runs,
        a new matrix (a factorisation may pay there).  A factorisation's commitment lasts while its
        matrix repeats (its charge, the build, changes with every new matrix): on runs of one
        matrix the full decision (~0.2 ms) on every triangular solve (~4 ms) was 5 % of the time.

        An exploration (``exploring``) neither commits nor breaks the incumbent's streak (a win
        makes another configuration best; a loss leaves the incumbent as it was), and a new best
        of the incumbent's own family (another ω, near-equal by its exact iteration counts), or
        the same choice made afresh in a new bin, continues it: reset by every optional try, every
        ω step and every new bin, and growing by one system every two decisions, the streak stayed
        short and a full decision (~70-130 µs) was made on every second system of a 1 ms sequence."""
        if exploring and name is None:
            return
        if name is None or self.commit <= 0:
            self._streak = None
            return
        streak = self._streak
        if streak is not None and (streak[1] == name or self._fam_of.get(streak[1]) == self._fam_of.get(name)):
            streak[0], streak[1] = b, name
            streak[2] += 1
        else:
            self._streak = [b, name, 1]
        length = min(self._commit_length(), 1 << (self._streak[2] - 2)) if self._streak[2] >= 2 else 0
        if name in self._context_free and length > 0:  # its cost is the same in every bin: see _CONTEXT_FREE
            length = self.commit * _CONTEXT_FREE_COMMIT
            due = self._factor_due.pop(b, None)
            if due is not None and due > self.t_:  # until a factorisation on this matrix may pay
                length = min(length, due - self.t_)
        if length > 0:
            self._commit = [b, length, name, self._incumbent_cost, self._limit]

    def _surprised(self) -> None:
        """A committed solve cost over 1.25x the incumbent's estimate: decide afresh on the next
        system, and if that decision keeps the incumbent, commit half as long as before.

        Why not start the streak over: a few iterations more are 25 % of a 10-iteration solve, and
        on 400 unknowns (0.1 ms solves) the streak was reset every 10-20 systems and rebuilt 1, 2,
        4, 8 — a full decision on every third system, where a failure (a fallback, a capped solve)
        still resets it."""
        self._commit = None
        if self._streak is not None:
            self._streak[2] = max(1, self._streak[2] - 2)

    def _commit_length(self) -> int:
        """The longest commitment: ``commit`` systems, or as many as keep the full decisions between
        commitments within ``_DECISION_SHARE`` of the time where solves are as cheap as a decision
        (at most ``_LONGEST_COMMIT`` times ``commit``).  What a commitment delays (an ω step, a
        re-validation) then waits longer, but a solve 25 % dearer than its estimate still ends it."""
        d, c = self._decision_s, self._incumbent_cost
        if not d or not c or c <= 0 or self.cost != "seconds":
            return self.commit
        return min(self.commit * _LONGEST_COMMIT, max(self.commit, math.ceil(d / (_DECISION_SHARE * c))))

    def update(self, cost: float, info: SolveRecord) -> "AutoPolicy":
        if not self._quiet:  # (a first probe's fallback is over once its system is learned)
            self._after_probe, self._successor = self._successor, None
        if self._last is None:
            return self
        b, name, exploring = self._last
        if name != info.configuration:
            return self
        if self._full:  # what a full decision costs, the solver's steps around it included
            d = info.policy_seconds
            self._decision_s = d if self._decision_s is None else 0.7 * self._decision_s + 0.3 * d
            self._full = False
        if self._commit is not None and name in self._context_free and self._update_committed(b, name, cost, info):
            return self
        if self.cost == "iterations":
            cost, info = self._in_matvecs(info)
        if info.status == "start" or (info.iterations == 0 and info.converged and not info.fallback
                                      and self._kind_of.get(name) not in FACTORISATIONS):
            # the start met the tolerance (checked before anything was built or run, or found by
            # the method at once): the time is spent, but it shows nothing of the iterations this
            # configuration needs — learned, a setup and a check made plain Jacobi-CG the best on
            # p-Laplace's converged Picard steps, exploited on the next harder ones
            self._spend(cost, info)
            return self
        if b in self._indefinite and self._kind_of.get(name) in FACTORISATIONS and info.status.startswith("error"):
            # the factorisation a proved-indefinite matrix was left to failed (a saddle point whose
            # pressure is not pinned: exactly singular): the general Krylov methods come in
            self._spd_trouble[b] = max(2, self._spd_trouble.get(b, 0))
            self._screened.pop(b, None)
        if info.status in ("breakdown", "indefinite", "nan") and self._by_name[name].spec.spd_only:
            self._spd_trouble[b] = self._spd_trouble.get(b, 0) + 1
            if info.status == "indefinite" and self._kind_of.get(name) in _PROVES_INDEFINITE:
                self._indefinite.add(b)
                self._spd_trouble[b] = max(2, self._spd_trouble[b])  # a proof, not a hint
            self._screened.pop(b, None)  # let the general-purpose families in
        if not self._quiet:
            self._spend(cost, info)
            if self._screening:
                self.spent_explore_ += cost
            if self._deferred:
                self.spent_deferred_ += cost
        if exploring and not self._screening and self._incumbent_cost is not None and not self._quiet:
            # the first screening of each family is bounded on its own (one capped try, setups by
            # explore_budget); the regret budget is for the optional rest.  In seconds, a try also
            # costs the full decision that chose it (a committed solve would not have made one):
            # on 0.2 ms solves that decision costs as much as the solve
            decision = info.policy_seconds if self.cost == "seconds" else 0.0
            self.spent_excess_ += max(0.0, cost - self._incumbent_cost) + decision
        # (get before setdefault: no fresh dict and list made, and dropped, on every solve)
        here = self.stats_.get(b)
        if here is None:
            here = self.stats_[b] = {}
        entry = here.get(name)
        if entry is None:
            self._bins_of.setdefault(name, []).append(b)
            entry = here[name] = [cost, 0, self.t_, float(info.iterations)]  # normalised below
        clean = info.iterations > 0 and not info.fallback and info.converged
        if clean:
            # noise only ever slows a solve down, so track a low estimate: follow decreases at once,
            # increases slowly
            # one estimate per family (ω changes the iteration count, not the cost of an iteration):
            # the lower of the last two samples ignores a one-off stall (noise only ever slows a
            # solve down) yet follows a lasting change after two solves
            fam = self._fam_of[name]
            before = self.per_iteration_.get(fam)
            fixed = self._learn_fixed(fam, info.iterations, info.solve_seconds)
            per = max(info.solve_seconds - fixed, 0.5 * info.solve_seconds) / info.iterations
            last = self._last_per.get(fam, per)
            self._last_per[fam] = per
            self.per_iteration_[fam] = self._low_per(fam, b[0], per, last)
            # a single stalled first sample must not exclude a family for good: on its first run
            # its speed is capped at twice what the rough per-iteration prior scaled from another
            # family's measured speed implies; from the second run on, the lower of its own last
            # two samples already ignores one stall (and the rough prior may be several-fold off:
            # an AMG iteration costs 9 SSOR iterations on FEM heat, not ITERATION_COST's 32)
            self._samples[fam] = self._samples.get(fam, 0) + 1
            if self._samples[fam] < 2:
                prior = self._prior_per_iteration(self._by_name[name], exclude=fam)
                if prior is not None:
                    self.per_iteration_[fam] = min(self.per_iteration_[fam], 2.0 * prior)
                self._cap_first_samples(fam)
            if before and self.per_iteration_[fam] != before:
                self._rescale(fam, self.per_iteration_[fam] / before)
        # compare configurations by a de-noised cost: iteration counts are exact, so a clean solve
        # costs iterations x (low estimate of seconds per iteration) + setup; failed or
        # non-iterative solves are charged what they measured
        fam, kind, adaptive = self._fam_of[name], self._kind_of[name], self._setup_of[name] == "adaptive"
        # a rent-or-buy hierarchy (AMG): its reuses are judged against its rebuilds (_learn_reuse).
        # Not fastdiag-cg, whose setup on a separable A is a one-off that update charges nothing
        multilevel = adaptive and DIFFICULTY_EXPONENT.get(kind, 1.0) <= MULTILEVEL
        # what later builds will cost: the setup less the work the method said it never repeats
        sample = info.setup_seconds - info.one_off_seconds
        shared = self._setup_kind_of.get(name)
        if shared != kind and info.iterations > 0 and info.attempt_seconds > 0:
            ran = info.attempt_seconds - max(sample, 0.0) if not info.setup_reused else info.attempt_seconds
            self._applied[shared] = (fam, max(ran, 0.5 * info.attempt_seconds) / info.iterations)
        if not info.setup_reused and sample > 0:
            self._learn_setup(fam, kind, sample)
        if kind in FACTORISATIONS:
            # a factorisation's estimate is its solve alone: its setup is added when choosing,
            # and only if it is not already built for the matrix at hand (see _charged)
            setup = 0.0
        elif kind == "fast-diag" or (kind == "fastdiag-cg" and self._facts is not None and self._facts.separable):
            # its setup (the 1-D eigendecompositions) is cached by factor values and serves every
            # later system on the same grid, whatever the shift and scale: a one-off, not a cost per
            # solve (so is fastdiag-cg's on a separable A: its sum follows every new shift and scale).
            # Its follow (~0.3 ms a system on Heat2D's 16k unknowns) is not charged either: charged,
            # `auto` kept plain CG longer on the early, easy systems, where the two take turns as
            # the cheaper by less than their noise, and lost 2-10 % in A/B runs (sessions 8 and 13)
            setup = 0.0
        else:
            setup = 0.0 if info.setup_reused else self.setup_low_.get(fam, max(sample, 0.0))
            if setup and adaptive and not (multilevel and fam in self._reuse_lost):
                # rent-or-buy reuses a hierarchy until its extra iterations have cost as much as the
                # build: a build is spread over at least two solves, so it is charged half each time
                # — unless its reuses lose (_learn_reuse): the schedule then rebuilds for every new
                # matrix, and each pays a whole build (`varcoef` on PETSc: BoomerAMG charged 19.5 ms
                # a system paid 26, and a Cholesky at 11.4 looked no rival)
                setup *= 0.5
        if info.projected_seconds is not None:
            self._lost.add(name)
            its = info.projected_iterations
            if its is not None and math.isfinite(its) and its >= 1:
                self._lost_its[name] = float(its)
                self._floor_its.pop(name, None)
            else:
                self._lost_its.pop(name, None)
                # no progress to project from: it did not finish in the iterations it ran, a floor
                # (plane-strain elasticity: the coarse-space SSOR-PCG's first 417 iterations left
                # the residual above its start; forgotten, SSOR-PCG, CG and Jacobi-PCG were each
                # screened beside the LU, 1.3-1.9x its solve a try)
                self._floor_its[name] = float(info.iterations)
        elif self._lost and info.converged and not info.fallback:
            self._lost.discard(name)
        if info.status in _FAILED:
            self._failed.add(name)
        elif info.converged and not info.fallback:
            self._failed.discard(name)
        if info.projected_seconds is not None:
            observed = self._censored_cost(fam, info, cost, setup, exploring)
        elif clean:
            observed = self.fixed_.get(fam, 0.0) + info.iterations * self.per_iteration_[fam] + setup
            if multilevel and self._learn_reuse(fam, info):
                # a reuse that lost to a rebuild is the rent-or-buy schedule's probe: it rebuilds
                # for exponentially longer after each such miss (solvers.reuse), so the family costs
                # what a rebuild does.  Charged as a reuse, BoomerAMG's probes on Fluid2D's second
                # and fourth systems (19-25 iterations, 6 fresh) tripled its estimate, and SSOR-PCG,
                # plain CG and ICC(0) looked close enough to try
                rebuild = self.fixed_.get(fam, 0.0) + self._fresh_its[fam] * self.per_iteration_[fam] \
                    + self.setup_low_[fam]
                observed = min(observed, rebuild)
        elif info.converged and not info.fallback:  # a direct solve: no iterations to count
            observed = info.solve_seconds + setup
        else:
            observed = cost
        if self._commit is not None:
            if info.fallback or info.projected_seconds is not None or not info.converged:
                self._commit = self._streak = None  # something went wrong: decide afresh
            elif self._incumbent_cost and observed > 1.25 * self._incumbent_cost:
                self._surprised()
        if clean and not info.setup_reused and adaptive and self._samples.get(fam, 0) == 1:
            lo = self._lowest(b)
            if lo is not None and observed - setup <= self.revalidate_within * lo \
                    and not (multilevel and self._reuse_lost - {fam}):
                # its first solve paid the build that later solves reuse: one more solve shows
                # whether reusing it wins (a rent-or-buy AMG that looks merely close after a build;
                # fastdiag-cg, whose sum follows a Crank–Nicolson sequence exactly, ~forever), judged
                # without the build, which that solve will not pay.  Not where another AMG's
                # hierarchy just lost its reuse to a rebuild: the matrices drift too fast for any
                # hierarchy (Fluid2D: BoomerAMG 6 iterations fresh, 19-30 reused; GAMG's
                # confirmation then reused its own for 18-36, 2.5-4x a system)
                self._confirm = name
        # an optional try that lost (capped) is followed by one solve of the incumbent (_explore_choice)
        self._after_loss = exploring and not self._screening and info.projected_seconds is not None
        if self._revalidating:
            # every re-validation doubles the period, whatever it found (if the configuration is
            # now cheaper its mean drops and it becomes the incumbent): O(log T) re-tries each
            self._period[name] = min(_MAX_PERIOD, 2 * max(self._period.get(name, 0), self._reval_base))
        self._last_run[name] = self.t_
        unchecked = self._unchecked.get(b)
        if unchecked:
            unchecked.discard(name)
        before_step, before_its = entry[2], entry[3]
        checking, self._checking = self._checking, None
        entry[1] += 1
        w = max(1.0 / entry[1], 1.0 - self.discount)
        observed /= self._scale.get((fam, b[0]), 1.0)
        entry[0] = observed if entry[1] == 1 else entry[0] + w * (observed - entry[0])
        entry[3] += w * (info.iterations - entry[3])
        entry[2] = self.t_
        if clean and before_its > 0 and entry[3] != before_its:
            self._share_drift(here, name, before_step, entry[3] / before_its)
        if checking == name:
            self._checked(b, name)
        return self

    def _cap_first_samples(self, measured: str) -> None:
        """The first-sample cap, applied afterwards: a family measured once, *before* any other
        family's speed could price it, is capped at twice what ``measured``'s (now known) speed
        implies for it.  The very first solve of a process runs on cold caches: on a sequence whose
        difficulty grows six decades, SSOR-PCG went first and took 7 ms for 5 iterations (2.5 ms
        later), was never run cleanly again (its capped re-tries were priced at that speed), and
        plain CG served systems where SSOR-PCG cost half as much (2x for 30 systems).  A cap too
        low is corrected by the family's next solve; one too high never is.  Only between families
        of similar work per iteration (``ITERATION_COST`` within ``_SIMILAR_WORK``): the rough
        ratios are several-fold off between an AMG V-cycle and an SSOR sweep."""
        mine = self._iter_cost.get(self._kind_of.get(measured) or measured.split("(")[0])
        if not mine:
            return
        for other, members in self._arm_families.items():
            if other == measured or self._samples.get(other, 0) != 1 or other not in self.per_iteration_:
                continue
            theirs = self._iter_cost.get(members[0].kind)
            if not theirs or max(mine, theirs) > _SIMILAR_WORK * min(mine, theirs):
                continue
            prior = self._prior_per_iteration(members[0], exclude=other)
            old = self.per_iteration_[other]
            if prior is not None and old > 2.0 * prior:
                self.per_iteration_[other] = 2.0 * prior
                self._rescale(other, 2.0 * prior / old)

    def _to_check(self, inherited: dict) -> set:
        """The inherited estimates a new bin checks with a real solve (see _explore_choice): all
        but those sitting out after checks that found them losing again (_checked)."""
        due = set()
        for name in inherited:
            backoff = self._check_backoff.get(name)
            if backoff is None or backoff[1] <= 0:
                due.add(name)
            else:
                backoff[1] -= 1
        return due

    def _checked(self, b: tuple, name: str) -> None:
        """After the check of ``name``'s inherited estimate in the new bin ``b``: if it still loses
        there, the next 1, 3, 7 … new bins do not check it; if it won, every new bin does again.

        A context that does not move the costs (a time stamp: graph diffusion's ``t``, in a new
        half-octave bin every few steps) made every new bin check plain CG against Jacobi-PCG,
        six capped tries in 60 systems; where the context does move them (Heat2D's diffusion
        coefficient, CG best when it is small), the leader's change is seen at the next check, and
        a win resets the backoff.  Re-validation of aged evidence (idea 6) goes on regardless."""
        known = self._known(b, set(self.stats_.get(b, ())))  # as costs now (scaled, setups charged)
        lo = min((v[0] for k, v in known.items() if k != name), default=None)
        own = known.get(name)
        if lo is None or own is None:
            return
        if own[0] > lo:
            hits = min(10, self._check_backoff.get(name, [0, 0])[0] + 1)  # (what load accepts)
            self._check_backoff[name] = [hits, 2 ** hits - 1]
        else:
            self._check_backoff.pop(name, None)

    def _share_drift(self, here: dict, name: str, since: int, ratio: float) -> None:
        """Move the estimates of ``name``'s siblings (its family's other ω) in this bin by the
        ``ratio`` its own iteration estimate just moved: what changed between two solves of one
        configuration is the system's difficulty, which every ω of the family shares.

        Siblings measured after ``name``'s previous solve (``since``) already saw part of that
        change and are left as they are.  Without this, under drift (topology optimisation's
        iterations grow 211 → 450 over 60 designs) a sibling measured now was compared with an
        incumbent measured on easier systems: every new ω looked worse, was censored at its cap
        and pruned, and the incumbent flipped to whichever ω had the oldest estimate."""
        siblings = self._siblings.get(name)
        if not siblings:
            return
        for other in siblings:
            e = here.get(other)
            if e is not None and e[2] <= since:
                e[0] *= ratio
                e[3] *= ratio

    def _spend(self, cost: float, info: SolveRecord) -> None:
        """Count a solve's cost in the time spent, and its matrix in the current run of one matrix."""
        self.spent_total_ += cost
        self._recent_cost = cost
        if not self._observed:  # no observe() before this system: count its run here
            self._count_run(info.matrix_repeated)
        self._run_spent += cost
        self._observed = False

    def _update_committed(self, b: tuple, name: str, cost: float, info: SolveRecord) -> bool:
        """:meth:`update` for a clean solve by a committed exact structured configuration
        (``_CONTEXT_FREE``): the same state changes as the full update, without the branches that
        cannot apply (one iteration, so no iteration fit; no fallback, cap or search state).
        ``False``: use the full update.  (Inside a stretch the solver hands these over in one batch,
        :meth:`absorb`, so the state they touch is read once per batch, not once per ~0.2 ms solve.)"""
        here = self.stats_.get(b)
        if (here is None or name not in here or name != self._commit[2] or self.cost != "seconds"
                or info.iterations != 1 or not info.converged or info.fallback
                or info.projected_seconds is not None or self._screening or self._deferred or self._revalidating):
            return False
        self._spend(cost, info)
        entry = here[name]
        fam = self._fam_of[name]
        fixed = self.fixed_.get(fam, 0.0)  # its fit never moves: the iterations are always 1
        per = max(info.solve_seconds - fixed, 0.5 * info.solve_seconds)
        before = self.per_iteration_.get(fam)
        self.per_iteration_[fam] = self._low_per(fam, b[0], per, self._last_per.get(fam, per))
        self._last_per[fam] = per
        if before and self.per_iteration_[fam] != before:
            self._rescale(fam, self.per_iteration_[fam] / before)
        self._samples[fam] = self._samples.get(fam, 0) + 1
        sample = info.setup_seconds - info.one_off_seconds
        if not info.setup_reused and sample > 0:
            self.setup_low_[fam] = min(sample, self._last_setup.get(fam, sample))
            self._last_setup[fam] = sample
        observed = fixed + self.per_iteration_[fam]
        if self._incumbent_cost and observed > 1.25 * self._incumbent_cost:
            self._surprised()  # as in update
        self._last_run[name] = self.t_
        unchecked = self._unchecked.get(b)
        if unchecked:
            unchecked.discard(name)
        entry[1] += 1
        w = max(1.0 / entry[1], 1.0 - self.discount)
        entry[0] += w * (observed / self._scale.get((fam, b[0]), 1.0) - entry[0])
        entry[3] += w * (1.0 - entry[3])
        entry[2] = self.t_
        return True

    # ------------------------------------------------------------------ internals
    def _censored_cost(self, fam: str, info: SolveRecord, cost: float, setup: float, exploring: bool) -> float:
        """What an attempt stopped short (cap, stagnation) is believed to cost (idea 4).

        Its convergence rate projects its iterations; they are priced like a clean solve's (the
        family's fixed part, de-noised speed and setup), so a capped ω variant compares with its
        siblings by iterations, not by the wall time of a first, cold chunk (on Fluid2D a capped
        ω=1.3 thus looked cheaper than ω=1.5, whose estimate included a cold start, and the ω search
        walked the wrong way for six systems).  And the observation is *censored*: an exploration
        stopped by a cap worth ``explore_cap`` times the incumbent cannot have been cheaper than
        that, whatever an early chunk's rate suggests (restarted GMRES slows down after its first
        cycles: a projection below the incumbent made it the incumbent on convection-diffusion, and
        its next, uncapped-looking solve cost 3x).  No progress at all counts as ten times what the
        whole solve cost.  A probe (``_PROBE_SHARE``) is censored like a capped try: a short chunk's
        rate projected ICC(0) at 65 iterations and Jacobi-PCG at 158 on Fluid2D (they need 207 and
        690), and each was soon re-validated at the full cap."""
        if not math.isfinite(info.projected_seconds):
            return 10.0 * cost
        its, per = info.projected_iterations, self.per_iteration_.get(fam)
        if per is not None and its is not None and math.isfinite(its):
            projected = self.fixed_.get(fam, 0.0) + its * per + setup
        else:
            projected = info.projected_seconds
        floor = self.explore_cap * self._incumbent_cost if exploring and self._incumbent_cost else 0.0
        return max(projected, floor)

    def _learn_reuse(self, fam: str, info: SolveRecord) -> bool:
        """Learn from a clean solve of rent-or-buy AMG ``fam`` whether its reuse of a setup on a new
        matrix lost to a rebuild (its iterations beyond its latest fresh build's cost more than
        that build); return whether this solve was such a losing reuse."""
        if not info.setup_reused:
            self._fresh_its[fam] = info.iterations
            return False
        fresh, per, setup = self._fresh_its.get(fam), self.per_iteration_.get(fam), self.setup_low_.get(fam)
        if fresh is None or not per or not setup or info.matrix_repeated:
            return False  # (a repeated matrix needs no extra iterations: it says nothing of the drift)
        if (info.iterations - fresh) * per >= setup:
            self._reuse_lost.add(fam)
            return True
        self._reuse_lost.discard(fam)
        return False

    def _learn_fixed(self, fam: str, iterations: int, seconds: float) -> float:
        """Update the family's fit ``seconds ≈ fixed + iterations × per`` and return ``fixed``.

        Without the fixed part, a speed measured on hard systems (many iterations: the fixed part
        spread thin) makes a family look cheap on easy ones (a few iterations, where the fixed part
        dominates) — SSOR-PCG then wins Heat2D's easy steps from plain CG on paper, not in time.
        Samples more than twice the current fit (a stall: noise only slows a solve down) are left
        out; the fixed part is only believed while the iterations seen vary enough to separate it."""
        known = self.per_iteration_.get(fam)
        if known is not None and seconds > 2.0 * (self.fixed_.get(fam, 0.0) + iterations * known):
            return self.fixed_.get(fam, 0.0)
        sums = self._fit.get(fam)
        if sums is None:
            sums = self._fit[fam] = [0.0] * 5
        # (unrolled: the same sums, without a loop over a fresh tuple on every solve)
        w, sx, sxx, sy, sxy = sums
        w, sx, sxx, sy, sxy = (0.95 * w + 1.0, 0.95 * sx + iterations, 0.95 * sxx + iterations * iterations,
                               0.95 * sy + seconds, 0.95 * sxy + iterations * seconds)
        sums[:] = (w, sx, sxx, sy, sxy)
        mx, my = sx / w, sy / w
        var = sxx / w - mx * mx
        if w >= 3.0 and var > (0.25 * mx) ** 2:
            slope = (sxy / w - mx * my) / var
            if slope > 0:
                self.fixed_[fam] = min(max(my - slope * mx, 0.0), 0.5 * my)
        return self.fixed_.get(fam, 0.0)

    def _charged(self, name: str, mean: float, ready: bool = False) -> float:
        """The cost to expect from ``name`` on the next system: a factorisation's solve plus, unless
        it is already built for this matrix, its setup shared by the systems that repeat the matrix
        (``setup × (1 − repeat rate)``); other configurations' estimates include their setups."""
        if ready or name not in self._factor_names:
            return mean
        return mean + self.setup_low_.get(self._fam_of[name], 0.0) / self._sharing()

    def _rescale(self, fam: str, ratio: float) -> None:
        """The family's speed estimate changed: rescale every estimate of its members (all bins).

        Estimates are iterations × seconds per iteration, so members of one family (the ω grid)
        then compare by their iteration counts alone, which are exact — a member measured while
        the machine was busy is not preferred over one measured later, when it was quiet.  The
        means are stored relative to one scale per (family, size), so this is O(1) per solve;
        speeds are per size: other sizes keep theirs."""
        if self._bin_now is not None:
            key = (fam, self._bin_now[0])
            self._scale[key] = self._scale.get(key, 1.0) * ratio

    def _mean(self, b: tuple, name: str) -> float:
        """The current mean cost estimate of ``name`` in bin ``b`` (its setup as recorded)."""
        return self.stats_[b][name][0] * self._scale.get((self._fam_of[name], b[0]), 1.0)

    def _lowest(self, b: tuple) -> float | None:
        """The cheapest estimate in bin ``b`` as it stands now (setups charged as of now); kept for
        the rest of one decision (screening asks it for every family, of every bin nearby)."""
        memo = self._lowest_memo
        if b in memo:
            return memo[b]
        entries = self.stats_.get(b)
        if not entries:
            memo[b] = None
            return None
        # (_charged(k, _mean(b, k)) inlined: only a factorisation's charge differs from its mean).
        # Only what this system may run counts: on a Newton loop whose first Jacobian was the
        # symmetric Laplacian, fastdiag-cg's 1 ms exact step there stood for the bin's best on every
        # later, non-symmetric Jacobian, and an LU at 0.7x BiCGStab looked 80x too dear to try
        scale, fam_of, factors, size = self._scale, self._fam_of, self._factor_names, b[0]
        offered = self._arm_names or entries  # (before any decision: all)
        costs = [self._charged(k, v[0] * scale.get((fam_of[k], size), 1.0)) if k in factors
                 else v[0] * scale.get((fam_of[k], size), 1.0) for k, v in entries.items() if k in offered]
        memo[b] = lo = min(costs) if costs else None
        return lo

    def _lowest_now(self, b: tuple) -> tuple[float | None, bool]:
        """:meth:`_lowest`, where a factorisation already built for the coming matrix counts at its
        solve alone (what a try is weighed against when the matrix repeats), and whether such a
        sunk factorisation is the lowest.  Charged its build shared over the run, an LU built one
        system earlier (6 ms solves, 91 ms to build) made a heavy try look light: BiCGStab(ILU),
        its 89 ms setup shared over the same run, was tried and cost 190 ms (one non-symmetric
        matrix, a moving source)."""
        lo = self._lowest(b)
        entries = self.stats_.get(b)
        ready = self._ready() if lo is not None and entries else None
        if not ready:
            return lo, False
        sunk = False
        for name in self._factor_names.intersection(ready):
            if name in entries and name in (self._arm_names or entries) and (solve := self._mean(b, name)) <= lo:
                lo, sunk = solve, True
        return lo, sunk

    def _count_run(self, repeated: bool) -> None:
        if repeated:
            self._run_len += 1
        else:  # a run of one matrix ended: learn its length (forgetting slowly)
            if self._run_len:
                self._runs += 1
                self.mean_run_ += max(1.0 / self._runs, 0.2) * (self._run_len - self.mean_run_)
            self._run_len = 1
            self._run_spent = 0.0

    def _rent_paid_for(self, rep: Configuration, rel, full: float, lo: float | None) -> bool:
        """Whether a never-tried factorisation is bought now, ahead of every other untried family,
        as a skier buys skis: the matrix at hand repeats, and the systems of its run so far plus
        this one, at the best cost known, have cost as much beyond the factorisation's own solves as
        its build.  Whatever the run's length, its cost is then within twice what the better of
        renting on and buying at once would have cost (with the prices right).  Ranked by their
        priced first tries, PETSc's BoomerAMG and GAMG went first on `jump-repeat` (one matrix per
        15 right-hand sides: an AMG try and its reuse 47-80 ms a system where the Cholesky, once
        built, solves in 1.4)."""
        if rel is not None or lo is None or rep.kind not in FACTORISATIONS or not self._observed \
                or self._run_len < 2 or self._solve_loses(rep, lo):
            return False
        per = self._matvec_seconds()
        if per is None:
            return False
        # (the rent is what the factorisation's own solves would not have cost: a factor whose solves
        # cost half the best one's pays for itself only over twice as many systems — SciPy's LU on
        # FEM heat, 350 ms to build and 13 ms a solve against the deflated SSOR-PCG's 20, was bought
        # inside runs of ten)
        solve = self._solve_products(rep.kind) * per
        return self._run_spent + lo - self._run_len * solve >= full

    def _sharing(self) -> float:
        """How many systems, this one included, a setup built now is expected to serve.

        The coming system is the ``k``-th of its matrix's run.  Runs seen end after
        ``mean_run_`` systems on average, so ``mean_run_ − k + 1`` remain; a run already longer than
        any seen (or a first run) is expected to last as long again (``k``)."""
        k = self._run_len if self._observed else 1  # the coming system's place in its run
        if self.mean_run_ >= k:
            return max(1.0, self.mean_run_ - k + 1)
        return float(k)

    def _bin(self, context: Mapping[str, float] | None, n: int | None) -> tuple:
        memo = self._size_memo
        if memo[0] == n:  # (a sequence keeps its size: the logarithm once per size)
            size = memo[1]
        else:
            size = int(round(math.log2(n))) if n else 0
            self._size_memo = (n, size)
        if not context:
            return (size, None)
        key = self.context_key if self.context_key in context else min(context)
        v = abs(context[key])
        return (size, max(-400, min(400, int(math.floor(math.log2(v) / self.bin_width)))) if v > 0 else -401)

    def _inherit(self, b: tuple) -> dict[str, list]:
        """A new bin starts from what is known nearby (idea 1): for every configuration, its estimate
        in the nearest bin of the same size where it ran, else in the nearest size, its cost scaled
        by the sizes' ratio (so every configuration's by the same factor: their order carries over).

        Neighbouring contexts cost alike, so the best known nearby is exploited at once instead of
        re-screening every family per bin; the inherited entries count as no evidence (the first
        real solve replaces them) and as fresh.  A configuration that does not carry over overruns
        its exploitation cap within one solve.  Across sizes: a mesh refined and coarsened along a
        run (sizes 64² … 128², six systems each) re-screened plain CG and Jacobi-PCG, losers by 2x,
        and searched ω afresh at every new size.
        """
        def distance(ob: tuple) -> float:
            d = abs((ob[1] if ob[1] is not None else 0) - (b[1] if b[1] is not None else 0))
            return d + _SIZE_STEP * abs(ob[0] - b[0])  # another size only where this one has none

        inherited: dict[str, list] = {}
        keys: dict[tuple, tuple] = {}  # bin → its sort key, made once (the names share their bins)
        for name, bins in self._bins_of.items():
            for ob in bins:
                if ob not in keys:
                    keys[ob] = (distance(ob), _index(ob))
            near = min(bins, key=keys.__getitem__, default=None)  # ties: the lower bin
            if near is not None and near != b and name in self.stats_[near]:
                e = self.stats_[near][name]
                inherited[name] = [e[0] * 2.0 ** (b[0] - near[0]), 0, self.t_, e[3]]
        for name in inherited:
            self._bins_of[name].append(b)
        return inherited

    def _relative(self, b: tuple, name: str) -> tuple[float, int] | None:
        """Cost of ``name`` relative to the best, and the distance of the nearest bin where it ran."""
        best, dist, tie = None, math.inf, math.inf
        for ob in self._bins_of.get(name, ()):
            if ob[0] != b[0]:
                continue
            d = abs((ob[1] if ob[1] is not None else 0) - (b[1] if b[1] is not None else 0))
            if d < dist or (d == dist and best is not None and _index(ob) < tie):
                tie = _index(ob)
                lo = self._lowest(ob)
                mine = self._charged(name, self._mean(ob, name))
                best, dist = (mine / lo if lo else 1.0, d), d
        return best

    def _worth_trying(self, rel: tuple[float, int] | None, threshold: float) -> bool:
        """A family is a contender unless it was far costlier nearby.

        The threshold doubles for every bin beyond ``reach``: costs change with the context, and a
        family judged hopeless on trivial systems may be the best on hard ones, so old evidence
        from distant bins must not exclude it forever.
        """
        if rel is None:
            return True
        ratio, d = rel
        return ratio <= threshold * 2.0 ** min(60, max(0, d - self.reach))

    def _representative(self, b: tuple, members: list[Configuration]) -> Configuration:
        if len(members) == 1:
            return members[0]
        scored = []
        for c in members:
            r = self._relative(b, c.name)
            if r is not None:
                scored.append((r[0], c))
        if scored:
            return min(scored, key=lambda rc: (rc[0], rc[1].name))[1]
        # no data anywhere: the middle of the ω grid, else the first member
        return min(members, key=lambda c: abs(dict(c.params).get("omega", 1.5) - 1.5))

    def _names_of(self, arms: Sequence[Configuration]) -> set[str]:
        if arms is not self._arms_ref:  # the solver passes the same list while the kind of system is unchanged
            self._arms_ref = arms
            self._grids = {}
            self._arm_names = {c.name for c in arms}
            self._arm_families = {}
            for c in arms:
                self._arm_families.setdefault(_family(c), []).append(c)
            #: family → its members' names (whether any has an estimate: one set operation)
            self._arm_family_names = {f: frozenset(c.name for c in m) for f, m in self._arm_families.items()}
            self._spd_families = {f for f, m in self._arm_families.items() if m[0].spec.spd_only}
            # on symmetric systems also LU when a Cholesky factorisation is offered (PETSc): the
            # same reuse of a factor, for half the work
            lu_dominated = any(m[0].kind == "cholesky" for m in self._arm_families.values())
            self._general_families = {f for f, m in self._arm_families.items()
                                      if m[0].kind in ("gmres", "bicgstab")
                                      or (lu_dominated and m[0].kind == "direct")}
            self._spd_arm_families = {f: m for f, m in self._arm_families.items()
                                      if f not in self._general_families}
        return self._arm_names

    def _explore_choice(self, b, arms, names, known, best_name):
        fams = self._arm_families
        if self._spd_families and b not in self._indefinite and self._diagonal_not_definite():
            # a symmetric matrix with a_ii = e_iᵀAe_i < 0, or = 0 in a coupled row, is not positive
            # semidefinite, proved before any try: its CG-based families are passed over below (a Stokes saddle point:
            # SSOR-PCG, its coarse-space variant and Jacobi-PCG each failed to build in turn, plain
            # CG broke down, AMG-CG was capped at 2.5x a system).  GMRES and BiCGStab stay out
            # while a factorisation is offered (unpreconditioned on a saddle point they stagnate
            # after hundreds of iterations, and an ILU with fill cost more than the LU there)
            self._indefinite.add(b)
            if not any(m[0].kind in FACTORISATIONS and not m[0].spec.spd_only
                       for m in self._spd_arm_families.values()):
                self._spd_trouble[b] = max(2, self._spd_trouble.get(b, 0))
        if self._spd_families and self._spd_trouble.get(b, 0) < 2:
            # a symmetric matrix: CG-based methods dominate GMRES/BiCGStab (more work per iteration
            # for no fewer iterations), so those are explored only once SPD methods break down here
            fams = self._spd_arm_families
        # 0. a setup-reusing configuration whose first solve paid a build and came close: its next
        #    solve reuses the build and shows what it costs in steady state (part of its screening)
        confirm, self._confirm = self._confirm, None
        if confirm in names and confirm in known and confirm != best_name:
            self._screening = True
            return self._by_name[confirm], True
        # 1. each contending family once in this bin, through its best member elsewhere
        screened = self._screened.get(b)
        if screened is None:
            screened = self._screened[b] = set()
        untried, deferred, probes = [], [], set()
        estimates: dict | None = {}  # family → expected first-try seconds (None: not all known)
        for fam, members in fams.items():
            if fam in screened or self._wait.get((b, fam), 0) > self.t_:
                continue
            if not self._arm_family_names[fam].isdisjoint(known):
                screened.add(fam)
                continue
            rep = self._representative(b, members)
            if rep.spec.spd_only and rep.kind != "fastdiag-cg" and b in self._indefinite \
                    and self._diagonal_not_definite():
                # CG has no guarantee on this matrix, and a preconditioner that divides by its
                # diagonal cannot even be built (fastdiag-cg's separable A⁻¹ needs no definiteness)
                screened.add(fam)
                continue
            if rep.kind in ("numba-jacobi-cg", "jacobi-cg") and self._facts is not None \
                    and self._facts.constant_diagonal():
                screened.add(fam)  # exactly CG's iterations at a higher price: not worth a try here
                continue
            rel = self._relative(b, rep.name)
            if rel is None and rep.kind == "fastdiag-cg" and self._facts is not None:
                # If A is the Kronecker sum of the grid found in its pattern, the preconditioner is
                # A⁻¹ and one step solves it, for one setup that then serves the whole sequence.
                # Bought as a skier buys skis: once the solves so far have cost as much as that
                # setup (at most twice the cost of the better choice in hindsight, whatever the
                # sequence's length), then ahead of every other untried family; whether A is
                # separable (a projection) is asked only then.  Where no diagonal margin bounds the
                # difficulty a hard system is assumed, and a separable A is bought at once
                # (Helmholtz's first system: the coarse space went first, proved A indefinite and
                # fell back to an LU, 4.5x fastdiag-cg's try)
                if self.spent_total_ < self._setup_estimate(fam, rep) and (
                        self._proved_easy() or not self._facts.separable):
                    continue
                if self._facts.separable:
                    untried.append(((0, 0.0, 0.0), fam, rep))
                    estimates = None
                    continue
            lo, sunk = self._lowest_now(b)
            if lo is None and self._last is not None and self._last[1] in self._arm_names:
                lo = self._recent_cost  # a new bin: judge by the last solve (one this system may run)
            if self._beaten_by_structure(rep, best_name, lo):
                screened.add(fam)
                continue
            # what its try pays now, whatever later repeats save
            full = self._setup_estimate(fam, rep) + self._one_off_estimate(fam, rep)
            if self._rent_paid_for(rep, rel, full, lo):
                untried.append(((0, full, 0.0), fam, rep))
                estimates = None
                continue
            if rel is None and lo is not None and full > lo and self.mean_run_ > 1.5 and self._observed \
                    and self._run_len > 1:
                # a setup that runs of one matrix would share is first tried where a run starts,
                # so that the whole run shows what sharing it is worth (re-checked next system)
                continue
            setup = full / self._sharing()  # amortised over repeats
            # whether it can win at all: a factorisation's later builds on the pattern repeat a share
            # of its first, the numeric work without the analysis (PETSC_FIRST_SETUP_SHARE).  Priced
            # at its first build, PETSc's Cholesky (39 ms, later 10) looked hopeless beside
            # BoomerAMG's 25 ms solves of a matrix that changed every system, and was never tried
            # where it costs 0.55x them (`varcoef`, 100 systems: 1.8-2.0x the fixed Cholesky)
            steady = setup if fam in self.setup_low_ else setup * self._first_share.get(rep.kind, 1.0)
            if rel is None and lo is not None and steady > _HOPELESS_SETUP * lo \
                    and rep.get_or("setup", None) not in ("reuse", "adaptive"):
                # rebuilt for every new matrix, its setup alone (shared by the repeats of the
                # matrix expected) would cost several solves of the best here: it cannot win, and
                # its try would cost one system that much.  Re-checked later: runs of one matrix,
                # once learned, share a setup
                self._wait[(b, fam)] = self.t_ + self._recheck_after()
                continue
            predicted = self._predicted(rep, known) if rel is None and lo is not None else None
            if predicted is None and rel is None and lo is not None:
                predicted = self._applied_floor(rep)
            if (predicted is not None and predicted + setup > _PREDICTION_SLACK * self.explore_cap * lo) or (
                    rel is None and lo is not None and (self._failed_alike(rep, known, lo)
                                                        or self._indefinite_alike(rep, b, known)
                                                        or self._beaten_by_a_band_factor(rep, best_name))):
                # the iterations measured here predict it to lose (CG where SSOR-PCG needs hundreds
                # of iterations): its capped try and the fallback after it wait until all such
                # tries fit in explore_budget of the time spent, like an expensive setup (idea 5);
                # long sequences still try it, in case the prediction is wrong — the later, the
                # further beyond the slack it is foreseen: the budget is asked for its try times
                # that excess.  A prediction 20x off needs an exponent ~0.7 off, not the 0.05 the
                # fits allow (on `jump-repeat` plain CG, Jacobi-PCG and fastdiag-cg, foreseen at
                # 21-55x the LU's solves, were each tried and capped, 4 % of 60 systems' time)
                odds = 1.0 if predicted is None else \
                    max(1.0, (predicted + setup) / (_PREDICTION_SLACK * self.explore_cap * lo))
                ask = self.spent_deferred_ + odds * (full + (self.explore_cap + 1.0) * lo)
                if ask > self.explore_budget * self.spent_total_:
                    self._wait_for(b, fam, ask)
                    continue
                deferred.append(fam)
                probes.add(fam)
            # what its try is weighed and charged as: the amortised setup, unless its first try is
            # predicted to lose even so (beyond explore_cap, the margin a capped try gets) — then
            # the whole setup it pays now (on FEM heat with runs of ten, a factorisation predicted
            # at 1.8x the best was charged a tenth of its setup and tried at system 11 for 13x a
            # solve; an AMG predicted at 5x looked light)
            est = self._first_try_estimate(rep, known, setup) if rel is None and lo is not None else None
            # (a factorisation whose solves alone are foreseen dearer than the best whole solve
            # cannot win however long the run it would serve: its try pays its whole setup for
            # nothing.  On a constant 2-D Poisson matrix solved exactly in 2 ms, an LU, 100 ms to
            # build and 3.6 ms a solve, was tried as a 2 ms risk)
            # Beside a factorisation built for this repeating matrix (sunk: lo is its solve), a try
            # that builds a setup of its own for this matrix risks that whole build too: it
            # serves the run only if it wins, and nothing predicts that here
            loser = est is not None and (est > self.explore_cap * lo or self._solve_loses(rep, lo))
            at_risk = full if loser or (sunk and rel is None) else setup
            # what the budget is asked for: a foreseen loser's iterative try also pays its capped
            # solve and the fallback after it, as a predicted loser's does above (BoomerAMG, its
            # setup priced at 30 ms, fitted the budget by 0.5 ms beside 6 ms Cholesky solves and
            # cost 156); a factorisation's try cannot overrun, and needs no fallback
            charge = at_risk + (self.explore_cap + 1.0) * lo if loser and rep.kind not in FACTORISATIONS \
                else at_risk
            # a bounded first try must also be a contender: on convection-diffusion LU, predicted
            # at 2.1x the best solve (its try within 2.25x), was screened at once and lost so
            # (judged at its first try's price, not at what its later builds cost: the setup priors
            # are their low end, and a factorisation whose first try is bounded only by that looked a
            # rival at a third of it — on PETSc's FEM heat a Cholesky predicted at 98 ms cost 260,
            # and on topology optimisation one was kept where GAMG wins: 1.10 and 1.16x)
            bounded = (est is None or est <= _BOUNDED_RIVAL * lo) and self._bounded_first_try(rep, rel, full, lo)
            if lo is not None and at_risk > lo and not bounded and (
                    (rel is not None and rel[0] > self.contender
                     and self.spent_explore_ > self.explore_budget * self.spent_total_)
                    or self.spent_deferred_ + charge > self.explore_budget * self.spent_total_):
                # an expensive one-off setup (AMG, a factorisation) that cannot pay on one system is
                # screened only once the sequence has run long enough that it is a small fraction
                # of what was spent (idea 5): short sequences never pay for it
                self._wait[(b, fam)] = self.t_ + self._recheck_after()  # its amortised setup shrinks
                if est is not None and rel is None and rep.kind in FACTORISATIONS and self._run_len > 1:
                    self._factor_due_at(b, full, est - setup, lo)
                continue
            # a one-off setup cannot be capped, so measured evidence against it counts more: it is
            # tried again nearby only if it came close there (not merely within `contender`)
            heavy = lo is not None and at_risk > lo
            if heavy:
                deferred.append(fam)  # its try is charged to the budget it waited for (shared)
            # a capped try that lost nearby is believed like a one-off setup (idea 4): re-screened
            # in a new bin only if it came close there, not merely within `contender`
            close_only = heavy or (rel is not None and rep.name in self._lost)
            if self._worth_trying(rel, self.revalidate_within if close_only else self.contender):
                # never-measured families go first in the order of their prior cost (robust cheap
                # methods first), so that a best (and an exploration cap) exists before an
                # expensive family is tried
                untried.append(((2, rel[0], 0.0) if rel is not None else (1, *self._first_rank(rep)), fam, rep))
                if rel is None and lo is not None and estimates is not None and self.cost == "seconds":
                    # (est: _first_try_estimate(rep, known, setup), made above on this very condition)
                    if est is None:
                        estimates = None
                    else:
                        estimates[fam] = est
            else:
                screened.add(fam)  # known to be far from the best nearby: not worth a try here
        if untried and estimates and known and all(r[1] in estimates for r in untried):
            # the system's difficulty is known from a family that ran here: never-measured families
            # go in the order of their predicted first-try cost, not of a size-blind prior (FEM heat:
            # SSOR-PCG's 178 iterations predict an AMG's ~13, ahead of ICC(0) — which the AMG's
            # measured count then predicts to lose, so its capped try waits)
            untried = [((1, estimates[r[1]], 0.0), r[1], r[2]) for r in untried]
        if untried:
            _, fam, rep = min(untried, key=lambda r: (r[0], r[1]))
            screened.add(fam)
            self._screening = True
            self._deferred = fam in deferred
            self._probing = fam in probes
            return rep, True
        if best_name in self._factor_names and best_name not in self._ready() and (
                self._run_len > 1 or self.mean_run_ > 1.5):
            # the incumbent factorises this new matrix now or never in its run: an optional try
            # here looks cheap against the amortised charge, but leaves the whole run without the
            # factor.  Optional exploration waits for a system whose factor is built, where its
            # excess is counted against the real per-solve cost (a few triangular solves).  Where
            # every matrix is new (no run to share a factor) there is no such system: on PETSc's
            # Helmholtz, Cholesky's first try (with MUMPS's one-off analysis) was never repeated
            # beside an LU that costs 1.2x its builds
            return None, False
        if self._after_loss:
            # the last system's optional try lost its capped attempt: run the incumbent once before
            # the next one, so that it is compared with the incumbent's cost on a current system.
            # Under drift (topology optimisation: +5-10 % iterations per design at first) four
            # ω tries in a row were capped against the incumbent's first, easiest system
            return None, False
        far = self._far_due(known, best_name, b[0])
        if far is not None:
            # evidence spoiled by load is corrected on its own doubling schedule, not the regret
            # budget's: the load that spoiled it also inflated what the explorations under it cost
            # (graph diffusion, half of the solves of systems 0-150 slowed 8x: the budget stayed
            # spent for hundreds of systems while an LU at 3.3x the deflated SSOR-PCG's cost ran)
            self._revalidating = self._far_check = True
            self._reval_base = _FAR_PERIOD * self.revalidate_after
            return far, True
        incumbent = known[best_name][0] if best_name is not None else 0.0
        if self.spent_excess_ > self.regret_budget * self.spent_total_ + 2.0 * incumbent:
            # optional exploration (2., 3.) has cost its share of regret: exploit until it is repaid.
            # The allowance of two incumbent solves lets the first steps of the ω search (2.) run
            # at once, when what they can find is worth the most (an additive constant in the bound)
            return None, False
        # 2. local search on the ω grid of the best family: an unknown neighbour is tried (inherited
        #    estimates count as known: a new bin does not restart the search); known neighbours are
        #    re-validated like other contenders (3.), so a climb stalled by one noisy comparison resumes
        best = self._by_name.get(best_name)
        neighbours: list[str] = []
        grid, members = self._omega_grid(best, fams)
        if grid:
            i = grid.index(best.get_or("omega"))
            # coarse to fine (4, 2, then 1 grid step away): the best ω of a 20-point grid is found
            # in a few tries even when it lies far from where the search started.  Upwards first
            # where no diagonal margin proves the system easy: SSOR's best ω nears 2 as the
            # condition grows (2/(1 + sin πh) on a grid), and on a turning anisotropy ω=1.3 was
            # tried and capped (89 iterations) before ω=1.7 (57) and 1.9 (39)
            up = not self._proved_easy()
            for step in (4, 2, 1):
                for j in ((i + step, i - step) if up else (i - step, i + step)):
                    if 0 <= j < len(grid):
                        name = members[grid[j]].name
                        if name not in known and not self._beyond_a_worse(grid, members, known, i, j):
                            return members[grid[j]], True
                        if step == 1 and name in known:
                            neighbours.append(name)
        # 3. evidence ages: re-validate a contender whose last run is older than its period
        #    (doubling while confirmed worse, idea 6), or, rarely, a random near-best one; the
        #    allowance of two incumbent solves is for the ω search only (an incumbent charged a
        #    factorisation's setup would let a costly AMG re-validation through)
        if known and self.spent_excess_ <= self.regret_budget * self.spent_total_:
            lo = known[best_name][0]
            # the best member of each other family only (not every ω), and only a close runner-up:
            # re-validation is for an estimate that one unrepresentative system may have spoiled
            leaders: dict[str, str] = {}
            fam_of, best_fam, within = self._fam_of, self._fam_of.get(best_name), self.revalidate_within * lo
            for k, v in known.items():
                if v[0] <= within and k != best_name and k in fam_of:
                    fam = fam_of[k]
                    if fam != best_fam and (fam not in leaders or v[0] < known[leaders[fam]][0]):
                        leaders[fam] = k
            due = [self._by_name[k] for k in leaders.values()
                   if self._aged(k, known, _LOST_PERIOD if k in self._lost else 1)]
            due += [self._by_name[k] for k in neighbours if self._aged(k, known, _NEIGHBOUR_PERIOD)]
            if due:
                self._revalidating = True
                choice = min(due, key=lambda c: (known[c.name][0], c.name))
                self._reval_base = (_LOST_PERIOD if choice.name in self._lost else
                                    _NEIGHBOUR_PERIOD if choice.name in neighbours else 1) * self.revalidate_after
                return choice, True
            # a bin that inherited its estimates checks each close leader once with a real solve:
            # costs move with the context (Heat2D's CG is best when diffusion is small, SSOR-PCG
            # when it is large), and half-octave bins make this O(log range) tries per leader
            unchecked = self._unchecked.get(b)
            if unchecked:
                # (not one whose latest evidence is a capped try that lost: that is believed, and
                # re-validated only at its doubling period)
                close = [self._by_name[k] for k in leaders.values() if k in unchecked and k not in self._lost]
                if close:
                    choice = min(close, key=lambda c: (known[c.name][0], c.name))
                    unchecked.discard(choice.name)
                    self._checking = choice.name
                    return choice, True
            if self._rng.random() < self.explore:
                # (not a capped loss: its estimate is a censored bound, re-validated at its own
                # period — on convection-diffusion plain GMRES, probed at 2.5x, was re-run at random
                # four systems later for 3x a system)
                near = [self._by_name[k] for k, v in known.items() if k != best_name and v[0] <= 2.0 * lo
                        and k in self._by_name and k not in self._lost]
                if near:
                    return min(near, key=lambda c: (known[c.name][2], c.name)), True
        return None, False

    def _first_probe(self, first: Configuration, arms: Sequence[Configuration],
                     b: tuple) -> tuple[Configuration, int] | None:
        """The cheap CG family to run before ``first``, the sequence's first try, and its iteration
        cap, or ``None`` (``_PROBE_KINDS``): where ``first`` builds a setup priced at
        ``_PROBE_MIN_ITERATIONS`` or more of the probe's iterations and nothing bounds the system's
        difficulty.  The cap is that many iterations, counted in products (the priors' unit),
        so the choice is the same on any machine.  Its try counts as its family's screening here;
        ``first``'s family stays unscreened: it runs as the probe's fallback and is learned there
        (:meth:`_learn_successor`), or, where the probe solved the system, is screened later as any
        family is."""
        if not self.first_probe or self.cost != "seconds" or first.kind in FACTORISATIONS \
                or first.kind in _PROBE_KINDS or first.kind == "fastdiag-cg" \
                or first.spec.entries_free or first.spec.user_preconditioner \
                or b in self._indefinite or self._facts is None or self._proved_easy():
            return None
        products = self._setup_cost.get(setup_kind(first), (0.0, 0.0))[1] + ONE_OFF_COST.get(first.kind, 0.0)
        jacobi_is_cg = self._facts.constant_diagonal()
        probes = [c for c in arms if c.kind in _PROBE_KINDS and not (jacobi_is_cg and "jacobi" in c.kind)]
        if not probes or products <= 0.0:
            return None
        # Jacobi-PCG where the diagonal varies (a mass matrix's, an FEM matrix's), else plain CG
        probe = min(probes, key=lambda c: ("jacobi" not in c.kind, self._iter_cost.get(c.kind, 10.0), c.name))
        its = int(products / self._iter_cost.get(probe.kind, 2.0))
        if its < _PROBE_MIN_ITERATIONS:
            return None
        screened = self._screened.setdefault(b, set())
        screened.discard(self._fam_of.get(first.name) or _family(first))
        screened.add(self._fam_of.get(probe.name) or _family(probe))
        return probe, its

    def _first_rank(self, rep: Configuration) -> tuple[float, float]:
        """:func:`prior_rank`, at the system's prior difficulty where no diagonal margin bounds it
        (judged once per size, on the first matrix of that size: only first tries use it).  Where
        Gershgorin proves a bound the system is at most moderately hard, no light setup pays on its
        first solve, and the size-blind order stands: priced at Heat2D's bound (ten iterations),
        plain CG went first on PETSc and led the learner into an ω search of SSOR-PCG it never
        left (430 of 500 systems on SSOR-PCG, where plain CG is the best fixed configuration)."""
        self._proved_easy()  # (computes the prior difficulty once per size)
        if rep.kind in FACTORISATIONS and not rep.spec.spd_only and self._diagonal_of()[1]:
            # a zero diagonal in a coupled row (a saddle point): the LU first, ahead of Krylov methods without a
            # preconditioner made for it (an Oseen system: BiCGStab stagnated after 950 iterations,
            # its ILU after a build dearer than the LU; 1.26x the LU over 20 systems)
            return (-0.5, -0.5)
        if rep.kind in FACTORISATIONS and not self._proved_easy() and self._narrow_band():
            # a band of a few diagonals (a 1-D problem): the factorisation fills nothing outside it,
            # O(n w²), while CG-type methods need O(n) iterations (on 200,000 unknowns SSOR-PCG's
            # first, uncapped try ran 10,318 iterations, 45 s, for a system an LU solves in 0.2 s)
            return (-0.4, -0.4)
        return prior_rank(rep, self._iter_cost, self._setup_cost, self._difficulty[self._facts_n()])

    def _proved_easy(self) -> bool:
        """Whether Gershgorin bounds the difficulty of this size's first matrix (a diagonal
        margin: Heat2D's early steps need a few iterations, which no setup repays at once), or
        nothing can be judged (an operator): the cautious order stands."""
        A = getattr(self._facts, "A", None)
        n = self._facts_n()
        if n not in self._difficulty:
            prior = prior_difficulty(A)
            _keep(self._difficulty, n, prior[0] if prior is not None and not prior[1] else None)
        return self._difficulty[n] is None

    def _beaten_by_a_band_factor(self, rep: Configuration, best_name: str | None) -> bool:
        """Whether ``rep`` is predicted to lose to the factorisation of a narrow band that leads: one
        of its iterations costs about what a band solve costs, so only a system solved in a handful
        of iterations could make it win — which Gershgorin would have proved.  (On a 1-D line of
        200,000 unknowns, the coarse-space SSOR-PCG and AMG-PCG tried after the LU each cost 10-15
        band solves.)  Its try then waits for the budget of predicted losers, like any other."""
        return (rep.kind not in FACTORISATIONS and best_name in self._factor_names
                and not self._proved_easy() and self._narrow_band())

    def _narrow_band(self) -> bool:
        """Whether this size's first matrix has a narrow band in its own numbering (judged once
        per size: one pass over the pattern; :func:`seqsolve.band.narrow_band`)."""
        n = self._facts_n()
        found = self._band.get(n)
        if found is None:
            found = narrow_band(getattr(self._facts, "A", None)) > 0
            _keep(self._band, n, found)
        return found

    def _diagonal_not_definite(self) -> bool:
        """Whether this size's first matrix has a negative diagonal entry, or a zero one in a
        coupled row (judged once per size, on the first matrix asked about;
        :func:`~seqsolve.policies.base.diagonal_verdict`)."""
        return self._diagonal_of()[0]

    def _diagonal_of(self) -> tuple[bool, bool]:
        n = self._facts_n()
        found = self._diagonal.get(n)
        if found is None:
            found = diagonal_verdict(getattr(self._facts, "A", None))
            _keep(self._diagonal, n, found)
        return found

    def _facts_n(self) -> int:
        """The size of the observed matrix (0 where none was observed)."""
        return getattr(getattr(self._facts, "A", None), "shape", (0,))[0]

    def _far_due(self, known: dict, best_name: str | None, size: int) -> Configuration | None:
        """The leader of another family whose estimate lies beyond ``revalidate_within`` of the
        best, is due for re-validation (``_FAR_PERIOD``, doubling) and passes :meth:`_far_retry`;
        the cheapest such, or ``None``."""
        if best_name is None or not self._best_per or self.cost != "seconds":
            return None
        fam_of, best_fam = self._fam_of, self._fam_of.get(best_name)
        within = self.revalidate_within * known[best_name][0]
        leaders: dict[str, str] = {}
        for k, v in known.items():
            if k in fam_of and not v[0] <= within:
                fam = fam_of[k]
                if fam != best_fam and (fam not in leaders or v[0] < known[leaders[fam]][0]):
                    leaders[fam] = k
        due = [k for f, k in leaders.items()
               if self._aged(k, known, _FAR_PERIOD) and self._far_retry(k, f, size, known[k][0], within)]
        return self._by_name[min(due, key=lambda k: (known[k][0], k))] if due else None

    def _far_retry(self, name: str, fam: str, size: int, estimate: float, within: float) -> bool:
        """Whether a far estimate (``_FAR_PERIOD``) is re-validated: where its family's speed now
        is slower than the best it ever measured at this size, by enough that at that speed it
        would be a close contender (its iteration counts are exact; only its speed can be spoiled
        by load), and its try can be stopped within the exploration cap — not a method that
        failed outright, nor one whose setup alone costs more than the best solve (a build cannot
        be stopped half-way)."""
        if name in self._failed or self._kind_of.get(name) in FACTORISATIONS or self.cost != "seconds":
            return False
        window, best = self._recent_per.get((fam, size)), self._best_per.get((fam, size))
        if not window or not best or self.setup_low_.get(fam, 0.0) > within / self.revalidate_within:
            return False
        return estimate * best / min(window) <= within

    def _aged(self, name: str, known: dict, factor: int) -> bool:
        """Whether ``name``'s evidence is older than its re-validation period: ``factor`` times
        ``revalidate_after`` at first, doubling with every re-validation (idea 6)."""
        base = factor * self.revalidate_after
        return self.t_ - self._last_run.get(name, known[name][2]) >= max(self._period.get(name, base), base)

    @staticmethod
    def _beyond_a_worse(grid: list, members: dict, known: dict, i: int, j: int) -> bool:
        """Whether an ω known to cost more than the best (grid index ``i``) lies between it and
        ``j`` (``j`` excluded): SSOR-PCG's iterations are unimodal in ω, so ``j`` is worse still and
        its try would be wasted.  Without this the search tried every unknown point 4, 2 and 1
        steps from each new best, and re-tried the side it had just seen lose (17 ω tries in 60
        Fluid2D systems, a third of the time)."""
        best = known[members[grid[i]].name][0]
        step = 1 if j > i else -1
        for k in range(i + step, j, step):
            entry = known.get(members[grid[k]].name)
            if entry is not None and entry[0] > best:
                return True
        return False

    def _low_per(self, fam: str, size: int, per: float, last: float) -> float:
        """The low estimate of a family's seconds per iteration: the lowest of its last
        ``_SPEED_WINDOW`` samples at this size.  An iteration's work is fixed by the matrix and the
        method; only machine load slows it, and a burst of load spans several short solves: with
        the lower of two samples, two slow solves in a row priced SSOR-PCG out of Heat2D's hard
        systems, and a family no longer chosen never ran again to correct it (auto 1.36x the best
        fixed over 5000 steps, 43 capped fallbacks, in one loaded run).  A lasting slow-down is
        followed after a window of solves."""
        window = self._recent_per.get((fam, size))
        if window is None:
            window = self._recent_per[(fam, size)] = collections.deque(
                maxlen=2 * _SPEED_WINDOW if fam in self._context_free else _SPEED_WINDOW)
        window.append(per)
        key = (fam, size)
        if 1e-12 <= per < self._best_per.get(key, math.inf):  # (what load accepts)
            self._best_per[key] = per
        return min(window)

    def _beaten_by_structure(self, rep: Configuration, best_name: str | None, lo: float | None) -> bool:
        """Against an exact structured incumbent (``_CONTEXT_FREE``: the same cost in every bin), a
        family whose fixed cost plus one iteration already exceeds the exploration cap cannot win
        in any context, so it is not screened (AMG's setup and V-cycle against ``fast-diag``)."""
        if best_name not in self._context_free or not lo:
            return False
        fam = self._fam_of.get(rep.name) or _family(rep)
        per = self.per_iteration_.get(fam) or self._prior_per_iteration(rep)
        return per is not None and self.fixed_.get(fam, 0.0) + per > self.explore_cap * lo

    def _bounded_first_try(self, rep: Configuration, rel, setup: float, lo: float | None) -> bool:
        """A never-measured factorisation whose first try (its whole setup plus one solve of
        ``SOLVE_COST`` products) is predicted to cost at most what a capped exploration and the
        fallback after it may cost (``explore_cap + 1`` times the best here): its try is no
        riskier than screening any cheap family, so it is not rationed by ``explore_budget``
        (idea 5).  A factorisation cannot overrun: its cost is its setup and a few triangular
        solves.  On SIMP topology optimisation (SSOR-PCG ~300 ms, MUMPS ~130 ms with its analysis)
        the rationing held it back for 16 systems of 2-6x the best."""
        if rel is not None or lo is None or rep.kind not in FACTORISATIONS or self.cost != "seconds":
            return False
        per = self._matvec_seconds()
        return per is not None and setup + self._solve_products(rep.kind) * per <= (self.explore_cap + 1.0) * lo

    def _solve_loses(self, rep: Configuration, lo: float) -> bool:
        """Whether a never-measured factorisation's solve alone (``SOLVE_COST`` products) is
        foreseen to cost more than ``lo``, the best whole solve here."""
        products = self._solve_products(rep.kind) if rep.kind in FACTORISATIONS else None
        per = self._matvec_seconds() if products else None
        return per is not None and products * per > lo

    def _matvec_seconds(self) -> float | None:
        """Seconds of one sparse matrix-vector product, implied by a family that ran (its measured
        seconds per iteration over its rough cost in products, ``ITERATION_COST``) — the unit the
        setup priors were calibrated in.  Where that family's solves took fewer than
        ``_FEW_ITERATIONS`` iterations, their time is mostly the solve's fixed part, and the
        product is priced at most at one timed product with the matrix at hand
        (:meth:`_product_seconds`): Heat2D's first SSOR-PCG solves (2-5 iterations) implied a
        product 3.4x dearer than it is, and ``fastdiag-cg``'s setup at 14 ms instead of 3.  The
        cheapest product any family implies is taken, not the first family's: a rough cost can be
        far off (``fastdiag-cg``'s dense per-axis transforms on a 150 x 150 grid cost ~60 products
        an iteration, not 8; taken first, it priced an LU at 1.1 s instead of 0.1, and the constant
        matrix of a 100-system sequence was never factorised)."""
        cheapest = None
        for other, per in self.per_iteration_.items():
            kind = self._kind_of.get(other) or other.split("(")[0]
            if self._iter_cost.get(kind):
                implied = per / self._iter_cost[kind]
                fit = self._fit.get(other)
                if fit is not None and fit[0] > 0 and fit[1] < _FEW_ITERATIONS * fit[0]:
                    measured = self._product_seconds()
                    implied = implied if measured is None else min(implied, measured)
                cheapest = implied if cheapest is None else min(cheapest, implied)
        if cheapest is None and self.cost == "seconds" and self.spent_total_ > 0:
            # no family has run clean (a factorisation first, or every try capped): one timed
            # product, not nothing — priced at its fixed part alone, AMG's 165 ms setup was
            # screened at 5 ms beside a plane-strain LU whose solves cost 35 ms
            return self._product_seconds()
        return cheapest

    def _fill_growth(self, flat: float | None = None, force: bool = False) -> float:
        """How many times a factorisation of the matrix at hand costs what one of a 2-D matrix of
        its size and density costs (:func:`.graph_dimension.lu_products`), the graph's dimension
        measured once per size (1 where no sparse matrix was observed).  Priced as 2-D, a 3-D LU
        of 17.6k unknowns looked 13x cheaper than it is (2.6 s): a rent-or-buy rule would buy it
        on a sequence of 20 ms solves.

        ``flat``: the setup's estimate in seconds as if 2-D.  The measurement (5-15 ms at 15k-33k
        unknowns, a few percent of a short 3-D sequence) waits until that estimate is within reach
        of any rule that would try the setup — the time spent so far (rent-or-buy) or a capped
        exploration and its fallback; growth is at least ~0.8 (a band), so until then the 2-D
        price already keeps the setup out.  ``force``: measured now (a first try that ran past
        its rent asks what the factorisation it would hand over to costs)."""
        facts = self._facts
        A = facts.A if facts is not None else None
        if A is None or not sp.issparse(A) or not A.nnz:
            return 1.0
        n = A.shape[0]
        if n not in self._dimension:
            density = A.nnz / n
            # a graph of another size but the same density is taken for the same family of meshes
            # (a mesh refined and coarsened: its dimension does not change with its size)
            alike = next((d for d, rho in self._dimension.values() if abs(rho - density) <= 0.15 * rho), None)
            if alike is not None:
                _keep(self._dimension, n, (alike, density))
            else:
                if flat is None and self.cost == "seconds" and not force:
                    return 1.0  # no product priced yet: the estimate is its fixed part alone
                if flat is not None and not force:
                    lo = self._lowest(self._bin_now) if self._bin_now is not None else None
                    if 0.8 * flat > max(self.spent_total_, (self.explore_cap + 1.0) * lo if lo else 0.0):
                        return 1.0  # out of reach at the 2-D price: not measured yet
                _keep(self._dimension, n, (graph_dimension(A), density))
        return lu_products(n, self._dimension[n][0], A.nnz) / lu_products(n, 2.0, A.nnz)

    def _solve_products(self, kind: str) -> float:
        """A never-measured factorisation's solve in products (``SOLVE_COST``), its triangular
        factors' fill growing with the graph's dimension (as the square root of the build's)."""
        products = self._solve_cost.get(kind, 0.0)
        return products * math.sqrt(self._fill_growth()) if products else 0.0

    def _product_seconds(self) -> float | None:
        """One product with the current (SciPy sparse) matrix, timed once per size: the better of
        two, the first on cold caches.  ``None`` for an operator or where no matrix was observed."""
        facts = self._facts
        A = facts.A if facts is not None else None
        if A is None or not sp.issparse(A):
            return None
        n = A.shape[0]
        if n not in self._product:
            x = np.ones(n)
            best = math.inf
            for _ in range(2):
                t0 = time.perf_counter()
                A @ x
                best = min(best, time.perf_counter() - t0)
            _keep(self._product, n, best)
        return self._product[n]

    def _recheck_after(self) -> int:
        """Systems until a setup held back as too dear to share is weighed again: the next one while
        the matrix at hand repeats (each repeat spreads the setup over one more system: on
        jump-coefficient runs of 15, SuperLU waited from the third system to the fourteenth of the
        first run, one system before the matrix changed), else 10 (its estimates change slowly)."""
        return 1 if self._observed and self._run_len > 1 else 10

    def _wait_for(self, b: tuple, fam: str, cost: float) -> None:
        """Do not reconsider ``fam`` in bin ``b`` for half the systems after which the time spent,
        growing at its mean rate so far, would make ``cost`` fit in ``explore_budget`` of it (at
        least 10: the condition depends on the bin's estimates too) — fewer re-checks in a context
        that visits many bins, none of them late by more than half the wait."""
        steps = 10
        if cost > 0 and self.spent_total_ > 0 and self.t_ > 0:
            missing = cost / self.explore_budget - self.spent_total_
            steps = max(10, min(1000, int(0.5 * missing / (self.spent_total_ / self.t_))))
        self._wait[(b, fam)] = self.t_ + steps

    def _predicted(self, rep: Configuration, known: dict, any_strength: bool = False) -> float | None:
        """Predicted cost of one solve by ``rep`` (setup aside) from the iterations that the best
        configuration measured here needed (``DIFFICULTY_EXPONENT``), or ``None`` if unknown.

        Only a weaker preconditioner is predicted (CG from SSOR-PCG, SSOR-PCG from AMG): it needs
        at least about that many iterations, whatever its implementation.  A stronger or an equal
        one is not: two AMGs (PETSc's GAMG and hypre's BoomerAMG) differ several-fold in
        iterations and speed, which no exponent knows (crediting an equal one with half the
        reference's count still held BoomerAMG back on p-Laplace, where GAMG needed 33 iterations
        and it 6).  ``any_strength`` predicts those too, from
        the cleanly measured family nearest in strength — a guess, used only to order first tries
        (:meth:`_first_try_estimate`), never to hold one back.  (``EQUAL_STRENGTH_FLOOR`` names the
        one equal-strength bound that is trusted: ICC(0) from SSOR-PCG.)"""
        mine = DIFFICULTY_EXPONENT.get(rep.kind)
        if mine is None:
            return None
        # the reference: a stronger family measured here, the nearest in strength (AMG's nearly
        # constant count says little about CG's), the cheapest of those — not an AMG for another
        # AMG (BoomerAMG is the stronger, but held back on its 6 iterations GAMG was never tried on
        # FEM heat, where it is the best).  A capped loss's count holds its fallback's iterations
        # too: it stands for the count its capped try projected (it did not finish in fewer).  On
        # Fluid2D SSOR-PCG's capped screening projected 200 iterations; ignored, it left plain CG
        # and Jacobi-PCG unpredicted, and both were screened at once for 2.3x a system each
        # A capped loss that projected nothing (no progress) left only a floor: it does not compete
        # to be the reference, whose count a nearer family may set better, but bounds the count
        # from below (a 10-iteration probe of SSOR-PCG must not stand in for the coarse space's 35)
        ref, floors = None, [1.0]
        for k, v in known.items():
            c = self._by_name.get(k)
            built_on = c is not None and _BUILT_ON.get(c.kind) == rep.kind
            if built_on:
                # what it is built on needs at least its count (deflation only removes work): a floor,
                # to order first tries by (a 4th-order plate: the coarse-space SSOR-PCG's 1,103
                # iterations put SSOR-PCG's try, left unordered, ahead of the LU that won) and to
                # hold back a try that loses even at that floor (plane-strain elasticity: SSOR-PCG
                # screened beside an LU whose solve cost a tenth of 417 SSOR iterations)
                e = mine
            else:
                e = DIFFICULTY_EXPONENT.get(c.kind) if c is not None else None
            its = v[3] if k not in self._lost else self._lost_its.get(k, 0.0)
            if e is None:
                continue
            bounds = any_strength or (e < mine or built_on) and max(e, mine) > MULTILEVEL
            if its < 1:
                bare = self._floor_its.get(k, 0.0) if k in self._lost else 0.0
                if bare >= 1 and bounds:
                    floors.append(bare ** (mine / e))
                continue
            if any_strength:
                if ref is None or (abs(e - mine), v[0]) < (abs(ref[2] - mine), ref[0]):
                    ref = (v[0], its, e, c)
            elif bounds and (ref is None or (-e, v[0]) < (-ref[2], ref[0])):
                ref = (v[0], its, e, c)
        floor = None if any_strength else self._equal_strength_floor(rep, known)
        if ref is None and floor is None and len(floors) == 1:
            return None
        if ref is None:
            ref = floor
        elif floor is not None and floor[1] > ref[1] ** (mine / ref[2]):
            ref = floor
        count = max(floors) if ref is None else max(max(floors), ref[1] ** (mine / ref[2]))
        # its speed, if never measured, scaled from the measured family nearest in cost per
        # iteration (Jacobi-PCG from CG, not from the SSOR-PCG that set the count: on a random
        # graph an SSOR iteration cost 2.9 CG iterations, not ITERATION_COST's 1.5)
        # (a candidate's family from the per-name dict: _family's cache hashes the configuration)
        family = self._fam_of.get(rep.name) or _family(rep)
        per = self.per_iteration_.get(family) or self._prior_per_iteration(rep)
        if per is None:
            # no speed measured yet (every try so far capped, or a factorisation): its prior in
            # products, at a timed product (plane-strain elasticity: the coarse-space try's 417
            # iterations predicted nothing while no clean solve had priced an iteration)
            product, products = self._matvec_seconds(), self._iter_cost.get(rep.kind)
            per = product * products if product is not None and products else None
        if per is None:
            return None
        return self.fixed_.get(family, 0.0) + count * per

    def _failed_alike(self, rep: Configuration, known: dict, lo: float) -> bool:
        """Whether ``rep`` is an AMG (``DIFFICULTY_EXPONENT`` at most ``MULTILEVEL``) and another
        AMG failed outright here: every try it made stopped short (a breakdown, a stagnation) and
        its cost, so censored, is more than ``contender`` times the best.  ``rep`` is then predicted
        to lose as well, and its first try waits for the exploration budget like any predicted loser.

        An AMG's count predicts no other AMG's (:meth:`_predicted`), but an outright failure says
        the system is not one AMG's exponent describes: on PETSc's topology optimisation
        (elasticity, contrast 1e9) GAMG broke down, and BoomerAMG, tried next, stagnated for 0.6 s —
        seven times the best solve.  A capped loss near the best is no such verdict (on Fluid2D,
        GAMG's reused hierarchy lost one by 1.3x, and BoomerAMG was the best by far).

        The same holds between unpreconditioned Krylov methods (:func:`_unpreconditioned`): both see
        A's own spectrum, so one whose capped try stopped as far from the best as a predicted loser
        is held back at (stagnated, or projected beyond ``_PREDICTION_SLACK * explore_cap`` times it)
        predicts the other to lose too (on convection-diffusion plain BiCGStab's try projected 80-150
        iterations, 3-6x ILU-GMRES's solve, and plain GMRES, tried next, ran to its cap as well:
        2-3x a system each)."""
        if _unpreconditioned(rep) and self._lost:
            far, fam = _PREDICTION_SLACK * self.explore_cap * lo, self._fam_of.get(rep.name) or _family(rep)
            return any(k in self._lost and v[0] > far and self._fam_of.get(k) != fam
                       and _unpreconditioned(self._by_name[k]) for k, v in known.items() if k in self._by_name)
        mine = DIFFICULTY_EXPONENT.get(rep.kind)
        if mine is None or mine > MULTILEVEL or not self._lost:
            return False
        fam_of, lost, far = self._fam_of, self._lost, self.contender * lo
        fam = fam_of.get(rep.name) or _family(rep)
        failed, held, kind_of = set(), set(), self._kind_of
        for k, v in known.items():
            kind = kind_of.get(k)
            e = DIFFICULTY_EXPONENT.get(kind) if kind is not None else None
            if e is None or fam_of[k] == fam or e > MULTILEVEL:
                continue
            (failed if k in lost and v[0] > far else held).add(fam_of[k])
        return bool(failed - held)

    def _indefinite_alike(self, rep: Configuration, b: tuple, known: dict) -> bool:
        """Whether ``rep`` is a CG-based method predicted to fail as one did here: a method of
        ``_PROVES_INDEFINITE`` proved ``A`` not positive definite in this bin, and something
        else converged here, so there is a yardstick to wait behind.  CG on an indefinite matrix
        has no guarantee, and a preconditioner made for SPD matrices does not restore one (on
        Helmholtz, plain CG was screened after SSOR-PCG's proof and failed the same way).
        ``fastdiag-cg`` is exempt: a separable preconditioner can be ``A⁻¹`` itself, and one exact
        step needs no definiteness."""
        if b not in self._indefinite or not rep.spec.spd_only or rep.kind == "fastdiag-cg":
            return False
        return any(k not in self._failed and k not in self._lost for k in known)

    def _equal_strength_floor(self, rep: Configuration, known: dict) -> tuple | None:
        """``(cost, iterations, exponent, configuration)`` standing for the lower bound that an
        equal-strength family measured here puts on ``rep``'s iterations (``EQUAL_STRENGTH_FLOOR``):
        its count times the floor's share, at ``rep``'s own exponent (used as is)."""
        rule = EQUAL_STRENGTH_FLOOR.get(rep.kind)
        if rule is None:
            return None
        kind, share = rule
        found = None
        for k, v in known.items():
            c = self._by_name.get(k)
            # (the best ω's count: the bound was measured against ω=1.5, rarely the best)
            if c is not None and c.kind == kind and v[3] >= 1 and k not in self._lost \
                    and (found is None or v[3] < found[1]):
                found = (v[0], v[3], c)
        if found is None:
            return None
        e = DIFFICULTY_EXPONENT[rep.kind]
        # an exponent-e reference of count m predicts m ** (e / e) = m: the share is applied here
        return (found[0], share * found[1], e, found[2])

    def _first_try_estimate(self, rep: Configuration, known: dict, setup: float) -> float | None:
        """Expected seconds of a never-measured family's first try on this system, once another
        family has run here: a factorisation's (amortised) setup plus one solve of ``SOLVE_COST``
        products; an iterative family's predicted iterations (any strength) plus its amortised
        setup, half of it for a rent-or-buy schedule (as :meth:`update` charges it).  ``None``
        where nothing predicts it."""
        if rep.kind in FACTORISATIONS:
            per = self._matvec_seconds()
            return None if per is None else setup + self._solve_products(rep.kind) * per
        solve = self._predicted(rep, known, any_strength=True)
        if solve is None:
            return None
        return solve + (0.5 * setup if rep.get_or("setup", None) == "adaptive" else setup)

    def _omega_grid(self, best: Configuration | None, fams: dict) -> tuple[list, dict]:
        """The sorted ω values of ``best``'s family among the arms, and ω → member (cached)."""
        if best is None or best.get_or("omega") is None:
            return [], {}
        fam = self._fam_of.get(best.name) or _family(best)
        cached = self._grids.get(fam)
        if cached is None:
            members = {c.get_or("omega"): c for c in fams.get(fam, ())}
            cached = self._grids[fam] = (sorted(members), members)
        return cached if best.get_or("omega") in cached[1] else ([], {})

    def _in_matvecs(self, info: SolveRecord) -> tuple[float, SolveRecord]:
        """``info`` with every time replaced by a deterministic cost in matrix–vector products
        (iterations × ``ITERATION_COST``, setups by ``SETUP_COST``): the same seed then gives the
        same choices on every machine, at the price of ignoring what the clock says."""
        kind = self._by_name[info.configuration].kind
        per = self._iter_cost.get(kind, 1.0)
        setup = 0.0 if info.setup_reused else self._setup_cost.get(setup_kind(self._by_name[info.configuration]),
                                                             (0.0, 0.0))[1]
        solve = info.iterations * per + self._solve_cost.get(kind, 0.0)
        projected = None
        if info.projected_seconds is not None:
            projected = setup + per * (info.projected_iterations if info.projected_iterations is not None
                                       else math.inf)
        rec = dataclasses.replace(info, setup_seconds=setup, solve_seconds=solve, attempt_seconds=setup + solve,
                                  projected_seconds=projected, policy_seconds=0.0, one_off_seconds=0.0)
        return setup + solve, rec

    def _setup_estimate(self, fam: str, rep: Configuration) -> float:
        """Seconds a family's setup costs: measured once it ran, else a prior in matrix–vector
        products (``SETUP_COST``) times the product's cost implied by any family that ran."""
        if fam in self.setup_low_:
            return self.setup_low_[fam]
        kinds = self._setup_kind_of
        kind = kinds.get(rep.name) or setup_kind(rep)
        for other, seconds in self.setup_low_.items():  # the same setup built for another family
            if kinds.get(other) == kind:
                return seconds
        if kind not in self._setup_cost:
            return 0.0
        fixed, matvecs = self._setup_cost[kind]
        factor = kind in FACTORISATIONS
        per = None if self.cost == "iterations" else self._matvec_seconds()
        if kind in self._timed_setup and per is not None:
            # calibrated in timed products (PETSC_TIMED_SETUP), not in the products an iteration
            # implies: PETSc SSOR-PCG's first solve on `jump-repeat` implied a product 3.5x dearer
            # than it is, MUMPS's first factorisation was priced at 417 ms instead of 120, and a
            # factorisation that halves the cost of every run of 15 repeats was never tried
            measured = self._product_seconds()
            per = per if measured is None else min(per, measured)
        if factor or (kind == "ilu" and self._ilu_fills):
            # the priors were fitted on 2-D sequences: fill grows with the graph's dimension
            # (graph_dimension; an ILU's drop tolerance bounds it: ~3x for 3-D where an LU's is ~18x)
            growth = self._fill_growth(None if per is None else fixed + matvecs * per)
            matvecs *= growth if factor else growth ** ILU_GROWTH
        if self.cost == "iterations":
            return matvecs
        return fixed if per is None else fixed + matvecs * per

    def _one_off_estimate(self, fam: str, rep: Configuration) -> float:
        """Seconds of a never-built family's once-per-instance work (``ONE_OFF_COST``), else 0."""
        products = ONE_OFF_COST.get(rep.kind)
        if not products or fam in self.setup_low_:
            return 0.0
        if self.cost == "iterations":
            return products
        per = self._matvec_seconds()
        return 0.0 if per is None else products * per

    def _cap(self, choice: Configuration, known: dict, best_name: str | None,
             share: float | None = None) -> int | None:
        """Iterations an exploration of ``choice`` may take: worth ``share`` (``explore_cap``)
        times the cost of ``best_name`` here."""
        share = self.explore_cap if share is None else share
        if best_name is None:
            return None
        best = self._by_name.get(best_name)
        fam = self._fam_of.get(choice.name) or _family(choice)
        if best is not None and (self._fam_of.get(best.name) or _family(best)) == fam and known[best_name][3] > 0:
            # the same method with another ω: iterations compare exactly, timing noise cannot trip the cap
            return max(20, int(share * known[best_name][3]) + 1)
        budget = share * known[best_name][0]
        per = self.per_iteration_.get(fam) or self._prior_per_iteration(choice)
        if per is None or per <= 0:
            if best_name in self._failed:
                # the best known failed outright (SSOR-PCG proved a Helmholtz matrix indefinite in
                # one iteration): its count is no yardstick, and 20 iterations stopped fastdiag-cg
                # two short of converging.  The prior cap, and the budget in seconds, bound the try
                return None
            # unknown speed: allow explore_cap times the iterations of the best configuration, at least 20
            return max(20, int(share * 2 * known[best_name][3]) + 10)
        # a floor of 8 iterations: below it a cap trips on timing noise (and a convergence rate
        # is hardly measured), while a hopeless configuration costs little more — not 20 V-cycles
        # of an AMG whose iteration costs a tenth of the incumbent's whole solve
        return max(8, int(max(0.0, budget - self.fixed_.get(fam, 0.0)) / per) + 1)

    def _applied_floor(self, rep: Configuration) -> float | None:
        """The least a never-run family can cost a solve when its preconditioner (an ILU with fill)
        was applied by another Krylov method here: ``_FEW_APPLIED`` iterations at the speed that
        application implies (:meth:`_prior_per_iteration`), else ``None``.  No iteration count
        predicts such a family (an ILU's strength varies with its fill), but its speed alone can
        rule it out: on a convection-dominated matrix spilu's factors were as dense as the LU's,
        an ILU iteration cost as much as the LU's whole solve, and GMRES(ILU) was tried after
        BiCGStab(ILU) had shown that, for 190 ms beside 8 ms solves."""
        shared = self._setup_kind_of.get(rep.name)
        if shared is None or shared == rep.kind or shared not in self._applied:
            return None
        per = self._prior_per_iteration(rep)
        return None if per is None else _FEW_APPLIED * per

    def _prior_per_iteration(self, choice: Configuration, exclude: str | None = None) -> float | None:
        """Seconds per iteration of a family never run yet, scaled from one that has run.

        ``ITERATION_COST`` holds rough costs of one iteration in sparse matvecs; it only sets the
        first exploration cap, which the measured speed replaces after one solve.
        """
        mine = self._iter_cost.get(choice.kind)
        if mine is None:
            return None
        shared = self._setup_kind_of.get(choice.name) or setup_kind(choice)
        if shared != choice.kind:
            # a preconditioner with a setup of its own (an ILU with fill) applied by another Krylov
            # method that ran: its applications, not the Krylov method, set the price.  Scaled from
            # plain BiCGStab, GMRES(ILU) was priced at 0.7 ms an iteration right after BiCGStab(ILU)
            # measured 13 (a convection-dominated matrix, spilu's factors as dense as the LU's), and
            # its try cost 190 ms beside the LU's 8 ms solves
            # (measured by any try that iterated, a capped one too: its speed is what it showed)
            applied = self._applied.get(shared)
            if applied is not None and applied[0] != exclude:
                other = self._kind_of.get(applied[0])
                return applied[1] * PRECONDITIONER_APPLIES.get(choice.kind, 1.0) / PRECONDITIONER_APPLIES.get(other, 1.0)
        # scaled from the measured family nearest in cost per iteration: the rough ratios are
        # least wrong between similar methods (CG from SSOR-PCG, not from an AMG V-cycle)
        best = None
        for fam, per in self.per_iteration_.items():
            other = self._iter_cost.get(self._kind_of.get(fam) or fam.split("(")[0])
            if other and fam != exclude:
                gap = abs(math.log(mine / other))
                if best is None or gap < best[0]:
                    best = (gap, per * mine / other)
        if best is not None and choice.kind in ONE_PRODUCT and self.cost == "seconds" and self._facts is not None:
            # an iteration that is one product and some vector updates costs about its products,
            # timed: on the random graph a sweep costs four products, not SSOR-PCG's 1.7, and
            # Jacobi-PCG scaled from SSOR-PCG was priced at 2.3x its speed — a predicted loser
            # whose capped first try, stopped on that speed, hid the best configuration
            product = self._product_seconds()
            if product is not None:
                return min(best[1], mine * product)
        return None if best is None else best[1]

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict:
        from ._state_checks import MAX_VALUE

        return {
            "kind": "auto",
            "candidates": [c.name for c in self.candidates_list],
            "t": self.t_,
            "spent": [self.spent_total_, self.spent_explore_],
            "excess": self.spent_excess_,
            "deferred": self.spent_deferred_,
            # (a cost beyond MAX_VALUE seconds, ~30,000 years, can only come from an edited prior:
            # saved at that bound, so that what was saved always loads)
            "stats": [[list(b), name, min(entry[0], MAX_VALUE), entry[1], entry[2], min(entry[3], MAX_VALUE)]
                      for b, entries in self.stats_.items() for name, entry in entries.items()],
            "scale": [[fam, size, v] for (fam, size), v in self._scale.items()],
            "per_iteration": dict(self.per_iteration_),
            "fixed": dict(self.fixed_),
            "fit": [[fam, *(min(v, MAX_VALUE) for v in sums)] for fam, sums in self._fit.items()],
            "last_per_iteration": dict(self._last_per),
            "recent_per_iteration": [[fam, size, list(w)] for (fam, size), w in self._recent_per.items()],
            "best_per_iteration": [[fam, size, v] for (fam, size), v in self._best_per.items()],
            "setup": dict(self.setup_low_),
            "last_setup": dict(self._last_setup),
            "screened": [[list(b), sorted(f)] for b, f in self._screened.items()],
            "revalidate": [[name, k] for name, k in self._period.items()],
            "last_run": [[name, step] for name, step in self._last_run.items()],
            "rng": _rng_to_json(self._rng.getstate()),
            "samples": dict(self._samples),
            "runs": [self.mean_run_, self._runs, self._run_len],
            "recent_cost": self._recent_cost,
            "wait": [[list(b), fam, step] for (b, fam), step in self._wait.items()],
            "unchecked": [[list(b), sorted(names)] for b, names in self._unchecked.items()],
            "check_backoff": [[name, *v] for name, v in self._check_backoff.items()],
            "spd_trouble": [[list(b), k] for b, k in self._spd_trouble.items()],
            "confirm": self._confirm,
            "lost": sorted(self._lost),
            "lost_iterations": dict(self._lost_its),
            "commit": None if self._commit is None else [list(self._commit[0]), *self._commit[1:]],
            "streak": None if self._streak is None else [list(self._streak[0]), *self._streak[1:]],
            "bin_best": [[list(b), name] for b, name in self._bin_best.items()],
            "exploited": self._exploited,
            "after_loss": self._after_loss,
        }

    def load_state_dict(self, state: Mapping) -> "AutoPolicy":
        from ._state_checks import MAX_VALUE, as_dict, as_float, as_int, as_list, as_str, float_table

        # everything is validated before anything changes; the ranges are those update() produces,
        # and keep select()'s arithmetic finite (int(inf), 2.0 ** huge)
        state = as_dict(state, "auto state")
        if state.get("kind") != "auto":
            raise StateFileError(f"state is for policy {state.get('kind')!r}, not 'auto'")
        try:
            saved = [as_str(c, "auto state 'candidates'") for c in as_list(state.get("candidates"), "auto state 'candidates'")]
            if not saved:
                raise StateFileError("auto state 'candidates' is empty")
            configs = [parse(c) for c in saved]
            names = {c.name for c in configs}
            t = as_int(state.get("t"), "auto state 't'")
            spent = [as_float(v, "auto state 'spent'", hi=1e300) for v in as_list(state.get("spent", [0.0, 0.0]),
                                                                      "auto state 'spent'", length=2)]
            top = math.ceil(1100 / self.bin_width) if 0 < self.bin_width < math.inf else 10**6

            def as_bin(b) -> tuple:
                b = as_list(b, "auto state bin", length=2)
                return (as_int(b[0], "auto state bin size", hi=128),
                        None if b[1] is None else as_int(b[1], "auto state bin", lo=-401, hi=top))

            def as_name(name) -> str:
                if name not in names:
                    raise StateFileError(f"auto state names {name!r}, which is not among its candidates")
                return name

            stats: dict[tuple, dict[str, list]] = {}
            for row in as_list(state.get("stats"), "auto state 'stats'"):
                b, name, mean, count, last, its = as_list(row, "auto state 'stats' row", length=6)
                stats.setdefault(as_bin(b), {})[as_name(name)] = [
                    as_float(mean, "auto state mean cost"), as_int(count, "auto state count"),
                    as_int(last, "auto state step", hi=t), as_float(its, "auto state iterations")]
            screened = {}
            for row in as_list(state.get("screened", []), "auto state 'screened'"):
                b, fams = as_list(row, "auto state 'screened' row", length=2)
                screened[as_bin(b)] = {as_str(f, "auto state family") for f in as_list(fams, "auto state families")}
            periods, last_run = {}, {}
            check_backoff = {}
            for row in as_list(state.get("check_backoff", []), "auto state 'check_backoff'"):
                name, hits, sit = as_list(row, "auto state 'check_backoff' row", length=3)
                check_backoff[as_name(name)] = [as_int(hits, "auto state checks", hi=10),
                                                as_int(sit, "auto state bins to sit out", hi=2 ** 10)]
            for row in as_list(state.get("revalidate", []), "auto state 'revalidate'"):
                name, k = as_list(row, "auto state 'revalidate' row", length=2)
                periods[as_name(name)] = as_int(k, "auto state re-validation period", hi=_MAX_PERIOD)
            for row in as_list(state.get("last_run", []), "auto state 'last_run'"):
                name, step = as_list(row, "auto state 'last_run' row", length=2)
                last_run[as_name(name)] = as_int(step, "auto state step", hi=t)
            excess = as_float(state.get("excess", 0.0), "auto state 'excess'", hi=1e300)
            deferred = as_float(state.get("deferred", 0.0), "auto state 'deferred'", hi=1e300)
            scale = {}
            for row in as_list(state.get("scale", []), "auto state 'scale'"):
                fam, size, v = as_list(row, "auto state 'scale' row", length=3)
                scale[(as_str(fam, "auto state family"), as_int(size, "auto state bin size", hi=128))] = \
                    as_float(v, "auto state speed scale", lo=1e-150, hi=1e150)
            per = float_table(state.get("per_iteration"), "auto state 'per_iteration'")
            last_per = float_table(state.get("last_per_iteration", {}), "auto state 'last_per_iteration'")
            if any(0 < v < 1e-12 for v in [*per.values(), *last_per.values()]):
                raise StateFileError("auto state: seconds per iteration below 1e-12")
            recent_per = {}
            for row in as_list(state.get("recent_per_iteration", []), "auto state 'recent_per_iteration'"):
                fam, size, samples = as_list(row, "auto state 'recent_per_iteration' row", length=3)
                key = (as_str(fam, "auto state family"), as_int(size, "auto state bin size", hi=128))
                values = [as_float(v, "auto state seconds per iteration", lo=1e-12, hi=MAX_VALUE)
                          for v in as_list(samples, "auto state 'recent_per_iteration' samples")]
                if not values or len(values) > 2 * _SPEED_WINDOW:
                    raise StateFileError("auto state 'recent_per_iteration': a window of 1 to "
                                         f"{2 * _SPEED_WINDOW} samples is needed")
                recent_per[key] = collections.deque(
                    values, maxlen=2 * _SPEED_WINDOW if key[0] in {_family(c) for c in configs if c.kind in _CONTEXT_FREE}
                    else _SPEED_WINDOW)
            best_per = {}
            for row in as_list(state.get("best_per_iteration", []), "auto state 'best_per_iteration'"):
                fam, size, v = as_list(row, "auto state 'best_per_iteration' row", length=3)
                best_per[(as_str(fam, "auto state family"), as_int(size, "auto state bin size", hi=128))] = \
                    as_float(v, "auto state seconds per iteration", lo=1e-12, hi=MAX_VALUE)
            setup = float_table(state.get("setup", {}), "auto state 'setup'", hi=MAX_VALUE)
            fixed = float_table(state.get("fixed", {}), "auto state 'fixed'", hi=MAX_VALUE)
            fit = {}
            for row in as_list(state.get("fit", []), "auto state 'fit'"):
                fam, *sums = as_list(row, "auto state 'fit' row", length=6)
                fit[as_str(fam, "auto state family")] = [as_float(v, "auto state fit sum", hi=MAX_VALUE) for v in sums]
            last_setup = float_table(state.get("last_setup", {}), "auto state 'last_setup'", hi=MAX_VALUE)
            version, internal, gauss = as_list(state.get("rng"), "auto state 'rng'", length=3)
            internal = [as_int(v, "auto state 'rng'", hi=2**32 - 1) for v in as_list(internal, "auto state 'rng'")]
            if gauss is not None:
                as_float(gauss, "auto state 'rng'", lo=-math.inf, hi=math.inf)
            rng = random.Random()
            rng.setstate(_rng_from_json([version, internal, gauss]))
            samples = {k: int(v) for k, v in float_table(state.get("samples", {}), "auto state 'samples'",
                                                         hi=2**53).items()}
            mean_run, runs, run_len = as_list(state.get("runs", [0.0, 0, 0]), "auto state 'runs'", length=3)
            mean_run = as_float(mean_run, "auto state mean run", hi=2.0**53)
            runs, run_len = as_int(runs, "auto state runs"), as_int(run_len, "auto state run length")
            recent = state.get("recent_cost")
            recent = None if recent is None else as_float(recent, "auto state 'recent_cost'", hi=MAX_VALUE)
            wait = {}
            for row in as_list(state.get("wait", []), "auto state 'wait'"):
                b, fam, step = as_list(row, "auto state 'wait' row", length=3)
                wait[(as_bin(b), as_str(fam, "auto state family"))] = as_int(step, "auto state step")
            unchecked = {}
            for row in as_list(state.get("unchecked", []), "auto state 'unchecked'"):
                b, fams = as_list(row, "auto state 'unchecked' row", length=2)
                unchecked[as_bin(b)] = {as_name(n) for n in as_list(fams, "auto state names")}
            confirm = state.get("confirm")
            confirm = None if confirm is None else as_name(confirm)
            lost = {as_name(n) for n in as_list(state.get("lost", []), "auto state 'lost'")}
            lost_its = {as_name(k): v for k, v in float_table(state.get("lost_iterations", {}),
                                                                "auto state 'lost_iterations'", hi=2.0**53).items()}
            commit = state.get("commit")
            if commit is not None:
                b, left, name, inc, limit = as_list(commit, "auto state 'commit'", length=5)
                commit = [as_bin(b), as_int(left, "auto state commitment", hi=1 << 20), as_name(name),
                          None if inc is None else as_float(inc, "auto state incumbent cost"),
                          None if limit is None else as_int(limit, "auto state limit")]
            streak = state.get("streak")
            if streak is not None:
                b, name, k = as_list(streak, "auto state 'streak'", length=3)
                streak = [as_bin(b), as_name(name), as_int(k, "auto state streak")]
            bin_best = {}
            for row in as_list(state.get("bin_best", []), "auto state 'bin_best'"):
                b, name = as_list(row, "auto state 'bin_best' row", length=2)
                bin_best[as_bin(b)] = as_name(name)
            exploited = state.get("exploited")
            exploited = None if exploited is None else as_name(exploited)
            after_loss = state.get("after_loss", False)
            if not isinstance(after_loss, bool):
                raise StateFileError("auto state 'after_loss' must be true or false")
            trouble = {}
            for row in as_list(state.get("spd_trouble", []), "auto state 'spd_trouble'"):
                b, k = as_list(row, "auto state 'spd_trouble' row", length=2)
                trouble[as_bin(b)] = as_int(k, "auto state breakdowns")
        except StateFileError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
            raise StateFileError(f"auto policy state is malformed: {exc!r}") from None
        if saved != [c.name for c in self.candidates_list]:
            # the saved run chose among other configurations: restore them, not the defaults
            self.__init__(configs, context_key=self.context_key, seed=self.seed,
                          discount=self.discount, explore=self.explore, explore_cap=self.explore_cap,
                          contender=self.contender, bin_width=self.bin_width,
                          exploit_cap=self.exploit_cap, reach=self.reach,
                          explore_budget=self.explore_budget, revalidate_after=self.revalidate_after,
                          revalidate_within=self.revalidate_within, regret_budget=self.regret_budget,
                          commit=self.commit, cost=self.cost, backend=self._backend)
        self.t_ = t
        self.spent_total_, self.spent_explore_ = spent
        self.spent_excess_ = excess
        self.spent_deferred_ = deferred
        self.stats_ = stats
        self._scale = scale
        self._bins_of = {}
        for b, entries in stats.items():
            for name in entries:
                self._bins_of.setdefault(name, []).append(b)
        self._screened, self._period, self._last_run = screened, periods, last_run
        self.per_iteration_, self._last_per, self._recent_per = per, last_per, recent_per
        self._best_per = best_per
        self.fixed_, self._fit = fixed, fit
        self.setup_low_, self._last_setup = setup, last_setup
        self._rng = rng
        self._samples, self._recent_cost = samples, recent
        self.mean_run_, self._runs, self._run_len = mean_run, runs, run_len
        self._wait, self._unchecked, self._spd_trouble = wait, unchecked, trouble
        self._check_backoff = check_backoff
        self._commit, self._streak, self._confirm = commit, streak, confirm
        self._lost, self._lost_its = lost, lost_its
        self._bin_best = bin_best
        self._exploited, self._after_loss = exploited, after_loss
        return self


def _index(b: tuple) -> float:
    """A bin's context index, for ordering bins deterministically (no context: below all)."""
    return -math.inf if b[1] is None else b[1]


def _rng_to_json(state) -> list:
    return [state[0], list(state[1]), state[2]]


def _rng_from_json(data) -> tuple:
    return (int(data[0]), tuple(int(v) for v in data[1]), data[2])
