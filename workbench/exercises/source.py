"""Starter and solution files, generated from the reference source of an exercise's slots.

Both share one layout: a module docstring (the exercise's `todo:`), a header of imports, then
each slot in the order the YAML lists them — function slots at top level, method slots grouped
under `class Name:`. The starter keeps each slot's decorators, signature and docstring and
replaces the body with `raise NotImplementedError("TODO: …")`; the solution copies the reference
lines verbatim, so a mutant's `find` snippet is a piece of real reference code.

The header is the reference modules' own top-level imports plus `from <module> import <name>`
for each module-level helper the slot bodies use. Slot symbols are never imported: the learner
file defines them.
"""

from __future__ import annotations

import ast
import builtins
import copy
from dataclasses import dataclass
from pathlib import Path

from workbench.exercises.spec import Slot, find_def, module_tree, parse_slot

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class SlotSource:
    slot: Slot
    node: ast.FunctionDef | ast.AsyncFunctionDef
    lines: list[str]  # the reference module's lines
    path: Path

    @property
    def first_line(self) -> int:  # 1-based, including decorators
        return min([self.node.lineno, *(d.lineno for d in self.node.decorator_list)])

    def solution(self) -> str:
        return "\n".join(self.lines[self.first_line - 1 : self.node.end_lineno]) + "\n"

    def starter(self, todo: str) -> str:
        node = self.node
        body = node.body
        first = body[0]
        has_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
        indent = " " * body[0].col_offset
        if body[0].lineno > node.lineno:  # the usual layout: the body starts below the signature
            head = self.lines[self.first_line - 1 : body[0].lineno - 1]
            doc = self.lines[body[0].lineno - 1 : body[0].end_lineno] if has_doc else []
        else:  # a one-line def: rebuild the signature
            stub = copy.copy(node)  # keeps `async`, decorators and type parameters
            stub.body = [ast.Pass()]
            pad = " " * node.col_offset
            head = [pad + ln for ln in ast.unparse(stub).splitlines()[:-1]]
            indent = pad + "    "
            doc = []
        message = todo.replace("\\", "\\\\").replace('"', '\\"')
        return "\n".join([*head, *doc, f'{indent}raise NotImplementedError("TODO: {message}")']) + "\n"


def slot_sources(slots: list[str]) -> list[SlotSource]:
    out = []
    for text in slots:
        slot = parse_slot(text)
        found = module_tree(slot.module)
        if found is None:
            raise ValueError(f"{text}: no module {slot.module}")
        path, tree = found
        node = find_def(tree, slot)
        if node is None:
            raise ValueError(f"{text}: not defined in {slot.module}")
        out.append(SlotSource(slot, node, path.read_text(encoding="utf-8").splitlines(), path))
    return out


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")[: -node.level]
    return ".".join(base + ([node.module] if node.module else []))


def _module_names(tree: ast.Module) -> set[str]:
    """Names a module defines at top level (defs, classes, assignments)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (*_FUNCS, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _imports(module: str, tree: ast.Module, defined: set[str]) -> tuple[list[tuple[str, str | None, str]], set[str]]:
    """The module's top-level imports as (from-module or '', imported name, bound name) rows, and
    the names they bind, minus the slot names the learner file defines itself (a slot is never imported)."""
    rows: list[tuple[str, str | None, str]] = []
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            for a in node.names:
                rows.append(("", a.name, a.asname or a.name))
                bound.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for a in node.names:
                if (a.asname or a.name) not in defined:
                    rows.append((_absolute(module, node), a.name, a.asname or a.name))
                    bound.add(a.asname or a.name)
    return rows, bound


def _used_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def header(sources: list[SlotSource]) -> list[str]:
    """`import x` lines, then one `from m import a, b` per module (each name once, in first-seen order)."""
    defined = {s.slot.name for s in sources}  # slot functions and the classes holding method slots
    plain: list[str] = []
    froms: dict[str, list[str]] = {}
    taken: set[str] = set()

    def add(source: str, name: str, as_name: str) -> None:
        if as_name in taken:
            return
        taken.add(as_name)
        text = name if as_name == name else f"{name} as {as_name}"
        if source:
            froms.setdefault(source, []).append(text)
        else:
            plain.append(f"import {text}")

    for src in sources:
        found = module_tree(src.slot.module)
        assert found is not None
        tree = found[1]
        rows, bound = _imports(src.slot.module, tree, defined)
        for source, name, as_name in rows:
            add(source, str(name), as_name)
        local = _module_names(tree)
        for name in sorted(_used_names(src.node)):
            if name in local and name not in defined and name not in bound and not hasattr(builtins, name):
                add(src.slot.module, name, name)
    return [
        "from __future__ import annotations",
        "",
        *plain,
        *(f"from {m} import {', '.join(n)}" for m, n in froms.items()),
    ]


def render(target: str, todo: str, slots: list[str], *, solution: bool) -> str:
    """The whole learner file for an exercise: starter (solution=False) or reference bodies."""
    sources = slot_sources(slots)
    kind = "reference solution (instructor / test mode)" if solution else "starter"
    doc = [f'"""{target}: {kind}.', "", *_wrap(todo.strip()), "",
           "Fill in every body that raises NotImplementedError, then `workbench check " + target + "`.",
           "Only the functions and methods below are yours; everything else stays the reference's.",
           '"""', ""]
    out = doc + header(sources) + [""]
    emitted_classes: set[str] = set()
    for i, src in enumerate(sources):
        slot = src.slot
        text = src.solution() if solution else src.starter(f"implement {slot.qualname} ({_first_line(src)})")
        if slot.method is None:
            out += ["", text.rstrip("\n"), ""]
            continue
        if slot.name not in emitted_classes:
            emitted_classes.add(slot.name)
            out += ["", f"class {slot.name}:",
                    f'    """Your methods of {slot.name}; the rest of the class is the reference\'s."""', ""]
        body = text.rstrip("\n")
        if src.node.col_offset != 4:  # a nested layout: re-indent to one level
            body = "\n".join("    " + ln.lstrip() if ln.strip() else ln for ln in body.splitlines())
        nxt = sources[i + 1].slot if i + 1 < len(sources) else None
        out += [body, ""] if nxt and nxt.method and nxt.name == slot.name else [body, ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _first_line(src: SlotSource) -> str:
    doc = ast.get_docstring(src.node)
    if doc:
        first = doc.strip().splitlines()[0].rstrip(".")
        return first if len(first) <= 90 else first[:87] + "..."
    return "see the reference signature and the lab's checks"


def _wrap(text: str, width: int = 96) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])
