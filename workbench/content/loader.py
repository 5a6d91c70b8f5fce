"""Find the content, load every file, and check what the schema alone cannot.

Content lives in the repo checkout (`phases/`, `quizzes/`, `experiments/` next to the
packages) or, in an installed wheel, in the `lynx_content` package. A broken file does not
stop the others from loading: its error is collected, so the TUI can show it and go on.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from workbench.content.configtypes import ConfigTypeError, check_overrides, declared_types
from workbench.content.schema import (
    ContentError,
    Experiment,
    Lab,
    Phase,
    Quiz,
    build,
)
from workbench.content.yamlio import YamlError, load_yaml

KINDS = ("phases", "quizzes", "experiments")


def content_root() -> Path:
    """The directory holding phases/, quizzes/, experiments/: $LYNX_CONTENT_DIR, the checkout, then the wheel."""
    override = os.environ.get("LYNX_CONTENT_DIR")
    if override:
        return Path(override)
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "phases").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout
    spec = importlib.util.find_spec("lynx_content")  # a namespace package inside the wheel
    if spec is None or not spec.submodule_search_locations:
        return checkout
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass
class Catalog:
    phases: dict[int, Phase] = field(default_factory=dict)
    quizzes: dict[str, Quiz] = field(default_factory=dict)
    experiments: dict[str, Experiment] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)  # object key -> source file

    def phase(self, number: int) -> Phase:
        if number not in self.phases:
            broken = [e for e in self.errors if f"phase-{number:02d}-" in e.split(":", 1)[0]]
            if broken:
                raise KeyError(f"phase {number:02d} did not load: {broken[0]}")
            raise KeyError(f"no phase {number:02d} (have {', '.join(f'{k:02d}' for k in sorted(self.phases))})")
        return self.phases[number]


@cache
def _defined_functions(module: str) -> frozenset[str] | None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    return frozenset(n.name for n in tree.body if isinstance(n, ast.FunctionDef))


def check_entry(entry: str) -> str | None:
    """Why `entry` does not resolve to a function under engine.labs, or None when it does."""
    module, _, func = entry.partition(":")
    if not module.startswith("engine.labs.") or not func:
        return f"{entry!r} must look like engine.labs.<module>:<function>"
    try:
        names = _defined_functions(module)
    except (ImportError, SyntaxError, UnicodeDecodeError) as exc:
        return f"{entry!r}: cannot read module {module}: {exc}"
    if names is None:
        return f"{entry!r}: no module {module}"
    if func not in names:
        return f"{entry!r}: {module} defines no function {func}"
    return None


def _check_lab(lab: Lab, where: str) -> None:
    if lab.status == "ready" and "manual" not in lab.needs and not lab.entry:
        raise ContentError(f"{where}.entry: required when status is ready (or mark it planned, or needs: [manual])")
    if lab.entry:
        problem = check_entry(lab.entry)
        if problem:
            raise ContentError(f"{where}.entry: {problem}")
    try:
        declared_types(lab.config, lab.types, f"{where}.config".lstrip("."))
        check_overrides(lab.config, lab.types, lab.quick, f"{where}.quick".lstrip("."))
    except ConfigTypeError as exc:
        raise ContentError(str(exc)) from None
    for i, check in enumerate(lab.checks):
        if check.tol is not None and check.op not in ("==", "!="):
            raise ContentError(f"{where}.checks[{i}].tol: only meaningful with == or !=")
        _check_order_value(check.op, check.value, f"{where}.checks[{i}]")
    for i, chart in enumerate(lab.charts):
        if not chart.y:
            raise ContentError(f"{where}.charts[{i}].y: needs at least one metric")
    if lab.exercise is not None:
        from workbench.exercises.spec import exercise_problem

        problem = exercise_problem(lab.exercise)
        if problem:
            raise ContentError(f"{where}.exercise.{problem}")


def _check_order_value(op: str, value: object, where: str) -> None:
    """`<` and friends compare numbers: a quoted "0.5" would never pass (a str is not below a float)."""
    if op in ("<", "<=", ">", ">=") and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ContentError(f"{where.lstrip('.')}.value: {value!r} must be a number for op {op!r}")


def resolve_chapters(phase: Phase) -> Phase:
    """Lab and break chapters point at a declaration by id and take its title from there (declared once).

    A title written on such a chapter is refused rather than ignored: two titles for one lab drift apart."""
    declared = {"lab": {lab.id: lab.title for lab in phase.labs}, "break": {b.id: b.title for b in phase.breaks}}
    block = {"lab": "labs", "break": "breaks"}
    chapters = []
    for i, ch in enumerate(phase.chapters):
        if ch.kind in declared:
            titles = declared[ch.kind]
            if ch.id not in titles:
                have = ", ".join(titles) or "none"
                raise ContentError(f"chapters[{i}].id: no {ch.kind} {ch.id!r} in {block[ch.kind]}: (have {have})")
            if ch.title:
                raise ContentError(
                    f"chapters[{i}].title: a {ch.kind} chapter takes its title from {block[ch.kind]}: (remove it)"
                )
            ch = replace(ch, title=titles[ch.id])
        elif not ch.title:
            raise ContentError(f"chapters[{i}].title: required for a {ch.kind} chapter")
        chapters.append(ch)
    listed = {ch.id for ch in phase.chapters if ch.kind == "lab"}
    for i, lab in enumerate(phase.labs if phase.chapters else []):  # a phase without chapters lists none
        if lab.id not in listed:
            raise ContentError(f"labs[{i}].id: {lab.id!r} is not listed in chapters: (add {{kind: lab, id: {lab.id}}})")
    return replace(phase, chapters=chapters)


def _check_phase(phase: Phase, path: Path) -> None:
    expected = f"phase-{phase.id:02d}-{phase.slug}.yaml"
    if path.name != expected:
        raise ContentError(f"id: file name should be {expected} for id {phase.id} and slug {phase.slug!r}")
    lab_ids = [lab.id for lab in phase.labs]
    for i, lab in enumerate(phase.labs):
        if lab_ids.count(lab.id) > 1:
            raise ContentError(f"labs[{i}].id: duplicate lab id {lab.id!r}")
        _check_lab(lab, f"labs[{i}]")
    for i, brk in enumerate(phase.breaks):
        if brk.lab not in lab_ids:
            raise ContentError(f"breaks[{i}].lab: no lab {brk.lab!r} in this phase (have {', '.join(lab_ids)})")
        for j, check in enumerate(brk.expect):
            _check_order_value(check.op, check.value, f"breaks[{i}].expect[{j}]")
    for i, item in enumerate(phase.done_when):
        if item.check and item.check.lab not in lab_ids:
            raise ContentError(f"done_when[{i}].check.lab: no lab {item.check.lab!r} in this phase")
        if item.check:
            _check_order_value(item.check.op, item.check.value, f"done_when[{i}].check")
        if sum([item.check is not None, item.quiz, item.manual]) != 1:
            raise ContentError(f"done_when[{i}]: give exactly one of check, quiz: true, manual: true")


def _check_quiz(quiz: Quiz, path: Path) -> None:
    if path.stem != quiz.id:
        raise ContentError(f"id: {quiz.id!r} should equal the file name {path.stem!r}")
    seen: set[str] = set()
    for i, item in enumerate(quiz.items):
        where = f"items[{i}]"
        if item.id in seen:
            raise ContentError(f"{where}.id: duplicate item id {item.id!r}")
        seen.add(item.id)
        problem = answer_problem(item.kind, item.answer, len(item.choices), item.keywords)
        if problem:
            raise ContentError(f"{where}.answer: {problem}")


def answer_problem(kind: str, answer: object, n_choices: int, keywords: list) -> str | None:
    """Why an item's answer does not fit its kind, or None."""

    def index_ok(a: object) -> bool:
        return isinstance(a, int) and not isinstance(a, bool) and 1 <= a <= n_choices

    if kind == "single":
        return None if index_ok(answer) else f"single needs a 1-based index into {n_choices} choices"
    if kind == "multi":
        ok = isinstance(answer, list) and answer and all(index_ok(a) for a in answer)
        return None if ok else f"multi needs a list of 1-based indices into {n_choices} choices"
    if kind == "ordering":
        ok = isinstance(answer, list) and sorted(answer) == list(range(1, n_choices + 1))
        return None if ok and n_choices >= 2 else f"ordering needs a permutation of 1..{n_choices}"
    if kind == "numeric":
        ok = isinstance(answer, (int, float)) and not isinstance(answer, bool)
        return None if ok else "numeric needs a number"
    if kind == "free":
        if not keywords:
            return "free needs keywords to grade against"
        for kw in keywords:
            words = kw if isinstance(kw, list) else [kw]
            if not words or any(isinstance(w, bool) or not isinstance(w, (str, int, float)) for w in words):
                return f"keyword {kw!r} must be text (or a number), or a list of them; quote yes/no/on/off"
        return None
    if kind == "conjugation":
        ok = isinstance(answer, str) or (
            isinstance(answer, list) and answer and all(isinstance(a, str) for a in answer)
        )
        return None if ok else "conjugation needs a form or a list of accepted forms"
    return f"unknown kind {kind!r}"


def _load_one(kind: str, path: Path, catalog: Catalog, root: Path) -> None:
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    try:
        data = load_yaml(path)
        if kind == "phases":
            phase = build(Phase, data, "")
            _check_phase(phase, path)
            phase = resolve_chapters(phase)
            if phase.id in catalog.phases:
                raise ContentError(f"id: phase {phase.id} is defined twice")
            catalog.phases[phase.id] = phase
            catalog.files[phase.key] = path
        elif kind == "quizzes":
            quiz = build(Quiz, data, "")
            _check_quiz(quiz, path)
            catalog.quizzes[quiz.id] = quiz
            catalog.files[quiz.id] = path
        else:
            exp = build(Experiment, data, "")
            if exp.id != path.stem:
                raise ContentError(f"id: {exp.id!r} should equal the file name {path.stem!r}")
            _check_lab(exp, "")
            catalog.experiments[exp.id] = exp
            catalog.files[exp.id] = path
    except YamlError as exc:
        catalog.errors.append(str(exc).replace(str(path), str(shown), 1))
    except ContentError as exc:
        catalog.errors.append(f"{shown}: {str(exc).lstrip('.')}")


def load_catalog(root: Path | None = None, extra: list[Path] | None = None) -> Catalog:
    """Load all content under `root` (default: content_root()), plus `extra` files for tests."""
    root = root or content_root()
    catalog = Catalog()
    for kind in KINDS:
        folder = root / kind
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            _load_one(kind, path, catalog, root)
    for path in extra or []:
        _load_one(path.parent.name if path.parent.name in KINDS else "phases", path, catalog, root)
    for number, phase in catalog.phases.items():
        quiz_file = root / "quizzes" / f"{phase.quiz}.yaml"
        if phase.quiz and catalog.quizzes and phase.quiz not in catalog.quizzes and not quiz_file.exists():
            catalog.errors.append(f"{catalog.files[phase.key].name}: quiz: no quiz file {phase.quiz}.yaml")
        del number
    return catalog
