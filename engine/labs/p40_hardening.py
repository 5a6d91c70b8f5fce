"""Phase 40 lab-03: the curriculum's knowledge graph from the phases' own `requires`/`teaches`,
its structure checks, the layered drawing (through the lab's charts) and a PNG with arrows."""

from __future__ import annotations

from pathlib import Path

from engine.core.run import Recorder
from engine.research.curriculum.graph import Curriculum

ROOT = Path(__file__).resolve().parents[2]


def _cluster(n: int, clusters: dict[str, list[int]]) -> str:
    return next((name for name, (lo, hi) in clusters.items() if lo <= n <= hi), "other")


def _positions(g: Curriculum, clusters: dict[str, list[int]]) -> dict[int, tuple[float, float]]:
    """x = the longest prerequisite chain, y = the cluster's row (each phase here requires the one
    before it, so every layer holds one phase and the rows show where the long edges go)."""
    rows = {name: i for i, name in enumerate(clusters)}
    return {n: (g.layout()[n][0], float(rows.get(_cluster(n, clusters), len(rows)))) for n in g.nodes}


def _draw(g: Curriculum, clusters: dict[str, list[int]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pos = _positions(g, clusters)
    fig, ax = plt.subplots(figsize=(13, 6), dpi=110)
    for a, b in g.edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops={"arrowstyle": "->", "color": "0.6", "lw": 0.7, "shrinkA": 7, "shrinkB": 7})
    for name in clusters:
        ns = [n for n in g.nodes if _cluster(n, clusters) == name]
        ax.scatter([pos[n][0] for n in ns], [pos[n][1] for n in ns], s=260, label=name, zorder=3)
        for n in ns:
            ax.text(*pos[n], f"{n:02d}", ha="center", va="center", fontsize=7, zorder=4)
    ax.set_xlabel("longest prerequisite chain (layer)")
    ax.set_yticks(range(len(clusters)), list(clusters), fontsize=7)
    ax.set_title("Lynx curriculum: phase -> phase it unlocks (requires)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _brute_force(g: Curriculum, phases_dir: Path, last: int) -> dict[str, object]:
    """The structure numbers computed another way: nodes from the file names, in-degree by
    counting, a cycle by depth-first search, reachability by a fixed point over the edges, and
    each phase's longest chain by recursion over its prerequisites."""
    nodes = sorted(n for n in (int(f.name.split("-")[1]) for f in phases_dir.glob("phase-*.yaml")) if n <= last)
    preds: dict[int, list[int]] = {n: [a for a, b in g.edges if b == n] for n in nodes}
    state: dict[int, int] = {}  # 1 on the stack, 2 done

    def cyclic(n: int) -> bool:
        state[n] = 1
        found = any(state.get(a) == 1 or (a not in state and cyclic(a)) for a in preds[n])
        state[n] = 2
        return found

    has_cycle = any(n not in state and cyclic(n) for n in nodes)
    reach, grew = {nodes[0]}, True
    while grew:
        new = {b for a, b in g.edges if a in reach} - reach
        reach |= new
        grew = bool(new)
    chain: dict[int, int] = {}

    def longest(n: int) -> int:
        if n not in chain:
            chain[n] = max((longest(a) + 1 for a in preds[n]), default=0)
        return chain[n]

    depth = {n: longest(n) for n in nodes} if not has_cycle else {}
    return {"n_nodes": len(nodes), "max_in_degree": max(len(p) for p in preds.values()), "is_acyclic": not has_cycle,
            "unreachable_from_00": sorted(set(nodes) - reach), "longest_chain": max(depth.values()) if depth else None,
            "depth": depth}


def knowledge_graph(cfg: dict, rec: Recorder) -> dict:
    g = Curriculum.load(ROOT / "phases", int(cfg["last_phase"]))
    clusters = {k: list(v) for k, v in sorted(cfg["clusters"].items(), key=lambda kv: kv[1][0])}  # rows in course order
    out = g.structure()
    brute = _brute_force(g, ROOT / "phases", int(cfg["last_phase"]))
    mine = {**{k: out[k] for k in brute if k != "depth"}, "depth": g.depth() if out["is_acyclic"] else {}}
    out["brute_force_disagrees_on"] = sorted(k for k in brute if brute[k] != mine[k])
    pos = _positions(g, clusters)
    deg = g.in_degree()
    for i, n in enumerate(g.nodes):
        rec.log(i, stage="node", layer=pos[n][0], row=pos[n][1], phase=f"{n:02d}", cluster=_cluster(n, clusters),
                in_degree=deg[n], teaches=len(g.teaches[n]))
    for i, (a, b) in enumerate(g.edges):
        rec.log(i, stage="edge", prerequisite=a, phase=b, cluster=_cluster(b, clusters))
    _draw(g, clusters, rec.out_dir / "knowledge-graph.png")
    rec.artifact(rec.out_dir / "knowledge-graph.png", "knowledge graph (arrows)")
    used = {_cluster(n, clusters) for n in g.nodes}
    out.update({"n_clusters": len(used), "unclustered_nodes": sum(_cluster(n, clusters) == "other" for n in g.nodes),
                "n_unreachable_from_00": len(out["unreachable_from_00"]),
                "concepts_taught": len({t for ts in g.teaches.values() for t in ts})})
    return out
