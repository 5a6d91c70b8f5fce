"""Phase 32 labs: the grammar-tutor agent's sandbox against hostile tools, and its capped
plan/act loop against planners built to loop, dither and invent tools."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections import Counter

import numpy as np

from engine.apps.agents.attacks import RESOURCE_ATTACKS, run_attacks
from engine.apps.agents.bad_planners import (
    UNANSWERABLE,
    ScratchpadSpy,
    hallucinating_planner,
    indecisive_planner,
    looping_planner,
)
from engine.apps.agents.canonical import CANONICAL, graded
from engine.apps.agents.harness import PROMPTS, faithful, grade, router_planner
from engine.apps.agents.loop import Caps, run_loop
from engine.apps.agents.masked import PlannerTokenizer, decode_masked
from engine.apps.agents.memory import LongTermMemory
from engine.apps.agents.planner import scripted_planner
from engine.apps.agents.sandbox import Limits, isolation, run_code, sandboxed_tool_call
from engine.apps.agents.schemas import planner_schema
from engine.apps.structured import regex as R
from engine.apps.structured.mask import RegexMask
from engine.apps.structured.schema import compile_schema, validate
from engine.apps.tools import grammar  # noqa: F401 - registers the four tools
from engine.apps.tools.base import REGISTRY
from engine.core.run import Recorder


# ---------------------------------------------------------------------- lab 02: sandbox
def sandbox_containment(cfg: dict, rec: Recorder) -> dict:
    lim = Limits(cpu_s=int(cfg["cpu_s"]), memory_mb=int(cfg["memory_mb"]), max_procs=int(cfg["max_procs"]),
                 timeout_s=float(cfg["timeout_s"]))
    parent = os.getpid()
    rows = run_attacks(lim)
    resource = [r for r in rows if r.name in RESOURCE_ATTACKS]
    escapes = [r for r in rows if r.name not in RESOURCE_ATTACKS]
    for i, r in enumerate(rows):
        rec.log(i, tool=r.name, blocked=int(r.blocked), how=r.how, kill_s=r.seconds, left_behind=r.left_behind)
    benign = run_code("print(sum(range(10)))", lim, offline_vouched=True)
    mode, why = isolation()
    return {"evil_tools_contained": sum(r.blocked for r in resource), "escapes_blocked": sum(r.blocked for r in escapes),
            "escapes_tried": len(escapes), "isolation": mode, "isolation_detail": why,
            "parent_pid_unchanged": os.getpid() == parent, "max_time_to_kill_s": max(r.seconds for r in resource),
            "lingering_processes": sum(r.left_behind for r in rows),
            "benign_tool_ok": benign.ok and benign.stdout.strip() == "45",
            **{f"{r.name}_killed_by" if r.name in RESOURCE_ATTACKS else f"{r.name}_result": r.how for r in rows}}


# ---------------------------------------------------------------------- lab 03: failure modes
def failure_modes(cfg: dict, rec: Recorder) -> dict:
    caps = None if cfg.get("fault") == "no_caps" else Caps(max_tool_calls=int(cfg["max_steps"]))
    loop = run_loop(UNANSWERABLE, looping_planner, caps, guard_calls=int(cfg["guard_calls"]))
    dither = run_loop("Explain every tense of every verb", indecisive_planner, caps,
                      guard_calls=int(cfg["guard_calls"]))
    try:
        hall = run_loop("Grade my essay", hallucinating_planner, caps)
        clean = "unknown tool" in str(hall.scratchpad.steps[0].observation.get("error", "")) and hall.stop == "answer"
    except Exception:  # noqa: BLE001 - the point is that nothing escapes the loop
        clean = False
    spy = ScratchpadSpy()
    for sentence in ("He ate an apple.", "She went home."):
        run_loop(sentence, spy, caps)
    runs = {"looping": loop, "indecisive": dither}
    for i, (name, r) in enumerate(runs.items()):
        rec.log(i, planner=name, tool_calls=r.tool_calls, turns=r.turns, stop=r.stop)
    return {"looping_planner_tool_calls": loop.tool_calls, "looping_stop": loop.stop,
            "terminated_by_cap": loop.terminated_by_cap, "looping_answer": loop.answer.get("text"),
            "indecisive_planner_tool_calls": dither.tool_calls, "indecisive_stop": dither.stop,
            "hallucinated_tool_clean_error": clean,
            "scratchpad_leaks": sum(n > 0 for n in spy.first_seen.values())}


# ---------------------------------------------------------------------- lab 01: the tutor
def tutor_canonical(cfg: dict, rec: Recorder) -> dict:
    caps = Caps(max_tool_calls=int(cfg["max_steps"]))
    learner, n_sandboxed = str(cfg["learner_id"]), int(cfg["sandbox_sentences"])
    tool_limits = Limits(cpu_s=int(cfg["tool_cpu_s"]), timeout_s=float(cfg["tool_timeout_s"]))
    boxed_call = functools.partial(sandboxed_tool_call, limits=tool_limits)
    memory = LongTermMemory()
    snapshots, per_cat, steps, calls, transcripts = [], {}, [], [], {}
    sandbox_agrees = True
    for pass_no in range(2):
        for k, (sentence, cat, accepted) in enumerate(CANONICAL):
            run = run_loop(sentence, scripted_planner, caps)
            if pass_no == 0 and k < n_sandboxed:  # the same run with every tool call in the sandbox
                boxed = run_loop(sentence, scripted_planner, caps, dispatch=boxed_call)
                sandbox_agrees &= boxed.answer == run.answer and boxed.tool_calls == run.tool_calls
            for verb, kind in run.answer.get("mistakes", []):
                memory.record(learner, verb, kind)
            if pass_no == 0:
                per_cat.setdefault(cat, []).append(graded(run.answer, accepted))
                steps.append(run.turns)
                calls.append(run.tool_calls)
                if sentence in ("He goed to school.", "I will going home.", "They went home."):
                    transcripts[sentence] = [{"step": i, "action": s.action, "observation": s.observation}
                                             for i, s in enumerate(run.scratchpad.steps)] + [
                        {"action": "FINAL_ANSWER", "answer": run.answer}]
        snapshots.append(dict(memory.mistakes))
    first, second = snapshots
    hist = Counter(steps)
    for s in range(1, max(hist) + 1):
        rec.log(s, stage="histogram", steps=s, count=hist.get(s, 0))
    correct = sum(sum(v) for v in per_cat.values())
    return {"mock_accuracy": correct / len(CANONICAL),
            **{f"accuracy_{c}": sum(v) / len(v) for c, v in per_cat.items()},
            "mean_steps": sum(steps) / len(steps), "mean_tool_calls": sum(calls) / len(calls),
            "longterm_counts_doubled": bool(first) and all(second[k] == 2 * n for k, n in first.items())
            and set(first) == set(second),
            "longterm_entries": len(first), "top_facts": memory.top_facts(learner),
            "sandbox_matches_inprocess": bool(sandbox_agrees), "sandboxed_sentences": min(n_sandboxed, len(CANONICAL)),
            "transcripts": transcripts}


# ---------------------------------------------------------------------- lab 04: evaluation harness
def _harness_pass(max_steps: int) -> tuple[list[str], list[dict], list[float]]:
    lines, rows, latency = [], [], []
    for p in PROMPTS:
        t0 = time.perf_counter()
        run = run_loop(p.text, router_planner, Caps(max_tool_calls=max_steps))
        latency.append((time.perf_counter() - t0) * 1e3)
        called = [s.action["tool"] for s in run.scratchpad.steps]
        row = {"prompt": p.text, "kind": p.kind, "grade": grade(p, run.answer),
               "faithful": faithful(p.text, run.answer, run.scratchpad), "turns": run.turns,
               "tool_calls": run.tool_calls, "within_turn_limit": run.turns <= p.turn_limit,
               "expected_tools_called": all(t in called for t in p.tools)}
        rows.append(row)
        lines.append(json.dumps({**row, "trace": [{"action": s.action, "observation": s.observation}
                                                  for s in run.scratchpad.steps], "answer": run.answer},
                                sort_keys=True, ensure_ascii=False))
    return lines, rows, latency


def tutor_eval(cfg: dict, rec: Recorder) -> dict:
    max_steps = int(cfg["max_steps"])
    lines, rows, latency = _harness_pass(max_steps)
    rerun, _, _ = _harness_pass(max_steps)
    correct = [r for r in rows if r["grade"] == "correct"]
    in_scope = [r for r in rows if r["kind"] != "out_of_scope"]
    for i, ms in enumerate(latency):
        rec.log(i, stage="latency", prompt_index=i, latency_ms=ms)
    for name in ("turns", "tool_calls"):
        hist = Counter(r[name] for r in rows)
        for v in range(0, max(hist) + 1):
            rec.log(v, stage=name, **{name: v}, count=hist.get(v, 0))
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return {"n_prompts": len(rows), "correct_rate": len(correct) / len(in_scope),
            "faithful_over_correct": sum(r["faithful"] for r in correct) / max(1, len(correct)),
            "mean_turns": sum(r["turns"] for r in rows) / len(rows),
            "mean_tool_calls": sum(r["tool_calls"] for r in rows) / len(rows),
            "p95_latency_ms": float(np.percentile(latency, 95)),
            "declined_out_of_scope": sum(r["grade"] == "declined" for r in rows),
            "failed": sum(r["grade"] == "failed" for r in rows),
            "expected_tools_rate": sum(r["expected_tools_called"] for r in rows) / len(rows),
            "within_turn_limit": all(r["within_turn_limit"] for r in rows),
            "traces_identical_on_rerun": lines == rerun, "trace_sha256": digest,
            **{f"correct_{k}": sum(r["grade"] == "correct" for r in rows if r["kind"] == k)
               for k in ("irregular", "regular", "tense", "translate", "ambiguous")}}


# ---------------------------------------------------------------------- lab 00: planner under the mask
def planner_mask(cfg: dict, rec: Recorder) -> dict:
    tok = PlannerTokenizer()
    schema = planner_schema()
    mask = RegexMask(tok, compile_schema(schema))
    n, max_tokens, temp = int(cfg["n_samples"]), int(cfg["max_tokens"]), float(cfg["temperature"])
    valid = garbage = calls = calls_in_enum = answers = unmasked_valid = 0
    masked_s = free_s = 0.0
    for k in range(n):
        rng = np.random.default_rng(int(cfg["seed"]) * 1000 + k)
        logits = lambda ids, rng=rng: rng.standard_normal(tok.vocab_size)  # noqa: E731
        t0 = time.perf_counter()
        text, _ = decode_masked(logits, mask, tok, max_tokens, temp, rng)
        masked_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        free, _ = decode_masked(logits, None, tok, len(text) or 1, temp, rng)  # the same length, unmasked
        free_s += time.perf_counter() - t0
        unmasked_valid += _is_valid_json(free, schema)
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            garbage += "Extra data" in str(e)
            rec.log(k, sample=k, valid=0, chars=len(text))
            continue
        ok = not validate(doc, schema)
        valid += ok
        if isinstance(doc, dict) and "tool" in doc:
            calls += 1
            calls_in_enum += doc["tool"] in REGISTRY
        else:
            answers += 1
        rec.log(k, sample=k, valid=int(ok), chars=len(text))
    # the schema must also accept documents the real planners produce, and refuse a made-up tool
    probe = [{"tool": "conjugate", "args": {"verb": "go", "tense": "past_simple", "person": "3sg"}},
             {"corrected": None, "rationale": ["out of scope"], "spanish_gloss": None, "in_scope": False}]
    accepts = all(not validate(d, schema) and R.walk(mask.start, json.dumps(d, separators=(",", ":")))
                  is not None for d in probe)
    refuses = bool(validate({"tool": "grade_essay", "args": {}}, schema))
    return {"valid_outputs": valid, "tool_call_outputs": calls, "final_answer_outputs": answers,
            "tool_in_enum_rate": calls_in_enum / max(1, calls), "trailing_garbage_outputs": garbage,
            "mask_overhead_ratio": masked_s / max(free_s, 1e-9), "schema_accepts_planner_docs": accepts,
            "schema_refuses_unknown_tool": refuses, "unmasked_valid_outputs": unmasked_valid}


def _is_valid_json(text: str, schema: dict) -> bool:
    try:
        return not validate(json.loads(text), schema)
    except json.JSONDecodeError:
        return False
