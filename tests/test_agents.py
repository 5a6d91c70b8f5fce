"""Unit tests of engine/apps/agents: the sandbox names the limit that stopped a tool and leaves no
process behind; the loop's caps, duplicate rule and error handling; memory that only increments."""

from __future__ import annotations

from engine.apps.agents.loop import FALLBACK, Caps, call_tool, run_loop
from engine.apps.agents.memory import LongTermMemory, Scratchpad
from engine.apps.agents.sandbox import Limits, group_members, run_code
from engine.apps.tools import grammar  # noqa: F401 - registers the tools


def test_sandbox_ok_and_limits() -> None:
    ok = run_code("print(6 * 7)", Limits(cpu_s=1, timeout_s=30), offline_vouched=True)
    assert ok.ok and ok.stdout.strip() == "42" and ok.killed_by is None
    mem = run_code("x = bytearray(1024**3)", Limits(cpu_s=1, memory_mb=128, timeout_s=30), offline_vouched=True)
    assert not mem.ok and mem.killed_by == "memory"
    slow = run_code("import time\ntime.sleep(30)", Limits(cpu_s=5, timeout_s=0.5), offline_vouched=True)
    assert slow.killed_by == "timeout" and group_members(slow.pid) == []


def test_call_tool_errors_are_observations() -> None:
    assert call_tool("conjugate", {"verb": "go", "tense": "past_simple", "person": "3sg"}) == {"result": "went"}
    assert "unknown tool" in call_tool("nope", {})["error"]
    assert "error" in call_tool("conjugate", {"verb": "fly", "tense": "past_simple", "person": "3sg"})
    assert "bad arguments" in call_tool("conjugate", {"verb": "go"})["error"]


def test_loop_budget_duplicate_and_answer() -> None:
    same = lambda req, pad: {"tool": "lookup_spanish", "args": {"english_form": "went"}}  # noqa: E731
    r = run_loop("x", same, Caps(max_tool_calls=8))
    assert (r.stop, r.tool_calls, r.answer["text"]) == ("duplicate", 1, FALLBACK)
    r = run_loop("x", same, Caps(max_tool_calls=8, halt_on_duplicate=False))
    assert (r.stop, r.tool_calls) == ("budget", 8)
    r = run_loop("x", same, None, guard_calls=50)
    assert (r.stop, r.tool_calls, r.terminated_by_cap) == ("guard", 50, False)

    def answers(req: str, pad: Scratchpad) -> dict:
        if pad.steps:
            return {"answer": {"gloss": pad.steps[-1].observation["result"]}}
        return {"tool": "lookup_spanish", "args": {"english_form": "went"}}

    r = run_loop("x", answers)
    assert r.stop == "answer" and r.tool_calls == 1 and r.turns == 2 and isinstance(r.answer["gloss"], str)


def test_longterm_memory_counts_and_top_facts() -> None:
    m = LongTermMemory()
    for _ in range(2):
        m.record("borja", "go", "regularized_past")
    m.record("borja", "eat", "wrong_tense")
    m.record("ana", "go", "regularized_past")
    facts = m.top_facts("borja", k=1)
    assert facts == ["borja: regularized past mistakes with 'go' (2x)"]
    assert len(m.top_facts("borja")) == 2


def test_planner_lemma_and_grading_can_fail() -> None:
    from engine.apps.agents.canonical import CANONICAL, graded
    from engine.apps.agents.planner import lemma, scripted_planner

    assert [lemma(w) for w in ("goed", "writed", "studies", "has", "going", "watch", "dogs")] == [
        "go", "write", "study", "have", "go", "watch", None]
    lazy = lambda req, pad: {"answer": {"corrected": None, "in_scope": True}}  # noqa: E731
    lazy_acc = sum(graded(run_loop(s, lazy).answer, a) for s, _, a in CANONICAL) / len(CANONICAL)
    assert lazy_acc == 5 / 30  # only the already-correct sentences
    r = run_loop("She eated an apple.", scripted_planner)
    assert r.answer["corrected"] == "She ate an apple." and r.answer["spanish_gloss"]


def test_harness_grading_and_faithfulness_can_fail() -> None:
    from engine.apps.agents.harness import PROMPTS, faithful, grade

    p = next(p for p in PROMPTS if p.text == "Translate 'ate' into Spanish.")
    assert grade(p, {"text": "comio", "in_scope": True}) == "correct"  # whitelisted spelling
    assert grade(p, {"text": "come", "in_scope": True}) == "failed"
    assert grade(p, {"in_scope": False}) == "failed"
    oos = next(p for p in PROMPTS if p.kind == "out_of_scope")
    assert grade(oos, {"in_scope": False}) == "declined" and grade(oos, {"text": "x", "in_scope": True}) == "failed"
    pad = Scratchpad()
    pad.append({"tool": "lookup_spanish", "args": {"english_form": "ate"}}, {"result": "comió"})
    assert faithful(p.text, {"text": "comió"}, pad)
    assert not faithful(p.text, {"text": "comía"}, pad)


def test_planner_schema_regex_agrees_with_validator() -> None:
    import json

    from engine.apps.agents.schemas import planner_schema, validate
    from engine.apps.structured import regex as R
    from engine.apps.structured.schema import compile_schema

    schema = planner_schema()
    node = compile_schema(schema)
    docs = [({"corrected": "He went.", "rationale": ["a", "b"], "in_scope": True}, True),
            ({"corrected": None, "rationale": ["x"], "spanish_gloss": None, "in_scope": False}, True),
            ({"corrected": None, "rationale": [], "in_scope": False}, False),  # minItems 1
            ({"corrected": None, "rationale": ["a", "b", "c", "d"], "in_scope": False}, False),  # maxItems 3
            ({"tool": "lookup_spanish", "args": {"english_form": "ate"}}, True),
            ({"tool": "lookup_spanish", "args": {"verb": "ate"}}, False),
            ({"tool": "rm_rf", "args": {}}, False)]
    for doc, ok in docs:
        text = json.dumps(doc, separators=(",", ":"))
        end = R.walk(node, text)
        assert (not validate(doc, schema)) == ok, doc
        assert (end is not None and end.nullable) == ok, doc
