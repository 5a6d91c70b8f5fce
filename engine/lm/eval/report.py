"""REPORT.md for one checkpoint and COMPARE.md for two, from the harness's results dict.

A change between checkpoints is called significant only when it is at least 10 points and
the two Wilson intervals do not overlap; everything else is printed as "(within noise)".
Per-slice tables are sorted weakest first, so the slice to worry about is on top. Section 7
(interpretation) is left as a TODO for the learner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.lm.eval.metrics import wilson_interval

SECTIONS = ("Headline", "Per-slice accuracy", "Reliability diagram", "Adversarial slice", "Confusion matrix",
            "Generation sub-eval (pass@k)", "Interpretation", "Caveats")
TODO = "TODO: the learner writes this section"


def significant(c_a: int, n_a: int, c_b: int, n_b: int, min_delta: float = 0.10) -> str:
    """'▲' or '▼' when |B - A| >= min_delta and the Wilson intervals are disjoint, else 'within noise'."""
    a, b = c_a / n_a, c_b / n_b
    lo_a, hi_a = wilson_interval(c_a, n_a)
    lo_b, hi_b = wilson_interval(c_b, n_b)
    disjoint = hi_a < lo_b or hi_b < lo_a
    if abs(b - a) >= min_delta and disjoint:
        return "▲" if b > a else "▼"
    return "within noise"


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def render_report(res: dict[str, Any], out_path: str | Path) -> int:
    """Write REPORT.md; returns the number of '## ' sections written."""
    h = res["headline"]
    lines = [f"# Eval Report — {res['checkpoint_name']}",
             f"**Checkpoint hash:** {res['checkpoint_sha256']}   **Training step:** {res.get('step', '?')}",
             f"**Probe set version:** {res['probe_set_sha256']}   **Seed:** {res['seed']}   "
             f"**Eval split:** {res['eval_split']}", ""]
    lines += ["## 1. Headline", "| Metric | Value | 95% CI |", "|---|---|---|",
              f"| PPL train | {h['ppl_train']:.3f} | |", f"| PPL {res['eval_split']} | {h['ppl_eval']:.3f} | |",
              f"| Core probe accuracy | {_pct(h['accuracy'])} | [{_pct(h['ci'][0])}, {_pct(h['ci'][1])}] |",
              f"| ECE | {h['ece']:.3f} | |", f"| Brier | {h['brier']:.3f} | |",
              f"| Adversarial accuracy | {_pct(h['adversarial_accuracy'])} | |", ""]
    lines += ["## 2. Per-slice accuracy"]
    for name in ("language", "regularity", "tense", "person", "verb"):
        rows = [r for r in res["slices"] if r["slice_name"] == name]
        lines += [f"### By {name}" + (" (counts only)" if name == "verb" else ""), "| value | n | correct | accuracy | 95% CI |",
                  "|---|---|---|---|---|"]
        for r in rows:
            acc = "" if name == "verb" else _pct(r["accuracy"])
            ci = "" if name == "verb" else f"[{_pct(r['wilson_lo'])}, {_pct(r['wilson_hi'])}]"
            lines.append(f"| {r['slice_value']} | {r['n']} | {r['correct']} | {acc} | {ci} |")
    lines += ["", "## 3. Reliability diagram", "![reliability](reliability.png)", "| bin | n | confidence | accuracy |",
              "|---|---|---|---|"]
    lines += [f"| {b['lo']:.1f}-{b['hi']:.1f} | {b['count']} | {b['confidence']:.3f} | {b['accuracy']:.3f} |"
              for b in res["reliability"]]
    lines += ["", "## 4. Adversarial slice", "| Category | n | Accuracy | 95% CI | low sample |", "|---|---|---|---|---|"]
    for cat, r in res["adversarial"]["by_category"].items():
        lines.append(f"| {cat} | {r['n']} | {_pct(r['accuracy'])} | [{_pct(r['wilson'][0])}, {_pct(r['wilson'][1])}] | "
                     f"{'yes' if r['low_sample'] else ''} |")
    lines += ["", "## 5. Confusion matrix", "The harness scores multiple-choice probes, not CORRECT/INCORRECT/"
              "AMBIGUOUS classifications; the matrix is expected form (rows) against chosen form class (columns).",
              "| expected \\ chosen | right form | wrong-person form | other form |", "|---|---|---|---|"]
    cm = res["confusion"]
    lines += [f"| {k} | {v['right']} | {v['wrong_person']} | {v['other']} |" for k, v in cm.items()]
    lines += ["", "## 6. Generation sub-eval (pass@k)", "Not run: the harness classifies with greedy scoring "
              "only; pass@k needs sampling (phase 21).", "", "## 7. Interpretation", TODO, "",
              "## 8. Caveats",
              f"- {h['n_core']} core probes: intervals are about ±{50 * (h['ci'][1] - h['ci'][0]):.0f} points wide.",
              "- English only: the project's corpus has no Spanish side yet.",
              "- Adversarial categories with n < 3 are flagged as low sample.", ""]
    Path(out_path).write_text("\n".join(lines), encoding="utf-8")
    return sum(1 for line in lines if line.startswith("## "))


def render_compare(a: dict[str, Any], b: dict[str, Any], out_path: str | Path) -> list[dict[str, Any]]:
    """Write COMPARE.md; returns the per-slice rows with their flag."""
    rows = []
    sa = {(r["slice_name"], r["slice_value"]): r for r in a["slices"]}
    for r in b["slices"]:
        ra = sa.get((r["slice_name"], r["slice_value"]))
        if ra is None or r["slice_name"] == "verb":
            continue
        rows.append({"slice": f"{r['slice_name']}={r['slice_value']}", "a": ra["accuracy"], "b": r["accuracy"],
                     "delta": r["accuracy"] - ra["accuracy"],
                     "flag": significant(ra["correct"], ra["n"], r["correct"], r["n"])})
    ha, hb = a["headline"], b["headline"]
    lines = [f"# Compare — {a['checkpoint_name']} vs {b['checkpoint_name']}", "",
             "| Metric | A | B |", "|---|---|---|",
             f"| PPL {a['eval_split']} | {ha['ppl_eval']:.3f} | {hb['ppl_eval']:.3f} |",
             f"| Core accuracy | {_pct(ha['accuracy'])} | {_pct(hb['accuracy'])} |",
             f"| ECE | {ha['ece']:.3f} | {hb['ece']:.3f} |",
             f"| Adversarial accuracy | {_pct(ha['adversarial_accuracy'])} | {_pct(hb['adversarial_accuracy'])} |", "",
             "| Slice | A | B | Δ | |", "|---|---|---|---|---|"]
    lines += [f"| {r['slice']} | {_pct(r['a'])} | {_pct(r['b'])} | {100 * r['delta']:+.1f} | {r['flag']} |" for r in rows]
    n_sig = sum(r["flag"] != "within noise" for r in rows)
    lines += ["", f"{n_sig} significant slice change(s)." if n_sig else "No significant slice changes.", ""]
    Path(out_path).write_text("\n".join(lines), encoding="utf-8")
    return rows
