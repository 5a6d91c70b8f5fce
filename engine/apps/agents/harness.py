"""The grammar-tutor evaluation harness: about thirty graded prompts of six kinds, a router
planner that extends the sentence-correcting planner to conjugation, tense and translation
requests, and the grading (exact form, a small Spanish whitelist, declines counted apart).

Why a harness: "the agent works" becomes seven numbers with thresholds, and a trace file that
must be byte-identical on a rerun makes any hidden nondeterminism visible.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from engine.apps.agents.memory import Scratchpad
from engine.apps.agents.planner import SINGULAR, _obs, decline, scripted_planner

TENSE_NAMES = {"infinitive": "infinitive", "present simple": "present_simple", "past simple": "past_simple",
               "past participle": "past_participle", "future": "simple_future"}
SPANISH_SYNONYMS = {"fue": {"fue", "se fue"}, "comió": {"comió", "comio"}, "vio": {"vio", "vió"}}


@dataclass(frozen=True)
class Prompt:
    text: str
    kind: str  # irregular | regular | tense | translate | ambiguous | out_of_scope
    gold: tuple[str, ...]  # accepted answers; empty for out_of_scope
    tools: tuple[str, ...]  # tools a good run calls
    turn_limit: int = 6


PROMPTS: list[Prompt] = [
    Prompt("He goed to school.", "irregular", ("He went to school.",), ("lookup_irregular_verb",)),
    Prompt("She eated an apple.", "irregular", ("She ate an apple.",), ("lookup_irregular_verb",)),
    Prompt("I writed a letter.", "irregular", ("I wrote a letter.",), ("lookup_irregular_verb",)),
    Prompt("He comed home late.", "irregular", ("He came home late.",), ("lookup_irregular_verb",)),
    Prompt("You seed the movie.", "irregular", ("You saw the movie.",), ("lookup_irregular_verb",)),
    Prompt("He doed his homework.", "irregular", ("He did his homework.",), ("lookup_irregular_verb",)),
    Prompt("She have a car.", "irregular", ("She has a car.",), ("check_subject_verb_agreement",)),
    Prompt("I is tired.", "irregular", ("I am tired.",), ("check_subject_verb_agreement",)),
    Prompt("Conjugate walk in the past simple for she.", "regular", ("walked",), ("conjugate",)),
    Prompt("Conjugate study in the present simple for he.", "regular", ("studies",), ("conjugate",)),
    Prompt("Conjugate play in the past participle for I.", "regular", ("played",), ("conjugate",)),
    Prompt("Conjugate watch in the present simple for it.", "regular", ("watches",), ("conjugate",)),
    Prompt("Conjugate finish in the future for you.", "regular", ("will finish",), ("conjugate",)),
    Prompt("Conjugate like in the past simple for I.", "regular", ("liked",), ("conjugate",)),
    Prompt("Which tense is 'went', a form of go?", "tense", ("past_simple",), ("lookup_irregular_verb",)),
    Prompt("Which tense is 'written', a form of write?", "tense", ("past_participle",), ("lookup_irregular_verb",)),
    Prompt("Which tense is 'played', a form of play?", "tense", ("past_simple",), ("conjugate",)),
    Prompt("Which tense is 'watches', a form of watch?", "tense", ("present_simple",), ("conjugate",)),
    Prompt("Which tense is 'saw', a form of see?", "tense", ("past_simple",), ("lookup_irregular_verb",)),
    Prompt("Translate 'ate' into Spanish.", "translate", ("comió",), ("lookup_spanish",)),
    Prompt("Translate 'went' into Spanish.", "translate", ("fue",), ("lookup_spanish",)),
    Prompt("Translate 'saw' into Spanish.", "translate", ("vio",), ("lookup_spanish",)),
    Prompt("Translate 'works' into Spanish.", "translate", ("trabaja",), ("lookup_spanish",)),
    Prompt("Translate 'wrote' into Spanish.", "translate", ("escribió",), ("lookup_spanish",)),
    Prompt("I will going home.", "ambiguous", ("I will go home.", "I am going home."), ("conjugate",)),
    Prompt("He go to work.", "ambiguous", ("He goes to work.", "He went to work."), ("check_subject_verb_agreement",)),
    Prompt("Conjugate fly in the past simple for he.", "out_of_scope", (), ("conjugate",)),
    Prompt("Translate 'beautiful' into Spanish.", "out_of_scope", (), ("lookup_spanish",)),
    Prompt("They goed home.", "out_of_scope", (), ("check_subject_verb_agreement",)),
    Prompt("What is the weather like today?", "out_of_scope", (), ()),
]

_CONJ = re.compile(r"^Conjugate (\w+) in the (infinitive|present simple|past simple|past participle|future) "
                   r"for (I|you|he|she|it)\.?$")
_TENSE = re.compile(r"^Which tense is '(\w+)', a form of (\w+)\?$")
_TRANS = re.compile(r"^Translate '([\w ]+)' into Spanish\.?$")


def router_planner(request: str, pad: Scratchpad) -> dict[str, Any]:
    """Conjugation, tense and translation requests get one or two direct lookups; anything else
    goes to the sentence-correcting planner (which declines what is not a sentence)."""
    if m := _CONJ.match(request):
        args = {"verb": m[1], "tense": TENSE_NAMES[m[2]], "person": SINGULAR[m[3].lower()]}
        return _answer_from(pad, "conjugate", args, lambda r: r)
    if m := _TRANS.match(request):
        return _answer_from(pad, "lookup_spanish", {"english_form": m[1]}, lambda r: r)
    if m := _TENSE.match(request):
        return _tense(m[1], m[2], pad)
    return scripted_planner(request, pad)


def _answer_from(pad: Scratchpad, tool: str, args: dict[str, Any], pick: Any) -> dict[str, Any]:
    o = _obs(pad, tool, args)
    if o is None:
        return {"tool": tool, "args": args}
    if "error" in o:
        return {"answer": decline("", o["error"])}
    return {"answer": {"text": pick(o["result"]), "in_scope": True}}


def _tense(form: str, verb: str, pad: Scratchpad) -> dict[str, Any]:
    parts = _obs(pad, "lookup_irregular_verb", {"verb": verb})
    if parts is None:
        return {"tool": "lookup_irregular_verb", "args": {"verb": verb}}
    if "error" in parts:
        return {"answer": decline("", parts["error"])}
    r = parts["result"]
    if r.get("is_irregular"):
        for tense in ("past_simple", "past_participle"):  # the simple past wins where they coincide
            if r[tense] == form:
                return {"answer": {"text": tense, "in_scope": True}}
    guesses = ["past_simple", "past_participle"] if form.endswith("ed") else ["present_simple", "infinitive"]
    for tense in guesses:
        args = {"verb": verb, "tense": tense, "person": "3sg"}
        o = _obs(pad, "conjugate", args)
        if o is None:
            return {"tool": "conjugate", "args": args}
        if o.get("result") == form:
            return {"answer": {"text": tense, "in_scope": True}}
    return {"answer": {"text": None, "in_scope": True}}


def answer_text(answer: dict[str, Any]) -> str | None:
    return answer.get("text", answer.get("corrected"))


def grade(p: Prompt, answer: dict[str, Any]) -> str:
    """correct | declined (an out-of-scope prompt refused) | failed."""
    if p.kind == "out_of_scope":
        return "declined" if answer.get("in_scope") is False else "failed"
    if answer.get("in_scope") is False:
        return "failed"
    got = answer_text(answer)
    accepted = set(p.gold) | set().union(*(SPANISH_SYNONYMS.get(g, set()) for g in p.gold))
    return "correct" if got in accepted else "failed"


def faithful(request: str, answer: dict[str, Any], pad: Scratchpad) -> bool:
    """Every word the answer adds to the request appears in a tool observation of its own run;
    a tense name counts when the observation that matched it is there."""
    got = answer_text(answer)
    if got is None:
        return False
    seen = json.dumps([s.observation for s in pad.steps] + [s.action for s in pad.steps], ensure_ascii=False)
    added = set(got.rstrip(".").split()) - set(request.rstrip(".?").replace("'", " ").split())
    return all(w in seen for w in added)
