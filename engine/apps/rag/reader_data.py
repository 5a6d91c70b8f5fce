"""Training examples for the generative reader, made from the verb table and the KB (never the eval queries).

For each (verb, tense, person) cell and each question template below, the example is the reader
prompt over the rules that the retriever returns for the question, with the answer "<form> [i]",
where i is the marker of the rule that states the fact (chosen by its metadata: same verb, same
the answer's language, irregular-form rules first for irregular verbs, then the
tense, then the fewest verbs covered). If the retriever
missed that rule it is put in at a seeded position, so the model always has the rule to cite.
Templates are written for this module; the 30 evaluation queries in engine.apps.rag.queries are
phrased differently and are only used to score.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.apps.rag.chunk import Chunk
from engine.apps.rag.reader_gen import reader_prompt
from engine.lm.text.corpus import english_form
from engine.lm.text.spanish import SPANISH, spanish_form
from engine.lm.text.verbs import IRREGULAR, VERBS

SURFACES = ("infinitive", "present_simple", "past_simple", "past_participle", "future_will")
KB_TENSE = {"infinitive": "infinitive", "present_simple": "present_simple", "past_simple": "past_simple",
            "past_participle": "past_participle", "future_will": "future"}
EN_NAME = {"infinitive": "infinitive", "present_simple": "present", "past_simple": "past",
           "past_participle": "past participle", "future_will": "future"}
ES_NAME = {"infinitive": "infinitivo", "present_simple": "presente", "past_simple": "pretérito",
           "past_participle": "participio", "future_will": "futuro"}
EN_PRON, ES_PRON = ("I", "you", "he"), ("yo", "tú", "él")

# (template, answer language); {v} English lemma, {es} Spanish lemma, {t}/{te} tense names, {p}/{pe} pronouns
TEMPLATES: tuple[tuple[str, str], ...] = (
    ("What is the {t} of {v} with {p}?", "en"),
    ("Give the {t} form of {v} for {p}.", "en"),
    ("¿Cuál es el {te} de {es} con {pe}?", "es"),
    ("Spanish {t} of {v} with {p}?", "es"),
    ("¿Cómo es el {te} de {v} en inglés con {p}?", "en"),
)


@dataclass(frozen=True)
class ReaderExample:
    prompt: str
    answer: str
    chunk_id: str


def answer_form(verb: str, surface: str, person: int, lang: str) -> str:
    return english_form(verb, surface, person) if lang == "en" else spanish_form(verb, surface, person)


def target_chunk(kb: Sequence[Chunk], verb: str, surface: str, lang: str) -> Chunk:
    """The rule that best states this cell: verb, tense, language and, for irregular verbs, an irregular-form rule."""
    def score(c: Chunk) -> tuple[int, int, int, int, int]:
        lang_ok = c.language == lang or c.language == "bilingual"
        irregular = verb in IRREGULAR and c.topic in ("irregular_form", "spanish_equivalent")
        # the most specific rule wins: a chunk about this one verb beats one about all twenty
        return (int(verb in c.verbs), int(lang_ok), int(irregular), int(c.tense == KB_TENSE[surface]), -len(c.verbs))
    return max(kb, key=score)  # max keeps the first of equals: KB order breaks ties


def reader_examples(kb: Sequence[Chunk], search: Callable[[str, int], list[tuple[str, float]]], n_rules: int,
                    fits: Callable[[str], bool], seed: int) -> list[ReaderExample]:
    by_id = {c.chunk_id: c for c in kb}
    rng = random.Random(seed)
    out: list[ReaderExample] = []
    for verb in VERBS:
        for surface in SURFACES:
            for person in range(3):
                for template, lang in TEMPLATES:
                    q = template.format(v=verb, es=SPANISH[verb].lemma, t=EN_NAME[surface], te=ES_NAME[surface],
                                        p=EN_PRON[person], pe=ES_PRON[person])
                    target = target_chunk(kb, verb, surface, lang)
                    rules = [by_id[cid] for cid, _ in search(q, n_rules)]
                    if target not in rules:
                        rules = rules[: n_rules - 1]
                        rules.insert(rng.randrange(len(rules) + 1), target)
                    while len(rules) > 1 and not fits(reader_prompt(q, rules)):
                        drop = next(i for i in range(len(rules) - 1, -1, -1) if rules[i] is not target)
                        rules.pop(drop)
                    i = rules.index(target) + 1
                    out.append(ReaderExample(reader_prompt(q, rules),
                                             f" {answer_form(verb, surface, person, lang)} [{i}]", target.chunk_id))
    return out
