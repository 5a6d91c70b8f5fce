"""A real Prometheus server for a lab: started on 127.0.0.1 with a generated config that scrapes
the given targets, queried over its HTTP API, stopped and its data directory removed afterwards.

Needs the `prometheus` binary (Debian: apt-get install prometheus); callers skip without it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from engine.core.loopback import HOST, free_port


def binary() -> str | None:
    return shutil.which("prometheus")


def duration(seconds: float) -> str:
    """A Prometheus duration in whole milliseconds: "500ms", never "0.5s" (Prometheus durations
    take integer counts per unit; 2.42, Debian's, refuses the config over "0.5s")."""
    ms = round(seconds * 1000)
    if ms < 1:
        raise ValueError(f"scrape interval {seconds} s is under a millisecond")
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def config_yaml(targets: dict[str, str], scrape_s: float) -> str:
    """Prometheus scrapes itself and each job -> "127.0.0.1:port" target, every scrape_s."""
    jobs = [f"  - job_name: {job}\n    static_configs:\n      - targets: ['{addr}']\n" for job, addr in targets.items()]
    every = duration(scrape_s)
    return f"global:\n  scrape_interval: {every}\n  evaluation_interval: {every}\nscrape_configs:\n" + "".join(jobs)


class PrometheusProcess:
    def __init__(self, targets: dict[str, str], workdir: str | Path, scrape_s: float = 1.0,
                 start_timeout_s: float = 60.0) -> None:
        self.dir = Path(workdir)
        self.port = free_port()
        self.targets = {"prometheus": f"{HOST}:{self.port}", **targets}
        self.scrape_s, self.start_timeout_s = scrape_s, start_timeout_s
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> PrometheusProcess:
        exe = binary()
        if exe is None:
            raise FileNotFoundError("prometheus is not on PATH (Debian: apt-get install prometheus)")
        self.dir.mkdir(parents=True, exist_ok=True)
        cfg = self.dir / "prometheus.yml"
        cfg.write_text(config_yaml(self.targets, self.scrape_s), encoding="utf-8")
        self.proc = subprocess.Popen([exe, f"--config.file={cfg}", f"--storage.tsdb.path={self.dir / 'data'}",
                                      f"--web.listen-address={HOST}:{self.port}", "--log.level=warn"],
                                     stdout=(self.dir / "prometheus.log").open("wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited: " + (self.dir / "prometheus.log").read_text()[-400:])
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("prometheus did not become ready")

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir / "data", ignore_errors=True)

    def api(self, path: str, **params: Any) -> Any:
        url = f"http://{HOST}:{self.port}/api/v1/{path}?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read())
        if body.get("status") != "success":
            raise RuntimeError(f"PromQL {params}: {body}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        return self.api("query", query=promql)["result"]

    def query_range(self, promql: str, start: float, end: float, step_s: float) -> list[dict[str, Any]]:
        return self.api("query_range", query=promql, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step_s:g}")["result"]

    def wait_for_scrapes(self, job: str, n: int, timeout_s: float = 30.0) -> bool:
        """Wait until `job` has been scraped at least n more times (its up series has n new samples)."""
        start = time.time()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            res = self.query(f'count_over_time(up{{job="{job}"}}[{max(1, int(time.time() - start) + 1)}s])')
            if res and float(res[0]["value"][1]) >= n:
                return True
            time.sleep(self.scrape_s / 2)
        return False
