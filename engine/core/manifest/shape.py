"""Build, write and verify run manifests: the one shape (docs/CONTRACTS.md; fields are only ever added).

The workbench runner builds every run's manifest here; `record` writes the same shape for work
done outside the runner (phase 00's recipe), so `engine.core.manifest.compare` and `workbench diff`
read both alike.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.core.atomic import write_json
from engine.core.manifest import provenance
from engine.core.repro import log_versions

SCHEMA_VERSION = 1
_ROLES = {"metrics.jsonl": "metrics", "results.json": "results", "stderr.log": "log", "request.json": "request"}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def collect_artifacts(run_dir: Path, declared: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Every file in the run directory except the manifest, hashed, with its role."""
    roles = {str(Path(a["path"]).resolve()): a["role"] for a in declared}
    out = []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file() and p.name != "manifest.json"):
        rel = path.relative_to(run_dir).as_posix()
        role = roles.get(str(path.resolve())) or _ROLES.get(rel) or ("chart" if rel.startswith("charts/") else "artifact")
        out.append({"path": rel, "sha256": sha256(path), "bytes": path.stat().st_size, "role": role})
    return out


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Scalars of the result (numbers, bools, short strings): what fits in a table."""
    return {k: v for k, v in result.items() if isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) < 80)}


def build(
    *,
    run_id: str,
    target: dict[str, Any],
    status: str,
    config: dict[str, Any],
    config_hash: str,
    env: dict[str, str],
    started_at: str,
    finished_at: str,
    wall_seconds: float,
    checks: list[dict[str, Any]],
    result: dict[str, Any],
    artifacts: list[dict[str, Any]],
    error: str | None,
    notes: list[str],
    seeded: bool = True,
    measured: list[str] | None = None,
    break_info: dict[str, Any] | None = None,
    versions: dict[str, str] | None = None,
    git: dict[str, Any] | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """The manifest. `seeded` false: the lab declares no randomness, so `seed` cannot change its
    results. `measured`: the result keys (or shell patterns) the lab reads off a clock (timings,
    throughputs, ports), which differ between two runs of the same code and config; every other
    key must not. `break_info` (break runs only): id, title, fault, verdict detected|missed, and
    whether the healthy run of the same lab shows the break too. `versions` adds to the numeric
    stack's versions (the runner adds the workbench's); `git` defaults to this checkout's state;
    `seed` defaults to config["seed"]."""
    git = provenance.git_state() if git is None else git
    versions = {**log_versions(), **(versions or {})}
    return {
        "schema_version": SCHEMA_VERSION,
        "id": run_id,
        "target": target,
        "status": status,
        "error": error,
        "seed": config.get("seed") if seed is None else seed,
        "seeded": seeded,
        "measured": sorted(measured or []),
        "break": break_info,
        "config": config,
        "config_hash": config_hash,
        "git": git,
        "quarantined": bool(git and git.get("dirty")),
        "versions": versions,
        "hardware": provenance.hardware(),
        "env": provenance.recorded_env(env),
        "started_at": started_at,
        "finished_at": finished_at,
        "wall_seconds": round(wall_seconds, 3),
        "checks": checks,
        "results_summary": summarize(result),
        "notes": notes,
        "artifacts": artifacts,
    }


def write(run_dir: Path, manifest: dict[str, Any]) -> Path:
    path = run_dir / "manifest.json"
    write_json(path, manifest)
    return path


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def verify(run_dir: Path, manifest: dict[str, Any]) -> tuple[int, list[str]]:
    """Re-hash every artifact. Returns (0 ok | 1 mismatch | 2 missing, problem lines)."""
    problems, code = [], 0
    for art in manifest.get("artifacts", []):
        path = run_dir / art["path"]
        if not path.is_file():
            problems.append(f"missing: {art['path']}")
            code = 2
        elif sha256(path) != art["sha256"]:
            problems.append(f"mismatch: {art['path']} (sha256 differs from the manifest)")
            code = max(code, 1)
    return code, problems


_TOPIC = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def record(topic: str, config: dict[str, Any], seed: int, artifacts: list[str], root: Path, *,
           today: str | None = None, git: dict[str, Any] | None = None) -> Path:
    """Write `<root>/<date>-<topic>/manifest.json` for work done outside the workbench runner.

    The same shape as a run's manifest (target kind `recorded`, status `recorded`); its artifacts
    are the listed names, sorted (files the caller keeps elsewhere, so nothing is hashed). The
    topic becomes a directory name, so it is validated, never interpolated into a shell: anything
    but lowercase letters, digits, `.`, `_` and `-` is refused. Writing the same topic twice on one
    day updates the same file (idempotent path).
    """
    if not _TOPIC.match(topic) or ".." in topic:
        raise ValueError(f"topic {topic!r}: use lowercase letters, digits, '.', '_' or '-' (max 64)")
    day = today or datetime.now(UTC).strftime("%Y-%m-%d")
    folder = root / f"{day}-{topic}"
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    listed = sorted(artifacts)
    manifest = build(run_id=f"{day}-{topic}", target={"kind": "recorded", "id": topic}, status="recorded",
                     config=config, config_hash="", env={}, started_at=now, finished_at=now, wall_seconds=0.0,
                     checks=[], result={}, artifacts=[{"path": a} for a in listed], error=None, notes=[],
                     git=git or {"sha": None, "dirty": None}, seed=seed)
    return write(folder, manifest)
