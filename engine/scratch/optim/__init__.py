"""Optimizers (SGD, Adam, AdamW; PyTorch's update rules) and learning-rate schedules."""

from engine.scratch.optim.optimizers import SGD, Adam, AdamW, Optimizer
from engine.scratch.optim.schedules import constant, cosine, set_lr, step_decay, warmup_cosine, wsd

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "constant", "cosine", "set_lr", "step_decay", "warmup_cosine", "wsd"]
