"""The DCDM network: a small residual U-Net mapping a residual image to a search direction.

In the spirit of Kaneda et al. (ICML 2023): 3x3 convolutions with residual connections, average
pooling to coarser levels and nearest-neighbour upsampling back, skip connections added (not
concatenated), a linear first layer and a 1x1 linear output.  Everything is convolutional, so a
network trained at one grid size runs at any other (sizes not divisible by ``2**levels`` are
zero-padded internally); :attr:`DCDMNet.grid_size` records the size it was trained for.

Input channels (``features``):

``"residual"``
    the residual image, normalised to unit RMS over the fluid cells;
``"solid"``
    1 on cells whose matrix row holds only a diagonal entry (solid cells, identity rows), else 0;
``"deficit"``
    ``1 - a_ii / max(a_ii)`` on fluid cells, 0 on solid cells: which neighbours are missing
    (walls, obstacles) or counted as Dirichlet boundary, i.e. where the stencil differs from the
    interior one.

The last two are derived from the matrix by :func:`grid_features` once per matrix.
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from . import require_torch

torch = require_torch()
nn = torch.nn
F = torch.nn.functional

#: the input channels a network may use, in the order they are stacked
KNOWN_FEATURES: tuple[str, ...] = ("residual", "solid", "deficit")

#: bounds on the hyper-parameters, far above useful networks (the paper's has width 16, 2 levels)
MAX_GRID_SIZE = 1 << 16
MAX_WIDTH = 1024
MAX_LEVELS = 16
MAX_BLOCKS = 64
MAX_PARAMETERS = 100_000_000


def check_hyperparameters(grid_size: Any, *, width: Any, levels: Any, enc_blocks: Any, bottom_blocks: Any,
                          dec_blocks: Any, in_channels: int) -> int:
    """Check :class:`DCDMNet`'s size arguments before anything is built; return its parameter count.

    Model files are untrusted input: a width of 200000 or 10**7 blocks would allocate terabytes
    or run for hours, so every size is bounded and the parameter count is computed, not built.
    Raises ``ValueError``.
    """
    for name, value, lo, hi in (("grid_size", grid_size, 1, MAX_GRID_SIZE), ("width", width, 1, MAX_WIDTH),
                                ("levels", levels, 0, MAX_LEVELS), ("enc_blocks", enc_blocks, 0, MAX_BLOCKS),
                                ("bottom_blocks", bottom_blocks, 0, MAX_BLOCKS),
                                ("dec_blocks", dec_blocks, 0, MAX_BLOCKS)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
            raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    block = 2 * (9 * width * width + width)  # a residual block: two 3x3 convolutions with biases
    blocks = levels * (enc_blocks + dec_blocks) + bottom_blocks
    count = int((9 * in_channels * width + width) + blocks * block + (width + 1))
    if count > MAX_PARAMETERS:
        raise ValueError(f"a network of {count:,} parameters is too large (at most {MAX_PARAMETERS:,})")
    return count


def solid_rows(A: Any) -> np.ndarray:
    """Boolean mask of rows of ``A`` whose only stored nonzero is the diagonal entry.

    For a symmetric matrix such a row is decoupled from the rest (its column is empty too), so
    its unknown is solved exactly by ``x_i = b_i / a_ii``; in a pressure matrix these are the
    solid cells.
    """
    M = sp.csr_array(A)
    n = M.shape[0]
    rows = np.repeat(np.arange(n), np.diff(M.indptr))
    off = (M.indices != rows) & (M.data != 0)
    has_off = np.zeros(n, dtype=bool)
    has_off[rows[off]] = True
    diag = M.diagonal()
    return (~has_off) & (diag != 0)


def grid_features(A: Any, grid_shape: Sequence[int], features: Sequence[str] = KNOWN_FEATURES,
                  solid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The matrix-derived input channels of a network, and the solid-row mask.

    Returns ``(images, solid)``: ``images`` is a float32 array ``(C, *grid_shape)`` holding the
    channels of ``features`` other than ``"residual"`` (in order), ``solid`` the boolean mask of
    :func:`solid_rows` (flat, row-major).
    """
    shape = tuple(int(s) for s in grid_shape)
    size = int(np.prod(shape))
    if A.shape != (size, size):
        raise ValueError(f"matrix of shape {A.shape} does not match grid {shape} ({size} unknowns)")
    if solid is None:
        solid = solid_rows(A)
    chans = []
    for name in features:
        if name == "residual":
            continue
        if name == "solid":
            chans.append(solid.astype(np.float32))
        elif name == "deficit":
            d = np.asarray(sp.csr_array(A).diagonal(), dtype=np.float64)
            fluid = ~solid
            ref = float(np.max(np.abs(d[fluid]))) if fluid.any() else 1.0
            ref = ref if ref > 0 else 1.0
            chans.append(np.where(fluid, 1.0 - np.abs(d) / ref, 0.0).astype(np.float32))
        else:
            raise ValueError(f"unknown feature {name!r}; known: {KNOWN_FEATURES}")
    images = (np.stack(chans).reshape((len(chans),) + shape) if chans
              else np.zeros((0,) + shape, dtype=np.float32))
    return np.ascontiguousarray(images, dtype=np.float32), solid


class ResBlock(nn.Module):
    """``x + relu(conv(relu(conv(x))))`` at constant width (the paper's residual unit)."""

    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x):
        return x + F.relu(self.conv2(F.relu(self.conv1(x))))


class DCDMNet(nn.Module):
    """Residual U-Net producing one search-direction channel.

    Parameters
    ----------
    grid_size : int
        The grid size ``n`` (an ``n x n`` grid) the network is meant for; recorded, not enforced
        by :meth:`forward`.
    width : int
        Channels of every convolution (the paper uses 16).
    levels : int
        Number of 2x2 average-pooling steps (1 or 2 in practice).
    enc_blocks, bottom_blocks, dec_blocks : int
        Residual blocks per encoder level, at the coarsest level, and per decoder level.
    features : sequence of str
        Input channels, a subset of :data:`KNOWN_FEATURES` starting with ``"residual"``.
    """

    def __init__(self, grid_size: int, *, width: int = 16, levels: int = 2, enc_blocks: int = 1,
                 bottom_blocks: int = 2, dec_blocks: int = 1,
                 features: Sequence[str] = KNOWN_FEATURES):
        super().__init__()
        features = tuple(features)
        if not features or features[0] != "residual" or len(set(features)) != len(features) \
                or any(f not in KNOWN_FEATURES for f in features):
            raise ValueError(f"features must start with 'residual' and be distinct names from "
                             f"{KNOWN_FEATURES}, got {features}")
        check_hyperparameters(grid_size, width=width, levels=levels, enc_blocks=enc_blocks,
                              bottom_blocks=bottom_blocks, dec_blocks=dec_blocks, in_channels=len(features))
        self.grid_size = int(grid_size)
        self.width = int(width)
        self.levels = int(levels)
        self.enc_blocks = int(enc_blocks)
        self.bottom_blocks = int(bottom_blocks)
        self.dec_blocks = int(dec_blocks)
        self.features = features
        w = self.width
        self.conv_in = nn.Conv2d(len(features), w, 3, padding=1)
        self.enc = nn.ModuleList(nn.Sequential(*[ResBlock(w) for _ in range(self.enc_blocks)])
                                 for _ in range(self.levels))
        self.bottom = nn.Sequential(*[ResBlock(w) for _ in range(self.bottom_blocks)])
        self.dec = nn.ModuleList(nn.Sequential(*[ResBlock(w) for _ in range(self.dec_blocks)])
                                 for _ in range(self.levels))
        self.conv_out = nn.Conv2d(w, 1, 1)

    @property
    def in_channels(self) -> int:
        return len(self.features)

    def config(self) -> dict:
        """Constructor arguments, JSON-serialisable (what :func:`save_model` stores)."""
        return {"grid_size": self.grid_size, "width": self.width, "levels": self.levels,
                "enc_blocks": self.enc_blocks, "bottom_blocks": self.bottom_blocks,
                "dec_blocks": self.dec_blocks, "features": list(self.features)}

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, x):
        """``x``: ``(B, C, H, W)`` -> ``(B, 1, H, W)``."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        H, W = x.shape[-2:]
        m = 2 ** self.levels
        ph, pw = (-H) % m, (-W) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph))
        h = self.conv_in(x)
        skips = []
        for enc in self.enc:
            h = enc(h)
            skips.append(h)
            h = F.avg_pool2d(h, 2)
        h = self.bottom(h)
        for dec, skip in zip(reversed(self.dec), reversed(skips)):
            h = F.interpolate(h, scale_factor=2, mode="nearest") + skip
            h = dec(h)
        out = self.conv_out(h)
        if ph or pw:
            out = out[..., :H, :W]
        return out


def normalise_residual(r, fluid=None, eps: float = 1e-30):
    """Scale residual images ``(B, H, W)`` (torch) to unit RMS over fluid cells, per sample."""
    if fluid is None:
        count = r[0].numel()
        ss = (r * r).flatten(1).sum(1)
    else:
        count = fluid.flatten(1).sum(1).clamp_min(1)
        ss = (r * r * fluid).flatten(1).sum(1)
    scale = torch.sqrt(ss / count).clamp_min(eps)
    return r / scale.view(-1, *([1] * (r.dim() - 1)))


def apply_network(model, r, feature_images, fluid=None):
    """Direction images ``(B, H, W)`` for residual images ``r`` ``(B, H, W)``.

    ``feature_images`` is ``(B, C-1, H, W)`` or ``(C-1, H, W)`` (shared); ``fluid``, when given,
    ``(B, H, W)`` or ``(H, W)`` float with 1 on fluid cells: the residual is normalised over
    them and the output is zeroed elsewhere.
    """
    if fluid is not None and fluid.dim() == 2:
        fluid = fluid.expand(r.shape[0], *fluid.shape)
    rn = normalise_residual(r, fluid).unsqueeze(1)
    if feature_images is not None and feature_images.shape[-3] > 0:
        if feature_images.dim() == 3:
            feature_images = feature_images.expand(r.shape[0], *feature_images.shape)
        rn = torch.cat([rn, feature_images], dim=1)
    q = model(rn)[:, 0]
    if fluid is not None:
        q = q * fluid
    return q
