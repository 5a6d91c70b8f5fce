"""Seeds x a config grid over one experiment (or lab): resumable, one manifest per point, aggregated.

    workbench sweep bk-lm --quick --grid grad_blend=0.0,0.5,1.0 --seeds 0,1,2 [--executor local|ray]

Every point is an ordinary run planned and executed by the runner (`plan` with `--set` for the
grid values and `--seed`, then `run_request`), so it gets its own run directory, manifest and
index row exactly as `workbench run` would write them. The sweep's own directory,
`$WORKBENCH_HOME/sweeps/<target>-<hash>/`, holds:

    sweep.json           what was asked (target, grid, seeds, quick, extra sets, executor)
    points/<key>.json    one per finished point: its grid values, seed, status, run id and run dir
    aggregate.json       per grid point and numeric result: n, mean, std, BCa 95% interval over the seeds
                         (engine.scratch.stats.bootstrap), plus mean/std curves of the logged metrics per step
    aggregate.md         the same table for reading
    charts/*.png         the mean curves, one series per grid point (and series_by value)

The hash covers the target, grid, seeds, quick and sets, so re-running the same command resumes:
points whose record and manifest exist are not run again (`--fresh` runs them all).

Executors: "local" (the default) keeps `jobs` runs in flight at once, default one per CPU core;
each run is its own child process (the runner's), so a thread per slot only waits on it.
"ray" sends each point to a Ray task (`ray.init(address=...)`, or a local Ray when none is given);
Ray is an optional extra (`pip install -e '.[ray]'`), and without it the command says so and exits 2.
A Ray worker must see the same repository and $WORKBENCH_HOME (a shared filesystem).
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.atomic import write_json
from workbench import workspace
from workbench.content.yamlio import loads_yaml
from workbench.runner.plan import Options, PlanError, plan

EXECUTORS = ("local", "ray")
RAY_INSTALL = "pip install -e '.[ray]'  (or: pip install 'ray>=2.9')"
DONE = ("passed", "failed")


class SweepError(ValueError):
    """A sweep that cannot start (exit 2): bad grid, unknown target, missing executor."""


def _split_values(raw: str) -> list[str]:
    """Split on commas outside brackets, so `models=[a,b],[c]` gives two list values."""
    out, depth, cur = [], 0, ""
    for ch in raw:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [v.strip() for v in out if v.strip()]


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """`["lr=1e-3,3e-3", "ffn=moe,mlp"]` -> {"lr": [0.001, 0.003], "ffn": ["moe", "mlp"]} (values read as YAML)."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SweepError(f"--grid {item!r}: expected key=v1,v2,...")
        if key in grid:
            raise SweepError(f"--grid {key!r} is given twice")
        if key == "seed":
            raise SweepError("--grid seed: use --seeds for seeds")
        values = [loads_yaml(v) for v in _split_values(raw)]
        if not values:
            raise SweepError(f"--grid {key!r}: no values")
        grid[key] = values
    return grid


def parse_seeds(text: str) -> list[int]:
    """`0,1,2` or `0-4` (inclusive)."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                a, b = part.split("-", 1)
                seeds.extend(range(int(a), int(b) + 1))
            elif part:
                seeds.append(int(part))
    except ValueError:
        raise SweepError(f"--seeds {text!r}: expected integers like 0,1,2 or 0-4") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise SweepError(f"--seeds {text!r}: give at least one seed, each once")
    return seeds


def _fmt(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")) if not isinstance(value, str) else value


def _set_arg(key: str, value: Any) -> str:
    return f"{key}={_fmt(value)}"


@dataclass
class Point:
    values: dict[str, Any]
    seed: int

    @property
    def label(self) -> str:
        return " ".join(f"{k}={_fmt(v)}" for k, v in self.values.items()) or "base"

    @property
    def key(self) -> str:
        canon = json.dumps({"values": self.values, "seed": self.seed}, sort_keys=True, default=str)
        return hashlib.sha256(canon.encode()).hexdigest()[:12]


@dataclass
class Sweep:
    target: str
    grid: dict[str, list[Any]]
    seeds: list[int]
    quick: bool = False
    sets: list[str] = field(default_factory=list)
    device: str = "cpu"

    @property
    def points(self) -> list[Point]:
        keys = list(self.grid)
        combos = itertools.product(*(self.grid[k] for k in keys)) if keys else [()]
        return [Point(dict(zip(keys, combo, strict=True)), s) for combo in combos for s in self.seeds]

    @property
    def id(self) -> str:
        canon = json.dumps({"target": self.target, "grid": self.grid, "seeds": self.seeds, "quick": self.quick,
                            "sets": self.sets, "device": self.device}, sort_keys=True, default=str)
        return f"{self.target.replace('/', '-')}-{hashlib.sha256(canon.encode()).hexdigest()[:10]}"

    def directory(self) -> Path:
        return workspace.home() / "sweeps" / self.id

    def options(self, point: Point) -> Options:
        sets = [*self.sets, *(_set_arg(k, v) for k, v in point.values.items())]
        return Options(quick=self.quick, sets=sets, seed=point.seed, device=self.device)


def validate(sweep: Sweep) -> tuple[str | None, list[str]]:
    """Plan every point once before anything runs: an unknown key or a wrong type stops the sweep.
    Returns the key the target's step charts split series by and the metrics they draw (for the curves)."""
    from workbench.content import load_catalog

    catalog = load_catalog()
    series_by, drawn = None, []
    for point in sweep.points:
        try:
            reqs = plan(catalog, sweep.target, sweep.options(point))
        except PlanError as exc:
            raise SweepError(str(exc)) from None
        if len(reqs) != 1 or reqs[0].kind == "break":
            raise SweepError(f"sweep {sweep.target!r}: give one lab or experiment (it plans {len(reqs)} runs)")
        series_by = next((c.series_by for c in reqs[0].charts if c.series_by and c.x == "step"), None)
        drawn = sorted({y for c in reqs[0].charts if c.x == "step" for y in c.y})
    return series_by, drawn


def run_point(target: str, options: dict[str, Any], home: str) -> dict[str, Any]:
    """Plan and run one point with the runner; returns what the sweep records. Runs in a Ray worker too."""
    os.environ["WORKBENCH_HOME"] = home
    from workbench.content import load_catalog
    from workbench.runner.session import run_request

    (req,) = plan(load_catalog(), target, Options(**options))
    report = run_request(req, threads=1)
    return {"status": report.status, "exit_code": report.exit_code, "reason": report.reason,
            "run_id": report.manifest["id"] if report.manifest else None,
            "run_dir": str(report.run_dir) if report.run_dir else None, "config_hash": req.config_hash}


def _done(record_path: Path) -> bool:
    try:
        rec = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return rec.get("status") in DONE and bool(rec.get("run_dir")) and (Path(rec["run_dir"]) / "manifest.json").exists()


def run_sweep(sweep: Sweep, *, executor: str = "local", jobs: int | None = None, fresh: bool = False,
              on_point: Callable[[Point, dict[str, Any], int, int], None] | None = None,
              ray_address: str | None = None) -> Path:
    """Run every point not yet done; write the aggregate. Returns the sweep directory."""
    if executor not in EXECUTORS:
        raise SweepError(f"--executor must be one of {EXECUTORS}, got {executor!r}")
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise SweepError(f"--executor ray needs the ray package, which is not installed: {RAY_INSTALL}")
    series_by, drawn = validate(sweep)
    out = sweep.directory()
    (out / "points").mkdir(parents=True, exist_ok=True)
    write_json(out / "sweep.json", {"id": sweep.id, "target": sweep.target, "grid": sweep.grid, "seeds": sweep.seeds,
                                    "quick": sweep.quick, "sets": sweep.sets, "device": sweep.device,
                                    "executor": executor, "points": len(sweep.points), "series_by": series_by,
                                    "chart_metrics": drawn})
    todo = [p for p in sweep.points if fresh or not _done(out / "points" / f"{p.key}.json")]
    total, home = len(sweep.points), str(workspace.home().resolve())
    done = total - len(todo)

    def finish(point: Point, res: dict[str, Any]) -> None:
        nonlocal done
        done += 1
        write_json(out / "points" / f"{point.key}.json", {"values": point.values, "seed": point.seed,
                                                          "label": point.label, **res})
        if on_point is not None:
            on_point(point, res, done, total)

    def opts(p: Point) -> dict[str, Any]:
        o = sweep.options(p)
        return {"quick": o.quick, "sets": o.sets, "seed": o.seed, "device": o.device}

    if executor == "ray" and todo:
        import ray

        ray.init(address=ray_address, ignore_reinit_error=True)
        remote = ray.remote(num_cpus=1)(run_point)
        futures = {remote.remote(sweep.target, opts(p), home): p for p in todo}
        pending = list(futures)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            finish(futures[ready[0]], ray.get(ready[0]))
    elif todo:
        workers = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futs = {pool.submit(run_point, sweep.target, opts(p), home): p for p in todo}
            for fut in as_completed(futs):
                finish(futs[fut], fut.result())
    aggregate(out)
    return out


# ---------------------------------------------------------------------------------------- aggregate

def _numbers(result: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in result.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _curves(runs: list[Path], series_by: str | None) -> dict[str, dict[str, dict[str, list[float]]]]:
    """{series: {metric: {step: [values over seeds]}}} from each run's metrics.jsonl."""
    acc: dict[str, dict[str, dict[str, list[float]]]] = {}
    for run in runs:
        path = run / "metrics.jsonl"
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                break
            if row.get("type", "metric") != "metric" or "step" not in row:
                continue
            series = str(row.get(series_by, "")) if series_by else ""
            for k, v in row.items():
                if k in ("step", "type", "t") or isinstance(v, bool) or not isinstance(v, (int, float)):
                    continue
                acc.setdefault(series, {}).setdefault(k, {}).setdefault(str(row["step"]), []).append(float(v))
    return acc


def aggregate(out: Path, n_resamples: int = 4999) -> dict[str, Any]:
    """aggregate.json / aggregate.md / charts from the finished points of the sweep in `out`."""
    from engine.scratch.stats.bootstrap import summarize

    spec = _read(out / "sweep.json")
    groups: dict[str, dict[str, Any]] = {}
    for rec_path in sorted((out / "points").glob("*.json")):
        rec = _read(rec_path)
        g = groups.setdefault(rec["label"], {"values": rec["values"], "seeds": [], "results": [], "runs": [],
                                             "statuses": []})
        g["statuses"].append(rec["status"])
        run_dir = Path(rec["run_dir"]) if rec.get("run_dir") else None
        if run_dir is None or not (run_dir / "results.json").exists():
            continue
        g["seeds"].append(rec["seed"])
        g["results"].append(_numbers(_read(run_dir / "results.json")))
        g["runs"].append(run_dir)
    series_by = spec.get("series_by")
    points = []
    for label, g in groups.items():
        metrics = sorted(set().union(*g["results"])) if g["results"] else []
        stats = {m: summarize([r[m] for r in g["results"] if m in r], n_resamples=n_resamples, seed=0)
                 for m in metrics}
        curves = {}
        for series, per_metric in _curves(g["runs"], series_by).items():
            for metric, by_step in per_metric.items():
                steps = sorted(by_step, key=float)
                vals = [by_step[s] for s in steps]
                curves[f"{series}|{metric}" if series else metric] = {
                    "step": [float(s) for s in steps], "mean": [sum(v) / len(v) for v in vals],
                    "std": [_std(v) for v in vals], "n": [len(v) for v in vals]}
        points.append({"label": label, "values": g["values"], "seeds": sorted(g["seeds"]),
                       "statuses": g["statuses"], "runs": [str(r) for r in g["runs"]], "metrics": stats,
                       "curves": curves})
    order = {json.dumps(dict(zip(spec["grid"], combo, strict=True)), sort_keys=True): i
             for i, combo in enumerate(itertools.product(*spec["grid"].values()))}
    points.sort(key=lambda p: order.get(json.dumps(p["values"], sort_keys=True), len(order)))
    agg = {"sweep": spec, "ci": "BCa 95% bootstrap interval of the mean over seeds (engine.scratch.stats.bootstrap)",
           "points": points}
    write_json(out / "aggregate.json", agg)
    (out / "aggregate.md").write_text(_table(points), encoding="utf-8")
    _charts(out, points, spec.get("chart_metrics") or [])
    return agg


def _std(v: list[float]) -> float:
    if len(v) < 2:
        return 0.0
    m = sum(v) / len(v)
    return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))


def _close(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["step"] == b["step"] and all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
                                          for x, y in zip(a["mean"], b["mean"], strict=True))


def _table(points: list[dict[str, Any]]) -> str:
    lines = ["| point | seeds | metric | mean | std | 95% CI (BCa) |", "| --- | --- | --- | --- | --- | --- |"]
    for p in points:
        for m, s in p["metrics"].items():
            lines.append(f"| {p['label']} | {s['n']} | {m} | {s['mean']:.4g} | {s['std']:.3g} | "
                         f"[{s['ci_low']:.4g}, {s['ci_high']:.4g}] |")
    return "\n".join(lines) + "\n"


def _charts(out: Path, points: list[dict[str, Any]], only: list[str]) -> None:
    """One PNG per metric the target's step charts draw (every logged one when they name none): the mean
    curve of every grid point (and series), seeds averaged."""
    from workbench.charts.png import render_png
    from workbench.content.schema import Chart

    metrics = sorted({k.split("|")[-1] for p in points for k in p["curves"]})
    for metric in [m for m in metrics if not only or m in only]:
        curves: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for p in points:
            for key, c in p["curves"].items():
                series, _, m = key.rpartition("|")
                if m == metric and len(c["step"]) >= 2:
                    curves.setdefault(series, []).append((p["label"], c))
        records = []
        for series, per_point in curves.items():
            same = len(per_point) == len(points) > 1 and all(_close(c, per_point[0][1]) for _, c in per_point)
            for label, c in per_point[:1] if same else per_point:  # a curve no grid value changes is drawn once
                name = series if same and series else f"{label} {series}".strip()
                records += [{"step": s, "mean": v, "line": name} for s, v in zip(c["step"], c["mean"], strict=True)]
        if records:
            chart = Chart(title=f"{metric} (mean over seeds)", y=["mean"], x="step", series_by="line",
                          xlabel="step", ylabel=metric)
            slug = "".join(ch if ch.isalnum() else "-" for ch in metric)
            render_png(chart, records, out / "charts" / f"{slug}.png")
