"""Checks the phase-18 labs report on the scratch training stack: clipping against its closed form, a
resumed run against a continuous one, an interrupted save against the previous checkpoint.

A subpackage on purpose: engine.lm.train.recipe keys the cached Mini-GPT on the bytes of every module
directly in engine/lm/train/, so a new file there would retrain it.
"""
