"""Linear algebra from first principles: einsum shapes/FLOPs, matmul variants, SVD, norms."""
