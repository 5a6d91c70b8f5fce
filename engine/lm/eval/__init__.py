"""Evaluation harness (phase 20): probes, per-slice accuracy, calibration, reports.

probes   the probe schema, a deterministic generator, hashing against train/val, validation
metrics  Wilson intervals, ECE, binary and multi-class Brier, pass@k, reliability bins
harness  candidate scoring by length-normalised log-likelihood, perplexity, per-slice tables
report   the eight-section REPORT.md and a two-checkpoint COMPARE.md
"""
