"""Phase 31 labs: four truth-table tools, a stdio MCP server started as a child process, its
client, and the course's model's tool calls decoded under the phase-30 masks and dispatched over MCP.

The model for lab 03 is the phase-28 grammar tutor from the model cache with the spine's BPE
vocabulary (engine.apps.structured.course_model), as in phase 30; the manifest names its checkpoints.

Every server here is `python -m engine.apps.tools.server` on pipes (no sockets), bounded by
--max-requests and by the client's reply timeout.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import numpy as np

from engine.apps.structured import course_model as CM
from engine.apps.structured.schema import PERSON_ENUM, TENSE_ENUM, check_schema
from engine.apps.tools import grammar as G
from engine.apps.tools.base import REGISTRY, ToolError
from engine.apps.tools.call_eval import run_prompts, tool_prompts
from engine.apps.tools.client import ROOT, ArgumentError, MCPClient, ProtocolError
from engine.apps.tools.framing import CONTENT_LENGTH, NEWLINE, encode, read_message
from engine.apps.tools.tool_call import name_schema
from engine.core.run import Recorder
from engine.core.threads import torch_threads
from engine.lm.text.verbs import TENSES, grid
from engine.lm.text.verbs import conjugate as truth


# ---------------------------------------------------------------------- lab 00: typed tools
def _raises_tool_error(fn: Any, **kw: Any) -> bool:
    try:
        fn(**kw)
    except ToolError:
        return True
    return False


def typed_tools(cfg: dict, rec: Recorder) -> dict:
    passed = 0
    for i, f in enumerate(grid()):
        tense, person = TENSE_ENUM[f.tense], PERSON_ENUM[f.person]
        form = G.conjugate(f.verb, tense, person)
        ok = form == truth(f.verb, f.tense, f.person)
        ok = ok and isinstance(G.lookup_spanish(form), str)
        if TENSES[f.tense] == "present":  # the right pronoun agrees; a pronoun needing another form does not
            pron = ("i", "you", "he")[f.person]
            ok = ok and G.check_subject_verb_agreement(pron, form)["agrees"]
            other = next((p for k, p in enumerate(("i", "you", "he")) if truth(f.verb, f.tense, k) != form), None)
            ok = ok and (other is None or not G.check_subject_verb_agreement(other, form)["agrees"])
        if f.tense in (2, 3) and f.verb in G.IRREGULAR:
            parts = G.lookup_irregular_verb(f.verb)
            ok = ok and parts["is_irregular"] and form in (parts["past_simple"], parts["past_participle"], "were")
        passed += bool(ok)
        rec.log(i, cell=i, passed=bool(ok))
    oos = (_raises_tool_error(G.conjugate, verb="run", tense="past_simple", person="3sg")
           and _raises_tool_error(G.check_subject_verb_agreement, subject="they", verb_form="go")
           and _raises_tool_error(G.lookup_irregular_verb, verb="run")
           and _raises_tool_error(G.lookup_spanish, english_form="ran"))
    spot = {"conjugate(eat, past_simple, 3sg)": G.conjugate("eat", "past_simple", "3sg"),
            "lookup_spanish(ate)": G.lookup_spanish("ate"),
            "check_subject_verb_agreement(he, go)": G.check_subject_verb_agreement("he", "go"),
            "lookup_irregular_verb(work)": G.lookup_irregular_verb("work")}
    spot_ok = (spot["conjugate(eat, past_simple, 3sg)"] == "ate" and spot["lookup_spanish(ate)"] == "comió"
               and spot["check_subject_verb_agreement(he, go)"] == {"agrees": False, "expected_form": "goes"}
               and spot["lookup_irregular_verb(work)"] == {"is_irregular": False})
    return {"tools_registered": len(REGISTRY), "truth_table_cases_passed": passed,
            "out_of_scope_raises_tool_error": oos, "spot_checks_pass": spot_ok,
            "input_schemas_valid": all(not check_schema(t.input_schema) for t in REGISTRY.values()),
            "spot_checks": json.dumps(spot, ensure_ascii=False)}


# ---------------------------------------------------------------------- lab 01: server over stdio
def _session() -> list[dict[str, Any] | str]:
    """The canonical session plus one of each protocol error; a str is sent raw (not JSON)."""
    return [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "lab", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "conjugate", "arguments": {"verb": "eat", "tense": "past_simple", "person": "3sg"}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
         "params": {"name": "lookup_spanish", "arguments": {"english_form": "ate"}}},
        {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
         "params": {"name": "conjugate", "arguments": {"verb": "eat", "tense": "past_simple"}}},
        {"jsonrpc": "2.0", "id": 6, "method": "tools/call",
         "params": {"name": "lookup_spanish", "arguments": {"english_form": "ran"}}},
        {"jsonrpc": "2.0", "id": 7, "method": "resources/list"},
        {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "unkn_tool", "arguments": {}}},
        {"id": 9, "method": "tools/list"},
        "{this is not json",
    ]


EXPECTED = {1: "ok", 2: "ok", 3: "ok", 4: "ok", 5: -32602, 6: "tool_error", 7: -32601, 8: -32602, 9: -32600,
            None: -32700}


def _run_server(framing: str) -> tuple[list[dict[str, Any]], int, int, str]:
    msgs = _session()
    body = b"".join(m.encode() + b"\n" if isinstance(m, str) and framing == NEWLINE
                    else (f"Content-Length: {len(m.encode())}\r\n\r\n".encode() + m.encode()) if isinstance(m, str)
                    else encode(m, framing) for m in msgs)
    proc = subprocess.run([sys.executable, "-m", "engine.apps.tools.server", "--framing", framing, "--max-requests", "100"],
                          input=body, capture_output=True, timeout=30, cwd=ROOT)
    stream = io.BytesIO(proc.stdout)
    replies, bad = [], 0
    while True:
        try:
            r = read_message(stream, framing)
        except ValueError:
            bad += 1
            continue
        if r is None:
            break
        if isinstance(r, dict) and r.get("jsonrpc") == "2.0" and ("result" in r or "error" in r):
            replies.append(r)
        else:
            bad += 1
    return replies, bad, proc.returncode, proc.stderr.decode("utf-8", "replace")


def _outcome(r: dict[str, Any]) -> Any:
    if "error" in r:
        return r["error"]["code"]
    return "tool_error" if r["result"].get("isError") else "ok"


def mcp_server(cfg: dict, rec: Recorder) -> dict:
    out: dict[str, Any] = {}
    for framing in (NEWLINE, CONTENT_LENGTH):
        replies, bad, code, stderr = _run_server(framing)
        by_id = {r.get("id"): r for r in replies}
        outcomes = {i: _outcome(by_id[i]) if i in by_id else "missing" for i in EXPECTED}
        for k, (i, want) in enumerate(EXPECTED.items()):
            rec.log(k, framing=framing, request=str(i), matches=outcomes[i] == want)
        tag = "" if framing == NEWLINE else "_content_length"
        out[f"frames_in{tag}"] = len(_session())
        out[f"frames_out{tag}"] = len(replies)
        out[f"unanswered_requests{tag}"] = sum(v == "missing" for v in outcomes.values())
        out[f"replies_to_notifications{tag}"] = len(replies) - len(by_id) + sum(1 for r in replies if r.get("id") not in EXPECTED)
        out[f"all_success{tag}"] = all(outcomes[i] == "ok" for i in (1, 2, 3, 4))
        out[f"error_codes_match{tag}"] = all(outcomes[i] == want for i, want in EXPECTED.items())
        out[f"non_protocol_stdout_lines{tag}"] = bad
        out[f"exit_code{tag}"] = code
        if framing == NEWLINE:
            out["conjugate_eat_past_3sg"] = by_id[3]["result"]["content"][0]["text"] if 3 in by_id else None
            out["lookup_spanish_ate"] = by_id[4]["result"]["content"][0]["text"] if 4 in by_id else None
            out["outcomes"] = {str(k): v for k, v in outcomes.items()}
            rec.note("server stderr: " + stderr.strip().splitlines()[-1] if stderr.strip() else "server stderr empty")
    return out


# ---------------------------------------------------------------------- lab 02: client round trip
CALLS = [("conjugate", {"verb": "eat", "tense": "past_simple", "person": "3sg"}, "ate"),
         ("lookup_irregular_verb", {"verb": "write"}, {"infinitive": "write", "past_simple": "wrote",
                                                      "past_participle": "written", "is_irregular": True}),
         ("lookup_spanish", {"english_form": "ate"}, "comió"),
         ("check_subject_verb_agreement", {"subject": "he", "verb_form": "go"}, {"agrees": False, "expected_form": "goes"})]


def mcp_roundtrip(cfg: dict, rec: Recorder) -> dict:
    made = failed = 0
    procs = []
    with MCPClient(timeout=float(cfg["timeout_s"])) as c:
        procs.append(c)
        init = c.initialize()
        tools = c.list_tools()
        for i, (name, args, want) in enumerate(CALLS):
            made += 1
            try:
                got = c.call_tool(name, **args)
            except (ToolError, ProtocolError):
                got = None
            failed += got != want
            rec.log(i, call=name, ok=got == want)
        try:
            c.call_tool("unkn_tool")
            unknown = False
        except ProtocolError as e:
            unknown = e.code == -32602
        try:
            c.call_tool("conjugate", verb="run", tense="past_simple", person="3sg")
            client_side = False
        except ArgumentError:
            client_side = True
        try:
            c.call_tool("lookup_spanish", english_form="ran")
            tool_err = False
        except ToolError:
            tool_err = True
        transcript = list(c.transcript)
    try:  # an exception inside the block must still stop the child
        with MCPClient() as c2:
            procs.append(c2)
            c2.initialize()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    path = rec.out_dir / "transcript.txt" if getattr(rec, "out_dir", None) else None
    if path is not None:
        path.write_text("\n".join(transcript) + "\n", encoding="utf-8")
        rec.artifact(path, "transcript")
    return {"protocol_version": init["protocolVersion"], "tools_discovered": len(tools), "calls_made": made,
            "calls_failed": failed, "unknown_tool_raises_protocol_error": unknown,
            "invalid_args_rejected_client_side": client_side, "out_of_scope_raises_tool_error": tool_err,
            "lingering_processes": sum(p.returncode is None for p in procs),
            "server_exit_codes": [p.returncode for p in procs], "transcript_lines": len(transcript)}


# ---------------------------------------------------------------------- lab 03: mask-driven calls
def mask_tool_call(cfg: dict, rec: Recorder) -> dict:
    cm = CM.load(bool(cfg["quick"]))
    CM.record(rec, cm, bool(cfg["quick"]))
    broken = cfg.get("fault") == "no_required"
    prompts = tool_prompts(np.random.default_rng(int(cfg["seed"])), int(cfg["n_prompts"]))
    with MCPClient(["--drop-required"] if broken else [], timeout=10.0) as client, torch_threads(1):
        client.initialize()
        schemas = {t["name"]: t["inputSchema"] for t in client.list_tools()}
        tally = run_prompts(client, cm.lm, cm.vocab, prompts, schemas, int(cfg["seed"]), float(cfg["temperature"]),
                            on_dispatched=lambda k: rec.progress(k + 1, len(prompts)))
    server_log = list(client.stderr_lines)  # after close: the drain thread has finished
    counts, codes, transcript = tally.counts, tally.codes, tally.transcript
    for i, (code, n) in enumerate(sorted(codes.items())):
        rec.log(i, outcome=code, count=n)
    for i, (stage, v) in enumerate(tally.stage_ms.items()):
        rec.log(i, stage=stage, ms_mean=float(np.mean(v)) if v else 0.0)
    if getattr(rec, "out_dir", None):
        p = rec.out_dir / "transcript.json"
        p.write_text(json.dumps(transcript, indent=1, ensure_ascii=False), encoding="utf-8")
        rec.artifact(p, "transcript")
    n = len(prompts)
    return {"name_enum_is_every_tool": name_schema(schemas)["enum"] == sorted(schemas),
            "total_prompts": n, "parse_failures": counts["parse_failures"],
            "dispatch_failures": counts["dispatch_failures"], "tool_errors": counts["tool_errors"],
            "calls_missing_args": counts["calls_missing_args"], "tool_selection_accuracy": counts["correct_tool"] / n,
            "outcomes": dict(sorted(codes.items())), "server_logged_failures": sum("tools/call failed" in s for s in server_log),
            "first_call": transcript[0]["model_output_str"] if transcript else ""}
