"""Phase 37: red-teaming the grammar tutor inside this process.

`tutor` is a deliberately gullible stand-in for the model (it obeys instructions wherever they
appear), `guard` is the defence in depth around it (input filter, boundary marking, output schema,
ground-truth verification), `payloads` the attack batteries, `tools` the tool-argument validators
and their fuzzer, `artifacts` the manifest verifier and the unsafe-load scanner.
"""
