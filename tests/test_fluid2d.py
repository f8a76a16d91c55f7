"""Tests for the Fluid2D problem (stable-fluids flow past moving obstacles)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import spsolve

from seqsolve.errors import ConfigurationError, InvalidSystemError, UnsupportedTypeError
from seqsolve.problems.base import LinearSystem, SequenceProblem
from seqsolve.problems.fluid2d import (
    Fluid2D,
    apply_pressure_gradient,
    divergence,
    pressure_matrix,
    pressure_rhs,
    random_obstacle_mask,
    resolve_pockets,
)


def solve(s: LinearSystem) -> np.ndarray:
    return spsolve(sp.csc_matrix(s.A), s.b)


def run(f: Fluid2D, k: int) -> None:
    for _ in range(k):
        f.accept(solve(f.system()))


def check_spd_layout(A, solid: np.ndarray) -> None:
    n2 = solid.size
    assert isinstance(A, sp.csr_array)
    assert A.dtype == np.float64 and A.shape == (n2, n2)
    D = A.toarray()
    np.testing.assert_array_equal(D, D.T)
    assert np.linalg.eigvalsh(D).min() > 1e-10
    rows = np.flatnonzero(solid.ravel())
    np.testing.assert_array_equal(D[rows], np.eye(n2)[rows])
    # fluid rows: unscaled Laplacian, off-diagonals are -1, diagonal is a small integer
    fl = np.flatnonzero(~solid.ravel())
    off = D[fl] - np.diag(np.diag(D))[fl]
    assert set(np.unique(off)) <= {-1.0, 0.0}
    assert np.all(np.isin(np.diag(D)[fl], [1.0, 2.0, 3.0, 4.0]))


# ---------------------------------------------------------------- matrix


def test_problem_matrix_spd_identity_rows_rhs_zero_on_solid():
    f = Fluid2D(16, 10, seed=0)
    assert isinstance(f, SequenceProblem) and f.name == "fluid2d"
    s = f.system()
    assert s.index == 0 and s.grid_shape == (16, 16)
    solid = f.solid
    assert solid.any() and not solid.all()
    check_spd_layout(s.A, solid)
    assert s.b.shape == (256,) and s.b.dtype == np.float64
    assert np.all(s.b[solid.ravel()] == 0.0)
    assert np.abs(s.b).max() > 0


def test_hand_computed_3x3():
    solid = np.zeros((3, 3), bool)
    solid[1, 1] = True
    expected = np.array(
        [
            # 0  1  2  3  4  5  6  7  8
            [2, -1, 0, -1, 0, 0, 0, 0, 0],
            [-1, 2, -1, 0, 0, 0, 0, 0, 0],
            [0, -1, 3, 0, 0, -1, 0, 0, 0],  # right neighbour is the open (Dirichlet) side
            [-1, 0, 0, 2, 0, 0, -1, 0, 0],
            [0, 0, 0, 0, 1, 0, 0, 0, 0],  # solid: identity row
            [0, 0, -1, 0, 0, 3, 0, 0, -1],
            [0, 0, 0, -1, 0, 0, 2, -1, 0],
            [0, 0, 0, 0, 0, 0, -1, 2, -1],
            [0, 0, 0, 0, 0, -1, 0, -1, 3],
        ],
        dtype=float,
    )
    A = pressure_matrix(solid)
    np.testing.assert_array_equal(A.toarray(), expected)
    A.check_format(full_check=True)


def test_pockets_made_solid_or_anchored():
    # cells (0,0) and (1,1) are fluid pockets cut off from the open right side
    solid = np.zeros((4, 4), bool)
    solid[0, 1] = solid[1, 0] = solid[1, 2] = solid[2, 1] = True
    eff, anchors = resolve_pockets(solid)
    assert eff[0, 0] and eff[1, 1] and not anchors.any()
    A = pressure_matrix(solid).toarray()
    check_spd_layout(sp.csr_array(A), eff)
    for k in (0, 5):
        np.testing.assert_array_equal(A[k], np.eye(16)[k])
    # anchoring: isolated cells get diagonal 1 from the anchor (no neighbours)
    Aa = pressure_matrix(solid, pockets="anchor").toarray()
    assert Aa[0, 0] == 1.0 and Aa[5, 5] == 1.0
    assert np.linalg.eigvalsh(Aa).min() > 0
    with pytest.raises(ConfigurationError):
        pressure_matrix(solid, pockets="bogus")


def test_closed_box_is_anchored_spd():
    solid = np.zeros((3, 3), bool)
    A = pressure_matrix(solid, open_right=False).toarray()
    assert A[0, 0] == 3.0  # 2 neighbours + the anchor
    assert A[2, 2] == 2.0 and A[8, 8] == 2.0  # no Dirichlet outflow
    np.testing.assert_array_equal(A.sum(axis=1)[1:], 0.0)
    assert np.linalg.eigvalsh(A).min() > 0


@settings(max_examples=30, deadline=None)
@given(
    ny=st.integers(2, 9),
    nx=st.integers(2, 9),
    seed=st.integers(0, 2**31 - 1),
    density=st.floats(0.0, 0.7),
    open_right=st.booleans(),
)
def test_random_masks_always_spd(ny, nx, seed, density, open_right):
    solid = np.random.default_rng(seed).random((ny, nx)) < density
    A = pressure_matrix(solid, open_right=open_right)
    eff, _ = resolve_pockets(solid, open_right)
    check_spd_layout(A, eff)
    A.check_format(full_check=True)


def test_assembly_is_fast_at_256():
    solid = random_obstacle_mask(256, np.random.default_rng(0))
    best = np.inf
    for _ in range(3):
        t = time.perf_counter()
        pressure_matrix(solid)
        best = min(best, time.perf_counter() - t)
    assert best < 0.05


def test_random_obstacle_mask_varied():
    rng = np.random.default_rng(5)
    masks = [random_obstacle_mask(32, rng) for _ in range(8)]
    assert all(m.shape == (32, 32) and m.dtype == bool for m in masks)
    fractions = [m.mean() for m in masks]
    assert max(fractions) < 0.6 and sum(f > 0 for f in fractions) >= 6
    assert len({m.tobytes() for m in masks}) == 8


# ---------------------------------------------------------------- projection


def test_helpers_project_to_zero_divergence():
    rng = np.random.default_rng(1)
    n, dt, h = 12, 0.05, 1 / 12
    solid = random_obstacle_mask(n, rng)
    eff, _ = resolve_pockets(solid)
    u = rng.standard_normal((n, n + 1))
    v = rng.standard_normal((n + 1, n))
    v[0] = v[-1] = 0.0
    A = pressure_matrix(solid)
    b = pressure_rhs(u, v, eff, dt, h)
    np.testing.assert_allclose(b.reshape(n, n)[~eff], -(h * h / dt) * divergence(u, v, h)[~eff])
    p = spsolve(sp.csc_matrix(A), b)
    u2, v2 = apply_pressure_gradient(u, v, p, eff, dt, h)
    d0 = np.abs(divergence(u, v, h)[~eff]).max()
    assert np.abs(divergence(u2, v2, h)[~eff]).max() <= 1e-10 * d0


def test_accept_makes_velocity_divergence_free():
    f = Fluid2D(24, 12, seed=2)
    for _ in range(6):
        s = f.system()
        before = f.velocity_divergence(intermediate=True)
        assert before > 0
        # b is consistent with the intermediate divergence: |b| = h^2/dt |div|
        assert np.isclose(np.abs(s.b).max(), f.h**2 / f.dt * before)
        f.accept(solve(s))
        assert f.velocity_divergence() <= 1e-8 * before


def test_accept_validates_solution():
    f = Fluid2D(16, 3)
    with pytest.raises(InvalidSystemError):
        f.accept(np.zeros(10))
    bad = np.zeros(256)
    bad[3] = np.nan
    with pytest.raises(ValueError):
        f.accept(bad)
    assert f.step == 0


# ---------------------------------------------------------------- sequence behaviour


def test_matrix_changes_when_obstacles_move_and_context():
    f = Fluid2D(32, 20, seed=0)
    s0 = f.system()
    assert f.system().A is s0.A  # cached, same object
    a0 = s0.A.toarray()
    run(f, 8)
    s8 = f.system()
    assert not np.array_equal(a0, s8.A.toarray())
    for s in (s0, s8):
        assert set(s.context) == {"solid_fraction", "obstacle_speed"}
        assert 0.0 < s.context["solid_fraction"] < 1.0
        assert np.isfinite(s.context["obstacle_speed"]) and s.context["obstacle_speed"] >= 0


def test_matrix_reused_while_mask_unchanged():
    f = Fluid2D(24, 12, seed=1, move_every=4)
    mats = []
    for _ in range(8):
        s = f.system()
        mats.append(s.A)
        f.accept(solve(s))
    assert all(m is mats[0] for m in mats[:4]) and all(m is mats[4] for m in mats[4:])
    assert not np.array_equal(mats[0].toarray(), mats[4].toarray())


def test_reset_and_seed_determinism():
    f = Fluid2D(16, 10, seed=3)
    s0 = f.system()
    run(f, 4)
    b4 = f.system().b.copy()
    f.reset()
    assert f.step == 0
    r0 = f.system()
    np.testing.assert_array_equal(r0.A.toarray(), s0.A.toarray())
    np.testing.assert_array_equal(r0.b, s0.b)
    assert r0.context == s0.context
    run(f, 4)
    np.testing.assert_array_equal(f.system().b, b4)

    g = Fluid2D(16, 10, seed=3)
    run(g, 4)
    np.testing.assert_array_equal(g.system().b, b4)
    np.testing.assert_array_equal(g.state, f.state)

    h = Fluid2D(16, 10, seed=4)
    hs = h.system()
    assert not (
        np.array_equal(hs.A.toarray(), s0.A.toarray()) and np.array_equal(hs.b, s0.b)
    )


def test_flow_past_obstacle_develops_wake():
    n = 32
    f = Fluid2D(n, 50, seed=0, obstacles="disc")
    run(f, 50)
    u, v = f.velocity
    assert np.all(np.isfinite(u)) and np.all(np.isfinite(v)) and np.all(np.isfinite(f.state))
    assert np.abs(u).max() < 10 * f.inflow
    ob = f.obstacles[0]
    cx, cy, *_ = ob.pose(f.time)
    r = ob.size[0]
    xc = (np.arange(n) + 0.5) / n
    X, Y = np.meshgrid(xc, xc)
    band = (np.abs(Y - cy) < r) & ~f.solid
    down = band & (X > cx + r + 0.03) & (X < cx + r + 0.25)
    up = band & (X < cx - r - 0.03) & (X > cx - r - 0.2)
    assert down.sum() >= 5 and up.sum() >= 5
    w = np.abs(f.vorticity())
    uc = 0.5 * (u[:, 1:] + u[:, :-1])
    vc = 0.5 * (v[1:] + v[:-1])
    assert w[down].mean() > 5 * w[up].mean()  # vortical wake, irrotational inflow
    assert uc[down].mean() < uc[up].mean()  # velocity deficit behind the body
    assert np.abs(vc[down]).mean() > 0.05 * f.inflow  # cross-flow in the wake
    assert f.velocity_divergence() < 1e-8


def test_random_obstacles_run_and_describe():
    f = Fluid2D(16, 5, seed=11, obstacles="random")
    assert 1 <= len(f.obstacles) <= 3
    run(f, 5)
    assert f.step == 5 and np.all(np.isfinite(f.state)) and f.state.shape == (16, 16)
    d = f.describe()
    assert d["name"] == "fluid2d" and d["n"] == 16 and d["steps"] == 5 and d["seed"] == 11
    assert f.steps == 5


def test_constructor_validation():
    with pytest.raises(InvalidSystemError):
        Fluid2D(4)
    with pytest.raises(ValueError):
        Fluid2D(16, 0)
    with pytest.raises(ValueError):
        Fluid2D(16, 5, dt=-1.0)
    with pytest.raises(ConfigurationError):
        Fluid2D(16, 5, obstacles="teapot")
    with pytest.raises(UnsupportedTypeError):
        Fluid2D(16.5, 5)


def test_save_frame_writes_png(tmp_path):
    f = Fluid2D(16, 3, seed=0)
    run(f, 2)
    out = tmp_path / "frame.png"
    f.save_frame(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["frame.png"]
