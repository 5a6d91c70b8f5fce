"""One pure grader per quiz item kind: `grade(item, response) -> Grade`.

A response is whatever the learner gave: text typed at a prompt, or a YAML value from an
answers file (an int, a list, a float, a string). Each grader reads it generously (an index
as "2", "b" or the choice's text; a number as "1e-3", "1,000", "≈ 6.25 FLOP/B" or "25%")
and judges it strictly (multi-select is an exact set, ordering an exact permutation,
conjugation an exact form after normalisation). Scoring is all-or-nothing per item.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.content.schema import QuizItem
from workbench.quiz.normalize import normalize, phrase_in, words


@dataclass(frozen=True)
class Grade:
    correct: bool
    given: str  # the response as the grader understood it
    expected: str  # the right answer, for display
    feedback: str = ""  # what was wrong or missing (empty when correct)


def _blank(response: Any) -> bool:
    return response is None or (isinstance(response, str) and not response.strip()) or response == []


# ------------------------------------------------------------------ choice indices


def parse_indices(response: Any, n_choices: int) -> list[int] | None:
    """1-based indices from 2, [2, 3], "2 3", "2,3", "[2, 3]", "b c" or "B,C"; None if unreadable."""
    if isinstance(response, bool):
        return None
    if isinstance(response, int):
        return [response]
    if isinstance(response, list):
        out = [parse_indices(r, n_choices) for r in response]
        return None if any(o is None or len(o) != 1 for o in out) else [o[0] for o in out]  # type: ignore[index]
    if not isinstance(response, str):
        return None
    tokens = [t for t in re.split(r"[\s,;.:\[\]()>-]+", response.strip()) if t]
    if not tokens:
        return None
    if all(t.isdigit() for t in tokens):
        return [int(t) for t in tokens]
    if n_choices <= 26 and all(len(t) == 1 and t.isalpha() for t in tokens):
        return [string.ascii_lowercase.index(t.lower()) + 1 for t in tokens]
    return None


def _choice_by_text(response: Any, choices: list[str]) -> int | None:
    if not isinstance(response, str):
        return None
    wanted = normalize(response)
    for i, choice in enumerate(choices, start=1):
        if normalize(choice) == wanted:
            return i
    return None


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _show(indices: list[int], choices: list[str]) -> str:
    return ", ".join(f"{i}" + (f" ({_short(choices[i - 1])})" if 1 <= i <= len(choices) else " (no such choice)") for i in indices)


def grade_single(item: QuizItem, response: Any) -> Grade:
    expected = _show([item.answer], item.choices)
    picked = _choice_by_text(response, item.choices)
    indices = [picked] if picked else parse_indices(response, len(item.choices))
    if _blank(response) or not indices:
        return Grade(False, "" if _blank(response) else str(response), expected, "no readable choice (give its number or letter)")
    if len(indices) != 1:
        return Grade(False, _show(indices, item.choices), expected, "pick exactly one choice")
    ok = indices[0] == item.answer
    return Grade(ok, _show(indices, item.choices), expected, "" if ok else "a different choice is right")


def grade_multi(item: QuizItem, response: Any) -> Grade:
    expected = _show(sorted(item.answer), item.choices)
    indices = parse_indices(response, len(item.choices))
    if _blank(response) or indices is None:
        return Grade(False, "" if _blank(response) else str(response), expected, "no readable choices (e.g. 1,3)")
    given, want = set(indices), set(item.answer)
    missing, extra = sorted(want - given), sorted(given - want)
    parts = []
    if missing:
        parts.append("missed " + ", ".join(map(str, missing)))
    if extra:
        parts.append("wrongly picked " + ", ".join(map(str, extra)))
    return Grade(given == want, _show(sorted(given), item.choices), expected, "; ".join(parts))


def grade_ordering(item: QuizItem, response: Any) -> Grade:
    expected = " ".join(map(str, item.answer))
    order = parse_indices(response, len(item.choices))
    if _blank(response) or order is None:
        return Grade(False, "" if _blank(response) else str(response), expected, "give the choice numbers in order, e.g. 2 1 3")
    given = " ".join(map(str, order))
    if sorted(order) != list(range(1, len(item.choices) + 1)):
        return Grade(False, given, expected, f"use each of 1..{len(item.choices)} exactly once")
    right = sum(a == b for a, b in zip(order, item.answer, strict=True))
    ok = order == list(item.answer)
    return Grade(ok, given, expected, "" if ok else f"{right} of {len(order)} in the right place")


# ------------------------------------------------------------------ numbers

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?")
_SCI = re.compile(r"([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*[x×*·]\s*10\s*(?:\^|\*\*)?\s*([-+]?\d+)")
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])")
_DECIMAL_COMMA = re.compile(r"(?<![\d,])(\d+),(\d{1,2}|\d{4,})(?![\d,])")
_FRACTION = re.compile(r"^([-+]?\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)$")


def parse_number(response: Any) -> list[float] | None:
    """Candidate values of a numeric response, or None when it holds no single number.

    Reads 1e-3, 0.001, 1,000 and 16,384 (comma groups of three are thousands), 0,5 (a lone
    decimal comma), 1_000, 3.2×10^-5, 1/12, a leading ≈ or ~, trailing units ("102.4 GFLOPS").
    A trailing % yields two candidates, x and x/100, since keys are written both ways.
    """
    if isinstance(response, bool) or response is None:
        return None
    if isinstance(response, (int, float)):
        return [float(response)]
    if not isinstance(response, str):
        return None
    text = unicodedata.normalize("NFKC", response).casefold().strip()
    text = text.replace("−", "-").replace("–", "-").replace("_", "")
    text = text.lstrip("≈~= ").rstrip(". ")
    percent = text.endswith("%")
    text = text.rstrip("% ")
    sci = _SCI.fullmatch(text)
    if sci:
        values = [float(sci.group(1)) * 10.0 ** int(sci.group(2))]
    elif frac := _FRACTION.match(text):
        denominator = float(frac.group(2))
        if denominator == 0:
            return None
        values = [float(frac.group(1)) / denominator]
    else:
        text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
        text = _DECIMAL_COMMA.sub(r"\1.\2", text)
        found = _NUMBER.findall(text)
        if len(found) != 1:
            return None
        values = [float(found[0])]
    if percent:
        values.append(values[0] / 100.0)
    return values


def numbers_close(value: float, answer: float, tolerance: float | None, rel_tolerance: float | None) -> bool:
    """Absolute and/or relative tolerance (either suffices); neither given means equal to ~1e-9."""
    if not math.isfinite(value):
        return False
    slack = 1e-12 * max(1.0, abs(answer))  # decimal text → binary float
    if tolerance is None and rel_tolerance is None:
        return math.isclose(value, answer, rel_tol=1e-9, abs_tol=1e-12)
    if tolerance is not None and abs(value - answer) <= tolerance + slack:
        return True
    return rel_tolerance is not None and abs(value - answer) <= rel_tolerance * abs(answer) + slack


def grade_numeric(item: QuizItem, response: Any) -> Grade:
    answer = float(item.answer)
    if item.tolerance is not None:
        expected = f"{item.answer:g} ± {item.tolerance:g}"
    elif item.rel_tolerance is not None:
        expected = f"{item.answer:g} ± {item.rel_tolerance:.0%}"
    else:
        expected = f"{item.answer:g}"
    values = parse_number(response)
    if _blank(response) or values is None:
        return Grade(False, "" if _blank(response) else str(response), expected, "no single number could be read")
    ok = any(numbers_close(v, answer, item.tolerance, item.rel_tolerance) for v in values)
    feedback = "" if ok else f"{values[0]:g} is off by {abs(values[0] - answer):.3g}"
    return Grade(ok, f"{values[0]:g}", expected, feedback)


# ------------------------------------------------------------------ words


def keyword_forms(entry: Any) -> list[str]:
    """The accepted spellings of one keywords entry (a word, a number, or a list of synonyms).

    A bare YAML `off`/`no`/`false` arrives as a bool; it stands for all of its spellings.
    """
    if isinstance(entry, list):
        return [form for sub in entry for form in keyword_forms(sub)]
    if isinstance(entry, bool):
        return ["true", "yes", "on"] if entry else ["false", "no", "off"]
    return [str(entry)]


def form_in(form: str, answer_text: str, answer_words: list[str]) -> bool:
    kw_words = words(form)
    if kw_words:
        return phrase_in(answer_words, kw_words)
    return normalize(form) in normalize(answer_text)  # symbol-only keyword such as "+"


def grade_free(item: QuizItem, response: Any) -> Grade:
    expected = str(item.answer)
    if _blank(response):
        return Grade(False, "", expected, "no answer")
    text = response if isinstance(response, str) else str(response)
    answer_words = words(text)
    groups = [keyword_forms(entry) for entry in item.keywords]
    hit = [any(form_in(f, text, answer_words) for f in forms) for forms in groups]
    need = len(groups) if item.min_keywords is None else item.min_keywords
    ok = sum(hit) >= need
    missing = [forms[0] for forms, h in zip(groups, hit, strict=True) if not h]
    feedback = "" if ok else f"mentions {sum(hit)} of the {need} key ideas needed; missing: " + ", ".join(missing)
    return Grade(ok, text, expected, feedback)


def grade_conjugation(item: QuizItem, response: Any) -> Grade:
    accepted = [item.answer] if isinstance(item.answer, str) else list(item.answer)
    expected = " / ".join(accepted)
    if _blank(response):
        return Grade(False, "", expected, "no answer")
    given = normalize(str(response)).strip("'\"")
    ok = given in {normalize(a) for a in accepted}
    return Grade(ok, given, expected, "" if ok else "not an accepted form")


GRADERS: dict[str, Callable[[QuizItem, Any], Grade]] = {
    "single": grade_single,
    "multi": grade_multi,
    "free": grade_free,
    "numeric": grade_numeric,
    "ordering": grade_ordering,
    "conjugation": grade_conjugation,
}


def grade(item: QuizItem, response: Any) -> Grade:
    return GRADERS[item.kind](item, response)
