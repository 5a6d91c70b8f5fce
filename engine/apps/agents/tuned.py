"""The model planner (phase 32): the course's Mini-GPT, LoRA-tuned on traces of the scripted
planner over tasks generated from the verb table, choosing each next action under the planner mask.

A state is the request plus what the tools said so far, written compactly (up to 88 tokens; the
stage widens the RoPE model's window to 128, engine.apps.structured.tutor.with_context):
    prompt    "plan: He goed to school. | irregular go went gone =>"
    response  ' {"tool":"lookup_spanish","args":{"english_form":"went"}}'      (a tool call, the course's format)
              ' {"corrected":"He went to school.","in_scope":true}'           (the final answer)
The mask is a oneOf of one branch per tool (its name as a constant and its own input schema)
and the answer branch, so the model can only name real tools with well-typed arguments. The
answer's rationale and Spanish gloss are filled in by ordinary code from the observations
(`complete_answer`): the model decides what to look up and what the corrected sentence is.

Stage "phase-32" in the model cache, built like phase 30's (engine.apps.structured.tutor.tune_adapter).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from engine.apps.agents import tasks as T
from engine.apps.agents.loop import Caps, run_loop
from engine.apps.agents.memory import Scratchpad
from engine.apps.agents.planner import scripted_planner
from engine.apps.structured import regex as R
from engine.apps.structured import tutor as TU
from engine.apps.structured.decode import TorchLM, generate
from engine.apps.structured.mask import RegexMask
from engine.apps.structured.schema import compile_schema
from engine.apps.structured.vocab import MaskVocab
from engine.apps.tools import grammar  # noqa: F401 - registers the four tools
from engine.apps.tools.base import REGISTRY
from engine.lm.models import registry
from engine.lm.text import bilingual as B
from engine.lm.train import spine

NAME = "phase-32"
TAG, ARROW = "plan:", " =>"
# context_len 128: with the tool observations a state runs to 88 tokens (43 % of the trace rows
# exceed the base model's 64); the spine model has RoPE positions only, so the window is a config switch.
FULL: dict[str, Any] = {**TU.FULL, "steps": 1500, "test_fraction": 0.2, "salt": "phase-32", "max_steps": 8,
                        "context_len": 128}
QUICK: dict[str, Any] = {**FULL, "steps": 1000}


def action_schema() -> dict[str, Any]:
    calls = [{"type": "object", "additionalProperties": False, "required": ["tool", "args"],
              "properties": {"tool": {"const": name}, "args": tool.input_schema}}
             for name, tool in sorted(REGISTRY.items())]
    answer = {"type": "object", "additionalProperties": False, "required": ["corrected", "in_scope"],
              "properties": {"corrected": {"type": ["string", "null"], "maxLength": 40},
                             "in_scope": {"type": "boolean"}}}
    return {"oneOf": [*calls, answer]}


# ---------------------------------------------------------------------- states as text
def observation_text(action: dict[str, Any], obs: dict[str, Any]) -> str:
    tool, args = action.get("tool"), action.get("args", {})
    if "error" in obs:
        return f"{tool} error"
    r = obs["result"]
    if tool == "lookup_irregular_verb":
        return f"irregular {r['infinitive']} {r['past_simple']} {r['past_participle']}" if r.get("is_irregular") \
            else f"regular {args.get('verb')}"
    if tool == "check_subject_verb_agreement":
        return f"{args.get('subject')} {args.get('verb_form')}: {'ok' if r['agrees'] else r['expected_form']}"
    if tool == "conjugate":
        return f"{args.get('verb')} {args.get('tense')} {args.get('person')}: {r}"
    if tool == "lookup_spanish":
        return f"{args.get('english_form')}: {r}"
    return f"{tool}: {json.dumps(r, ensure_ascii=False)}"


def state_prompt(request: str, pad: Scratchpad) -> str:
    return " | ".join([f"{TAG} {request}", *(observation_text(s.action, s.observation) for s in pad.steps)]) + ARROW


def minified(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def trace_pairs(tasks: list[T.Task], max_steps: int) -> list[tuple[str, str]]:
    """(state prompt, next action) for every turn of the scripted planner on each task."""
    out: list[tuple[str, str]] = []
    for t in tasks:
        pad = Scratchpad()

        def recording(request: str, p: Scratchpad) -> dict[str, Any]:
            action = scripted_planner(request, p)
            if "answer" in action:
                a = action["answer"]
                target = {"corrected": a.get("corrected"), "in_scope": bool(a.get("in_scope"))}
            else:
                target = {"tool": action["tool"], "args": action["args"]}
            out.append((state_prompt(request, p), " " + minified(target)))
            return action

        run_loop(t.sentence, recording, Caps(max_tool_calls=max_steps))
        del pad
    return out


# ---------------------------------------------------------------------- the stage
def _config(quick: bool) -> dict[str, Any]:
    return {"mode": "quick" if quick else "full", "parent": TU.PARENT, **(QUICK if quick else FULL)}


def _data(quick: bool) -> str:
    cfg = _config(quick)
    train, _ = T.split(float(cfg["test_fraction"]), str(cfg["salt"]))
    return "\n".join(p + r for p, r in trace_pairs(train, int(cfg["max_steps"])))


def _build(cfg: dict[str, Any], out: Path) -> None:
    train, _ = T.split(float(cfg["test_fraction"]), str(cfg["salt"]))
    model, losses, new_ids = TU.tune_adapter(cfg, trace_pairs(train, int(cfg["max_steps"])))
    TU.save_tuned(model, new_ids, losses, out, {"parent": cfg["parent"], "context_len": int(cfg["context_len"])})


registry.register(registry.Spec(NAME, "adapter", _config, _data, _build, TU.load_tuned,
                                code=("engine.torchstack.finetune.lora", "engine.torchstack.finetune.sft", "engine.apps.agents.tasks",
                                      "engine.apps.agents.planner", "engine.apps.structured.tutor", __name__),
                                parents=(TU.PARENT,)))


def tuned_planner_model(quick: bool = False) -> tuple[nn.Module, MaskVocab, registry.Checkpoint]:
    model, ck = registry.load(NAME, quick)
    return model, MaskVocab(spine.tokenizer(quick), B.BOS, B.EOS), ck


# ---------------------------------------------------------------------- the planner
def complete_answer(doc: dict[str, Any], pad: Scratchpad) -> dict[str, Any]:
    """The model's {corrected, in_scope} with the rationale and gloss the observations give."""
    gloss = next((s.observation["result"] for s in reversed(pad.steps)
                  if s.action.get("tool") == "lookup_spanish" and "result" in s.observation), None)
    why = [observation_text(s.action, s.observation)[:24] for s in pad.steps
           if s.action.get("tool") != "lookup_spanish"][:3]
    if not doc["in_scope"]:
        why = ["out of scope"]
    return {"corrected": doc["corrected"], "rationale": why or ["the verb forms are correct"],
            "spanish_gloss": gloss if doc["in_scope"] else None, "in_scope": bool(doc["in_scope"]), "mistakes": []}


class ModelPlanner:
    """planner(request, scratchpad) -> {"tool", "args"} or {"answer": {...}}, greedy under the mask."""

    def __init__(self, model: nn.Module, vocab: MaskVocab, masked: bool = True, max_new_tokens: int = 48) -> None:
        self.lm, self.vocab = TorchLM(model, int(model.cfg.context_len)), vocab
        self.mask = RegexMask(vocab, R.seq(R.lit(" "), compile_schema(action_schema()))) if masked else None
        self.max_new_tokens = max_new_tokens
        self.invalid = 0  # outputs that did not parse as an action (possible only unmasked)

    def __call__(self, request: str, pad: Scratchpad) -> dict[str, Any]:
        ids = self.vocab.encode(state_prompt(request, pad))
        g = generate(self.lm, self.vocab, ids, np.random.default_rng(0), mask=self.mask, temperature=0.0,
                     max_new_tokens=self.max_new_tokens)
        try:
            doc = json.loads(g.text)
        except json.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and "tool" in doc:
            return {"tool": doc["tool"], "args": doc.get("args") if isinstance(doc.get("args"), dict) else {}}
        if isinstance(doc, dict) and "in_scope" in doc and isinstance(doc.get("in_scope"), bool):
            return {"answer": complete_answer({"corrected": doc.get("corrected"), "in_scope": doc["in_scope"]}, pad)}
        self.invalid += 1
        return {"answer": {"corrected": None, "rationale": ["the planner's output did not parse"],
                           "spanish_gloss": None, "in_scope": True, "mistakes": []}}


def task_success(task: T.Task, answer: dict[str, Any]) -> bool:
    """Declines must decline; the rest must be in scope with exactly the gold correction (None if correct)."""
    if task.declined:
        return answer.get("in_scope") is False
    return answer.get("in_scope") is True and answer.get("corrected") == task.gold
