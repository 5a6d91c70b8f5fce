"""Retrieval-augmented generation over the shipped grammar KB, offline (phase 29)."""
