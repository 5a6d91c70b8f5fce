"""Neural-network layers over `engine.scratch.autograd.Tensor` (phases 09-10): a PyTorch-shaped API."""

from engine.scratch.nn import init
from engine.scratch.nn.container import Residual, Sequential
from engine.scratch.nn.layers import (
    GELU,
    CrossEntropyLoss,
    Embedding,
    Identity,
    Linear,
    MSELoss,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from engine.scratch.nn.module import Module, Parameter
from engine.scratch.nn.norm import BatchNorm1d, LayerNorm, RMSNorm

__all__ = [
    "GELU",
    "BatchNorm1d",
    "CrossEntropyLoss",
    "Embedding",
    "Identity",
    "LayerNorm",
    "Linear",
    "MSELoss",
    "Module",
    "Parameter",
    "RMSNorm",
    "ReLU",
    "Residual",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "init",
]
