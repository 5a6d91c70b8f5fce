"""A directed degree-corrected stochastic block model (DCSBM) with jumper rules.

Vertices fall into equal blocks. Each vertex v gets a degree weight theta_v (log-normal,
rescaled to mean 1 inside its block), and an edge u -> v appears with probability
min(1, theta_u * theta_v * B[block(u), block(v)]), B = p_in on the diagonal and p_out off it.
So blocks are dense inside and sparse between, and some vertices are hubs.

A jumper is a vertex v with a target block t != block(v) and the rule "r steps after being at
v, the walk is in block t". Jumpers are only chosen where a path of exactly r steps from v into
t exists, so the rule can always be obeyed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Jumper:
    vertex: int
    target_block: int


@dataclass
class DCSBM:
    adj: np.ndarray                 # (n, n) bool, adj[u, v]: edge u -> v
    block: np.ndarray               # (n,) int block of each vertex
    theta: np.ndarray               # (n,) degree weights
    n_blocks: int
    horizon: int                    # r: steps between a jumper and its deadline
    jumpers: list[Jumper] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.adj.shape[0])

    def neighbours(self, v: int) -> np.ndarray:
        return np.flatnonzero(self.adj[v])

    def jumper_target(self) -> np.ndarray:
        """(n,) target block per vertex, -1 for ordinary vertices."""
        out = np.full(self.n, -1, dtype=np.int64)
        for j in self.jumpers:
            out[j.vertex] = j.target_block
        return out

    def reach(self, steps: int, avoid_jumpers: bool = False) -> np.ndarray:
        """(steps+1, n, n_blocks) bool: reach[m, u, b] = a walk of exactly m steps from u ends in block b.

        With avoid_jumpers, u and every later vertex of the walk must be ordinary vertices: that
        is the set a walk may use while a rule is pending (see walks.py).
        """
        ok = np.ones(self.n, dtype=bool)
        if avoid_jumpers:
            ok[[j.vertex for j in self.jumpers]] = False
        member = np.zeros((self.n, self.n_blocks), dtype=bool)
        member[np.arange(self.n), self.block] = True
        out = [member & ok[:, None]]
        a = self.adj.astype(np.int64)
        for _ in range(steps):
            out.append(((a @ out[-1].astype(np.int64)) > 0) & ok[:, None])
        return np.stack(out)

    def feasible(self, j: Jumper) -> bool:
        """Can the rule of j be met through ordinary vertices only?"""
        nxt = self.neighbours(j.vertex)
        return bool(self.reach(self.horizon - 1, avoid_jumpers=True)[-1][nxt, j.target_block].any())


def make_dcsbm(n: int, n_blocks: int, p_in: float, p_out: float, rng: np.random.Generator,
               theta_sigma: float = 0.5, jumpers_per_block: int = 2, horizon: int = 4) -> DCSBM:
    if n % n_blocks:
        raise ValueError(f"n={n} is not divisible by n_blocks={n_blocks}")
    size = n // n_blocks
    block = np.repeat(np.arange(n_blocks), size)
    theta = rng.lognormal(0.0, theta_sigma, n)
    for b in range(n_blocks):
        theta[block == b] /= theta[block == b].mean()
    rates = np.where(block[:, None] == block[None, :], p_in, p_out)
    prob = np.minimum(1.0, theta[:, None] * theta[None, :] * rates)
    np.fill_diagonal(prob, 0.0)
    adj = rng.random((n, n)) < prob
    for v in np.flatnonzero(~adj.any(axis=1)):       # no dead ends: give each sink one in-block edge
        mates = np.flatnonzero((block == block[v]) & (np.arange(n) != v))
        adj[v, rng.choice(mates)] = True
    graph = DCSBM(adj=adj, block=block, theta=theta, n_blocks=n_blocks, horizon=horizon)
    reach = graph.reach(horizon)[horizon]
    for b in range(n_blocks):
        members = rng.permutation(np.flatnonzero(block == b))
        picked = 0
        for v in members:
            if picked == jumpers_per_block:
                break
            targets = [t for t in range(n_blocks) if t != b and reach[v, t]]
            if targets:
                graph.jumpers.append(Jumper(int(v), int(rng.choice(targets))))
                picked += 1
    while graph.jumpers and not all(graph.feasible(j) for j in graph.jumpers):
        graph.jumpers = [j for j in graph.jumpers if graph.feasible(j)]
    return graph
