"""The Prometheus-binary parts of phases 34 and 39 skip cleanly without the binary and run with
it: the skip names the missing binary (never a pretend pass), the demo marks its Prometheus row
skipped, and where `prometheus` is on PATH a real server on 127.0.0.1 scrapes a target and
answers a PromQL query (the CI installs Debian's package)."""

from __future__ import annotations

import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.systems.observability.promserver import PrometheusProcess, binary
from workbench.content import load_catalog
from workbench.runner import session
from workbench.runner.call import plan_one
from workbench.runner.plan import Options

REAL = shutil.which


def test_without_the_binary_the_lab_is_skipped_with_the_reason(monkeypatch) -> None:
    monkeypatch.setattr(session.shutil, "which", lambda name: None if name == "prometheus" else REAL(name))
    req = plan_one(load_catalog(), "phase-34/lab-00", Options(quick=True))
    assert "prometheus" in req.needs
    why = session.skip_reason(req)
    assert why is not None and "prometheus binary" in why


def test_with_the_binary_the_lab_is_not_skipped(monkeypatch) -> None:
    monkeypatch.setattr(session.shutil, "which", lambda name: "/usr/bin/prometheus" if name == "prometheus" else REAL(name))
    assert session.skip_reason(plan_one(load_catalog(), "phase-34/lab-00", Options(quick=True))) is None


def test_starting_prometheus_without_the_binary_says_so(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr("engine.systems.observability.promserver.shutil.which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="prometheus is not on PATH"):
        PrometheusProcess({}, tmp_path).__enter__()


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"# TYPE lynx_probe gauge\nlynx_probe 7\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
@pytest.mark.skipif(binary() is None, reason="the prometheus binary is not on PATH (Debian: apt-get install prometheus)")
def test_real_prometheus_scrapes_a_loopback_target(tmp_path) -> None:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        with PrometheusProcess({"probe": f"127.0.0.1:{srv.server_address[1]}"}, tmp_path / "prom", scrape_s=0.5) as p:
            assert p.wait_for_scrapes("probe", 2, timeout_s=60)
            got = p.query('lynx_probe{job="probe"}')
            assert got and float(got[0]["value"][1]) == 7.0
    finally:
        srv.shutdown()


def test_durations_are_whole_units_prometheus_accepts() -> None:
    from engine.systems.observability.promserver import config_yaml, duration

    assert [duration(s) for s in (0.5, 1, 15, 1.25, 0.001)] == ["500ms", "1s", "15s", "1250ms", "1ms"]
    with pytest.raises(ValueError):
        duration(0.0001)
    assert "scrape_interval: 500ms\n  evaluation_interval: 500ms\n" in config_yaml({"a": "127.0.0.1:1"}, 0.5)

