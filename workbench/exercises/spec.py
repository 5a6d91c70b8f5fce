"""What an `exercise:` block names, resolved without importing the engine.

A slot is `module:function` or `module:Class.method`. Validation reads the module's source with
`ast` (the content loader must stay cheap: no torch import to load a YAML file), so a typo in a
slot is a content error naming the lab and field, not a crash when the learner starts.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from workbench.content.schema import Exercise

_FILE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.py$")
_TARGET = re.compile(r"^phase-\d{2}/lab-\d{2}$")
PROBES_PACKAGE = "workbench.exercises.probes."


@dataclass(frozen=True)
class Slot:
    """One reference symbol the learner implements."""

    module: str
    name: str  # function name, or the class name for a method slot
    method: str | None = None

    @property
    def qualname(self) -> str:
        return f"{self.name}.{self.method}" if self.method else self.name

    def __str__(self) -> str:
        return f"{self.module}:{self.qualname}"


def parse_slot(text: str) -> Slot:
    module, sep, qual = text.partition(":")
    parts = qual.split(".")
    if not sep or not module or not qual or len(parts) > 2 or not all(p.isidentifier() for p in parts):
        raise ValueError(f"{text!r} must look like package.module:function or package.module:Class.method")
    return Slot(module, parts[0], parts[1] if len(parts) == 2 else None)


@cache
def module_tree(module: str) -> tuple[Path, ast.Module] | None:
    """The parsed source of `module` (found, not imported), or None when there is no such module."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    path = Path(spec.origin)
    try:
        return path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None


def find_def(tree: ast.Module, slot: Slot) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The `def` node of a slot in its module's tree."""
    funcs = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        if slot.method is None and isinstance(node, funcs) and node.name == slot.name:
            return node
        if slot.method and isinstance(node, ast.ClassDef) and node.name == slot.name:
            for sub in node.body:
                if isinstance(sub, funcs) and sub.name == slot.method:
                    return sub
    return None


def slot_problem(text: str) -> str | None:
    try:
        slot = parse_slot(text)
    except ValueError as exc:
        return str(exc)
    found = module_tree(slot.module)
    if found is None:
        return f"{text!r}: no module {slot.module}"
    if find_def(found[1], slot) is None:
        kind = f"class {slot.name} with a method {slot.method}" if slot.method else f"function {slot.name}"
        return f"{text!r}: {slot.module} defines no {kind}"
    return None


def exercise_problem(ex: Exercise) -> str | None:
    """`field: what is wrong` for the first problem of an exercise block, or None."""
    if not _FILE.match(ex.file):
        return f"file: {ex.file!r} must be a plain Python file name such as softmax.py"
    if not ex.slots:
        return "slots: needs at least one slot"
    for i, text in enumerate(ex.slots):
        problem = slot_problem(text)
        if problem:
            return f"slots[{i}]: {problem}"
    if len(set(ex.slots)) != len(ex.slots):
        return "slots: a slot is listed twice"
    if not ex.todo.strip():
        return "todo: say in a sentence or two what to implement first"
    if not 2 <= len(ex.hints) <= 3:
        return f"hints: give 2 or 3 progressive hints (got {len(ex.hints)})"
    if ex.probes is not None:
        module, sep, func = ex.probes.partition(":")
        if not module.startswith(PROBES_PACKAGE) or not sep or not func:
            return f"probes: {ex.probes!r} must look like {PROBES_PACKAGE}pNN:function"
        found = module_tree(module)
        if found is None or find_def(found[1], Slot(module, func)) is None:
            return f"probes: {ex.probes!r}: no function {func} in {module}"
    for i, pred in enumerate(ex.predictions):
        if pred.kind == "choice" and len(pred.choices) < 2:
            return f"predictions[{i}].choices: a choice prediction needs at least two choices"
    for i, dep in enumerate(ex.uses):
        if not _TARGET.match(dep):
            return f"uses[{i}]: {dep!r} must be a target such as phase-07/lab-01"
    return None
