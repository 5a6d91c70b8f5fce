"""What a learner run adds to its manifest: the files and their sha256, deps, predicted vs measured."""

from __future__ import annotations

from typing import Any


def manifest_block(block: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    files = [{"target": block["target"], "path": block["path"], "sha256": block.get("sha256")}]
    files += [
        {"target": d["target"], "path": d["path"], "sha256": d.get("sha256")}
        for d in block.get("deps", [])
        if d.get("impl") == "mine"
    ]
    predictions = [
        {"metric": metric, "predicted": value, "measured": result.get(metric)}
        for metric, value in (block.get("predictions") or {}).items()
    ]
    return {
        "target": block["target"],
        "files": files,
        "deps": {d["target"]: d["impl"] for d in block.get("deps", [])},
        "predictions": predictions,
        "probe_failures": result.get("probe_failures"),
    }
