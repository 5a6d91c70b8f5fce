"""Phase 33 lab-01's three handler styles on FastAPI, around the stand-in tutor (engine.systems.serve.tutor,
whose service time releases the GIL as device time would):

  sync       a plain `def` endpoint: FastAPI runs it in its worker threadpool
  blocking   an `async def` endpoint that calls the model directly: the event loop stalls
  to_thread  an `async def` endpoint that awaits the call in a pool of `threads` workers

Validation and the 422/500/503 rules are engine.systems.serve.app's TutorApp; only the handler differs.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse

from engine.systems.serve.app import TutorApp

STYLES = ("sync", "blocking", "to_thread")


def style_app(app: TutorApp, style: str, threads: int) -> FastAPI:
    if style not in STYLES:
        raise ValueError(f"unknown handler style {style!r}; one of {STYLES}")
    api = FastAPI(docs_url=None, redoc_url=None)
    pool = ThreadPoolExecutor(threads, thread_name_prefix="tutor")
    api.state.pool = pool

    @api.get("/healthz")
    def healthz() -> JSONResponse:
        return JSONResponse(*reversed(app.healthz()))

    if style == "sync":
        @api.post("/correct")
        def correct_sync(doc: Any = Body(None)) -> JSONResponse:  # noqa: B008 - FastAPI's way to take the JSON body
            status, payload = app.correct(json.dumps(doc).encode())
            return JSONResponse(payload, status)
    else:
        @api.post("/correct")
        async def correct_async(request: Request) -> JSONResponse:
            body = await request.body()
            if style == "blocking":
                status, payload = app.correct(body)
            else:
                status, payload = await asyncio.get_running_loop().run_in_executor(pool, app.correct, body)
            return JSONResponse(payload, status)

    return api
