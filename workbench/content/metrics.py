"""Static check that every check's metric is something its lab can produce (for `workbench validate`).

A misspelled metric used to pass `validate` and fail only at run time ("got None"). Without
running anything, `provided_metrics(entry)` reads the entry's module with `ast` and collects the
names the lab can return or log, by following each `return` back to dict literals, `out["k"] = ...`
assignments, `out.update(...)`, `dict(k=...)` and same-module helpers, plus the keyword names of
`rec.log(...)` calls. When the result can carry keys this reading cannot see (keys built at run
time, a value returned straight from another module, a parameter), the answer is None, "can't
tell", and no error is reported: a false alarm would be worse than none.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from workbench.content.schema import Check, DoneCheck, Lab


class _Open(Exception):
    """The keys cannot be told statically."""


class _Tracer:
    """Follows what a function returns (and what it logs) back to literal keys."""

    def __init__(self, funcs: dict[str, ast.AST]) -> None:
        self.funcs = funcs
        self.keys: set[str] = set()
        self.done: set[str] = set()

    def function(self, name: str) -> None:
        if name in self.done:
            return
        self.done.add(name)
        fn = self.funcs[name]
        for node in ast.walk(fn):
            if isinstance(node, ast.Return) and node.value is not None:
                self.expr(node.value, fn)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "log":
                for kw in node.keywords:
                    if kw.arg is None:
                        self.expr(kw.value, fn)
                    else:
                        self.keys.add(kw.arg)

    def expr(self, node: ast.AST, fn: ast.AST, depth: int = 0) -> None:
        if depth > 8:
            raise _Open
        if isinstance(node, ast.Constant) and node.value is None:
            return
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if key is None:
                    self.expr(value, fn, depth + 1)
                elif isinstance(key, ast.Constant) and isinstance(key.value, str):
                    self.keys.add(key.value)
                else:
                    raise _Open
            return
        if isinstance(node, ast.Name):
            self.name(node.id, fn, depth)
            return
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("dict", "to_json"):
                for kw in node.keywords:
                    if kw.arg is None:
                        self.expr(kw.value, fn, depth + 1)
                    else:
                        self.keys.add(kw.arg)
                for arg in node.args:
                    self.expr(arg, fn, depth + 1)
                return
            if node.func.id in self.funcs:
                self.function(node.func.id)
                return
        if isinstance(node, ast.IfExp):
            self.expr(node.body, fn, depth + 1)
            self.expr(node.orelse, fn, depth + 1)
            return
        raise _Open

    def name(self, var: str, fn: ast.AST, depth: int) -> None:
        found = False
        for node in ast.walk(fn):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name) and t.id == var and node.value is not None:
                        found = True
                        self.expr(node.value, fn, depth + 1)
                    elif isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == var:
                        if isinstance(t.slice, ast.Constant) and isinstance(t.slice.value, str):
                            self.keys.add(t.slice.value)
                        else:
                            raise _Open
                    elif isinstance(t, ast.Tuple) and any(isinstance(e, ast.Name) and e.id == var for e in t.elts):
                        raise _Open
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id == var:
                self.expr(node.value, fn, depth + 1)  # out |= {...}
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == var
                and node.func.attr in ("update", "setdefault")
            ):
                for arg in node.args:
                    self.expr(arg, fn, depth + 1)
                for kw in node.keywords:
                    self.keys.add(kw.arg) if kw.arg else self.expr(kw.value, fn, depth + 1)
            elif (
                isinstance(node, (ast.For, ast.comprehension))
                and isinstance(node.target, ast.Name)
                and node.target.id == var
            ):
                raise _Open
        if not found:
            raise _Open  # a parameter or a global: not read here


@cache
def _module_functions(module: str) -> dict[str, ast.AST] | None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    return {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


@cache
def provided_metrics(entry: str) -> frozenset[str] | None:
    """Names the entry can return or log, or None when that cannot be told without running it."""
    module, _, func = entry.partition(":")
    try:
        funcs = _module_functions(module)
    except (ImportError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    if not funcs or func not in funcs:
        return None
    tracer = _Tracer(funcs)
    try:
        tracer.function(func)
    except _Open:
        return None
    keys = tracer.keys
    return frozenset(keys)


def check_problems(catalog: object) -> list[str]:
    """One line per check whose metric the lab cannot provide (for labs where that can be told)."""
    from workbench.content.loader import Catalog

    assert isinstance(catalog, Catalog)
    out = []
    items = [(p.key, catalog.files.get(p.key), p.labs, p.breaks, p.done_when) for p in catalog.phases.values()]
    items += [(e.id, catalog.files.get(e.id), [e], e.breaks, []) for e in catalog.experiments.values()]
    for _key, path, labs, breaks, done_when in items:
        shown = path.name if path else _key
        by_id = {lab.id: lab for lab in labs}
        groups: list[tuple[str, Lab | None, Sequence[Check | DoneCheck]]]
        groups = [(f"labs[{i}].checks", lab, lab.checks) for i, lab in enumerate(labs)]
        groups += [(f"breaks[{i}].expect", by_id.get(b.lab), b.expect) for i, b in enumerate(breaks)]
        groups += [
            (f"done_when[{i}].check", by_id.get(d.check.lab), [d.check]) for i, d in enumerate(done_when) if d.check
        ]
        for where, lab, checks in groups:
            if lab is None or not lab.entry or lab.status != "ready":
                continue
            provided = provided_metrics(lab.entry)
            if provided is None:
                continue
            for j, check in enumerate(checks):
                if check.metric not in provided:
                    suffix = f"[{j}]" if not where.endswith(".check") else ""
                    near = sorted(k for k in provided if k[:3] == check.metric[:3])[:5]
                    hint = f" (similar: {', '.join(near)})" if near else ""
                    out.append(
                        f"{shown}: {where}{suffix}.metric: {check.metric!r}"
                        f" is neither returned nor logged by {lab.entry}{hint}"
                    )
    return out
