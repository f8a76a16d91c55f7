"""Pin the Heat2D definition (shared/workloads.md) with an independent dense re-implementation, and
check that every portfolio kind produces the same final state as a direct solve."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

import seqsolve
from seqsolve import SequenceSolver
from seqsolve.configs import portfolio
from seqsolve.problems import Heat2D

from conftest import compiled_available, reference_solve


# ----------------------------------------------------------------------------- independent reference
def ref_c(t: float) -> float:
    s = math.sin(2 * math.pi * t)
    return max(0.1 * s, -10.0 * s)


def ref_bump(x: float, y: float, cx: float, cy: float, r: float) -> float:
    s = min(1.0, ((x - cx) ** 2 + (y - cy) ** 2) / r**2)
    return 0.0 if s == 1.0 else math.exp(1.0 - 1.0 / (1.0 - s))


def ref_points(nx: int) -> list[tuple[float, float]]:
    """Unknown k at (i dx, j dx), i, j = 1..nx-1, j fastest."""
    dx = 1.0 / nx
    return [(i * dx, j * dx) for i in range(1, nx) for j in range(1, nx)]


def ref_laplacian(nx: int) -> np.ndarray:
    """Dense 5-point Laplacian / dx² with loops (Dirichlet: neighbours outside are dropped)."""
    m, dx = nx - 1, 1.0 / nx
    L = np.zeros((m * m, m * m))
    for i in range(m):
        for j in range(m):
            k = i * m + j
            L[k, k] = -4.0 / dx**2
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                ii, jj = i + di, j + dj
                if 0 <= ii < m and 0 <= jj < m:
                    L[k, ii * m + jj] = 1.0 / dx**2
    return L


def ref_first_system(nx: int, dt: float) -> tuple[np.ndarray, np.ndarray, float]:
    pts = ref_points(nx)
    h = 0.0 + dt / 2
    c = ref_c(h)
    L = ref_laplacian(nx)
    K = (c * dt / 2) * L
    A = np.eye(len(pts)) - K
    u0 = np.array([ref_bump(x, y, 0.5, 0.5, 0.25) for x, y in pts])
    cx, cy = 0.5 + math.cos(16 * math.pi * h) / 4, 0.5 + math.sin(16 * math.pi * h) / 4
    f = np.array([32.0 * ref_bump(x, y, cx, cy, 0.125) for x, y in pts])
    b = (np.eye(len(pts)) + K) @ u0 + dt * f
    return A, b, c


# ----------------------------------------------------------------------------- the definition
@pytest.mark.parametrize("dt", [1e-3, 0.05])
def test_first_system_matches_the_definition_nx4(dt):
    p = Heat2D(nx=4, steps=3, dt=dt)
    s = p.system()
    A_ref, b_ref, c_ref = ref_first_system(4, dt)
    assert s.A.shape == (9, 9) and p.n == 9
    assert sp.issparse(s.A)
    np.testing.assert_allclose(s.A.toarray(), A_ref, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(s.b, b_ref, rtol=1e-13, atol=1e-15)
    assert set(s.context) == {"c"}
    assert s.context["c"] == pytest.approx(c_ref, rel=1e-14)
    assert s.index == 0
    assert s.grid_shape == (3, 3)


def test_matrix_entries_nx4_explicitly():
    """Independent of any helper: diagonal 1 + 2 c dt (4/dx²)/2 ... written out for nx = 4."""
    dt = 1e-3
    p = Heat2D(nx=4, steps=1, dt=dt)
    A = p.system().A.toarray()
    c = max(0.1 * math.sin(2 * math.pi * dt / 2), -10 * math.sin(2 * math.pi * dt / 2))
    a = c * dt / 2 * 16.0  # (c dt / 2) / dx², dx = 1/4
    assert A[0, 0] == pytest.approx(1 + 4 * a, rel=1e-14)
    assert A[0, 1] == pytest.approx(-a, rel=1e-14)  # (1,1)-(1,2): j neighbour, next index
    assert A[0, 3] == pytest.approx(-a, rel=1e-14)  # (1,1)-(2,1): i neighbour, 3 indices on
    assert A[2, 3] == 0.0  # (1,3) and (2,1) are not neighbours: no wrap-around
    assert A[0, 4] == 0.0  # no diagonal neighbours
    np.testing.assert_array_equal(A, A.T)


def test_first_rhs_ordering_is_j_fastest():
    """The forcing bump at h = dt/2 sits near (0.75, 0.5) (cos ≈ 1): large i, middle j."""
    p = Heat2D(nx=8, steps=1, dt=1e-3)
    f = p.forcing(p.dt / 2).reshape(7, 7)  # [i, j]
    i, j = np.unravel_index(np.argmax(f), f.shape)
    assert (i + 1) / 8 == pytest.approx(0.75, abs=0.13)
    assert (j + 1) / 8 == pytest.approx(0.5, abs=0.13)
    # the same check against the reference layout
    pts = ref_points(8)
    assert pts[int(np.argmax(p.forcing(p.dt / 2)))] == ((i + 1) / 8, (j + 1) / 8)


def test_later_step_uses_the_previous_solution():
    dt = 0.01
    p = Heat2D(nx=4, steps=3, dt=dt)
    x0 = reference_solve(p.system().A, p.system().b)
    p.accept(x0)
    s = p.system()
    h = dt + dt / 2
    c = ref_c(h)
    K = (c * dt / 2) * ref_laplacian(4)
    pts = ref_points(4)
    cx, cy = 0.5 + math.cos(16 * math.pi * h) / 4, 0.5 + math.sin(16 * math.pi * h) / 4
    f = np.array([32.0 * ref_bump(x, y, cx, cy, 0.125) for x, y in pts])
    np.testing.assert_allclose(s.A.toarray(), np.eye(9) - K, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(s.b, x0 + K @ x0 + dt * f, rtol=1e-13, atol=1e-15)
    assert s.index == 1 and p.step == 1
    assert s.context["c"] == pytest.approx(c, rel=1e-14)


def test_sequence_length_and_end():
    p = Heat2D(nx=4, steps=5)
    assert p.steps == 5
    for k in range(5):
        s = p.system()
        assert s.index == k
        p.accept(np.zeros(p.n))
    with pytest.raises(IndexError):
        p.system()
    r = seqsolve.run(p, SequenceSolver(policy="fixed:direct"), progress=False)
    assert len(r.history) == 5


def test_diffusion_becomes_large_around_t_075():
    p = Heat2D(nx=4, steps=1000)
    cs = []
    for _ in range(1000):
        cs.append(p.system().context["c"])
        p.accept(p.u)
    cs = np.array(cs)
    h = (np.arange(1000) + 0.5) * 1e-3
    np.testing.assert_allclose(cs, [ref_c(t) for t in h], rtol=1e-9, atol=1e-15)  # t accumulates by += dt
    assert np.all(cs >= 0)
    assert cs[:500].max() <= 0.1 + 1e-12  # small and positive during the first half period
    k = int(np.argmax(cs))
    assert 740 <= k <= 760 and cs[k] == pytest.approx(10.0, rel=1e-4)
    assert cs[749] > 9.99


def test_bad_parameters():
    for kw in (dict(nx=2), dict(nx=4.5), dict(steps=0), dict(dt=0.0), dict(dt=float("nan"))):
        with pytest.raises(seqsolve.InvalidSystemError):
            Heat2D(**kw)


def test_reset_reproduces():
    p = Heat2D(nx=6, steps=8)
    r1 = seqsolve.run(p, SequenceSolver(policy="fixed:cg"), progress=False)
    first = [(h.context["c"], h.iterations) for h in r1.history]
    state1 = r1.state.copy()
    p.reset()
    assert p.step == 0
    b0 = p.system().b
    np.testing.assert_array_equal(b0, Heat2D(nx=6, steps=8).system().b)
    r2 = seqsolve.run(p, SequenceSolver(policy="fixed:cg"), progress=False)
    np.testing.assert_array_equal(r2.state, state1)
    assert [(h.context["c"], h.iterations) for h in r2.history] == first


# ----------------------------------------------------------------------------- every kind agrees
def _kinds() -> list:
    """Every configuration of the portfolio, except that ω-kinds are represented by a few ω."""
    names = []
    for c in portfolio():
        if c.kind == "dcdm":
            continue  # grid-specific neural model: covered by tests/test_neural.py
        if "omega" in dict(c.params):
            names += [f"{c.kind}(omega={w})" for w in (1, 1.5, 1.95) if not (c.kind == "sor" and w == 1.95)]
        else:
            names.append(c.name)
    out = []
    for name in dict.fromkeys(names):  # unique, in order
        marks = []
        if name.startswith("numba") and not compiled_available():
            marks = [pytest.mark.skip(reason="seqsolve/solvers/compiled.py defines no CompiledPCG")]
        out.append(pytest.param(name, id=name, marks=marks))
    return out


NX, STEPS, RTOL = 12, 30, 1e-8
#: the paper's dt (c stays below 0.02 over 30 steps) and a coarse dt reaching c ≈ 10 at the end
DTS = [pytest.param(1e-3, id="dt=1e-3"), pytest.param(0.025, id="dt=0.025")]


@pytest.fixture(scope="module", params=DTS)
def direct_reference(request):
    dt = request.param
    p = Heat2D(nx=NX, steps=STEPS, dt=dt)
    states, conds, cs = [], [], []
    for _ in range(STEPS):
        s = p.system()
        x = reference_solve(s.A, s.b)
        # A = I - (c dt/2) L with spec(-L) in (0, 8/dx^2): cond(A) <= 1 + (c dt/2) 8 nx^2
        conds.append(1.0 + s.context["c"] * dt / 2 * 8 * NX**2)
        cs.append(s.context["c"])
        p.accept(x)
        states.append(x)
    return dt, states[-1], max(conds), sum(np.linalg.norm(x) for x in states), max(cs)


@pytest.mark.parametrize("name", _kinds())
def test_every_kind_gives_the_direct_final_state(name, direct_reference):
    dt, final_ref, kappa, sum_norms, c_max = direct_reference
    assert c_max > 9.9 if dt > 0.01 else c_max < 0.02
    p = Heat2D(nx=NX, steps=STEPS, dt=dt)
    r = seqsolve.run(p, SequenceSolver(rtol=RTOL, policy=f"fixed:{name}"), progress=False)
    assert len(r.history) == STEPS
    assert all(h.converged for h in r.history)
    assert all(h.residual <= RTOL for h in r.history)
    assert all(h.fallback is None for h in r.history)  # the configuration itself did the work
    assert [h.index for h in r.history] == list(range(STEPS))
    assert all(h.configuration == seqsolve.parse_configuration(name).name for h in r.history)
    # per-step error <= kappa * rtol * ||x_k||; Crank-Nicolson propagates errors without growth
    # (symmetric, ||(I - K)^-1 (I + K)|| <= 1), so they add up over the steps (2x slack)
    bound = 2.0 * kappa * RTOL * sum_norms
    assert np.linalg.norm(r.state - final_ref) <= bound
    assert r.summary()["solves"] == STEPS
