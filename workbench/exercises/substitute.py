"""Put the learner's slots in place of the reference ones, and take them out again.

`load(block)` imports each learner file from its path and binds every slot to the learner's
object, checking it exists with the reference's parameters; any problem is a `LearnerError`
whose message names the file (with line), the slot and what was expected — never a traceback
of ours. `Binding.install()` then patches: a function slot replaces the attribute on its
module and every alias of it in loaded modules (`from m import f` made a copy), a method slot
is set onto the reference class, and the learner module's class name is rebound to the
reference class so `Value(...)` in learner code builds the real thing. `uninstall()` restores
every attribute it touched (tests judge many learner files in one process).

`prepare(entry, block)` is the runner child's hook: deps installed, probes run, then the lab
runs with the learner's slots installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from workbench.exercises.spec import Slot, parse_slot

_MISSING = object()


class LearnerError(Exception):
    """The learner's file cannot be used as it is: one line naming file:line, slot, expectation."""


def learner_frame(tb: Any, paths: set[str]) -> tuple[str, int, str] | None:
    """(file, line, function) of the innermost traceback frame inside a learner file."""
    found = None
    for frame in traceback.extract_tb(tb):
        if str(Path(frame.filename).resolve()) in paths:
            found = (frame.filename, frame.lineno or 0, frame.name)
    return found


def _import_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LearnerError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        source = path.read_text(encoding="utf-8")
        code = compile(source, str(path), "exec")
        exec(code, module.__dict__)  # noqa: S102 - the learner's own file, run as the lab would import it
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise LearnerError(f"{path}:{exc.lineno}: SyntaxError: {exc.msg}") from None
    except Exception as exc:  # noqa: BLE001 - any import-time failure of their file is theirs
        sys.modules.pop(name, None)
        where = learner_frame(exc.__traceback__, {str(path.resolve())})
        line = f":{where[1]}" if where else ""
        raise LearnerError(f"{path}{line}: importing it raised {type(exc).__name__}: {exc}") from None
    return module


def _unwrap(obj: Any) -> Any:
    if isinstance(obj, (staticmethod, classmethod)):
        return obj.__func__
    if isinstance(obj, property):
        return obj.fget
    return obj


def _params(fn: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.kind) for p in inspect.signature(_unwrap(fn)).parameters.values()]


def _signature_text(fn: Any) -> str:
    return f"{getattr(_unwrap(fn), '__name__', '?')}{inspect.signature(_unwrap(fn))}"


@dataclass
class SlotBinding:
    slot: Slot
    reference: Any  # the function, or the raw class attribute for a method slot
    learner: Any
    owner: Any  # the module (function slot) or the class (method slot)


@dataclass
class Binding:
    """One learner file bound to its slots; install/uninstall are re-entrant."""

    target: str
    path: Path
    module: ModuleType
    slots: list[SlotBinding]
    _depth: int = 0
    _undo: list[tuple[Any, str, Any]] = field(default_factory=list)
    _sites: list[tuple[Any, str, Any]] | None = None
    _n_modules: int = 0

    def install(self) -> None:
        self._depth += 1
        if self._depth > 1:
            return
        if self._sites is None or self._n_modules != len(sys.modules):
            self._sites = self._find_sites()
            self._n_modules = len(sys.modules)
        for owner, key, value in self._sites:
            self._set(owner, key, value)

    def _find_sites(self) -> list[tuple[Any, str, Any]]:
        """Where each reference object must be replaced: its module or class, plus every alias of a
        function slot in a loaded module (a `from m import f` copy, or a value of a module-level dict
        such as a registry of methods)."""
        sites: list[tuple[Any, str, Any]] = []
        functions = {id(sb.reference): sb for sb in self.slots if sb.slot.method is None}
        for sb in self.slots:
            if sb.slot.method is None:
                sites.append((sb.owner, sb.slot.name, sb.learner))
            else:
                sites.append((sb.owner, sb.slot.method, sb.learner))
        for mod in list(sys.modules.values()):
            namespace = getattr(mod, "__dict__", None)
            if not isinstance(namespace, dict) or mod is self.module:
                continue
            for key, value in list(namespace.items()):
                if id(value) in functions and value is functions[id(value)].reference:
                    sb = functions[id(value)]
                    if not (mod is sb.owner and key == sb.slot.name):
                        sites.append((mod, key, sb.learner))
                elif type(value) is dict and not key.startswith("__") and len(value) < 1000:
                    for k2, v2 in list(value.items()):
                        if id(v2) in functions and v2 is functions[id(v2)].reference:
                            sites.append((value, k2, functions[id(v2)].learner))
                        elif type(v2) is tuple and any(id(x) in functions for x in v2):  # a registry row (fn, lr, kw)
                            row = tuple(
                                functions[id(x)].learner
                                if id(x) in functions and x is functions[id(x)].reference
                                else x
                                for x in v2
                            )
                            sites.append((value, k2, row))
        return sites

    def uninstall(self) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        for owner, name, old in reversed(self._undo):
            if isinstance(owner, dict):
                owner[name] = old
            elif old is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, old)
        self._undo.clear()
        if self._n_modules == len(sys.modules):
            return
        # a module imported while installed copied the learner's function: point it back
        learner_fns = {id(sb.learner): sb.reference for sb in self.slots if sb.slot.method is None}
        for mod in list(sys.modules.values()):
            namespace = getattr(mod, "__dict__", None)
            if not isinstance(namespace, dict) or mod is self.module:
                continue
            for key, value in list(namespace.items()):
                if id(value) in learner_fns:
                    namespace[key] = learner_fns[id(value)]
        self._sites = None

    def _set(self, owner: Any, name: str, value: Any) -> None:
        if isinstance(owner, dict):
            self._undo.append((owner, name, owner.get(name, _MISSING)))
            owner[name] = value
            return
        old = owner.__dict__.get(name, _MISSING) if isinstance(owner, type) else getattr(owner, name, _MISSING)
        self._undo.append((owner, name, old))
        setattr(owner, name, value)

    def __enter__(self) -> Binding:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


def _rehome(attr: Any, cls: type) -> Any:
    """A learner method whose zero-argument `super()` must see the reference class, not theirs."""
    wrapper = type(attr) if isinstance(attr, (staticmethod, classmethod)) else None
    fn = attr.__func__ if wrapper else attr
    if not isinstance(fn, types.FunctionType) or "__class__" not in fn.__code__.co_freevars:
        return attr
    cells = tuple(types.CellType(cls) if name == "__class__" else cell
                  for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True))
    new = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, cells)
    new.__kwdefaults__, new.__qualname__, new.__doc__ = fn.__kwdefaults__, fn.__qualname__, fn.__doc__
    new.__dict__.update(fn.__dict__)
    return wrapper(new) if wrapper else new


def bind(target: str, path: Path, slots: list[str]) -> Binding:
    """Import the learner file at `path` and bind each slot; LearnerError on any mismatch."""
    if not path.is_file():
        raise LearnerError(f"{path}: no such file (run `workbench start {target}` first)")
    module = _import_file(path, f"_learner_.{target.replace('/', '_').replace('-', '_')}.{path.stem}")
    bound = []
    for text in slots:
        slot = parse_slot(text)
        ref_mod = importlib.import_module(slot.module)
        if slot.method is None:
            ref = getattr(ref_mod, slot.name)
            mine = module.__dict__.get(slot.name)
            if not inspect.isfunction(mine):
                raise LearnerError(f"{path}: slot {slot.qualname}: expected a function `def {_signature_text(ref)}`, "
                                   f"found {'nothing' if mine is None else type(mine).__name__}")
            owner = ref_mod
        else:
            cls = getattr(ref_mod, slot.name)
            ref = cls.__dict__[slot.method]
            mine_cls = module.__dict__.get(slot.name)
            if not isinstance(mine_cls, type):
                raise LearnerError(
                    f"{path}: slot {slot.qualname}: expected `class {slot.name}:` holding `def {slot.method}`"
                )
            if mine_cls is cls:  # rebound already (a file loaded twice)
                raise LearnerError(
                    f"{path}: slot {slot.qualname}: the class was replaced by the reference; re-import the file"
                )
            mine = mine_cls.__dict__.get(slot.method)
            if mine is None:
                raise LearnerError(f"{path}: slot {slot.qualname}: class {slot.name} has no method {slot.method} "
                                   f"(expected `def {_signature_text(ref)}`)")
            owner = cls
        if _params(mine) != _params(ref):
            raise LearnerError(f"{path}: slot {slot.qualname}: wrong signature {_signature_text(mine)}, "
                               f"expected {_signature_text(ref)}")
        bound.append(SlotBinding(slot, ref, mine, owner))
    for sb in bound:
        if sb.slot.method is not None:
            sb.learner = _rehome(sb.learner, sb.owner)
    for sb in bound:  # learner code that names the class builds the reference class
        if sb.slot.method is not None:
            module.__dict__[sb.slot.name] = sb.owner
    return Binding(target, path, module, bound)


@dataclass
class Loaded:
    main: Binding
    deps: list[Binding]
    probes: str | None

    @property
    def paths(self) -> set[str]:
        return {str(b.path.resolve()) for b in [self.main, *self.deps]}


def load(block: dict[str, Any]) -> Loaded:
    """Bind the files of a request's `exercise` block: {target, path, slots, probes, deps: [{target, path, slots}]}."""
    deps = [bind(d["target"], Path(d["path"]), d["slots"]) for d in block.get("deps", []) if d.get("impl") == "mine"]
    for dep in deps:
        dep.install()
    try:
        main = bind(block["target"], Path(block["path"]), block["slots"])
    except BaseException:
        for dep in reversed(deps):
            dep.uninstall()
        raise
    return Loaded(main, deps, block.get("probes"))


def unload(loaded: Loaded) -> None:
    for dep in reversed(loaded.deps):
        dep.uninstall()
    for binding in [loaded.main, *loaded.deps]:
        sys.modules.pop(binding.module.__name__, None)


def prepare(entry: Any, block: dict[str, Any]) -> Any:
    """The runner child's hook: returns the entry to call instead of `entry`."""
    from workbench.exercises.probing import run_probes

    if isinstance(entry, str):
        from workbench.runner.call import load_entry

        entry = load_entry(entry)
    loaded = load(block)

    def learner_entry(cfg: dict[str, Any], rec: Any) -> dict[str, Any]:
        from engine.core.repro import seed_everything

        messages = run_probes(loaded, int(cfg["seed"]))
        for msg in messages[:20]:
            rec.note(f"probe: {msg}")
        loaded.main.install()
        seed_everything(cfg["seed"], torch="torch" in sys.modules)
        result = dict(entry(cfg, rec) or {})
        result["probe_failures"] = len(messages)
        result["probe_messages"] = messages[:10]
        return result

    return learner_entry
