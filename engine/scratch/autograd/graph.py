"""Show a computation graph: Graphviz DOT text (for an SVG) and an indented text tree (for the TUI).

Works on any node with `_prev` and `_op` plus `data`/`grad` (a scalar `Value`, or a `Tensor`,
whose arrays are summarised by shape). No graphviz package is needed to *write* DOT; render
it with `dot -Tsvg graph.dot -o graph.svg` where the binary exists.
"""

from __future__ import annotations

from typing import Any


def _fmt(x: Any) -> str:
    if x is None:
        return "None"
    if isinstance(x, float):
        return f"{x:.4f}"
    shape = getattr(x, "shape", None)
    if shape is not None and shape != ():
        return f"shape{tuple(shape)}"
    try:
        return f"{float(x):.4f}"
    except (TypeError, ValueError):
        return str(x)


def _nodes(root: Any) -> list[Any]:
    """All nodes reachable from root, each once, parents listed before the node (iterative)."""
    order: list[Any] = []
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in reversed(node._prev) if id(p) not in seen)
    return order


def _name(node: Any) -> str:
    return getattr(node, "label", "") or ""


def to_dot(root: Any, title: str = "graph") -> str:
    """Graphviz DOT: one record node `{label | data | grad}` per value, an op node per operation."""
    lines = [f'digraph "{title}" {{', "  rankdir=LR;", "  node [fontname=Helvetica];"]
    for node in _nodes(root):
        nid = f"n{id(node)}"
        label = f"{_name(node)} | data {_fmt(node.data)} | grad {_fmt(node.grad)}".strip(" |")
        lines.append(f'  {nid} [shape=record, label="{{ {label} }}"];')
        if node._op:
            lines.append(f'  {nid}_op [shape=circle, label="{node._op}"];')
            lines.append(f"  {nid}_op -> {nid};")
            for parent in node._prev:
                lines.append(f"  n{id(parent)} -> {nid}_op;")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_text_tree(root: Any, max_nodes: int = 200) -> str:
    """An indented tree from the root down; a node met again is shown once and marked (shared)."""
    out: list[str] = []
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack and len(out) < max_nodes:
        node, depth = stack.pop()
        name = _name(node)
        head = f"{name} " if name else ""
        op = f"[{node._op}] " if node._op else ""
        shared = id(node) in seen
        text = f"{'  ' * depth}{op}{head}data={_fmt(node.data)} grad={_fmt(node.grad)}"
        out.append(text + ("  (shared, see above)" if shared and node._prev else ""))
        if shared:
            continue
        seen.add(id(node))
        stack.extend((p, depth + 1) for p in reversed(node._prev))
    if stack:
        out.append(f"... ({len(stack)} more not shown)")
    return "\n".join(out)
