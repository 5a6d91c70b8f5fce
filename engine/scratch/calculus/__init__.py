"""Calculus for learning: Jacobians checked by finite differences, optimizers on Rosenbrock."""
