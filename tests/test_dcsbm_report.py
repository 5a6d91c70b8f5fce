"""engine.research.report: the derivation document to HTML/LaTeX(/PDF), and the study HTML report."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from engine.research import report

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "research" / "softmax-bound.md"


def test_every_step_of_the_derivation_names_a_check_that_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    steps = re.split(r"^## ", text, flags=re.M)[1:]
    assert len(steps) >= 8
    defined = set()
    for f in (ROOT / "tests").glob("test_dcsbm_*.py"):
        defined |= set(re.findall(r"^def (test_\w+)", f.read_text(encoding="utf-8"), flags=re.M))
    for step in steps[1:]:                                      # "1. Setting" defines notation only
        named = re.findall(r"`(test_\w+)`", step)
        checks = named or re.findall(r"`(\w+)`", step)
        assert checks, f"step {step.splitlines()[0]!r} names no numeric check"
        for name in named:
            assert name in defined, f"step {step.splitlines()[0]!r} cites {name}, which no test defines"


def test_document_html_keeps_math_as_tex() -> None:
    html = report.document_html(DOC.read_text(encoding="utf-8"), "softmax bound")
    assert html.count("<h2>") >= 8 and "\\[" in html and "\\(" in html
    assert "\\frac{1}{2\\sqrt{d_k}}" in html                  # stage-1 bound, TeX intact
    assert "<script" not in html                               # offline unless a MathJax URL is given
    assert "<script async src=\"m.js\">" in report.document_html("$x$", "t", mathjax_url="m.js")


def test_document_latex_structure_and_escaping() -> None:
    text = DOC.read_text(encoding="utf-8")
    tex = report.document_latex(text, "ignored")
    assert tex.count("\\section*{") == text.count("\n## ") and tex.rstrip().endswith("\\end{document}")
    assert tex.count("\\[") == len(re.findall(r"^\$\$", text, flags=re.M))
    assert "\\title{How far can a perturbation of $QK^\\top$" in tex
    assert "bound\\_ratio\\_max\\_per\\_head" in tex           # underscores escaped outside math
    with pytest.raises(ValueError, match="image"):
        report.document_latex("# t\n\n![x](y.png)\n", "t")


def test_document_pdf_builds_or_skips_cleanly(tmp_path: Path) -> None:
    pdf, why = report.document_pdf(DOC.read_text(encoding="utf-8"), tmp_path, "softmax-bound", "t")
    if shutil.which("pdflatex") is None:
        assert pdf is None and "pdflatex not found" in why and "install" in why
    else:
        assert pdf is not None and pdf.exists() and pdf.read_bytes()[:4] == b"%PDF", why


def test_study_report_tables_charts_and_verdicts(tmp_path: Path) -> None:
    records = [{"step": i, "stage": "auroc", "labels": lab, "auroc": 0.5 + 0.01 * i * (lab == "true")}
               for i in range(4) for lab in ("true", "shuffle_p95")]
    results = {"verdict": "NOT SUPPORTED: x < y. drift signal beats null: no", "auroc_best": 0.5432109,
               "n_events": 12, "ok": True, "list_value": [1, 2]}
    html = report.study_report("t", results, records,
                               [{"title": "AUROC", "x": "step", "y": ["auroc"], "where": {"stage": "auroc"},
                                 "series_by": "labels"}, {"title": "empty", "x": "step", "y": ["nope"]}],
                               notes=["a <b> note"], tables=[{"title": "T", "header": ["h", "v"],
                                                              "rows": [["r", 0.123456]]}])
    assert 'class="verdict no"' in html and "0.5432" in html and "<td>12</td>" in html
    assert html.count("data:image/png;base64,") == 1           # the chart with no data is left out
    assert "a &lt;b&gt; note" in html and "<td>0.1235</td>" in html and "list_value" not in html
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(results))
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    out = report.run_report(run, [{"title": "AUROC", "x": "step", "y": ["auroc"], "series_by": "labels"}])
    assert out.name == "report.html" and "data:image/png" in out.read_text()
    with pytest.raises(FileNotFoundError, match="results.json"):
        report.run_report(tmp_path)


def test_pdf_branch_without_pdflatex_skips_with_the_install_command(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report.shutil, "which", lambda _name: None)
    html, pdf, why = report.render_document(DOC, tmp_path)
    assert pdf is None and why.startswith("pdflatex not found") and "apt-get install texlive-latex-base" in why
    assert html == tmp_path / "softmax-bound.html" and html.read_text().count("<h2>") >= 8
    assert not list(tmp_path.glob("*.tex"))                   # nothing half-built


def _fake_pdflatex(bin_dir: Path, ok: bool) -> None:
    """A stand-in pdflatex: reads the .tex it is given (as pdflatex would) and writes <stem>.pdf, or fails."""
    exe = bin_dir / "pdflatex"
    body = ('tex="${@: -1}"; grep -qF "begin{document}" "$tex" || exit 3; '
            'printf "%%PDF-1.5 fake\\n" > "${tex%.tex}.pdf"' if ok else 'echo "! Undefined control sequence."; exit 1')
    exe.write_text(f"#!/bin/bash\n{body}\n")
    exe.chmod(0o755)


@pytest.mark.parametrize("ok", [True, False])
def test_pdf_branch_with_pdflatex_runs_it_on_the_latex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       ok: bool) -> None:
    if shutil.which("bash") is None:
        pytest.skip("needs bash for the stand-in pdflatex")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_pdflatex(bin_dir, ok)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    html, pdf, why = report.render_document(DOC, tmp_path / "out")
    tex = (tmp_path / "out" / "softmax-bound.tex").read_text()
    assert tex.startswith("\\documentclass") and "\\section*{" in tex and html.exists()
    if ok:
        assert why == "" and pdf == tmp_path / "out" / "softmax-bound.pdf" and pdf.read_bytes()[:4] == b"%PDF"
    else:
        assert pdf is None and "pdflatex failed" in why and "Undefined control sequence" in why


def test_render_document_missing_source_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.md"):
        report.render_document(tmp_path / "nope.md", tmp_path)
