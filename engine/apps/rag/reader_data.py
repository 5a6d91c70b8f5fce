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
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.apps.rag.chunk import Chunk
from engine.apps.rag.reader_gen import reader_prompt
from engine.lm.text.corpus import english_form
from engine.lm.text.spanish import SPANISH, spanish_form
from engine.lm.text.verbs import IRREGULAR, VERBS, regular_past

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
# questions without a person, for the forms that have none (or one for every person in English)
BARE_SURFACES = ("infinitive", "past_simple", "past_participle")
BARE_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("Tell me the {t} of {v}.", "en"),
    ("{v}: which form is the {t}?", "en"),
    ("¿Y el {te} de {v} en inglés?", "en"),
)
# translation both ways; {f} is the form in the other language
TRANSLATE_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("Translate {f} into English.", "en"),
    ("¿{f} en inglés?", "en"),
    ("Translate {f} into Spanish.", "es"),
    ("¿Cómo traduzco {f} al español?", "es"),
)
# an over-regularised past or participle of an irregular verb, to be corrected
CORRECT_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("Is {w} a good {t} for {v}?", "en"),
    ("¿Está bien {w} como {te} de {v}?", "en"),
)


@dataclass(frozen=True)
class ReaderExample:
    prompt: str
    answer: str
    chunk_id: str


def answer_form(verb: str, surface: str, person: int, lang: str) -> str:
    return english_form(verb, surface, person) if lang == "en" else spanish_form(verb, surface, person)


def target_chunk(kb: Sequence[Chunk], verb: str, surface: str, lang: str, form: str) -> Chunk:
    """The rule that best states this cell: verb and language first, then a rule whose title writes the
    answer's form out ("Irregular verb eat: ate, eaten" for eaten), then for irregular verbs an
    irregular-form rule, then the tense, then the fewest verbs covered."""
    words = set(bare(form).lower().split()) - {"to", "will"}

    def score(c: Chunk) -> tuple[int, int, int, int, int, int]:
        lang_ok = c.language == lang or c.language == "bilingual"
        states = bool(words) and words <= set(re.findall(r"\w+", c.title.lower()))
        irregular = verb in IRREGULAR and c.topic in ("irregular_form", "spanish_equivalent")
        # the most specific rule wins: a chunk about this one verb beats one about all twenty
        return (int(verb in c.verbs), int(lang_ok), int(states), int(irregular), int(c.tense == KB_TENSE[surface]),
                -len(c.verbs))
    return max(kb, key=score)  # max keeps the first of equals: KB order breaks ties


def bare(form: str) -> str:
    """'I went' -> 'went': the form without its pronoun (infinitive and participle have none)."""
    head, _, rest = form.partition(" ")
    return rest if head in ("I", "you", "he") and rest else form


def questions() -> list[tuple[str, str, str, int, str, bool]]:
    """(question, verb, surface, person, answer language, answer without pronoun) for every template."""
    out: list[tuple[str, str, str, int, str, bool]] = []
    for verb in VERBS:
        es_lemma = SPANISH[verb].lemma
        for surface in SURFACES:
            names = {"v": verb, "es": es_lemma, "t": EN_NAME[surface], "te": ES_NAME[surface]}
            for person in range(3):
                who = {"p": EN_PRON[person], "pe": ES_PRON[person]}
                out += [(t.format(**names, **who), verb, surface, person, lang, False) for t, lang in TEMPLATES]
                for t, lang in TRANSLATE_TEMPLATES:
                    other = spanish_form(verb, surface, person) if lang == "en" else english_form(verb, surface, person)
                    out.append((t.format(f=other), verb, surface, person, lang, False))
            if surface in BARE_SURFACES:
                out += [(t.format(**names), verb, surface, 0, lang, True) for t, lang in BARE_TEMPLATES]
            if verb in IRREGULAR and surface in ("past_simple", "past_participle"):
                wrong = regular_past(verb)
                out += [(t.format(w=wrong, **names), verb, surface, 0, lang, True) for t, lang in CORRECT_TEMPLATES]
    first = {q[0]: q for q in reversed(out)}  # a question asked twice (a participle is the same for every
    return [q for q in out if first[q[0]] is q]  # person; "fue" is was and went) keeps its first answer


def reader_examples(kb: Sequence[Chunk], search: Callable[[str, int], list[tuple[str, float]]], n_rules: int,
                    fits: Callable[[str], bool], seed: int) -> list[ReaderExample]:
    by_id = {c.chunk_id: c for c in kb}
    rng = random.Random(seed)
    out: list[ReaderExample] = []
    for q, verb, surface, person, lang, no_pronoun in questions():
        form = answer_form(verb, surface, person, lang)
        form = bare(form) if no_pronoun and lang == "en" else form
        target = target_chunk(kb, verb, surface, lang, form)
        rules = [by_id[cid] for cid, _ in search(q, n_rules)]
        if target not in rules:
            rules = rules[: n_rules - 1]
            rules.insert(rng.randrange(len(rules) + 1), target)
        while len(rules) > 1 and not fits(reader_prompt(q, rules)):
            drop = next(i for i in range(len(rules) - 1, -1, -1) if rules[i] is not target)
            rules.pop(drop)
        out.append(ReaderExample(reader_prompt(q, rules), f" {form} [{rules.index(target) + 1}]", target.chunk_id))
    return out
