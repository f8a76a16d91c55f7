"""Neural solvers: the Deep Conjugate Direction Method (DCDM) of Kaneda et al., ICML 2023.

Two networks produce DCDM's directions: the per-size U-Net :class:`~seqsolve.neural.model.DCDMNet`
(the paper's design) and :class:`~seqsolve.neural.multigrid.VCycleNet`, a learned multigrid
V-cycle whose depth follows the grid, trained once on mixed sizes and used at any size (the
packaged default; see :mod:`seqsolve.neural.multigrid` for why).

A small fully convolutional network ``N`` maps a (normalised) residual image to a search
direction; :func:`dcdm` A-orthogonalises those directions against the last few and takes exact
line searches, so the iteration stays a proper conjugate-direction method whatever the network
outputs.  The network is trained without solutions (:func:`train`), on right-hand sides built
from approximate low eigenvectors of pressure-Poisson matrices.

PyTorch is optional for seqsolve as a whole: this package imports it only when one of the torch
parts is used (``import seqsolve.neural`` itself never fails), and raises :class:`ImportError`
with an install hint when it is missing.

Public names (loaded lazily):

* :class:`~seqsolve.neural.model.DCDMNet` -- the network
* :func:`~seqsolve.neural.model_io.save_model`, :func:`~seqsolve.neural.model_io.load_model`,
  :func:`~seqsolve.neural.model_io.read_metadata`
* :func:`~seqsolve.neural.dcdm.dcdm`, :func:`~seqsolve.neural.dcdm.fcg`,
  :class:`~seqsolve.neural.dcdm.DCDMMethod`
* :func:`~seqsolve.neural.training.train`, :class:`~seqsolve.neural.training.TrainingReport`
"""

from __future__ import annotations

import importlib
from typing import Any

TORCH_VERSION_HINT = "torch==2.13.0"

_EXPORTS = {
    "DCDMNet": "model",
    "grid_features": "model",
    "save_model": "model_io",
    "load_model": "model_io",
    "read_metadata": "model_io",
    "dcdm": "dcdm",
    "fcg": "dcdm",
    "DCDMMethod": "dcdm",
    "train": "training",
    "VCycleNet": "multigrid",
    "train_vcycle": "vcycle_training",
    "TrainingReport": "training",
}

__all__ = sorted(_EXPORTS) + ["require_torch", "default_device"]


def require_torch() -> Any:
    """Import and return :mod:`torch`, or raise ImportError telling how to install it."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "seqsolve.neural needs PyTorch, which is not installed; "
            f"install it with `pip install {TORCH_VERSION_HINT}`"
        ) from exc
    return torch


def default_device(device: Any = None) -> Any:
    """``device`` as a :class:`torch.device`; ``None`` means CUDA when available, else CPU."""
    torch = require_torch()
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'seqsolve.neural' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
