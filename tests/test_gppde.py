"""GP-HM on a grid: kernel derivatives, the structured MAP solve, and recovery of analytic solutions."""

from __future__ import annotations

import numpy as np
import pytest

import seqsolve
from seqsolve import SequenceSolver
from seqsolve.errors import InvalidSystemError
from seqsolve.problems.gppde import GPPoisson, MaternCosine, factors_1d, sin_solution


def test_kernel_second_derivative_matches_finite_differences():
    k = MaternCosine((1.0, 0.5), (0.3, 0.1), (7.0, 0.0))
    r = np.linspace(-0.5, 0.5, 101)
    h = 1e-4
    fd = (k.values(r + h)[0] - 2 * k.values(r)[0] + k.values(r - h)[0]) / h**2
    np.testing.assert_allclose(k.values(r)[1], fd, rtol=1e-5, atol=1e-4 * np.abs(fd).max())


def test_differentiation_matrix_differentiates_smooth_functions():
    x = np.linspace(0, 1, 60)
    fac = factors_1d(MaternCosine((1.0,), (0.5,), (3.0,)), x)
    u = np.sin(3 * x) + 0.5 * np.cos(2 * x)
    exact = -9 * np.sin(3 * x) - 2 * np.cos(2 * x)
    inner = slice(5, -5)  # interpolation is least accurate at the ends
    assert np.abs(fac.D @ u - exact)[inner].max() < 1e-3 * np.abs(exact).max()


def run(problem, policy="fixed:fast-diag"):
    solver = SequenceSolver(rtol=1e-10, policy=policy)
    seqsolve.run(problem, solver, progress=False)
    return solver


def test_gp_recovers_a_low_frequency_solution_on_a_small_2d_grid():
    # u = sin(3x)·sin(3y) on a 24×24 grid: relative L2 error below 5e-5 (stated accuracy; the
    # defaults are tuned for high frequencies on fine grids, so the length scales are given here)
    problem = GPPoisson(24, 2, sin_solution(3.0, 2), max_frequency=12.0, scan=5, refine=4,
                        scan_lengthscale=0.5, stages=((1.0, 1.0), (2.0, 0.5)))
    solver = run(problem)
    assert problem.error() < 5e-5
    assert all(r.configuration == "fast-diag" and r.fallback is None for r in solver.history)
    assert len(solver.history) == problem.steps == 5 + 2 * 4
    # the outer loop improves on the first kernel, and its choice is the best validation score
    assert problem.error() < problem.trials[0].error
    assert min(t.validation for t in problem.trials) == pytest.approx(problem.best[0])


def test_gp_1d_high_frequency_finds_the_frequency():
    problem = GPPoisson(120, 1, sin_solution(40.0, 1), scan=9, refine=6)
    run(problem)
    assert problem.error() < 1e-5
    best = min(problem.trials, key=lambda t: t.validation)
    assert abs(best.frequency - 40.0) < 2.0


def test_gp_system_is_the_interior_collocation_of_the_kernel_laplacian():
    problem = GPPoisson(30, 2, sin_solution(2.0, 2), scan=3, refine=3, scan_lengthscale=0.5)
    s = problem.system()
    # the exact solution's interior values satisfy the system to the interpolation error only
    ui = problem.U_true[1:-1, 1:-1].ravel()
    assert np.linalg.norm(s.A @ ui - s.b) < 2e-3 * np.linalg.norm(s.b)
    assert s.structure is s.A and s.A.grid_shape == (28, 28)


def test_gp_problem_checks_its_arguments():
    with pytest.raises(InvalidSystemError):
        GPPoisson(3, 2)
    with pytest.raises(InvalidSystemError):
        GPPoisson(20, 4)
    with pytest.raises(InvalidSystemError):
        MaternCosine((1.0,), (0.0,), (1.0,))


@pytest.mark.slow
def test_gp_hm_paper_benchmark_200():
    problem = GPPoisson(200, 2)
    run(problem)
    assert problem.error() < 1e-3


def test_gp_map_with_equation_noise_tends_to_the_collocation_solution():
    # GP-HM's MAP with the prior term: CG on I + τ G⁻ᵀ P G⁻¹ (two fast-diag solves per product);
    # as τ → 0 its solution is the collocation solution
    kw = {"max_frequency": 12.0, "scan": 3, "refine": 3, "scan_lengthscale": 0.5, "stages": ((1.0, 1.0),)}
    exact = GPPoisson(24, 2, sin_solution(3.0, 2), **kw)
    run(exact)
    noisy = GPPoisson(24, 2, sin_solution(3.0, 2), noise=1e-12, **kw)
    solver = run(noisy, policy="fixed:cg")
    assert all(r.fallback is None and r.iterations < 100 for r in solver.history)
    np.testing.assert_allclose(noisy.state, exact.state, atol=1e-6 * np.abs(exact.state).max())
    assert noisy.error() < 1e-4
    with pytest.raises(InvalidSystemError):
        GPPoisson(24, 2, noise=-1.0)
