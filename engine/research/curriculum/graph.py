"""The curriculum as a graph: one node per phase, an edge for every `requires` entry (prerequisite
-> phase), read from the phase YAML files; its structure checks and a layered layout.

Why these checks: a prerequisite cycle would make the course impossible to start, a phase that
phase 00 cannot reach is one nobody is led to, and more than three prerequisites make a phase
hard to enter (the course's own bound).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Curriculum:
    titles: dict[int, str]
    teaches: dict[int, list[str]]
    edges: list[tuple[int, int]]  # (prerequisite, phase)

    @classmethod
    def load(cls, phases_dir: Path, last: int) -> Curriculum:
        titles, teaches, edges = {}, {}, []
        for path in sorted(phases_dir.glob("phase-*.yaml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            n = int(doc["id"])
            if n > last:
                continue
            titles[n], teaches[n] = str(doc["title"]), list(doc.get("teaches") or [])
            edges += [(int(r), n) for r in doc.get("requires") or []]
        return cls(titles, teaches, sorted(edges))

    @property
    def nodes(self) -> list[int]:
        return sorted(self.titles)

    def in_degree(self) -> dict[int, int]:
        deg = dict.fromkeys(self.nodes, 0)
        for _, b in self.edges:
            deg[b] += 1
        return deg

    def topological_order(self) -> list[int] | None:
        """Kahn's algorithm; None when a cycle leaves nodes unplaced."""
        deg, out = self.in_degree(), {n: [] for n in self.nodes}
        for a, b in self.edges:
            out[a].append(b)
        ready = deque(sorted(n for n, d in deg.items() if d == 0))
        order = []
        while ready:
            n = ready.popleft()
            order.append(n)
            for m in out[n]:
                deg[m] -= 1
                if deg[m] == 0:
                    ready.append(m)
        return order if len(order) == len(self.nodes) else None

    def reachable_from(self, root: int) -> set[int]:
        out = {n: [] for n in self.nodes}
        for a, b in self.edges:
            out[a].append(b)
        seen, todo = {root}, [root]
        while todo:
            for m in out[todo.pop()]:
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
        return seen

    def depth(self) -> dict[int, int]:
        """Longest prerequisite chain ending at each phase (its layer in the drawing)."""
        order = self.topological_order()
        if order is None:
            raise ValueError("the prerequisite graph has a cycle")
        d = dict.fromkeys(self.nodes, 0)
        for n in order:
            for a, b in self.edges:
                if a == n:
                    d[b] = max(d[b], d[a] + 1)
        return d

    def layout(self) -> dict[int, tuple[float, float]]:
        """x = depth, y = rank within the layer (phase order): a layered DAG drawing."""
        d = self.depth()
        layers: dict[int, list[int]] = {}
        for n in self.nodes:
            layers.setdefault(d[n], []).append(n)
        return {n: (float(x), float(i) - (len(ns) - 1) / 2) for x, ns in layers.items() for i, n in enumerate(ns)}

    def structure(self) -> dict[str, Any]:
        deg = self.in_degree()
        linked = {a for a, _ in self.edges} | {b for _, b in self.edges}
        order = self.topological_order()
        root = min(self.nodes)
        return {"n_nodes": len(self.nodes), "n_edges": len(self.edges), "max_in_degree": max(deg.values()),
                "is_acyclic": order is not None, "isolated_nodes": sum(n not in linked for n in self.nodes),
                "unreachable_from_00": sorted(set(self.nodes) - self.reachable_from(root)),
                "requires_point_backwards": all(a < b for a, b in self.edges),
                "unknown_prerequisites": sorted({a for a, _ in self.edges} - set(self.nodes)),
                "phases_without_teaches": sorted(n for n, t in self.teaches.items() if not t),
                "longest_chain": max(self.depth().values()) if order is not None else None}
