"""Phase 12 labs: the corpus spec, the generator, validation + split + manifest, statistics.

Faults:
- `shuffled_labels` (the phase's break, lab 02): the small tense classifier that lab 02 trains
  on the split gets training labels permuted by their own RNG, independently of the rows.
  It memorises the training rows and learns nothing that transfers to val.
- `literal_taxonomy` (lab 01): bare_participle_missing_aux is applied to every participle
  cell, as the course's text reads; "he worked" then appears both as a correct past simple
  and as a "mistake".
"""

from __future__ import annotations

import json
import math
import shutil
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.core.threads import blas_threads
from engine.lm.text import verbs as V
from engine.lm.text.bpe import BPETokenizer
from engine.lm.text.corpus import MIS_TYPES, PRONOUNS, TENSE_SURFACES, cells, english_form, fingerprint, generate
from engine.lm.text.corpus_checks import (
    ROW_SCHEMA,
    build_manifest,
    check_split,
    jsonl_bytes,
    schema_errors,
    sha256_file,
    split_by_verb_tense,
    validate,
    write_split,
)
from engine.lm.text.corpus_spec import render_spec, schema_from_spec
from engine.scratch.autograd.tensor import Tensor, cross_entropy, no_grad
from engine.scratch.nn import Linear, Module, ReLU, Sequential
from engine.scratch.nn.fit import fit_full_batch
from engine.scratch.optim import Adam

SPECIALS = ["<|pad|>", "<|endoftext|>", "<|unk|>", "<|sep|>"]


# ---------------------------------------------------------------------- lab 00
def write_spec(cfg: dict, rec: Recorder) -> dict:
    """Write the reference spec from the generator's tables, then read it back and check it."""
    text = render_spec(int(cfg["seed"]))
    path = rec.artifact("corpus_spec.md", "spec")
    path.write_bytes(text.encode("utf-8"))
    back = path.read_bytes().decode("utf-8")
    try:
        schema = schema_from_spec(back)
        worked = json.loads(back.split("## Worked row", 1)[1].split("```json", 1)[1].split("```", 1)[0])
        schema_loads = not schema_errors(worked, schema) and schema == ROW_SCHEMA
        # the schema must also reject things: a row without Spanish or with an unknown tense
        rejects = bool(schema_errors({**worked, "tense": "pluperfect"}, schema)) and bool(
            schema_errors({k: v for k, v in worked.items() if k != "spanish"}, schema))
    except (IndexError, ValueError):
        schema_loads, rejects = False, False
    table_rows = [ln for ln in back.splitlines() if ln.startswith("| ") and ln.count("|") == 8
                  and not ln.startswith("| English")]
    return {
        "spec_is_nfc": unicodedata.is_normalized("NFC", back),
        "schema_loads": schema_loads,
        "schema_rejects_bad_rows": rejects,
        "verb_table_rows": len(table_rows),
        "tense_sections": sum(ln.startswith("### ") for ln in back.splitlines()),
        "taxonomy_types": len(MIS_TYPES),
        "spec_bytes": len(back.encode("utf-8")),
    }


# ---------------------------------------------------------------------- lab 01
# The course's required conjugation tests (lab 01), plus one case per spelling rule the corpus verbs never hit.
COURSE_FORMS = {("study", "present_simple", 2): "he studies", ("watch", "present_simple", 2): "he watches",
                ("play", "present_simple", 2): "he plays", ("finish", "present_simple", 2): "he finishes",
                ("like", "past_simple", 0): "I liked", ("study", "past_simple", 1): "you studied",
                ("play", "past_simple", 2): "he played", ("work", "past_participle", 0): "worked",
                ("go", "present_simple", 2): "he goes", ("be", "past_simple", 1): "you were"}
RULE_FORMS = {("third_singular", "fix"): "fixes", ("third_singular", "buzz"): "buzzes",
              ("regular_past", "stop"): "stopped", ("regular_past", "show"): "showed", ("regular_past", "agree"): "agreed"}


def _spelling_failures() -> list[str]:
    bad = [f"{k}: {english_form(*k)!r}" for k, want in COURSE_FORMS.items() if english_form(*k) != want]
    return bad + [f"{fn}({v!r}) = {getattr(V, fn)(v)!r}" for (fn, v), want in RULE_FORMS.items() if getattr(V, fn)(v) != want]


def generate_corpus(cfg: dict, rec: Recorder) -> dict:
    """Generate every row, write all_rows.jsonl and a partial manifest, report coverage and types."""
    rows = generate(int(cfg["seed"]), int(cfg["max_mis_per_cell"]),
                    fault="literal_taxonomy" if cfg.get("fault") == "literal_taxonomy" else None)
    schema_bad = sum(bool(schema_errors(r, ROW_SCHEMA)) for r in rows)
    path = rec.artifact("all_rows.jsonl", "data")
    path.write_bytes(jsonl_bytes(rows))
    correct = [r for r in rows if r["label"] == "correct"]
    mis = [r for r in rows if r["label"] == "mis_conjugated"]
    by_type = Counter(r["mis_conjugation_type"] for r in mis)
    for i, t in enumerate(sorted(MIS_TYPES, key=lambda t: (-by_type[t], t))):
        rec.log(i, stage="mis_types", type=t, count=by_type[t])
    covered = {(r["verb_lemma"], r["tense"], r["person"]) for r in correct}
    correct_texts = {r["text"] for r in correct}
    collisions = sorted({r["text"] for r in mis if r["text"] in correct_texts})
    partial = {"seed": cfg["seed"], "rows": len(rows), "correct": len(correct), "mis_conjugated": len(mis)}
    rec.artifact("MANIFEST_partial.json", "manifest").write_text(json.dumps(partial, sort_keys=True) + "\n")
    for r in rows[:10]:
        rec.note(f"{r['id']} {r['text']!r} / {r['spanish']!r} [{r['tense']}, {r['person']}, {r['label']}]")
    return {
        "total_rows": len(rows), "correct_rows": len(correct), "mis_rows": len(mis),
        "cells_with_correct_row": len(covered), "cells": len(cells()),
        "mis_types_used": len(by_type), "mis_counts_by_type": {t: by_type[t] for t in MIS_TYPES},
        "empty_spanish_rows": sum(not r["spanish"].strip() for r in rows),
        "mis_rows_equal_to_a_correct_row": sum(r["text"] in correct_texts for r in mis),
        # a mis-conjugation keeps its cell's subject: the first word matches the correct sentence's
        "mis_rows_with_another_subject": sum(r["text"].split()[0] != r["correct_form"].split()[0] for r in mis
                                             if r.get("correct_form") and r["correct_form"].split()[0] in PRONOUNS),
        "fingerprint_ignores_case_and_space": fingerprint("He  works ") == fingerprint("he works")
                                              and fingerprint("I work") != fingerprint("i work"),
        "colliding_texts": collisions[:10],
        "schema_invalid_rows": schema_bad,
        "distinct_correct_texts": len(correct_texts),
        "spelling_case_failures": _spelling_failures(),
        "spelling_cases_failed": len(_spelling_failures()),
    }


# ---------------------------------------------------------------------- lab 02
def _pipeline(out: Path, seed: int, ratios: tuple[float, float, float], max_mis: int) -> dict[str, Any]:
    """gen -> validate -> split -> manifest, all files under `out`; returns what it made."""
    rows = generate(seed, max_mis)
    checks = validate(rows)
    splits, assignment = split_by_verb_tense(rows, ratios, seed)
    checks.append(check_split(splits))
    paths = write_split(out / "processed", splits)
    log = {"seed": seed, "ratios": list(ratios), "counts": {k: len(v) for k, v in splits.items()}, "assignment": assignment}
    paths["split_log"] = out / "processed" / "split_log.json"
    paths["split_log"].write_text(json.dumps(log, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    manifest = build_manifest(rows, paths, out, seed, ratios, checks)
    (out / "MANIFEST.json").write_text(json.dumps(manifest, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    report = out / "validation_report.json"
    report.write_text(json.dumps(checks, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    return {"rows": rows, "checks": checks, "splits": splits, "assignment": assignment, "manifest": manifest}


def row_features(row: dict) -> list[str]:
    """Character 1-3-grams of the English text (with ^ $ boundaries) plus the person."""
    s = f"^{row['text']}$"
    grams = [s[i:i + n] for n in (1, 2, 3) for i in range(len(s) - n + 1)]
    return [*grams, f"person={row['person']}"]


def _featurise(rows: list[dict], index: dict[str, int]) -> np.ndarray:
    x = np.zeros((len(rows), len(index)), dtype=np.float32)
    for i, r in enumerate(rows):
        for f in row_features(r):
            if f in index:
                x[i, index[f]] += 1.0
    return x


def train_tense_classifier(train: list[dict], val: list[dict], seed: int, epochs: int, shuffled: bool,
                           rec: Recorder, hidden: int = 64, lr: float = 0.003) -> dict[str, float]:
    """A one-hidden-layer MLP from row features to the 6 tense surfaces, full batch, Adam (engine.scratch.nn.fit)."""
    index = {f: i for i, f in enumerate(sorted({f for r in train for f in row_features(r)}))}
    xtr, xva = _featurise(train, index), _featurise(val, index)
    ytr = np.array([TENSE_SURFACES.index(r["tense"]) for r in train])
    yva = np.array([TENSE_SURFACES.index(r["tense"]) for r in val])
    if shuffled:  # the bug: labels permuted by their own RNG, no longer aligned with the rows
        ytr = np.random.default_rng(seed + 1).permutation(ytr)
    rng = np.random.default_rng(seed)
    model: Module = Sequential(Linear(len(index), hidden, rng=rng), ReLU(), Linear(hidden, len(TENSE_SURFACES), rng=rng))
    opt = Adam(model.parameters(), lr=lr)
    out: dict[str, float] = {}

    def evaluate(epoch: int, **_: float) -> None:
        """fit_full_batch calls this after each step (epoch from 0): every 5th epoch and the last, the
        train and val loss of the model as it now is."""
        if (epoch + 1) % 5 and epoch + 1 != epochs:
            return
        with no_grad():
            logits_va = model(Tensor(xva))
            val_loss = float(cross_entropy(logits_va, yva).data)
            val_acc = float((logits_va.data.argmax(axis=1) == yva).mean())
            train_loss = float(cross_entropy(model(Tensor(xtr)), ytr).data)
        rec.log(epoch + 1, stage="classifier", split="train", loss=train_loss)
        rec.log(epoch + 1, stage="classifier", split="val", loss=val_loss, accuracy=val_acc)
        out.update(train_loss_final=train_loss, val_loss_final=val_loss, val_accuracy=val_acc)

    with blas_threads(1):  # small matmuls: extra BLAS threads only thrash on a busy 2-core box
        fit_full_batch(model, opt, xtr, ytr, epochs, log=evaluate)
    out["uniform_guess_loss"] = math.log(len(TENSE_SURFACES))
    return out


def _planted_leaks_caught(splits: dict[str, list[dict]]) -> bool:
    """Copy a train fingerprint into val and move a train key into test: check 13 must name exactly those two rows."""
    leaky = {k: [dict(r) for r in v] for k, v in splits.items()}
    leaky["val"][0]["fingerprint"] = leaky["train"][0]["fingerprint"]
    moved = {**leaky["train"][1], "id": "9999", "fingerprint": "f" * 64}
    leaky["test"].append(moved)
    result = check_split(leaky)
    return not result["passed"] and sorted(result["failures"]) == sorted([leaky["val"][0]["id"], "9999"])


def _torn_keys(splits: dict[str, list[dict]]) -> int:
    owners: dict[tuple[str, str], set[str]] = {}
    for name, rows in splits.items():
        for r in rows:
            owners.setdefault((r["verb_lemma"], r["tense"]), set()).add(name)
    return sum(len(v) > 1 for v in owners.values())


def validate_and_split(cfg: dict, rec: Recorder) -> dict:
    """Run the pipeline twice (hashes must match), then train the tense classifier on the split."""
    seed = int(cfg["seed"])
    ratios = tuple(float(r) for r in cfg["ratios"])
    max_mis = int(cfg["max_mis_per_cell"])
    first = _pipeline(rec.out_dir / "run_a", seed, ratios, max_mis)  # type: ignore[arg-type]
    second = _pipeline(rec.out_dir / "run_b", seed, ratios, max_mis)  # type: ignore[arg-type]
    rec.artifact("run_a/MANIFEST.json", "manifest")
    rec.artifact("run_a/validation_report.json", "report")
    for name in ("train", "val", "test"):
        rec.artifact(f"run_a/processed/{name}.jsonl", "data")
    rec.artifact("run_a/processed/split_log.json", "split_log")
    for c in first["checks"]:
        rec.note(f"{c['name']}: {'pass' if c['passed'] else 'FAIL'} ({len(c['failures'])} rows) — {c['message']}")
    hashes_a = {k: v["sha256"] for k, v in first["manifest"]["files"].items()}
    hashes_b = {k: v["sha256"] for k, v in second["manifest"]["files"].items()}
    splits = first["splits"]
    leaks = next(c for c in first["checks"] if c["name"].startswith("13"))
    result: dict[str, Any] = {
        "validation_failures": sum(not c["passed"] for c in first["checks"][:12]),
        "checks_run": len(first["checks"]),
        "split_leaks": len(leaks["failures"]),
        "train_keys": len(first["assignment"]["train"]), "val_keys": len(first["assignment"]["val"]),
        "test_keys": len(first["assignment"]["test"]),
        "train_rows": len(splits["train"]), "val_rows": len(splits["val"]), "test_rows": len(splits["test"]),
        "sha256_stable": hashes_a == hashes_b and len(hashes_a) == 4,
        "train_sha256": hashes_a.get("processed/train.jsonl", ""),
        "planted_leaks_caught": _planted_leaks_caught(splits), "keys_in_two_splits": _torn_keys(splits),
        "verbs_in_both_train_and_val": len({r["verb_lemma"] for r in splits["train"]}
                                          & {r["verb_lemma"] for r in splits["val"]}),
    }
    result.update(train_tense_classifier(splits["train"], splits["val"], seed, int(cfg["epochs"]),
                                         cfg.get("fault") == "shuffled_labels", rec,
                                         hidden=int(cfg["hidden"]), lr=float(cfg["lr"])))
    return result


# ---------------------------------------------------------------------- lab 03
def corpus_stats(cfg: dict, rec: Recorder) -> dict:
    """Regenerate-and-compare against the manifest, then the corpus plots' data."""
    seed = int(cfg["seed"])
    ratios = (0.8, 0.1, 0.1)
    out = rec.out_dir / "data"
    made = _pipeline(out, seed, ratios, 2)
    moved = rec.out_dir / "moved_away"
    shutil.move(str(out / "processed"), str(moved))  # the files are gone; only the manifest remains
    _pipeline(rec.out_dir / "regen", seed, ratios, 2)
    regen = {f"processed/{p.name}": p for p in (rec.out_dir / "regen" / "processed").iterdir()}
    match = all(sha256_file(regen[name]) == entry["sha256"] for name, entry in made["manifest"]["files"].items())
    rows = made["rows"]
    per_cell = Counter((r["verb_lemma"], r["tense"]) for r in rows)
    for i, ((v, t), n) in enumerate(sorted(per_cell.items())):
        rec.log(i, stage="coverage", cell=f"{v}:{t}", rows=n)
    by_type = Counter(r["mis_conjugation_type"] for r in rows if r["mis_conjugation_type"])
    for i, (t, n) in enumerate(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))):
        rec.log(i, stage="mis_types", type=t, count=n)
    ratios_es_en = []
    for i, r in enumerate(r for r in rows if r["label"] == "correct"):
        en, es = len(r["text"].encode()), len(r["spanish"].encode())
        ratios_es_en.append(es / en)
        rec.log(i, stage="lengths", en_bytes=en, es_bytes=es, tense=r["tense"])
    train_texts = [t for r in made["splits"]["train"] for t in (r["text"], r["spanish"])]
    tok = BPETokenizer.train(train_texts, int(cfg["vocab_size"]), SPECIALS)
    token_means = {}
    for i, tense in enumerate(TENSE_SURFACES):
        lens = [len(tok.encode(r["text"])) for r in rows if r["tense"] == tense]
        token_means[tense] = float(np.mean(lens))
        rec.log(i, stage="token_lengths", tense=tense, mean_tokens=token_means[tense], max_tokens=max(lens))
    dvc = shutil.which("dvc") is not None
    rec.note("dvc found: track the split files with `dvc add`" if dvc else
             "dvc is not installed: the regenerate-and-compare check stands in for it")
    return {
        "regenerated_hashes_match": match,
        "files_compared": len(made["manifest"]["files"]),
        "es_over_en_byte_ratio": float(np.mean(ratios_es_en)),
        "es_over_en_byte_ratio_median": float(np.median(ratios_es_en)),
        "min_rows_per_cell": min(per_cell.values()), "max_rows_per_cell": max(per_cell.values()),
        "mean_tokens_per_tense": token_means,
        "dvc_available": dvc,
    }
