"""Validate, split and describe the §A13 corpus (phase 12).

- `ROW_SCHEMA`: the row JSONSchema (draft 2020-12 subset) and `schema_errors`, which checks a
  row with the project's one JSON-Schema validator (engine.apps.structured.schema.validate).
- `validate(rows)`: the course's 12 checks on the raw rows; `check_split` is the 13th, run
  after splitting. Each returns {name, passed, failures (row ids), message}.
- `split_by_verb_tense`: whole (verb, tense) groups to one split; keys sorted before a
  seeded shuffle, sizes by int().
- `write_split` + `build_manifest`: sorted-key JSONL files and a manifest with per-cell and
  per-type counts and each file's SHA-256 (the reproducibility evidence).

Duplicate rule: infinitive and bare-participle rows have the same text for the three
persons, so the 360 cells have only 280 distinct correct texts; the duplicate check is keyed
by (cell, label, text) and the text fingerprint is kept for the leakage check.
"""

from __future__ import annotations

import hashlib
import json
import random
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from engine.apps.structured.schema import validate as validate_schema
from engine.lm.text import verbs as V
from engine.lm.text.corpus import CORPUS_NAME, CORPUS_VERSION, LABELS, MIS_TYPES, PERSONS, TENSE_SURFACES, cells

ROW_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "corpus row",
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "text", "spanish", "verb_lemma", "spanish_lemma", "tense", "person",
                 "english_regularity", "spanish_regularity", "label", "mis_conjugation_type",
                 "correct_form", "seed", "fingerprint"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]{4}$"},
        "text": {"type": "string", "minLength": 1},
        "spanish": {"type": "string", "minLength": 1},
        "verb_lemma": {"type": "string", "enum": list(V.VERBS)},
        "spanish_lemma": {"type": "string", "minLength": 2},
        "tense": {"type": "string", "enum": list(TENSE_SURFACES)},
        "person": {"type": "string", "enum": list(PERSONS)},
        "english_regularity": {"type": "string", "enum": ["regular", "irregular"]},
        "spanish_regularity": {"type": "string", "enum": ["regular", "irregular"]},
        "label": {"type": "string", "enum": list(LABELS)},
        "mis_conjugation_type": {"type": ["string", "null"], "enum": [*MIS_TYPES, None]},
        "correct_form": {"type": ["string", "null"]},
        "seed": {"type": "integer"},
        "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    },
}


def schema_errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Errors of `value` against `schema`; empty when valid. The project's one JSON-Schema
    validator (engine.apps.structured.schema) does the work."""
    return validate_schema(value, schema, path)


# ---------------------------------------------------------------------- the 12 + 1 checks
def _result(name: str, failures: list[str], message: str) -> dict[str, Any]:
    return {"name": name, "passed": not failures, "failures": sorted(set(failures)), "message": message}


def _ids(rows: list[dict], pred: Any) -> list[str]:
    return [r.get("id", "?") for r in rows if pred(r)]


def validate(rows: list[dict]) -> list[dict[str, Any]]:
    """The course's 12 pre-split checks, in its order."""
    out = [_result("01_schema", _ids(rows, lambda r: schema_errors(r, ROW_SCHEMA)), "rows match the JSONSchema")]
    seen: dict[tuple, str] = {}
    dups = []
    for r in rows:
        key = (r.get("verb_lemma"), r.get("tense"), r.get("person"), r.get("label"), r.get("fingerprint"))
        if key in seen:
            dups += [seen[key], r.get("id", "?")]
        seen.setdefault(key, r.get("id", "?"))
    out.append(_result("02_no_duplicates", dups, "no (cell, label, fingerprint) twice"))
    correct_cells = {(r["verb_lemma"], r["tense"], r["person"]) for r in rows if r.get("label") == "correct"}
    missing = [f"{c.verb}:{c.tense}:{PERSONS[c.person]}" for c in cells() if (c.verb, c.tense, PERSONS[c.person]) not in correct_cells]
    out.append(_result("03_all_cells_correct", missing, f"all {len(cells())} cells have a correct row"))
    verbs = {r.get("verb_lemma") for r in rows}
    out.append(_result("04_verb_set", sorted(str(v) for v in verbs ^ set(V.VERBS)), "the verb set is exactly the 20"))
    tenses: dict[str, set] = defaultdict(set)
    persons: dict[tuple, set] = defaultdict(set)
    for r in rows:
        tenses[r.get("verb_lemma")].add(r.get("tense"))
        persons[(r.get("verb_lemma"), r.get("tense"))].add(r.get("person"))
    out.append(_result("05_tenses_per_verb", [str(v) for v in V.VERBS if tenses[v] != set(TENSE_SURFACES)],
                       "every verb has all 6 tense surfaces"))
    out.append(_result("06_persons_per_verb_tense", [f"{v}:{t}" for (v, t), ps in persons.items() if ps != set(PERSONS)],
                       "every (verb, tense) has all 3 persons"))
    out.append(_result("07_taxonomy", _ids(rows, lambda r: r.get("label") == "mis_conjugated"
                                           and r.get("mis_conjugation_type") not in MIS_TYPES),
                       "mis-conjugation types are in the closed taxonomy"))
    out.append(_result("08_mis_has_correct_form", _ids(rows, lambda r: r.get("label") == "mis_conjugated"
                                                       and not r.get("correct_form")),
                       "mis rows name their correct form"))
    out.append(_result("09_correct_has_nulls", _ids(rows, lambda r: r.get("label") == "correct" and (
        r.get("mis_conjugation_type") is not None or r.get("correct_form") is not None)),
        "correct rows have null type and correct_form"))
    out.append(_result("10_spanish_nonempty", _ids(rows, lambda r: not str(r.get("spanish") or "").strip()),
                       "every row has a Spanish translation"))

    def not_nfc(r: dict) -> bool:
        fields = [r.get("text"), r.get("spanish"), r.get("correct_form")]
        return any(isinstance(f, str) and not unicodedata.is_normalized("NFC", f) for f in fields)

    out.append(_result("11_nfc", _ids(rows, not_nfc), "text, spanish and correct_form are NFC"))

    def bad_len(r: dict) -> bool:
        t, s = str(r.get("text", "")).encode(), str(r.get("spanish", "")).encode()
        return not (2 <= len(t) <= 30 and 2 <= len(s) <= 40)

    out.append(_result("12_byte_lengths", _ids(rows, bad_len), "2-30 bytes English, 2-40 bytes Spanish"))
    return out


def check_split(splits: dict[str, list[dict]]) -> dict[str, Any]:
    """Check 13: no fingerprint and no (verb, tense) key in two splits."""
    owner_fp: dict[str, str] = {}
    owner_key: dict[tuple, str] = {}
    leaks: list[str] = []
    for name, rows in splits.items():
        for r in rows:
            for owner, k in ((owner_fp, r["fingerprint"]), (owner_key, (r["verb_lemma"], r["tense"]))):
                if owner.setdefault(k, name) != name:  # type: ignore[arg-type]
                    leaks.append(r["id"])
    return _result("13_split_no_leakage", leaks, "no fingerprint or (verb, tense) in two splits")


# ---------------------------------------------------------------------- split
def split_by_verb_tense(rows: list[dict], ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
                        seed: int = 42) -> tuple[dict[str, list[dict]], dict[str, list[str]]]:
    """Route every row by its (verb, tense) key; whole keys go to train, val or test."""
    rng = random.Random(seed)
    buckets: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        buckets[(r["verb_lemma"], r["tense"])].append(r)
    keys = sorted(buckets)
    rng.shuffle(keys)
    n_train, n_val = int(len(keys) * ratios[0]), int(len(keys) * ratios[1])
    parts = {"train": keys[:n_train], "val": keys[n_train:n_train + n_val], "test": keys[n_train + n_val:]}
    splits = {name: sorted((r for k in ks for r in buckets[k]), key=lambda r: r["id"]) for name, ks in parts.items()}
    assignment = {name: [f"{v}:{t}" for v, t in sorted(ks)] for name, ks in parts.items()}
    return splits, assignment


# ---------------------------------------------------------------------- files and manifest
def jsonl_bytes(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_split(out_dir: Path, splits: dict[str, list[dict]]) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, rows in splits.items():
        paths[name] = out_dir / f"{name}.jsonl"
        paths[name].write_bytes(jsonl_bytes(rows))
    return paths


def build_manifest(rows: list[dict], paths: dict[str, Path], root: Path, seed: int,
                   ratios: tuple[float, float, float], checks: list[dict[str, Any]]) -> dict[str, Any]:
    """The data manifest (no timestamps or versions: those go in the run manifest, so this file's hash is stable)."""
    per_cell = Counter(f"{r['verb_lemma']}:{r['tense']}:{r['person']}:{r['label']}" for r in rows)
    by_type = Counter(r["mis_conjugation_type"] for r in rows if r["label"] == "mis_conjugated")
    files = {}
    for _name, p in sorted(paths.items()):
        data = p.read_bytes()
        files[str(p.relative_to(root))] = {"sha256": hashlib.sha256(data).hexdigest(), "lines": data.count(b"\n"),
                                           "bytes": len(data)}
    return {
        "corpus_name": CORPUS_NAME, "version": CORPUS_VERSION, "seed": seed,
        "config": {"verbs": list(V.VERBS), "tense_surfaces": list(TENSE_SURFACES), "persons": list(PERSONS),
                   "labels": list(LABELS), "mis_conjugation_types": list(MIS_TYPES),
                   "split_ratios": list(ratios), "split_grain": "(verb, tense)"},
        "files": files,
        "per_cell_counts": dict(sorted(per_cell.items())),
        "mis_conjugation_counts_by_type": {t: by_type.get(t, 0) for t in MIS_TYPES},
        "total_correct": sum(1 for r in rows if r["label"] == "correct"),
        "total_mis_conjugated": sum(1 for r in rows if r["label"] == "mis_conjugated"),
        "total_rows": len(rows),
        "checks": {c["name"]: c["passed"] for c in checks},
    }


_SPLIT_CACHE: dict[tuple[int, int], dict[str, list[dict]]] = {}


def canonical_splits(seed: int = 42, max_mis_per_cell: int = 2) -> dict[str, list[dict]]:
    """The corpus as later phases use it: generated with `seed`, split 80/10/10 by (verb, tense)."""
    from engine.lm.text.corpus import generate

    key = (seed, max_mis_per_cell)
    if key not in _SPLIT_CACHE:
        _SPLIT_CACHE[key] = split_by_verb_tense(generate(seed, max_mis_per_cell), seed=seed)[0]
    return {k: [dict(r) for r in v] for k, v in _SPLIT_CACHE[key].items()}
