"""The backward of y = x Wᵀ + b written out by hand, and a walk of the grad_fn graph.

With upstream gradient dy = ∂L/∂y (shape batch × out): dx = dy W, dW = dyᵀ x, db = Σ_rows dy.
These are exactly the three products AddmmBackward0 computes, so they must agree with .grad
to rounding.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch


def linear_backward(x: torch.Tensor, W: torch.Tensor, dy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dx, dW, db) for y = x @ W.T + b given dy."""
    return dy @ W, dy.T @ x, dy.sum(0)


def grad_fn_walk(root: Any) -> list[str]:
    """Node type names reachable from a grad_fn, breadth first, each node once."""
    seen: set[int] = set()
    order: list[str] = []
    queue = [root]
    while queue:
        node = queue.pop(0)
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        order.append(type(node).__name__)
        queue.extend(nxt for nxt, _ in node.next_functions)
    return order


def grad_fn_census(root: Any) -> Counter[str]:
    """Node type counts of the graph under a grad_fn, found depth first by recursion.

    A second traversal written independently of grad_fn_walk, so the lab can check that the walk
    visits every node exactly once (the same multiset of names), not just that some name appears.
    """
    seen: dict[int, str] = {}

    def visit(node: Any) -> None:
        if node is None or id(node) in seen:
            return
        seen[id(node)] = type(node).__name__
        for nxt, _ in node.next_functions:
            visit(nxt)

    visit(root)
    return Counter(seen.values())
