"""Phase 00 labs: reproducibility you can watch fail.

- seed_determinism: two fresh Python processes seeded alike must draw the same numbers
  and iterate a set of strings in the same order. The break launches them without
  PYTHONHASHSEED: the RNG streams still agree (so unit tests pass) but the set order doesn't.
- pickle_guard: the pre-commit scanner against the course's five cases.
- manifest_recipe: engine.core.manifest.shape.record (the run manifest's shape, for work outside the
  runner) is idempotent and refuses unsafe topics.
- manifest_diff: the drift report and its exit codes on real manifests of this machine.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from engine.core import hygiene
from engine.core.manifest import compare
from engine.core.manifest.shape import record as record_manifest
from engine.core.repro import log_versions, seed_everything
from engine.core.run import Recorder

WORDS = ("work", "play", "walk", "study", "listen")

_PROBE = """
import json, random, sys
from engine.core.repro import seed_everything
seed_everything({seed}, set_hash_seed=False, torch={with_torch})
import numpy as np
out = {{"random": [random.random() for _ in range(5)],
        "numpy": np.random.rand(5).tolist(),
        "order": sorted(set({words!r}), key=hash)}}
if {with_torch}:
    import torch
    out["torch"] = torch.rand(5).tolist()
print(json.dumps(out))
"""


def _probe(seed: int, env: dict[str, str], with_torch: bool) -> dict[str, Any]:
    code = _PROBE.format(seed=seed, words=WORDS, with_torch=with_torch)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def seed_determinism(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    seed, trials = cfg["seed"], int(cfg["trials"])
    launcher_env = dict(os.environ)
    if cfg.get("fault") == "no_hash_seed":
        # The broken launcher: seed_everything without the PYTHONHASHSEED line, nothing exported.
        seed_everything(seed, set_hash_seed=False)
        launcher_env.pop("PYTHONHASHSEED", None)
    else:
        seed_everything(seed)  # exports PYTHONHASHSEED for the children
        launcher_env["PYTHONHASHSEED"] = os.environ["PYTHONHASHSEED"]
    rec.note(f"children start with PYTHONHASHSEED={launcher_env.get('PYTHONHASHSEED', 'unset')}")

    streams_agree, orders_agree, orders = True, 0, set()
    for trial in range(trials):
        with_torch = trial == 0 and cfg["torch"]
        a, b = (_probe(seed, launcher_env, with_torch) for _ in range(2))
        same_streams = all(a[k] == b[k] for k in ("random", "numpy", "torch") if k in a)
        same_order = a["order"] == b["order"]
        streams_agree &= same_streams
        orders_agree += same_order
        orders.update((tuple(a["order"]), tuple(b["order"])))
        rec.log(trial, order_agrees=int(same_order), streams_agree=int(same_streams), distinct_orders=len(orders))
        rec.progress(trial + 1, trials)
    return {
        "trials": trials,
        "rng_streams_agree": streams_agree,
        "hash_orders_agree": orders_agree == trials,
        "hash_seed_exported": "PYTHONHASHSEED" in launcher_env,
        "hash_seed_value": launcher_env.get("PYTHONHASHSEED", "unset"),
    }


# The five cases the course specifies for the pickle guard: (relative path, source, must be flagged).
PICKLE_CASES = (
    ("src/loader.py", "import pickle\nstate = pickle.load(open('ckpt.pkl', 'rb'))\n", True),
    ("src/fast.py", "import pickle\nobj = pickle.loads(blob)\n", True),
    ("tests/test_roundtrip.py", "import pickle\nassert pickle.loads(pickle.dumps(1)) == 1\n", False),
    ("src/vendor.py", "x = pickle.load(f)  # nosec safe-source: fixture we generate in-process\n", False),
    ("src/sneaky.py", "x = pickle.load(f)  # nosec\n", True),
)


def pickle_guard(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    root = rec.out_dir / "pickle_cases"
    correct = 0
    for step, (rel, source, should_flag) in enumerate(PICKLE_CASES):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
        found = hygiene.scan([path])
        if cfg.get("fault") == "ignore_waiver_reason":
            found = [] if "# nosec" in source else found
        flagged = bool(found)
        correct += flagged == should_flag
        rec.log(step, case=rel, flagged=int(flagged), expected=int(should_flag))
    one = hygiene.scan([root / PICKLE_CASES[0][0]])
    line = str(one[0]) if one else ""
    empty_exit = hygiene.main([])
    mention = root / "src" / "docs_only.py"  # the call named in a comment is not a call
    mention.write_text("# never use pickle.load(f) on downloaded files\nx = 1\n", encoding="utf-8")
    return {
        "comment_mention_flagged": bool(hygiene.scan([mention])),
        "cases": len(PICKLE_CASES),
        "cases_correct": correct,
        "message_format_ok": line.startswith(f"{root / PICKLE_CASES[0][0]}:2:9:") and "safetensors" in line,
        "empty_exit_code": empty_exit,
    }


def manifest_recipe(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    root = rec.out_dir / "experiments"
    first = record_manifest("softmax-stability", {"lr": 0.1}, cfg["seed"], ["b.png", "a.npy"], root, today="2026-05-22")
    second = record_manifest("softmax-stability", {"lr": 0.2}, cfg["seed"], ["a.npy"], root, today="2026-05-22")
    refused = 0
    for bad in cfg["unsafe_topics"]:
        try:
            record_manifest(bad, {}, cfg["seed"], [], root, today="2026-05-22")
        except ValueError:
            refused += 1
    data = json.loads(second.read_text())
    other = json.loads(record_manifest("artifact-order", {}, cfg["seed"], ["b.png", "a.npy"], root.parent / "order",
                                       today="2026-05-22").read_text())
    dirs = sorted(p.name for p in root.iterdir())
    rec.artifact(second, "manifest-example")
    return {
        "idempotent_path": first == second and dirs == ["2026-05-22-softmax-stability"],
        "last_write_wins": data["config"] == {"lr": 0.2},
        "unsafe_refused": refused,
        "unsafe_total": len(cfg["unsafe_topics"]),
        "artifacts_sorted": [a["path"] for a in other["artifacts"]] == ["a.npy", "b.png"],
        "has_required_keys": all(k in data for k in ("schema_version", "id", "git", "seed", "config", "versions", "hardware",
                                                     "started_at")) and set(data["git"]) == {"sha", "dirty"},
    }


def _run_diff(a: dict[str, Any], b: dict[str, Any], folder: Path, name: str) -> tuple[int, str]:
    pa, pb = folder / f"{name}-a.json", folder / f"{name}-b.json"
    pa.write_text(json.dumps(a, indent=2))
    pb.write_text(json.dumps(b, indent=2))
    out = subprocess.run([sys.executable, "-m", "engine.core.manifest", str(pa), str(pb)], capture_output=True, text=True, timeout=60, check=False)
    return out.returncode, out.stdout


def manifest_diff(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    folder = rec.out_dir / "diff-demo"
    folder.mkdir(parents=True, exist_ok=True)
    monday = {
        "id": "monday", "git": {"sha": "a" * 40, "dirty": False}, "seed": cfg["seed"],
        "versions": log_versions(("numpy",)), "hardware": {"cpu": "this machine", "ram_gb": 24},
        "env": {"PYTHONHASHSEED": str(cfg["seed"]), "OMP_NUM_THREADS": "8"}, "wall_seconds": 6.31,
    }
    tuesday = copy.deepcopy(monday)
    tuesday["versions"]["numpy"] = cfg["drifted_numpy"]
    del tuesday["env"]["OMP_NUM_THREADS"]
    tuesday["wall_seconds"] = 6.02
    hw_only = copy.deepcopy(monday)
    hw_only["hardware"]["ram_gb"] = 62

    same_code, _ = _run_diff(monday, copy.deepcopy(monday), folder, "identical")
    drift_code, drift_out = _run_diff(monday, tuesday, folder, "drift")
    hw_code, _ = _run_diff(monday, hw_only, folder, "hardware")
    if cfg.get("fault") == "ignore_versions":  # a gate that only watches CODE would let this through
        drift_code = 1 if compare.diff(monday, tuesday)["CODE"] else 0
    lines = drift_out.splitlines()
    for step, line in enumerate(lines):
        rec.log(step, category=line.split("]")[0].strip("[") if line.startswith("[") else "summary")
    rec.artifact(folder / "drift-a.json", "monday")
    rec.artifact(folder / "drift-b.json", "tuesday")
    return {
        "identical_exit": same_code,
        "drift_exit": drift_code,
        "hardware_only_exit": hw_code,
        "versions_reported_first": bool(lines) and lines[0].startswith("[VERSIONS] versions.numpy:"),
        "missing_key_reported": f"[ENV] env.OMP_NUM_THREADS: 8 -> {compare.MISSING}" in drift_out,
        "time_reported": any(line.startswith("[TIME] wall_seconds") for line in lines),
    }
