"""Supply-chain checks: an artifact manifest verifier with exit codes, and an unsafe-load scanner.

`verify(manifest)` recomputes every SHA-256 in one process and counts mismatches itself (the
course's shell version counted inside a piped subshell and always reported OK): 0 when all match,
1 on any mismatch (hash, size, missing file, or a path escaping the artifact root), 2 when the
manifest is missing or unreadable. `unsafe_loads` widens engine.core.hygiene's pickle rule (and honours its
waiver comment) to every call that unpickles: torch.load without weights_only=True, numpy with
allow_pickle=True, yaml.load without a safe loader, marshal/shelve/dill/joblib. It reads the syntax
tree, so a call spelled inside a string or docstring is not a finding.
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

from engine.core.hygiene import _WAIVER

EXIT_OK, EXIT_MISMATCH, EXIT_NO_MANIFEST = 0, 1, 2


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(root: Path, files: dict[str, str], manifest: Path) -> None:
    """files: relative path -> role."""
    rows = [{"path": rel, "sha256": sha256_file(root / rel), "size": (root / rel).stat().st_size, "role": role}
            for rel, role in sorted(files.items())]
    manifest.write_text(json.dumps({"artifacts": rows}, indent=1, sort_keys=True), encoding="utf-8")


def check(manifest: Path, root: Path) -> tuple[int, list[str]]:
    """(exit code, problems)."""
    try:
        rows = json.loads(manifest.read_text(encoding="utf-8"))["artifacts"]
    except (OSError, ValueError, KeyError, TypeError):
        return EXIT_NO_MANIFEST, [f"manifest missing or unreadable: {manifest}"]
    problems = []
    base = root.resolve()
    for row in rows:
        path = (root / row["path"]).resolve()
        if not path.is_relative_to(base):
            problems.append(f"{row['path']}: outside the artifact root")
        elif not path.is_file():
            problems.append(f"{row['path']}: missing")
        elif path.stat().st_size != row["size"] or sha256_file(path) != row["sha256"]:
            problems.append(f"{row['path']}: MISMATCH")
    return (EXIT_MISMATCH if problems else EXIT_OK), problems


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _unsafe_call(call: ast.Call) -> str | None:
    """Why this call deserialises code, or None. Matched on `module.func(...)` spelled in the source."""
    if not isinstance(call.func, ast.Attribute) or not isinstance(call.func.value, ast.Name):
        return None
    mod, fn = call.func.value.id, call.func.attr
    if mod in {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "marshal"} and fn in {"load", "loads"}:
        return f"{mod}.{fn} runs code from the data"
    if mod == "shelve" and fn == "open":
        return "shelve unpickles its values"
    if mod == "torch" and fn == "load" and not _is_true(_kw(call, "weights_only")):
        return "torch.load without weights_only=True"
    if mod in {"np", "numpy"} and fn == "load" and _is_true(_kw(call, "allow_pickle")):
        return "numpy load with allow_pickle=True"
    if mod == "yaml" and fn in {"load", "load_all"}:
        loader = _kw(call, "Loader") or (call.args[1] if len(call.args) > 1 else None)
        name = ast.unparse(loader) if loader is not None else ""
        if "Safe" not in name and name != "_Loader":  # workbench's _Loader subclasses SafeLoader
            return "yaml.load without a safe Loader"
    if mod == "yaml" and fn == "unsafe_load":
        return "yaml.unsafe_load"
    return None


def unsafe_loads_in_source(source: str, path: str = "<string>") -> list[str]:
    """Findings as 'path:line: message', from the syntax tree (strings and comments never match).
    A line carrying engine.core.hygiene's waiver (`# nosec safe-source: <reason>`) is skipped."""
    lines = source.splitlines()
    out = []
    for node in ast.walk(ast.parse(source)):
        why = _unsafe_call(node) if isinstance(node, ast.Call) else None
        if why and not _WAIVER.search(lines[node.lineno - 1]):  # type: ignore[attr-defined]
            out.append(f"{path}:{node.lineno}: {why}")
    return sorted(out, key=lambda f: int(f.rsplit(":", 2)[1]))


def unsafe_loads(path: Path) -> list[str]:
    if path.suffix != ".py" or "tests" in path.parts:
        return []
    return unsafe_loads_in_source(path.read_text(encoding="utf-8", errors="replace"), str(path))


def scan_tree(root: Path, packages: tuple[str, ...] = ("engine", "workbench")) -> list[str]:
    return [f for pkg in packages for p in sorted((root / pkg).rglob("*.py")) for f in unsafe_loads(p)]
