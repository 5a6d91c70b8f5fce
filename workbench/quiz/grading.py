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
from workbench.quiz.normalize import fold_accents, normalize, phrase_in, words


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
    return ", ".join(
        f"{i}" + (f" ({_short(choices[i - 1])})" if 1 <= i <= len(choices) else " (no such choice)") for i in indices
    )


def grade_single(item: QuizItem, response: Any) -> Grade:
    expected = _show([item.answer], item.choices)
    picked = _choice_by_text(response, item.choices)
    indices = [picked] if picked else parse_indices(response, len(item.choices))
    if _blank(response) or not indices:
        return Grade(
            False, "" if _blank(response) else str(response), expected, "no readable choice (give its number or letter)"
        )
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
        return Grade(
            False, "" if _blank(response) else str(response), expected, "give the choice numbers in order, e.g. 2 1 3"
        )
    given = " ".join(map(str, order))
    if sorted(order) != list(range(1, len(item.choices) + 1)):
        return Grade(False, given, expected, f"use each of 1..{len(item.choices)} exactly once")
    right = sum(a == b for a, b in zip(order, item.answer, strict=True))
    ok = order == list(item.answer)
    return Grade(ok, given, expected, "" if ok else f"{right} of {len(order)} in the right place")


# ------------------------------------------------------------------ numbers

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?")
_SCI = re.compile(r"([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*[x×*·]\s*10\s*(?:\^|\*\*)?\s*([-+]?\d+)")
# Thousands groups: a first group of 1-3 digits that does not start with 0 ("0,004" is never 4).
_THOUSANDS = re.compile(r"(?<![\d.,])[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?(?![\d,])")
# Whatever single comma between digits is left after that is a decimal comma: 0,5  0,004  3,14159.
_DECIMAL_COMMA = re.compile(r"(?<![\d,.])(\d+),(\d+)(?![\d,.])")
_FRACTION = re.compile(r"^([-+]?\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)$")


def parse_number(response: Any) -> list[float] | None:
    """Candidate values of a numeric response, or None when it holds no single number.

    Reads 1e-3, 0.001, 1,000 and 16,384 (comma groups of three after a non-zero digit are
    thousands), a decimal comma only where it cannot be a thousands separator (0,5 0,004 3,14159;
    "0,004" is 0.004, never 4), 1_000, 3.2×10^-5, 1/12, a leading ≈ or ~, trailing units
    ("102.4 GFLOPS"). Mixed or repeated separators ("1.234,5", "1,5,3") hold no single number.
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


# ------------------------------------------------------------------ negation
# "It does not use the median" mentions the median but says the opposite of a key that does.
# A keyword counts where it is affirmed, or negated only if the model answer negates it too. A
# negator negates a keyword when it comes at most NEGATION_REACH words before it in the same
# clause; clauses end at punctuation and at contrast words ("not the mean but the median").
NEGATORS = frozenset(
    {
        "not",
        "no",
        "never",
        "without",
        "nor",
        "neither",
        "cannot",
        "none",
        "nothing",
        "nobody",
        "nowhere",
        "hardly",
        "lacks",
        "lack",
        "fails",
        "fail",
        "avoids",
        "avoid",
        "ni",
        "sin",
        "nunca",
    }
)
_TOKEN = re.compile(r"[^\W_]+|[.;:!?,()]")
_CONTRAST = frozenset({"but", "whereas", "while", "instead", "however", "rather", "yet", "although", "though"})
NEGATION_REACH = 4


def _words_and_clauses(text: str) -> tuple[list[str], list[int]]:
    """The answer's words (as `words` gives them) and, for each, the number of the clause it is in."""
    out, clause_of, clause = [], [], 0
    for tok in _TOKEN.findall(fold_accents(normalize(text).replace("n't", " not"))):
        if not tok[0].isalnum() or tok in _CONTRAST:
            clause += 1
            if not tok[0].isalnum():
                continue
        out.append(tok)
        clause_of.append(clause)
    return out, clause_of


def keyword_polarities(form: str, text: str) -> set[bool]:
    """{True} where `form` occurs only affirmed, {False} only negated, both, or empty if absent."""
    kw = words(form)
    if not kw:
        return {True} if normalize(form) in normalize(text) else set()
    ws, clause_of = _words_and_clauses(text)
    out: set[bool] = set()
    for start in range(len(ws) - len(kw) + 1):
        if phrase_in(ws[start : start + len(kw)], kw):
            reach = range(max(0, start - NEGATION_REACH), start)
            out.add(not any(ws[i] in NEGATORS and clause_of[i] == clause_of[start] for i in reach))
    return out


def _hit(forms: list[str], text: str, model: str) -> bool:
    """A keyword group counts when one of its forms occurs affirmed, or negated where the model
    answer itself negates it ("... which nothing guarantees"): only a contradiction is refused."""
    for form in forms:
        seen = keyword_polarities(form, text)
        if True in seen or (seen and False in keyword_polarities(form, model)):
            return True
    return False


def grade_free(item: QuizItem, response: Any) -> Grade:
    expected = str(item.answer)
    if _blank(response):
        return Grade(False, "", expected, "no answer")
    text = response if isinstance(response, str) else str(response)
    groups = [keyword_forms(entry) for entry in item.keywords]
    hit = [_hit(forms, text, expected) for forms in groups]
    need = len(groups) if item.min_keywords is None else item.min_keywords
    ok = sum(hit) >= need
    answer_words = words(text)
    negated = [
        forms[0]
        for forms, h in zip(groups, hit, strict=True)
        if not h and any(form_in(f, text, answer_words) for f in forms)
    ]
    missing = [forms[0] for forms, h in zip(groups, hit, strict=True) if not h and forms[0] not in negated]
    parts = [f"mentions {sum(hit)} of the {need} key ideas needed"]
    if missing:
        parts.append("missing: " + ", ".join(missing))
    if negated:
        parts.append("says the opposite of: " + ", ".join(negated))
    return Grade(ok, text, expected, "" if ok else "; ".join(parts))


def grade_conjugation(item: QuizItem, response: Any) -> Grade:
    accepted = [item.answer] if isinstance(item.answer, str) else list(item.answer)
    expected = " / ".join(accepted)
    if _blank(response):
        return Grade(False, "", expected, "no answer")
    given = normalize(str(response)).strip("'\"")
    ok = given in {normalize(a) for a in accepted}
    return Grade(ok, given, expected, "" if ok else "not an accepted form")


def response_problem(item: QuizItem, response: Any) -> str | None:
    """Why a response cannot be graded at all (ask again / refuse the answers file), or None.

    An out-of-range choice or an unreadable number is a slip, not a wrong answer: grading it
    wrong would also seed a review card for an item the learner may well know. A blank answer
    is not a problem here: it is graded wrong, as "no answer"."""
    if _blank(response):
        return None
    if item.kind in ("single", "multi", "ordering"):
        if item.kind == "single" and _choice_by_text(response, item.choices):
            return None
        indices = parse_indices(response, len(item.choices)) or []  # unreadable text is graded (wrong), not refused
        bad = [i for i in indices if not 1 <= i <= len(item.choices)]
        if bad:
            return f"choice {bad[0]} is out of range: this item has choices 1-{len(item.choices)}"
    if item.kind == "numeric" and parse_number(response) is None:
        return f"{str(response)!r} holds no single number (a decimal comma only where unambiguous, e.g. 0,5)"
    return None


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
