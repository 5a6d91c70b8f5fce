"""Sentence in, conjugation JSON out: `python -m engine.apps.structured.cli "She wrote a long letter."`.

Builds one mask for the conjugation schema (the response format's leading space, then one minified
document), prompts the course's model from the model cache with "json: <sentence> =>" over its BPE
vocabulary, decodes under the mask until the automaton is done, parses and validates, and prints
only the JSON. Empty input, a parse failure or a schema failure goes to stderr with exit code 1.
No retries. `--free` decodes without the mask (the phase-30 break). `--model phase-28` (default) is
the grammar tutor, which never read JSON (valid shape, content by chance); `--model phase-30` is the
tutor fine-tuned on these documents (engine.apps.structured.tutor), whose fields are mostly right
(greedy, `--temperature 0`: "She wrote a long letter." -> write, past_simple, 3sg, "escribió").
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO, Any

import numpy as np

from engine.apps.structured import course_model as CM
from engine.apps.structured import regex as R
from engine.apps.structured.decode import generate
from engine.apps.structured.mask import RegexMask
from engine.apps.structured.schema import compile_schema, conjugation_schema, validate
from engine.lm.text.bilingual import json_prompt

RESPONSE_PREFIX = " "  # the bilingual json format answers ' {...}' (engine.apps.structured.tutor)


def load_model(quick: bool = True, name: str = CM.TUTOR) -> CM.CourseModel:
    return CM.load(quick, name)


def response_mask(vocab: Any, schema: dict[str, Any] | None = None, precompiled: bool = True) -> RegexMask:
    """The response grammar: the format's leading space, then one minified document of the schema."""
    return RegexMask(vocab, R.seq(R.lit(RESPONSE_PREFIX), compile_schema(schema or conjugation_schema())), precompiled)


def conjugate_structured(cm: CM.CourseModel, sentence: str, seed: int = 0, temperature: float = 1.0, free: bool = False,
                         max_new_tokens: int = 128) -> tuple[str, dict[str, Any] | None, str]:
    """(raw text, parsed document or None, error message or "")."""
    schema = conjugation_schema()
    mask = None if free else response_mask(cm.vocab, schema)
    gen = generate(cm.lm, cm.vocab, cm.vocab.encode(json_prompt(sentence.strip())), np.random.default_rng(seed),
                   mask=mask, temperature=temperature, max_new_tokens=max_new_tokens)
    text = gen.text.strip()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        return text, None, f"parse error: {e}"
    errs = validate(doc, schema)
    return text, (doc if not errs else None), "; ".join(errs)


def main(argv: list[str] | None = None, stdin: IO[str] | None = None, stdout: IO[str] | None = None,
         stderr: IO[str] | None = None, model: CM.CourseModel | None = None) -> int:
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sentence", nargs="?")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--free", action="store_true", help="decode without the mask")
    ap.add_argument("--model", choices=CM.MODELS, default=CM.TUTOR, help="model-cache stage to decode with")
    ap.add_argument("--full", action="store_true", help="the full-mode checkpoint instead of the quick one")
    ap.add_argument("--temperature", type=float, default=1.0, help="0 is greedy")
    args = ap.parse_args(argv)
    sentence = args.sentence if args.sentence is not None else stdin.read()
    if not sentence.strip():
        print("error: empty sentence", file=stderr)
        return 1
    cm = model or load_model(not args.full, args.model)
    text, doc, err = conjugate_structured(cm, sentence, seed=args.seed, temperature=args.temperature, free=args.free)
    if doc is None:
        print(f"error: {err}; output was {text!r}", file=stderr)
        return 1
    print(json.dumps(doc, separators=(",", ":")), file=stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
