"""Deep Conjugate Direction Method (Kaneda et al., ICML 2023) and a flexible-CG variant.

DCDM builds each search direction from the network, ``d_k = N(r_k / rms(r_k))``, makes it
A-orthogonal to the last ``n_orth`` directions (Gram-Schmidt in the A inner product) and
takes the exact line search ``alpha = d^T r / d^T A d``.  Whatever the network outputs, every
step minimises the A-norm error along a direction, so the iteration cannot diverge; a bad
network only makes it slow.  A safeguard adds a step along the residual whenever the network's
direction is nearly orthogonal to it (otherwise the nonlinear iteration can lock up for good),
and persistent weakness or stagnation ends the solve with ``status="breakdown"`` so the caller
can fall back to another method.  ``"converged"`` is only reported after checking the true
residual ``b - A x``.

The vector arithmetic runs in float64 NumPy with SciPy's sparse product; only the network runs in
torch (float32, on the model's device, under :func:`torch.inference_mode`).  Rows that hold only
a diagonal entry (solid cells: identity rows) are solved exactly up front and masked out of
every direction.

:class:`DCDMMethod` wraps both iterations as a seqsolve :class:`~seqsolve.solvers.base.Method`.
This module imports torch only when a network is actually evaluated or loaded.
"""

from __future__ import annotations

import importlib.util
import math
import os
import threading
from collections import deque
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from ..errors import ConfigurationError, StateFileError
from ..solvers.base import Callback, IterationResult, Method

__all__ = ["dcdm", "fcg", "NetworkDirection", "DCDMMethod", "default_model_path",
           "packaged_models", "MODEL_DIR"]

#: where packaged pretrained models live (``dcdm_fluid2d_n{n}.sqnn``, see :func:`packaged_models`)
MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")
#: environment variable naming a model file to use when ``DCDMMethod(model_path=None)``
MODEL_ENV = "SEQSOLVE_DCDM_MODEL"
#: file name of the packaged size-agnostic learned V-cycle (:class:`~seqsolve.neural.multigrid.VCycleNet`)
VCYCLE_NAME = "dcdm_fluid2d_vcycle.sqnn"
VCYCLE_MODEL = os.path.join(MODEL_DIR, VCYCLE_NAME)


class NetworkDirection:
    """``r -> d``: a network (or plain callable) bound to one matrix, ready for repeated calls.

    ``model`` is a :class:`~seqsolve.neural.model.DCDMNet` (or any ``torch.nn.Module`` with a
    ``features`` attribute and the same input/output convention), a module with a ``bind(A,
    grid_shape)`` method such as :class:`~seqsolve.neural.multigrid.VCycleNet` (its per-matrix
    hierarchy is built here, once), or a plain callable taking the
    residual as an image of ``grid_shape`` and returning an array of the same size.  The
    matrix-derived input channels and the solid-row mask are computed here once.
    """

    def __init__(self, model: Any, A: Any, grid_shape: Sequence[int], *, device: Any = None):
        self.grid_shape = tuple(int(s) for s in grid_shape)
        size = int(np.prod(self.grid_shape))
        if A.shape != (size, size):
            raise ConfigurationError(
                f"matrix of shape {A.shape} does not fit grid {self.grid_shape} "
                f"({size} unknowns)")
        self.model = model
        self._torch = _is_module(model)
        self._bound = None
        if self._torch and hasattr(model, "bind"):  # a VCycleNet: the hierarchy is built once here
            from .model import solid_rows

            self.solid = solid_rows(A)
            self._bound = model.bind(A, self.grid_shape, device=device)
            self.device = self._bound.device
        elif self._torch:
            from .model import grid_features

            torch = _torch()
            features = tuple(getattr(model, "features", ("residual",)))
            images, self.solid = grid_features(A, self.grid_shape, features)
            if device is None:
                try:
                    device = next(model.parameters()).device
                except StopIteration:
                    device = torch.device("cpu")
            self.device = torch.device(device)
            self._images = torch.from_numpy(images).to(self.device)
            self._fluid = torch.from_numpy((~self.solid).astype(np.float32)
                                           .reshape(self.grid_shape)).to(self.device)
            dtype = next(iter(model.parameters()), torch.zeros(())).dtype
            self._dtype = dtype if dtype.is_floating_point else torch.float32
        else:
            from .model import solid_rows

            if not callable(model):
                raise ConfigurationError(f"model must be a torch module or a callable, "
                                         f"got {type(model).__name__}")
            self.solid = solid_rows(A)
            self.device = None
        self.fluid = ~self.solid

    def __call__(self, r: np.ndarray) -> np.ndarray:
        if self._bound is not None:
            r = np.asarray(r, dtype=np.float64)
            scale = float(np.max(np.abs(r))) if r.size else 0.0
            if scale > 0.0 and math.isfinite(scale):
                r = r / scale  # float32 inside: keep the residual's scale away from under/overflow
            return self._bound(r)
        if self._torch:
            torch = _torch()
            from .model import apply_network

            r = np.asarray(r, dtype=np.float64)
            scale = float(np.linalg.norm(r)) / math.sqrt(max(int(self.fluid.sum()), 1))
            if scale > 0.0 and math.isfinite(scale):
                r = r / scale  # normalise in float64 so float32 neither under- nor overflows
            with torch.inference_mode():
                rt = torch.from_numpy(r.astype(np.float32).reshape(
                    (1,) + self.grid_shape)).to(self.device, self._dtype)
                q = apply_network(self.model, rt, self._images.to(self._dtype),
                                  self._fluid.to(self._dtype))
                out = q.reshape(-1).to("cpu", torch.float64).numpy()
            return out
        q = np.asarray(self.model(np.asarray(r).reshape(self.grid_shape)), dtype=np.float64)
        if q.size != r.size:
            raise ValueError(f"direction callable returned {q.size} values for {r.size} unknowns")
        q = q.reshape(-1).copy()
        q[self.solid] = 0.0
        return q


def _torch():
    from . import require_torch

    return require_torch()


def _is_module(model: Any) -> bool:
    try:
        import torch
    except ImportError:
        return False
    return isinstance(model, torch.nn.Module)


class _Monitor:
    """Shared bookkeeping: tolerance, residual history, stagnation and weak-direction tests."""

    def __init__(self, b, *, rtol, atol, maxiter, window, factor, weak_window, residuals):
        self.bnorm = float(np.linalg.norm(b))
        self.tol = max(float(rtol) * self.bnorm, float(atol))
        self.maxiter = int(maxiter)
        self.window = int(window) if window else 0
        self.factor = float(factor)
        self.hist: list[float] = []
        self.out = residuals
        self.weak: deque = deque(maxlen=max(int(weak_window), 1))
        self.weak_steps = 0

    def record(self, rnorm: float, weak: bool) -> None:
        self.hist.append(rnorm)
        self.weak.append(bool(weak))
        self.weak_steps += bool(weak)
        if self.out is not None:
            self.out.append(rnorm)

    def failing(self) -> bool:
        """Stagnation, or the network failed the angle test in most recent iterations."""
        if len(self.weak) == self.weak.maxlen and sum(self.weak) > len(self.weak) // 2:
            return True
        w = self.window
        if w <= 0 or len(self.hist) <= w:
            return False
        return min(self.hist[-w:]) > self.factor * min(self.hist[:-w])


def _prepare(A, b, x0, model, grid_shape, device):
    if not sp.issparse(A):
        raise ConfigurationError("dcdm/fcg need A as a SciPy sparse matrix (explicit entries)")
    A = sp.csr_array(A)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if b.size != A.shape[0]:
        raise ValueError(f"b has {b.size} entries, A is {A.shape}")
    direction = model if isinstance(model, NetworkDirection) else NetworkDirection(
        model, A, grid_shape, device=device)
    if direction.solid.size != b.size:
        raise ConfigurationError("the prepared direction operator belongs to another matrix size")
    x = np.zeros_like(b) if x0 is None else np.array(x0, dtype=np.float64).reshape(-1)
    if x.size != b.size:
        raise ValueError(f"x0 has {x.size} entries, expected {b.size}")
    s = direction.solid
    if s.any():
        x[s] = b[s] / A.diagonal()[s]
    return A, b, x, direction


class _Basis:
    """The last ``cap`` directions ``p`` with ``A p`` and ``p^T A p``, stored as matrix rows so
    A-orthogonalising against all of them is two matrix-vector products (classical
    Gram-Schmidt in the A inner product, ``passes`` times)."""

    def __init__(self, cap: int, size: int, passes: int = 1):
        self.cap = max(int(cap), 0)
        self.P = np.empty((self.cap, size))
        self.AP = np.empty((self.cap, size))
        self.pAp = np.empty(self.cap)
        self.m = 0
        self.pos = 0
        self.passes = max(int(passes), 1)

    def orthogonalise(self, q: np.ndarray, extra=()) -> np.ndarray:
        if self.m:
            P, AP, d = self.P[: self.m], self.AP[: self.m], self.pAp[: self.m]
            for _ in range(self.passes):
                q -= ((AP @ q) / d) @ P
        for p, Ap, pAp in extra:
            q -= (float(q @ Ap) / pAp) * p
        return q

    def add(self, q: np.ndarray, Aq: np.ndarray, qAq: float) -> None:
        if not self.cap:
            return
        self.P[self.pos] = q
        self.AP[self.pos] = Aq
        self.pAp[self.pos] = qAq
        self.pos = (self.pos + 1) % self.cap
        self.m = min(self.m + 1, self.cap)


def _energy_step(A, q, basis: _Basis, extra=()):
    """``(q, Aq, q^T A q)`` after A-orthogonalisation, or ``None`` when nothing new is left;
    ``"indefinite"`` when ``q^T A q < 0`` clearly."""
    n0 = float(np.linalg.norm(q))
    if n0 == 0.0:
        return None
    q = basis.orthogonalise(q, extra)
    nq = float(np.linalg.norm(q))
    if not nq > 1e-10 * n0:
        return None
    Aq = A @ q
    qAq = float(q @ Aq)
    if not math.isfinite(qAq):
        return None
    if qAq <= 0.0:
        return "indefinite" if -qAq > 1e-12 * nq * float(np.linalg.norm(Aq)) else None
    return q, Aq, qAq


def _start(A, b, x0, model, grid_shape, device, *, rtol, atol, maxiter, window, factor, weak_window,
           residuals):
    """Shared opening of :func:`dcdm` and :func:`fcg`: inputs, monitor, first residual.

    ``done`` is an :class:`IterationResult` when ``x0`` already meets the tolerance (or is not finite).
    """
    A, b, x, direction = _prepare(A, b, x0, model, grid_shape, device)
    mon = _Monitor(b, rtol=rtol, atol=atol, maxiter=b.size if maxiter is None else maxiter, window=window,
                   factor=factor, weak_window=weak_window, residuals=residuals)
    r = b - A @ x
    rnorm = float(np.linalg.norm(r))
    mon.hist.append(rnorm)
    done = None
    if rnorm <= mon.tol:
        done = IterationResult(x, 0, "converged")
    elif not math.isfinite(rnorm):
        done = IterationResult(x, 0, "nan")
    return A, b, x, direction, mon, r, rnorm, done


def dcdm(A: Any, b: np.ndarray, x0: np.ndarray | None = None, *, model: Any,
         grid_shape: Sequence[int], rtol: float = 1e-6, atol: float = 0.0,
         maxiter: int | None = None, n_orth: int = 64, angle_tol: float = 1e-2,
         true_residual_every: int = 8, stagnation_window: int = 30,
         stagnation_factor: float = 0.9, weak_window: int = 10, orth_passes: int = 1,
         device: Any = None, callback: Callback = None,
         residuals: list | None = None) -> IterationResult:
    """Solve ``A x = b`` (A SPD on a grid) with the Deep Conjugate Direction Method.

    Parameters
    ----------
    A : sparse matrix, ``N x N`` with ``N = prod(grid_shape)``
    b, x0 : right-hand side and initial guess (zeros by default)
    model : a trained :class:`~seqsolve.neural.model.DCDMNet`, a :class:`NetworkDirection`
        already bound to ``A`` (reuses the precomputed input channels), or a plain callable
        ``image -> image`` producing directions.
    grid_shape : how unknowns lie on the grid (row-major), e.g. ``(n, n)``.
    rtol, atol : stop when ``||b - A x|| <= max(rtol ||b||, atol)``, checked on the *true*
        residual.
    maxiter : iteration limit (default: the number of unknowns).
    n_orth : how many previous directions each new one is A-orthogonalised against (classical
        Gram-Schmidt in the A inner product, as two BLAS-2 products; ``orth_passes=2`` repeats
        it).  The paper uses 2.  With networks trained for minutes rather than days that stalls
        (the iteration locks onto a residual the network maps to a direction orthogonal to it);
        measured on held-out Fluid2D systems, n=32 needs about 16 and n=64 about 32-64 to
        converge in a fraction of CG's iterations, so the default is 64.  Cost: ``2 n_orth N``
        multiply-adds and up to ``2 n_orth N`` stored floats, small next to the network.
    angle_tol : safeguard.  A network direction ``d`` whose angle to the residual fails
        ``|cos(d, r)| >= angle_tol`` brings almost no progress, and the nonlinear iteration can
        lock onto a residual with ``N(r) ⟂ r`` for good; such an iteration is *weak* and also
        steps along the residual itself (a second direction, one more product with ``A``),
        which restores the descent guarantee.  ``0`` gives the paper's pure method.
    true_residual_every : recompute ``r = b - A x`` every this many iterations (and always
        before declaring convergence); in between ``r`` is updated by recurrence.
    stagnation_window, stagnation_factor : return ``"breakdown"`` when the best residual of the
        last ``window`` iterations is not below ``factor`` times the best one before them
        (``window=0`` disables the test).
    weak_window : return ``"breakdown"`` when more than half of the last ``weak_window``
        iterations were weak (the network is not helping; a plain Krylov method is cheaper).
    callback : called with the current iterate after every iteration.
    residuals : when a list is given, the residual norm after every iteration is appended.

    Returns
    -------
    IterationResult
        ``status`` is ``"converged"`` only when the true residual meets the tolerance;
        ``"breakdown"`` when the network produces no usable direction (zero or non-finite
        output, nothing new after orthogonalisation without a safeguard, mostly weak
        directions) or progress stagnates; ``"maxiter"`` otherwise; ``"indefinite"`` if
        ``d^T A d < 0`` is met (A not SPD).
    """
    A, b, x, direction, mon, r, rnorm, done = _start(
        A, b, x0, model, grid_shape, device, rtol=rtol, atol=atol, maxiter=maxiter,
        window=stagnation_window, factor=stagnation_factor, weak_window=weak_window, residuals=residuals)
    if done is not None:
        return done
    every = max(int(true_residual_every), 1)
    angle_tol = max(float(angle_tol), 0.0)
    n_orth = max(int(n_orth), 0)
    basis = _Basis(n_orth, b.size, passes=orth_passes)
    status = "maxiter"
    k = 0
    while k < mon.maxiter:
        q = direction(r)
        if not np.all(np.isfinite(q)) or not np.any(q):
            status = "breakdown"  # the network gives nothing usable at all
            break
        step = _energy_step(A, q, basis)
        if step == "indefinite":
            status = "indefinite"
            break
        weak = step is None
        if step is not None:
            q, Aq, qAq = step
            cos = abs(float(q @ r)) / (float(np.linalg.norm(q)) * rnorm)
            weak = cos < angle_tol
        if step is None and angle_tol == 0.0:
            status = "breakdown"  # nothing new and no safeguard
            break
        steps = [step] if step is not None else []
        if weak and angle_tol > 0.0:
            extra = _energy_step(A, r.copy(), basis, steps)
            if extra == "indefinite":
                status = "indefinite"
                break
            if extra is not None:
                steps.append(extra)
        if not steps:
            status = "breakdown"
            break
        for q, Aq, qAq in steps:  # A-orthogonal directions: independent exact line searches
            alpha = float(q @ r) / qAq
            x += alpha * q
            r -= alpha * Aq
        k += 1
        if k % every == 0:
            r = b - A @ x
        rnorm = float(np.linalg.norm(r))
        if rnorm <= mon.tol and k % every != 0:
            r = b - A @ x  # confirm on the true residual
            rnorm = float(np.linalg.norm(r))
        mon.record(rnorm, weak)
        if callback is not None:
            callback(x)
        if not math.isfinite(rnorm):
            status = "nan"
            break
        if rnorm <= mon.tol:
            return IterationResult(x, k, "converged")
        for st in steps:
            basis.add(*st)
        if mon.failing():
            status = "breakdown"
            break
    return IterationResult(x, k, status)


def fcg(A: Any, b: np.ndarray, x0: np.ndarray | None = None, *, model: Any,
        grid_shape: Sequence[int], rtol: float = 1e-6, atol: float = 0.0,
        maxiter: int | None = None, angle_tol: float = 1e-2, true_residual_every: int = 8,
        stagnation_window: int = 30, stagnation_factor: float = 0.9, weak_window: int = 10,
        device: Any = None, callback: Callback = None,
        residuals: list | None = None) -> IterationResult:
    """Flexible CG with the network as a nonlinear preconditioner (Polak-Ribiere form).

    ``z_k = N(r_k)`` (sign-flipped so ``z^T r > 0``), ``p_k = z_k + beta_k p_{k-1}`` with
    ``beta_k = z_k^T (r_k - r_{k-1}) / z_{k-1}^T r_{k-1}`` (Golub & Ye's inexact PCG; Notay's
    FCG keeps more directions, which is what :func:`dcdm` does), and the exact line search
    ``alpha = p^T r / p^T A p``.  One stored direction, no explicit re-orthogonalisation; in
    exact arithmetic it coincides with ``dcdm(n_orth=1)``, in floating point it loses
    A-orthogonality sooner.  Safeguard: when ``cos(z, r) < angle_tol`` the step is weak and
    ``z`` is replaced by ``r`` (restarting the recurrence with an unpreconditioned step).
    Other parameters, statuses and guarantees as :func:`dcdm`.
    """
    A, b, x, direction, mon, r, rnorm, done = _start(
        A, b, x0, model, grid_shape, device, rtol=rtol, atol=atol, maxiter=maxiter,
        window=stagnation_window, factor=stagnation_factor, weak_window=weak_window, residuals=residuals)
    if done is not None:
        return done
    every = max(int(true_residual_every), 1)
    angle_tol = max(float(angle_tol), 0.0)

    def precond(res, res_norm):
        """``(z, z^T r, weak)``; ``z`` is None when the network output is unusable."""
        z = direction(res)
        if not np.all(np.isfinite(z)) or not np.any(z):
            return None, 0.0, True
        zr = float(z @ res)
        if zr < 0.0:
            z, zr = -z, -zr
        if zr < angle_tol * float(np.linalg.norm(z)) * res_norm or zr == 0.0:
            if angle_tol == 0.0:
                return None, 0.0, True
            return res.copy(), res_norm * res_norm, True
        return z, zr, False

    z, zr, weak = precond(r, rnorm)
    if z is None:
        return IterationResult(x, 0, "breakdown")
    p = z.copy()
    status = "maxiter"
    k = 0
    while k < mon.maxiter:
        Ap = A @ p
        pAp = float(p @ Ap)
        if not math.isfinite(pAp) or pAp == 0.0:
            status = "breakdown"
            break
        if pAp < 0.0:
            status = "indefinite"
            break
        alpha = float(p @ r) / pAp
        x += alpha * p
        k += 1
        r_old = r
        if k % every == 0:
            r = b - A @ x
        else:
            r = r - alpha * Ap
        rnorm = float(np.linalg.norm(r))
        if rnorm <= mon.tol and k % every != 0:
            r = b - A @ x
            rnorm = float(np.linalg.norm(r))
        mon.record(rnorm, weak)
        if callback is not None:
            callback(x)
        if not math.isfinite(rnorm):
            status = "nan"
            break
        if rnorm <= mon.tol:
            return IterationResult(x, k, "converged")
        if mon.failing():
            status = "breakdown"
            break
        z_new, zr_new, weak = precond(r, rnorm)
        if z_new is None:
            status = "breakdown"
            break
        beta = float(z_new @ (r - r_old)) / zr
        p = z_new + beta * p
        z, zr = z_new, zr_new
    return IterationResult(x, k, status)


# --------------------------------------------------------------------------------------------
# The Method
# --------------------------------------------------------------------------------------------

_MODEL_CACHE: dict[tuple, Any] = {}
_CACHE_LOCK = threading.Lock()


def default_model_path(n: int) -> str | None:
    """The model used when none is named: ``$SEQSOLVE_DCDM_MODEL``, else a packaged
    ``pretrained/dcdm_fluid2d_n{n}.sqnn``; ``None`` when neither exists."""
    env = os.environ.get(MODEL_ENV)
    if env:
        return env
    path = os.path.join(MODEL_DIR, f"dcdm_fluid2d_n{int(n)}.sqnn")
    return path if os.path.exists(path) else None


def packaged_models() -> dict[int, str]:
    """Packaged pretrained models, ``{grid size n: path}``, from ``pretrained/dcdm_fluid2d_n{n}.sqnn``."""
    out: dict[int, str] = {}
    try:
        names = os.listdir(MODEL_DIR)
    except OSError:
        return out
    for name in names:
        if name.startswith("dcdm_fluid2d_n") and name.endswith(".sqnn"):
            digits = name[len("dcdm_fluid2d_n"):-len(".sqnn")]
            if digits.isdigit() and int(digits) > 0:
                out[int(digits)] = os.path.join(MODEL_DIR, name)
    return dict(sorted(out.items()))


def _nearest_model_path(n: int) -> str | None:
    """``default_model_path(n)``, else the packaged model whose grid size is nearest to ``n``
    (ratio-wise; ties go to the larger size)."""
    path = default_model_path(n)
    if path is not None:
        return path
    models = packaged_models()
    if not models:
        return None
    best = min(models, key=lambda m: (abs(math.log(m / max(n, 1))), -m))
    return models[best]


def _cached_model(path: str, device: Any):
    """Load ``path`` once per (file identity, device); reloaded when the file changes."""
    from .model_io import load_model

    try:
        st = os.stat(path)
    except OSError as exc:
        raise StateFileError(f"DCDM model file {path!r} cannot be read: {exc}") from exc
    key = (os.path.realpath(path), st.st_mtime_ns, st.st_size, str(device))
    with _CACHE_LOCK:
        model = _MODEL_CACHE.get(key)
        if model is None:
            model = load_model(path, device=device)
            if len(_MODEL_CACHE) >= 8:
                _MODEL_CACHE.clear()
            _MODEL_CACHE[key] = model
    return model


class _Prepared:
    __slots__ = ("path", "model", "A", "direction", "n")

    def __init__(self, path, model, A, direction, n):
        self.path, self.model, self.A, self.direction, self.n = path, model, A, direction, n


class DCDMMethod(Method):
    """DCDM (or its flexible-CG variant) with a trained network, as a seqsolve method.

    Parameters
    ----------
    model_path : str or None
        A model file written by :func:`~seqsolve.neural.model_io.save_model`.  ``None`` uses
        :func:`default_model_path` for the system's grid size (the method is then not
        applicable when no such model exists).
    variant : ``"dcdm"`` or ``"fcg"``
    n_orth : directions kept for A-orthogonalisation (``"dcdm"`` only; see :func:`dcdm`);
        ``None``: the model's ``recommended_n_orth`` (4 for a VCycleNet, a linear SPD map), else 64.
        With ``model_path=None`` the packaged size-agnostic VCycleNet is used when present (any
        square grid), else the per-size U-Net models below.
    device : torch device for the network; default CUDA when available, else CPU.
    any_size : bool
        ``False`` (default): the grid is ``n x n`` with ``n`` the model's grid size, so the
        method applies only to matrices with ``n*n`` rows.  ``True``: apply the model to any
        square grid, ``n = isqrt(rows)``; the network is fully convolutional (see
        :class:`~seqsolve.neural.model.DCDMNet`), so a model trained at one size runs at
        another, though how well its directions transfer is an empirical matter (measured in
        ``benchmarks/fluid2d_dcdm.py``).  With ``model_path=None`` the model is then
        :func:`default_model_path` for that ``n`` if it exists, else the packaged model whose
        grid size is nearest to ``n``.  Any matrix whose row count is a perfect square is
        accepted; whether its unknowns really lie on a row-major ``n x n`` grid is the caller's
        responsibility (the method still converges otherwise, only slowly).
    **options : further keyword arguments of :func:`dcdm` / :func:`fcg` (``angle_tol``,
        ``stagnation_window``, ...).

    ``setup`` loads the model once (cached across instances and reused from ``previous``) and
    derives the per-matrix input channels; ``solve`` iterates.
    """

    spd_only = True
    needs_matrix = True
    energy_norm = True

    def __init__(self, model_path: str | None = None, variant: str = "dcdm", *,
                 n_orth: int | None = None, device: Any = None, any_size: bool = False, **options: Any):
        if variant not in ("dcdm", "fcg"):
            raise ConfigurationError(f"DCDM variant must be 'dcdm' or 'fcg', got {variant!r}")
        self.model_path = None if model_path is None else os.fspath(model_path)
        self.variant = variant
        self.n_orth = None if n_orth is None else int(n_orth)
        self.device = device
        self.any_size = bool(any_size)
        self.options = dict(options)
        self._grid_n: dict[str, int] = {}

    def _path_for(self, rows: int) -> str | None:
        if self.model_path is not None:
            return self.model_path
        n = math.isqrt(int(rows))
        if n * n != rows:
            return None
        vcycle = os.path.join(MODEL_DIR, VCYCLE_NAME)
        if not os.environ.get(MODEL_ENV) and os.path.exists(vcycle):
            return vcycle  # serves every grid size
        return _nearest_model_path(n) if self.any_size else default_model_path(n)

    def _agnostic(self, path: str) -> bool:
        """Whether the model in ``path`` runs at any grid size by design (a VCycleNet)."""
        self._model_n(path)
        return self._grid_n.get(path + "#agnostic", False)

    def _model_n(self, path: str) -> int:
        n = self._grid_n.get(path)
        if n is None:
            from .model_io import read_metadata

            meta = read_metadata(path)
            n = int(meta["grid_size"])
            self._grid_n[path] = n
            self._grid_n[path + "#agnostic"] = meta["architecture"].get("class") == "VCycleNet"
        return n

    def applicable(self, A: Any, *, symmetric: bool) -> bool:
        """Also requires torch, a model file, and ``A.shape[0] == n*n`` for the model's ``n``
        (with ``any_size``: for some integer ``n``).

        A named model file that is missing or corrupt raises
        :class:`~seqsolve.errors.StateFileError` (a configuration error worth seeing); a
        missing *default* model or a missing torch just make the method inapplicable.
        """
        # torch's presence is checked without importing it (an import costs seconds)
        if not super().applicable(A, symmetric=symmetric) or importlib.util.find_spec("torch") is None:
            return False
        rows = int(A.shape[0])
        if A.shape[1] != rows:
            return False
        path = self._path_for(rows)
        if path is None:
            return False
        if self.any_size or self._agnostic(path):
            self._model_n(path)  # a named file that is missing or corrupt still raises
            fits = math.isqrt(rows) ** 2 == rows
        else:
            fits = rows == self._model_n(path) ** 2
        return fits

    def setup(self, A: Any, previous: Any | None) -> Any:
        from . import default_device

        device = default_device(self.device)
        path = self._path_for(A.shape[0])
        if path is None:
            raise ConfigurationError(
                f"no DCDM model for a {A.shape[0]}-unknown system: pass model_path, set "
                f"${MODEL_ENV}, or train one with seqsolve.neural.train")
        if isinstance(previous, _Prepared) and previous.path == path:
            model = previous.model
            if previous.A is A:
                return previous
        else:
            model = _cached_model(path, device)
        if self.any_size or hasattr(model, "bind"):
            n = math.isqrt(int(A.shape[0]))
            if A.shape != (n * n, n * n):
                raise ConfigurationError(
                    f"DCDM (any_size) needs a square n x n grid, i.e. a square matrix with a "
                    f"perfect-square number of rows; the matrix has shape {A.shape}")
        else:
            n = model.grid_size
            if A.shape != (n * n, n * n):
                raise ConfigurationError(
                    f"DCDM model {path!r} was trained for a {n}x{n} grid ({n * n} unknowns); "
                    f"the matrix has shape {A.shape} (DCDMMethod(any_size=True) applies it to "
                    f"other grid sizes)")
        direction = NetworkDirection(model, A, (n, n), device=device)
        return _Prepared(path, model, A, direction, n)

    def solve(self, prepared: Any, A: Any, b: np.ndarray, x0: np.ndarray, *, rtol: float,
              atol: float, maxiter: int, callback: Callback = None) -> IterationResult:
        n = prepared.n
        if self.variant == "dcdm":
            return dcdm(A, b, x0, model=prepared.direction, grid_shape=(n, n), rtol=rtol,
                        atol=atol, maxiter=maxiter, n_orth=self._n_orth(prepared.model), callback=callback,
                        **self.options)
        return fcg(A, b, x0, model=prepared.direction, grid_shape=(n, n), rtol=rtol, atol=atol,
                   maxiter=maxiter, callback=callback, **self.options)

    def _n_orth(self, model: Any) -> int:
        """The history length: as given, else the model's recommendation (64 for the U-Net)."""
        if self.n_orth is not None:
            return self.n_orth
        return int(getattr(model, "recommended_n_orth", 64))

    def __repr__(self) -> str:
        extra = ", any_size=True" if self.any_size else ""
        return f"DCDMMethod(model_path={self.model_path!r}, variant={self.variant!r}{extra})"
