"""The shipped grammar-rule knowledge base: hand-written rules plus forms derived from engine.lm.text.verbs.

Hand chunks are written for this project (own wording). Irregular-form chunks take their English
forms from engine.lm.text.verbs so the KB and the corpus can never disagree; Spanish forms come
from the small table below. Ids follow <lang>-<tense>-<person>-<regularity>-<topic>-<NNN>.
"""

from __future__ import annotations

from engine.apps.rag.chunk import Chunk
from engine.lm.text.verbs import IRREGULAR, REGULAR, VERBS, conjugate

_T = {"infinitive": "inf", "present_simple": "pres", "past_simple": "past", "past_participle": "pp",
      "future": "fut", None: "any"}
_L = {"en": "en", "es": "es", "bilingual": "bi"}
_ALL = tuple(VERBS)

# (language, topic, tense, person, regularity, verbs, title, body, [(en, es) examples])
HAND: list[tuple] = [
    ("en", "tense_rule", "present_simple", "3sg", "regular", REGULAR, "Present simple, 3rd person singular: add -s",
     "With he, she or it, a regular verb in the present simple adds -s to the base form: work becomes works, play becomes plays.",
     [("She works at the office.", "Ella trabaja en la oficina.")]),
    ("en", "tense_rule", "present_simple", "3sg", "regular", ("watch", "finish"), "Present simple 3sg: -es after s, sh, ch, x",
     "Verbs ending in -s, -sh, -ch or -x add -es in the third person singular: watch becomes watches and finish becomes finishes.",
     [("He watches TV.", "Él mira la tele.")]),
    ("en", "tense_rule", "present_simple", "3sg", "regular", ("study",), "Present simple 3sg: consonant + y becomes -ies",
     "When a verb ends in a consonant followed by y, the y changes to -ies in the third person singular: study becomes studies.",
     [("She studies English.", "Ella estudia inglés.")]),
    ("en", "tense_rule", "present_simple", "3sg", "regular", ("play",), "Present simple 3sg: vowel + y just adds -s",
     "A verb ending in a vowel followed by y keeps the y and adds -s: play becomes plays.", []),
    ("en", "tense_rule", "present_simple", "1sg", "regular", REGULAR, "Present simple with I and you: the base form",
     "With I and you the present simple is the bare base form with no ending: I work, you work, I like, you study.", []),
    ("en", "tense_rule", "present_simple", None, "both", _ALL, "When to use the present simple",
     "Use the present simple for habits, routines and general facts, often with every day, usually or always.",
     [("I walk to school every day.", "Camino a la escuela todos los días.")]),
    ("en", "tense_rule", "past_simple", None, "regular", REGULAR, "Past simple of regular verbs: add -ed",
     "A regular verb forms its past simple by adding -ed to the base form: work becomes worked, talk becomes talked.",
     [("I worked yesterday.", "Trabajé ayer.")]),
    ("en", "tense_rule", "past_simple", None, "regular", ("like",), "Past simple: verbs ending in -e add only -d",
     "If the base form already ends in -e, the past simple adds only -d: like becomes liked.", []),
    ("en", "tense_rule", "past_simple", None, "regular", ("study",), "Past simple: consonant + y becomes -ied",
     "A verb that ends in a consonant plus y changes the y to i before -ed: study becomes studied.", []),
    ("en", "tense_rule", "past_simple", None, "regular", ("play",), "Past simple: vowel + y keeps the y",
     "After a vowel the y stays and -ed is added directly: play becomes played, not plaied.", []),
    ("en", "tense_rule", "past_simple", None, "both", _ALL, "Past simple is the same for every person",
     "Apart from be, the past simple has one form for I, you and he: I walked, you walked, he walked.", []),
    ("en", "tense_rule", "past_simple", None, "both", _ALL, "When to use the past simple",
     "Use the past simple for finished actions at a known time in the past, often with yesterday, last week or ago.", []),
    ("en", "tense_rule", "past_participle", None, "regular", REGULAR, "Past participle of regular verbs",
     "For a regular verb the past participle looks exactly like the past simple, ending in -ed: worked, played, studied.", []),
    ("en", "tense_rule", "past_participle", None, "both", _ALL, "Present perfect: have or has plus the past participle",
     "The present perfect joins have (or has after he, she, it) with the past participle: I have worked, he has eaten.",
     [("She has finished.", "Ella ha terminado.")]),
    ("en", "tense_rule", "future", None, "both", _ALL, "Simple future: will plus the base form",
     "The simple future puts will before the base form of the verb: I will work, she will go.",
     [("I will study tomorrow.", "Estudiaré mañana.")]),
    ("en", "tense_rule", "future", None, "both", _ALL, "The future has one form for all persons",
     "Will never changes and the verb after it never takes -s: he will work, not he will works.", []),
    ("en", "tense_rule", "infinitive", None, "both", _ALL, "The infinitive: to plus the base form",
     "The full infinitive is to followed by the base form, as in to work, to be or to eat.", []),
    ("en", "tense_rule", "infinitive", None, "both", ("want", "like"), "Verbs followed by the to-infinitive",
     "After want and like the next verb usually goes in the to-infinitive: I want to eat, she likes to walk.", []),
    ("en", "tense_rule", "present_simple", "3sg", "both", _ALL, "Negatives in the present simple",
     "Negatives use do not or does not plus the base form: he does not work, never he does not works.", []),
    ("en", "tense_rule", "past_simple", None, "both", _ALL, "Negatives in the past simple",
     "Past negatives use did not plus the base form for every verb: I did not go, she did not eat.", []),
    ("en", "tense_rule", "future", None, "both", _ALL, "Negatives in the future",
     "The future negative is will not, often shortened to won't, plus the base form: I won't come.", []),
    ("en", "tense_rule", "past_simple", None, "regular", REGULAR, "Pronouncing the -ed ending",
     "The -ed ending sounds like t after voiceless sounds (worked), like d after voiced ones (played) and adds a syllable after t or d (started, wanted).", []),
    ("en", "auxiliary", "past_participle", None, "both", ("have",), "Have as an auxiliary verb",
     "Have works as a helper verb in perfect tenses and becomes has with he, she and it.", []),
    ("en", "auxiliary", "present_simple", None, "both", ("do",), "Do and does in questions",
     "Questions in the present simple start with do, or does for he, she and it, and keep the main verb in the base form: Does he work?", []),
    ("en", "auxiliary", "future", None, "both", _ALL, "Will as a modal auxiliary",
     "Will is a modal auxiliary, so it has no -s, no -ed and no to after it.", []),
    ("en", "agreement", "present_simple", "3sg", "both", _ALL, "Subject-verb agreement in the present",
     "In the present simple only the third person singular changes form; I work and you work, but he works.", []),
    ("en", "agreement", "present_simple", None, "irregular", ("be",), "Agreement with be",
     "Be agrees with every person in the present (I am, you are, he is) and in the past (I was, you were, he was).", []),
    ("en", "time_marker", "past_simple", None, "both", _ALL, "Time words that call for the past simple",
     "Yesterday, last night, last week and two days ago point to a finished time and take the past simple.", []),
    ("en", "time_marker", "present_simple", None, "both", _ALL, "Time words for the present simple",
     "Every day, usually, often and always describe habits and take the present simple.", []),
    ("en", "time_marker", "future", None, "both", _ALL, "Time words for the future",
     "Tomorrow, next week and soon point ahead and go with will plus the base form.", []),
    ("en", "time_marker", "past_participle", None, "both", _ALL, "Time words for the present perfect",
     "Already, just, ever, never and so far go with the present perfect: I have already eaten.", []),
    ("en", "irregular_form", "past_simple", None, "irregular", IRREGULAR, "Over-regularisation mistakes",
     "Learners often add -ed to irregular verbs; goed, eated, writed, seed and comed are wrong, the correct pasts are went, ate, wrote, saw and came.", []),
    ("en", "irregular_form", "past_participle", None, "irregular", IRREGULAR, "Irregular past participles differ from the past",
     "Many irregular verbs have a participle that is not the past form: go, went, gone; eat, ate, eaten; write, wrote, written; see, saw, seen.", []),
    ("es", "spanish_equivalent", "present_simple", None, "both", _ALL, "Presente de indicativo",
     "El present simple inglés equivale al presente de indicativo: trabajo, trabajas, trabaja.", []),
    ("es", "spanish_equivalent", "past_simple", None, "both", _ALL, "Pretérito indefinido",
     "El past simple inglés se traduce normalmente con el pretérito indefinido: trabajé, comí, fui.", []),
    ("es", "spanish_equivalent", "past_participle", None, "both", _ALL, "Pretérito perfecto compuesto",
     "El present perfect inglés se parece al pretérito perfecto: haber más participio, como he trabajado o ha comido.", []),
    ("es", "spanish_equivalent", "future", None, "both", _ALL, "Futuro simple",
     "El futuro inglés con will corresponde al futuro simple español con las terminaciones -é, -ás, -á: trabajaré, comerás, irá.", []),
    ("es", "spanish_equivalent", "infinitive", None, "both", _ALL, "Infinitivo",
     "El infinitivo inglés to work corresponde al infinitivo español en -ar, -er o -ir: trabajar, comer, escribir.", []),
    ("bilingual", "spanish_equivalent", "present_simple", "3sg", "both", _ALL, "3sg: -s in English, -a or -e in Spanish",
     "The English third person adds -s (works) while Spanish changes the ending to -a or -e (trabaja, come); la tercera persona marca el verbo en los dos idiomas.", []),
    ("bilingual", "tense_rule", "past_participle", None, "both", _ALL, "Have plus participle and haber plus participio",
     "English have eaten and Spanish he comido use the same pattern; el auxiliar es have en inglés y haber en español.", []),
    ("bilingual", "tense_rule", "future", None, "both", _ALL, "Will versus the Spanish future ending",
     "English marks the future with the separate word will, Spanish with an ending: I will eat es comeré.", []),
    ("bilingual", "irregular_form", "past_simple", None, "irregular", ("be", "go"), "Went and was both become fue",
     "Spanish fue translates both he went (ir) and he was (ser); el contexto decide cuál es.", []),
    ("bilingual", "agreement", None, None, "both", ("like",), "Like and gustar",
     "English I like works like a normal verb, but Spanish me gusta takes the liked thing as subject; like no se conjuga como gustar.", []),
]

# English lemma -> (Spanish infinitive, present 1sg/2sg/3sg, preterite 1sg/2sg/3sg, participle)
SPANISH: dict[str, tuple[str, tuple[str, str, str], tuple[str, str, str], str]] = {
    "be": ("ser", ("soy", "eres", "es"), ("fui", "fuiste", "fue"), "sido"),
    "have": ("tener", ("tengo", "tienes", "tiene"), ("tuve", "tuviste", "tuvo"), "tenido"),
    "do": ("hacer", ("hago", "haces", "hace"), ("hice", "hiciste", "hizo"), "hecho"),
    "go": ("ir", ("voy", "vas", "va"), ("fui", "fuiste", "fue"), "ido"),
    "come": ("venir", ("vengo", "vienes", "viene"), ("vine", "viniste", "vino"), "venido"),
    "see": ("ver", ("veo", "ves", "ve"), ("vi", "viste", "vio"), "visto"),
    "eat": ("comer", ("como", "comes", "come"), ("comí", "comiste", "comió"), "comido"),
    "write": ("escribir", ("escribo", "escribes", "escribe"), ("escribí", "escribiste", "escribió"), "escrito"),
    "work": ("trabajar", ("trabajo", "trabajas", "trabaja"), ("trabajé", "trabajaste", "trabajó"), "trabajado"),
    "study": ("estudiar", ("estudio", "estudias", "estudia"), ("estudié", "estudiaste", "estudió"), "estudiado"),
    "play": ("jugar", ("juego", "juegas", "juega"), ("jugué", "jugaste", "jugó"), "jugado"),
}


def _id(lang: str, tense: str | None, person: str | None, reg: str, topic: str, n: int) -> str:
    return f"{_L[lang]}-{_T[tense]}-{person or 'all'}-{reg}-{topic.replace('_', '-')}-{n:03d}"


def _irregular_chunks() -> list[tuple]:
    rows = []
    for v in IRREGULAR:
        past, part = conjugate(v, 2, 2), conjugate(v, 3, 2)
        third = conjugate(v, 1, 2)
        if v == "be":
            body = "Be is fully irregular: present am, are, is; past was (I, he) and were (you); past participle been."
        else:
            body = f"{v.capitalize()} is irregular: the past simple is {past} and the past participle is {part}; with he it is {third}."
        rows.append(("en", "irregular_form", "past_simple", None, "irregular", (v,),
                     f"Irregular verb {v}: {past}, {part}", body, []))
    rows.append(("en", "irregular_form", "present_simple", "3sg", "irregular", ("have", "do", "go"),
                 "Irregular third person: has, does, goes",
                 "Have becomes has with he, she and it; do and go add -es and become does and goes.", []))
    return rows


def _spanish_chunks() -> list[tuple]:
    rows = []
    for v, (inf, pres, pret, part) in SPANISH.items():
        reg = "irregular" if v in IRREGULAR else "regular"
        rows.append(("es", "spanish_equivalent", "past_simple", None, reg, (v,),
                     f"{inf}: presente {pres[0]}, pretérito {pret[2]}",
                     f"El verbo {inf} traduce {v}: presente {', '.join(pres)}; pretérito {', '.join(pret)}; participio {part}.",
                     []))
    return rows


def build_kb() -> list[Chunk]:
    """All chunks, ids numbered in order of appearance."""
    chunks = []
    rows = HAND + _irregular_chunks() + _spanish_chunks()
    for n, (lang, topic, tense, person, reg, verbs, title, body, ex) in enumerate(rows, start=1):
        source = "hand" if n <= len(HAND) else "derived"
        chunks.append(Chunk(_id(lang, tense, person, reg, topic, n), lang, topic, tense, person, reg, tuple(verbs),
                            title, body, tuple({"en": e, "es": s} for e, s in ex), source))
    return chunks


def chunk_id_by_title(title_start: str) -> str:
    """The id of the chunk whose title starts with `title_start` (used by the query set)."""
    hits = [c.chunk_id for c in build_kb() if c.title.startswith(title_start)]
    if len(hits) != 1:
        raise KeyError(f"{title_start!r} matches {len(hits)} chunks")
    return hits[0]
