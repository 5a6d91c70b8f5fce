"""The 30 evaluation queries (10 English, 10 Spanish, 10 cross-language) with their expected chunks.

Each query names the chunk(s) that answer it (by title, resolved to ids) and a pattern the
answer must contain. `kind` marks whether the query reuses the chunk's own words (verbatim) or
paraphrases them, for the sliced report. The same queries drive the faithfulness score, with
must_cite = expected chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.apps.rag.kb_grammar import chunk_id_by_title


@dataclass(frozen=True)
class Query:
    query_id: str
    language: str  # en | es | cross
    kind: str  # verbatim | paraphrase
    query: str
    expected_chunks: tuple[str, ...]
    expected_answer_pattern: str


_RAW = [
    ("en", "paraphrase", "How do I conjugate work for she in the present tense?", ["Present simple, 3rd person"], "works"),
    ("en", "verbatim", "What is the past participle of eat?", ["Irregular verb eat"], "eaten"),
    ("en", "paraphrase", "Is goed correct as the past of go?", ["Over-regularisation", "Irregular verb go"], "went"),
    ("en", "verbatim", "How do you spell the third person of study?", ["Present simple 3sg: consonant + y"], "studies"),
    ("en", "paraphrase", "Why is it watches and not watchs?", ["Present simple 3sg: -es after"], "watches"),
    ("en", "verbatim", "How is the simple future formed?", ["Simple future: will"], "will"),
    ("en", "paraphrase", "Which words tell me to use the past, like yesterday?", ["Time words that call for the past"], "yesterday"),
    ("en", "verbatim", "What is the past simple of write?", ["Irregular verb write"], "wrote"),
    ("en", "paraphrase", "Can I say he will works?", ["The future has one form"], "will work"),
    ("en", "paraphrase", "What is the past of like, likeed or liked?", ["Past simple: verbs ending in -e"], "liked"),
    ("es", "paraphrase", "¿Cómo se dice trabajé en inglés y qué tiempo es?", ["Past simple of regular verbs", "Pretérito indefinido"], "worked"),
    ("es", "verbatim", "¿Cuál es el pretérito de comer?", ["comer: presente"], "comió"),
    ("es", "paraphrase", "¿Qué tiempo español corresponde a have eaten?", ["Pretérito perfecto compuesto", "Have plus participle"], "haber"),
    ("es", "verbatim", "¿Cómo se forma el futuro simple en español?", ["Futuro simple"], "trabajaré"),
    ("es", "paraphrase", "¿Fue viene de ser o de ir?", ["Went and was both become fue"], "fue"),
    ("es", "verbatim", "¿Cuál es el presente de tener?", ["tener: presente"], "tengo"),
    ("es", "paraphrase", "¿Cómo conjugo escribir en pasado?", ["escribir: presente"], "escribió"),
    ("es", "verbatim", "¿A qué equivale el infinitivo inglés?", ["Infinitivo"], "trabajar"),
    ("es", "paraphrase", "¿Qué formas tiene hacer en el pretérito?", ["hacer: presente"], "hizo"),
    ("es", "paraphrase", "¿Cómo se traduce el present simple?", ["Presente de indicativo"], "trabaja"),
    ("cross", "paraphrase", "¿Cuál es el pasado de go en inglés?", ["Irregular verb go"], "went"),
    ("cross", "paraphrase", "¿Cómo se dice yo he comido en inglés?", ["Present perfect: have", "Irregular verb eat"], "eaten"),
    ("cross", "paraphrase", "What is the Spanish for I will eat?", ["Will versus the Spanish future"], "comeré"),
    ("cross", "paraphrase", "¿Por qué se añade -s a works con he?", ["3sg: -s in English", "Present simple, 3rd person"], "works"),
    ("cross", "paraphrase", "¿Cuál es el participio de write en inglés?", ["Irregular verb write"], "written"),
    ("cross", "paraphrase", "How do you say I was in Spanish, using ser?", ["ser: presente"], "fui"),
    ("cross", "paraphrase", "¿Cómo se dice ella ve en inglés, con see?", ["Irregular verb see"], "sees"),
    ("cross", "paraphrase", "Is I like the same as me gusta?", ["Like and gustar"], "gusta"),
    ("cross", "paraphrase", "¿Qué palabra inglesa marca el futuro, como mañana iré?", ["Simple future: will", "Will versus"], "will"),
    ("cross", "paraphrase", "What is the English past of venir, like vino?", ["Irregular verb come", "venir: presente"], "came"),
]


def eval_queries() -> list[Query]:
    return [Query(f"q-{i:03d}", lang, kind, q, tuple(chunk_id_by_title(t) for t in titles), pattern)
            for i, (lang, kind, q, titles, pattern) in enumerate(_RAW, start=1)]
