"""A learned multigrid V-cycle as a preconditioner that transfers across grid sizes.

Why this structure (and not a deeper U-Net)
-------------------------------------------
The two-level U-Net of :mod:`.model` sees a fixed 10-20 cell neighbourhood, so on finer grids it
cannot move information across the domain and its iteration count grows with ``n``; it also costs
130-160 matvecs per application on a CPU.  Following the dual-channel idea of "Closing the
Performance Gap in Neural Conjugate Gradient" (a classical smoothing path plus a light learned
convolutional path inside a multigrid cycle, SPD by construction) and the spatially varying
kernels of Lan et al. (ICML 2024, arXiv 2310.00177: kernels predicted from the domain's geometry
once, cheap inference afterwards), :class:`VCycleNet` is a symmetric V-cycle whose depth grows
with ``log2 n`` and whose learned weights are shared by every level:

* **Coarse operators** are Galerkin products ``P^T A P`` with 2x2 aggregation (piecewise
  constant ``P`` on fluid cells).  For a 5-point matrix they stay 5-point stencils, so building
  the whole hierarchy is a few image additions (no sparse matrix products, unlike AMG's setup)
  and the obstacles' geometry is exact on every level.  Aggregation alone is a weak coarse
  space; the learned coarse-correction weight and smoothers below compensate for that.
* **Smoother** (``smoothing_steps`` pre- and the same in reverse post-smoothing; each step
  symmetric): ``S = D^-1/2 (diag(w) + sum_c K_c^T diag(a_c) K_c) D^-1/2`` -- a Jacobi path with
  per-cell weights ``w`` plus a learned convolutional path (``channels`` 2x2 kernels ``K_c``)
  with per-cell weights ``a_c``.  ``w, a_c >= 0`` come from a tiny CNN evaluated once per matrix
  and level on geometry images (fluid mask, normalised stencil), so S is symmetric positive
  semi-definite for any weights, and so is the whole V-cycle's map (up to float32 rounding).
* A learned positive weight on the coarse-grid correction (aggregation wants ~2).

Used by :func:`~seqsolve.neural.dcdm.dcdm` exactly like the U-Net (a direction per residual,
A-orthogonalised, exact line search), but since the map is linear and SPD a short history
(``recommended_n_orth``) suffices.  Inference runs in float32 on the model's device; the outer
iteration stays float64.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from . import require_torch

torch = require_torch()
nn = torch.nn
F = torch.nn.functional

__all__ = ["VCycleNet", "BoundVCycle", "stencil_from_matrix", "check_vcycle_hyperparameters",
           "NUM_FEATURES"]

#: geometry images fed to the weight CNN: fluid mask, centre and the four couplings (normalised)
NUM_FEATURES = 6
MAX_HIDDEN = 256
MAX_CHANNELS = 32
MAX_STEPS = 8
MAX_COARSEST = 64
MAX_GRID_SIZE = 1 << 16


def check_vcycle_hyperparameters(*, hidden: Any, channels: Any, smoothing_steps: Any,
                                 coarsest: Any) -> int:
    """Validate :class:`VCycleNet`'s size arguments (model files are untrusted); return the
    parameter count, computed without building anything.  Raises ``ValueError``."""
    for name, value, lo, hi in (("hidden", hidden, 1, MAX_HIDDEN), ("channels", channels, 0, MAX_CHANNELS),
                                ("smoothing_steps", smoothing_steps, 1, MAX_STEPS),
                                ("coarsest", coarsest, 2, MAX_COARSEST)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
            raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    out = smoothing_steps * (1 + channels)
    return int(NUM_FEATURES * hidden * 9 + hidden + hidden * out + out
               + smoothing_steps * channels * 4 + 1)


def stencil_from_matrix(A: Any, shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(centre, east, south)`` images of a symmetric 5-point matrix on a row-major grid.

    ``east[i, j]`` couples cells ``(i, j)`` and ``(i, j+1)``, ``south[i, j]`` cells ``(i, j)`` and
    ``(i+1, j)``.  Rows holding only a diagonal entry (solid cells: solved exactly outside the
    preconditioner) get a zero centre, i.e. they are dropped from the operator.  Raises
    ``ValueError`` when ``A`` has entries outside the 5-point pattern.
    """
    ny, nx = (int(s) for s in shape)
    N = ny * nx
    M = sp.csr_array(A)
    if M.shape != (N, N):
        raise ValueError(f"matrix of shape {M.shape} does not fit grid {(ny, nx)}")
    centre = np.asarray(M.diagonal(), dtype=np.float64).copy()
    east = np.zeros(N)
    south = np.zeros(N)
    if N > 1:
        east[:-1] = M.diagonal(1)
    if N > nx:
        south[:-nx] = M.diagonal(nx)
    east = east.reshape(ny, nx)
    east[:, -1] = 0.0
    stored = int(np.count_nonzero(M.data))
    inside = int(np.count_nonzero(centre)) + 2 * int(np.count_nonzero(east) + np.count_nonzero(south))
    if inside != stored:
        raise ValueError("matrix is not a symmetric 5-point stencil on the given grid")
    south = south.reshape(ny, nx)
    centre = centre.reshape(ny, nx)
    coupled = np.zeros((ny, nx), dtype=bool)
    coupled[:, :-1] |= east[:, :-1] != 0
    coupled[:, 1:] |= east[:, :-1] != 0
    coupled[:-1, :] |= south[:-1, :] != 0
    coupled[1:, :] |= south[:-1, :] != 0
    # rows with only a diagonal entry (as in dcdm's solid_rows) are solved exactly by DCDM
    solid = ~coupled & (centre != 0.0)
    centre[solid] = 0.0
    return centre, east, south


# --------------------------------------------------------------------------------------------
# stencil arithmetic in torch (images (..., H, W))
# --------------------------------------------------------------------------------------------


def apply_stencil(level: dict, x):
    """``A_l x`` for a batch of images ``x`` ``(K, H, W)`` (5-point, zero outside the grid)."""
    H, W = x.shape[-2:]
    xp = F.pad(x, (1, 1, 1, 1))
    y = level["c"] * x  # fused multiply-adds below: each torch call costs microseconds on a CPU
    y.addcmul_(level["cE"], xp[..., 1:H + 1, 2:]).addcmul_(level["cW"], xp[..., 1:H + 1, :W])
    return y.addcmul_(level["cS"], xp[..., 2:, 1:W + 1]).addcmul_(level["cN"], xp[..., :H, 1:W + 1])


def apply9(coef, x):
    """``y_i = sum_d coef[d]_i x_{i+d}`` over the 3x3 offsets ``d`` (row-major), zero outside."""
    H, W = x.shape[-2:]
    xp = F.pad(x, (1, 1, 1, 1))
    y = coef[4] * x
    for k, (di, dj) in enumerate(OFFSETS):
        if k != 4:
            y.addcmul_(coef[k], xp[..., 1 + di:1 + di + H, 1 + dj:1 + dj + W])
    return y


#: the 3x3 stencil offsets (row, column), row-major; index 4 is the centre
OFFSETS = tuple((di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1))


def _even(x, value: float = 0.0):
    H, W = x.shape[-2:]
    if H % 2 or W % 2:
        x = F.pad(x, (0, W % 2, 0, H % 2), value=value)
    return x


def restrict(x):
    """``P^T x``: sums of 2x2 blocks of (padded-to-even) images."""
    x = _even(x)
    return x[..., 0::2, 0::2] + x[..., 1::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 1::2]


def prolong(xc, shape):
    """``P x_c`` before masking: every coarse value copied to its 2x2 block, cropped to ``shape``."""
    H, W = shape
    h, w = xc.shape[-2:]
    up = xc[..., :, None, :, None].expand(*xc.shape[:-2], h, 2, w, 2).reshape(*xc.shape[:-2], 2 * h, 2 * w)
    return up[..., :H, :W]


def coarsen(c, e, s):
    """Galerkin ``P^T A P`` for 2x2 aggregation, on stencil images ``(H, W)``."""
    c, e, s = _even(c), _even(e), _even(s)
    cc = restrict(c) + 2.0 * (e[0::2, 0::2] + e[1::2, 0::2] + s[0::2, 0::2] + s[0::2, 1::2])
    ce = e[0::2, 1::2] + e[1::2, 1::2]  # edges between blocks
    cs = s[1::2, 0::2] + s[1::2, 1::2]
    return cc, ce, cs


def _features(c, e, s):
    """Geometry images ``(NUM_FEATURES, H, W)``: fluid mask, centre and |couplings| over the
    level's largest coupling (1 for interior cells on every level)."""
    fluid = (c > 0).to(c.dtype)
    ref = torch.maximum(e.abs().max(), s.abs().max())
    ref = torch.where(ref > 0, ref, torch.ones_like(ref))
    ae, as_ = e.abs() / ref, s.abs() / ref
    aw = F.pad(ae[:, :-1], (1, 0))
    an = F.pad(as_[:-1, :], (0, 0, 1, 0))
    return torch.stack([fluid, c / (4.0 * ref), ae, aw, as_, an])


class VCycleNet(nn.Module):
    """Learned symmetric V-cycle preconditioner (see the module docstring).

    Parameters
    ----------
    hidden : width of the weight CNN (3x3 then 1x1 convolution), evaluated once per matrix.
    channels : learned 2x2 kernels per smoothing step (the convolutional smoothing path).
    smoothing_steps : pre-smoothing steps (post-smoothing mirrors them).
    coarsest : levels are coarsened until both sides are at most this; that level is solved
        exactly (dense inverse).
    grid_size : largest training grid, recorded for information (the network runs at any size).
    """

    arch = "VCycleNet"
    #: DCDM needs only a short history for a fixed SPD map (float32 rounding keeps it from 1)
    recommended_n_orth = 4

    def __init__(self, grid_size: int = 64, *, hidden: int = 8, channels: int = 2,
                 smoothing_steps: int = 2, coarsest: int = 8):
        super().__init__()
        if isinstance(grid_size, bool) or not isinstance(grid_size, numbers.Integral) \
                or not 1 <= grid_size <= MAX_GRID_SIZE:
            raise ValueError(f"grid_size must be an integer in [1, {MAX_GRID_SIZE}], got {grid_size!r}")
        check_vcycle_hyperparameters(hidden=hidden, channels=channels,
                                     smoothing_steps=smoothing_steps, coarsest=coarsest)
        self.grid_size = int(grid_size)
        self.hidden = int(hidden)
        self.channels = int(channels)
        self.smoothing_steps = int(smoothing_steps)
        self.coarsest = int(coarsest)
        self.features = ("residual",)
        out = self.smoothing_steps * (1 + self.channels)
        self.conv1 = nn.Conv2d(NUM_FEATURES, self.hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(self.hidden, out, 1)
        self.kernels = nn.Parameter(0.5 * torch.randn(self.smoothing_steps, self.channels, 1, 2, 2))
        self.coarse_weight = nn.Parameter(torch.tensor(math.log(math.expm1(1.8))))
        with torch.no_grad():  # start as a damped Jacobi smoother, the learned path nearly off
            self.conv2.weight.mul_(0.1)
            bias = self.conv2.bias.view(self.smoothing_steps, 1 + self.channels)
            bias[:, 0] = math.log(math.expm1(0.7))
            bias[:, 1:] = -4.0

    def config(self) -> dict:
        return {"grid_size": self.grid_size, "hidden": self.hidden, "channels": self.channels,
                "smoothing_steps": self.smoothing_steps, "coarsest": self.coarsest}

    @property
    def in_channels(self) -> int:
        return 1

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---------------------------------------------------------------- hierarchy
    def hierarchy(self, centre, east, south) -> list[dict]:
        """Levels for stencil images ``(H, W)`` (torch, any float dtype), finest first.

        Each level holds its 5-point operator and, per smoothing step, the smoother as a 9-point
        stencil (its coefficients depend on the parameters, differentiably; the operators do not).
        """
        levels = []
        c, e, s = centre, east, south
        while True:
            H, W = c.shape
            fluid = c > 0
            dis = torch.where(fluid, torch.rsqrt(torch.where(fluid, c, torch.ones_like(c))),
                              torch.zeros_like(c))
            lvl = {"c": c, "cE": e, "cW": F.pad(e[:, :-1], (1, 0)), "cS": s,
                   "cN": F.pad(s[:-1, :], (0, 0, 1, 0)), "fluid": fluid.to(c.dtype), "shape": (H, W)}
            levels.append(lvl)
            if max(H, W) <= self.coarsest:
                lvl["inv"] = self._coarse_inverse(lvl)
                break
            feats = _features(c, e, s)
            raw = self.conv2(F.relu(self.conv1(feats[None].to(self.conv1.weight.dtype))))[0]
            wts = F.softplus(raw).to(c.dtype).view(self.smoothing_steps, 1 + self.channels, H, W)
            lvl["S"] = [self._smoother(wts[k], k, dis) for k in range(self.smoothing_steps)]
            c, e, s = coarsen(c, e, s)
        return levels

    def _smoother(self, wts, k: int, dis):
        """The 9 coefficient images of ``S_k = D^-1/2 (diag(w) + sum_c K_c^T diag(a_c) K_c) D^-1/2``.

        ``(K_c u)_q = sum_d g_c[d] u_{q+d}`` over ``d`` in {0,1}^2 and ``q`` in {-1..H-1} x {-1..W-1};
        so ``(K^T diag(a) K)_{i,i+d'-d} = sum g[d] g[d'] a_{i-d}``.
        """
        H, W = dis.shape
        w = wts[0]
        coef = [torch.zeros_like(dis) for _ in OFFSETS]
        coef[4] = w
        if self.channels:
            a = F.pad(wts[1:], (1, 1, 1, 1))  # a_q at padded index q + 1, zero beyond q = H - 1
            g = self.kernels[k][:, 0].to(dis.dtype)  # (C, 2, 2)
            corners = [(0, 0), (0, 1), (1, 0), (1, 1)]
            for d in corners:
                ad = a[:, 1 - d[0]:1 - d[0] + H, 1 - d[1]:1 - d[1] + W]  # a_{i-d}
                for d2 in corners:
                    idx = OFFSETS.index((d2[0] - d[0], d2[1] - d[1]))
                    gg = g[:, d[0], d[1]] * g[:, d2[0], d2[1]]
                    coef[idx] = coef[idx] + (gg[:, None, None] * ad).sum(0)
        dp = F.pad(dis, (1, 1, 1, 1))
        out = [dis * coef[i] * dp[1 + di:1 + di + H, 1 + dj:1 + dj + W] for i, (di, dj) in enumerate(OFFSETS)]
        return torch.stack(out)

    @staticmethod
    def _coarse_inverse(lvl: dict):
        H, W = lvl["shape"]
        m = H * W
        with torch.no_grad():
            basis = torch.eye(m, dtype=torch.float64, device=lvl["c"].device).view(m, H, W)
            l64 = {k: (v.double() if torch.is_tensor(v) else v) for k, v in lvl.items()}
            Ad = apply_stencil(l64, basis).reshape(m, m)
            dead = ~(l64["fluid"].reshape(m) > 0)
            Ad = Ad + torch.diag(dead.double())
            inv = torch.linalg.inv(Ad)
            keep = (~dead).double()
            inv = inv * keep[:, None] * keep[None, :]
        return inv.to(lvl["c"].dtype)

    # ---------------------------------------------------------------- the cycle
    def vcycle(self, levels: list[dict], r, depth: int = 0):
        """``M r`` for residual images ``r`` ``(K, H, W)`` (zero on dropped cells)."""
        lvl = levels[depth]
        if "inv" in lvl:
            K = r.shape[0]
            return (r.reshape(K, -1) @ lvl["inv"]).reshape(r.shape)
        S = lvl["S"]
        x = apply9(S[0], r)
        for k in range(1, len(S)):
            x = x + apply9(S[k], r - apply_stencil(lvl, x))
        ec = self.vcycle(levels, restrict(r - apply_stencil(lvl, x)), depth + 1)
        x = x + (F.softplus(self.coarse_weight).to(x.dtype) * lvl["fluid"]) * prolong(ec, lvl["shape"])
        for k in reversed(range(len(S))):
            x = x + apply9(S[k], r - apply_stencil(lvl, x))
        return x

    def forward(self, centre, east, south, r):
        """``M r`` for one matrix's stencil images and residual images ``r`` ``(K, H, W)``."""
        return self.vcycle(self.hierarchy(centre, east, south), r)

    def bind(self, A: Any, grid_shape: Sequence[int], *, device: Any = None,
             dtype: Any = None) -> "BoundVCycle":
        """The preconditioner for one matrix, hierarchy built once (no autograd)."""
        return BoundVCycle(self, A, grid_shape, device=device, dtype=dtype)


class BoundVCycle:
    """``r -> M r`` for one matrix (float32 inside, float64 NumPy in and out)."""

    def __init__(self, model: VCycleNet, A: Any, grid_shape: Sequence[int], *, device: Any = None,
                 dtype: Any = None):
        self.model = model
        self.grid_shape = tuple(int(s) for s in grid_shape)
        if device is None:
            device = next(model.parameters()).device
        self.device = torch.device(device)
        self.dtype = dtype or torch.float32
        centre, east, south = stencil_from_matrix(A, self.grid_shape)
        self.fluid = (centre > 0).reshape(-1)
        with torch.inference_mode():
            imgs = [torch.from_numpy(a).to(self.device, self.dtype) for a in (centre, east, south)]
            self.levels = model.hierarchy(*imgs)

    def __call__(self, r: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            rt = torch.from_numpy(np.asarray(r, dtype=np.float32).reshape((1,) + self.grid_shape))
            rt = rt.to(self.device, self.dtype) * self.levels[0]["fluid"]
            z = self.model.vcycle(self.levels, rt)
            return z.reshape(-1).to("cpu", torch.float64).numpy()
