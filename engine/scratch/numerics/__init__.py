"""Numerical representation: float formats by their bits, stable softmax family, summation, int8."""
