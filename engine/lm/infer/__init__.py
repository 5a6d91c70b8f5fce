"""Inference for the Mini-GPT (phases 21-22): sampling strategies, decode loops, the KV cache."""
