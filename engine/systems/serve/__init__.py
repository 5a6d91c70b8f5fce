"""Inference serving (phase 33, used by 34 and the capstone): the Mini-GPT with a KV slot pool and a
batched decode step (lm), decode workers for one-at-a-time, static and continuous batching
(scheduler), the FastAPI app with metrics and spans (api), uvicorn in a thread or as a process
(uv, run, proc), a bounded loopback load generator (client), the phase's handler styles (styles),
and the discrete-event simulator with its cost model, the teaching model (batching)."""
