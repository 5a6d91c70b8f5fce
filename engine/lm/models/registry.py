"""The model cache: trained checkpoints by name, keyed by the hash of their data, code and config.

Why: the course follows one model from phase 11 to 32. Each stage (the tokenizer, the phase-18
base model, the phase-28 tutor adapter, ...) is built once and every later phase reuses it; when
the corpus, the training code or the config changes, the key changes and the stage is rebuilt,
so a cached checkpoint is always the one a fresh build would produce.

    tok, ck = load("tokenizer", quick=True)        # BPETokenizer and its Checkpoint
    model, ck = load("phase-18", quick=True)       # the torch twin (engine.lm.models.gpt_torch.GPT), eval mode
    record(rec, ck)                                # the run's manifest names it ("checkpoints": [...])
    register(Spec("phase-28", kind="adapter", parents=("phase-18",), ...))   # a later stage

A Spec says how to build a stage: `config(quick) -> dict`, `data(quick) -> str` (what it learns
from, hashed), `code` (modules whose source is hashed), `parents` (stages it builds on; their keys
enter its key), `build(config, out_dir)` (writes files) and `load(out_dir) -> object`. The cache
directory is cache_root()/models/<name>-<mode>-<key>/ holding the files plus checkpoint.json
({name, kind, key, mode, config, sha256 per file, parents}). Builds go to a temporary directory
renamed into place, so a killed build leaves nothing half-written; an unreadable cache entry is
moved aside (engine.core.cachefile) and rebuilt.

Stages register themselves when their module is imported; PROVIDERS says which module holds
each name so `load("phase-28")` works from any phase without importing it first.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.cachefile import UNREADABLE, cache_root, move_aside

# name -> module that registers it (imported on first use)
PROVIDERS: dict[str, str] = {
    "tokenizer": "engine.lm.train.spine",
    "phase-18": "engine.lm.train.spine",
    "phase-28": "engine.torchstack.finetune.tutor",  # E1
    "phase-29": "engine.apps.rag.reader_tuned",
    "phase-30": "engine.apps.structured.tutor",
    "phase-32": "engine.apps.agents.tuned",
}


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str  # tokenizer | model | adapter | head | other
    config: Callable[[bool], dict[str, Any]]
    data: Callable[[bool], str]
    build: Callable[[dict[str, Any], Path], None]
    load: Callable[[Path], Any]
    code: tuple[str, ...] = ()  # module names; their source files are hashed
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class Checkpoint:
    name: str
    kind: str
    key: str
    mode: str  # quick | full
    path: Path
    sha256: dict[str, str] = field(default_factory=dict)
    parents: tuple[str, ...] = ()

    def record(self) -> dict[str, Any]:
        """What a manifest keeps: enough to find and verify the exact files."""
        main = self.sha256.get("model.safetensors") or next(iter(self.sha256.values()), "")
        return {"name": self.name, "kind": self.kind, "key": self.key, "mode": self.mode,
                "path": str(self.path), "sha256": main, "parents": list(self.parents)}


SPECS: dict[str, Spec] = {}
_LOADED: dict[tuple[str, str], tuple[Any, Checkpoint]] = {}


def register(spec: Spec) -> Spec:
    SPECS[spec.name] = spec
    return spec


def spec(name: str) -> Spec:
    if name not in SPECS and name in PROVIDERS:
        importlib.import_module(PROVIDERS[name])
    if name not in SPECS:
        raise KeyError(f"no model-cache entry named {name!r}; known: {sorted(set(SPECS) | set(PROVIDERS))}")
    return SPECS[name]


def _code_hash(modules: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for mod in sorted(set(modules)):
        src = inspect.getsourcefile(importlib.import_module(mod))
        h.update(mod.encode() + b"\0" + Path(src or "").read_bytes())
    return h.hexdigest()


def key(name: str, quick: bool) -> str:
    """sha256 over (config, data digest, code digest, parents' keys), 16 hex digits."""
    s = spec(name)
    parts = {
        "name": name,
        "config": s.config(quick),
        "data": hashlib.sha256(s.data(quick).encode("utf-8")).hexdigest(),
        "code": _code_hash((*s.code, __name__)),
        "parents": {p: key(p, quick) for p in s.parents},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def models_dir() -> Path:
    return cache_root() / "models"


def _dir(name: str, quick: bool, k: str | None = None) -> Path:
    return models_dir() / f"{name}-{'quick' if quick else 'full'}-{k or key(name, quick)}"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(d: Path, s: Spec) -> tuple[Any, Checkpoint]:
    meta = json.loads((d / "checkpoint.json").read_text(encoding="utf-8"))
    for fname, digest in meta["sha256"].items():
        if _sha(d / fname) != digest:
            raise ValueError(f"{d / fname}: sha256 differs from checkpoint.json")
    ck = Checkpoint(meta["name"], meta["kind"], meta["key"], meta["mode"], d, meta["sha256"], tuple(meta["parents"]))
    return s.load(d), ck


def ensure(name: str, quick: bool, log: Callable[[str], None] | None = None) -> Checkpoint:
    """The stage's cache directory, built now (parents first) if it is missing or unreadable."""
    return load(name, quick, log)[1]


def load(name: str, quick: bool = False, log: Callable[[str], None] | None = None) -> tuple[Any, Checkpoint]:
    """(object, Checkpoint) of a named stage: from this process, from the cache, or built now."""
    s = spec(name)
    k = key(name, quick)  # once: the directory and checkpoint.json name the same key
    d = _dir(name, quick, k)
    memo = _LOADED.get((name, str(d)))
    if memo is not None:
        return memo
    got: tuple[Any, Checkpoint] | None = None
    if (d / "checkpoint.json").exists():
        try:
            got = _read(d, s)
        except UNREADABLE as exc:
            aside = move_aside(d)
            print(f"warning: model cache {d} unreadable ({type(exc).__name__}: {exc}); moved to {aside.name}; rebuilding",
                  file=sys.stderr)
    if got is None:
        for p in s.parents:
            ensure(p, quick, log)
        got = _build(name, s, quick, d, k, log)
    _LOADED[(name, str(d))] = got
    return got


def _build(name: str, s: Spec, quick: bool, d: Path, k: str,
           log: Callable[[str], None] | None) -> tuple[Any, Checkpoint]:
    if log:
        log(f"building {name} ({'quick' if quick else 'full'}) into {d}")
    tmp = d.with_name(f"{d.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cfg = s.config(quick)
    s.build(cfg, tmp)
    files = sorted(p.name for p in tmp.iterdir() if p.is_file())
    meta = {"name": name, "kind": s.kind, "key": k, "mode": "quick" if quick else "full",
            "config": cfg, "parents": list(s.parents), "sha256": {f: _sha(tmp / f) for f in files}}
    (tmp / "checkpoint.json").write_text(json.dumps(meta, sort_keys=True, indent=1, default=str) + "\n", encoding="utf-8")
    try:
        os.replace(tmp, d)
    except OSError:  # another process finished the same build first; its files are the same model
        shutil.rmtree(tmp, ignore_errors=True)
    return _read(d, s)


def path(name: str, quick: bool = False) -> Path:
    """The cache directory of a stage (built if needed)."""
    return ensure(name, quick).path


def record(rec: Any, ck: Checkpoint) -> dict[str, Any]:
    """Name the checkpoint in the run's manifest (Recorder.checkpoint), or as a note for recorders without it."""
    r = ck.record()
    if hasattr(rec, "checkpoint"):
        rec.checkpoint(r)
    else:
        rec.note(f"checkpoint {r['name']} {r['key']} {r['path']}")
    return r


def record_lineage(rec: Any, ck: Checkpoint, quick: bool) -> None:
    """Name the checkpoint and every stage it was built from, so the manifest shows the whole lineage."""
    record(rec, ck)
    for parent in ck.parents:
        record(rec, ensure(parent, quick))


def forget() -> None:
    """Drop what this process has loaded (tests that point the cache elsewhere)."""
    _LOADED.clear()
