"""Random walks on a DCSBM graph, with the jumper rules enforced (experimental) or not (null).

All walks advance together, one position at a time. A walk picks its next vertex uniformly
among the out-neighbours it may use. After it visits a jumper, a rule is pending for r steps:
the walk avoids other jumpers (so two rules never conflict) and only steps where the target
block can still be reached at the deadline. A walk that still gets stuck is redrawn.

The null walks (`enforce=False`) are the seed's zero-jumper baseline on the same graph: the
jumper vertices stay where they are (so events can be matched by position) but their rules
are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.research.dcsbm.graph import DCSBM


@dataclass
class Event:
    """A jumper visit at position `pos` whose deadline `pos + r` lies inside the walk."""
    walk: int
    pos: int
    target_block: int


def generate_walks(graph: DCSBM, n_walks: int, length: int, rng: np.random.Generator,
                   enforce: bool = True, max_rounds: int = 50) -> np.ndarray:
    """(n_walks, length) int64 vertex ids."""
    out = np.empty((0, length), dtype=np.int64)
    for _ in range(max_rounds):
        need = n_walks - len(out)
        if need <= 0:
            break
        walks, ok = _attempt(graph, need + need // 4 + 1, length, rng, enforce)
        out = np.concatenate([out, walks[ok][:need]])
    if len(out) < n_walks:
        raise RuntimeError("could not draw enough rule-abiding walks; raise p_in/p_out or lower the horizon")
    return out


def _attempt(graph: DCSBM, count: int, length: int, rng: np.random.Generator,
             enforce: bool) -> tuple[np.ndarray, np.ndarray]:
    r = graph.horizon
    target_of = graph.jumper_target()
    is_jumper = target_of >= 0
    reach = graph.reach(r, avoid_jumpers=True)                 # (r+1, n, n_blocks)
    walks = np.empty((count, length), dtype=np.int64)
    walks[:, 0] = rng.integers(0, graph.n, count)
    deadline = np.full(count, -1)                              # position where the pending rule is due
    target = np.zeros(count, dtype=np.int64)
    ok = np.ones(count, dtype=bool)

    def start_rules(pos: int) -> None:
        v = walks[:, pos]
        new = is_jumper[v] & (deadline < pos) if enforce else np.zeros(count, dtype=bool)
        deadline[new], target[new] = pos + r, target_of[v[new]]

    start_rules(0)
    for pos in range(1, length):
        allowed = graph.adj[walks[:, pos - 1]].copy()          # (count, n)
        pending = deadline >= pos
        if pending.any():
            left = deadline[pending] - pos
            allowed[pending] &= reach[left, :, target[pending]]  # (n_pending, n)
        has = allowed.any(axis=1)
        ok &= has
        scores = rng.random((count, graph.n)) * allowed
        walks[:, pos] = np.where(has, scores.argmax(axis=1), walks[:, pos - 1])
        start_rules(pos)
    return walks, ok


def find_events(graph: DCSBM, walks: np.ndarray, first: int = 0) -> list[Event]:
    """Jumper visits at positions >= first whose deadline falls inside the walk.

    On enforced walks a jumper visited while another rule is pending cannot occur; on null walks
    every visit counts, which is what makes the null events position-matched.
    """
    target_of = graph.jumper_target()
    r = graph.horizon
    events = []
    for w, pos in zip(*np.nonzero(target_of[walks] >= 0), strict=True):
        if first <= pos and pos + r < walks.shape[1]:
            events.append(Event(int(w), int(pos), int(target_of[walks[w, pos]])))
    return events


def rule_compliance(graph: DCSBM, walks: np.ndarray) -> float:
    """Fraction of events whose walk is in the target block at the deadline (1.0 for enforced walks)."""
    events = find_events(graph, walks)
    if not events:
        return float("nan")
    hits = [graph.block[walks[e.walk, e.pos + graph.horizon]] == e.target_block for e in events]
    return float(np.mean(hits))
