"""Autograd from scratch: scalar `Value` (phase 07), NumPy `Tensor` (phase 08), gradchecks, graph views."""

from engine.scratch.autograd.gradcheck import GradcheckError, scalar_gradcheck, tensor_gradcheck
from engine.scratch.autograd.scalar import Value
from engine.scratch.autograd.tensor import Tensor, cat, cross_entropy, no_grad, stack

__all__ = [
    "GradcheckError",
    "Tensor",
    "Value",
    "cat",
    "cross_entropy",
    "no_grad",
    "scalar_gradcheck",
    "stack",
    "tensor_gradcheck",
]
