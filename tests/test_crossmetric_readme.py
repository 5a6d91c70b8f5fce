"""The README's metric-scope snippet runs as written on an arbitrary torch model, and its numbers are right:
the metric count is the registry size minus what it skipped, and the Hutchinson trace and top eigenvalue
match the exact float64 Hessian of the same model and batch."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call, hessian

from engine.research.crossmetric.scope import DEFAULT_OPTIONS, REGISTRY

README = Path(__file__).resolve().parents[1] / "README.md"


def _snippet() -> str:
    text = README.read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "crossmetric import scope" in b]
    assert len(blocks) == 1, f"README.md: expected one python block importing crossmetric.scope, found {len(blocks)}"
    return blocks[0]


def test_readme_scope_snippet_runs_and_matches_the_exact_hessian() -> None:
    env: dict[str, object] = {}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(_snippet(), "README.md:scope", "exec"), env)   # noqa: S102 - the project's own README
    rep, model = env["report"], env["model"]
    assert isinstance(rep, dict) and isinstance(model, torch.nn.Module)
    assert rep["n_metrics"] == len(rep["metrics"]) >= 40
    assert rep["n_metrics"] + len(rep["skipped"]) == len(REGISTRY)
    assert f"{rep['n_metrics']} metrics;" in buf.getvalue()
    x, y = env["x"], env["y"]
    assert isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(t: torch.Tensor) -> torch.Tensor:
        parts, i = {}, 0
        for n, s in zip(names, shapes, strict=True):
            parts[n] = t[i:i + s.numel()].reshape(s)
            i += s.numel()
        return F.cross_entropy(functional_call(model, parts, (x,)), y)

    h = hessian(loss)(theta)
    eig = torch.linalg.eigvalsh(h)
    assert abs(rep["hessian_top_eig"] - float(eig[-1])) < 1e-6 * max(1.0, abs(float(eig[-1])))
    # Hutchinson is a random estimate: within 5 of its own standard errors' worth (2 * ||H||_F^2 / probes)
    trace = float(h.trace())
    off = h - torch.diag(torch.diag(h))
    probes = int(DEFAULT_OPTIONS["hutchinson_probes"])
    sd = float((2 * off.square().sum() / probes).sqrt())
    assert abs(rep["hessian_trace"] - trace) < 5 * sd + 1e-9
