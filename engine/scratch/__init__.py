"""NumPy from scratch: numerics, linear algebra, calculus, probability, autograd, modules, optimisers."""
