"""A file-based model registry: one canonical SHA per bundle, semver tags that only point at SHAs,
an append-only index, lineage back to the corpus, release history and one-step rollback.

canonical SHA = sha256( sha256(model.safetensors) || sha256(cj(tokenizer)) || sha256(cj(config))
                        || sha256(cj(eval_report)) || sha256(cj(train_manifest)) || utf8(parent or "null") )
with cj = json.dumps(sort_keys=True, separators=(",", ":")). Layout under `root`:
tags.json (semver -> sha), index.jsonl (append-only, carries lineage), pending/<sha>/, releases/<sha>/,
releases.json (production history, newest last). Writes of tags go through tmp + os.replace.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

BUNDLE_JSON = ("tokenizer.json", "config.json", "eval_report.json", "train_manifest.json")


class RegistryError(RuntimeError):
    pass


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def canonical_sha(bundle: Path, parent_sha: str | None) -> str:
    h = hashlib.sha256(hashlib.sha256((bundle / "model.safetensors").read_bytes()).digest())
    for name in BUNDLE_JSON:
        h.update(hashlib.sha256(canonical_json(json.loads((bundle / name).read_text(encoding="utf-8")))).digest())
    h.update((parent_sha or "null").encode("utf-8"))
    return h.hexdigest()


def _atomic_write(path: Path, data: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(data, encoding="utf-8")
    os.replace(tmp, path)


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("pending", "releases"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    # -- state
    def tags(self) -> dict[str, str]:
        p = self.root / "tags.json"
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}

    def index(self) -> list[dict[str, Any]]:
        p = self.root / "index.jsonl"
        return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()] if p.exists() else []

    def releases(self) -> list[str]:
        p = self.root / "releases.json"
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else []

    def _append(self, row: dict[str, Any]) -> None:
        with open(self.root / "index.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")

    # -- operations
    def register_pending(self, bundle: Path, semver: str, parent_sha: str | None, registrar: str = "lab") -> str:
        """Store the bundle under its SHA and tag it. Same semver + same SHA: a no-op."""
        sha = canonical_sha(bundle, parent_sha)
        tags = self.tags()
        if semver in tags:
            if tags[semver] != sha:
                raise RegistryError("semver already mapped to a different SHA")
            return sha
        dest = self.root / "pending" / sha
        if not dest.exists():
            shutil.copytree(bundle, dest)
        corpus = json.loads((bundle / "train_manifest.json").read_text(encoding="utf-8")).get("corpus_hash")
        self.retag(semver, sha, registrar, parent_sha, event="register_pending", corpus_hash=corpus)
        return sha

    def retag(self, semver: str, sha: str, registrar: str, parent_sha: str | None, event: str = "retag",
              corpus_hash: str | None = None) -> None:
        if not semver.startswith("v") or sha in self.tags():
            raise RegistryError("a tag maps a semver to a SHA, never to another tag")
        tags = self.tags()
        tags[semver] = sha
        _atomic_write(self.root / "tags.json", json.dumps(tags, sort_keys=True, indent=1))
        self._append({"event": event, "canonical_sha": sha, "semver": semver, "registrar": registrar,
                      "parent_sha": parent_sha, "corpus_hash": corpus_hash, "seq": len(self.index())})

    def promote(self, semver: str) -> str:
        """Move the bundle to releases/ and make it production (end of releases.json)."""
        sha = self.tags()[semver]
        src, dst = self.root / "pending" / sha, self.root / "releases" / sha
        if src.exists() and not dst.exists():
            os.replace(src, dst)
        history = [s for s in self.releases() if s != sha] + [sha]
        _atomic_write(self.root / "releases.json", json.dumps(history, indent=1))
        self._append({"event": "promote", "canonical_sha": sha, "semver": semver, "seq": len(self.index())})
        return sha

    def production(self) -> str | None:
        history = self.releases()
        return history[-1] if history else None

    def prune(self, keep: int) -> list[str]:
        """Delete release bundles beyond the newest `keep` (the deploy's disk hygiene step)."""
        history = self.releases()
        gone = history[:-keep] if keep < len(history) else []
        for sha in gone:
            shutil.rmtree(self.root / "releases" / sha, ignore_errors=True)
        return gone

    def rollback(self) -> str:
        """Production goes back to the previous release, whose bundle must still be on disk."""
        history = self.releases()
        if len(history) < 2 or not (self.root / "releases" / history[-2]).is_dir():
            raise RegistryError("no prior release found on disk: rebuild needed")
        bad, previous = history[-1], history[-2]
        _atomic_write(self.root / "releases.json", json.dumps(history[:-1], indent=1))
        self._append({"event": "rollback", "canonical_sha": previous, "from_sha": bad, "seq": len(self.index())})
        return previous

    def lineage(self, sha: str) -> list[str]:
        """SHAs from `sha` up through its parents, then the root's corpus hash: read from the
        append-only index, so lineage survives pruning of the bundles themselves. O(depth) lookups."""
        first = {}
        for row in self.index():
            if row["event"] == "register_pending":
                first.setdefault(row["canonical_sha"], row)
        if sha not in first:
            raise RegistryError(f"{sha[:12]} was never registered")
        chain = [sha]
        while (parent := first[chain[-1]]["parent_sha"]) is not None:
            chain.append(parent)
        return [*chain, f"corpus:{first[chain[-1]]['corpus_hash']}"]
