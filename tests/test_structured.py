"""engine.apps.structured: derivative automaton, schema compiler/validator and masks (phase 30)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from engine.apps.structured import regex as R
from engine.apps.structured.mask import DigitMask, JSONSchemaMask, NoLegalContinuation, RegexMask
from engine.apps.structured.schema import (
    check_schema,
    compile_schema,
    conjugation_schema,
    validate,
    without_required,
)
from engine.apps.structured.tokenizer import JSONCharTokenizer

TOK = JSONCharTokenizer()


def test_derivative_regex_agrees_with_python_re() -> None:
    r = R.seq(R.rep(R.chars(R.DIGITS), 1, 3), R.alt(R.lit("ab"), R.lit("a")))
    py = re.compile(r"^\d{1,3}(ab|a)$")
    rng = np.random.default_rng(0)
    for _ in range(500):
        s = "".join(rng.choice(list("0129ab"), size=rng.integers(0, 6)))
        assert R.matches(r, s) == bool(py.match(s)), s


def test_digit_mask_steps() -> None:
    m = DigitMask(TOK, 4)
    legal = {TOK.itos[i] for i in np.flatnonzero(np.isfinite(m.step(None)))}
    assert legal == set("0123456789")
    for _ in range(4):
        v = m.step(TOK.stoi["7"])
    assert m.is_done() and np.flatnonzero(np.isfinite(v)).tolist() == [TOK.eos_id]


def test_empty_legal_raises() -> None:
    with pytest.raises(NoLegalContinuation):
        RegexMask(TOK, R.lit("Z")).step(None)


def test_schema_language() -> None:
    s = conjugation_schema()
    r = compile_schema(s)
    assert check_schema(s) == []
    assert R.matches(r, '{"verb":"eat","tense":"past_simple","person":"3sg"}')
    assert R.matches(r, '{"verb":"eat","tense":"past_simple","person":"3sg","spanish":"comio"}')
    assert not R.matches(r, '{"verb":"run","tense":"past_simple","person":"3sg"}')
    assert not R.matches(r, '{"verb":"eat","person":"3sg"}')          # tense is required
    assert not R.matches(r, '{"tense":"past_simple","verb":"eat","person":"3sg"}')  # fixed key order
    assert R.matches(compile_schema(without_required(s)), '{"verb":"eat"}')


def test_multi_char_token_walked_through_automaton() -> None:
    m = JSONSchemaMask(TOK, conjugation_schema())
    first = {TOK.itos[i] for i in np.flatnonzero(np.isfinite(m.step(None)))}
    assert first == {"{", '{"', '{"verb":"'}
    v = m.step(TOK.stoi['{"verb":"'])
    for piece in ("e", "a", "t"):
        v = m.step(TOK.stoi[piece])
    legal = {TOK.itos[i] for i in np.flatnonzero(np.isfinite(v))}
    assert '","tense":"' in legal and '","person":"' not in legal and '"}' not in legal


def test_validate_subset() -> None:
    s = conjugation_schema()
    assert validate(json.loads('{"verb":"eat","tense":"past_simple","person":"3sg"}'), s) == []
    assert validate({"verb": "eat", "tense": "past_simple"}, s)
    assert validate({"verb": "eat", "tense": "past_simple", "person": "3sg", "extra": 1}, s)
    assert check_schema({"type": "object", "oneOf": []})


def _mutations(doc: dict) -> list:
    """The document and single-key variants of it: each key dropped, set to a wrong type, to
    null, to an out-of-enum string, plus an extra key."""
    out: list = [doc, {**doc, "zz_extra": 1}, [], "text", None, 3]
    for k in doc:
        out.append({j: v for j, v in doc.items() if j != k})
        for bad in (None, 7, 1.5, True, "pluperfect", "x" * 40, [], ["a"], ["a", "b", "c", "d"], {}):
            out.append({**doc, k: bad})
    return out


def test_validator_agrees_with_jsonschema_package() -> None:
    """The project's one validator against an independent implementation, on the schemas the
    project uses (corpus rows, the conjugation JSON, the four tool inputs, the planner's oneOf)."""
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema comes with the dev extra (via mcp)")
    from engine.apps.agents.schemas import planner_schema
    from engine.lm.text.corpus import generate
    from engine.lm.text.corpus_checks import ROW_SCHEMA
    from engine.apps.tools.base import REGISTRY
    from engine.apps.tools import grammar  # noqa: F401

    row = generate(42)[0]
    cases = [(ROW_SCHEMA, row), (conjugation_schema(), {"verb": "eat", "tense": "past_simple", "person": "3sg",
                                                        "spanish": "comió"}),
             (planner_schema(), {"corrected": "He went.", "rationale": ["a"], "spanish_gloss": None, "in_scope": True}),
             (planner_schema(), {"tool": "conjugate", "args": {"verb": "go", "tense": "past_simple", "person": "3sg"}})]
    cases += [(t.input_schema, {k: "go" for k in t.input_schema["properties"]}) for t in REGISTRY.values()]
    checked = 0
    for schema, doc in cases:
        assert check_schema(schema) == [], schema
        ref = jsonschema.Draft202012Validator(schema)
        for d in _mutations(doc):
            assert (not validate(d, schema)) == ref.is_valid(d), (schema.get("title"), d)
            checked += 1
    assert checked > 300


def test_compiled_regex_accepts_exactly_the_valid_minified_documents() -> None:
    from engine.apps.agents.schemas import planner_schema
    from engine.apps.structured.schema import as_bytes_text

    for schema, doc in ((conjugation_schema(), {"verb": "eat", "tense": "past_simple", "person": "3sg",
                                                "spanish": "él comió"}),
                        (planner_schema(), {"corrected": None, "rationale": ["ok", "b"], "in_scope": False})):
        node = compile_schema(schema)
        for d in _mutations(doc):
            text = as_bytes_text(json.dumps(d, separators=(",", ":"), ensure_ascii=False))
            end = R.walk(node, text)
            assert (end is not None and end.nullable) == (not validate(d, schema)), d
