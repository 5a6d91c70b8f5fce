"""A scripted planner for the grammar tutor: the stand-in for a model, deciding each next step
from the sentence and the scratchpad alone. It knows only the course's 20 infinitives and a few
function words; every form, agreement and translation it learns comes from a tool call.

Plan for one sentence: decline if the subject is not a singular pronoun (asking the agreement
tool when the subject is a plural pronoun, so the tool's own refusal is the reason); otherwise
check each verb-like word in turn (regularized pasts, forms after "will", present forms), then
look up the Spanish of the main verb and answer.
"""

from __future__ import annotations

from typing import Any

from engine.apps.agents.memory import Scratchpad
from engine.lm.text.verbs import VERBS

SINGULAR = {"i": "1sg", "you": "2sg", "he": "3sg", "she": "3sg", "it": "3sg"}
PLURAL = {"we", "they"}
IRREGULAR_WORDS = {"has": "have", "is": "be", "am": "be", "are": "be", "was": "be", "were": "be"}


def lemma(word: str) -> str | None:
    """The course infinitive a word looks derived from, or None."""
    w = word.lower()
    if w in IRREGULAR_WORDS:
        return IRREGULAR_WORDS[w]
    cands = [w]
    for suf, rep in (("ies", "y"), ("ied", "y"), ("es", ""), ("s", ""), ("ed", ""), ("d", ""), ("ing", ""),
                     ("ing", "e")):
        if w.endswith(suf):
            cands.append(w[: -len(suf)] + rep)
    return next((c for c in cands if c in VERBS), None)


def _words(sentence: str) -> list[str]:
    return sentence.rstrip(".!?").split()


def _obs(pad: Scratchpad, tool: str, args: dict[str, Any]) -> Any:
    for s in pad.steps:
        if s.action["tool"] == tool and s.action["args"] == args:
            return s.observation
    return None


def plan_fixes(sentence: str, pad: Scratchpad) -> tuple[dict[str, Any] | None, list[tuple[int, str, str, str]]]:
    """Walk the sentence; return (next tool call still needed or None, fixes found so far).
    A fix is (word index, replacement, verb, error type)."""
    words = _words(sentence)
    subject, person = words[0].lower(), SINGULAR.get(words[0].lower(), "3sg")
    fixes: list[tuple[int, str, str, str]] = []
    for i in range(1, len(words)):
        w, lem = words[i].lower(), lemma(words[i])
        prev = words[i - 1].lower()
        if lem is None or prev == "to":
            continue
        if prev == "will":
            if w != lem:
                args = {"verb": lem, "tense": "simple_future", "person": person}
                o = _obs(pad, "conjugate", args)
                if o is None:
                    return {"tool": "conjugate", "args": args}, fixes
                if "result" in o:
                    fixes.append((i, o["result"].split()[-1], lem, "future_form"))
            continue
        if w.endswith("ed") and w not in IRREGULAR_WORDS:
            args = {"verb": lem}
            o = _obs(pad, "lookup_irregular_verb", args)
            if o is None:
                return {"tool": "lookup_irregular_verb", "args": args}, fixes
            if o.get("result", {}).get("is_irregular"):
                fixes.append((i, o["result"]["past_simple"], lem, "regularized_past"))
            continue
        args = {"subject": subject, "verb_form": w}
        o = _obs(pad, "check_subject_verb_agreement", args)
        if o is None:
            return {"tool": "check_subject_verb_agreement", "args": args}, fixes
        if "result" in o and not o["result"]["agrees"]:
            fixes.append((i, o["result"]["expected_form"], lem, "agreement"))
        elif "error" in o and w == lem:  # a bare infinitive where a present form belongs
            cargs = {"verb": lem, "tense": "present_simple", "person": person}
            c = _obs(pad, "conjugate", cargs)
            if c is None:
                return {"tool": "conjugate", "args": cargs}, fixes
            if "result" in c:
                fixes.append((i, c["result"], lem, "base_form"))
    return None, fixes


def apply_fixes(sentence: str, fixes: list[tuple[int, str, str, str]]) -> str:
    words = sentence.rstrip(".!?").split()
    end = sentence[len(sentence.rstrip(".!?")):]
    for i, rep, _, _ in fixes:
        words[i] = rep
    return " ".join(words) + end


def main_verb(sentence: str, fixes: list[tuple[int, str, str, str]]) -> str | None:
    words = _words(apply_fixes(sentence, fixes))
    return next((w for w in words[1:] if w.lower() != "will" and lemma(w) or w.lower() in
                 {"went", "ate", "saw", "came", "wrote", "did", "had", "was", "were"}), None)


def scripted_planner(sentence: str, pad: Scratchpad) -> dict[str, Any]:
    words = _words(sentence)
    subject = words[0].lower() if words else ""
    if subject in PLURAL:
        args = {"subject": subject, "verb_form": words[1].lower() if len(words) > 1 else ""}
        o = _obs(pad, "check_subject_verb_agreement", args)
        if o is None:
            return {"tool": "check_subject_verb_agreement", "args": args}
        return {"answer": decline(sentence, o.get("error", "plural subjects are out of scope"))}
    if subject not in SINGULAR:
        return {"answer": decline(sentence, "not a sentence about one of the course's verbs")}
    step, fixes = plan_fixes(sentence, pad)
    if step is not None:
        return step
    verb = main_verb(sentence, fixes)
    gloss = None
    if verb:
        args = {"english_form": verb.lower()}
        o = _obs(pad, "lookup_spanish", args)
        if o is None:
            return {"tool": "lookup_spanish", "args": args}
        gloss = o.get("result")
    corrected = apply_fixes(sentence, fixes) if fixes else None
    why = [f"{t.replace('_', ' ')}: {rep} ({v})" for _, rep, v, t in fixes][:3] or ["the verb forms are correct"]
    return {"answer": {"corrected": corrected, "rationale": why, "spanish_gloss": gloss, "in_scope": True,
                       "mistakes": [[v, t] for _, _, v, t in fixes]}}


def decline(sentence: str, reason: str) -> dict[str, Any]:
    return {"corrected": None, "rationale": [f"out of scope: {reason}"], "spanish_gloss": None, "in_scope": False,
            "mistakes": []}
