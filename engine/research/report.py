"""HTML reports (Jinja2) for the research studies, and Markdown+LaTeX documents to HTML (and PDF).

Three entry points:
  study_report(title, results, records, charts, notes)  -> HTML: verdict lines, a table of the scalar
      results, one table per tabular result the study names, and charts drawn from the records
      (matplotlib, embedded as base64 PNG, so the file stands alone).
  document_html(markdown_text, title)  -> HTML of a Markdown document with $...$ / $$...$$ math
      (markdown-it-py + its dollarmath plugin; math stays TeX inside \\(..\\) / \\[..\\] for MathJax,
      readable as TeX without it).
  document_pdf(markdown_text, out_dir, stem) -> (pdf path or None, reason): the same document as LaTeX,
      compiled by pdflatex when it is on PATH; otherwise None and the install hint, nothing raised.

    python -m engine.research.report RUN_DIR            # RUN_DIR/report.html from results.json + metrics.jsonl
    python -m engine.research.report --doc FILE.md OUT  # OUT/<stem>.html (+ .pdf with pdflatex)

render_document(src, out_dir) is that --doc step as a call; dcsbm-softmax-bound runs it on DERIVATION
(seed 001's derivation, docs/research/softmax-bound.md) into every run directory.
"""

from __future__ import annotations

import base64
import io
import json
import math
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment

_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.verdict{padding:.5rem 1rem;
border-left:4px solid #888;background:#f7f7f7;margin:.5rem 0}.yes{border-color:#2a7}.no{border-color:#c33}
img{max-width:100%}.math.block{overflow-x:auto;margin:1rem 0}code{background:#f3f3f3;padding:0 .2rem}
.notes li{margin:.3rem 0}"""

_STUDY = """<!doctype html><html><head><meta charset="utf-8"><title>{{ title }}</title>
<style>{{ css }}</style></head><body>
<h1>{{ title }}</h1>
{% for v in verdicts %}<p class="verdict {{ v.cls }}">{{ v.text }}</p>{% endfor %}
<h2>Results</h2>
<table><tr><th>quantity</th><th>value</th></tr>
{% for k, v in scalars %}<tr><td>{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}</table>
{% for t in tables %}<h2>{{ t.title }}</h2>
<table><tr>{% for h in t.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in t.rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</table>{% endfor %}
{% for c in charts %}<h2>{{ c.title }}</h2><img alt="{{ c.title }}" src="data:image/png;base64,{{ c.png }}">{% endfor %}
{% if notes %}<h2>Notes</h2><ul class="notes">{% for n in notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
</body></html>"""

_DOC = """<!doctype html><html><head><meta charset="utf-8"><title>{{ title }}</title>
<style>{{ css }}</style>{% if mathjax_url %}<script async src="{{ mathjax_url }}"></script>{% endif %}
</head><body>{{ body | safe }}</body></html>"""

_ENV = Environment(autoescape=True)


def fmt(value: Any) -> str:
    """A result value as table text: floats to 4 significant digits, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _chart_png(spec: dict[str, Any], records: Sequence[dict[str, Any]]) -> str | None:
    """One line chart from records filtered by spec['where'], one series per spec['series_by'] value."""
    from matplotlib.figure import Figure  # no pyplot: leaves the process's backend alone

    where = spec.get("where", {})
    rows = [r for r in records if all(r.get(k) == v for k, v in where.items())]
    x, ys, by = spec["x"], spec["y"], spec.get("series_by")
    series: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        for y in ys:
            if isinstance(r.get(x), int | float) and isinstance(r.get(y), int | float):
                name = f"{r.get(by)}" if by else y
                series.setdefault(name if len(ys) == 1 else f"{name} {y}", []).append((r[x], r[y]))
    if not series:
        return None
    fig = Figure(figsize=(7, 3.6), dpi=100)
    ax = fig.add_subplot()
    for name, pts in list(series.items())[: spec.get("max_series", 24)]:
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o" if len(pts) < 30 else None, ms=3,
                label=name)
    ax.set_xlabel(spec.get("xlabel", x))
    ax.set_ylabel(spec.get("ylabel", ", ".join(ys)))
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def study_report(title: str, results: dict[str, Any], records: Sequence[dict[str, Any]] = (),
                 charts: Iterable[dict[str, Any]] = (), notes: Iterable[str] = (),
                 tables: Iterable[dict[str, Any]] = (), verdict_keys: Sequence[str] = ("verdict",)) -> str:
    """The study's HTML page. tables: {title, header, rows}; charts: {title, x, y, where?, series_by?}."""
    verdicts = []
    for key in verdict_keys:
        text = results.get(key)
        if isinstance(text, str):
            cls = "yes" if text.endswith("beats null: yes") else "no" if "beats null: no" in text else ""
            verdicts.append({"text": text, "cls": cls})
    scalars = [(k, fmt(v)) for k, v in results.items()
               if (v is None or isinstance(v, int | float | bool)) and k not in verdict_keys]
    drawn = []
    for spec in charts:
        png = _chart_png(spec, records)
        if png is not None:
            drawn.append({"title": spec["title"], "png": png})
    rows = [{"title": t["title"], "header": t["header"], "rows": [[fmt(c) for c in r] for r in t["rows"]]}
            for t in tables]
    return _ENV.from_string(_STUDY).render(title=title, css=_CSS, verdicts=verdicts, scalars=scalars,
                                           tables=rows, charts=drawn, notes=list(notes))


def _markdown():  # type: ignore[no-untyped-def]
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    return MarkdownIt("commonmark").use(dollarmath_plugin, double_inline=True, renderer=_tex_for_mathjax)


def _tex_for_mathjax(content: str, opts: dict[str, Any]) -> str:
    from html import escape

    return (f"\\[{escape(content)}\\]" if opts.get("display_mode") else f"\\({escape(content)}\\)")


def document_html(text: str, title: str, mathjax_url: str | None = None) -> str:
    """A Markdown document with TeX math as one standalone HTML page."""
    return _ENV.from_string(_DOC).render(title=title, css=_CSS, body=_markdown().render(text),
                                         mathjax_url=mathjax_url)


_TEX_ESCAPE = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex_text(s: str) -> str:
    return "".join(_TEX_ESCAPE.get(ch, ch) for ch in s).replace("\u2013", "--").replace("\u2014", "---")


_TEX_BLOCK: dict[str, str | None] = {
    "paragraph_close": "", "bullet_list_open": r"\begin{itemize}", "bullet_list_close": r"\end{itemize}",
    "ordered_list_open": r"\begin{enumerate}", "ordered_list_close": r"\end{enumerate}", "list_item_open": r"\item ",
    "heading_close": None, "paragraph_open": None, "list_item_close": None}


def document_latex(text: str, title: str) -> str:
    """The same document as a standalone LaTeX article: headings, paragraphs, emphasis, code, lists, math.

    Anything else (tables, images, raw HTML) is refused with the token's name and line, rather than
    silently dropped."""
    tokens = _markdown().parse(text)
    for i, tok in enumerate(tokens[:-1]):
        if tok.type == "heading_open" and tok.tag == "h1":
            title_tex = _tex_inline(tokens[i + 1].children or [])
            break
    else:
        title_tex = _tex_text(title)
    out = [r"\documentclass[11pt,a4paper]{article}", r"\usepackage[margin=2.5cm]{geometry}",
           r"\usepackage{amsmath,amssymb}", r"\usepackage[T1]{fontenc}", r"\usepackage[utf8]{inputenc}",
           rf"\title{{{title_tex}}}", r"\date{}", r"\begin{document}", r"\maketitle"]
    level = 0
    for i, tok in enumerate(tokens):
        t = tok.type
        if t == "heading_open":
            level = int(tok.tag[1])
        elif t == "inline":
            body = _tex_inline(tok.children or [])
            if tokens[i - 1].type == "heading_open":
                if level > 1:
                    out.append(("\\section*{" if level == 2 else "\\subsection*{") + body + "}")
            else:
                out.append(body)
        elif t == "math_block":
            out.append("\\[" + tok.content.strip() + "\\]")
        elif t in _TEX_BLOCK:
            line = _TEX_BLOCK[t]
            if line is not None:
                out.append(line)
        elif t in ("fence", "code_block"):
            out += [r"\begin{verbatim}", tok.content.rstrip(), r"\end{verbatim}"]
        else:
            where = tok.map[0] + 1 if tok.map else "?"
            raise ValueError(f"document_latex: line {where}: markdown element {t!r} has no LaTeX rendering here")
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def _tex_inline(children: Sequence[Any]) -> str:
    parts = []
    for c in children:
        t = c.type
        if t == "text":
            parts.append(_tex_text(c.content))
        elif t == "math_inline":
            parts.append("$" + c.content + "$")
        elif t == "math_inline_double":
            parts.append("$\\displaystyle " + c.content + "$")
        elif t == "code_inline":
            parts.append(r"\texttt{" + _tex_text(c.content) + "}")
        elif t in ("em_open", "em_close"):
            parts.append(r"\emph{" if t == "em_open" else "}")
        elif t in ("strong_open", "strong_close"):
            parts.append(r"\textbf{" if t == "strong_open" else "}")
        elif t == "softbreak":
            parts.append("\n")
        elif t == "hardbreak":
            parts.append("\\\\\n")
        else:
            raise ValueError(f"document_latex: inline element {t!r} has no LaTeX rendering here")
    return "".join(parts)


def document_pdf(text: str, out_dir: str | Path, stem: str, title: str,
                 timeout: float = 120.0) -> tuple[Path | None, str]:
    """(pdf path, "") when pdflatex exists and succeeds, else (None, why)."""
    exe = shutil.which("pdflatex")
    if exe is None:
        return None, ("pdflatex not found on PATH: PDF skipped "
                      "(install texlive-latex-base, e.g. apt-get install texlive-latex-base)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.tex").write_text(document_latex(text, title), encoding="utf-8")
    for _ in range(2):                          # two passes settle references
        proc = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", f"{stem}.tex"], cwd=out,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode:
            tail = proc.stdout.strip().splitlines()[-3:]
            return None, f"pdflatex failed on {out / (stem + '.tex')}: {' | '.join(tail)}"
    return out / f"{stem}.pdf", ""


def run_report(run_dir: str | Path, charts: Iterable[dict[str, Any]] = ()) -> Path:
    """RUN_DIR/report.html from a finished run's results.json, metrics.jsonl and manifest notes."""
    run = Path(run_dir)
    res_path = run / "results.json"
    if not res_path.exists():
        raise FileNotFoundError(f"{res_path}: no results.json (is this a run directory?)")
    results = json.loads(res_path.read_text(encoding="utf-8"))
    records = []
    if (run / "metrics.jsonl").exists():
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
                   if line.strip()]
    man_path = run / "manifest.json"
    manifest = json.loads(man_path.read_text(encoding="utf-8")) if man_path.exists() else {}
    notes = manifest.get("notes", []) if isinstance(manifest.get("notes"), list) else []
    title = str(manifest.get("target") or manifest.get("title") or run.name)
    keys = [k for k in ("verdict", "verdict_seeds") if k in results]
    html = study_report(title, results, records, charts, notes, verdict_keys=keys or ("verdict",))
    out = run / "report.html"
    out.write_text(html, encoding="utf-8")
    return out


DERIVATION = Path(__file__).resolve().parents[2] / "docs" / "research" / "softmax-bound.md"


def render_document(src: str | Path, out_dir: str | Path) -> tuple[Path, Path | None, str]:
    """OUT_DIR/<stem>.html of a Markdown+LaTeX document, and its PDF when pdflatex exists:
    (html path, pdf path or None, "" or why there is no PDF)."""
    src, out = Path(src), Path(out_dir)
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such document")
    text = src.read_text(encoding="utf-8")
    title = next((ln.lstrip("# ").strip() for ln in text.splitlines() if ln.startswith("# ")), src.stem)
    out.mkdir(parents=True, exist_ok=True)
    html = out / f"{src.stem}.html"
    html.write_text(document_html(text, title), encoding="utf-8")
    pdf, why = document_pdf(text, out, src.stem, title)
    return html, pdf, why


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 3 and args[0] == "--doc":
        html, pdf, why = render_document(args[1], args[2])
        print(html)
        print(pdf if pdf else why)
        return 0
    if len(args) == 1:
        print(run_report(args[0]))
        return 0
    print("usage: python -m engine.research.report RUN_DIR | --doc FILE.md OUT_DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
