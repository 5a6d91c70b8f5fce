"""Neural-network layers over `engine.autograd.Tensor` (phases 09-10): a PyTorch-shaped API."""

from engine.nn import init
from engine.nn.container import Residual, Sequential
from engine.nn.layers import (
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
from engine.nn.module import Module, Parameter
from engine.nn.norm import BatchNorm1d, LayerNorm, RMSNorm

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
