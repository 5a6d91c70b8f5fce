"""Inference serving for phase 33 on the standard library only: a tutor stand-in, a typed request/response
app, an asyncio HTTP server on 127.0.0.1 with three handler styles, a bounded load generator, and a
discrete-event simulator of static and continuous batching under a decode cost model."""
