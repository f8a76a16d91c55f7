"""The PETSc backend: every configuration kind against a direct solve, petsc4py Mat/Vec inputs,
value-only updates, setup-reuse schedules, and the accuracy contract with extreme inputs.

Skipped, with the reason shown, where petsc4py is not installed (``.ci/run`` installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import spsolve

import seqsolve
from seqsolve import ConfigurationError, SequenceSolver
from seqsolve.backends.petsc import available

from conftest import BrokenGuess, assert_contract, elasticity2d, poisson2d, random_nonsymmetric, random_spd
from test_accuracy_contract import outcome, systems

pytestmark = pytest.mark.skipif(
    not available(), reason="petsc4py is not importable here: apt-get install python3-petsc4py-real, a venv "
    "with --system-site-packages and numpy<2, and PETSC_DIR set (see README, 'PETSc backend')")

SPD = ["cg", "jacobi-cg", "icc-cg", "ssor-cg(omega=1.5)", "sor(omega=1.2)", "amg-cg(rebuild)", "amg-cg(reuse)",
       "amg-cg(adaptive)", "hypre-cg(rebuild)", "hypre-cg(adaptive)", "cholesky", "minres"]
GENERAL = ["direct", "gmres", "gmres(ilu)", "bicgstab", "bicgstab(ilu)"]


@pytest.mark.parametrize("name", SPD + GENERAL)
def test_every_configuration_meets_the_tolerance_on_an_spd_system(name):
    A, b = poisson2d(12), np.random.default_rng(0).standard_normal(144)
    s = SequenceSolver(policy=f"fixed:{name}", backend="petsc", rtol=1e-10, fallback=False)
    x = s.solve(A, b)
    assert_contract(A, b, x, 1e-10)
    assert s.history[-1].fallback is None  # PETSc itself solved it


@pytest.mark.parametrize("name", SPD + GENERAL)
def test_the_zero_matrix_is_refused_before_petsc_sees_it(name):
    """hypre's BoomerAMG crashed the whole process (SIGSEGV) on an all-zero matrix (the contract
    fuzz, ``--backend petsc``): no configuration may be handed one."""
    with pytest.raises(seqsolve.ConvergenceError, match="zero matrix"):
        SequenceSolver(policy=f"fixed:{name}", backend="petsc").solve(sp.lil_matrix((4, 4)), np.ones(4))


@pytest.mark.parametrize("setup", ["rebuild", "adaptive"])
def test_hypre_is_never_handed_a_zero_on_the_diagonal(setup):
    """hypre 2.26 aborted the process (MPI_ABORT) on a stored zero diagonal entry: the backend
    refuses it as a failed attempt, and the fallback chain says what happened."""
    A = sp.csr_array(sp.diags([1.0, 2.0, 0.0]))
    with pytest.raises(seqsolve.ConvergenceError, match="BoomerAMG needs a nonzero diagonal"):
        SequenceSolver(policy=f"fixed:hypre-cg({setup})", backend="petsc").solve(A, np.ones(3))
    B = sp.csr_array(sp.diags([1.0, 2.0, 3.0]) + sp.diags([0.0, 0.0], 1, shape=(3, 3)))
    x = SequenceSolver(policy=f"fixed:hypre-cg({setup})", backend="petsc").solve(B, np.ones(3))
    assert_contract(B, np.ones(3), x, 1e-8)


@pytest.mark.parametrize("name", GENERAL)
def test_general_configurations_solve_a_nonsymmetric_system(name):
    A = random_nonsymmetric(60, seed=3, density=0.1)
    b = np.random.default_rng(1).standard_normal(60)
    x = SequenceSolver(policy=f"fixed:{name}", backend="petsc", rtol=1e-9).solve(A, b)
    assert_contract(A, b, x, 1e-9)


def test_eisenstat_true_residual_is_enforced_at_tight_tolerance():
    # PCEISENSTAT stops on its transformed residual; the backend must still deliver the true one
    A = poisson2d(40) + sp.diags(np.linspace(0, 5, 1600))
    b = np.random.default_rng(2).standard_normal(1600)
    s = SequenceSolver(policy="fixed:ssor-cg(omega=1.8)", backend="petsc", rtol=1e-12, fallback=False)
    for _ in range(3):
        x = s.solve(A, b)
        assert np.linalg.norm(b - A @ x) <= 1e-12 * np.linalg.norm(b)
        b = b + 0.01 * np.random.default_rng(3).standard_normal(1600)


def test_petsc_mat_and_vec_inputs_give_a_vec_back():
    from petsc4py import PETSc

    A = random_spd(50, seed=4, density=0.2, shift=1.0).tocsr()
    M = PETSc.Mat().createAIJ(A.shape, csr=(A.indptr.astype(PETSc.IntType), A.indices.astype(PETSc.IntType), A.data),
                              comm=PETSc.COMM_SELF)
    rhs = np.arange(50.0)
    bv = PETSc.Vec().createWithArray(rhs.copy(), comm=PETSc.COMM_SELF)
    for backend in ("petsc", "scipy"):
        x = SequenceSolver(backend=backend).solve(M, bv)
        assert isinstance(x, PETSc.Vec)
        np.testing.assert_allclose(x.getArray(), spsolve(A.tocsc(), rhs), rtol=1e-6)
        assert_contract(A, rhs, x.getArray().copy(), 1e-8)


def test_a_mat_with_zeroed_dirichlet_rows_is_solved_by_petsc_cg():
    """``MatZeroRows`` (or ``bc.apply``) leaves a matrix that is not symmetric: its fixed rows are
    eliminated and the SPD rest goes to PETSc's CG (seqsolve.dirichlet_rows), Mat/Vec in and out."""
    from petsc4py import PETSc

    from test_dirichlet_rows import _enforced

    A, fixed = _enforced(diag=3.0)
    M = PETSc.Mat().createAIJ(A.shape, csr=(A.indptr.astype(PETSc.IntType), A.indices.astype(PETSc.IntType), A.data),
                              comm=PETSc.COMM_SELF)
    rhs = np.random.default_rng(1).standard_normal(A.shape[0])
    rhs[fixed] = 3.0
    s = SequenceSolver(rtol=1e-9, policy="fixed:ssor-cg(omega=1.5)", backend="petsc")
    x = s.solve(M, PETSc.Vec().createWithArray(rhs.copy(), comm=PETSc.COMM_SELF))
    assert isinstance(x, PETSc.Vec)
    assert_contract(A, rhs, x.getArray().copy(), 1e-9)
    np.testing.assert_allclose(x.getArray()[fixed], 1.0, rtol=0, atol=1e-15)


def test_value_only_updates_keep_one_mat_and_a_new_pattern_makes_another():
    A = poisson2d(10).tocsr()
    b = np.ones(100)
    s = SequenceSolver(policy="fixed:icc-cg", backend="petsc")
    s.solve(A, b)
    mat = s.backend.mats.mat
    for k in range(3):
        A.data *= 1.3  # the same object, changed in place: the copy must see it
        x = s.solve(A, b)
        assert s.backend.mats.mat is mat
        np.testing.assert_allclose(x, spsolve(A.tocsc(), b), rtol=1e-6)
    B = (A + sp.eye(100, k=15)).tocsr()  # new sparsity pattern: a new Mat
    x = s.solve(B + B.T, b)
    assert s.backend.mats.mat is not mat
    assert_contract(B + B.T, b, x, 1e-8)


def _drifting(n=20, steps=6):
    A0 = poisson2d(n).tocsr()
    rng = np.random.default_rng(5)
    for k in range(steps):
        yield (A0 + sp.diags(0.05 * k * (1 + rng.random(n * n)))).tocsr(), rng.standard_normal(n * n)


@pytest.mark.parametrize("amg", ["amg-cg", "hypre-cg"])
def test_reuse_schedules(amg):
    """rebuild: a new preconditioner per matrix; reuse: the first forever; adaptive: rent-or-buy."""
    records = {}
    for schedule in ("rebuild", "reuse", "adaptive"):
        s = SequenceSolver(policy=f"fixed:{amg}({schedule})", backend="petsc", fallback=False)
        for A, b in _drifting():
            assert_contract(A, b, s.solve(A, b), 1e-8)
        records[schedule] = [r.setup_reused for r in s.history]
    assert not any(records["rebuild"])
    assert records["reuse"] == [False] + [True] * 5
    assert records["adaptive"][0] is False


def test_direct_factorisation_is_reused_while_the_matrix_repeats():
    A, rng = poisson2d(15), np.random.default_rng(6)
    s = SequenceSolver(policy="fixed:cholesky", backend="petsc")
    for _ in range(3):
        b = rng.standard_normal(225)
        assert_contract(A, b, s.solve(A, b), 1e-8)
    assert [r.setup_reused for r in s.history] == [False, True, True]


def test_auto_on_the_petsc_backend_only_chooses_what_petsc_runs():
    s = SequenceSolver(backend="petsc")
    names = {c.kind for c in s.policy.candidates()}
    assert "icc-cg" in names and "hypre-cg" in names and not any(k.startswith("numba") for k in names)
    prob = seqsolve.problems.Heat2D(nx=20, steps=25)
    for _ in range(prob.steps):
        sys_ = prob.system()
        x = s.solve(sys_.A, sys_.b, context=sys_.context)
        assert_contract(sys_.A, sys_.b, x, 1e-8)
        prob.accept(x)


def test_fast_diag_runs_on_the_petsc_backend_and_auto_offers_it_with_a_hint():
    """An exact structured solve needs no KSP: the same NumPy method, certified as ever."""
    prob = seqsolve.problems.Heat2D(nx=64, steps=120)
    s = SequenceSolver(backend="petsc")
    assert "fast-diag" in {c.kind for c in s.policy.candidates()}
    for _ in range(prob.steps):
        sys_ = prob.system()
        x = s.solve(sys_.A, sys_.b, context=sys_.context, structure=sys_.structure)
        assert np.linalg.norm(sys_.b - sys_.A @ x) <= 1e-8 * np.linalg.norm(sys_.b)  # (too large for cond)
        prob.accept(x)
    assert [r.configuration for r in s.history[20:]].count("fast-diag") >= 0.9 * (prob.steps - 20)
    A, b = poisson2d(12), np.random.default_rng(4).standard_normal(144)
    from seqsolve.operators import KroneckerSum

    T = sp.diags_array([-np.ones(11), 2 * np.ones(12), -np.ones(11)], offsets=[-1, 0, 1])
    x = SequenceSolver(policy="fixed:fast-diag", backend="petsc").solve(A, b, structure=KroneckerSum([T, T]))
    assert np.allclose(x, spsolve(sp.csc_matrix(A), b), rtol=0, atol=1e-10 * np.abs(x).max())


def _grid_laplacian(n1: int, n2: int) -> sp.csr_array:
    """The 5-point Dirichlet Laplacian of an ``n1 x n2`` grid, assembled as a user would (no hint)."""
    T = [sp.diags_array([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], offsets=[-1, 0, 1]) for n in (n1, n2)]
    return sp.csr_array(sp.kron(T[0], sp.eye_array(n2)) + sp.kron(sp.eye_array(n1), T[1]))


# Heat2D-like (I + cL, definite); Helmholtz-like (L - k^2 I, indefinite)
@pytest.mark.parametrize("shift", [0.3, -40.0])
def test_fastdiag_cg_runs_on_the_petsc_backend_on_a_grid_found_in_the_pattern(shift):
    """The same NumPy/Numba method as on SciPy: a separable system is one exact step, certified."""
    L = _grid_laplacian(13, 17)
    A = sp.csr_array(L * 900 + shift * 900 / 30 * sp.eye_array(L.shape[0]))
    if shift < 0:  # k^2 between two eigenvalues of the Laplacian: symmetric indefinite
        assert np.linalg.eigvalsh(A.toarray()).min() < 0
    rng = np.random.default_rng(5)
    s = SequenceSolver(policy="fixed:fastdiag-cg", backend="petsc", rtol=1e-10, fallback=False)
    for step in range(3):
        A_k = sp.csr_array(A * (1 + 0.1 * step))  # a new scale: the sum follows it (setup reused)
        b = rng.standard_normal(A.shape[0])
        x = s.solve(A_k, b)
        assert_contract(A_k, b, x, 1e-10)
        np.testing.assert_allclose(x, spsolve(sp.csc_matrix(A_k), b), rtol=1e-7, atol=1e-9 * np.abs(x).max())
    assert [r.configuration for r in s.history] == ["fastdiag-cg"] * 3
    assert all(r.fallback is None for r in s.history)
    assert s.history[1].setup_reused and s.history[2].setup_reused


def test_fastdiag_cg_on_the_petsc_backend_takes_a_petsc_mat_and_a_variable_coefficient():
    """A petsc4py Mat of a non-separable grid operator: CG iterates, the tolerance is certified."""
    from petsc4py import PETSc

    L = _grid_laplacian(12, 10)
    n = L.shape[0]
    c = 1.0 + 0.5 * np.sin(np.arange(n) / 7.0)  # a variable reaction coefficient: not a Kronecker sum
    A = sp.csr_array(L + sp.diags_array(c))
    M = PETSc.Mat().createAIJ(size=A.shape, csr=(A.indptr.astype(PETSc.IntType),
                                                 A.indices.astype(PETSc.IntType), A.data))
    M.assemble()
    b = np.random.default_rng(6).standard_normal(n)
    bv = PETSc.Vec().createWithArray(b.copy())
    s = SequenceSolver(policy="fixed:fastdiag-cg", backend="petsc", rtol=1e-9, fallback=False)
    xv = s.solve(M, bv)
    x = xv.getArray().copy()
    assert_contract(A, b, x, 1e-9)
    np.testing.assert_allclose(x, spsolve(sp.csc_matrix(A), b), rtol=1e-6, atol=1e-9 * np.abs(x).max())
    assert s.history[-1].configuration == "fastdiag-cg" and s.history[-1].iterations > 1


def test_petsc_auto_offers_fastdiag_cg_on_a_grid_but_not_on_an_fem_mesh():
    s = SequenceSolver(backend="petsc")
    assert "fastdiag-cg" in {c.name for c in s.policy.candidates()}
    A = _grid_laplacian(14, 12)  # no margin: a hard separable system, as on SciPy it is bought at once
    b = np.ones(A.shape[0])
    x = s.solve(A, b)
    assert_contract(A, b, x, 1e-8)
    assert s.history[0].configuration == "fastdiag-cg"
    assert any(c.name == "fastdiag-cg" for c in s._allowed(A, True))
    fem = seqsolve.problems.suite()["fem-heat"].make("test")
    s = SequenceSolver(backend="petsc")
    for _ in range(5):
        sys_ = fem.system()
        x = s.solve(sys_.A, sys_.b, context=sys_.context)
        assert_contract(sys_.A, sys_.b, x, 1e-8)
        fem.accept(x)
        assert not any(c.name == "fastdiag-cg" for c in s._allowed(sys_.A, True))
    assert "fastdiag-cg" not in {r.configuration for r in s.history}


def test_fastdiag_cg_without_a_grid_is_refused_on_petsc_as_on_scipy():
    A = sp.csr_array(sp.random(50, 50, density=0.1, random_state=2))
    A = sp.csr_array(A @ A.T + 50 * sp.eye_array(50))
    messages = []
    for backend in ("scipy", "petsc"):
        with pytest.raises(seqsolve.SeqsolveError, match="fastdiag-cg") as info:
            SequenceSolver(policy="fixed:fastdiag-cg", backend=backend).solve(A, np.ones(50))
        messages.append((type(info.value), str(info.value)))
    assert messages[0] == messages[1]


def test_a_fastdiag_cg_state_learned_on_scipy_loads_and_is_used_on_petsc():
    """Same configuration name on both backends: what auto learned on one is exploited on the other."""
    from seqsolve.backends.petsc import PetscBackend
    from seqsolve.policies import AutoPolicy

    names = ["cg", "gmres", "bicgstab", "fastdiag-cg"]  # runnable by both backends
    prob = seqsolve.problems.suite()["helmholtz"].make("test")
    s = SequenceSolver(policy=AutoPolicy(names, seed=0))
    for _ in range(15):
        sys_ = prob.system()
        prob.accept(s.solve(sys_.A, sys_.b, context=sys_.context))
    assert [r.configuration for r in s.history[-5:]] == ["fastdiag-cg"] * 5
    policy = AutoPolicy(names, seed=0, backend=PetscBackend()).load_state_dict(s.policy.state_dict())
    t = SequenceSolver(policy=policy, backend="petsc")
    for _ in range(6):
        sys_ = prob.system()
        x = t.solve(sys_.A, sys_.b, context=sys_.context)
        assert_contract(sys_.A, sys_.b, x, 1e-8)
        prob.accept(x)
    assert [r.configuration for r in t.history].count("fastdiag-cg") >= 5


def test_the_distributed_portfolio_keeps_no_structured_kind():
    from seqsolve.backends.petsc.distributed import _Portfolio
    from seqsolve.policies.auto import default_candidates

    kinds = {c.kind for c in default_candidates(_Portfolio())}
    assert not kinds & {"fast-diag", "fastdiag-cg"}


def test_many_solvers_do_not_fill_petscs_options_database():
    """PETSc 3.18 keeps at most 512 options; a prefix per KSP filled it after ~100 solvers."""
    A, b = poisson2d(6), np.ones(36)
    for i in range(150):
        s = SequenceSolver(policy=f"fixed:ssor-cg(omega={1 + (i % 19) * 0.05:.2f})", backend="petsc")
        assert_contract(A, b, s.solve(A, b), 1e-8)


def test_a_configuration_petsc_cannot_run_is_refused_with_its_name():
    with pytest.raises(ConfigurationError, match="numba-cg"):
        SequenceSolver(policy="fixed:numba-cg", backend="petsc")


@pytest.mark.parametrize("policy", ["auto", "fixed:cg"])
def test_a_linear_operator_is_refused_with_the_backend_that_takes_it(policy):
    """PETSc needs assembled entries: a LinearOperator is refused naming the SciPy backend (the
    message used to advise 'fixed:cg' for the very configuration it refused)."""
    from scipy.sparse.linalg import aslinearoperator

    A = poisson2d(6)
    with pytest.raises(ConfigurationError, match="backend='scipy'"):
        SequenceSolver(policy=policy, backend="petsc").solve(aslinearoperator(A), np.ones(36))


def test_a_matrix_free_petsc4py_mat_is_solved_by_products_not_converted():
    """A petsc4py shell (``python``) Mat holds no entries: converted to AIJ, PETSc applied it to every
    unit vector — n products per solve (a 16k-unknown shell: 3 s a solve, where CG took 0.2 s).  It
    is now a LinearOperator: solved by CG with a few hundred products on the SciPy backend, refused
    with the backend to use on the PETSc one."""
    from petsc4py import PETSc

    A = poisson2d(20)
    n = A.shape[0]
    calls = []

    class Ctx:
        def mult(self, mat, x, y):
            calls.append(1)
            y.array[:] = A @ x.array_r

    M = PETSc.Mat().createPython([n, n], Ctx(), comm=PETSc.COMM_SELF)
    M.setUp()
    b = PETSc.Vec().createSeq(n)
    b.set(1.0)
    x = SequenceSolver(rtol=1e-10, policy="auto").solve(M, b)
    assert_contract(A, np.ones(n), x.getArray(), 1e-10)
    assert len(calls) < n // 2  # products of CG and its checks, no conversion
    with pytest.raises(ConfigurationError, match="backend='scipy'"):
        SequenceSolver(policy="auto", backend="petsc").solve(M, b)


def test_near_nullspace_reaches_gamg():
    A = elasticity2d(8)
    n = A.shape[0]
    xy = np.arange(n // 2, dtype=float)
    modes = np.zeros((n, 3))
    modes[0::2, 0] = 1
    modes[1::2, 1] = 1
    modes[0::2, 2], modes[1::2, 2] = -xy, xy
    b = np.random.default_rng(7).standard_normal(n)
    x = SequenceSolver(policy="fixed:amg-cg(rebuild)", backend="petsc").solve(A, b, near_nullspace=modes)
    assert_contract(A, b, x, 1e-8)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(systems(max_n=5), min_size=2, max_size=5),
       st.sampled_from(["auto", "fixed:ssor-cg(omega=1.5)", "fixed:cholesky", "fixed:gmres(ilu)", "fixed:direct"]))
@example(seq=[(np.array([[0.12573022]]), np.array([0.64042265])),
              (np.array([[0.12573022]]), np.array([0.64042265])),
              (np.array([[0.12573022, -0.13210486], [0.64042265, 0.10490012]]), np.array([-0.70373524, -1.26542147])),
              # a capped try whose residual and tiny target once made the projection take log(0)
              (np.array([[2.03325978e205, 6.66626658e203], [6.66626658e203, 2.42114521e205]]),
               np.array([-7.03735236e-127, -1.26542147e-126]))], policy="auto")
def test_contract_on_extreme_inputs_holds_on_the_petsc_backend(seq, policy):
    """The exact-arithmetic contract of test_accuracy_contract, on PETSc: a certified x or a SeqsolveError."""
    try:
        s = SequenceSolver(policy=policy, backend="petsc")
    except ConfigurationError:
        return
    for M, b in seq:
        A = sp.csr_array(M)
        outcome(A, M, b, 1e-8, 0.0, lambda: s.solve(A, b))


@pytest.mark.skipif(shutil.which("mpiexec") is None, reason="mpiexec is not installed (apt-get install mpi-default-bin)")
@pytest.mark.parametrize("guess", ["previous", "extrapolate(order=2)"])
def test_two_ranks_give_the_serial_answer(tmp_path, guess):
    """A Heat3D sequence under ``mpiexec -n 2`` (policy on rank 0, broadcast) equals the 1-rank run,
    also with the guess extrapolated on each rank's part of the vectors."""
    script = Path(__file__).parent / "mpi_heat3d.py"
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    out = {}
    for ranks in (1, 2):
        path = tmp_path / f"x{ranks}.npy"
        cmd = ["mpiexec", "--oversubscribe", "-n", str(ranks), sys.executable, str(script), str(path), "auto", guess]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        out[ranks] = np.load(path)
    assert out[1].shape == (12 ** 3,)
    assert np.linalg.norm(out[1] - out[2]) <= 1e-8 * np.linalg.norm(out[1])


def test_distributed_solver_on_one_rank_matches_a_direct_solve():
    """DistributedSolver in this (single-rank) process: Heat3D steps against spsolve of the same system."""
    from seqsolve.backends.petsc.distributed import DistributedSolver
    from seqsolve.problems.heat3d import Heat3D

    problem = Heat3D(n=6, steps=3)
    solver = DistributedSolver(rtol=1e-10)
    for _ in range(problem.steps):
        A, b, ctx = problem.system()
        x = solver.solve(A, b, context=ctx)
        indptr, indices, data = A.getValuesCSR()
        M = sp.csr_array((data, indices, indptr), shape=A.getSize())
        ref = spsolve(M.tocsc(), b.getArray())
        assert np.abs(x.getArray() - ref).max() <= 1e-7 * np.abs(ref).max()
        problem.accept(x)
    assert all(r.converged for r in solver.history) and len(solver.history) == 3
    zero = b.duplicate()
    zero.set(0.0)
    assert solver.solve(A, zero).norm() == 0.0


def test_distributed_solver_extrapolates_on_each_ranks_part_and_refuses_what_needs_communication():
    """A history-only initial guess (fixed weights) runs on each rank's part of the vectors: on a
    smooth sequence ``extrapolate`` starts closer than ``previous`` (fewer iterations, the same
    certified answers); a projection needs inner products of distributed vectors and is refused.
    A start far off is scaled by its optimal step, as on one process (``x0`` 10¹² everywhere, −10⁶
    times the solution)."""
    from seqsolve.backends.petsc.distributed import DistributedSolver
    from seqsolve.problems.heat3d import Heat3D

    from mpi_heat3d import solve_sequence

    runs = {}
    for guess in ("previous", "extrapolate(order=2)"):
        solver = DistributedSolver(rtol=1e-10, policy="fixed:cg", initial_guess=guess)
        solve_sequence(Heat3D(n=8, steps=12), solver)
        runs[guess] = solver.history
    assert runs["extrapolate(order=2)"][-1].initial_guess == "extrapolate(order=2)"
    assert runs["previous"][0].initial_guess == "zero" and runs["previous"][-1].initial_guess == "previous"
    its = {g: sum(r.iterations for r in h[4:]) for g, h in runs.items()}
    assert its["extrapolate(order=2)"] < its["previous"], its
    for bad in ("projection(k=4)", "auto", "pod(k=4)"):
        with pytest.raises(seqsolve.ConfigurationError, match="inner products"):
            DistributedSolver(initial_guess=bad)
    A, b, _ = Heat3D(n=8, steps=2).system()
    far = b.duplicate()
    far.set(1e12)
    solver = DistributedSolver(rtol=1e-10, policy="fixed:cg")
    x = solver.solve(A, b, x0=far)
    assert solver.history[-1].converged and solver.history[-1].fallback is None
    # a multiple of the solution far off (a Newton correction for the next) is scaled by its
    # optimal step, with collective dots: the solution itself, no iteration
    multiple = x.copy()
    multiple.scale(-1e6)
    solver.solve(A, b, x0=multiple)
    assert solver.history[-1].converged and solver.history[-1].iterations == 0


# --- per-call work: the certified pass handed over, the dominance verdict, the shared Mat ---

def _method(name):
    from seqsolve.backends.petsc import PetscBackend
    from seqsolve.configs import parse

    backend = PetscBackend()
    return backend, backend.build(parse(name))


@pytest.mark.parametrize("name", ["cg", "ssor-cg(omega=1.5)", "icc-cg", "cholesky", "gmres(ilu)"])
@pytest.mark.parametrize("shift", [0.0, 1.0])  # not dominant (SOR) and dominant (Eisenstat)
def test_the_methods_residual_pass_is_the_certified_check_bit_for_bit(name, shift):
    from seqsolve.accuracy import _kernels, check_residual

    A = (poisson2d(12) + shift * sp.eye_array(144)).tocsr()
    b = np.random.default_rng(8).standard_normal(144)
    _, m = _method(name)
    res = m.solve(m.setup(A, None), A, b, np.zeros(144), rtol=1e-10, atol=0.0, maxiter=1000)
    done = res.residual_pass
    assert res.status == "converged" and done is not None
    r, mag = np.empty(144), np.empty(144)
    terms, rr, mm = _kernels().residual_with_bound(A.indptr, A.indices, A.data, b, res.x, r, mag)
    assert (done.terms, done.rr, done.mm) == (terms, rr, mm)
    assert np.array_equal(done.r, r) and np.array_equal(done.mag, mag)
    bnorm = float(np.linalg.norm(b))
    handed, fresh = (check_residual(A, b, res.x, bnorm, 1e-10 * bnorm, d) for d in (done, None))
    assert (handed.residual, handed.upper, handed.error_bound) == (fresh.residual, fresh.upper, fresh.error_bound)
    assert handed.meets(1e-10 * bnorm)


def test_the_solver_makes_one_residual_pass_per_call(monkeypatch):
    """The method's final pass is the certificate: SequenceSolver does not compute it again."""
    import seqsolve._residual_kernels as kernels
    from seqsolve.accuracy import warmup

    warmup()
    calls = []
    original = kernels.residual_with_bound

    def counted(*args):
        calls.append(sys._getframe(1).f_code.co_name)  # who computed the pass
        return original(*args)

    monkeypatch.setattr(kernels, "residual_with_bound", counted)
    A, rng = poisson2d(15).tocsr(), np.random.default_rng(9)
    s = SequenceSolver(policy="fixed:ssor-cg(omega=1.6)", backend="petsc", rtol=1e-9, fallback=False)
    for k in range(4):
        A.data *= 1.01
        b = rng.standard_normal(225)
        assert_contract(A, b, s.solve(A, b), 1e-9)
    assert calls == ["_certified_pass"] * 4  # the method's, never check_residual's


def _pc_type(solver):
    (key, prepared, _), = solver._setups.values()
    return prepared.ksp.getPC().getType()


def test_eisenstat_only_on_strictly_dominant_values_and_the_verdict_follows_the_values():
    """PETSc 3.18's PCEISENSTAT crashed on singular/indefinite matrices: SOR sweeps elsewhere.
    One matrix object, updated in place between calls: the verdict is taken again each time."""
    A = (poisson2d(12) + sp.eye_array(144)).tocsr()  # strictly dominant
    diagonal = A.indices == np.repeat(np.arange(144), np.diff(A.indptr))
    b = np.random.default_rng(10).standard_normal(144)
    s = SequenceSolver(policy="fixed:ssor-cg(omega=1.5)", backend="petsc", rtol=1e-10, fallback=False)
    kinds = []
    for shift in (1.0, 0.0, 1e-3, 0.0, 2.0):  # plain Poisson: interior rows 4 = 1+1+1+1, not strict
        A.data[diagonal] = 4.0 + shift
        assert_contract(A, b, s.solve(A, b), 1e-10)
        kinds.append(_pc_type(s))
    assert kinds == ["eisenstat", "sor", "eisenstat", "sor", "eisenstat"]


def strictly_dominant(indptr, indices, data) -> bool:
    """Reference: every row's diagonal is positive and larger than the sum of its off-diagonal |a_ij|
    (row by row in plain Python, summing in the kernel's order)."""
    for i in range(len(indptr) - 1):
        diag = off = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            if indices[k] == i:
                diag += data[k]
            else:
                off += abs(data[k])
        if not diag > off:
            return False
    return True


@pytest.mark.parametrize("seed", range(6))
def test_the_fused_start_pass_agrees_with_the_dominance_scan_and_a_product(seed):
    from seqsolve.backends.petsc._kernels import residual, start

    rng = np.random.default_rng(seed)
    A = random_spd(40, seed=seed, density=0.15, shift=[1.0, 0.0, -0.5][seed % 3]).tocsr()
    if seed == 5:
        A.data[A.indices == 0] *= -1  # a negative diagonal entry in row 0
    x, b = rng.standard_normal(40), rng.standard_normal(40)
    r, r2 = np.empty(40), np.empty(40)
    rr, bb, dominant = start(A.indptr, A.indices, A.data, b, x, r)
    assert dominant == strictly_dominant(A.indptr, A.indices, A.data)
    np.testing.assert_allclose(r, b - A @ x, rtol=1e-12, atol=1e-12)
    assert (rr, bb) == residual(A.indptr, A.indices, A.data, b, x, r2) and np.array_equal(r, r2)
    assert rr == pytest.approx(float(r @ r)) and bb == pytest.approx(float(b @ b))


def test_a_method_whose_mat_was_overwritten_by_another_methods_setup_copies_its_matrix_back():
    """All methods of a backend share one Mat: a solve after another method's setup on other values
    must not solve with those values."""
    backend, cg = _method("cg")
    from seqsolve.configs import parse

    jacobi = backend.build(parse("jacobi-cg"))
    A1 = poisson2d(10).tocsr()
    A2 = (A1 + 3 * sp.eye_array(100)).tocsr()  # same pattern, other values
    b = np.random.default_rng(11).standard_normal(100)
    p1 = cg.setup(A1, None)
    jacobi.setup(A2, None)
    res = cg.solve(p1, A1, b, np.zeros(100), rtol=1e-10, atol=0.0, maxiter=1000)
    assert res.status == "converged"
    assert_contract(A1, b, res.x, 1e-10)
    assert res.iterations < 100  # CG on A1's own values, not refinement against A2's
    indptr, indices, data = backend.mats.mat.getValuesCSR()
    assert np.array_equal(data, A1.data)


def test_a_new_pattern_with_the_old_lengths_makes_a_new_mat():
    """The pattern comparison reads the arrays, not only their lengths (and writes nothing on a mismatch)."""
    A = poisson2d(8).tocsr()
    B = A.copy()
    B.indices = B.indices.copy()
    row = 20
    lo, hi = B.indptr[row], B.indptr[row + 1]
    B.indices[lo:hi] = np.sort((B.indices[lo:hi] + 7) % 64)  # same lengths, other columns
    B.has_sorted_indices = False
    B.sum_duplicates()
    if B.nnz != A.nnz:
        pytest.skip("the shifted row collided with itself")
    B.data = 2.0 * B.data
    backend, m = _method("cg")
    m.setup(A, None)
    mat, data = backend.mats.mat, backend.mats._held[-1].data
    m.setup(B, None)
    assert backend.mats.mat is not mat
    assert np.array_equal(data, A.data)  # the old Mat's values were left alone
    assert np.array_equal(backend.mats._held[-1].data, B.data)


def test_a_factorisation_built_for_this_matrix_is_not_redone_after_another_methods_setup():
    """An exploration before a fallback copies the same matrix into the shared Mat: the fallback's
    factor, built for these very values, is kept (PETSc refactorised it on the state change)."""
    from petsc4py import PETSc

    backend, chol = _method("cholesky")
    from seqsolve.configs import parse

    cg = backend.build(parse("cg"))
    A = poisson2d(12).tocsr()
    b = np.random.default_rng(3).standard_normal(144)
    PETSc.Log.begin()
    numeric = PETSc.Log.Event("MatCholFctrNum")
    p = chol.setup(A, None)
    assert chol.solve(p, A, b, np.zeros(144), rtol=1e-10, atol=0.0, maxiter=10).status == "converged"
    before = numeric.getPerfInfo()["count"]
    cg.setup(A, None)  # the same values, copied again by another method's setup
    res = chol.solve(p, A, b, np.zeros(144), rtol=1e-10, atol=0.0, maxiter=10)
    assert res.status == "converged"
    assert_contract(A, b, res.x, 1e-10)
    assert numeric.getPerfInfo()["count"] == before  # no second numeric factorisation


@pytest.mark.parametrize("amg", ["amg-cg", "hypre-cg"])
def test_a_reused_amg_that_overruns_is_rebuilt_on_the_spot(amg):
    """adaptive: a hierarchy reused on a matrix it no longer fits (isotropic → anisotropic ×1000)
    is stopped at three times its fresh iteration count and rebuilt, instead of running on (or
    being capped by the solver and falling back to another configuration)."""
    import pyamg

    k = 40
    iso = sp.csr_array(pyamg.gallery.poisson((k, k), format="csr"))
    stencil = pyamg.gallery.diffusion_stencil_2d(epsilon=1e-3, theta=0.0, type="FD")
    aniso = sp.csr_array(pyamg.gallery.stencil_grid(stencil, (k, k), format="csr"))
    assert (iso.indptr == aniso.indptr).all() and (iso.indices == aniso.indices).all()
    s = SequenceSolver(policy=f"fixed:{amg}(adaptive)", backend="petsc", fallback=False, rtol=1e-8)
    b = np.random.default_rng(5).standard_normal(k * k)
    for i, A in enumerate((iso, iso, aniso)):
        assert_contract(A, b, s.solve(A, b), 1e-8)
        if i == 0:  # a build dearer than any extra iterations: only the stopped reuse can be a miss
            next(iter(s._methods.values())).schedule.build_seconds = 1e3
    first, _, last = s.history
    assert last.setup_reused and last.fallback is None
    method = next(iter(s._methods.values()))
    assert method.schedule.builds == 2  # rebuilt within the solve
    # a miss whatever the stopped reuse's iterations cost (SciPy's rule: RebuildSchedule.gave_up),
    # so the next build is not reused: the rent-or-buy probes then double their period
    assert method.schedule.misses == 1 and method.schedule.skip == 0 and method.schedule.stale
    assert last.iterations <= 3 * first.iterations + 10 + 60, (first.iterations, last.iterations)


def test_a_reused_amg_is_rebuilt_before_the_solvers_cap_stops_it():
    """The solver caps an exploited configuration at about 3x its usual count — as tight as the
    method's own limit on a reused PC — so the reused PC gets half of what the solver allows and
    is rebuilt within the attempt rather than stopped and replaced by a fallback."""
    import pyamg

    from seqsolve.policies import FixedPolicy

    class Capped(FixedPolicy):
        limit = None

        def attempt_limit(self):
            return self.limit

    k = 40
    iso = sp.csr_array(pyamg.gallery.poisson((k, k), format="csr"))
    stencil = pyamg.gallery.diffusion_stencil_2d(epsilon=1e-3, theta=0.0, type="FD")
    aniso = sp.csr_array(pyamg.gallery.stencil_grid(stencil, (k, k), format="csr"))
    policy = Capped("hypre-cg(adaptive)")
    s = SequenceSolver(policy=policy, backend="petsc", rtol=1e-8)
    b = np.random.default_rng(5).standard_normal(k * k)
    assert_contract(iso, b, s.solve(iso, b), 1e-8)
    policy.limit = 3 * s.history[0].iterations + 10  # what auto allows its incumbent
    assert_contract(aniso, b, s.solve(aniso, b), 1e-8)
    assert s.history[-1].setup_reused and s.history[-1].fallback is None and s.history[-1].converged


# --------------------------------------------------------------------------- auto on PETSc: screening
# Scripted sequences (costs as measured on PETSc's suite workloads, no clock): what auto screens,
# in which order, and what it holds back on the PETSc backend's cost hints.

_SSOR, _ICC, _GAMG, _HYPRE, _CHOL = "ssor-cg(omega=1.5)", "icc-cg", "amg-cg(adaptive)", "hypre-cg(adaptive)", "cholesky"


def _scripted(candidates, costs, systems: int, n: int = 30000) -> list[str]:
    """``auto`` on the PETSc backend's hints, fed ``costs[name] = (iterations, first setup, solve,
    status)`` for every system (a new matrix each time; an adaptive AMG reuses its build); a
    status other than ``"converged"`` is a try that failed and fell back to SSOR-PCG."""
    import math

    from seqsolve import SolveRecord
    from seqsolve.backends.petsc import PetscBackend
    from seqsolve.policies import AutoPolicy
    from seqsolve.policies.base import SystemFacts

    p = AutoPolicy(candidates=candidates, seed=0, backend=PetscBackend())
    built, choices = set(), []
    for t in range(systems):
        p.observe(SystemFacts(n, repeated=False))
        c = p.select(None, n=n).name
        its, setup, solve, status = costs[c]
        reused = c in built and c.endswith("(adaptive)")
        built.add(c)
        failed = status != "converged"
        p.update((0.0 if reused else setup) + solve, SolveRecord(
            index=t, configuration=c, iterations=its, setup_seconds=0.0 if reused else setup,
            solve_seconds=solve, residual=1e-9, converged=True, fallback=_SSOR if failed else None,
            status=status, setup_reused=reused, projected_seconds=math.inf if failed else None))
        choices.append(c)
    return choices


def test_petsc_auto_predicts_icc_from_gamg_not_from_the_stronger_boomeramg():
    """FEM heat: SSOR-PCG 178 iterations, GAMG 17, BoomerAMG 6.  Priced as equals, the cheaper AMG
    (BoomerAMG) predicted ICC(0) at 36 iterations and it was tried on the fourth system (it needed
    128: 1.5x the best, then a fallback).  BoomerAMG is the stronger (DIFFICULTY_EXPONENT): the
    nearest stronger reference is GAMG, whose 17 say 289 — ICC(0) cannot win."""
    from seqsolve import SolveRecord
    from seqsolve.backends.petsc import PetscBackend
    from seqsolve.configs import parse
    from seqsolve.policies import AutoPolicy

    p = AutoPolicy(candidates=[_SSOR, _ICC, _GAMG, _HYPRE], seed=0, backend=PetscBackend())
    b = p._bin(None, 30000)
    # BoomerAMG measured cheaper than GAMG: the tie between the two AMGs was broken by cost
    for name, its, setup, solve in ((_SSOR, 178, 0.0, 0.060), (_GAMG, 17, 0.060, 0.030), (_HYPRE, 6, 0.030, 0.020)):
        p._last = (b, name, True)
        p.update(setup + solve, SolveRecord(index=0, configuration=name, iterations=its, setup_seconds=setup,
                                            solve_seconds=solve, residual=1e-9, converged=True))
    known = p._known(b, {_SSOR, _GAMG, _HYPRE})
    assert known[_HYPRE][0] < known[_GAMG][0]
    per = 0.060 / 178  # ICC(0)'s iteration costs SSOR-PCG's (PETSC_ITERATION_COST)
    assert p._predicted(parse(_ICC), known) >= 0.9 * 17 ** 2 * per > 1.25 * known[_HYPRE][0]


def test_petsc_auto_bounds_icc_by_ssor_pcgs_count_against_an_amg_incumbent():
    """A hard Fluid2D: SSOR-PCG 400 iterations, BoomerAMG 6 for a seventh of SSOR-PCG's time.
    BoomerAMG's count alone predicts ICC(0) at 36 iterations (on Fluid2D it needed 1.5x SSOR-PCG's,
    a capped loss); SSOR-PCG's count says at least 0.7 x 400, which cannot win: ICC(0) waits.
    Against SSOR-PCG alone ICC(0) may win, and is tried at once."""
    costs = {_SSOR: (400, 0.0003, 0.110, "converged"), _ICC: (600, 0.0015, 0.130, "converged"),
             _HYPRE: (6, 0.008, 0.007, "converged")}
    choices = _scripted([_SSOR, _ICC, _HYPRE], costs, 12)
    assert choices[1] == _HYPRE and _ICC not in choices, choices
    assert _scripted([_SSOR, _ICC], costs, 3)[1] == _ICC


def test_petsc_auto_holds_back_an_amg_once_the_other_amg_failed_outright():
    """Topology optimisation (elasticity, contrast 1e9): GAMG broke down after its setup and fell
    back; BoomerAMG, tried next, stagnated for 0.6 s (7x the best).  One AMG failing outright
    predicts the other to lose: the bounded factorisation goes next (either AMG may go first)."""
    costs = {_SSOR: (211, 0.001, 0.160, "converged"), _GAMG: (352, 0.060, 0.263, "error"),
             _HYPRE: (376, 0.122, 0.478, "stagnated"), _CHOL: (1, 0.145, 0.008, "converged")}
    choices = _scripted([_SSOR, _GAMG, _HYPRE, _CHOL], costs, 10)
    assert choices[0] == _SSOR and choices[1] in (_GAMG, _HYPRE) and choices[2] == _CHOL, choices
    assert _GAMG not in choices or _HYPRE not in choices, choices


def _policy_after_ssor(A, timed: float | None, candidates=None):
    """PETSc ``auto`` after one SSOR-PCG solve of ``A`` (100 iterations, 0.25 s), one product with
    ``A`` timed at ``timed`` seconds, the graph priced as 2-D."""
    from seqsolve import SolveRecord
    from seqsolve.backends.petsc import PetscBackend
    from seqsolve.policies import AutoPolicy
    from seqsolve.policies.base import SystemFacts

    p = AutoPolicy(candidates=candidates or [_SSOR, _CHOL], seed=0, backend=PetscBackend())
    p._product_seconds = lambda: timed  # one product with A, as timed on this matrix
    p._dimension = {A.shape[0]: (2.0, A.nnz / A.shape[0])}  # priced as 2-D (the dimension's growth: test_graph_dimension.py)
    b = p._bin(None, A.shape[0])
    p._last = (b, _SSOR, True)
    p.update(0.25, SolveRecord(index=0, configuration=_SSOR, iterations=100, setup_seconds=0.0,
                               solve_seconds=0.25, residual=1e-9, converged=True))
    p.observe(SystemFacts(A.shape[0], A=A))
    return p


def test_petsc_auto_prices_its_cholesky_in_timed_products():
    """PETSc's own first Cholesky factorisation cost 406-1474 products timed as ``A @ x`` on twelve
    planar sequences, whatever their density (a prior per unknown, MUMPS's, spread 0.65-4.2x
    around them): the prior is a flat count of products (``PETSC_SETUP_COST``), priced at a timed
    product where that is cheaper than what SSOR-PCG's first solve implies (on `jump-repeat` that
    implied 3.5x a timed product)."""
    from seqsolve.configs import parse
    from seqsolve.policies.priors import PETSC_SETUP_COST

    implied = 0.25 / 100 / 2.5  # seconds of one product: SSOR-PCG's iteration is 2.5 (PETSC_ITERATION_COST)
    fixed, products = PETSC_SETUP_COST["cholesky"]
    for A in (poisson2d(30), elasticity2d(12)):  # 5 and ~17 nonzeros per row: the same count
        for timed, per in ((None, implied), (3 * implied, implied), (implied / 4, implied / 4)):
            p = _policy_after_ssor(A, timed)
            expected = fixed + products * per
            assert abs(p._setup_estimate(p._fam_of[_CHOL], parse(_CHOL)) - expected) < 1e-9 * expected
    # and its solve at PETSc's price (12 products: its own triangular solves), not SciPy's 30
    p = _policy_after_ssor(poisson2d(30), implied / 4)
    assert abs(p._solve_products("cholesky") - 12.0) < 1e-9


def test_petsc_auto_weighs_a_cholesky_at_what_its_later_builds_cost():
    """`varcoef` (a new matrix of one pattern every system): PETSc's Cholesky cost 39 ms to build
    first, 10.5 ms later (the analysis is not repeated).  Whether it can win at all is judged at a
    later build (``PETSC_FIRST_SETUP_SHARE``): at its first build's price, beside a BoomerAMG
    charged 12 ms a system, it looked hopeless (over 3x) and was never tried; so judged, it is
    tried once the exploration budget allows (its first try is no bounded risk), and wins."""
    from seqsolve import SolveRecord
    from seqsolve.backends.petsc import PetscBackend
    from seqsolve.policies import AutoPolicy
    from seqsolve.policies.base import SystemFacts

    A = poisson2d(128)
    p = AutoPolicy(candidates=[_SSOR, _HYPRE, _CHOL], seed=0, backend=PetscBackend())
    p._product_seconds = lambda: 60e-6  # one product with A, as timed (16,384 unknowns)
    p._dimension = {A.shape[0]: (2.0, A.nnz / A.shape[0])}
    built, choices = False, []
    for t in range(160):
        p.observe(SystemFacts(A.shape[0], A=A, repeated=False))
        c = p.select(None, n=A.shape[0]).name
        if c == _CHOL:
            setup, solve, its = (0.0105 if built else 0.039), 0.0009, 1
            built = True
        elif c == _HYPRE:
            setup, solve, its = 0.008, 0.008, 7
        else:
            setup, solve, its = 0.0, 0.045, 120
        p.update(setup + solve, SolveRecord(index=t, configuration=c, iterations=its, setup_seconds=setup,
                                            solve_seconds=solve, residual=1e-9, converged=True))
        choices.append(c)
    assert choices[:2] == [_SSOR, _HYPRE] and _CHOL in choices and choices[-10:] == [_CHOL] * 10, choices


def test_petsc_auto_screens_boomeramg_before_gamg_and_icc_on_a_hard_system():
    """Fluid2D and p-Laplace: SSOR-PCG needs 149-276 iterations, BoomerAMG 6, GAMG 12-33, ICC(0)
    as many as SSOR-PCG.  BoomerAMG is the stronger AMG (DIFFICULTY_EXPONENT) and its build the
    cheaper (PETSC_SETUP_COST): its try comes second (on SciPy's priors ICC(0) went second on
    Fluid2D, GAMG on p-Laplace, and both lost); ICC(0), predicted from it, waits.  GAMG is still
    tried: one AMG's count does not bound another's (on FEM heat GAMG is the best)."""
    costs = {_SSOR: (276, 0.0004, 0.069, "converged"), _ICC: (192, 0.002, 0.052, "converged"),
             _GAMG: (33, 0.029, 0.035, "converged"), _HYPRE: (6, 0.016, 0.018, "converged")}
    choices = _scripted([_SSOR, _ICC, _GAMG, _HYPRE], costs, 8, n=16000)
    assert choices[:2] == [_SSOR, _HYPRE] and _ICC not in choices, choices
    fem_heat = {_SSOR: (178, 0.0005, 0.060, "converged"), _ICC: (128, 0.002, 0.061, "converged"),
                _GAMG: (17, 0.045, 0.024, "converged"), _HYPRE: (6, 0.040, 0.034, "converged")}
    choices = _scripted([_SSOR, _ICC, _GAMG, _HYPRE], fem_heat, 8)
    assert choices[:3] == [_SSOR, _HYPRE, _GAMG] and choices[-1] == _GAMG, choices


def test_rigid_body_modes_give_petscs_amgs_their_block_size():
    """2-D elasticity with its three rigid-body modes: GAMG and BoomerAMG need the Mat's block size
    (2 unknowns per node) — without it GAMG given the modes failed outright on the topology
    optimisation (PC failed, NaN) and BoomerAMG needed 8x the iterations.  A matrix ordered component
    by component has no such blocks: its block size stays 1."""
    import pyamg
    from seqsolve.backends.petsc.matrices import interleaved

    A, B = pyamg.gallery.linear_elasticity((24, 24), format="csr")
    A = sp.csr_array(A)
    b = np.random.default_rng(8).standard_normal(A.shape[0])
    for amg in ("amg-cg(rebuild)", "hypre-cg(rebuild)"):
        its = {}
        for modes in (None, B):
            s = SequenceSolver(policy=f"fixed:{amg}", backend="petsc", rtol=1e-8, fallback=False)
            assert_contract(A, b, s.solve(A, b, near_nullspace=modes), 1e-8)
            its[modes is None] = s.history[-1].iterations
            assert s.history[-1].fallback is None
        assert s.backend.mats.mat.getBlockSize() == 2
        assert its[False] < its[True], (amg, its)
    order = np.r_[0:A.shape[0]:2, 1:A.shape[0]:2]  # all x-unknowns, then all y-unknowns
    assert interleaved(B, 2) and not interleaved(B[order], 2)
    s = SequenceSolver(policy="fixed:amg-cg(rebuild)", backend="petsc", rtol=1e-8)
    P = sp.csr_array(A[order][:, order])
    assert_contract(P, b[order], s.solve(P, b[order], near_nullspace=B[order]), 1e-8)
    assert s.backend.mats.mat.getBlockSize() == 1


# ----------------------------------------------------------------------------- initial guesses
#: every strategy, with parameters small enough for short sequences, and the chooser
GUESSES = ["previous", "zero", "extrapolate(order=2)", "extrapolate(order=4,alternating=1)", "projection(k=4)",
           "projection(k=3,variant=minres)", "pod(k=2)", "deflation(k=2)", "auto"]


def _nonsymmetric_drifting(n=120, steps=6):
    A0 = random_nonsymmetric(n, seed=7, density=0.08)
    rng = np.random.default_rng(8)
    b = rng.standard_normal(n)
    for k in range(steps):
        yield (A0 + sp.diags(0.02 * k * rng.random(n))).tocsr(), b + 0.05 * k * rng.standard_normal(n)


def _recorded(solver, spec):
    """The guess each solve recorded is the strategy's canonical name (one of the chooser's arms
    for ``auto``); the first solve of a sequence has nothing to start from but still names it."""
    from seqsolve.guesses import AUTO_CANDIDATES, parse_guess

    allowed = {parse_guess(c).name for c in AUTO_CANDIDATES} if spec == "auto" else {parse_guess(spec).name}
    assert {r.initial_guess for r in solver.history} <= allowed
    assert all(0 <= r.guess_seconds <= r.setup_seconds for r in solver.history)


@pytest.mark.parametrize("spec", GUESSES)
@pytest.mark.parametrize("config", ["ssor-cg(omega=1.5)", "icc-cg", "amg-cg(adaptive)"])
def test_every_guess_strategy_keeps_the_contract_on_petsc_spd_sequences(spec, config):
    # ssor-cg: SOR sweeps on the first (not dominant) matrix, Eisenstat's trick on the later ones
    s = SequenceSolver(policy=f"fixed:{config}", backend="petsc", initial_guess=spec, rtol=1e-9, fallback=False)
    for A, b in _drifting():
        assert_contract(A, b, s.solve(A, b), 1e-9)
    _recorded(s, spec)
    assert all(r.fallback is None for r in s.history)


@pytest.mark.parametrize("spec", GUESSES)
def test_every_guess_strategy_keeps_the_contract_on_a_nonsymmetric_petsc_sequence(spec):
    s = SequenceSolver(policy="fixed:gmres(ilu)", backend="petsc", initial_guess=spec, rtol=1e-9)
    for A, b in _nonsymmetric_drifting():
        assert_contract(A, b, s.solve(A, b), 1e-9)
    _recorded(s, spec)


@pytest.mark.parametrize("workload", ["heat2d", "convdiff", "jump-repeat", "helmholtz", "fem-heat"])
@pytest.mark.parametrize("spec", ["projection(k=8)", "auto"])
def test_guesses_with_petsc_auto_on_suite_workloads(workload, spec):
    from seqsolve.problems import suite

    problem = suite()[workload].make("test")
    s = SequenceSolver(backend="petsc", initial_guess=spec, rtol=1e-8)
    for _ in range(8):
        system = problem.system()
        x = s.solve(system.A, system.b, context=system.context, near_nullspace=system.near_nullspace)
        assert np.linalg.norm(system.b - system.A @ x) <= 1e-8 * np.linalg.norm(system.b)
        problem.accept(x)
    used = {r.initial_guess for r in s.history}
    assert used - {"unused"}, "no solve used a guess"  # (a factorisation ignores x0: 'unused')
    assert used <= {"unused"} | ({"projection(k=8)"} if spec != "auto" else {
        "previous", "extrapolate(order=4,alternating=1)", "projection(k=4)", "projection(k=8)"})


@pytest.mark.parametrize("spec", ["projection(k=4)", "pod(k=2)", "auto"])
def test_guesses_with_petsc_mat_and_vec_inputs(spec):
    from petsc4py import PETSc

    s = SequenceSolver(backend="petsc", policy="fixed:icc-cg", initial_guess=spec)
    for A, b in _drifting(n=12, steps=5):
        M = PETSc.Mat().createAIJ(A.shape, csr=(A.indptr.astype(PETSc.IntType), A.indices.astype(PETSc.IntType),
                                                A.data), comm=PETSc.COMM_SELF)
        bv = PETSc.Vec().createWithArray(b.copy(), comm=PETSc.COMM_SELF)
        x = s.solve(M, bv)
        assert isinstance(x, PETSc.Vec)
        assert_contract(A, b, x.getArray().copy(), 1e-8)
    _recorded(s, spec)


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e12, 1e200, -3.0, "raise", "short"])
@pytest.mark.parametrize("config", ["ssor-cg(omega=1.5)", "icc-cg", "gmres(ilu)"])
def test_a_broken_guess_costs_nothing_over_a_cold_start_on_petsc(value, config):
    """Not finite, failing or of the wrong length: the solver starts from zero.  Finite but far
    off (10¹² everywhere, a constant −3) the KSP scales it by its optimal step (from zero where a
    residual overflows).  Either way no more iterations than ``initial_guess="zero"``, and no
    fallback (none allowed here)."""
    A = poisson2d(12) + sp.eye(144)  # strictly dominant: Eisenstat's trick for ssor-cg
    b = np.random.default_rng(9).standard_normal(144)
    broken, cold = (SequenceSolver(policy=f"fixed:{config}", backend="petsc", initial_guess=g, rtol=1e-9,
                                   fallback=False) for g in (BrokenGuess(value), "zero"))
    for _ in range(2):
        assert_contract(A, b, broken.solve(A, b), 1e-9)
        cold.solve(A, b)
        b = b + 0.1
    assert {r.initial_guess for r in broken.history} == {"broken"}
    assert all(r.iterations <= c.iterations for r, c in zip(broken.history, cold.history))


def test_petsc_factorisations_are_kept_per_alternating_matrix_and_new_matrices_refactorise_one_ksp():
    """Two matrices taking turns through one solver: PETSc's Cholesky and MUMPS's LU were
    refactorised on every solve (fixed LU 2.3x CG+SSOR on ``alternate``); each setup now owns its
    KSP, so the factors of a matrix that comes back are kept (seqsolve.recurring).  A sequence of
    new matrices still refactorises one KSP in place (its symbolic analysis reused)."""
    rng = np.random.default_rng(11)
    mats = [poisson2d(15) * 1.0, poisson2d(15) + 2.0 * sp.eye(225, format="csr")]
    for name in ("cholesky", "direct"):
        s = SequenceSolver(policy=f"fixed:{name}", backend="petsc", fallback=False)
        ksps = set()
        for k in range(12):
            A, b = mats[k % 2], rng.standard_normal(225)
            x = s.solve(A, b)
            np.testing.assert_allclose(x, spsolve(sp.csc_matrix(A), b), rtol=1e-8, atol=1e-10)
            ksps.add(id(_factor_ksp(s)))
        assert [k for k, r in enumerate(s.history) if not r.setup_reused] == [0, 1, 2]
        assert len(ksps) == 2  # (the first matrix's build at 0 was let go: its KSP refactorised at 2)
        t = SequenceSolver(policy=f"fixed:{name}", backend="petsc", fallback=False)
        ksps = set()
        for k in range(5):
            A = mats[0] * (1.0 + k)
            x = t.solve(A, np.ones(225))
            np.testing.assert_allclose(x, spsolve(sp.csc_matrix(A), np.ones(225)), rtol=1e-8, atol=1e-10)
            ksps.add(id(_factor_ksp(t)))
        assert len(ksps) == 1 and not any(r.setup_reused for r in t.history)


def test_systems_of_two_patterns_taking_turns_keep_their_mats_and_ksps():
    """A velocity and a pressure system (two sizes) through one solver: every switch of pattern
    made a new Mat and new KSPs, kept for the life of the process (keepalive), and rebuilt each
    setup from nothing.  The last few patterns' Mats and KSPs are kept now; a factorisation of
    each constant matrix is built once, then kept (seqsolve.recurring)."""
    from seqsolve.backends.petsc.keepalive import IMMORTAL

    rng = np.random.default_rng(12)
    big, small = poisson2d(20) + sp.eye(400, format="csr"), poisson2d(15) + 2.0 * sp.eye(225, format="csr")
    for name in ("ssor-cg", "hypre-cg", "cholesky"):
        s = SequenceSolver(policy=f"fixed:{name}", backend="petsc", fallback=False)
        before = len(IMMORTAL)
        for k in range(16):
            A = (big, small)[k % 2] * (1.0 + 0.1 * k)
            b = rng.standard_normal(A.shape[0])
            assert_contract(A, b, s.solve(A, b), 1e-8)
        assert len(IMMORTAL) - before == 4  # two Mats, and a KSP for each
    s = SequenceSolver(policy="fixed:cholesky", backend="petsc", fallback=False)
    for k in range(10):
        A = (big, small)[k % 2]
        b = rng.standard_normal(A.shape[0])
        np.testing.assert_allclose(s.solve(A, b), spsolve(sp.csc_matrix(A), b), rtol=1e-8, atol=1e-10)
    assert [k for k, r in enumerate(s.history) if not r.setup_reused] == [0, 1, 2]


def _factor_ksp(solver):
    """The KSP of the fixed factorisation's current setup (each setup owns one)."""
    (_, prepared, _), = solver._setups.values()
    return prepared.ksp


def test_a_band_is_factorised_by_petscs_own_factorisation_and_a_zero_pivot_hands_it_to_mumps():
    # a 1-D problem (seqsolve.band): MUMPS took 2.2 s on 200,000 unknowns, PETSc's own 27 ms
    n, rng = 400, np.random.default_rng(3)
    line = sp.csr_array(sp.diags([-np.ones(n - 1), 2.001 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]))
    for name in ("cholesky", "direct"):
        s = SequenceSolver(policy=f"fixed:{name}", backend="petsc", fallback=False)
        for scale in (1.0, 1.5):  # a second matrix of the pattern: refactorised, same KSP kind
            b = rng.standard_normal(n)
            assert_contract(line * scale, b, s.solve(line * scale, b), 1e-8)
        method, ksp = next(iter(s._methods.values())), _factor_ksp(s)
        assert id(ksp) in method._pivot_free and ksp.getPC().getFactorSolverType() == "petsc"
    # a stored zero on the diagonal needs a pivot: PETSc's own factorisation fails, MUMPS pivots
    swap = sp.diags([np.ones(n - 1), np.full(n, 1e-300), np.ones(n - 1)], [-1, 0, 1], format="csr")
    swap.data[swap.data == 1e-300] = 0.0
    swap = sp.csr_array(swap)
    s = SequenceSolver(policy="fixed:direct", backend="petsc", fallback=False)
    b = rng.standard_normal(n)
    x = s.solve(swap, b)
    assert np.linalg.norm(b - swap @ x) <= 1e-8 * np.linalg.norm(b) and s.history[-1].configuration == "direct"
    method = next(iter(s._methods.values()))
    assert not method._pivot_free and _factor_ksp(s).getPC().getFactorSolverType() == "mumps"
    # no band: Cholesky is still PETSc's own (nested dissection; MUMPS's solves cost 2-5x), LU MUMPS's
    grid = poisson2d(20)
    for name, package in (("cholesky", "petsc"), ("direct", "mumps")):
        s = SequenceSolver(policy=f"fixed:{name}", backend="petsc", fallback=False)
        b = rng.standard_normal(400)
        assert_contract(grid, b, s.solve(grid, b), 1e-8)
        assert _factor_ksp(s).getPC().getFactorSolverType() == package


def test_a_volume_graph_is_factorised_by_mumps_and_a_planar_one_by_petscs_own():
    """PETSc's own Cholesky (nested dissection) took 57 s on a tetrahedral ball of 41,727
    unknowns where MUMPS took 7.6 (and 19 s against 2.3 on 3-D elasticity): beyond planar graphs
    (``MatCache.planar``) Cholesky is MUMPS's; on a 2-D grid still PETSc's own."""
    m = 20
    e = np.ones(m)
    line = sp.diags([-e[:-1], 2 * e, -e[:-1]], [-1, 0, 1])
    eye = sp.identity(m)
    cube = sp.csr_array(sp.kron(sp.kron(line, eye), eye) + sp.kron(sp.kron(eye, line), eye)
                        + sp.kron(sp.kron(eye, eye), line) + 0.01 * sp.identity(m**3))
    rng = np.random.default_rng(5)
    for A, package in ((cube, "mumps"), (poisson2d(40), "petsc")):
        s = SequenceSolver(policy="fixed:cholesky", backend="petsc", fallback=False)
        for scale in (1.0, 2.0):  # a new matrix of the pattern: the same package refactorises
            b = rng.standard_normal(A.shape[0])
            x = s.solve(A * scale, b)
            assert np.linalg.norm(b - (A * scale) @ x) <= 1e-8 * np.linalg.norm(b)
        assert _factor_ksp(s).getPC().getFactorSolverType() == package
        assert all(r.configuration == "cholesky" and r.fallback is None for r in s.history)


@pytest.mark.parametrize("name", ["amg-cg(adaptive)", "amg-cg(reuse)", "hypre-cg(adaptive)", "hypre-cg(reuse)"])
def test_a_reused_pc_is_never_handed_a_matrix_of_another_size(name):
    # a mesh refined and coarsened: the sizes change every few systems.  A reused GAMG was handed
    # the larger Mat ("Cannot change local size of Amat") and its solve failed to a fallback
    rng = np.random.default_rng(9)
    s = SequenceSolver(policy=f"fixed:{name}", backend="petsc", fallback=False)
    for m in (12, 12, 16, 16, 12, 20):
        A = poisson2d(m) * (1.0 + 0.01 * rng.random())
        b = rng.standard_normal(m * m)
        assert_contract(A, b, s.solve(A, b), 1e-8)
    assert all(r.fallback is None and r.status == "converged" for r in s.history)


def test_benchmarks_can_warm_the_petsc_backend_up():
    from seqsolve.bench import warm_up

    warm_up("petsc")  # every configuration PETSc auto offers, on tiny systems: nothing raises


def test_a_symmetric_system_is_rescued_by_a_cholesky_before_an_lu():
    """The fallback chain puts the backend's Cholesky before its LU on a symmetric matrix (PETSc:
    0.5-1x the LU's build, 0.2-0.5x its solves; the learner then keeps the factor it measured
    there).  A non-symmetric matrix goes to the LU; a symmetric indefinite one is still solved
    (PETSc's own Cholesky hands a zero pivot to MUMPS, and the LU follows in the chain)."""
    rng = np.random.default_rng(2)
    A = poisson2d(30)
    b = rng.standard_normal(A.shape[0])
    s = SequenceSolver(policy="fixed:cg", backend="petsc", maxiter=3)
    x = s.solve(A, b)
    assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b) and s.history[0].fallback == "cholesky"
    N = random_nonsymmetric(200, seed=3)
    s = SequenceSolver(policy="fixed:gmres", backend="petsc", maxiter=2)
    b = rng.standard_normal(200)
    x = s.solve(N, b)
    assert np.linalg.norm(b - N @ x) <= 1e-8 * np.linalg.norm(b) and s.history[0].fallback == "direct"
    K = poisson2d(12)
    B = sp.csr_array(rng.standard_normal((20, K.shape[0])))
    saddle = sp.csr_array(sp.bmat([[K, B.T], [B, None]]))  # symmetric indefinite, a zero block
    b = rng.standard_normal(saddle.shape[0])
    s = SequenceSolver(policy="fixed:minres", backend="petsc", maxiter=2)
    x = s.solve(saddle, b)
    assert np.linalg.norm(b - saddle @ x) <= 1e-8 * np.linalg.norm(b)
    assert s.history[0].fallback in ("cholesky", "direct")


def test_a_constant_matrix_gets_its_cholesky_despite_an_exact_structured_incumbent():
    """A constant separable matrix (22,500 unknowns): ``fastdiag-cg`` solves it in one exact step
    (2.5 ms), and a commitment to such an incumbent lasts 64 systems; PETSc's Cholesky (63 ms,
    then 1.2 ms a solve) came into contention at the 32nd system and was tried after the 70th
    (in a 100-system sequence, at all only in some runs).  The commitment now ends where a
    held-back factorisation on the repeated matrix may pay."""
    from seqsolve import SolveRecord
    from seqsolve.backends.petsc import PetscBackend
    from seqsolve.policies import AutoPolicy
    from seqsolve.policies.base import SystemFacts

    A = poisson2d(150)
    p = AutoPolicy(candidates=["fastdiag-cg", _CHOL], seed=0, backend=PetscBackend())
    p._product_seconds = lambda: 80e-6  # one product with A, as timed
    p._dimension = {A.shape[0]: (2.0, A.nnz / A.shape[0])}
    built, choices = False, []
    for t in range(100):
        p.observe(SystemFacts(A.shape[0], A=A, repeated=t > 0, separable=True,
                              ready=frozenset({_CHOL}) if built else frozenset()))
        c = p.select(None, n=A.shape[0]).name
        if c == _CHOL:
            setup, solve, its, reused = (0.0 if built else 0.063), 0.0012, 1, built
            built = True
        else:
            setup, solve, its, reused = (0.0 if t else 0.004), 0.0025, 1, t > 0
        p.update(setup + solve, SolveRecord(index=t, configuration=c, iterations=its, setup_seconds=setup,
                                            solve_seconds=solve, residual=1e-9, converged=True,
                                            setup_reused=reused))
        choices.append(c)
    first = choices.index(_CHOL) if _CHOL in choices else None
    assert first is not None and 25 <= first <= 50 and choices[-10:] == [_CHOL] * 10, (first, choices)


def test_a_hard_first_system_is_handed_to_a_factorisation_after_its_rent():
    """A plate (the 13-point biharmonic, condition ~n²): PETSc's SSOR-PCG first try ran 1,001
    iterations (420-600 ms) before the LU took over.  Rented against the Cholesky the solver falls
    back to, it stops after about twice that factorisation's price, and the factorisation solves
    the system (and is measured there)."""
    m = 100  # (SSOR-PCG needs 2,300 iterations, stopped at ~620; at m = 70 it needs ~760 and a loaded machine let it finish)
    e = np.ones(m)
    line = sp.diags([e[:-1], -2 * e, e[:-1]], [-1, 0, 1])
    lap = sp.kronsum(line, line)
    A = sp.csr_array(lap @ lap + 1e-6 * sp.identity(m * m))
    b = np.random.default_rng(0).standard_normal(m * m)
    s = SequenceSolver(policy="auto", backend="petsc", seed=0)
    x = s.solve(A, b)
    assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)
    r = s.history[0]
    assert r.fallback == "cholesky" and r.iterations < 1000, (r.fallback, r.iterations)


def test_a_singular_consistent_sequence_is_solved_whatever_failed_first():
    """Pure Neumann with consistent right-hand sides, BoomerAMG fixed: on one system in twelve its
    coarsest solve failed ("indefinite"), the Cholesky fallback's near-zero pivot put a huge
    null-space part into x, and every later fallback started from that x stagnated at 2e-7 (its
    size bounds the accuracy reachable): a ConvergenceError.  Fallbacks now start from zero past
    such an iterate, and SSOR-PCG, which converges on a consistent singular system, is among them."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "unseen_sequences.py"
    spec = importlib.util.spec_from_file_location("unseen_sequences", path)
    unseen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(unseen)
    s = SequenceSolver(rtol=1e-8, policy="fixed:hypre-cg(adaptive)", backend="petsc")
    for A, b in unseen.neumann_singular(steps=6):  # (the 128² sequence where it failed)
        x = s.solve(A, b)  # (no unique solution to compare with: the true residual)
        assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)


def _neumann(m: int) -> sp.csr_array:
    """The 5-point pure-Neumann Laplacian on an m×m grid: rows (and columns) sum to zero, the
    constants its null space."""
    e = np.ones(m)
    line = sp.diags([-e[:-1], np.r_[1.0, 2 * e[1:-1], 1.0], -e[:-1]], [-1, 0, 1])
    return sp.csr_array(sp.kronsum(line, line))


@pytest.mark.parametrize("config", ["amg-cg(rebuild)", "hypre-cg(adaptive)", "gmres(ilu)"])
def test_a_pure_neumann_sequence_is_solved_by_the_krylov_method_itself(config):
    """Consistent right-hand sides of a singular pure-Neumann matrix, each solve started from the
    last solution: BoomerAMG-PCG stopped on an indefinite preconditioner at the third system and
    fell back to a factorisation (on `neumann-singular`'s 128² variable-coefficient sequence GAMG-PCG
    did on every system).  The Mat carries the constants as its null space now: each method
    converges by itself, with no fallback."""
    m = 64
    rng = np.random.default_rng(3)
    s = SequenceSolver(rtol=1e-8, policy=f"fixed:{config}", backend="petsc")
    for t in range(4):
        A = _neumann(m) * (1.0 + 0.1 * t)
        b = rng.standard_normal(m * m)
        b -= b.mean()  # consistent: orthogonal to the constants
        x = s.solve(A, b)
        assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)
    assert [r.fallback for r in s.history] == [None] * 4
    assert s.history[-1].iterations < 200


def test_the_null_space_goes_when_the_same_pattern_turns_nonsingular():
    """The constants are set as the null space only while the rows sum to zero: a shifted matrix of
    the same pattern next (its values copied into the same Mat) is solved as the nonsingular
    system it is, a right-hand side with a mean included (removing the constants there would
    leave that mean in the residual), then the singular one again."""
    from seqsolve.backends.petsc.method import PetscKSP

    m = 30
    N = _neumann(m)
    rng = np.random.default_rng(4)
    s = SequenceSolver(rtol=1e-10, policy="fixed:hypre-cg(adaptive)", backend="petsc", fallback=False)
    singular = []
    for shift in (0.0, 1e-2, 0.0):
        A = sp.csr_array(N + shift * sp.identity(m * m, format="csr"))
        A.sort_indices()
        b = rng.standard_normal(m * m) + 1.0
        if shift == 0.0:
            b -= b.mean()
        x = s.solve(A, b)
        assert np.linalg.norm(b - A @ x) <= 1e-10 * np.linalg.norm(b)
        if shift:
            assert x.mean() == pytest.approx(np.linalg.solve(A.toarray(), b).mean(), rel=1e-6)
        method = next(m for m in s._methods.values() if isinstance(m, PetscKSP))
        singular.append(method._mats.singular)
    assert singular == [True, False, True]


def test_rows_summing_to_zero_by_rounding_only_are_not_run_through_eisenstat():
    """A diagonal above its row's off-diagonal sum by a rounding's worth is strictly dominant to
    the dominance test, but its rows sum to zero to the null-space test: Eisenstat's transformed
    system has no constant null space (CG broke down on it, residual 1e4).  SOR sweeps run."""
    m = 20
    N = _neumann(m)
    A = sp.csr_array(N + 1e-14 * sp.diags(N.diagonal()))
    b = np.random.default_rng(5).standard_normal(m * m)
    b -= b.mean()
    s = SequenceSolver(policy="fixed:ssor-cg(omega=1.5)", backend="petsc", rtol=1e-8, fallback=False)
    x = s.solve(A, b)
    assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)
    assert _pc_type(s) == "sor"
