"""Phase 40's knowledge graph: the structure checks catch a cycle, an unreachable phase, an
isolated one and a forward prerequisite on small hand-made graphs, and hold on the real phases."""

from __future__ import annotations

from pathlib import Path

from engine.research.curriculum.graph import Curriculum

ROOT = Path(__file__).resolve().parents[1]


def _g(nodes: int, edges: list[tuple[int, int]]) -> Curriculum:
    return Curriculum({n: f"p{n}" for n in range(nodes)}, {n: ["x"] for n in range(nodes)}, edges)


def test_checks_catch_what_they_claim() -> None:
    diamond = _g(4, [(0, 1), (0, 2), (1, 3), (2, 3)])
    assert diamond.structure()["is_acyclic"] and diamond.depth() == {0: 0, 1: 1, 2: 1, 3: 2}
    assert diamond.topological_order() == [0, 1, 2, 3]
    cyc = _g(3, [(0, 1), (1, 2), (2, 1)])
    assert cyc.topological_order() is None and not cyc.structure()["is_acyclic"]
    lost = _g(4, [(0, 1), (2, 3)])  # 2 -> 3 hangs off nothing 0 reaches
    s = lost.structure()
    assert s["unreachable_from_00"] == [2, 3] and s["isolated_nodes"] == 0
    assert _g(3, [(0, 1)]).structure()["isolated_nodes"] == 1
    assert not _g(3, [(0, 2), (2, 1)]).structure()["requires_point_backwards"]


def test_the_real_curriculum() -> None:
    g = Curriculum.load(ROOT / "phases", 40)
    s = g.structure()
    assert s["n_nodes"] == 41 and s["is_acyclic"] and s["unreachable_from_00"] == [] and s["isolated_nodes"] == 0
    assert s["max_in_degree"] <= 3 and s["unknown_prerequisites"] == [] and s["requires_point_backwards"]
    order = g.topological_order()
    assert all(order.index(a) < order.index(b) for a, b in g.edges)
