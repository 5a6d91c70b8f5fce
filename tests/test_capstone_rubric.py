"""Phase 39's rubric and percentile arithmetic: normalization rules one by one, the weights on the
course's own examples, the break's case-fold removal, and the closed-form p95 of two uniform
stages against a brute-force quantile of their exact convolution on a grid."""

from __future__ import annotations

import numpy as np
import pytest

from engine.apps.tutor.percentiles import uniform_pair
from engine.apps.tutor.rubric import Item, contains_all, grade, normalize, weighted


def test_normalization_rules() -> None:
    assert normalize("  Ate. ") == "ate" and normalize("Ate.", case_sensitive=True) == "Ate"
    assert normalize("ate..") == "ate."  # one trailing period only
    assert contains_all("He went to school.", ["he went", "school"])
    assert not contains_all("He went to school.", ["he went"], case_sensitive=True)
    assert not contains_all(None, ["x"])


def test_weights_on_the_courses_examples() -> None:
    assert weighted({"correctness": 1, "spanish_gloss": 0, "schema": 1, "conciseness": 1}) == pytest.approx(0.75)
    assert weighted({"correctness": 0, "spanish_gloss": 0, "schema": 1, "conciseness": 1}) == pytest.approx(0.15)
    assert weighted({"correctness": 1, "spanish_gloss": 1, "schema": 1, "conciseness": 1}) == pytest.approx(1.0)


def test_grade_breakdown_and_the_break() -> None:
    item = Item("e", "He goed to school.", ("he went to school",), ("fue",))
    answer = {"corrected": "He went to school.", "rationale": ["regularized past: went (go)"], "spanish_gloss": "fue",
              "in_scope": True, "mistakes": [["go", "regularized_past"]]}
    ok = grade(item, answer)
    assert ok["score"] == pytest.approx(1.0)
    broken = grade(item, answer, case_sensitive=True)
    assert broken["breakdown"]["correctness"] == 0.0 and broken["breakdown"]["schema"] == 1.0
    assert grade(item, {**answer, "in_scope": "yes"})["breakdown"]["schema"] == 0.0  # a wrong type fails schema


def test_uniform_pair_p95_against_the_exact_convolution() -> None:
    got = uniform_pair(100.0, 1000.0)
    x = np.linspace(100.0, 1000.0, 9001)
    pdf = np.full_like(x, 1 / 900.0)
    conv = np.convolve(pdf, pdf) * (x[1] - x[0])  # density of the sum on 200..2000
    s = np.linspace(200.0, 2000.0, len(conv))
    cdf = np.cumsum(conv)
    cdf /= cdf[-1]  # the grid adds a sliver of mass at the ends
    assert got["naive_sum_ms"] == pytest.approx(1910.0)
    assert got["true_ms"] == pytest.approx(float(np.interp(0.95, cdf, s)), abs=0.5)
    assert got["gap_pct"] == pytest.approx(11.3446, abs=1e-3)
