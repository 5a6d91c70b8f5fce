"""The model registry on MLflow: each registration is an MLflow run (params, metrics, tags, the
bundle as artifacts) and a version of one registered model; promotion and rollback move the
`champion` alias (and `previous`), lineage follows the versions' parent and data-hash tags.

Ours on top of MLflow: the canonical SHA of a bundle, which identifies it whatever MLflow's run
ids are and lets a downloaded bundle be verified,

canonical SHA = sha256( sha256(model.safetensors) || sha256(cj(tokenizer)) || sha256(cj(config))
                        || sha256(cj(eval_report)) || sha256(cj(train_manifest)) || utf8(parent or "null") )
with cj = json.dumps(sort_keys=True, separators=(",", ":")); and semver tags that only ever map to
one SHA. The tracking store is SQLite in the registry's directory (no server; `mlflow ui
--backend-store-uri sqlite:///<dir>/mlflow.db` browses it), artifacts in <dir>/artifacts.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from engine.systems.mlops.mlflow_store import client_for

BUNDLE_JSON = ("tokenizer.json", "config.json", "eval_report.json", "train_manifest.json")
CHAMPION, PREVIOUS = "champion", "previous"


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


class Registry:
    def __init__(self, root: Path, name: str = "lynx-tutor") -> None:
        self.root, self.name = Path(root), name
        self.client, self.uri = client_for(self.root)
        exp = self.client.get_experiment_by_name(name)
        self.experiment_id = exp.experiment_id if exp else self.client.create_experiment(
            name, artifact_location=(self.root / "artifacts").resolve().as_uri())
        try:
            self.client.get_registered_model(name)
        except Exception:  # noqa: BLE001 - MLflow raises its own RESOURCE_DOES_NOT_EXIST
            self.client.create_registered_model(name)

    # -- state
    def _versions(self) -> list[Any]:
        return sorted(self.client.search_model_versions(f"name='{self.name}'"), key=lambda v: int(v.version))

    def _by(self, key: str, value: str) -> Any:
        for v in self._versions():
            if v.tags.get(key) == value:
                return v
        raise RegistryError(f"no version with {key} {value[:16]}")

    def tags(self) -> dict[str, str]:
        """semver -> canonical SHA."""
        return {v.tags["semver"]: v.tags["canonical_sha"] for v in self._versions()}

    def index(self) -> list[dict[str, Any]]:
        """One row per registration (an MLflow run), oldest first."""
        runs = self.client.search_runs([self.experiment_id], order_by=["attributes.start_time ASC"])
        return [{"event": "register_pending", "run_id": r.info.run_id, **{k: r.data.tags.get(k) for k in
                 ("canonical_sha", "semver", "parent_sha", "data_sha256")}} for r in runs]

    def releases(self) -> list[str]:
        """Production history as canonical SHAs, newest last."""
        model = self.client.get_registered_model(self.name)
        versions = json.loads(model.tags.get("release_history", "[]"))
        sha = {v.version: v.tags["canonical_sha"] for v in self._versions()}
        return [sha[v] for v in versions]

    def _history(self) -> list[str]:
        return json.loads(self.client.get_registered_model(self.name).tags.get("release_history", "[]"))

    def _set_history(self, versions: list[str]) -> None:
        self.client.set_registered_model_tag(self.name, "release_history", json.dumps(versions))
        if versions:
            self.client.set_registered_model_alias(self.name, CHAMPION, versions[-1])
        if len(versions) > 1:
            self.client.set_registered_model_alias(self.name, PREVIOUS, versions[-2])
        elif PREVIOUS in self.client.get_registered_model(self.name).aliases:
            self.client.delete_registered_model_alias(self.name, PREVIOUS)

    # -- operations
    def register_pending(self, bundle: Path, semver: str, parent_sha: str | None, registrar: str = "lab") -> str:
        """Log the bundle as a run and a model version tagged with its SHA. Same semver and same
        SHA again: a no-op; the semver already on a different SHA: an error."""
        sha = canonical_sha(bundle, parent_sha)
        tags = self.tags()
        if semver in tags:
            if tags[semver] != sha:
                raise RegistryError("semver already mapped to a different SHA")
            return sha
        if not semver.startswith("v"):
            raise RegistryError("a tag maps a semver (v...) to a SHA")
        manifest = json.loads((bundle / "train_manifest.json").read_text(encoding="utf-8"))
        data_sha = str(manifest.get("corpus_hash") or manifest.get("data_sha256") or "")
        report = json.loads((bundle / "eval_report.json").read_text(encoding="utf-8"))
        config = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
        run_tags = {"canonical_sha": sha, "semver": semver, "parent_sha": parent_sha or "", "data_sha256": data_sha,
                    "registrar": registrar}
        run = self.client.create_run(self.experiment_id, run_name=semver, tags=run_tags)
        rid = run.info.run_id
        for k, v in {**{f"config.{k}": v for k, v in config.items()}, **{f"train.{k}": v for k, v in manifest.items()}}.items():
            self.client.log_param(rid, k, str(v)[:500])
        for k, v in report.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                self.client.log_metric(rid, k, float(v))
        self.client.log_artifacts(rid, str(bundle), "bundle")
        self.client.set_terminated(rid)
        self.client.create_model_version(self.name, f"{run.info.artifact_uri}/bundle", rid, tags=run_tags)
        return sha

    def promote(self, semver: str) -> str:
        """The version becomes champion (end of the release history); the one before is previous."""
        sha = self.tags()[semver]
        version = self._by("canonical_sha", sha).version
        self._set_history([v for v in self._history() if v != version] + [version])
        return sha

    def production(self) -> str | None:
        aliases = self.client.get_registered_model(self.name).aliases
        if CHAMPION not in aliases:
            return None
        return self.client.get_model_version_by_alias(self.name, CHAMPION).tags["canonical_sha"]

    def _local(self, version: Any) -> Path:
        return Path(urlparse(version.source).path)

    def prune(self, keep: int) -> list[str]:
        """Delete the artifacts of releases beyond the newest `keep` (runs and tags stay)."""
        versions = {v.version: v for v in self._versions()}
        history = self._history()
        gone = history[:-keep] if keep < len(history) else []
        for v in gone:
            shutil.rmtree(self._local(versions[v]), ignore_errors=True)
        return [versions[v].tags["canonical_sha"] for v in gone]

    def rollback(self) -> str:
        """Champion goes back to the previous release, whose artifacts must still exist."""
        history = self._history()
        versions = {v.version: v for v in self._versions()}
        if len(history) < 2 or not (self._local(versions[history[-2]]) / "model.safetensors").is_file():
            raise RegistryError("no prior release found on disk: rebuild needed")
        self._set_history(history[:-1])
        return versions[history[-2]].tags["canonical_sha"]

    def lineage(self, sha: str) -> list[str]:
        """SHAs from `sha` up through its parents, then the root's data hash, from the versions'
        tags (so lineage survives pruned artifacts)."""
        by_sha = {v.tags["canonical_sha"]: v for v in self._versions()}
        if sha not in by_sha:
            raise RegistryError(f"{sha[:12]} was never registered")
        chain = [sha]
        while parent := by_sha[chain[-1]].tags.get("parent_sha"):
            chain.append(parent)
        return [*chain, f"corpus:{by_sha[chain[-1]].tags['data_sha256']}"]

    def fetch(self, alias: str, dest: Path) -> tuple[Path, str]:
        """Copy the aliased version's bundle to `dest` and verify its canonical SHA; (path, sha)."""
        v = self.client.get_model_version_by_alias(self.name, alias)
        src = self._local(v)
        if not (src / "model.safetensors").is_file():
            raise RegistryError(f"{alias} (version {v.version}) has no artifacts on disk")
        shutil.copytree(src, dest, dirs_exist_ok=True)
        sha = canonical_sha(dest, v.tags.get("parent_sha") or None)
        if sha != v.tags["canonical_sha"]:
            raise RegistryError(f"{alias}: bundle SHA {sha[:12]} != registered {v.tags['canonical_sha'][:12]}")
        return dest, sha
