"""Probability and information: entropy, KL, cross-entropy, stable log-softmax, calibration."""
