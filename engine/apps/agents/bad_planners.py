"""Planners built to fail: loop on an impossible call, dither forever, invent a tool, or spy on memory.

Phase 32 lab 03 runs the capped plan/act loop (engine.apps.agents.loop.run_loop) against each, to
show the caps, the repeat guard and the unknown-tool error doing their jobs; `ScratchpadSpy` checks
that a new request starts with an empty scratchpad. Deterministic, so a test can run them too.
"""

from __future__ import annotations

from engine.apps.agents.memory import Scratchpad
from engine.apps.structured.schema import PERSON_ENUM, TENSE_ENUM
from engine.lm.text.verbs import VERBS

UNANSWERABLE = "conjugate eat lovingly in the dreaming tense"


def looping_planner(request: str, pad: Scratchpad) -> dict:
    """Ignores every error and asks for the same impossible call again."""
    return {"tool": "conjugate", "args": {"verb": "eat", "tense": "dreaming", "person": "3sg"}}


def indecisive_planner(request: str, pad: Scratchpad) -> dict:
    """Never answers; always one more (different) lookup."""
    k = len(pad.steps)
    return {"tool": "conjugate", "args": {"verb": VERBS[k % len(VERBS)], "tense": TENSE_ENUM[k % 5],
                                          "person": PERSON_ENUM[k % 3]}}


def hallucinating_planner(request: str, pad: Scratchpad) -> dict:
    """Names a tool that does not exist (as if the schema mask were bypassed), then gives up."""
    if not pad.steps:
        return {"tool": "grade_essay", "args": {"text": request}}
    return {"answer": {"corrected": None, "rationale": ["no tool could answer"], "in_scope": False}}


class ScratchpadSpy:
    """Looks up the sentence's verb once, then answers; notes how many steps each new request's
    scratchpad already held on its first turn (anything but 0 is a leak)."""

    def __init__(self) -> None:
        self.first_seen: dict[str, int] = {}

    def __call__(self, request: str, pad: Scratchpad) -> dict:
        self.first_seen.setdefault(request, len(pad.steps))
        if pad.steps:
            return {"answer": {"corrected": request, "rationale": ["already correct"], "in_scope": True}}
        return {"tool": "lookup_spanish", "args": {"english_form": request.split()[1]}}
