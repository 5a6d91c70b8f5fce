"""The content loader: every shipped file loads, and each kind of bad input gives one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from workbench.content import load_catalog
from workbench.content.yamlio import loads_yaml

GOOD_PHASE = """\
id: 99
slug: fixture
title: Fixture phase
goal: a phase used by the loader tests
labs:
  - id: lab-00
    title: empty
    entry: engine.labs.selftest:empty
    config: {lr: 3e-4}
    checks: [{metric: ok, op: "==", value: true}]
"""


def _root(tmp_path: Path, text: str, name: str = "phase-99-fixture.yaml", kind: str = "phases") -> Path:
    folder = tmp_path / "content" / kind
    folder.mkdir(parents=True)
    (folder / name).write_text(text)
    return tmp_path / "content"


def test_every_shipped_file_loads_without_error() -> None:
    catalog = load_catalog(ROOT)
    assert catalog.errors == []
    assert 0 in catalog.phases and catalog.phases[0].labs


def test_exponent_floats_read_as_floats() -> None:
    assert loads_yaml("lr: 3e-4")["lr"] == pytest.approx(3e-4)
    assert loads_yaml("lr: 1.0e-3")["lr"] == pytest.approx(1e-3)
    assert loads_yaml("v: 42")["v"] == 42
    assert loads_yaml("name: 3e")["name"] == "3e"


def test_good_fixture_loads(tmp_path: Path) -> None:
    catalog = load_catalog(_root(tmp_path, GOOD_PHASE))
    assert catalog.errors == []
    assert catalog.phases[99].labs[0].config["lr"] == pytest.approx(3e-4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD_PHASE + "  - id: [unclosed\n", "phases/phase-99-fixture.yaml:"),
        (GOOD_PHASE.replace("goal:", "colour: red\ngoal:"), "phases/phase-99-fixture.yaml: colour: unknown key"),
        (GOOD_PHASE.replace("id: 99", "id: ninety-nine"), "phases/phase-99-fixture.yaml: id: expected an integer"),
        (
            GOOD_PHASE.replace('op: "=="', "op: lt"),
            "phases/phase-99-fixture.yaml: labs[0].checks[0].op: 'lt' is not one of <,<=,>,>=,==,!=",
        ),
        (
            GOOD_PHASE.replace("selftest:empty", "selftest:nothing_here"),
            "phases/phase-99-fixture.yaml: labs[0].entry: 'engine.labs.selftest:nothing_here': engine.labs.selftest defines no function nothing_here",
        ),
        (GOOD_PHASE.replace("engine.labs.selftest:empty", "os:system"), "labs[0].entry: 'os:system' must look like engine.labs."),
        (GOOD_PHASE.replace("    title: empty\n", ""), "phases/phase-99-fixture.yaml: labs[0].title: required field is missing"),
    ],
    ids=["bad-syntax", "unknown-key", "wrong-type", "bad-op", "bad-entry", "entry-outside-labs", "missing-field"],
)
def test_malformed_content_gives_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    catalog = load_catalog(_root(tmp_path, text))
    assert len(catalog.errors) == 1
    assert catalog.errors[0].startswith(expected) or expected in catalog.errors[0], catalog.errors[0]
    assert 99 not in catalog.phases


CHAPTERS = "chapters:\n  - {kind: theory, id: 00-why, title: Why}\n  - {kind: lab, id: lab-00, summary: short}\n"


def test_lab_chapters_take_their_title_from_labs(tmp_path: Path) -> None:
    catalog = load_catalog(_root(tmp_path, GOOD_PHASE.replace("labs:\n", CHAPTERS + "labs:\n")))
    assert catalog.errors == []
    theory, lab = catalog.phases[99].chapters
    assert (theory.title, lab.title, lab.summary) == ("Why", "empty", "short")


@pytest.mark.parametrize(
    ("chapters", "expected"),
    [
        (CHAPTERS.replace("lab-00,", "lab-09,"), "chapters[1].id: no lab 'lab-09' in labs: (have lab-00)"),
        (CHAPTERS.replace("id: lab-00,", "id: lab-00, title: Other,"), "chapters[1].title: a lab chapter takes its title from labs:"),
        (CHAPTERS.replace("  - {kind: lab, id: lab-00, summary: short}\n", ""), "labs[0].id: 'lab-00' is not listed in chapters:"),
        (CHAPTERS + "  - {kind: break, id: break-00}\n", "chapters[2].id: no break 'break-00' in breaks: (have none)"),
        (CHAPTERS.replace("title: Why", "summary: Why"), "chapters[0].title: required for a theory chapter"),
    ],
    ids=["unknown-lab", "second-title", "lab-not-listed", "unknown-break", "theory-without-title"],
)
def test_chapter_lab_pair_is_validated(tmp_path: Path, chapters: str, expected: str) -> None:
    catalog = load_catalog(_root(tmp_path, GOOD_PHASE.replace("labs:\n", chapters + "labs:\n")))
    assert catalog.errors == ["phases/phase-99-fixture.yaml: " + expected + catalog.errors[0].split(expected, 1)[-1]]
    assert 99 not in catalog.phases


def test_bad_syntax_names_the_line(tmp_path: Path) -> None:
    catalog = load_catalog(_root(tmp_path, GOOD_PHASE + "  - id: [unclosed\n"))
    assert catalog.errors[0].split(":")[1].isdigit()


def test_broken_file_does_not_hide_others(tmp_path: Path) -> None:
    root = _root(tmp_path, GOOD_PHASE)
    (root / "phases" / "phase-98-other.yaml").write_text("id: 98\nslug: other\ntitle: t\n")  # no goal
    catalog = load_catalog(root)
    assert 99 in catalog.phases
    assert catalog.errors == ["phases/phase-98-other.yaml: goal: required field is missing"]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("{id: q-99-01, kind: single, prompt: p, choices: [a, b], answer: 3}", "items[0].answer: single needs a 1-based index into 2 choices"),
        ("{id: q-99-01, kind: ordering, prompt: p, choices: [a, b, c], answer: [1, 1, 2]}", "items[0].answer: ordering needs a permutation of 1..3"),
        ("{id: q-99-01, kind: free, prompt: p, answer: text}", "items[0].answer: free needs keywords"),
        ("{id: q-99-01, kind: essay, prompt: p, answer: x}", "items[0].kind: 'essay' is not one of"),
    ],
)
def test_malformed_quiz_items(tmp_path: Path, item: str, expected: str) -> None:
    text = f"id: phase-99-fixture\nphase: 99\ntitle: t\nitems:\n  - {item}\n"
    catalog = load_catalog(_root(tmp_path, text, "phase-99-fixture.yaml", "quizzes"))
    assert len(catalog.errors) == 1
    assert catalog.errors[0].startswith("quizzes/phase-99-fixture.yaml: " + expected), catalog.errors[0]


def test_validate_cli_exits_2_on_bad_content(tmp_path: Path) -> None:
    root = _root(tmp_path, GOOD_PHASE.replace("goal:", "colour: red\ngoal:"))
    out = run_cli("validate", home=tmp_path, env={"LYNX_CONTENT_DIR": str(root)})
    assert out.returncode == 2
    assert "phases/phase-99-fixture.yaml: colour: unknown key" in out.stderr


def test_run_of_bad_target_exits_2(tmp_path: Path) -> None:
    root = _root(tmp_path, GOOD_PHASE)
    out = run_cli("run", "phase-99/lab-7", home=tmp_path, env={"LYNX_CONTENT_DIR": str(root)})
    assert out.returncode == 2
    assert "phase-99 has no lab or break 'lab-7'" in out.stdout


def test_unquoted_off_keyword_is_caught(tmp_path: Path) -> None:
    text = "id: phase-99-fixture\nphase: 99\ntitle: t\nitems:\n  - {id: q-99-01, kind: free, prompt: p, answer: a, keywords: [[disabled, off]]}\n"
    catalog = load_catalog(_root(tmp_path, text, "phase-99-fixture.yaml", "quizzes"))
    assert catalog.errors and "quote yes/no/on/off" in catalog.errors[0]
