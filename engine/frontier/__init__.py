"""Frontier-architecture pieces that a CPU can check (phase 36): latent-attention cache arithmetic and a
routed mixture-of-experts block with its load-balancing loss."""
