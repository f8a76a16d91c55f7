"""Fluid2D: 2D incompressible flow past moving obstacles ("stable fluids"), one Poisson solve/step.

Discretisation
--------------
The unit square is split into ``n x n`` square cells of size ``h = 1/n``.  Cell ``(i, j)`` has
row ``i`` (``y``, slow index) and column ``j`` (``x``, fast index); its centre is
``((j + 1/2) h, (i + 1/2) h)``.  Velocities live on a staggered MAC grid:

* ``u`` (x-velocity) on vertical faces, array shape ``(n, n + 1)``; ``u[i, j]`` sits at
  ``(j h, (i + 1/2) h)``, i.e. between cells ``(i, j-1)`` and ``(i, j)``;
* ``v`` (y-velocity) on horizontal faces, shape ``(n + 1, n)``; ``v[i, j]`` sits at
  ``((j + 1/2) h, i h)``, between cells ``(i-1, j)`` and ``(i, j)``.

Boundaries: the left side is an inflow (``u = inflow``, pressure Neumann), the right side is
an open outflow (pressure Dirichlet ``p = 0`` just outside the last column), top and bottom are
closed walls (``v = 0``, pressure Neumann).  Cells covered by an obstacle (a disc and/or a
rectangle that translate and rotate deterministically from ``seed``) are *solid*; faces
touching a solid cell carry the obstacle's rigid-body velocity.

One time step of length ``dt``: semi-Lagrangian advection (RK2 back-trace, bilinear
interpolation) of ``u``, ``v`` and a passive smoke field, optional buoyancy, the obstacles move,
boundary/obstacle velocities are imposed -> intermediate velocity ``u*``; then the pressure
projection ``u = u* - (dt/h) grad_h p`` applied on *free* faces (between two fluid cells, or
between a fluid cell and the open right boundary).  Requiring zero discrete divergence in every
fluid cell gives ``A p = b`` with

* ``A`` the **unscaled** 5-point Laplacian: for a fluid cell, ``A_ii`` = number of free faces
  (fluid neighbours plus the open right boundary), ``A_ik = -1`` for each fluid neighbour ``k``;
  solid and closed-wall neighbours are Neumann and contribute nothing;
* solid cells get identity rows (``A_ii = 1``, ``b_i = 0``, hence ``p_i = 0``);
* ``b = -(h^2/dt) div(u*) = -(h/dt) (u_e - u_w + v_n - v_s)`` on fluid cells, 0 on solids.

Unknowns are all ``n*n`` cells in row-major order (``k = i*n + j``), so vectors reshape to an
``(n, n)`` image (``LinearSystem.grid_shape``).

Why ``A`` is SPD
----------------
``A`` is symmetric by construction (each fluid-fluid face adds ``-1`` at ``(k, l)`` and
``(l, k)`` and ``+1`` to both diagonals).  After a permutation it is block diagonal: an
identity block (solid cells) and one block per 4-connected fluid region.  Each fluid block is a
graph Laplacian plus a non-negative diagonal ``d`` (one per Dirichlet face), so
``x^T A x = sum_faces (x_k - x_l)^2 + sum_k d_k x_k^2 >= 0`` with equality only for ``x``
constant on the region and zero wherever ``d_k > 0``; if the region has at least one Dirichlet
face that forces ``x = 0``.  A fluid region that touches no open boundary (a *pocket* enclosed
by obstacles and walls) would make ``A`` singular; :func:`pressure_matrix` and the simulation
turn such pockets into solid cells (identity rows; their fluid is frozen, which is the only
incompressible motion an enclosed rigid pocket admits).  With ``open_right=False`` (a closed box)
every region is a pocket; then instead one *Dirichlet anchor* is added to each region (its first
cell in row-major order gets ``+1`` on the diagonal), which pins the pressure constant.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import ndimage

from seqsolve.atomic import atomic_path
from seqsolve.errors import ConfigurationError, InvalidSystemError, UnsupportedTypeError
from seqsolve.problems.base import LinearSystem, SequenceProblem

__all__ = [
    "Fluid2D",
    "Obstacle",
    "pressure_matrix",
    "pressure_rhs",
    "divergence",
    "apply_pressure_gradient",
    "resolve_pockets",
    "random_obstacle_mask",
]

_OBSTACLE_SETS = ("default", "disc", "plate", "random", "none")


# --------------------------------------------------------------------------------------------
# Matrix, right-hand side and projection helpers (usable without a Fluid2D instance)
# --------------------------------------------------------------------------------------------


def _as_mask(solid: np.ndarray) -> np.ndarray:
    solid = np.asarray(solid)
    if solid.ndim != 2 or solid.shape[0] < 1 or solid.shape[1] < 1:
        raise InvalidSystemError(f"solid mask must be a non-empty 2D array, got {solid.shape}")
    return solid.astype(bool, copy=False)


def resolve_pockets(
    solid: np.ndarray, open_right: bool = True, pockets: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Deal with fluid regions that touch no Dirichlet boundary.

    Returns ``(solid_eff, anchors)``: the solid mask with pockets filled (``pockets="solid"``,
    the default when ``open_right``) and a bool mask of cells that get a Dirichlet anchor
    (``pockets="anchor"``, the default and only sensible choice for a closed box).
    """
    solid = _as_mask(solid)
    if pockets is None:
        pockets = "solid" if open_right else "anchor"
    if pockets not in ("solid", "anchor"):
        raise ConfigurationError(f"pockets must be 'solid' or 'anchor', got {pockets!r}")
    fluid = ~solid
    labels, nlab = ndimage.label(fluid)  # 4-connectivity
    anchors = np.zeros_like(solid)
    if nlab == 0:
        return solid.copy(), anchors
    connected = np.zeros(nlab + 1, dtype=bool)
    if open_right:
        connected[labels[:, -1]] = True
    connected[0] = True  # label 0 is the solid background
    if connected.all():
        return solid.copy(), anchors
    is_pocket = ~connected[labels]
    if pockets == "solid":
        return solid | is_pocket, anchors
    flat = labels.ravel()
    lab_ids, first = np.unique(flat, return_index=True)
    sel = ~connected[lab_ids]
    anchors.ravel()[first[sel]] = True
    return solid.copy(), anchors


def _assemble(solid: np.ndarray, open_right: bool, anchors: np.ndarray | None) -> sp.csr_array:
    """Build the CSR matrix directly in canonical (sorted, duplicate-free) order."""
    ny, nx = solid.shape
    N = ny * nx
    fluid = ~solid
    hpair = fluid[:, :-1] & fluid[:, 1:]  # face between (i,j) and (i,j+1)
    vpair = fluid[:-1, :] & fluid[1:, :]  # face between (i,j) and (i+1,j)
    diag = np.zeros((ny, nx), dtype=np.float64)
    diag[:, :-1] += hpair
    diag[:, 1:] += hpair
    diag[:-1, :] += vpair
    diag[1:, :] += vpair
    if open_right:
        diag[:, -1] += fluid[:, -1]
    if anchors is not None:
        diag += anchors
    diag[solid] = 1.0

    present = np.zeros((ny, nx, 5), dtype=bool)
    present[1:, :, 0] = vpair  # k - nx
    present[:, 1:, 1] = hpair  # k - 1
    present[:, :, 2] = True  # diagonal
    present[:, :-1, 3] = hpair  # k + 1
    present[:-1, :, 4] = vpair  # k + nx
    itype = np.int32 if N < 2**31 - 1 else np.int64
    k = np.arange(N, dtype=itype).reshape(ny, nx, 1)
    cols = k + np.array([-nx, -1, 0, 1, nx], dtype=itype)
    vals = np.full((ny, nx, 5), -1.0)
    vals[:, :, 2] = diag
    indptr = np.zeros(N + 1, dtype=itype)
    np.cumsum(present.reshape(N, 5).sum(axis=1), out=indptr[1:])
    A = sp.csr_array((vals[present], cols[present], indptr), shape=(N, N))
    A.has_sorted_indices = True
    return A


def pressure_matrix(
    solid: np.ndarray, open_right: bool = True, *, pockets: str | None = None
) -> sp.csr_array:
    """The SPD pressure-Poisson matrix for a bool solid mask of shape ``(ny, nx)``.

    Unknown ``i*nx + j`` is cell ``(i, j)``.  Fluid rows: unscaled 5-point Laplacian (diagonal =
    fluid neighbours + open-right Dirichlet faces, ``-1`` per fluid neighbour); solid rows:
    identity.  Fluid pockets not connected to a Dirichlet face are made solid
    (``pockets="solid"``, default with ``open_right``) or anchored (``pockets="anchor"``,
    default without it); see :func:`resolve_pockets`.
    """
    solid_eff, anchors = resolve_pockets(solid, open_right, pockets)
    return _assemble(solid_eff, open_right, anchors if anchors.any() else None)


def divergence(u: np.ndarray, v: np.ndarray, h: float = 1.0) -> np.ndarray:
    """Cell-centred discrete divergence ``(u_e - u_w + v_n - v_s) / h`` of a MAC field.

    ``u`` has shape ``(ny, nx + 1)``, ``v`` has shape ``(ny + 1, nx)``; returns ``(ny, nx)``.
    """
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if u.ndim != 2 or v.ndim != 2 or v.shape[0] != u.shape[0] + 1 or u.shape[1] != v.shape[1] + 1:
        raise InvalidSystemError(f"incompatible MAC shapes u{u.shape}, v{v.shape}")
    return (u[:, 1:] - u[:, :-1] + v[1:, :] - v[:-1, :]) / h


def pressure_rhs(
    u: np.ndarray, v: np.ndarray, solid: np.ndarray, dt: float, h: float
) -> np.ndarray:
    """Right-hand side ``b = -(h^2/dt) div(u*)`` (flattened row-major), zero on solid cells.

    Consistent with :func:`pressure_matrix` and :func:`apply_pressure_gradient`: solving
    ``A p = b`` and applying the gradient zeroes the divergence in every fluid cell.
    ``solid`` must be the mask the matrix was built from *after* pocket resolution.
    """
    b = divergence(u, v, h) * (-(h * h) / dt)
    b[np.asarray(solid, dtype=bool)] = 0.0
    return b.ravel()


def apply_pressure_gradient(
    u: np.ndarray,
    v: np.ndarray,
    p: np.ndarray,
    solid: np.ndarray,
    dt: float,
    h: float,
    open_right: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Projection step: return ``u - (dt/h) grad p`` on free faces (new arrays).

    Free faces lie between two fluid cells or between a fluid cell and the open right boundary
    (where the outside pressure is 0); all other faces keep their prescribed velocity.
    """
    solid = np.asarray(solid, dtype=bool)
    ny, nx = solid.shape
    p = np.asarray(p, dtype=np.float64).reshape(ny, nx)
    fluid = ~solid
    c = dt / h
    u = np.array(u, dtype=np.float64, copy=True)
    v = np.array(v, dtype=np.float64, copy=True)
    hpair = fluid[:, :-1] & fluid[:, 1:]
    u[:, 1:-1] -= c * np.where(hpair, p[:, 1:] - p[:, :-1], 0.0)
    if open_right:
        u[:, -1] -= c * np.where(fluid[:, -1], -p[:, -1], 0.0)
    vpair = fluid[:-1, :] & fluid[1:, :]
    v[1:-1, :] -= c * np.where(vpair, p[1:, :] - p[:-1, :], 0.0)
    return u, v


# --------------------------------------------------------------------------------------------
# Obstacles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Obstacle:
    """A rigid disc or rectangle: ``c(t) = c0 + amp sin(omega t + phase)``, ``theta0 + spin t``."""

    kind: str  # "disc" or "rect"
    c0: tuple[float, float]
    size: tuple[float, float]  # disc: (r, r); rect: half-widths (a, b)
    amp: tuple[float, float] = (0.0, 0.0)
    omega: float = 0.0  # angular frequency of the translation oscillation
    phase: float = 0.0
    theta0: float = 0.0
    spin: float = 0.0  # rad per unit time

    def pose(self, t: float) -> tuple[float, float, float, float, float]:
        """``(cx, cy, theta, cx_dot, cy_dot)`` at time ``t``."""
        s, c = math.sin(self.omega * t + self.phase), math.cos(self.omega * t + self.phase)
        return (
            self.c0[0] + self.amp[0] * s,
            self.c0[1] + self.amp[1] * s,
            self.theta0 + self.spin * t,
            self.amp[0] * self.omega * c,
            self.amp[1] * self.omega * c,
        )

    def inside(self, x: np.ndarray, y: np.ndarray, t: float) -> np.ndarray:
        cx, cy, th, _, _ = self.pose(t)
        dx, dy = x - cx, y - cy
        if self.kind == "disc":
            return dx * dx + dy * dy <= self.size[0] ** 2
        ct, st = math.cos(th), math.sin(th)
        lx = ct * dx + st * dy
        ly = -st * dx + ct * dy
        return (np.abs(lx) <= self.size[0]) & (np.abs(ly) <= self.size[1])

    def velocity(self, x: np.ndarray, y: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        cx, cy, _, vx, vy = self.pose(t)
        return vx - self.spin * (y - cy), vy + self.spin * (x - cx)

    def max_speed(self, t: float) -> float:
        _, _, _, vx, vy = self.pose(t)
        return math.hypot(vx, vy) + abs(self.spin) * math.hypot(*self.size)


def _default_obstacles(rng: np.random.Generator) -> list[Obstacle]:
    disc = Obstacle(
        "disc",
        (rng.uniform(0.22, 0.30), rng.uniform(0.42, 0.58)),
        (r := rng.uniform(0.07, 0.09), r),
        amp=(0.0, rng.uniform(0.10, 0.15)),
        omega=2 * math.pi / rng.uniform(1.6, 2.4),
        phase=rng.uniform(0, 2 * math.pi),
    )
    plate = Obstacle(
        "rect",
        (rng.uniform(0.58, 0.66), rng.uniform(0.42, 0.58)),
        (rng.uniform(0.10, 0.13), rng.uniform(0.025, 0.035)),
        amp=(rng.uniform(0.02, 0.05), 0.0),
        omega=2 * math.pi / rng.uniform(2.0, 3.0),
        phase=rng.uniform(0, 2 * math.pi),
        theta0=rng.uniform(0, math.pi),
        spin=float(rng.choice([-1.0, 1.0]) * rng.uniform(0.6, 1.0)),
    )
    return [disc, plate]


def _random_obstacles(rng: np.random.Generator, count: int | None = None) -> list[Obstacle]:
    """1-3 random discs/rectangles anywhere in the domain (may touch walls or overlap)."""
    if count is None:
        count = int(rng.integers(1, 4))
    obs = []
    for _ in range(count):
        kind = "disc" if rng.random() < 0.5 else "rect"
        if kind == "disc":
            r = rng.uniform(0.04, 0.14)
            size = (r, r)
        else:
            size = (rng.uniform(0.04, 0.2), rng.uniform(0.02, 0.08))
        obs.append(
            Obstacle(
                kind,
                (rng.uniform(0.2, 0.8), rng.uniform(0.15, 0.85)),
                size,
                amp=(rng.uniform(0.0, 0.05), rng.uniform(0.0, 0.12)),
                omega=2 * math.pi / rng.uniform(1.5, 3.0),
                phase=rng.uniform(0, 2 * math.pi),
                theta0=rng.uniform(0, math.pi),
                spin=float(rng.uniform(-1.0, 1.0)),
            )
        )
    return obs


def _rasterise(obstacles: list[Obstacle], n: int, t: float) -> np.ndarray:
    """Owner map at cell centres: -1 fluid, k for the (last) obstacle covering the cell."""
    xc = (np.arange(n) + 0.5) / n
    X, Y = np.meshgrid(xc, xc)
    owner = np.full((n, n), -1, dtype=np.int8)
    for k, ob in enumerate(obstacles):
        owner[ob.inside(X, Y, t)] = k
    return owner


def random_obstacle_mask(n: int, rng: np.random.Generator) -> np.ndarray:
    """A varied bool ``(n, n)`` obstacle mask (1-3 discs/rotated rectangles), e.g. for training.

    Pockets are *not* filled; :func:`pressure_matrix` takes care of them.
    """
    if n < 1:
        raise InvalidSystemError(f"n must be >= 1, got {n}")
    obs = _random_obstacles(rng)
    return _rasterise(obs, n, float(rng.uniform(0.0, 10.0))) >= 0


# --------------------------------------------------------------------------------------------
# The simulation
# --------------------------------------------------------------------------------------------


class Fluid2D(SequenceProblem):
    """Flow past moving obstacles; step ``k``'s system is the pressure projection of step ``k``.

    Parameters
    ----------
    n : grid size (``n x n`` cells on the unit square), ``>= 8``.
    steps : number of systems in the sequence.
    seed : chooses the obstacles' shapes, positions and motions.
    dt : time step; default ``0.8 h / max(|inflow|, 0.25)`` (CFL ~0.8 at the inflow speed).
    obstacles : ``"default"`` (oscillating disc + rotating plate), ``"disc"``, ``"plate"``,
        ``"random"`` (1-3 random shapes from ``seed``) or ``"none"``.
    inflow : x-velocity imposed on the left boundary.
    buoyancy : upward force per unit smoke density (0 = passive smoke).
    move_every : the obstacles' pose is updated only every ``move_every`` steps (sampled at
        ``t = move_every * dt * floor(step / move_every)``), so the matrix stays identical for
        runs of steps; their wall velocity is the continuous rigid-body velocity at that time.
        With the default 1 and a rotating plate the mask changes almost every step.

    ``system().context``: ``solid_fraction`` (fraction of solid cells, filled pockets included)
    and ``obstacle_speed`` (max rigid-body speed of any obstacle point, unit-square lengths per
    unit time; about 0.1-0.4 with the default obstacles, 0 without).  The matrix object is
    cached and returned again (``is``-identical) while the solid mask is unchanged.
    """

    name = "fluid2d"

    def __init__(
        self,
        n: int = 64,
        steps: int = 200,
        *,
        seed: int = 0,
        dt: float | None = None,
        obstacles: str = "default",
        inflow: float = 1.0,
        buoyancy: float = 0.0,
        move_every: int = 1,
    ) -> None:
        for label, val in (("n", n), ("steps", steps), ("seed", seed), ("move_every", move_every)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)):
                raise UnsupportedTypeError(f"{label} must be an int, got {type(val).__name__}")
        if n < 8:
            raise InvalidSystemError(f"n must be >= 8, got {n}")
        if steps < 1:
            raise InvalidSystemError(f"steps must be >= 1, got {steps}")
        if move_every < 1:
            raise InvalidSystemError(f"move_every must be >= 1, got {move_every}")
        if not isinstance(obstacles, str) or obstacles not in _OBSTACLE_SETS:
            raise ConfigurationError(
                f"obstacles must be one of {_OBSTACLE_SETS}, got {obstacles!r}"
            )
        inflow = float(inflow)
        buoyancy = float(buoyancy)
        if not (math.isfinite(inflow) and math.isfinite(buoyancy)):
            raise InvalidSystemError("inflow and buoyancy must be finite")
        h = 1.0 / n
        if dt is None:
            dt = 0.8 * h / max(abs(inflow), 0.25)
        dt = float(dt)
        if not (math.isfinite(dt) and dt > 0):
            raise InvalidSystemError(f"dt must be positive and finite, got {dt}")

        self.n, self._steps, self.seed = int(n), int(steps), int(seed)
        self.h, self.dt = h, dt
        self.obstacle_set, self.inflow, self.buoyancy = obstacles, inflow, buoyancy
        self.move_every = int(move_every)

        rng = np.random.default_rng(self.seed)
        if obstacles == "default":
            self.obstacles = _default_obstacles(rng)
        elif obstacles == "disc":
            self.obstacles = _default_obstacles(rng)[:1]
        elif obstacles == "plate":
            self.obstacles = _default_obstacles(rng)[1:]
        elif obstacles == "random":
            self.obstacles = _random_obstacles(rng)
        else:
            self.obstacles = []

        # static geometry, in grid units (x/h, y/h)
        ar = np.arange(n + 1, dtype=np.float64)
        ac = np.arange(n, dtype=np.float64) + 0.5
        self._ux, self._uy = np.meshgrid(ar, ac)  # u faces: (n, n+1)
        self._vx, self._vy = np.meshgrid(ac, ar)  # v faces: (n+1, n)
        self._cx, self._cy = np.meshgrid(ac, ac)  # cells: (n, n)
        self._pts = np.stack(
            [
                np.concatenate([self._uy.ravel(), self._vy.ravel(), self._cy.ravel()]),
                np.concatenate([self._ux.ravel(), self._vx.ravel(), self._cx.ravel()]),
            ]
        )
        yc = (np.arange(n) + 0.5) * h
        self._smoke_in = (np.floor(yc * 10) % 2 == 0).astype(np.float64)  # inflow dye stripes

        self._A: sp.csr_array | None = None
        self._A_solid: np.ndarray | None = None
        self.reset()

    # ---- SequenceProblem API ------------------------------------------------------------------

    @property
    def steps(self) -> int:
        return self._steps

    @property
    def state(self) -> np.ndarray:
        """The smoke density, an ``(n, n)`` array (row ``i`` = y)."""
        return self._smoke.copy()

    @property
    def velocity(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the last projected MAC velocity ``(u (n, n+1), v (n+1, n))``."""
        return self._u.copy(), self._v.copy()

    @property
    def solid(self) -> np.ndarray:
        """The current (pocket-filled) solid mask, ``(n, n)`` bool."""
        return self._solid.copy()

    @property
    def time(self) -> float:
        return self._t

    def describe(self) -> dict:
        return {
            "name": self.name,
            "steps": self.steps,
            "n": self.n,
            "seed": self.seed,
            "dt": self.dt,
            "obstacles": self.obstacle_set,
            "inflow": self.inflow,
            "buoyancy": self.buoyancy,
            "move_every": self.move_every,
        }

    def reset(self) -> None:
        n = self.n
        self._step = 0
        self._t = 0.0
        self._smoke = np.zeros((n, n))
        self._smoke[:, 0] = self._smoke_in
        self._update_geometry()
        u0 = np.full((n, n + 1), self.inflow)
        v0 = np.zeros((n + 1, n))
        self._us, self._vs = self._impose_bc(u0, v0)
        self._u, self._v = self._us.copy(), self._vs.copy()
        self._proj_solid = self._solid

    def system(self) -> LinearSystem:
        A = self._matrix()
        b = pressure_rhs(self._us, self._vs, self._solid, self.dt, self.h)
        return LinearSystem(
            A=A,
            b=b,
            index=self._step,
            context={
                "solid_fraction": float(self._solid.mean()),
                "obstacle_speed": float(self._obstacle_speed),
            },
            grid_shape=(self.n, self.n),
        )

    def accept(self, x: np.ndarray) -> None:
        """Project with pressure ``x`` and advance one time step."""
        n = self.n
        p = np.asarray(x, dtype=np.float64)
        if p.size != n * n:
            raise InvalidSystemError(f"solution must have {n * n} entries, got shape {p.shape}")
        p = p.reshape(n, n)
        if not np.all(np.isfinite(p)):
            raise InvalidSystemError("solution contains NaN or Inf")
        self._u, self._v = apply_pressure_gradient(
            self._us, self._vs, p, self._solid, self.dt, self.h, open_right=True
        )
        self._proj_solid = self._solid
        self._advance()

    # ---- diagnostics ----------------------------------------------------------------------

    def velocity_divergence(self, *, intermediate: bool = False) -> float:
        """Max |div u| over fluid cells of the last projected velocity.

        With ``intermediate=True``: of the current system's pre-projection velocity ``u*``.
        Before the first :meth:`accept` both are the initial intermediate field.
        """
        if intermediate:
            d, solid = divergence(self._us, self._vs, self.h), self._solid
        else:
            d, solid = divergence(self._u, self._v, self.h), self._proj_solid
        d = np.abs(d[~solid])
        return float(d.max()) if d.size else 0.0

    def vorticity(self) -> np.ndarray:
        """Cell-centred vorticity ``dv/dx - du/dy`` of the last projected velocity."""
        uc = 0.5 * (self._u[:, :-1] + self._u[:, 1:])
        vc = 0.5 * (self._v[:-1, :] + self._v[1:, :])
        return np.gradient(vc, self.h, axis=1) - np.gradient(uc, self.h, axis=0)

    def save_frame(self, path: str | os.PathLike) -> None:
        """Write a PNG with smoke (left) and vorticity (right), obstacles in grey (atomic)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.colors import ListedColormap
        from matplotlib.figure import Figure

        path = os.fspath(path)
        fig = Figure(figsize=(9, 4.3), dpi=100)
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, 2)
        solid_img = np.ma.masked_where(~self._solid, np.ones_like(self._smoke))
        grey = ListedColormap(["0.55"])
        w = self.vorticity()
        w[self._solid] = 0.0
        wmax = float(np.percentile(np.abs(w), 99)) or 1.0
        panels = [
            (self._smoke, "smoke", "magma", 0.0, 1.0),
            (w, "vorticity", "RdBu_r", -wmax, wmax),
        ]
        for ax, (img, title, cmap, lo, hi) in zip(axes, panels):
            ax.imshow(img, origin="lower", extent=(0, 1, 0, 1), cmap=cmap, vmin=lo, vmax=hi,
                      interpolation="bilinear")
            ax.imshow(solid_img, origin="lower", extent=(0, 1, 0, 1), cmap=grey,
                      interpolation="nearest")
            ax.set_title(title)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"fluid2d n={self.n} seed={self.seed} step={self._step} t={self._t:.3f}")
        fig.tight_layout()
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")

    # ---- internals ------------------------------------------------------------------------

    def _matrix(self) -> sp.csr_array:
        """Cached pressure matrix; rebuilt only when the solid mask changes."""
        if self._A is None or not np.array_equal(self._A_solid, self._solid):
            self._A = _assemble(self._solid, True, None)  # pockets already filled
            self._A_solid = self._solid
        return self._A

    def _update_geometry(self) -> None:
        """Rasterise obstacles at the current time; fill pockets; record owners."""
        self._t_geom = (self._step // self.move_every) * self.move_every * self.dt
        owner = _rasterise(self.obstacles, self.n, self._t_geom)
        solid, _ = resolve_pockets(owner >= 0, open_right=True)
        owner[solid & (owner < 0)] = len(self.obstacles)  # filled pocket: velocity 0
        self._owner = owner
        self._solid = solid
        speeds = [ob.max_speed(self._t_geom) for ob in self.obstacles]
        self._obstacle_speed = max(speeds, default=0.0)

    def _impose_bc(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Set inflow, wall and obstacle velocities on fixed faces (returns new arrays)."""
        h, t = self.h, self._t_geom
        u = u.copy()
        v = v.copy()
        own = self._owner
        # face owner: the solid cell adjacent to the face (left/below first), -1 if none
        ou = np.full(u.shape, -1, dtype=np.int8)
        ou[:, :-1] = own
        ou[:, 1:] = np.where(ou[:, 1:] >= 0, ou[:, 1:], own)
        ov = np.full(v.shape, -1, dtype=np.int8)
        ov[:-1, :] = own
        ov[1:, :] = np.where(ov[1:, :] >= 0, ov[1:, :], own)
        for k, ob in enumerate(self.obstacles):
            su = ou == k
            if su.any():
                u[su] = ob.velocity(self._ux[su] * h, self._uy[su] * h, t)[0]
            sv = ov == k
            if sv.any():
                v[sv] = ob.velocity(self._vx[sv] * h, self._vy[sv] * h, t)[1]
        pocket = len(self.obstacles)
        u[ou == pocket] = 0.0
        v[ov == pocket] = 0.0
        u[:, 0] = self.inflow
        v[0, :] = 0.0
        v[-1, :] = 0.0
        return u, v

    def _advect(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Semi-Lagrangian advection of u, v, smoke by the projected velocity (RK2 trace)."""
        u, v = self._u, self._v
        c = self.dt / self.h  # velocity -> displacement in grid units

        def vel(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            # u[i, j] at grid coords (y=i+0.5, x=j); v[i, j] at (y=i, x=j+0.5)
            pu = pts - np.array([[0.5], [0.0]])
            pv = pts - np.array([[0.0], [0.5]])
            return (
                ndimage.map_coordinates(u, pu, order=1, mode="nearest", prefilter=False),
                ndimage.map_coordinates(v, pv, order=1, mode="nearest", prefilter=False),
            )

        pts = self._pts
        ux, vy = vel(pts)
        mid = pts - 0.5 * c * np.stack([vy, ux])
        ux, vy = vel(mid)
        back = pts - c * np.stack([vy, ux])
        n = self.n
        nu, nv = n * (n + 1), (n + 1) * n
        bu, bv, bc = back[:, :nu], back[:, nu : nu + nv], back[:, nu + nv :]
        u_new = ndimage.map_coordinates(u, bu - np.array([[0.5], [0.0]]), order=1,
                                        mode="nearest", prefilter=False).reshape(n, n + 1)
        v_new = ndimage.map_coordinates(v, bv - np.array([[0.0], [0.5]]), order=1,
                                        mode="nearest", prefilter=False).reshape(n + 1, n)
        s_new = ndimage.map_coordinates(self._smoke, bc - 0.5, order=1,
                                        mode="nearest", prefilter=False).reshape(n, n)
        return u_new, v_new, s_new

    def _advance(self) -> None:
        u, v, s = self._advect()
        s[:, 0] = self._smoke_in
        if self.buoyancy:
            v[1:-1, :] += self.dt * self.buoyancy * 0.5 * (s[:-1, :] + s[1:, :])
        self._smoke = s
        self._step += 1
        self._t = self._step * self.dt
        self._update_geometry()
        self._us, self._vs = self._impose_bc(u, v)
