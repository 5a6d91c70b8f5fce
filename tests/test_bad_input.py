"""Bad input is refused in one clear line and loses nothing: non-UTF-8 content, checks no lab
provides, string values under an order op, a phase file that failed to load, a corrupt model
cache, quiz slips (out-of-range choice, unreadable number, 0,004), contradicting free answers.

Each test reproduces a failure found before the fix (issue 12's closing note lists them)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from workbench.content import load_catalog
from workbench.content.metrics import check_problems, provided_metrics
from workbench.content.schema import QuizItem
from workbench.quiz.grading import grade, parse_number, response_problem

PHASE = """\
id: 95
slug: bad-input
title: Bad input fixture
goal: a phase to break
labs:
  - {id: lab-00, title: flag, entry: "engine.labs.selftest:flag", checks: [{metric: level, op: "<", value: 2.0}]}
"""


def _content(tmp_path: Path, phase: str = PHASE, raw: bytes | None = None) -> Path:
    root = tmp_path / "content"
    (root / "phases").mkdir(parents=True)
    (root / "experiments").mkdir()
    shutil.copy(ROOT / "experiments" / "selftest-empty.yaml", root / "experiments")
    (root / "phases" / "phase-95-bad-input.yaml").write_bytes(raw if raw is not None else phase.encode())
    return root


def test_non_utf8_byte_names_file_and_offset_and_the_rest_loads(tmp_path: Path, workspace: Path) -> None:
    # Before: every command exited 1 with a UnicodeDecodeError traceback.
    raw = PHASE.encode().replace(b"a phase to break", b"a phase to br\xe9ak")
    root = _content(tmp_path, raw=raw)
    offset = raw.index(b"\xe9")
    catalog = load_catalog(root)
    assert catalog.errors == [f"phases/phase-95-bad-input.yaml: not UTF-8: byte 0xe9 at offset {offset} (line 4); save the file as UTF-8"]
    assert "selftest-empty" in catalog.experiments  # the other files still load
    out = run_cli("validate", home=workspace, env={"LYNX_CONTENT_DIR": str(root)})
    assert out.returncode == 2 and f"byte 0xe9 at offset {offset}" in out.stderr and "Traceback" not in out.stderr
    # running a lab of that phase names the broken file (before: "no phase 95 (have ...)")
    out = run_cli("run", "phase-95/lab-00", home=workspace, env={"LYNX_CONTENT_DIR": str(root)})
    assert out.returncode == 2 and "phase 95 did not load: phases/phase-95-bad-input.yaml: not UTF-8" in out.stdout


def test_validate_finds_a_misspelled_metric_without_running(tmp_path: Path, workspace: Path) -> None:
    # Before: `validate` passed; the run failed its check with "got None".
    root = _content(tmp_path, PHASE.replace("metric: level", "metric: levle"))
    problems = check_problems(load_catalog(root))
    assert problems == ["phase-95-bad-input.yaml: labs[0].checks[0].metric: 'levle' is neither returned nor logged by "
                        "engine.labs.selftest:flag (similar: level)"]
    out = run_cli("validate", home=workspace, env={"LYNX_CONTENT_DIR": str(root)})
    assert out.returncode == 2 and "'levle' is neither returned nor logged" in out.stderr


def test_shipped_content_has_no_metric_problems_and_most_labs_are_readable() -> None:
    catalog = load_catalog()
    assert check_problems(catalog) == []
    entries = [lab.entry for p in catalog.phases.values() for lab in p.labs if lab.entry]
    readable = [e for e in entries if provided_metrics(e) is not None]
    assert len(readable) >= len(entries) // 2  # the rest are "can't tell", never a false alarm
    assert {"level", "broken"} <= set(provided_metrics("engine.labs.selftest:flag") or ())


def test_string_value_under_an_order_op_is_a_content_error(tmp_path: Path) -> None:
    # Before: {op: "<", value: "0.5"} loaded fine and every run failed the check (str vs float).
    root = _content(tmp_path, PHASE.replace("value: 2.0", 'value: "2.0"'))
    assert load_catalog(root).errors == ["phases/phase-95-bad-input.yaml: labs[0].checks[0].value: '2.0' must be a number for op '<'"]


def test_corrupt_model_cache_is_named_moved_aside_and_retrained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    # Before: a truncated weights.safetensors crashed every later run with a bare SafetensorError.
    from engine.lm.train import recipe

    monkeypatch.setenv("LYNX_CACHE", str(tmp_path / "cache"))
    d = recipe.cache_dir(recipe.QUICK)
    d.mkdir(parents=True)
    (d / "manifest.json").write_text(json.dumps({"schema_version": 1}))
    (d / "weights.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":")  # cut short
    (d / "optim.safetensors").write_bytes(b"")
    (d / "extra.json").write_text("{}")

    class Retrained(Exception):
        pass

    def train(config):  # type: ignore[no-untyped-def]
        raise Retrained

    monkeypatch.setattr(recipe, "train_minigpt", train)
    with pytest.raises(Retrained):
        recipe.cached_minigpt(quick=True)
    err = capsys.readouterr().err
    assert f"corrupt model cache {d}" in err and "retraining" in err
    assert not d.exists() and len(list(d.parent.glob(d.name + ".corrupt-*"))) == 1


def _item(kind: str, **kw: object) -> QuizItem:
    base: dict[str, object] = {"id": "q-1", "kind": kind, "prompt": "p", "answer": 1}
    return QuizItem(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "value"), [("0,004", 0.004), ("-0,004", -0.004), ("0,5", 0.5), ("3,14159", 3.14159),
                                             ("1,000", 1000.0), ("16,384", 16384.0), ("1,234,567", 1234567.0)])
def test_decimal_comma_only_where_unambiguous(text: str, value: float) -> None:
    # Before: "0,004" was read as the thousands group 0004 = 4.
    assert parse_number(text) == [value]


@pytest.mark.parametrize("text", ["1.234,5", "1,5,3", "about four"])
def test_mixed_or_unreadable_numbers_are_refused(text: str) -> None:
    assert parse_number(text) is None


def test_slips_are_refused_not_graded_wrong() -> None:
    single = _item("single", choices=["a", "b", "c"], answer=2)
    assert response_problem(single, 5) == "choice 5 is out of range: this item has choices 1-3"
    assert response_problem(_item("multi", choices=["a", "b"], answer=[1]), "1 4") is not None
    assert response_problem(_item("numeric", answer=0.004, tolerance=1e-6), "1.234,5") is not None
    assert response_problem(single, "no idea") is None and response_problem(single, None) is None  # graded wrong, not refused


def test_answers_file_with_a_slip_exits_2_naming_the_item(workspace: Path) -> None:
    # Before: an out-of-range choice was graded wrong, stored, and seeded a review card.
    from workbench.quiz.commands import find_quiz

    quiz = find_quiz(load_catalog(), 7)
    single = next(i for i in quiz.items if i.kind == "single")
    path = workspace / "a.yaml"
    path.write_text(f"{single.id}: {len(single.choices) + 3}\n")
    out = run_cli("quiz", "7", "--answers", str(path), home=workspace)
    assert out.returncode == 2 and f"a.yaml: {single.id}: choice {len(single.choices) + 3} is out of range" in out.stderr
    assert not (workspace / "journal" / "quiz_attempts.jsonl").exists(), "nothing stored"
    path.write_bytes(f"{single.id}: \xff\n".encode("latin-1"))
    out = run_cli("quiz", "7", "--answers", str(path), home=workspace)
    assert out.returncode == 2 and "a.yaml: not UTF-8: byte 0xff" in out.stderr


def test_interactive_quiz_asks_again_after_a_slip() -> None:
    from rich.console import Console

    from workbench.content.schema import Quiz
    from workbench.quiz.interactive import take_quiz

    quiz = Quiz("q", 1, "t", [_item("single", choices=["a", "b", "c"], answer=2), _item("numeric", id="q-2", answer=0.004)])
    typed = iter(["7", "2", "0,0,4", "0,004"])
    console = Console(file=open("/dev/null", "w"), width=100)  # noqa: SIM115
    answers = take_quiz(quiz, console, lambda _prompt: next(typed))
    assert answers == {"q-1": "2", "q-2": "0,004"}
    assert all(grade(item, answers[item.id]).correct for item in quiz.items)


# A held list: real-looking answers that name every key idea but deny one (must be graded wrong),
# each next to an answer with the same words that affirms it (must be graded right).
HELD = [
    ("It uses the median of the values.", "It does not use the median of the values.", [["median"]]),
    ("Gradients accumulate across uses.", "Gradients don't accumulate; they are overwritten.", [["accumulate"]]),
    ("Dropout is off at eval time and scales at train time.", "Dropout never scales at train time and is off at eval",
     [["scale", "scales"], ["eval"]]),
    ("The cache stores keys and values.", "The cache stores no keys, only values.", [["keys"], ["values"]]),
    ("Warmup keeps early updates small.", "Without warmup early updates stay small.", [["warmup"], ["small"]]),
    ("It is not the mean but the median.", "It is the mean, not the median.", [["median"]]),
]


@pytest.mark.parametrize(("right", "contradiction", "keywords"), HELD)
def test_free_text_that_negates_a_key_idea_is_wrong(right: str, contradiction: str, keywords: list[list[str]]) -> None:
    # Before: "does not use the median" matched the keyword "median" and was graded right.
    item = _item("free", answer=right, keywords=keywords)
    assert grade(item, right).correct
    g = grade(item, contradiction)
    assert not g.correct and "says the opposite of" in g.feedback


def test_negation_in_the_model_answer_is_not_held_against_the_learner() -> None:
    item = _item("free", answer="termination is not guaranteed", keywords=[["guarantee", "guaranteed"]])
    assert grade(item, "nothing guarantees it stops").correct and grade(item, "no guarantee").correct
