"""Login latency of the learner portal under load, with the production Argon2id profile.

The real `workbench portal` runs as its own process (uvicorn on 127.0.0.1, a free port) on a
temporary workspace with 20 learners whose passwords were hashed with the TUNED profile. Then:

1. baseline: one Argon2id verify at that profile, timed alone in this process (ms);
2. load: C concurrent clients (default 20) for D seconds (default 30), each repeating a learner's
   visit (GET /login, POST /login, GET /me, GET /phase/7, GET /me/reviews, POST /logout) with a
   think time between requests; every response is checked (303/200), errors are counted;
3. uniformity: interleaved failed logins for an unknown user and for a real user with a wrong
   password, compared by median and a Mann-Whitney U test (they must not be told apart).

Target: p95 of POST /login < 500 ms with zero errors, and the two failure kinds statistically
indistinguishable (medians within 20%, U-test p > 0.01). Exit 1 if missed. The login rate limits are
raised for the run (the limiter is not what is measured), and stated in the output.

Run: .venv/bin/python benchmarks/bench_portal.py [--clients 20] [--seconds 30] [--think-s 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from scipy.stats import mannwhitneyu

from engine.portal.accounts import Accounts
from engine.portal.passwords import TUNED, Passwords, measure_verify_ms, median_ms

PASSWORD = "correct horse battery staple"
PEPPER = "b" * 40
TARGET_P95_MS = 500.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "WORKBENCH_HOME": str(root), "LYNX_PORTAL_ENV": "test", "LYNX_PORTAL_ARGON2": "tuned",
           "LYNX_PORTAL_PEPPER": PEPPER, "LYNX_PORTAL_SESSION_SECRET": "s" * 40,
           "LYNX_PORTAL_LOGIN_PER_MINUTE_USER": "100000", "LYNX_PORTAL_LOGIN_PER_MINUTE_IP": "1000000"}
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "portal", "--port", str(port)], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError(f"portal exited: {proc.stderr.read().decode() if proc.stderr else ''}")
    proc.kill()
    raise RuntimeError("portal did not start within 60 s")


def seed_users(root: Path, n: int) -> list[str]:
    acc = Accounts(root / "workbench.db")
    pw = Passwords(PEPPER, TUNED)
    names = [f"learner{i:02d}" for i in range(n)]
    for name in names:
        acc.create_invite(f"bench-{name}", name, "learner", f"learners/{name}", None, 3600)
        acc.redeem(f"bench-{name}", pw.hash(PASSWORD))
    return names


def visit(url: str, name: str, think_s: float, delay_s: float, stop: float, out: dict, lock: threading.Lock) -> None:
    time.sleep(delay_s)  # arrivals spread over the first think time, as real users arrive
    with httpx.Client(base_url=url, timeout=30, follow_redirects=False) as c:
        while time.monotonic() < stop:
            steps = []
            try:
                c.get("/login")
                t0 = time.perf_counter()
                r = c.post("/login", data={"csrf_token": c.cookies.get("csrf"), "username": name, "password": PASSWORD})
                login_ms = (time.perf_counter() - t0) * 1000
                steps.append(("login", r.status_code == 303))
                for path in ("/me", "/phase/7", "/me/reviews"):
                    time.sleep(think_s)
                    t0 = time.perf_counter()
                    r = c.get(path)
                    with lock:
                        out.setdefault(path, []).append((time.perf_counter() - t0) * 1000)
                    steps.append((path, r.status_code == 200))
                r = c.post("/logout", data={"csrf_token": c.cookies.get("csrf")})
                steps.append(("logout", r.status_code == 303))
            except httpx.HTTPError as exc:
                steps.append((type(exc).__name__, False))
                login_ms = None
            with lock:
                if login_ms is not None:
                    out.setdefault("/login", []).append(login_ms)
                out.setdefault("errors", []).extend(s for s, ok in steps if not ok)
            time.sleep(think_s)


def uniformity(url: str, name: str, rounds: int) -> dict:
    times: dict[str, list[float]] = {"unknown": [], "wrong": []}
    with httpx.Client(base_url=url, timeout=30) as c:
        c.get("/login")
        for i in range(rounds * 2):
            kind = ("unknown", "wrong")[i % 2]
            user = "nosuchlearner" if kind == "unknown" else name
            t0 = time.perf_counter()
            r = c.post("/login", data={"csrf_token": c.cookies.get("csrf"), "username": user, "password": "not the password"})
            times[kind].append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 401
    med = {k: float(np.median(v)) for k, v in times.items()}
    p = float(mannwhitneyu(times["unknown"], times["wrong"]).pvalue)
    return {"median_ms": med, "ratio": med["unknown"] / med["wrong"], "mannwhitney_p": p, "rounds": rounds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--think-s", type=float, default=1.0, help="pause between a client's requests")
    ap.add_argument("--rounds", type=int, default=30, help="failed logins of each kind for the uniformity test")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    verify = measure_verify_ms(TUNED, 7)
    with tempfile.TemporaryDirectory(prefix="bench-portal-") as tmp:
        root = Path(tmp)
        names = seed_users(root, max(a.clients, 1))
        port = free_port()
        proc = start_server(root, port)
        url = f"http://127.0.0.1:{port}"
        try:
            uni = uniformity(url, names[0], a.rounds)
            out: dict[str, list] = {}
            lock = threading.Lock()
            stop = time.monotonic() + a.seconds
            t0 = time.monotonic()
            threads = [threading.Thread(target=visit, args=(url, names[i], a.think_s, a.think_s * i / a.clients, stop, out, lock)) for i in range(a.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(a.seconds + 120)
            wall = time.monotonic() - t0
        finally:
            proc.terminate()
            proc.wait(15)
    logins = np.array(out.get("/login", []))
    me = np.array(out.get("/me", [0.0]))
    res = {
        "argon2": TUNED.describe(), "verify_ms_alone": median_ms(verify), "clients": a.clients, "seconds": a.seconds,
        "think_s": a.think_s, "wall_s": wall, "logins": int(logins.size), "logins_per_s": logins.size / wall,
        "login_p50_ms": float(np.percentile(logins, 50)) if logins.size else None,
        "login_p95_ms": float(np.percentile(logins, 95)) if logins.size else None,
        "login_p99_ms": float(np.percentile(logins, 99)) if logins.size else None,
        "me_p95_ms": float(np.percentile(me, 95)), "me_p99_ms": float(np.percentile(me, 99)),
        "errors": len(out.get("errors", [])), "error_kinds": sorted(set(out.get("errors", []))),
        "uniformity": uni, "cpus": os.cpu_count(),
    }
    ok_load = res["login_p95_ms"] is not None and res["login_p95_ms"] < TARGET_P95_MS and res["errors"] == 0
    ok_uni = abs(uni["ratio"] - 1) < 0.2 and uni["mannwhitney_p"] > 0.01
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"{res['argon2']}: one verify alone {res['verify_ms_alone']:.0f} ms; {res['cpus']} CPUs; "
              "login rate limits raised for the run")
        print(f"{a.clients} clients x {a.seconds:.0f} s, think {a.think_s} s: {res['logins']} logins "
              f"({res['logins_per_s']:.1f}/s), errors {res['errors']} {res['error_kinds'] or ''}")
        if logins.size:
            print(f"POST /login p50 {res['login_p50_ms']:.0f} ms, p95 {res['login_p95_ms']:.0f} ms, p99 {res['login_p99_ms']:.0f} ms "
                  f"= {res['login_p95_ms'] / res['verify_ms_alone']:.2f}x one verify (target p95 < {TARGET_P95_MS:.0f} ms) "
                  f"{'PASS' if ok_load else 'FAIL'}")
        print(f"GET /me p95 {res['me_p95_ms']:.0f} ms, p99 {res['me_p99_ms']:.0f} ms")
        m = uni["median_ms"]
        print(f"failed logins: unknown user median {m['unknown']:.0f} ms, wrong password {m['wrong']:.0f} ms, ratio "
              f"{uni['ratio']:.2f}, Mann-Whitney p = {uni['mannwhitney_p']:.2f} {'PASS' if ok_uni else 'FAIL'}")
    return 0 if ok_load and ok_uni else 1


if __name__ == "__main__":
    sys.exit(main())
