"""The §A13 corpus (engine.lm.text.corpus, spanish, corpus_checks): forms, taxonomy, the 13 checks, the split."""

from __future__ import annotations

import copy
import unicodedata

import pytest

from engine.lm.text.corpus import (
    MIS_RULES,
    MIS_TYPES,
    TENSE_SURFACES,
    eligible_mis_conjugations,
    english_form,
    generate,
)
from engine.lm.text.corpus_checks import (
    ROW_SCHEMA,
    check_split,
    jsonl_bytes,
    schema_errors,
    split_by_verb_tense,
    validate,
)
from engine.lm.text.corpus_spec import render_spec, schema_from_spec
from engine.lm.text.spanish import spanish_form


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate(42)


def test_work_and_go_in_every_tense_and_person() -> None:
    work = [[english_form("work", t, p) for p in range(3)] for t in TENSE_SURFACES]
    assert work == [["to work"] * 3, ["I work", "you work", "he works"], ["I worked", "you worked", "he worked"],
                    ["worked"] * 3, ["I will work", "you will work", "he will work"],
                    ["I am going to work", "you are going to work", "he is going to work"]]
    trabajar = [[spanish_form("work", t, p) for p in range(3)] for t in TENSE_SURFACES]
    assert trabajar == [["trabajar"] * 3, ["yo trabajo", "tú trabajas", "él trabaja"],
                        ["yo trabajé", "tú trabajaste", "él trabajó"], ["trabajado"] * 3,
                        ["yo trabajaré", "tú trabajarás", "él trabajará"],
                        ["yo voy a trabajar", "tú vas a trabajar", "él va a trabajar"]]
    assert [english_form("go", "past_simple", p) for p in range(3)] == ["I went", "you went", "he went"]
    assert [spanish_form("go", "present_simple", p) for p in range(3)] == ["yo voy", "tú vas", "él va"]
    assert english_form("go", "past_participle", 0) == "gone" and spanish_form("go", "past_participle", 0) == "ido"
    assert english_form("go", "present_simple", 2) == "he goes"


def test_course_required_forms() -> None:
    assert english_form("like", "present_simple", 0) == "I like" and spanish_form("like", "present_simple", 0) == "me gusta"
    assert english_form("be", "past_simple", 0) == "I was" and english_form("be", "past_simple", 1) == "you were"
    assert english_form("study", "present_simple", 2) == "he studies"
    assert english_form("watch", "present_simple", 2) == "he watches"
    assert spanish_form("play", "present_simple", 0) == "yo juego"  # u -> ue, not e -> ie
    assert spanish_form("write", "past_participle", 0) == "escrito"
    assert spanish_form("have", "future_will", 2) == "él tendrá"


@pytest.mark.parametrize(("name", "cell", "text", "correct"), [
    ("missing_third_person_s", ("work", "present_simple", 2), "he work", "he works"),
    ("overregularization_past", ("go", "past_simple", 0), "I goed", "I went"),
    ("wrong_aux_will_with_to", ("work", "future_will", 2), "he will to work", "he will work"),
    ("wrong_aux_going_to_missing_ing", ("work", "future_going_to", 0), "I am go to work", "I am going to work"),
    ("subject_verb_disagreement", ("be", "past_simple", 1), "you was", "you were"),
    ("bare_participle_missing_aux", ("go", "past_participle", 2), "he gone", "he has gone"),
])
def test_each_mis_conjugation_type(name: str, cell: tuple[str, str, int], text: str, correct: str) -> None:
    assert MIS_RULES[name](*cell) == (text, correct)


def test_mis_types_are_gated() -> None:
    assert MIS_RULES["missing_third_person_s"]("work", "present_simple", 0) is None
    assert MIS_RULES["overregularization_past"]("work", "past_simple", 0) is None
    assert MIS_RULES["bare_participle_missing_aux"]("work", "past_participle", 2) is None  # "he worked" is correct
    assert MIS_RULES["bare_participle_missing_aux"]("come", "past_participle", 0) is None  # "I come" is correct
    assert eligible_mis_conjugations("work", "infinitive", 0) == []


def test_generated_corpus_meets_the_dod(rows: list[dict]) -> None:
    correct = [r for r in rows if r["label"] == "correct"]
    mis = [r for r in rows if r["label"] == "mis_conjugated"]
    assert len(correct) == 360 and len(rows) >= 460 and len(mis) >= 100
    assert len({r["mis_conjugation_type"] for r in mis}) >= 4
    assert not {r["text"] for r in mis} & {r["text"] for r in correct}
    assert all(not schema_errors(r, ROW_SCHEMA) for r in rows)


def test_generation_is_deterministic_and_seed_dependent(rows: list[dict]) -> None:
    assert jsonl_bytes(generate(42)) == jsonl_bytes(rows)
    assert jsonl_bytes(generate(7)) != jsonl_bytes(rows)


def test_clean_corpus_passes_all_twelve_checks(rows: list[dict]) -> None:
    results = validate(rows)
    assert len(results) == 12 and all(c["passed"] for c in results), [c["name"] for c in results if not c["passed"]]


def _break(rows: list[dict], fn) -> list[dict]:  # type: ignore[no-untyped-def]
    bad = copy.deepcopy(rows)
    fn(bad)
    return bad


VIOLATIONS = {
    "01_schema": lambda rs: rs[0].update(tense="pluperfect"),
    "02_no_duplicates": lambda rs: rs.append(dict(rs[0])),
    "03_all_cells_correct": lambda rs: rs.remove(next(r for r in rs if r["label"] == "correct")),
    "04_verb_set": lambda rs: rs[0].update(verb_lemma="run"),
    "05_tenses_per_verb": lambda rs: [rs.remove(r) for r in [r for r in rs if (r["verb_lemma"], r["tense"]) == ("work", "infinitive")]],
    "06_persons_per_verb_tense": lambda rs: [rs.remove(r) for r in [r for r in rs if (r["verb_lemma"], r["tense"], r["person"]) == ("work", "future_will", "2sg")]],
    "07_taxonomy": lambda rs: next(r for r in rs if r["label"] == "mis_conjugated").update(mis_conjugation_type="typo"),
    "08_mis_has_correct_form": lambda rs: next(r for r in rs if r["label"] == "mis_conjugated").update(correct_form=""),
    "09_correct_has_nulls": lambda rs: next(r for r in rs if r["label"] == "correct").update(correct_form="x"),
    "10_spanish_nonempty": lambda rs: rs[0].update(spanish=" "),
    "11_nfc": lambda rs: rs[0].update(spanish=unicodedata.normalize("NFD", "él trabajó")),
    "12_byte_lengths": lambda rs: rs[0].update(text="x" * 31),
}


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_each_check_catches_its_violation(rows: list[dict], name: str) -> None:
    results = {c["name"]: c for c in validate(_break(rows, VIOLATIONS[name]))}
    assert not results[name]["passed"]


def test_split_is_by_verb_tense_without_leakage(rows: list[dict]) -> None:
    splits, assignment = split_by_verb_tense(rows, seed=42)
    assert [len(assignment[k]) for k in ("train", "val", "test")] == [96, 12, 12]
    assert check_split(splits)["passed"]
    assert sum(len(v) for v in splits.values()) == len(rows)
    for name, part in splits.items():  # mis rows follow their (verb, tense) key
        keys = set(assignment[name])
        assert all(f"{r['verb_lemma']}:{r['tense']}" in keys for r in part)
    again, _ = split_by_verb_tense(generate(42), seed=42)
    assert [r["id"] for r in again["val"]] == [r["id"] for r in splits["val"]]


def test_split_sizes_use_int_and_leak_check_fails_when_a_key_is_split() -> None:
    fake = [{"verb_lemma": f"v{i}", "tense": "t", "id": f"{i:04d}", "fingerprint": str(i)} for i in range(99)]
    _, assignment = split_by_verb_tense(fake, seed=1)
    assert [len(assignment[k]) for k in ("train", "val", "test")] == [79, 9, 11]
    leaky = {"train": [fake[0]], "val": [dict(fake[0], id="9999")], "test": []}
    assert not check_split(leaky)["passed"]


def test_spec_is_nfc_and_its_schema_round_trips() -> None:
    spec = render_spec(42)
    assert unicodedata.is_normalized("NFC", spec)
    assert schema_from_spec(spec) == ROW_SCHEMA
    assert len(MIS_TYPES) == 6
