"""The engine's layer rule (docs/ARCHITECTURE.md): a layer imports only from layers above it in the table
(core, scratch, lm, torchstack, systems, apps, research, then labs, which may import anything), and no engine
module imports workbench. Every import counts, function-local ones too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("core", "scratch", "lm", "torchstack", "systems", "apps", "research", "labs")
ORDER = {name: i for i, name in enumerate(LAYERS)}
# Imports that still point down the table, each named (module -> imported); remove a line when it is fixed.
KNOWN: set[tuple[str, str]] = {
    ('engine.core.manifest.provenance', 'engine.systems.hardware'),
    ('engine.lm.dynamics.charlm', 'engine.research.bk'),
    ('engine.lm.text.corpus_checks', 'engine.apps.structured'),
    ('engine.scratch.linalg.svd_compress', 'engine.lm.text'),
    ('engine.systems.serve.api', 'engine.apps.security'),
    ('engine.systems.serve.run', 'engine.apps.rag'),
    ('engine.torchstack.quant.int8_kernel', 'engine.systems.hardware'),
}


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return out


def _layer(dotted: str) -> str | None:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "engine" and parts[1] in ORDER else None


def _edges() -> list[tuple[str, str, str, str]]:
    edges = []
    for path in sorted((ROOT / "engine").rglob("*.py")):
        mod = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        here = _layer(mod)
        for imp in _imports(path):
            there = _layer(imp)
            if here and there:
                edges.append((mod, here, imp, there))
    return edges


def test_every_engine_package_sits_in_a_layer() -> None:
    loose = [p.name for p in (ROOT / "engine").iterdir()
             if p.name not in ORDER and p.name not in ("__init__.py", "__pycache__", "data")]  # data/: shipped text
    assert loose == [], f"engine/ top-level entries outside the layer table: {loose}"


def test_no_engine_module_imports_workbench() -> None:
    bad = [str(p) for p in (ROOT / "engine").rglob("*.py") if any(i.split(".")[0] == "workbench" for i in _imports(p))]
    assert bad == []


def test_layers_import_only_upward() -> None:
    bad = sorted({(mod, ".".join(imp.split(".")[:3])) for mod, here, imp, there in _edges()
                  if here != "labs" and ORDER[there] > ORDER[here]} - KNOWN)
    assert bad == [], "imports down the layer table (module, imported): " + "; ".join(f"{a} -> {b}" for a, b in bad)


@pytest.mark.parametrize("pair", sorted(KNOWN))
def test_known_exceptions_still_exist(pair: tuple[str, str]) -> None:
    live = {(mod, ".".join(imp.split(".")[:3])) for mod, here, imp, there in _edges()}
    assert pair in live, f"{pair} no longer imports down the table: drop it from KNOWN"
