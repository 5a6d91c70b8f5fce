"""The content schema as typed dataclasses, and one strict builder for all of them.

`build(cls, data, where)` turns a YAML mapping into `cls`, refusing unknown keys, missing
required fields and wrong types. Every error names the file, the item path and the field,
e.g. `phases/phase-07-scalar-autograd.yaml: labs[1].checks[0].op: 'lt' is not one of <,<=,>,>=,==,!=`.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

# The closed vocabularies, each written once; the builder reads the allowed values from these types.
Op = Literal["<", "<=", ">", ">=", "==", "!="]
Need = Literal["gpu", "triton", "nvcc", "network", "docker", "manual", "prometheus"]
ItemKind = Literal["single", "multi", "free", "numeric", "ordering", "conjugation"]


class ContentError(ValueError):
    """One clear line: `<file>: <item path>.<field>: <what is wrong>`."""


@dataclass(frozen=True)
class Check:
    metric: str
    op: Op
    value: Any
    hard: bool = True
    name: str | None = None
    tol: float | None = None

    @property
    def label(self) -> str:
        return self.name or f"{self.metric} {self.op} {self.value}"


@dataclass(frozen=True)
class Chart:
    title: str
    y: list[str]
    x: str = "step"
    kind: Literal["line", "scatter", "bar"] = "line"
    logx: bool = False
    logy: bool = False
    xlabel: str | None = None
    ylabel: str | None = None
    where: dict[str, Any] = field(default_factory=dict)
    series_by: str | None = None
    label: str | None = None
    lines: list[str] = field(default_factory=list)  # series_by values drawn as lines whatever `kind` says
    mark: str | None = None  # config key whose value is the x of an injected fault: both renderers mark it


@dataclass(frozen=True)
class Prediction:
    metric: str
    prompt: str
    kind: Literal["number", "choice"] = "number"
    choices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Exercise:
    """The learner's part of a lab (docs/EXERCISES.md): slots to implement, hints, the judge's probes."""

    file: str
    slots: list[str]
    todo: str
    hints: list[str] = field(default_factory=list)
    probes: str | None = None
    predictions: list[Prediction] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Lab:
    id: str
    title: str
    summary: str = ""
    status: Literal["ready", "planned"] = "ready"
    entry: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    quick: dict[str, Any] = field(default_factory=dict)
    needs: list[Need] = field(default_factory=list)
    timeout: float | None = None
    charts: list[Chart] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    substitute: str | None = None  # a target to run instead where `needs` can't be met (e.g. a CPU variant)
    types: dict[str, str] = field(default_factory=dict)  # explicit config types: {key: "int | null"} (configtypes.py)
    seeded: bool = True  # false: --seed cannot change its results (outside `measured`)
    measured: list[str] = field(default_factory=list)  # result keys read off a clock (or a port): differ run to run
    exercise: Exercise | None = None  # the learner implements these slots (docs/EXERCISES.md)


@dataclass(frozen=True)
class Break:
    id: str
    lab: str
    title: str
    fault: str
    expect: list[Check]
    summary: str = ""
    notes: list[str] = field(default_factory=list)
    shows: str | None = None  # the metric whose chart shows this break: the TUI's split view plots it in both panes


@dataclass(frozen=True)
class Chapter:
    """One entry of a phase's reading order. A lab or break chapter names its lab/break by `id` and
    takes its title from that declaration (the loader fills it in); theory and quiz chapters give one."""

    kind: Literal["theory", "lab", "break", "quiz"]
    id: str
    title: str = ""
    summary: str = ""


@dataclass(frozen=True)
class DoneCheck:
    lab: str
    metric: str
    op: Op
    value: Any
    tol: float | None = None


@dataclass(frozen=True)
class DoneItem:
    text: str
    check: DoneCheck | None = None
    quiz: bool = False
    manual: bool = False


@dataclass(frozen=True)
class Phase:
    id: int
    slug: str
    title: str
    goal: str
    requires: list[int] = field(default_factory=list)
    teaches: list[str] = field(default_factory=list)
    chapters: list[Chapter] = field(default_factory=list)
    labs: list[Lab] = field(default_factory=list)
    breaks: list[Break] = field(default_factory=list)
    done_when: list[DoneItem] = field(default_factory=list)
    quiz: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"phase-{self.id:02d}"

    def lab(self, lab_id: str) -> Lab:
        for lab in self.labs:
            if lab.id == lab_id:
                return lab
        raise KeyError(lab_id)


@dataclass(frozen=True)
class Experiment(Lab):
    breaks: list[Break] = field(default_factory=list)


@dataclass(frozen=True)
class QuizItem:
    id: str
    kind: ItemKind
    prompt: str
    answer: Any
    explanation: str = ""
    prompt_es: str | None = None
    choices: list[str] = field(default_factory=list)
    keywords: list[Any] = field(default_factory=list)
    min_keywords: int | None = None
    tolerance: float | None = None
    rel_tolerance: float | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Quiz:
    id: str
    phase: int
    title: str
    items: list[QuizItem]
    pass_mark: float = 0.7


# ---------------------------------------------------------------- the builder


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ",".join(str(a) for a in typing.get_args(tp))
    if origin in (list, dict):
        return origin.__name__
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except ContentError as exc:
                errors.append(exc)
        raise errors[0] if len(errors) == 1 else ContentError(f"{where}: {value!r} is not {_type_name(tp)}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ContentError(f"{where}: {value!r} is not one of {','.join(map(str, typing.get_args(tp)))}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ContentError(f"{where}: expected a list, got {type(value).__name__}")
        (item_tp,) = typing.get_args(tp)
        return [_convert(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ContentError(f"{where}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return build(tp, value, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ContentError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ContentError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ContentError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ContentError(f"{where}: expected text, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"schema type {tp!r} not supported")  # a bug in this file, not in content


@functools.cache
def _hints(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field]]:
    return typing.get_type_hints(cls), {f.name: f for f in dataclasses.fields(cls)}


def build(cls: type, data: Any, where: str) -> Any:
    """Build dataclass `cls` from a mapping; `where` is the path used in error messages."""
    if not isinstance(data, dict):
        raise ContentError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints, fields = _hints(cls)
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise ContentError(f"{where}.{unknown[0]}: unknown key (allowed: {', '.join(fields)})".lstrip("."))
    kwargs = {}
    for name, f in fields.items():
        sub = f"{where}.{name}" if where else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ContentError(f"{sub}: required field is missing")
            continue
        kwargs[name] = _convert(hints[name], data[name], sub)
    return cls(**kwargs)
