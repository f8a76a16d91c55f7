"""The suite workloads (FEM heat, Picard p-Laplacian, SIMP topology optimisation, convection–diffusion,
anisotropic 3-D heat, graph diffusion, jump coefficients, Helmholtz): well-formed systems, SPD-ness
where claimed, determinism, step counting, one physical check each, ``auto`` on every test-size
workload, and a smoke run of ``benchmarks/suite.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import seqsolve
from seqsolve import ConfigurationError, SequenceSolver
from seqsolve.problems import (AnisotropicHeat3D, ConvectionDiffusion, GraphDiffusion, Helmholtz, JumpCoefficients,
                               PicardPLaplacian, TopologyOptimization, TransientHeatFEM, suite)
from seqsolve.problems.suite import SIZES

from conftest import reference_solve

ROOT = Path(__file__).resolve().parents[1]

#: tiny instances (≤ ~200 unknowns) so dense checks are cheap
TINY = {
    "fem-heat": lambda seed=0: TransientHeatFEM(refine=3, steps=6, seed=seed),
    "plaplace": lambda seed=0: PicardPLaplacian(refine=1, loads=2, picard=3, seed=seed),
    "topopt": lambda seed=0: TopologyOptimization(nelx=12, nely=6, steps=6, seed=seed),
    "convdiff": lambda seed=0: ConvectionDiffusion(n=8, steps=6, seed=seed),
    "heat3d-aniso": lambda seed=0: AnisotropicHeat3D(m=5, steps=6, seed=seed),
    "graph-diffusion": lambda seed=0: GraphDiffusion(nodes=150, steps=6, seed=seed),
    "jump-repeat": lambda seed=0: JumpCoefficients(m=12, steps=6, redraw=1, seed=seed),
}
SYMMETRIC = {"fem-heat": True, "plaplace": True, "topopt": True, "convdiff": False, "heat3d-aniso": True,
             "graph-diffusion": True, "jump-repeat": True}
CONTEXT_KEYS = {"fem-heat": {"t"}, "plaplace": {"load", "picard"}, "topopt": {"design"}, "convdiff": {"t", "wind"},
                "heat3d-aniso": {"t"}, "graph-diffusion": {"t"}, "jump-repeat": {"t"}}


def advance(problem, k: int) -> None:
    """Solve and accept ``k`` systems with SciPy's direct solver."""
    for _ in range(k):
        s = problem.system()
        problem.accept(reference_solve(s.A, s.b))


# ----------------------------------------------------------------------------- common properties
@pytest.mark.parametrize("name", sorted(TINY))
def test_systems_are_well_formed_and_spd_where_claimed(name):
    problem = TINY[name]()
    for k in range(2):
        s = problem.system()
        A = s.A
        n = problem.n
        assert sp.issparse(A) and A.shape == (n, n) and A.dtype == np.float64
        assert s.b.shape == (n,) and np.all(np.isfinite(s.b)) and np.all(np.isfinite(A.data))
        assert s.index == k and problem.step == k
        assert set(s.context) == CONTEXT_KEYS[name]
        dense = A.toarray()
        asym = np.abs(dense - dense.T).max() / np.abs(dense).max()
        if SYMMETRIC[name]:
            assert asym < 1e-12
            assert np.linalg.eigvalsh(dense)[0] > 0.0
        else:
            assert asym > 1e-2
            assert np.linalg.eigvals(dense).real.min() > 0.0  # still nonsingular, positive real spectrum
        before = np.array(problem.state, copy=True)
        problem.accept(reference_solve(A, s.b))
        assert problem.step == k + 1
        assert not np.array_equal(before, problem.state), "accept() must advance the state"


@pytest.mark.parametrize("name", sorted(TINY))
def test_deterministic_with_seed_and_steps_counted(name):
    a, b, c = TINY[name](seed=1), TINY[name](seed=1), TINY[name](seed=2)
    advance(a, 2)
    advance(b, 2)
    advance(c, 2)
    sa, sb, sc = a.system(), b.system(), c.system()
    assert (sa.A != sb.A).nnz == 0 and np.array_equal(sa.b, sb.b) and sa.context == sb.context
    assert (sa.A != sc.A).nnz > 0 or not np.allclose(sa.b, sc.b), "the seed must change the sequence"

    advance(a, a.steps - 2)
    assert a.step == a.steps
    with pytest.raises(IndexError):
        a.system()
    a.reset()
    first = a.system()
    fresh = TINY[name](seed=1).system()
    assert a.step == 0 and (first.A != fresh.A).nnz == 0 and np.array_equal(first.b, fresh.b)


def test_missing_scikit_fem_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "skfem", None)  # makes `import skfem` raise ImportError
    for make in (TINY["fem-heat"], TINY["plaplace"], TINY["topopt"]):
        with pytest.raises(ConfigurationError, match=r"seqsolve\[fem\]"):
            make()
    # seqsolve itself and the finite-difference workload need no scikit-fem
    code = ("import sys; sys.modules['skfem'] = None; import seqsolve; "
            "from seqsolve.problems import ConvectionDiffusion, suite; "
            "assert 'fem-heat' in suite(); ConvectionDiffusion(n=4, steps=1).system()")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


# ----------------------------------------------------------------------------- physical checks
def test_heat_reaches_the_analytic_steady_state():
    # κ = 1, f = 1 on the unit disc: u → (1 − r²)/4; backward Euler with a long step gets there fast
    problem = TransientHeatFEM(refine=4, steps=25, dt=1.0, contrast=1.0, scheme="be")
    advance(problem, problem.steps)
    x, y = problem.basis.doflocs
    exact = (1.0 - x**2 - y**2) / 4.0
    assert np.abs(problem.nodal() - exact).max() < 2e-3  # P1 error on a 545-node mesh


def test_heat_matrix_changes_with_the_spot_and_is_reused_between_updates():
    problem = TransientHeatFEM(refine=3, steps=7, update_every=3)
    matrices = []
    for _ in range(problem.steps):
        s = problem.system()
        matrices.append(s.A)
        problem.accept(reference_solve(s.A, s.b))
    same = [matrices[i] is matrices[i + 1] for i in range(6)]
    assert same == [True, True, False, True, True, False]
    assert abs(matrices[0] - matrices[3]).max() > 1e-3  # the spot moved
    every = TransientHeatFEM(refine=3, steps=2)
    s0 = every.system()
    every.accept(reference_solve(s0.A, s0.b))
    assert abs(every.system().A - s0.A).max() > 1e-6


def test_plaplace_p2_is_one_poisson_solve_against_a_manufactured_solution():
    problem = PicardPLaplacian(refine=2, loads=1, picard=2, p=2.0, max_load=1.0, forcing="sine")
    s0 = problem.system()
    assert s0.context == {"load": 1.0, "picard": 0.0}
    advance(problem, 1)
    s1 = problem.system()
    assert abs(s1.A - s0.A).max() < 1e-12  # p = 2: the coefficient does not depend on u
    x, y = problem.basis.doflocs
    exact = np.sin(np.pi * x) * np.sin(np.pi * y)
    assert np.abs(problem.nodal() - exact).max() < 2e-3  # P2, h = 1/8


def test_plaplace_picard_iterations_converge_at_each_load():
    problem = PicardPLaplacian(refine=2, loads=2, picard=6)
    advance(problem, problem.steps)
    last_load = problem.changes[6:]
    assert last_load[-1] < 0.2 * last_load[1]
    mu = problem.coefficient(problem.u)
    assert mu.max() / mu.min() > 10.0  # p < 2: a real coefficient contrast


def test_topopt_rigid_body_modes_span_the_free_stiffness_null_space():
    problem = TopologyOptimization(nelx=12, nely=6, steps=3)
    advance(problem, 2)  # a non-uniform design
    K = problem.full_stiffness()
    R = problem.rigid_body_modes()
    assert R.shape == (K.shape[0], 3) and np.linalg.matrix_rank(R) == 3
    assert np.abs(K @ R).max() < 1e-10 * abs(K).max() * np.abs(R).max()
    # a mode that is not rigid (a stretch) is not in the null space
    stretch = np.zeros(K.shape[0])
    stretch[problem.basis.nodal_dofs[0]] = problem.basis.mesh.p[0]
    assert np.abs(K @ stretch).max() > 1e-3 * abs(K).max()
    B = problem.near_nullspace()
    assert B.shape == (problem.n, 3)
    assert np.array_equal(B, R[problem.free])


def test_topopt_compliance_decreases_and_volume_is_kept():
    problem = TopologyOptimization(nelx=24, nely=12, steps=6)
    advance(problem, problem.steps)
    c = np.array(problem.compliance)
    assert np.all(np.diff(c) < 0), c
    assert abs(problem.physical.mean() - problem.volfrac) < 1e-2
    young = problem.young()
    assert young.max() / young.min() > 1e3  # material is being removed: the contrast grows


def test_convection_diffusion_is_nonsymmetric_and_matches_spsolve():
    problem = ConvectionDiffusion(n=12, steps=8)
    solver = SequenceSolver(policy="fixed:gmres(ilu)", rtol=1e-10)
    for _ in range(problem.steps):
        s = problem.system()
        x = solver.solve(s.A, s.b)
        ref = reference_solve(s.A, s.b)
        assert np.linalg.norm(x - ref) <= 1e-7 * np.linalg.norm(ref)
        problem.accept(x)
    assert problem.u.min() > -1e-12  # upwinding: an M-matrix, so f ≥ 0 keeps u ≥ 0
    calm = ConvectionDiffusion(n=6, steps=1, wind=0.0).system().A
    assert abs(calm - calm.T).max() == 0.0  # no wind: pure diffusion is symmetric


# ----------------------------------------------------------------------------- suite and auto
def test_suite_registry_lists_every_workload_at_every_size():
    workloads = suite()
    assert set(workloads) == {"heat2d", "fluid2d", "fem-heat", "fem-heat-reuse", "plaplace", "topopt", "convdiff",
                              "heat3d-aniso", "graph-diffusion", "jump-repeat", "helmholtz"}
    assert [name for name, w in workloads.items() if not w.symmetric] == ["convdiff"]
    assert [name for name, w in workloads.items() if not w.definite] == ["helmholtz"]
    helmholtz, convdiff, heat = workloads["helmholtz"], workloads["convdiff"], workloads["heat2d"]
    assert helmholtz.fixed_configurations(["cg", "direct"], ["gmres", "direct"]) == ["cg", "direct", "gmres"]
    assert convdiff.fixed_configurations(["cg"], ["gmres"]) == ["gmres"]
    assert heat.fixed_configurations(["cg"], ["gmres"]) == ["cg"]
    for w in workloads.values():
        assert tuple(w.factories) == SIZES
    with pytest.raises(ConfigurationError):
        workloads["convdiff"].make("huge")


@pytest.mark.parametrize("name", list(suite()))
def test_every_holdout_workload_differs_from_its_bench_one_and_builds(name):
    """The holdout sizes are other sequences, not the bench ones renamed: another size or other
    parameters, each building a first system of benchmark scale."""
    workload = suite()[name]
    bench, holdout = workload.make("bench"), workload.make("holdout")
    assert bench.describe() != holdout.describe()
    A = holdout.system().A
    assert 3000 <= A.shape[0] <= 40000
    assert (abs(A - A.T).max() <= 1e-12 * abs(A).max()) == workload.symmetric  # (FEM assembly: to rounding)
    if not workload.definite:  # Helmholtz: k² beyond the Laplacian's smallest eigenvalue, 2π²
        assert holdout.shift(0) > 2 * np.pi ** 2


@pytest.mark.parametrize("name", list(suite()))
def test_every_small_workload_has_one_to_four_thousand_unknowns(name):
    """The "small" size is the regime where a solve takes milliseconds: 1k–4k unknowns, a sequence
    of 60–300 systems, the same kind of matrix as at bench size."""
    workload = suite()[name]
    small = workload.make("small")
    A = small.system().A
    assert 900 <= A.shape[0] <= 4000
    assert 60 <= small.steps <= 300
    assert (abs(A - A.T).max() <= 1e-12 * abs(A).max()) == workload.symmetric


@pytest.mark.parametrize("name", list(suite()))
def test_auto_completes_every_test_size_workload(name):
    problem = suite()[name].make("test")
    assert problem.n <= 700
    result = seqsolve.run(problem, SequenceSolver(policy="auto", rtol=1e-8), progress=False)
    assert len(result.history) == problem.steps
    assert all(r.converged and r.residual <= 1e-8 for r in result.history)


def test_benchmark_script_smoke(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "suite.py"), "--size", "test", "--steps", "3",
           "--workloads", "fem-heat,topopt", "--out", str(tmp_path), "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "auto ÷ best" in done.stdout
    record = json.loads((tmp_path / "suite_test_T3.json").read_text())
    w, elasticity = record["workloads"]
    assert w["workload"] == "fem-heat" and w["systems"] == 3 and not w["near_nullspace"]
    assert elasticity["workload"] == "topopt" and elasticity["near_nullspace"]
    methods = {m["method"]: m for m in w["methods"]}
    assert "auto" in methods and "numba-ssor-cg(omega=1.8)" in methods and "gmres(ilu)" not in methods
    assert all(len(m["seconds"]) == 3 and m["worst_residual"] <= 1e-8 for m in methods.values())
    assert (tmp_path / "suite_test_T3.md").stat().st_size > 0
    assert (tmp_path / "suite_test_T3.png").stat().st_size > 0


# ----------------------------------------------------------------------------- the added workloads
def test_anisotropic_heat_is_a_kronecker_sum_that_no_scalar_and_shift_follow():
    """Every matrix is exactly the Kronecker sum of its grid (one fast-diagonalisation solves it),
    but the next one is not ``α A + β I`` of it: the axis diffusivities move independently."""
    from seqsolve.operators.grid import detect_grid, separable
    from seqsolve.operators.structure import Structure

    problem = AnisotropicHeat3D(m=6, steps=3)
    s0 = problem.system()
    assert detect_grid(s0.A) == (6, 6, 6) and s0.grid_shape == (6, 6, 6)
    assert separable(s0.A, Structure((6, 6, 6)))[0]
    problem.accept(reference_solve(s0.A, s0.b))
    s1 = problem.system()
    D0, D1 = s0.A - sp.eye_array(216), s1.A - sp.eye_array(216)
    alpha = (D1 @ np.ones(216)).sum() / (D0 @ np.ones(216)).sum()
    assert abs(D1 - alpha * D0).max() > 1e-3 * abs(D1).max()  # no scalar maps one onto the other
    kx, ky, kz = problem.diffusivities(1e-3)
    assert kz == 1.0 and kx != ky


def test_graph_diffusion_conserves_mass_and_has_an_irregular_degree():
    """``(I + τL)`` with a graph Laplacian ``L``: each row sums to one (``L 1 = 0``), so a uniform
    state stays uniform; degrees vary (no grid, Jacobi's scaling matters)."""
    problem = GraphDiffusion(nodes=400, steps=2)
    A = problem.system().A
    assert np.allclose(A @ np.ones(400), 1.0, atol=1e-12)
    assert np.all(A.diagonal() >= 1.0) and (A - sp.diags_array(A.diagonal())).max() <= 0.0  # an M-matrix
    degrees = np.diff(A.indptr) - 1
    assert degrees.max() >= 2 * max(degrees.mean(), 1)
    from seqsolve.operators.grid import detect_grid

    assert detect_grid(A) is None


def test_jump_coefficients_repeat_the_matrix_within_a_run_and_span_the_contrast():
    problem = JumpCoefficients(m=20, steps=7, redraw=3, contrast=1e4, blocks=5)
    mats = []
    for _ in range(problem.steps):
        s = problem.system()
        mats.append(s.A)
        problem.accept(reference_solve(s.A, s.b))
    assert mats[0] is mats[1] is mats[2] and mats[3] is mats[4] is mats[5]
    assert abs(mats[3] - mats[0]).max() > 0
    off = -mats[0].data[mats[0].data < 0]
    assert off.max() / off.min() > 1e2  # harmonic face averages of a 1e4 contrast
    with pytest.raises(IndexError):
        problem.system()


def test_helmholtz_is_symmetric_indefinite_and_auto_meets_the_tolerance():
    """k² between the 2nd and 3rd Laplacian eigenvalues: two negative eigenvalues, symmetric;
    ``auto`` falls back from what breaks down and every answer matches a direct solve."""
    problem = Helmholtz(m=12, steps=12)
    s = problem.system()
    eig = np.linalg.eigvalsh(s.A.toarray())
    assert abs(s.A - s.A.T).max() == 0.0 and (eig < 0).sum() >= 2 and eig[-1] > 0
    solver = SequenceSolver(policy="auto", rtol=1e-10)
    for _ in range(problem.steps):
        s = problem.system()
        x = solver.solve(s.A, s.b)
        ref = reference_solve(s.A, s.b)
        assert np.linalg.norm(s.b - s.A @ x) <= 1e-10 * np.linalg.norm(s.b) * (1 + 1e-9)
        assert np.linalg.norm(x - ref) <= 1e-6 * np.linalg.norm(ref)
        problem.accept(x)
