"""Data-parallel training on CPU processes with torch.distributed (gloo on 127.0.0.1), started
by torchrun (through engine.systems.distributed.launch, which keeps its stores off other interfaces), so
the same worker runs on several machines with --nnodes/--rdzv-endpoint.

Each rank holds a full copy of a small next-character model, reads the examples whose index
modulo world size is its rank, and after backward averages the flattened gradient with one
all-reduce (what DDP does with a single bucket). Averaged gradients of equal shards equal the
gradient of the whole batch, so both ranks step identically and their weights stay equal.

The backward + all-reduce is timed between barriers. Results go through files (JSON and
safetensors), never pickles. `uneven_shards` gives rank 0 one batch less, and rank 1's extra
all-reduce must fail by the group's short timeout instead of hanging.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn

from engine.core.loopback import free_port
from engine.lm.text.verbs import grid, phrase

CONTEXT = 8


def corpus_tensors() -> tuple[torch.Tensor, torch.Tensor, int]:
    """(contexts, targets, vocab) for next-character prediction over the verb corpus."""
    text = "\n".join(phrase(f.verb, f.tense, f.person) for f in grid()) + "\n"
    chars = sorted(set(text))
    ids = torch.tensor([chars.index(c) for c in text])
    idx = torch.arange(len(ids) - CONTEXT)
    x = torch.stack([ids[i : i + CONTEXT] for i in idx.tolist()])
    return x, ids[CONTEXT:], len(chars)


def make_model(vocab: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Embedding(vocab, 32), nn.Flatten(), nn.Linear(32 * CONTEXT, 256), nn.GELU(),
                         nn.Linear(256, vocab))


def shard_indices(n: int, rank: int, world: int, batch: int, steps: int, uneven: bool) -> list[torch.Tensor]:
    """Batches for this rank: example i belongs to rank i % world; rank 0 loses a batch if uneven."""
    mine = torch.arange(rank, n, world)
    batches = [mine[(s * batch) % len(mine) :][:batch] for s in range(steps)]
    batches = [b if len(b) == batch else mine[:batch] for b in batches]
    return batches[:-1] if uneven and rank == 0 else batches


def _listening(pids: set[int]) -> list[str]:
    """Local addresses of the TCP sockets that `pids` hold in LISTEN state, from /proc."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(table) as f:
            for line in f.read().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:
                    addr, port = cols[1].split(":")
                    found.append(_decode_addr(addr, width) + f":{int(port, 16)}")
    return sorted(found)


def _decode_addr(hex_addr: str, width: int) -> str:
    raw = bytes.fromhex(hex_addr)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # each 32-bit word is host order
    return socket.inet_ntop(socket.AF_INET if width == 8 else socket.AF_INET6, words)


def launcher_listeners() -> list[str]:
    """What torchrun's agent (our parent) and every rank on this node listen on."""
    agent = os.getppid()
    tree = {agent}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == agent:
                    tree.add(int(name))
        except OSError:
            continue
    return _listening(tree)


def worker(rank: int, world: int, cfg: dict, out: str) -> None:
    """One rank: train, time, and write its state and timings under `out`. With world > 1 the
    process group comes from torchrun's environment (MASTER_ADDR/PORT, RANK, WORLD_SIZE)."""
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(1)
    timeout = timedelta(seconds=float(cfg["collective_timeout_s"]))
    if world > 1:
        dist.init_process_group("gloo", timeout=timeout)
    x, y, vocab = corpus_tensors()
    model = make_model(vocab, int(cfg["seed"]))  # same init on every rank
    opt = torch.optim.AdamW(model.parameters(), lr=float(cfg["lr"]))
    torch.manual_seed(int(cfg["seed"]) + rank)  # per-rank seed: any randomness differs, weights must not
    batch = int(cfg["global_batch"]) // world
    batches = shard_indices(len(x), rank, world, batch, int(cfg["steps"]), cfg.get("fault") == "uneven_shards")
    params = list(model.parameters())
    log: dict = {"rank": rank, "n_batches": len(batches), "losses": [], "sync_ms": [], "timed_out": False,
                 "master_addr": os.environ.get("MASTER_ADDR", ""),
                 "listening": launcher_listeners() if world > 1 and rank == 0 else []}
    t0 = time.perf_counter()
    try:
        for b in range(int(cfg["steps"])):
            if b >= len(batches):
                break
            loss = nn.functional.cross_entropy(model(x[batches[b]]), y[batches[b]])
            opt.zero_grad()
            if world > 1:
                dist.barrier()
            ts = time.perf_counter()
            loss.backward()
            if world > 1:
                flat = torch.cat([p.grad.reshape(-1) for p in params])
                dist.all_reduce(flat)
                flat /= world
                torch.nn.utils.vector_to_parameters(flat, [p.grad for p in params])
                dist.barrier()
            log["sync_ms"].append((time.perf_counter() - ts) * 1e3)
            if b == 0:  # the gradient the optimizer sees: with DDP, the average over ranks
                log["first_grad_norm"] = float(torch.cat([p.grad.reshape(-1) for p in params]).norm())
            opt.step()
            log["losses"].append(loss.item())
    except RuntimeError as e:  # gloo raises on timeout or a vanished peer
        log["timed_out"] = True
        log["error"] = str(e).splitlines()[0][:200]
    log["wall_s"] = time.perf_counter() - t0
    log["tokens"] = len(log["losses"]) * batch
    from engine.core import tensorfile

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    tensorfile.save(state, f"{out}/rank{rank}.safetensors")
    Path(f"{out}/rank{rank}.json").write_text(json.dumps(log))
    if world > 1 and not log["timed_out"] and cfg.get("fault") != "uneven_shards":
        dist.destroy_process_group()
    elif world > 1 and rank == 0:
        time.sleep(float(cfg["collective_timeout_s"]) + 2.0)  # stay alive: the partner must time out


def torchrun_argv(world: int, port: int, cfg: dict, out: str) -> list[str]:
    """The launcher command for `world` ranks on this machine, rendezvous on 127.0.0.1:port."""
    return [sys.executable, "-m", "engine.systems.distributed.launch", "--nnodes", "1", "--nproc-per-node", str(world),
            "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--max-restarts", "0",
            "-m", "engine.systems.distributed.ddp", json.dumps(cfg), out]


def launch(cfg: dict, world: int, out: str, limit_s: float = 240.0) -> None:
    """Run `world` ranks through torchrun and wait, bounded by `limit_s` (then the launcher's
    group is killed). world == 1 runs in this process."""
    if world == 1:
        worker(0, 1, cfg, out)
        return
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1", "TORCHELASTIC_ERROR_FILE": f"{out}/error.json"}
    proc = subprocess.Popen(torchrun_argv(world, free_port(), cfg, out), env=env, cwd=root, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        text, _ = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        text, _ = proc.communicate()
    if proc.returncode != 0:
        tail = text.decode(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"torchrun exited with {proc.returncode}: " + " | ".join(tail))


if __name__ == "__main__":  # under torchrun: python -m engine.systems.distributed.ddp CFG_JSON OUT_DIR
    worker(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), json.loads(sys.argv[1]), sys.argv[2])
