"""The run manifest: one shape, one writer, one comparison.

shape       build / write / load / verify a manifest (schema in docs/CONTRACTS.md; fields are only
            ever added); `record` writes the same shape for work done outside the runner.
provenance  where a run happened: git state, the hardware record, the allowlisted environment.
compare     flatten two manifests and report their differences by impact (`python -m engine.core.manifest A B`).
"""
