"""Optimizers (SGD, Adam, AdamW; PyTorch's update rules) and learning-rate schedules."""

from engine.optim.optimizers import SGD, Adam, AdamW, Optimizer
from engine.optim.schedules import constant, cosine, set_lr, step_decay, warmup_cosine, wsd

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "constant", "cosine", "set_lr", "step_decay", "warmup_cosine", "wsd"]
