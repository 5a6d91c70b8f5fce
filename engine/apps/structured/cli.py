"""Sentence in, conjugation JSON out: `python -m engine.apps.structured.cli "She wrote a long letter."`.

Builds one JSONSchemaMask for the conjugation schema, prompts the cached phase-18 Mini-GPT with the
sentence, decodes under the mask until the automaton is done, parses and validates, and prints
only the JSON. Empty input, a parse failure or a schema failure goes to stderr with exit code 1.
No retries. `--free` decodes without the mask (the phase-30 break).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO, Any

import numpy as np

from engine.apps.structured.decode import generate
from engine.apps.structured.mask import JSONSchemaMask
from engine.apps.structured.schema import conjugation_schema, validate
from engine.apps.structured.tokenizer import JSONCharTokenizer

PROMPT = "{sentence} "  # the model knows no instructions; the sentence is the whole context


def load_model(quick: bool = True) -> Any:
    from engine.lm.train.recipe import cached_minigpt

    return cached_minigpt(quick=quick)[0]


def conjugate_structured(model: Any, sentence: str, seed: int = 0, temperature: float = 1.0, free: bool = False,
                         max_new_tokens: int = 128) -> tuple[str, dict[str, Any] | None, str]:
    """(raw text, parsed document or None, error message or "")."""
    tok = JSONCharTokenizer(model.cfg.vocab_size)
    schema = conjugation_schema()
    mask = None if free else JSONSchemaMask(tok, schema)
    gen = generate(model, tok, tok.encode(PROMPT.format(sentence=sentence.strip())), np.random.default_rng(seed),
                   mask=mask, temperature=temperature, max_new_tokens=max_new_tokens)
    text = gen.text.strip()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        return text, None, f"parse error: {e}"
    errs = validate(doc, schema)
    return text, (doc if not errs else None), "; ".join(errs)


def main(argv: list[str] | None = None, stdin: IO[str] | None = None, stdout: IO[str] | None = None,
         stderr: IO[str] | None = None, model: Any = None) -> int:
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sentence", nargs="?")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--free", action="store_true", help="decode without the mask")
    args = ap.parse_args(argv)
    sentence = args.sentence if args.sentence is not None else stdin.read()
    if not sentence.strip():
        print("error: empty sentence", file=stderr)
        return 1
    text, doc, err = conjugate_structured(model or load_model(), sentence, seed=args.seed, free=args.free)
    if doc is None:
        print(f"error: {err}; output was {text!r}", file=stderr)
        return 1
    print(json.dumps(doc, separators=(",", ":")), file=stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
