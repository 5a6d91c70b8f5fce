"""The training dashboard: seven matplotlib panels from a per-step JSONL log, in one HTML file.

Each panel answers one question, in the course's reading order for a failed run:
  1 loss (log y) train and val, with the n-gram baseline dashed  - is it learning?
  2 learning rate                                                - did warmup and the decay run?
  3 pre- and post-clip global gradient norm (log) with the clip  - are the gradients sane?
  4 mean |activation| per layer                                  - is depth balanced?
  5 sigma_1 of each weight matrix (log)                          - are the weights growing?
  6 dead units (and dead heads where the model has attention)    - is capacity being used?
  7 loss on regular vs irregular verbs (log)                     - rule or memory?
The page is self-contained: PNGs as base64 data URIs, CSS in a <style> block, no script,
no remote URL (it opens offline). Templating is string.Template, no extra dependency.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from string import Template
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>$title</title>
<style>
body{font-family:sans-serif;margin:1em;background:#fafafa}
header{margin-bottom:1em} header td{padding:0 1em 0 0}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1em}
figure{margin:0;background:#fff;border:1px solid #ddd;padding:.5em}
img{width:100%}
</style></head><body>
<header><h1>$title</h1><table>$header_rows</table></header>
<div class="grid">
$panels
</div>
<footer><p><a href="manifest.json">manifest.json</a></p></footer>
</body></html>
""")


def read_log(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) else math.nan


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    pts = [(r["step"], _num(r.get(key))) for r in rows if r.get(key) is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def _nested(rows: list[dict[str, Any]], group: str) -> dict[str, tuple[list[int], list[float]]]:
    out: dict[str, tuple[list[int], list[float]]] = {}
    for r in rows:
        for name, v in (r.get(group) or {}).items():
            xs, ys = out.setdefault(name, ([], []))
            xs.append(r["step"])
            ys.append(_num(v))
    return out


def fig_to_b64(fig: Any, dpi: int = 100) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _positive(ys: list[float]) -> bool:
    return any(y > 0 and math.isfinite(y) for y in ys)


def panel_loss(rows: list[dict[str, Any]], baseline: float | None) -> Any:
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for key in ("train_loss", "val_loss"):
        ax.plot(*_series(rows, key), label=key, lw=1 if key == "train_loss" else 2)
    if baseline is not None:
        ax.axhline(baseline, ls="--", color="gray", label=f"n-gram baseline {baseline:.2f}")
    if _positive(_series(rows, "train_loss")[1]):
        ax.set_yscale("log")
    ax.set(title="1 · loss", xlabel="step", ylabel="token-mean CE (nats)")
    ax.legend(fontsize=8)
    return fig


def panel_lr(rows: list[dict[str, Any]]) -> Any:
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(*_series(rows, "lr"))
    ax.set(title="2 · learning rate", xlabel="step", ylabel="lr")
    return fig


def panel_grad(rows: list[dict[str, Any]], clip: float | None) -> Any:
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(*_series(rows, "grad_norm_pre"), label="pre-clip", lw=1)
    ax.plot(*_series(rows, "grad_norm_post"), label="post-clip", lw=1, alpha=0.8)
    if clip is not None:
        ax.axhline(clip, ls="--", color="red", label=f"clip {clip:g}")
    if _positive(_series(rows, "grad_norm_pre")[1]):
        ax.set_yscale("log")
    ax.set(title="3 · global gradient norm", xlabel="step", ylabel="L2 norm")
    ax.legend(fontsize=8)
    return fig


def _panel_groups(rows: list[dict[str, Any]], group: str, title: str, ylabel: str, log: bool) -> Any:
    fig, ax = plt.subplots(figsize=(6, 3.4))
    series = _nested(rows, group)
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, marker=".", label=name)
    if log and any(_positive(ys) for _, ys in series.values()):
        ax.set_yscale("log")
    ax.set(title=title, xlabel="step", ylabel=ylabel)
    if series:
        ax.legend(fontsize=8)
    return fig


def panel_dead(rows: list[dict[str, Any]]) -> Any:
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for group, style in (("dead_neurons", "-"), ("dead_heads", ":")):
        for name, (xs, ys) in _nested(rows, group).items():
            ax.plot(xs, ys, style, marker=".", label=f"{group}: {name}")
    ax.set(title="6 · dead units / heads", xlabel="step", ylabel="count")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return fig


def panel_regular(rows: list[dict[str, Any]]) -> Any:
    fig, ax = plt.subplots(figsize=(6, 3.4))
    xr, yr = _series(rows, "loss_regular")
    xi, yi = _series(rows, "loss_irregular")
    gap = (yi[-1] - yr[-1]) if yr and yi else math.nan
    ax.plot(xr, yr, lw=1, label="regular verbs")
    ax.plot(xi, yi, lw=1, label=f"irregular verbs (final gap {gap:+.3f})")
    if _positive(yr):
        ax.set_yscale("log")
    ax.set(title="7 · regular vs irregular loss", xlabel="step", ylabel="CE (nats)")
    ax.legend(fontsize=8)
    return fig


def render(log_path: str | Path, out_html: str | Path, meta: dict[str, Any] | None = None,
           dpi: int = 100) -> dict[str, Any]:
    """Write the dashboard; returns {panels, bytes, rows}. `meta` fills the header (run, seed, ...)."""
    meta = dict(meta or {})
    rows = read_log(log_path)
    baseline = meta.pop("ngram_baseline", None)
    clip = meta.pop("grad_clip", None)
    figs = [
        panel_loss(rows, baseline),
        panel_lr(rows),
        panel_grad(rows, clip),
        _panel_groups(rows, "activations", "4 · mean |activation| per layer", "mean |A|", log=True),
        _panel_groups(rows, "spectral", "5 · σ₁ of weight matrices", "σ₁", log=True),
        panel_dead(rows),
        panel_regular(rows),
    ]
    imgs = [fig_to_b64(f, dpi) for f in figs]
    panels = "\n".join(f'<figure><img alt="panel {i + 1}" src="data:image/png;base64,{b}"></figure>'
                       for i, b in enumerate(imgs))
    header = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                     for k, v in meta.items())
    page = PAGE.substitute(title=html.escape(str(meta.get("run", "training dashboard"))), header_rows=header,
                           panels=panels)
    Path(out_html).write_text(page, encoding="utf-8")
    return {"panels": len(imgs), "bytes": len(page.encode("utf-8")), "rows": len(rows)}


def is_self_contained(page: str) -> bool:
    """No <script>, no http(s):// or protocol-relative URL anywhere in the page."""
    low = page.lower()
    return "<script" not in low and "http://" not in low and "https://" not in low and 'src="//' not in low
