"""Spanish side of the §A13 corpus (phase 12): the 20 lemma pairs and their forms.

Regular forms are built from the infinitive with explicit ending tables (-ar / -er / -ir);
every irregular form is listed, never derived (the course's rule). Only the three singular
persons exist: yo, tú, él. `gustar` keeps its real syntax ("me gusta", "te gusta",
"le gusta": the liked thing is the subject), never "yo gusto". `ser` stands for "be"
(estar is out of scope); watch and look both map to mirar.

Course corrections (see phase-12 notes): jugar's stem change is u→ue (juego), not e→ie.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PERSONS: tuple[str, ...] = ("1sg", "2sg", "3sg")
PRONOUNS_ES: tuple[str, ...] = ("yo", "tú", "él")
GUSTAR_CLITICS: tuple[str, ...] = ("me", "te", "le")
IR_PRESENT: tuple[str, ...] = ("voy", "vas", "va")

_PRESENT_ENDINGS = {"ar": ("o", "as", "a"), "er": ("o", "es", "e"), "ir": ("o", "es", "e")}
_PRETERITE_ENDINGS = {"ar": ("é", "aste", "ó"), "er": ("í", "iste", "ió"), "ir": ("í", "iste", "ió")}
_FUTURE_ENDINGS = ("é", "ás", "á")
_PARTICIPLE_ENDING = {"ar": "ado", "er": "ido", "ir": "ido"}


@dataclass(frozen=True)
class SpanishVerb:
    lemma: str
    regularity: str  # "regular" | "irregular" (the course's verb table)
    present: tuple[str, str, str] | None = None  # listed irregular forms; None = regular
    preterite: tuple[str, str, str] | None = None
    future_stem: str | None = None  # irregular future stem (tendr-, har-...)
    participle: str | None = None
    notes: str = field(default="", compare=False)

    @property
    def group(self) -> str:
        return self.lemma[-2:]

    def _stem(self) -> str:
        return self.lemma[:-2]

    def present_form(self, person: int) -> str:
        return self.present[person] if self.present else self._stem() + _PRESENT_ENDINGS[self.group][person]

    def preterite_form(self, person: int) -> str:
        return self.preterite[person] if self.preterite else self._stem() + _PRETERITE_ENDINGS[self.group][person]

    def future_form(self, person: int) -> str:
        return (self.future_stem or self.lemma) + _FUTURE_ENDINGS[person]

    def participle_form(self) -> str:
        return self.participle or self._stem() + _PARTICIPLE_ENDING[self.group]


SPANISH: dict[str, SpanishVerb] = {
    "work": SpanishVerb("trabajar", "regular"),
    "play": SpanishVerb("jugar", "irregular", present=("juego", "juegas", "juega"),
                        preterite=("jugué", "jugaste", "jugó"), notes="stem change u→ue; jugué keeps the hard g"),
    "walk": SpanishVerb("caminar", "regular"),
    "talk": SpanishVerb("hablar", "regular"),
    "listen": SpanishVerb("escuchar", "regular"),
    "watch": SpanishVerb("mirar", "regular", notes="same lemma as look"),
    "study": SpanishVerb("estudiar", "regular"),
    "finish": SpanishVerb("terminar", "regular"),
    "start": SpanishVerb("empezar", "irregular", present=("empiezo", "empiezas", "empieza"),
                         preterite=("empecé", "empezaste", "empezó"), notes="stem change e→ie; z→c before é"),
    "look": SpanishVerb("mirar", "regular", notes="same lemma as watch"),
    "want": SpanishVerb("querer", "irregular", present=("quiero", "quieres", "quiere"),
                        preterite=("quise", "quisiste", "quiso"), future_stem="querr"),
    "like": SpanishVerb("gustar", "regular", notes="inverted syntax: me/te/le gusta"),
    "be": SpanishVerb("ser", "irregular", present=("soy", "eres", "es"), preterite=("fui", "fuiste", "fue")),
    "have": SpanishVerb("tener", "irregular", present=("tengo", "tienes", "tiene"),
                        preterite=("tuve", "tuviste", "tuvo"), future_stem="tendr"),
    "do": SpanishVerb("hacer", "irregular", present=("hago", "haces", "hace"),
                      preterite=("hice", "hiciste", "hizo"), future_stem="har", participle="hecho"),
    "go": SpanishVerb("ir", "irregular", present=("voy", "vas", "va"), preterite=("fui", "fuiste", "fue"),
                      participle="ido"),
    "come": SpanishVerb("venir", "irregular", present=("vengo", "vienes", "viene"),
                        preterite=("vine", "viniste", "vino"), future_stem="vendr"),
    "see": SpanishVerb("ver", "irregular", present=("veo", "ves", "ve"), preterite=("vi", "viste", "vio"),
                       participle="visto", notes="the table's 'reg-ish': irregular preterite and participle"),
    "eat": SpanishVerb("comer", "regular"),
    "write": SpanishVerb("escribir", "regular", participle="escrito",
                         notes="regular in the table, but the participle escrito is irregular"),
}


def spanish_form(verb: str, tense: str, person: int) -> str:
    """The Spanish row text for an English lemma, a tense surface and a person index (0-2)."""
    sv = SPANISH[verb]
    if tense == "infinitive":
        return sv.lemma
    if tense == "past_participle":
        return sv.participle_form()
    if sv.lemma == "gustar":  # the clitic marks the person; the verb agrees with the liked thing (3sg)
        clitic = GUSTAR_CLITICS[person]
        return {"present_simple": f"{clitic} gusta", "past_simple": f"{clitic} gustó",
                "future_will": f"{clitic} gustará", "future_going_to": f"{clitic} va a gustar"}[tense]
    pron = PRONOUNS_ES[person]
    if tense == "present_simple":
        return f"{pron} {sv.present_form(person)}"
    if tense == "past_simple":
        return f"{pron} {sv.preterite_form(person)}"
    if tense == "future_will":
        return f"{pron} {sv.future_form(person)}"
    if tense == "future_going_to":
        return f"{pron} {IR_PRESENT[person]} a {sv.lemma}"
    raise KeyError(f"unknown tense surface {tense!r}")
