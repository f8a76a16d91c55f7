"""Workloads: sequences of related systems (Heat2D, Matrix Market files, Fluid2D, the FEM suite and the
suite's finite-difference, graph and Helmholtz sequences)."""

from .anisotropic_heat3d import AnisotropicHeat3D
from .base import LinearSystem, SequenceProblem
from .convection_diffusion import ConvectionDiffusion
from .fem_heat import TransientHeatFEM
from .fem_plaplace import PicardPLaplacian
from .fem_topopt import TopologyOptimization
from .gppde import GPPoisson
from .graph_diffusion import GraphDiffusion
from .heat2d import Heat2D
from .helmholtz import Helmholtz
from .jump_coefficients import JumpCoefficients
from .matrix_market import MatrixMarketSequence, save_sequence
from .suite import Workload, suite


def __getattr__(name: str):
    # Fluid2D pulls in its simulator only when asked for
    if name == "Fluid2D":
        from .fluid2d import Fluid2D

        return Fluid2D
    raise AttributeError(name)


__all__ = ["LinearSystem", "SequenceProblem", "Heat2D", "MatrixMarketSequence", "save_sequence", "Fluid2D",
           "TransientHeatFEM", "PicardPLaplacian", "TopologyOptimization", "ConvectionDiffusion", "suite", "Workload",
           "GPPoisson", "AnisotropicHeat3D", "GraphDiffusion", "JumpCoefficients", "Helmholtz"]
