"""Agent memory. The scratchpad lives for one request and is created fresh for each; long-term
memory only ever increments per-learner mistake counts and hands back the few most frequent.

Why separate: a scratchpad shared between requests leaks one learner's reasoning into the next
answer; long-term memory that could rewrite itself could also forget or invent facts.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Step:
    action: dict[str, Any]
    observation: Any


@dataclass
class Scratchpad:
    steps: list[Step] = field(default_factory=list)

    def append(self, action: dict[str, Any], observation: Any) -> None:
        self.steps.append(Step(action, observation))

    def format_for_prompt(self) -> str:
        return "\n".join(f"ACTION {json.dumps(s.action, sort_keys=True)}\nOBS {json.dumps(s.observation)}"
                         for s in self.steps)


@dataclass
class LongTermMemory:
    mistakes: Counter = field(default_factory=Counter)  # (learner, verb, error_type) -> count

    def record(self, learner: str, verb: str, error_type: str) -> None:
        self.mistakes[(learner, verb, error_type)] += 1

    def top_facts(self, learner: str, k: int = 3) -> list[str]:
        mine = [(n, key) for key, n in self.mistakes.items() if key[0] == learner]
        return [f"{learner}: {e.replace('_', ' ')} mistakes with {v!r} ({n}x)" for n, (_, v, e) in sorted(mine, key=lambda t: (-t[0], t[1]))[:k]]

    def to_json(self) -> str:
        return json.dumps(sorted([[*k, n] for k, n in self.mistakes.items()]))
