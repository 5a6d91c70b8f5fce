"""Every grader kind, including the course's quiz traps (course-notes ⚠): 'n^2' vs 'O(N²·d)',
'decoding' vs 'decode', 'correlation' vs 'correlate', 'regress' vs 'regression', and the
one-letter needle 'V' that a substring grader lets match almost anything."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workbench.content.schema import QuizItem
from workbench.quiz.grading import grade, parse_indices, parse_number
from workbench.quiz.normalize import normalize, stem, word_matches, words


def item(kind: str, answer: object, **kw: object) -> QuizItem:
    return QuizItem(id="q-99-01", kind=kind, prompt="?", answer=answer, **kw)  # type: ignore[arg-type]


CHOICES = ["alpha", "beta", "gamma", "delta"]


# ------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("  Hello   World. ", "hello world"),
        ("x²", "x2"),
        ("O(N²·d)", "o(n2·d)"),
        ("n^2", "n2"),
        ("x**3", "x3"),
        ("It’s", "it's"),
        ("ＡＢＣ", "abc"),  # full-width letters
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),  # case-fold, not lower()
    ],
)
def test_normalize(raw: str, norm: str) -> None:
    assert normalize(raw) == norm


def test_words_fold_accents_and_split_punctuation() -> None:
    assert words("Mañana, p−y!") == ["manana", "p", "y"]


@pytest.mark.parametrize(
    ("answer_word", "keyword", "ok"),
    [
        ("decoding", "decode", True),
        ("decode", "decoding", True),
        ("accumulates", "accumulate", True),
        ("accumulation", "accumulate", True),
        ("correlate", "correlation", True),
        ("regression", "regress", True),
        ("regress", "regression", True),
        ("saturation", "saturate", True),
        ("processes", "process", True),
        ("variance", "v", False),  # short keywords match whole words only
        ("v", "v", True),
        ("kl", "kl", True),
        ("12", "1", False),  # numbers are exact
        ("class", "clash", False),
        ("matmul", "matrix", False),  # that needs a synonym in the content
    ],
)
def test_word_matches(answer_word: str, keyword: str, ok: bool) -> None:
    assert word_matches(answer_word, keyword) is ok


def test_stem_keeps_double_s() -> None:
    assert stem("regress") == "regress"
    assert stem("regression") == "regress"


# ------------------------------------------------------------------ single / multi / ordering


@pytest.mark.parametrize("response", [2, "2", " 2 ", "2.", "b)", "b", "B", "beta", "Beta."])
def test_single_right(response: object) -> None:
    assert grade(item("single", 2, choices=CHOICES), response).correct


@pytest.mark.parametrize("response", [1, "3", "c", "gamma", "", None, "2 3", "zeta", True])
def test_single_wrong(response: object) -> None:
    g = grade(item("single", 2, choices=CHOICES), response)
    assert not g.correct
    assert g.feedback


def test_single_out_of_range_is_wrong_not_a_crash() -> None:
    g = grade(item("single", 2, choices=CHOICES), 9)
    assert not g.correct
    assert "no such choice" in g.given


@pytest.mark.parametrize("response", [[1, 3], [3, 1], "1,3", "3 1", "[1, 3]", "a, c", "A C", ["1", "3"]])
def test_multi_exact_set(response: object) -> None:
    assert grade(item("multi", [1, 3], choices=CHOICES), response).correct


def test_multi_subset_and_superset_are_wrong_with_feedback() -> None:
    it = item("multi", [1, 3], choices=CHOICES)
    sub, sup = grade(it, [1]), grade(it, [1, 3, 4])
    assert not sub.correct and "missed 3" in sub.feedback
    assert not sup.correct and "wrongly picked 4" in sup.feedback


@pytest.mark.parametrize("response", ["2 1 3", "2,1,3", "2, 1, 3", [2, 1, 3], "[2,1,3]", "b a c", "2-1-3"])
def test_ordering_right(response: object) -> None:
    assert grade(item("ordering", [2, 1, 3], choices=["x", "y", "z"]), response).correct


def test_ordering_wrong_and_not_a_permutation() -> None:
    it = item("ordering", [2, 1, 3], choices=["x", "y", "z"])
    swapped = grade(it, "1 2 3")
    assert not swapped.correct and "1 of 3" in swapped.feedback
    repeated = grade(it, "2 2 3")
    assert not repeated.correct and "exactly once" in repeated.feedback
    assert not grade(it, "2 1").correct


def test_parse_indices_rejects_words() -> None:
    assert parse_indices("first one", 4) is None


# ------------------------------------------------------------------ numeric


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e-3", 0.001),
        ("0.001", 0.001),
        ("1,000", 1000.0),
        ("16,384", 16384.0),
        ("1_000", 1000.0),
        ("0,5", 0.5),
        ("−2.5", -2.5),
        ("≈ 6.25", 6.25),
        ("102.4 GFLOPS", 102.4),
        ("3.2×10^-5", 3.2e-5),
        ("3.2 × 10⁻⁵", 3.2e-5),
        ("1/4", 0.25),
        (".5", 0.5),
        (7, 7.0),
    ],
)
def test_parse_number(text: object, value: float) -> None:
    got = parse_number(text)
    assert got is not None
    assert got[0] == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "1 and 2", "1/0", True, None])
def test_parse_number_refuses(text: object) -> None:
    assert parse_number(text) is None


def test_numeric_absolute_tolerance() -> None:
    it = item("numeric", 6.25, tolerance=0.01)
    assert grade(it, "6.255").correct
    assert grade(it, "6.26").correct  # exactly on the edge counts
    assert not grade(it, "6.27").correct
    assert not grade(it, "six").correct


def test_numeric_relative_tolerance() -> None:
    it = item("numeric", 1000.0, rel_tolerance=0.05)
    assert grade(it, "1,040").correct
    assert not grade(it, "1,060").correct


def test_numeric_exact_when_no_tolerance() -> None:
    it = item("numeric", 0.001)
    assert grade(it, "1e-3").correct
    assert grade(it, 0.001).correct
    assert not grade(it, "0.0011").correct


def test_numeric_zero_tolerance_integer() -> None:
    it = item("numeric", 44, tolerance=0.0)
    assert grade(it, "44").correct
    assert not grade(it, "45").correct


def test_numeric_percent_either_convention() -> None:
    assert grade(item("numeric", 8.9, tolerance=0.1), "8.9%").correct
    assert grade(item("numeric", 0.25, tolerance=0.001), "25%").correct


# ------------------------------------------------------------------ free text


def test_free_needs_every_keyword_by_default() -> None:
    it = item("free", "model", keywords=["seed", ["sha", "commit", "git"], ["version", "versions"]])
    assert grade(it, "The SEED, the git commit and library versions.").correct
    g = grade(it, "the seed and the commit")
    assert not g.correct
    assert "version" in g.feedback


def test_free_min_keywords() -> None:
    it = item("free", "model", keywords=["alpha", "beta", "gamma"], min_keywords=2)
    assert grade(it, "alpha and gamma").correct
    assert not grade(it, "only beta").correct


def test_free_stem_tolerance_from_the_course_traps() -> None:
    assert grade(item("free", "m", keywords=["decode"]), "It is decoding step by step").correct
    assert grade(item("free", "m", keywords=["accumulate"]), "the gradient accumulates.").correct
    assert grade(item("free", "m", keywords=["correlation"]), "they correlate").correct
    assert grade(item("free", "m", keywords=["regress"]), "a quality regression").correct


def test_free_superscript_matches_caret_keyword() -> None:
    it = item("free", "O(n^2 d)", keywords=[["n^2", "quadratic"]])
    assert grade(it, "O(N²·d)").correct
    assert grade(it, "it is O(n**2)").correct
    assert grade(it, "Quadratic in length").correct
    assert not grade(it, "O(n)").correct


def test_free_one_letter_needle_is_a_whole_word() -> None:
    it = item("free", "V", keywords=["V"])
    assert not grade(it, "the variance of the values").correct
    assert grade(it, "it multiplies V").correct


def test_free_synonym_phrase_and_synonyms() -> None:
    it = item("free", "m", keywords=[["matmul", "matrix multiplication"]])
    assert grade(it, "one big Matrix-Multiplication").correct
    assert grade(it, "a matmul").correct
    assert not grade(it, "a matrix").correct


def test_free_numbers_and_bool_keywords() -> None:
    assert grade(item("free", "m", keywords=[[0.25, "25%"]]), "about 0.25 of it").correct
    assert grade(item("free", "m", keywords=[[0.25, "25%"]]), "25 % of it").correct
    assert grade(item("free", "m", keywords=["dropout", False]), "dropout is switched off").correct


def test_free_symbol_only_keyword_uses_substring() -> None:
    assert grade(item("free", "m", keywords=["+"]), "x + f(x)").correct


def test_free_blank_is_wrong() -> None:
    assert not grade(item("free", "m", keywords=["a"]), "  ").correct


# ------------------------------------------------------------------ conjugation


@pytest.mark.parametrize("response", ["written", "Written", " written. ", "WRITTEN"])
def test_conjugation_exact_after_normalisation(response: str) -> None:
    assert grade(item("conjugation", ["written"]), response).correct


@pytest.mark.parametrize("response", ["wrote", "writen", "has written", ""])
def test_conjugation_wrong(response: str) -> None:
    assert not grade(item("conjugation", ["written"]), response).correct


def test_conjugation_list_of_forms_and_accents_matter() -> None:
    it = item("conjugation", ["habló", "hablo'"])
    assert grade(it, "Habló").correct
    assert not grade(it, "hablaba").correct
    assert grade(item("conjugation", "habló"), "habló").correct
    assert not grade(item("conjugation", "habló"), "hablo").correct


# ------------------------------------------------------------------ properties


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_parse_number_reads_any_float_repr(x: float) -> None:
    assert parse_number(repr(x)) == [x]


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_parse_number_reads_thousands_separators(n: int) -> None:
    assert parse_number(f"{n:,}") == [float(n)]


@given(st.permutations([1, 2, 3, 4, 5]))
def test_ordering_right_only_for_the_key(order: list[int]) -> None:
    it = item("ordering", [3, 1, 5, 2, 4], choices=list("abcde"))
    assert grade(it, ", ".join(map(str, order))).correct == (order == [3, 1, 5, 2, 4])
