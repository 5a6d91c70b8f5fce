"""The phase-32 grammar-tutor agent: a capped plan/act loop over the phase-31 tools, per-run
scratchpad and per-learner long-term memory, and a subprocess sandbox with resource limits."""
