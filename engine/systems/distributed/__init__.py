"""Distributed training and inference on one CPU box: a spending guard, tensor-parallel layers
simulated as shards, and a two-process gloo data-parallel trainer (phase 35)."""
