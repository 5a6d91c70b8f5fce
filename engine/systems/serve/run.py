"""The tutor server as its own process: `python -m engine.systems.serve.run SPEC.json`.

SPEC: {"lm": {model: "phase-28", quick, max_new_tokens} (the registry's tutor) or {seed, max_new_tokens,
d_model, n_layers, context_len, weights?} (a seeded character Mini-GPT), "serve": ServeConfig
fields, "spans": path, "port_file": path, "model_name": str, "rag": optional keyword arguments of
engine.apps.rag.cli.build_pipeline (the server then retrieves for every request)}. Binds 127.0.0.1 on a port the OS
picks, writes it to port_file (atomically) once listening, and serves until SIGTERM.
"""

from __future__ import annotations

import json
import os
import socket
import sys

import uvicorn

from engine.systems.observability.otel import tracer_provider
from engine.systems.serve.api import ServeConfig, Service, create_app
from engine.systems.serve.lm import TutorLM


def build(spec: dict) -> Service:
    lm = TutorLM.build(**spec["lm"])
    index = None
    if spec.get("rag") is not None:
        from engine.apps.rag.cli import build_pipeline

        index = build_pipeline(**spec["rag"])
    return Service(lm, ServeConfig(**spec["serve"]), tracer_provider(spec["spans"], "tutor"),
                   spec.get("model_name") or lm.name, index)


def main(path: str) -> None:
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    service = build(spec)
    sys.setswitchinterval(service.cfg.gil_switch_ms / 1000)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    tmp = spec["port_file"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(str(sock.getsockname()[1]))
    os.replace(tmp, spec["port_file"])
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning", access_log=False, lifespan="off",
                                           limit_concurrency=service.cfg.max_concurrency, timeout_keep_alive=5))
    try:
        server.run(sockets=[sock])
    finally:
        service.close()


if __name__ == "__main__":
    main(sys.argv[1])
