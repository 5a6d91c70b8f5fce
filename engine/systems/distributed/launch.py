"""`torchrun` with the rendezvous store bound to one address, never to all interfaces.

torch's TCPStore server listens on every interface (`::`) whatever host name it is given, so a
two-process lab on a laptop would open its rendezvous port to the whole network. torchrun makes
two such servers: the c10d rendezvous store on --rdzv-endpoint and the shared store the workers
get as MASTER_ADDR/MASTER_PORT. This wrapper runs torchrun's own entry point in-process after
creating the first itself on a socket bound to the endpoint's address (torchrun's c10d store is
multi-tenant, so it reuses that server), and has the second made the same way on --local-addr
(127.0.0.1 for a local run, the node's own address on several machines).

    python -m engine.systems.distributed.launch --nnodes 1 --nproc-per-node 2 \\
        --rdzv-backend c10d --rdzv-endpoint 127.0.0.1:29500 engine/systems/distributed/ddp.py CFG OUT

On several machines the same lab runs with `--nnodes N --node-rank i --rdzv-endpoint
<address of node 0>:29500` on each; node 0 then listens on that address only.
"""

from __future__ import annotations

import socket
import sys
from datetime import timedelta

READ_TIMEOUT_S = 60


def endpoint(argv: list[str]) -> tuple[str, int]:
    """(host, port) from --rdzv-endpoint; refuses to run without one."""
    value = _flag(argv, "--rdzv-endpoint", "--rdzv_endpoint")
    if value is None:
        raise SystemExit("engine.systems.distributed.launch: pass --rdzv-endpoint HOST:PORT (127.0.0.1:PORT for one machine)")
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def _hosts_store(argv: list[str]) -> bool:
    """Node 0 (or a single node) hosts the rendezvous store; the others only connect to it."""
    return (_flag(argv, "--node-rank", "--node_rank") or "0") == "0"


def bound_store(host: str, port: int):
    """A multi-tenant TCPStore server listening on (host, port) only."""
    import torch.distributed as dist

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    store = dist.TCPStore(host, port, is_master=True, multi_tenant=True, master_listen_fd=sock.detach(),
                          timeout=timedelta(seconds=READ_TIMEOUT_S), wait_for_workers=False)
    return store


def _flag(argv: list[str], *names: str) -> str | None:
    for i, a in enumerate(argv):
        for n in names:
            if a == n and i + 1 < len(argv):
                return argv[i + 1]
            if a.startswith(n + "="):
                return a.split("=", 1)[1]
    return None


def _bind_shared_store(host: str) -> None:
    """Make torchrun's shared worker store listen on `host` only (its default is every interface)."""
    from torch.distributed.elastic.rendezvous import dynamic_rendezvous as dr

    if not hasattr(dr.DynamicRendezvousHandler, "_create_tcp_store_server"):
        raise SystemExit("engine.systems.distributed.launch: this torch has no DynamicRendezvousHandler."
                         "_create_tcp_store_server; cannot bind the worker store to one address")
    dr.DynamicRendezvousHandler._create_tcp_store_server = lambda self, addr, port: bound_store(host, port)


def main(argv: list[str]) -> None:
    from torch.distributed.run import main as torchrun

    host, port = endpoint(argv)
    local = _flag(argv, "--local-addr", "--local_addr")
    if local is None:  # the workers' MASTER_ADDR: this node's address as the others reach it
        argv = ["--local-addr", host, *argv]
        local = host
    _bind_shared_store(local)
    keep = bound_store(host, port) if _hosts_store(argv) else None  # noqa: F841 - alive while torchrun runs
    torchrun(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
