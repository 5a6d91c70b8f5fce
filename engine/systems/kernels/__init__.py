"""Triton kernels for the GPU phases: row softmax (naive 3-pass, online, single-tile), LayerNorm,
the FlashAttention forward and the BK-Core recurrences.

Call engine.systems.kernels.runtime.prepare(device) before importing any kernel module: it decides
whether they compile for a GPU or run under Triton's CPU interpreter. Every kernel has a
float64 reference next to it (engine.systems.kernels.reference) and fault switches the breaks use.
"""
