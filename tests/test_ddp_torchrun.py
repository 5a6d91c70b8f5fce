"""Phase 35's rendezvous must not listen beyond the address it was given: torch's own TCPStore
listens on every interface (the control below shows it), engine.systems.distributed.launch binds it.
The two-rank torchrun run itself is phase-35/lab-01 in tests/test_labs.py; the slow test here
repeats it with an independent look at the sockets."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import timedelta

import pytest
import torch.distributed as dist

from engine.systems.distributed import ddp
from engine.systems.distributed.launch import bound_store, endpoint


def _my_listeners(port: int) -> list[str]:
    return [a for a in ddp._listening({os.getpid()}) if a.endswith(f":{port}")]


def test_plain_tcpstore_listens_everywhere_bound_store_does_not() -> None:
    plain = dist.TCPStore("127.0.0.1", 0, 1, True, timeout=timedelta(seconds=5))
    assert _my_listeners(plain.port) == [f":::{plain.port}"]  # the control: torch alone listens on ::
    port = ddp.free_port()
    store = bound_store("127.0.0.1", port)
    store.set("k", "v")
    assert store.get("k") == b"v"
    assert _my_listeners(port) == [f"127.0.0.1:{port}"]


def test_endpoint_is_required_and_parsed() -> None:
    assert endpoint(["--rdzv-endpoint", "127.0.0.1:29500"]) == ("127.0.0.1", 29500)
    assert endpoint(["--rdzv_endpoint=[::1]:7"]) == ("::1", 7)
    with pytest.raises(SystemExit, match="rdzv-endpoint"):
        endpoint(["--nnodes", "1"])


@pytest.mark.slow
def test_two_ranks_under_torchrun_listen_on_loopback_only(tmp_path) -> None:
    cfg = {"steps": 3, "lr": 3e-4, "seed": 1, "global_batch": 16, "collective_timeout_s": 30.0}
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:  # independent of the workers' own report: the sockets of every process run for us
        while not done.is_set():
            ours = set()
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if str(tmp_path).encode() in f.read():
                            ours.add(int(pid))
                except OSError:
                    continue
            seen.update(ddp._listening(ours))
            time.sleep(0.02)

    w = threading.Thread(target=watch)
    w.start()
    try:
        ddp.launch(cfg, 2, str(tmp_path), limit_s=180)
    finally:
        done.set()
        w.join()
    logs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert logs[0]["master_addr"] == "127.0.0.1" and len(logs[0]["losses"]) == 3
    assert seen and all(a.startswith("127.0.0.1:") for a in seen), seen
