"""Structured generation (phase 30): a derivative-regex automaton, JSON-Schema subset compiler and
validator, logit masks over the Mini-GPT vocabulary, and masked decoding.

regex      Brzozowski-derivative automaton: transition(state, char), walk, nullable
schema     JSON-Schema subset: compile_schema, validate, check_schema, conjugation_schema
tokenizer  the phase-18 char vocabulary plus JSON symbols and multi-character tokens
mask       LogitMask, PermissiveMask, RegexMask, DigitMask, JSONSchemaMask, NoLegalContinuation
decode     generate(model, tok, prompt_ids, rng, mask=..., temperature=...)
cli        python -m engine.apps.structured.cli "She wrote a long letter."
"""
