"""engine.apps.tools: the four tools, the server's dispatch and error codes, framing, and the client."""

from __future__ import annotations

import io

import pytest

from engine.apps.tools import grammar as G
from engine.apps.tools.base import ToolError
from engine.apps.tools.client import ArgumentError, MCPClient, ProtocolError
from engine.apps.tools.framing import CONTENT_LENGTH, NEWLINE, encode, read_message
from engine.apps.tools.server import REGISTRY, Server


def test_tools_against_truth_table() -> None:
    assert G.conjugate("eat", "past_simple", "3sg") == "ate"
    assert G.conjugate("study", "present_simple", "3sg") == "studies"
    assert G.lookup_irregular_verb("go") == {"infinitive": "go", "past_simple": "went", "past_participle": "gone",
                                             "is_irregular": True}
    assert G.lookup_irregular_verb("play") == {"is_irregular": False}
    assert G.lookup_spanish("ate") == "comió"
    assert G.check_subject_verb_agreement("he", "go") == {"agrees": False, "expected_form": "goes"}
    assert G.check_subject_verb_agreement("she", "goes") == {"agrees": True, "expected_form": None}
    for bad in (lambda: G.conjugate("run", "past_simple", "3sg"), lambda: G.check_subject_verb_agreement("we", "go")):
        with pytest.raises(ToolError):
            bad()


@pytest.mark.parametrize("framing", [NEWLINE, CONTENT_LENGTH])
def test_framing_round_trip_counts_utf8_bytes(framing: str) -> None:
    msg = {"jsonrpc": "2.0", "id": 1, "result": {"text": "comió"}}
    stream = io.BytesIO(encode(msg, framing) * 2)
    assert read_message(stream, framing) == msg and read_message(stream, framing) == msg
    assert read_message(stream, framing) is None


def test_server_error_codes() -> None:
    s = Server(REGISTRY)
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    assert s.handle({"jsonrpc": "2.0", "method": "notifications/initialized"}) is None
    assert s.handle({"jsonrpc": "2.0", "id": 1, "method": "nope"})["error"]["code"] == -32601
    assert s.handle({"id": 1, "method": "tools/list"})["error"]["code"] == -32600
    missing = {**call, "params": {"name": "conjugate", "arguments": {"verb": "eat"}}}
    assert s.handle(missing)["error"]["code"] == -32602
    assert Server(REGISTRY, drop_required=True).handle(missing)["error"]["code"] == -32603  # the break
    out = s.handle({**call, "params": {"name": "lookup_spanish", "arguments": {"english_form": "ran"}}})
    assert out["result"]["isError"] is True


def test_client_round_trip_and_cleanup() -> None:
    with MCPClient() as c:
        c.initialize()
        assert len(c.list_tools()) == 4
        assert c.call_tool("conjugate", verb="eat", tense="past_simple", person="3sg") == "ate"
        with pytest.raises(ArgumentError):
            c.call_tool("conjugate", verb="run", tense="past_simple", person="3sg")
        with pytest.raises(ProtocolError) as e:
            c.call_tool("unkn_tool")
        assert e.value.code == -32602
    assert c.returncode == 0
